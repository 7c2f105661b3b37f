/** Namespace: Pod Security Admission enforces "restricted" unless a reviewed exception says otherwise. */
import { describe, expect, it } from 'vitest';
import { Namespace, type NamespaceProps } from '../../components/namespace.js';
import { concernsOf, errorOf, newChart, objectsOf, only } from './util.js';

function build(props: NamespaceProps) {
  const chart = newChart();
  new Namespace(chart, 'Ns', props);
  return only(objectsOf(chart), 'Namespace');
}

const PSA_MODES = ['enforce', 'audit', 'warn'] as const;

describe('Namespace secure defaults (X-1)', () => {
  it('enforces, audits and warns Pod Security "restricted" at the latest version', () => {
    const ns = build({ name: 'apps' });
    expect(ns.metadata.name).toBe('apps');
    for (const mode of PSA_MODES) {
      expect(ns.metadata.labels[`pod-security.kubernetes.io/${mode}`], mode).toBe('restricted');
      expect(ns.metadata.labels[`pod-security.kubernetes.io/${mode}-version`], mode).toBe('latest');
    }
    expect(ns.metadata.annotations?.['exception.stackbook.io/pod-security-restricted']).toBeUndefined();
  });

  it('extra labels are added but can never relax the Pod Security labels', () => {
    const ns = build({
      name: 'apps',
      labels: { team: 'pricing', 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'privileged' },
    });
    expect(ns.metadata.labels.team).toBe('pricing');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(ns.metadata.labels['pod-security.kubernetes.io/warn']).toBe('restricted');
  });

  it('baseline with a reason: enforces baseline, still audits/warns restricted, and records the exception', () => {
    const reason = 'agent sessions need a container runtime';
    const ns = build({ name: 'sessions', podSecurity: 'baseline', exceptionReason: reason });
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('baseline');
    expect(ns.metadata.labels['pod-security.kubernetes.io/audit']).toBe('restricted');
    expect(ns.metadata.labels['pod-security.kubernetes.io/warn']).toBe('restricted');
    expect(ns.metadata.annotations['exception.stackbook.io/pod-security-restricted']).toBe(reason);
  });

  it('carries X-1 and the given concerns', () => {
    expect(concernsOf(build({ name: 'apps' }))).toEqual(['X-1']);
    expect(concernsOf(build({ name: 'apps', concerns: ['OPE-97'] }))).toEqual(['OPE-97', 'X-1']);
  });
});

describe('Namespace rejects an unjustified relaxation', () => {
  it('baseline without exceptionReason', () => {
    const e = errorOf(() => build({ name: 'sessions', podSecurity: 'baseline' }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('Namespace "sessions"');
    expect(e.message).toContain('exceptionReason');
    expect(e.message).toContain('"baseline"');
  });

  it('baseline with a reason too short to review', () => {
    const e = errorOf(() => build({ name: 'sessions', podSecurity: 'baseline', exceptionReason: 'needed' }));
    expect(e.message).toContain('exceptionReason');
    expect(e.message).toContain('(got "needed")');
  });
});

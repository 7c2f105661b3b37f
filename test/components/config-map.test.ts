/** ConfigMap: non-secret settings with a checksum that rolls the pods when the data changes. */
import { describe, expect, it } from 'vitest';
import { ConfigMap } from '../../components/config-map.js';
import { Workload } from '../../components/workload.js';
import { concernsOf, errorOf, newChart, objectsOf, only } from './util.js';

function build(data: Record<string, string>, concerns?: string[]) {
  const chart = newChart();
  const cm = new ConfigMap(chart, 'C', { name: 'settings', namespace: 'apps', data, ...(concerns ? { concerns } : {}) });
  return { cm, object: only(objectsOf(chart), 'ConfigMap') };
}

describe('ConfigMap', () => {
  it('renders the data in the namespace', () => {
    const { object } = build({ B: '2', A: '1' });
    expect(object.apiVersion).toBe('v1');
    expect(object.metadata).toMatchObject({ name: 'settings', namespace: 'apps' });
    expect(object.data).toEqual({ A: '1', B: '2' });
    expect(Object.keys(object.data)).toEqual(['A', 'B']);
  });

  it('the checksum changes when any value or key changes', () => {
    const base = build({ MODE: 'fast', LEVEL: 'info' }).cm.checksum;
    expect(build({ MODE: 'slow', LEVEL: 'info' }).cm.checksum).not.toBe(base);
    expect(build({ MODE: 'fast', LEVEL: 'info', EXTRA: '' }).cm.checksum).not.toBe(base);
    expect(build({ MODE: 'fast' }).cm.checksum).not.toBe(base);
  });

  it('the checksum does not depend on key order (same data, same rollout)', () => {
    expect(build({ A: '1', B: '2' }).cm.checksum).toBe(build({ B: '2', A: '1' }).cm.checksum);
    expect(build({ A: '1' }).cm.checksum).toMatch(/^[a-f0-9]{64}$/);
  });

  it('the pod-template annotation names the ConfigMap and changes with its data, so the pods roll', () => {
    const template = (value: string) => {
      const chart = newChart();
      const cm = new ConfigMap(chart, 'C', { name: 'settings', namespace: 'apps', data: { MODE: value } });
      new Workload(chart, 'W', {
        name: 'web', namespace: 'apps', image: 'example.com/web:1', port: 8080,
        liveness: { path: '/livez' }, readiness: { path: '/readyz' }, podAnnotations: cm.annotation,
      });
      return only(objectsOf(chart), 'Deployment').spec.template.metadata.annotations as Record<string, string>;
    };
    const a = template('fast');
    const b = template('slow');
    expect(Object.keys(a)).toEqual(['checksum.stackbook.io/configmap-settings']);
    expect(a['checksum.stackbook.io/configmap-settings']).not.toBe(b['checksum.stackbook.io/configmap-settings']);
    expect(template('fast')).toEqual(a);
  });

  it('carries only the given concerns', () => {
    expect(build({ A: '1' }).object.metadata.annotations?.['stackbook.io/concerns']).toBeUndefined();
    expect(concernsOf(build({ A: '1' }, ['OPE-98', 'OPE-92']).object)).toEqual(['OPE-92', 'OPE-98']);
  });

  it('rejects an invalid key', () => {
    const e = errorOf(() => build({ 'bad key': 'x' }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('ConfigMap "settings"');
    expect(e.message).toContain('data.bad key');
  });
});

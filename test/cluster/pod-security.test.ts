// Pod Security of the bundle's namespaces as the real-cluster tier judges it (tools/lib/pod-security.mjs):
// each namespace against the level it declares, relaxed ones only with the exception annotation.
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the tools/ tier (no type declarations)
import * as psa from '../../tools/lib/pod-security.mjs';

type Policy = { namespace: string; enforce: string; warn: string; audit: string; exception?: string; defined: boolean };
const namespacePolicies = psa.namespacePolicies as (docs: unknown[]) => Policy[];
const policyProblems = psa.policyProblems as (p: Policy) => string[];
const controlCases = psa.controlCases as (ns: string, enforce: string) => Array<{ expect: string; pattern: RegExp; pod: any }>;
const classify = psa.classifyApplyWarnings as (w: string[], docs: unknown[], p: Policy[]) => { expected: string[]; unexpected: string[] };

const ns = (name: string, enforce: string, exception?: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: {
    name,
    labels: { 'pod-security.kubernetes.io/enforce': enforce, 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/audit': 'restricted' },
    ...(exception ? { annotations: { 'exception.stackbook.io/pod-security-restricted': exception } } : {}),
  },
});
const deploy = (namespace: string, name: string, containers: string[], excepted = false) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, ...(excepted ? { annotations: { 'exception.stackbook.io/pod-security-restricted': 'OUB-10 runtime' } } : {}) },
  spec: { template: { spec: { initContainers: [{ name: containers[0] }], containers: containers.slice(1).map((n) => ({ name: n })) } } },
});
const WARN = 'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "runtime" must set securityContext.allowPrivilegeEscalation=false)';

describe('namespacePolicies / policyProblems', () => {
  const docs = [ns('ope', 'restricted'), ns('oub', 'baseline', 'OUB-10: sysbox runtime'), ns('bad', 'privileged'), deploy('ope', 'ope', ['x', 'ope']), deploy('oub', 'oubliette', ['runtime', 'oubliette'], true), deploy('bad', 'b', ['b', 'c']), deploy('other', 'o', ['o', 'p'])];
  const pols = namespacePolicies(docs);
  it('reads the declared level of every namespace holding a workload (cluster default restricted)', () => {
    expect(pols.map((p) => [p.namespace, p.enforce, !!p.exception, p.defined])).toEqual([
      ['bad', 'privileged', false, true],
      ['ope', 'restricted', false, true],
      ['other', 'restricted', false, false],
      ['oub', 'baseline', true, true],
    ]);
  });
  it('a relaxed namespace without the exception annotation is a problem; an annotated one is not', () => {
    expect(policyProblems(pols[0]!)).toEqual(['enforces "privileged" without an exception.stackbook.io/pod-security-restricted annotation']);
    expect(policyProblems(pols[3]!)).toEqual([]);
    expect(policyProblems({ ...pols[3]!, warn: 'baseline' })[0]).toMatch(/relaxes warn\/audit too/);
  });
  it('controls: restricted refuses, baseline still refuses a privileged hostPath Pod, relaxed namespaces warn', () => {
    expect(controlCases('ope', 'restricted').map((c) => c.expect)).toEqual(['refused']);
    const b = controlCases('oub', 'baseline');
    expect(b.map((c) => c.expect)).toEqual(['accepted-with-warning', 'refused']);
    expect(b[1]!.pod.spec.volumes[0].hostPath).toBeDefined();
    expect(b[1]!.pattern.test('violates PodSecurity "baseline:latest": hostPath volumes')).toBe(true);
    expect(controlCases('dev', 'privileged').map((c) => c.expect)).toEqual(['accepted-with-warning']);
  });
  it('accepts the restricted warning only for an excepted workload of a relaxed, annotated namespace', () => {
    expect(classify([WARN], [deploy('oub', 'oubliette', ['runtime', 'oubliette'], true)], pols)).toEqual({ expected: [WARN], unexpected: [] });
    // not annotated on the workload, or in a namespace without the annotation, or a container not of it
    expect(classify([WARN], [deploy('oub', 'oubliette', ['runtime', 'oubliette'])], pols).unexpected).toEqual([WARN]);
    expect(classify([WARN], [deploy('bad', 'b', ['runtime', 'c'], true)], pols).unexpected).toEqual([WARN]);
    expect(classify([WARN.replace('"runtime"', '"other"')], [deploy('oub', 'oubliette', ['runtime', 'oubliette'], true)], pols).unexpected).toHaveLength(1);
    // any other warning, and a second one for the same single workload
    expect(classify(['Warning: spec.foo deprecated', WARN, WARN], [deploy('oub', 'oubliette', ['runtime', 'oubliette'], true)], pols)).toEqual({
      expected: [WARN],
      unexpected: ['Warning: spec.foo deprecated', WARN],
    });
  });
});

// The test-only readiness escape hatch of pulumi/program.ts, used by `npm run test:cluster` only:
// off unless STACKBOOK_TEST_SKIP_AWAIT=true, and then only for the kinds whose wait needs a kubelet,
// an ingress controller or a volume provisioner.
import { describe, expect, it } from 'vitest';
import { applyTestSkipAwait, TEST_SKIP_AWAIT_ENV, TEST_SKIP_AWAIT_KINDS } from '../../pulumi/program.js';
import type { Manifest } from '../../synth/render.js';

const obj = (kind: string, annotations?: Record<string, string>): Manifest => ({
  apiVersion: 'v1',
  kind,
  metadata: { name: 'x', namespace: 'ns', ...(annotations ? { annotations } : {}) },
});

describe('applyTestSkipAwait', () => {
  it('is named STACKBOOK_TEST_SKIP_AWAIT and covers exactly the kubelet/controller-bound kinds', () => {
    expect(TEST_SKIP_AWAIT_ENV).toBe('STACKBOOK_TEST_SKIP_AWAIT');
    expect([...TEST_SKIP_AWAIT_KINDS].sort()).toEqual([
      'DaemonSet', 'Deployment', 'Ingress', 'Job', 'PersistentVolumeClaim', 'Pod', 'ReplicaSet', 'Service', 'StatefulSet',
    ]);
  });

  it.each([{}, { STACKBOOK_TEST_SKIP_AWAIT: '1' }, { STACKBOOK_TEST_SKIP_AWAIT: 'false' }])('leaves objects untouched with env %j', (env) => {
    const o = obj('Deployment');
    applyTestSkipAwait(o, env);
    expect(o).toEqual(obj('Deployment'));
  });

  it('marks a Deployment, keeping its other annotations', () => {
    const o = obj('Deployment', { 'stackbook.io/concerns': 'OPE-1' });
    applyTestSkipAwait(o, { STACKBOOK_TEST_SKIP_AWAIT: 'true' });
    expect(o.metadata.annotations).toEqual({ 'stackbook.io/concerns': 'OPE-1', 'pulumi.com/skipAwait': 'true' });
  });

  it.each(['Namespace', 'ConfigMap', 'NetworkPolicy', 'Certificate', 'HorizontalPodAutoscaler'])('does not mark a %s', (kind) => {
    const o = obj(kind);
    applyTestSkipAwait(o, { STACKBOOK_TEST_SKIP_AWAIT: 'true' });
    expect(o.metadata.annotations).toBeUndefined();
  });
});

describe('applyTestSkipAwait with a list of kinds (test cluster with kwok Nodes: only what can never be ready)', () => {
  it('marks only the listed kinds', () => {
    const ingress = obj('Ingress');
    const deployment = obj('Deployment');
    applyTestSkipAwait(ingress, { STACKBOOK_TEST_SKIP_AWAIT: 'Ingress' });
    applyTestSkipAwait(deployment, { STACKBOOK_TEST_SKIP_AWAIT: 'Ingress' });
    expect(ingress.metadata.annotations).toEqual({ 'pulumi.com/skipAwait': 'true' });
    expect(deployment.metadata.annotations).toBeUndefined();
  });

  it('ignores kinds that are not kubelet/controller-bound', () => {
    const cm = obj('ConfigMap');
    applyTestSkipAwait(cm, { STACKBOOK_TEST_SKIP_AWAIT: 'ConfigMap,Ingress' });
    expect(cm.metadata.annotations).toBeUndefined();
  });
});

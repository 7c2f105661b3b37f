// Services wait for their cluster IP, not for 10 s of quiet Endpoints (pulumi/program.ts
// serviceReadiness); what that wait could not prove, a selector matching no pods, is the policy
// rule service-selects-pods (test/policies.test.ts breaks it on a real stack).
import { describe, expect, it } from 'vitest';
import { applyTestSkipAwait, serviceReadiness } from '../pulumi/program.js';
import type { Manifest } from '../synth/render.js';

const svc = (spec: Record<string, unknown>, annotations?: Record<string, string>): Manifest =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'ns', ...(annotations ? { annotations } : {}) }, spec }) as Manifest;

describe('serviceReadiness', () => {
  it('a ClusterIP Service with a selector waits for spec.clusterIP (kubectl-style JSONPath the provider parses)', () => {
    for (const spec of [{ selector: { app: 'a' } }, { selector: { app: 'a' }, type: 'ClusterIP' }]) {
      const o = svc(spec, { 'stackbook.io/concerns': 'OSC-1' });
      serviceReadiness(o);
      expect(o.metadata.annotations).toEqual({ 'stackbook.io/concerns': 'OSC-1', 'pulumi.com/waitFor': 'jsonpath={.spec.clusterIP}' });
    }
  });

  it.each([
    ['headless', { selector: { app: 'a' }, clusterIP: 'None' }],
    ['without selector', { ports: [{ port: 80 }] }],
    ['with an empty selector', { selector: {} }],
    ['LoadBalancer (the provider also waits for its address)', { selector: { app: 'a' }, type: 'LoadBalancer' }],
  ])('leaves a %s Service to the provider', (_, spec) => {
    const o = svc(spec);
    serviceReadiness(o);
    expect(o.metadata.annotations).toBeUndefined();
  });

  it('keeps a waitFor or skipAwait already there (the test-only skipAwait wins)', () => {
    const o = svc({ selector: { app: 'a' } }, { 'pulumi.com/waitFor': 'jsonpath={.metadata}' });
    serviceReadiness(o);
    expect(o.metadata.annotations).toEqual({ 'pulumi.com/waitFor': 'jsonpath={.metadata}' });
    const t = svc({ selector: { app: 'a' } });
    applyTestSkipAwait(t, { STACKBOOK_TEST_SKIP_AWAIT: 'Service' });
    serviceReadiness(t);
    expect(t.metadata.annotations).toEqual({ 'pulumi.com/skipAwait': 'true' });
  });

  it('touches no other kind', () => {
    const o = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'ns' }, spec: { selector: { matchLabels: { app: 'a' } } } } as Manifest;
    serviceReadiness(o);
    expect(o.metadata.annotations).toBeUndefined();
  });
});

/** Autoscaling: autoscaling/v2 HPA with validated ranges, and a PDB that never blocks a drain. */
import { describe, expect, it } from 'vitest';
import { Autoscaling, type AutoscalingProps } from '../../components/autoscaling.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const TARGET = { name: 'web', namespace: 'apps', selector: { 'app.kubernetes.io/name': 'web' } };

function build(overrides: Partial<AutoscalingProps> = {}) {
  const chart = newChart();
  new Autoscaling(chart, 'A', { target: TARGET, minReplicas: 2, maxReplicas: 5, cpuUtilization: 70, ...overrides });
  const objects = objectsOf(chart);
  return { objects, hpa: only(objects, 'HorizontalPodAutoscaler'), pdb: objects.find((o) => o.kind === 'PodDisruptionBudget') };
}

describe('Autoscaling secure defaults (X-2)', () => {
  it('is an autoscaling/v2 HPA targeting the Deployment with the given range and CPU target', () => {
    const { hpa } = build();
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.metadata).toMatchObject({ name: 'web', namespace: 'apps' });
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
    expect(hpa.spec.minReplicas).toBe(2);
    expect(hpa.spec.maxReplicas).toBe(5);
    expect(hpa.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
  });

  it('adds per-pod metrics as AverageValue targets', () => {
    const { hpa } = build({ podsMetrics: [{ name: 'http_request_latency_p95_seconds', averageValue: '500m' }] });
    expect(hpa.spec.metrics[1]).toEqual({
      type: 'Pods',
      pods: { metric: { name: 'http_request_latency_p95_seconds' }, target: { type: 'AverageValue', averageValue: '500m' } },
    });
  });

  it('scales down slowly: a stabilization window and at most one pod at a time', () => {
    const { hpa } = build({ scaleDownStabilizationSeconds: 600 });
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(600);
    expect(hpa.spec.behavior.scaleDown.policies).toEqual([{ type: 'Pods', value: 1, periodSeconds: 60 }]);
    expect(build().hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(0);
  });

  it('a policy/v1 PDB with maxUnavailable 1 (never minAvailable) selects the target pods', () => {
    const { pdb } = build();
    expect(pdb).toBeDefined();
    expect(pdb!.apiVersion).toBe('policy/v1');
    expect(pdb!.metadata).toMatchObject({ name: 'web', namespace: 'apps' });
    expect(pdb!.spec.maxUnavailable).toBe(1);
    expect(pdb!.spec.minAvailable).toBeUndefined();
    expect(pdb!.spec.selector).toEqual({ matchLabels: TARGET.selector });
  });

  it('keeps the PDB drainable even at minReplicas 1', () => {
    const { pdb } = build({ minReplicas: 1, maxReplicas: 1 });
    expect(pdb!.spec.maxUnavailable).toBe(1);
  });

  it('disruptionBudget: false renders no PDB', () => {
    const { objects } = build({ disruptionBudget: false });
    expect(objects.map((o: Json) => o.kind)).toEqual(['HorizontalPodAutoscaler']);
  });

  it('both objects carry X-2 and the given concerns', () => {
    const { objects } = build({ concerns: ['OPE-97'] });
    expect(objects).toHaveLength(2);
    for (const o of objects) expect(concernsOf(o)).toEqual(['OPE-97', 'X-2']);
  });
});

describe('Autoscaling rejects invalid ranges (X-2)', () => {
  it.each([0, 1.5])('minReplicas %s', (min) => {
    const e = errorOf(() => build({ minReplicas: min }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('Autoscaling "web"');
    expect(e.message).toContain('minReplicas');
    expect(e.message).toContain(`(got ${min})`);
  });

  it('maxReplicas below minReplicas', () => {
    const e = errorOf(() => build({ minReplicas: 4, maxReplicas: 3 }));
    expect(e.message).toContain('maxReplicas');
    expect(e.message).toContain('minReplicas (4)');
    expect(e.message).toContain('(got 3)');
  });

  it.each([0, 101, 50.5])('cpuUtilization %s', (cpu) => {
    const e = errorOf(() => build({ cpuUtilization: cpu }));
    expect(e.message).toContain('cpuUtilization');
    expect(e.message).toContain(`(got ${cpu})`);
  });
});

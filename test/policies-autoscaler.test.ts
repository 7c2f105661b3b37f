/**
 * Policy `single-autoscaler` (AION-16, X-2): an HPA and a KEDA ScaledObject, or two of either, never
 * target the same workload. Blocking. Cases on the real prod objects (OPE's HPA) plus one ScaledObject.
 */
import { describe, expect, it } from 'vitest';
import { blocking, evaluate, RULES, type Obj } from '../policies/manifest-rules.js';
import { renderEnv } from './helpers.js';

type J = Record<string, any>;
const RULE = RULES.find((r) => r.id === 'single-autoscaler')!;

const prod = (): J[] => structuredClone(renderEnv('prod').objects) as unknown as J[];

function scaledObject(name: string, target: J, namespace = 'ope'): J {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace },
    spec: { scaleTargetRef: target, minReplicaCount: 2, maxReplicaCount: 4, triggers: [{ type: 'prometheus', metadata: {} }] },
  };
}

const violations = (objects: J[]) => RULE.check(objects as Obj[], { tier: 'production', registry: undefined });

describe('single-autoscaler', () => {
  it('is mandatory and the real stacks (one HPA per workload) pass it', () => {
    expect(RULE.enforcement).toBe('mandatory');
    expect(violations(prod())).toEqual([]);
  });

  it('an HPA and a ScaledObject on one Deployment: both reported, blocking, naming the other', () => {
    const objects = [...prod(), scaledObject('ope-queue', { name: 'ope' })];
    const vs = evaluate(objects as Obj[]).filter((v) => v.rule === 'single-autoscaler');
    expect(vs.map((v) => v.object).sort()).toEqual(['HorizontalPodAutoscaler ope/ope', 'ScaledObject ope/ope-queue']);
    expect(blocking(vs)).toEqual(vs);
    expect(vs.find((v) => v.object === 'HorizontalPodAutoscaler ope/ope')!.message).toBe(
      'Deployment ope/ope is also scaled by ScaledObject ope/ope-queue: two autoscalers fight over its replicas',
    );
  });

  it('KEDA\'s default target (apps/v1 Deployment) matches an explicit one', () => {
    const explicit = [...prod(), scaledObject('ope-queue', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ope' })];
    expect(violations(explicit)).toHaveLength(2);
  });

  it('two ScaledObjects on one workload', () => {
    const objects = prod().filter((o) => o.kind !== 'HorizontalPodAutoscaler');
    objects.push(scaledObject('a', { name: 'ope' }), scaledObject('b', { name: 'ope' }));
    expect(violations(objects).map((v) => v.object.metadata.name).sort()).toEqual(['a', 'b']);
  });

  it('two HPAs on one workload', () => {
    const objects = prod();
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
    objects.push({ ...structuredClone(hpa), metadata: { ...hpa.metadata, name: 'ope-extra' } });
    expect(violations(objects).map((v) => v.object.metadata.name).sort()).toEqual(['ope', 'ope-extra']);
  });

  it('a ScaledObject instead of the HPA, or on another workload, kind or namespace, is fine', () => {
    const instead = prod().filter((o) => o.kind !== 'HorizontalPodAutoscaler');
    instead.push(scaledObject('ope', { name: 'ope' }));
    expect(violations(instead)).toEqual([]);
    expect(violations([...prod(), scaledObject('other', { name: 'ope-worker' })])).toEqual([]);
    expect(violations([...prod(), scaledObject('sts', { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'ope' })])).toEqual([]);
    expect(violations([...prod(), scaledObject('elsewhere', { name: 'ope' }, 'aion')])).toEqual([]);
  });

  it('a ScaledObject of another API group is not KEDA\'s and is ignored', () => {
    const foreign = { ...scaledObject('x', { name: 'ope' }), apiVersion: 'example.com/v1' };
    expect(violations([...prod(), foreign])).toEqual([]);
  });
});

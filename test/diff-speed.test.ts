/**
 * Issue 17, item 5 (speed): the shortcuts `stackbook diff` takes must not change what it compares.
 *  - The working tree's objects come from the rendered phase files through a JSON round trip, not by
 *    writing the bundle's YAML and parsing it back: for every stack, the same objects in the same
 *    order as `parseBundle(bundleFiles(...))`, the path the base's bundle takes.
 *  - Unchanged objects skip the semantic field walk (`sameValue`): equal values, key order aside,
 *    and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { bundleObjects } from '../review/base.js';
import { bundleFiles, phaseFiles } from '../bundle/bundle.js';
import { assessRisks, diffEnv, diffFields, parseBundle, sameValue, type Obj } from '../review/diff.js';
import { ENVS, renderEnv } from './helpers.js';

describe('the working tree without the YAML round trip', () => {
  it.each(ENVS)('%s: the same objects, in the same order, as the bundle files parsed back', (env) => {
    const r = renderEnv(env);
    const fromYaml = parseBundle(bundleFiles(r));
    const direct = bundleObjects(r, phaseFiles);
    expect(direct.length).toBe(fromYaml.length);
    expect(direct).toEqual(fromYaml);
    // and no aliasing with the render (the diff may annotate what it is given)
    expect(direct[0]).not.toBe(r.objects[0]);
  });
});

describe('sameValue: the fast path for unchanged objects', () => {
  it('equal JSON values are the same whatever the key order; any other difference is not', () => {
    expect(sameValue({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 })).toBe(true);
    for (const other of [{ a: 1, b: [1, { c: 'y' }] }, { a: 1, b: [{ c: 'x' }, 1] }, { a: 1, b: [1, { c: 'x' }], d: null }, { a: '1', b: [1, { c: 'x' }] }, { a: 1 }, [1]]) {
      expect(sameValue({ a: 1, b: [1, { c: 'x' }] }, other), JSON.stringify(other)).toBe(false);
    }
    expect(sameValue([], {})).toBe(false);
    expect(sameValue(null, {})).toBe(false);
  });

  it('an unchanged object has no field changes; one changed field still shows', () => {
    const d = renderEnv('prod').objects.find((o) => o.kind === 'Deployment') as unknown as Obj;
    const copy = JSON.parse(JSON.stringify(d)) as Obj;
    expect(diffFields(d, copy)).toEqual([]);
    (copy as any).spec.replicas = Number((d as any).spec.replicas ?? 1) + 1;
    expect(diffFields(d, copy).map((c) => c.path)).toEqual(['spec.replicas']);
  });
});

describe('unchanged objects raise no flag (assessRisks skips them)', () => {
  it.each(ENVS)('%s: the stack against an identical copy of itself: no flags, no object diffs, no flows', (env) => {
    const objs = bundleObjects(renderEnv(env), phaseFiles);
    const copy = JSON.parse(JSON.stringify(objs)) as Obj[];
    expect(assessRisks(env, objs, copy)).toEqual([]);
    const d = diffEnv(env, objs, copy);
    expect([d.objects.length, d.risks.length, d.flows]).toEqual([0, 0, undefined]);
  });

  it('next to an unchanged one, a changed object is still flagged', () => {
    const objs = bundleObjects(renderEnv('prod'), phaseFiles);
    const copy = JSON.parse(JSON.stringify(objs)) as Obj[];
    const hpa = copy.find((o) => o.kind === 'HorizontalPodAutoscaler') as any;
    hpa.spec.minReplicas = 1;
    const before = (objs.find((o) => o.kind === 'HorizontalPodAutoscaler') as any).spec.minReplicas;
    expect(before).toBeGreaterThan(1);
    expect(assessRisks('prod', objs, copy).map((r) => r.id)).toEqual(['hpa-min-lowered']);
  });
});

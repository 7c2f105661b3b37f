// Stale checker exceptions (tools/lib/checkers.mjs staleExceptions, tools/checker-exceptions.yaml): the
// real-cluster tier fails on an exception that could have applied in a run and matched nothing. A run
// of one stack (`node tools/test-cluster.mjs dev`) must not call an exception stale only because the
// object it names is not in that stack's bundle. Pure: no kube-score, no cluster.
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the tools/ tier (no type declarations)
import * as checkers from '../../tools/lib/checkers.mjs';
import { ENVS, renderEnv } from '../helpers.js';

type Exception = { checker: string; test: string; object: string; reason: string; stacks?: string[] };
const parseExceptions = checkers.parseExceptions as (doc: unknown) => Exception[];
const objectMatches = checkers.objectMatches as (pattern: string, object: string) => boolean;
const objectId = checkers.objectId as (kind: string, namespace: string | undefined, name: string) => string;
const staleExceptions = checkers.staleExceptions as (ex: Exception[], used: Set<number>, stacks: string[], o: { linterRan: boolean }) => Exception[];

const REASON = 'a reason long enough to pass the thirty character minimum';
const everyStack: Exception = { checker: 'kube-score', test: 'pod-probes-identical', object: 'Deployment/ope/ope', reason: REASON };
const prodOnly: Exception = { checker: 'kube-score', test: 'networkpolicy-targets-pod', object: 'NetworkPolicy/aion/x', reason: REASON, stacks: ['prod'] };
const linter: Exception = { checker: 'kube-linter', test: 'no-anti-affinity', object: 'Deployment/ope/ope', reason: REASON };

describe('staleExceptions', () => {
  const list = [everyStack, prodOnly, linter];
  it('an exception scoped to stacks outside the run is not stale; one without stacks is', () => {
    expect(staleExceptions(list, new Set(), ['dev'], { linterRan: false })).toEqual([everyStack]);
  });
  it('a run that includes the scoped stack calls it stale when it matched nothing', () => {
    expect(staleExceptions(list, new Set(), ['dev', 'staging', 'prod', 'airgap'], { linterRan: false })).toEqual([everyStack, prodOnly]);
    expect(staleExceptions(list, new Set([1]), ['dev', 'prod'], { linterRan: false })).toEqual([everyStack]);
  });
  it('kube-linter exceptions count only when kube-linter ran; a used exception is never stale', () => {
    expect(staleExceptions(list, new Set([0]), ['dev'], { linterRan: true })).toEqual([linter]);
    expect(staleExceptions(list, new Set([0, 1, 2]), ['prod'], { linterRan: true })).toEqual([]);
  });
});

describe('tools/checker-exceptions.yaml against the rendered stacks', () => {
  const exceptions = parseExceptions(yaml.load(readFileSync(new URL('../../tools/checker-exceptions.yaml', import.meta.url), 'utf8')));
  const idsOf = (env: string) => renderEnv(env).objects.map((o) => objectId(o.kind, o.metadata.namespace, o.metadata.name));

  // A finding is about an object of the bundle, so an exception can only match in a stack whose
  // bundle holds an object its pattern names. One that names none in a stack it applies to is
  // reported stale by every run of that stack alone.
  it.each(ENVS)('every exception that applies to %s names an object of its bundle', (env) => {
    const ids = idsOf(env);
    const absent = exceptions
      .filter((e) => !e.stacks || e.stacks.includes(env))
      .filter((e) => !ids.some((id) => objectMatches(e.object, id)))
      .map((e) => `${e.checker} ${e.test} ${e.object}`);
    expect(absent).toEqual([]);
  });

  it('a run of all stacks still reports an exception that matched nothing anywhere', () => {
    const truly: Exception = { checker: 'kube-score', test: 'deployment-has-host-podantiaffinity', object: 'Deployment/aion/no-such-workload', reason: REASON };
    const all = [...exceptions, truly];
    // every committed exception matched somewhere; the added one did not
    const used = new Set(exceptions.map((_, i) => i));
    expect(staleExceptions(all, used, [...ENVS], { linterRan: false })).toEqual([truly]);
    expect(staleExceptions(all, used, ['dev'], { linterRan: false })).toEqual([truly]);
  });
});

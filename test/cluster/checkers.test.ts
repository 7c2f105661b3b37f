// Checker findings and the committed exceptions file of the real-cluster tier (tools/lib/checkers.mjs,
// tools/checker-exceptions.yaml): pure, tested without kube-score or a cluster.
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the tools/ tier (no type declarations)
import * as checkers from '../../tools/lib/checkers.mjs';
import { ENVS } from '../helpers.js';

type Finding = { checker: string; test: string; object: string; message: string };
type Exception = { checker: string; test: string; object: string; reason: string; stacks?: string[] };
const parseExceptions = checkers.parseExceptions as (doc: unknown) => Exception[];
const kubeScoreFindings = checkers.kubeScoreFindings as (json: string) => Finding[];
const kubeLinterFindings = checkers.kubeLinterFindings as (json: string) => Finding[];
const applyExceptions = checkers.applyExceptions as (
  f: Finding[],
  e: Exception[],
  stack: string,
) => { open: Finding[]; excepted: Array<Finding & { reason: string }>; used: Set<number> };

const REASON = 'a reason long enough to explain why this finding does not apply';

// the shape of `kube-score score -o json` (output version v2), trimmed to the fields read
const scoreJson = JSON.stringify([
  {
    type_meta: { kind: 'Deployment', apiVersion: 'apps/v1' },
    object_meta: { name: 'ope', namespace: 'ope' },
    checks: [
      { check: { id: 'container-image-pull-policy', name: 'Container Image Pull Policy' }, grade: 1, skipped: false, comments: [{ path: 'ope', summary: 'ImagePullPolicy is not set to Always' }] },
      { check: { id: 'pod-probes', name: 'Pod Probes' }, grade: 10, skipped: false, comments: [] },
      { check: { id: 'container-seccomp-profile', name: 'Seccomp' }, grade: 0, skipped: true, comments: [] },
      { check: { id: 'deployment-has-host-podantiaffinity', name: 'Host anti-affinity' }, grade: 5, skipped: false, comments: [] },
    ],
  },
  { type_meta: { kind: 'Namespace', apiVersion: 'v1' }, object_meta: { name: 'ope' }, checks: [{ check: { id: 'label-values', name: 'Label values' }, grade: 7, skipped: false, comments: [{ path: '', summary: 'bad label' }] }] },
]);

describe('kubeScoreFindings', () => {
  it('turns every graded (< 10), not skipped check into findings named Kind/namespace/name', () => {
    expect(kubeScoreFindings(scoreJson)).toEqual([
      { checker: 'kube-score', test: 'container-image-pull-policy', object: 'Deployment/ope/ope', message: '(ope) ImagePullPolicy is not set to Always' },
      { checker: 'kube-score', test: 'deployment-has-host-podantiaffinity', object: 'Deployment/ope/ope', message: 'Host anti-affinity' },
      { checker: 'kube-score', test: 'label-values', object: 'Namespace/ope', message: 'bad label' },
    ]);
  });
});

describe('kubeLinterFindings', () => {
  it('reads kube-linter --format json reports', () => {
    const json = JSON.stringify({
      Reports: [{ Check: 'no-read-only-root-fs', Diagnostic: { Message: 'container "a" does not have a read-only root file system' }, Object: { K8sObject: { Namespace: 'ope', Name: 'ope', GroupVersionKind: { Kind: 'Deployment' } } } }],
    });
    expect(kubeLinterFindings(json)).toEqual([
      { checker: 'kube-linter', test: 'no-read-only-root-fs', object: 'Deployment/ope/ope', message: 'container "a" does not have a read-only root file system' },
    ]);
  });
});

describe('applyExceptions', () => {
  const findings = kubeScoreFindings(scoreJson);
  it('excepts by checker, test, object and stack, and reports which exceptions were used', () => {
    const ex: Exception[] = [
      { checker: 'kube-score', test: 'container-image-pull-policy', object: 'Deployment/ope/ope', reason: REASON, stacks: ['prod'] },
      { checker: 'kube-score', test: 'label-values', object: '*', reason: REASON },
      { checker: 'kube-linter', test: 'deployment-has-host-podantiaffinity', object: '*', reason: REASON },
    ];
    const prod = applyExceptions(findings, ex, 'prod');
    expect(prod.open.map((f) => f.test)).toEqual(['deployment-has-host-podantiaffinity']);
    expect(prod.excepted.map((f) => [f.test, f.reason])).toEqual([
      ['container-image-pull-policy', REASON],
      ['label-values', REASON],
    ]);
    expect([...prod.used].sort()).toEqual([0, 1]);
    const dev = applyExceptions(findings, ex, 'dev');
    expect(dev.open.map((f) => f.test)).toEqual(['container-image-pull-policy', 'deployment-has-host-podantiaffinity']);
  });

  it('matches object globs within a segment only (StatefulSet/*/redis-node, Job/aion/mongo-ttl-*)', () => {
    const f = (object: string): Finding => ({ checker: 'kube-score', test: 'container-security-context-user-group-id', object, message: '(redis) low user ID' });
    const ex: Exception[] = [
      { checker: 'kube-score', test: 'container-security-context-user-group-id', object: 'StatefulSet/*/redis-node', reason: REASON },
      { checker: 'kube-score', test: 'container-security-context-user-group-id', object: 'Job/aion/mongo-ttl-*', reason: REASON },
    ];
    const r = applyExceptions(
      [f('StatefulSet/aion/redis-node'), f('StatefulSet/osc/redis-node'), f('StatefulSet/aion/redis'), f('Job/aion/mongo-ttl-1f305df3'), f('Job/oub/mongo-ttl-1'), f('StatefulSet/a/b/redis-node')],
      ex,
      'prod',
    );
    expect(r.excepted.map((x) => x.object)).toEqual(['StatefulSet/aion/redis-node', 'StatefulSet/osc/redis-node', 'Job/aion/mongo-ttl-1f305df3']);
    expect(r.open.map((x) => x.object)).toEqual(['StatefulSet/aion/redis', 'Job/oub/mongo-ttl-1', 'StatefulSet/a/b/redis-node']);
    expect([...r.used].sort()).toEqual([0, 1]);
    const objectMatches = checkers.objectMatches as (p: string, o: string) => boolean;
    expect(objectMatches('*', 'Namespace/ope')).toBe(true);
    expect(objectMatches('Deployment/a.b/*', 'Deployment/aXb/c')).toBe(false); // "." is literal
    expect(objectMatches('Deployment/*', 'Deployment/ope/ope')).toBe(false); // same number of segments
  });

  it('does not let an exception for one object cover another', () => {
    const ex: Exception[] = [{ checker: 'kube-score', test: 'container-image-pull-policy', object: 'Deployment/ope/other', reason: REASON }];
    expect(applyExceptions(findings, ex, 'dev').open).toHaveLength(3);
  });
});

describe('parseExceptions', () => {
  const ok = { checker: 'kube-score', test: 'pod-probes-identical', object: 'Deployment/ope/ope', reason: REASON };
  it('accepts a valid entry and trims its reason', () => {
    expect(parseExceptions({ exceptions: [{ ...ok, reason: `  ${REASON}\n`, stacks: ['dev'] }] })).toEqual([{ ...ok, stacks: ['dev'] }]);
  });
  it.each([
    [{ ...ok, checker: 'kubeval' }, 'exceptions[0].checker: must be one of kube-score, kube-linter, got "kubeval"'],
    [{ ...ok, test: 'Bad Id' }, 'exceptions[0].test: must be a check id, got "Bad Id"'],
    [{ ...ok, object: 'ope' }, 'exceptions[0].object: must be Kind/namespace/name, Kind/name or *, got "ope"'],
    [{ ...ok, reason: 'todo' }, 'exceptions[0].reason: must explain the exception (at least 30 characters), got "todo"'],
    [{ ...ok, stacks: [] }, 'exceptions[0].stacks: must be a non-empty list of stack names, got []'],
    [{ ...ok, because: 'x' }, 'exceptions[0]: unknown field "because"'],
  ])('rejects %j', (entry, message) => {
    expect(() => parseExceptions({ exceptions: [entry] })).toThrow(message);
  });
  it('rejects a file without an exceptions list', () => {
    expect(() => parseExceptions({ exception: [] })).toThrow('top-level "exceptions" must be a list, got undefined');
  });

  it('the committed tools/checker-exceptions.yaml is valid and names only known stacks', () => {
    const doc = yaml.load(readFileSync(new URL('../../tools/checker-exceptions.yaml', import.meta.url), 'utf8'));
    const list = parseExceptions(doc);
    expect(list.length).toBeGreaterThan(0);
    for (const e of list) for (const s of e.stacks ?? []) expect(ENVS).toContain(s);
  });
});

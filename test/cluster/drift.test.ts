// The drift comparator of the real-cluster tier (tools/lib/drift.mjs): pure, so tested here without
// a cluster. Each normalisation it allows is pinned, and so is each mismatch it must still report.
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the tools/ tier (no type declarations)
import * as drift from '../../tools/lib/drift.mjs';

type Mismatch = { path: string; expected: unknown; live: unknown };
type Result = { compared: number; mismatches: Mismatch[] };
const compareObject = drift.compareObject as (e: unknown, l: unknown) => Result;
const sameQuantity = drift.sameQuantity as (a: unknown, b: unknown) => boolean;
const isQuantityPath = drift.isQuantityPath as (p: Array<string | number>) => boolean;
const objectKey = drift.objectKey as (o: unknown) => string;

const deployment = (container: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'ope', namespace: 'ope', labels: { app: 'ope' } },
  spec: { template: { spec: { containers: [{ name: 'ope', image: 'img@sha256:1', ...container }], ...extra } } },
});

describe('quantities', () => {
  it.each([
    ['0.5', '500m'],
    [0.5, '500m'],
    ['1000m', '1'],
    [1, '1'],
    ['1024Mi', '1Gi'],
    ['1.5Gi', '1536Mi'],
    ['2e3', '2k'],
    ['100n', '0.0000001'],
  ])('%s equals %s', (a, b) => {
    expect(sameQuantity(a, b)).toBe(true);
  });

  it.each([
    ['500m', '501m'],
    ['1Gi', '1G'],
    ['1Ki', '1k'],
    ['abc', 'abc'],
    [true, '1'],
  ])('%s differs from %s', (a, b) => {
    expect(sameQuantity(a, b)).toBe(false);
  });

  it('knows which paths hold quantities', () => {
    expect(isQuantityPath(['spec', 'template', 'spec', 'containers', '[name=a]', 'resources', 'limits', 'cpu'])).toBe(true);
    expect(isQuantityPath(['spec', 'volumes', '[name=tmp]', 'emptyDir', 'sizeLimit'])).toBe(true);
    expect(isQuantityPath(['spec', 'metrics', 0, 'resource', 'target', 'averageValue'])).toBe(true);
    expect(isQuantityPath(['spec', 'hard', 'requests.cpu'])).toBe(true);
    expect(isQuantityPath(['spec', 'replicas'])).toBe(false);
    expect(isQuantityPath(['spec', 'metrics', 0, 'resource', 'target', 'averageUtilization'])).toBe(false);
    expect(isQuantityPath(['metadata', 'labels', 'limits'])).toBe(false);
  });
});

describe('compareObject', () => {
  it('ignores fields only the server set (status, uid, defaults, extra annotations)', () => {
    const exp = deployment({ ports: [{ name: 'http', containerPort: 8000 }] });
    const live = structuredClone(exp) as ReturnType<typeof deployment> & Record<string, unknown>;
    Object.assign(live.metadata, { uid: 'u', annotations: { 'pulumi.com/skipAwait': 'true' } });
    live.status = { replicas: 1 };
    Object.assign(live.spec.template.spec.containers[0]!, { terminationMessagePath: '/dev/termination-log' });
    const r = compareObject(exp, live);
    expect(r.mismatches).toEqual([]);
    // apiVersion, kind, metadata name/namespace/labels.app, container name, image, port name and containerPort
    expect(r.compared).toBe(9);
  });

  it('reports a changed value with its path, the expected and the live value', () => {
    const exp = deployment({ image: 'img@sha256:1' });
    const live = deployment({ image: 'img@sha256:2' });
    expect(compareObject(exp, live).mismatches).toEqual([
      { path: 'spec.template.spec.containers[name=ope].image', expected: 'img@sha256:1', live: 'img@sha256:2' },
    ]);
  });

  it('reports a field the server dropped', () => {
    const exp = deployment({ securityContext: { readOnlyRootFilesystem: true } });
    const live = deployment({ securityContext: {} });
    expect(compareObject(exp, live).mismatches).toEqual([
      { path: 'spec.template.spec.containers[name=ope].securityContext.readOnlyRootFilesystem', expected: true, live: undefined },
    ]);
  });

  it('accepts canonical quantities at quantity paths of built-in kinds only', () => {
    const exp = deployment({ resources: { requests: { cpu: '0.5', memory: '1024Mi' }, limits: { cpu: 1 } } });
    const live = deployment({ resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1' } } });
    expect(compareObject(exp, live).mismatches).toEqual([]);
    const cr = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'db' }, spec: { resources: { requests: { cpu: '0.5' } } } };
    const crLive = structuredClone(cr);
    crLive.spec.resources.requests.cpu = '500m';
    expect(compareObject(cr, crLive).mismatches).toHaveLength(1);
  });

  it('does not treat a same-valued quantity outside a quantity path as equal', () => {
    const exp = deployment({ args: ['0.5'] });
    const live = deployment({ args: ['500m'] });
    expect(compareObject(exp, live).mismatches.map((m) => m.path)).toEqual(['spec.template.spec.containers[name=ope].args[0]']);
  });

  it('accepts an omitted empty list or map (omitempty) on built-in kinds, but not an omitted value', () => {
    const np = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'd', namespace: 'n' }, spec: { podSelector: {}, ingress: [], egress: [{ ports: [{ port: 53 }] }] } };
    const live = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'd', namespace: 'n' }, spec: { podSelector: {}, egress: [{ ports: [{ port: 53 }] }] } };
    expect(compareObject(np, live).mismatches).toEqual([]);
    const noEgress = structuredClone(live) as Record<string, any>;
    delete noEgress.spec.egress;
    expect(compareObject(np, noEgress).mismatches.map((m) => m.path)).toEqual(['spec.egress']);
  });

  it('keeps int-or-string types apart (8000 is not "8000")', () => {
    const exp = deployment({ livenessProbe: { httpGet: { port: 8000 } } });
    const live = deployment({ livenessProbe: { httpGet: { port: '8000' } } });
    expect(compareObject(exp, live).mismatches).toHaveLength(1);
  });

  it('matches named list elements by name and reports extra or missing ones', () => {
    const exp = deployment({ env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] });
    const reordered = deployment({ env: [{ name: 'B', value: '2' }, { name: 'A', value: '1' }] });
    expect(compareObject(exp, reordered).mismatches).toEqual([]);
    const extra = deployment({ env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'C', value: '3' }] });
    expect(compareObject(exp, extra).mismatches).toEqual([
      { path: 'spec.template.spec.containers[name=ope].env', expected: 'only ["A","B"]', live: 'also ["C"]' },
    ]);
    const missing = deployment({ env: [{ name: 'A', value: '1' }] });
    expect(compareObject(exp, missing).mismatches.map((m) => m.path)).toEqual(['spec.template.spec.containers[name=ope].env[name=B]']);
  });

  it('compares unnamed lists by position and length', () => {
    const exp = deployment({ command: ['uvicorn', 'app'] });
    expect(compareObject(exp, deployment({ command: ['app', 'uvicorn'] })).mismatches).toHaveLength(2);
    expect(compareObject(exp, deployment({ command: ['uvicorn', 'app', '--reload'] })).mismatches.map((m) => m.path)).toEqual([
      'spec.template.spec.containers[name=ope].command',
    ]);
  });

  it('reports a missing live object', () => {
    expect(compareObject(deployment({}), undefined).mismatches).toEqual([{ path: '(object)', expected: 'present', live: 'missing' }]);
  });

  it('keys objects by kind, group, namespace and name', () => {
    expect(objectKey(deployment({}))).toBe('Deployment.apps/ope/ope');
    expect(objectKey({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ope' } })).toBe('Namespace/ope');
    expect(objectKey({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c', namespace: 'n' } })).toBe('Certificate.cert-manager.io/n/c');
  });
});

describe('compareObject: zero scalars', () => {
  it('reports a false the server dropped (non-pointer omitempty): the component should not set it', () => {
    const exp = deployment({ volumeMounts: [{ name: 'src', mountPath: '/src', readOnly: false }] });
    const live = deployment({ volumeMounts: [{ name: 'src', mountPath: '/src' }] });
    expect(compareObject(exp, live).mismatches).toEqual([
      { path: 'spec.template.spec.containers[name=ope].volumeMounts[name=src].readOnly', expected: false, live: undefined },
    ]);
  });
});

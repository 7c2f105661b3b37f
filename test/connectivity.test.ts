/**
 * Who can talk to whom (review/connectivity.ts): flows from NetworkPolicies and pod labels, judged
 * the way Kubernetes enforces them, and the review diff of flows (issue 17).
 */
import { describe, expect, it } from 'vitest';
import { flowDiff, flowsOf, flowText, type Obj } from '../review/connectivity.js';
import { buildReport, formatText } from '../review/diff.js';
import { renderEnv } from './helpers.js';

type J = Record<string, any>;
const ns = (name: string, labels: Record<string, string> = {}): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const deploy = (namespace: string, name: string, ports: Array<[string, number]>): Obj => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace },
  spec: { template: { metadata: { labels: { 'app.kubernetes.io/name': name } }, spec: { containers: [{ name, ports: ports.map(([n, p]) => ({ name: n, containerPort: p })) }] } } },
});
const np = (namespace: string, name: string, spec: J): Obj => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec });
const app = (name: string) => ({ matchLabels: { 'app.kubernetes.io/name': name } });
const nsSel = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
const deny = (namespace: string) => np(namespace, 'default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
const texts = (objs: Obj[]) => flowsOf(objs).map(flowText);

describe('flows', () => {
  const base = (): Obj[] => [
    ns('shop'), ns('data'),
    deploy('shop', 'api', [['http', 8000]]), deploy('shop', 'worker', []), deploy('data', 'redis', [['redis', 6379], ['metrics', 9121]]),
    deny('shop'), deny('data'),
    np('shop', 'api', { podSelector: app('api'), policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ namespaceSelector: nsSel('ingress-nginx') }], ports: [{ port: 'http' }] }],
      egress: [{ to: [{ namespaceSelector: nsSel('data'), podSelector: app('redis') }], ports: [{ port: 6379 }] }] }),
    np('data', 'redis', { podSelector: app('redis'), policyTypes: ['Ingress'],
      ingress: [{ from: [{ namespaceSelector: nsSel('shop'), podSelector: app('api') }, { namespaceSelector: nsSel('shop'), podSelector: app('worker') }], ports: [{ port: 6379 }] },
        { from: [{ namespaceSelector: nsSel('monitoring') }], ports: [{ port: 'metrics' }] }] }),
  ];

  it('a flow needs both ends: the destination admits worker, but worker has no egress, so only api reaches redis', () => {
    expect(texts(base())).toEqual([
      'ingress-nginx/* → shop/api:8000/TCP',
      'monitoring/* → data/redis:9121/TCP',
      'shop/api → data/redis:6379/TCP',
    ]);
  });

  it('an egress rule for worker adds exactly that flow; ports by name and by number; a pod outside any policy talks to anything', () => {
    const objs = [...base(), np('shop', 'worker', { podSelector: app('worker'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsSel('data') }] }] })];
    expect(flowDiff(base(), objs)).toEqual({ added: ['shop/worker → data/redis:6379/TCP'], removed: [] });
    const open = base().filter((o) => !(o.kind === 'NetworkPolicy' && o.metadata.namespace === 'data'));
    expect(texts(open)).toEqual(expect.arrayContaining(['any → data/redis (any port)', 'data/redis → any (any port)', 'shop/api → data/redis:6379/TCP']));
    expect(texts(open)).not.toContain('shop/worker → data/redis:6379/TCP'); // worker is still egress-isolated
  });

  it('a CIDR change is the flows it changes', () => {
    const withCidr = (cidr: string) => [...base(), np('shop', 'lb', { podSelector: app('api'), policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr } }], ports: [{ port: 8000 }] }] })];
    expect(flowDiff(withCidr('10.40.0.0/16'), withCidr('10.40.1.0/24'))).toEqual({
      added: ['10.40.1.0/24 → shop/api:8000/TCP'],
      removed: ['10.40.0.0/16 → shop/api:8000/TCP'],
    });
  });
});

describe('flows of the real stacks', () => {
  it('prod: each service reaches its own Redis, Prometheus scrapes, no cross-service path to another Redis', () => {
    const flows = texts(renderEnv('prod').objects as unknown as Obj[]);
    expect(flows).toEqual(expect.arrayContaining(['ows/ows → ows/redis:6379/TCP', 'osc/osc → osc/redis:6379/TCP', 'aion/aion-gateway → aion/redis:6379/TCP', 'monitoring/* → ope/ope:8000/TCP']));
    expect(flows.filter((f) => /^(ope|ows|osc|oub)\/.* → aion\/redis/.test(f))).toEqual([]);
  });

  it('the review shows a new path as a flow: + ows/ows-worker → aion/redis', () => {
    const base = renderEnv('prod').objects as unknown as Obj[];
    const head = structuredClone(base) as J[];
    head.push(np('ows', 'to-aion-redis', { podSelector: app('ows-worker'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsSel('aion'), podSelector: app('redis') }], ports: [{ port: 6379 }] }] }));
    head.push(np('aion', 'from-ows-worker', { podSelector: app('redis'), policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: nsSel('ows'), podSelector: app('ows-worker') }], ports: [{ port: 6379 }] }] }));
    const out = formatText(buildReport({ ref: 'HEAD' }, 'working tree', new Map([['prod', base as any]]), new Map([['prod', head as any]])));
    expect(out).toContain('  connectivity: 1 flows added, 0 removed\n    + ows/ows-worker → aion/redis:6379/TCP\n');
  });
});

/**
 * The NetworkPolicy evaluator of the controllers tier (tools/lib/netpol.mjs) and, through it, what
 * cert-manager's HTTP-01 solver needs from every ACME stack without Go: the solver Pod cert-manager
 * creates in a Certificate's namespace carries `acme.cert-manager.io/http01-solver: "true"` and
 * listens on 8089 (container port "http") — cert-manager v1.21.2 pkg/issuer/acme/http/pod.go
 * podLabels (l.36-48) and l.263-266, http.go acmeSolverListenPort = 8089 (l.50),
 * pkg/apis/acme/v1/types.go SolverIdentificationLabelKey (l.60). The controllers tier checks the
 * same on the live solver Pods when the controller runs.
 */
import { describe, expect, it } from 'vitest';
import { ingressAllowed, selects } from '../tools/lib/netpol.mjs';
import { renderEnv } from './helpers.js';

const solverPod = (namespace: string) => ({
  metadata: { namespace, labels: { 'acme.cert-manager.io/http01-solver': 'true', 'acme.cert-manager.io/http-domain': '1', 'acme.cert-manager.io/http-token': '2' } },
});
const fromIngress = (ns: string) => ({ fromNs: ns, fromLabels: { 'app.kubernetes.io/name': 'ingress-nginx' }, port: 8089, portName: 'http' });

describe('netpol evaluator', () => {
  const deny = { metadata: { name: 'default-deny', namespace: 'a' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
  const allow = {
    metadata: { name: 'allow', namespace: 'a' },
    spec: {
      podSelector: { matchLabels: { 'acme.cert-manager.io/http01-solver': 'true' } }, policyTypes: ['Ingress'],
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }], ports: [{ port: 8089, protocol: 'TCP' }] }],
    },
  };
  it('no policy selecting the pod: allowed', () => {
    expect(ingressAllowed([], solverPod('a'), fromIngress('ingress-nginx')).allowed).toBe(true);
  });
  it('default-deny alone refuses; with the allow rule, only ingress-nginx on 8089 passes', () => {
    expect(ingressAllowed([deny], solverPod('a'), fromIngress('ingress-nginx')).allowed).toBe(false);
    expect(ingressAllowed([deny, allow], solverPod('a'), fromIngress('ingress-nginx'))).toEqual({ allowed: true, by: 'allow' });
    expect(ingressAllowed([deny, allow], solverPod('a'), fromIngress('other')).allowed).toBe(false);
    expect(ingressAllowed([deny, allow], solverPod('a'), { ...fromIngress('ingress-nginx'), port: 8080, portName: 'x' }).allowed).toBe(false);
  });
  it('matchExpressions', () => {
    expect(selects({ matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] }, { k: 'v' })).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'k', operator: 'NotIn', values: ['v'] }] }, { k: 'v' })).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'k', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });
});

describe.each(['dev', 'staging'])('%s: the HTTP-01 solver of every ACME Certificate is reachable from ingress-nginx', (env) => {
  const r = renderEnv(env);
  const acme = new Set(r.objects.filter((o) => (o.kind === 'ClusterIssuer' || o.kind === 'Issuer') && (o as any).spec?.acme).map((o) => o.metadata.name));
  const certs = r.objects.filter((o) => o.kind === 'Certificate' && acme.has((o as any).spec.issuerRef.name));
  const policies = r.objects.filter((o) => o.kind === 'NetworkPolicy');
  it('has ACME Certificates', () => expect(certs.length).toBeGreaterThan(0));
  it.each(certs.map((c) => [c.metadata.namespace, c.metadata.name]))('%s/%s', (ns) => {
    const res = ingressAllowed(policies, solverPod(ns!), fromIngress(r.stack.cluster.ingressNamespace));
    expect(res, `solver in ${ns}: ${res.by}`).toMatchObject({ allowed: true });
    // and the namespace is default-deny: without the solver rule it would be refused
    const without = policies.filter((p) => !(p.metadata.namespace === ns && p.metadata.name === res.by));
    expect(ingressAllowed(without, solverPod(ns!), fromIngress('ingress-nginx')).allowed).toBe(false);
  });
});

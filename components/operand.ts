/**
 * Helpers for the operator-managed operands (CloudNativePG, Strimzi): requests and limits, storage
 * sizes, network rules with the AllowList component's contract, the DNS and API-server egress every
 * operand pod needs, and the restricted container context. Used by components/postgres.ts and
 * components/kafka.ts (kept out of postgres.ts, so Kafka does not borrow from PostgreSQL).
 */
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, parseLabel, quantityValue } from './meta.js';
import { peerOf, type Peer, type PortSpec } from './network-policy.js';
import type { WorkloadResources } from './workload.js';
import { isCidr, isWholeInternet, networkRuleProblem } from '../kube/network.js';
import { restrictedContainerSecurity } from '../kube/security.js';

export { checkName, checkSubdomain } from '../kube/names.js';

/** Validate requests/limits (quantities, request ≤ limit) and render them. */
export function resourcesOf(component: string, id: string, prop: string, r: WorkloadResources): {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
} {
  const pairs: [string, string, string][] = [
    ['cpu', r.cpuRequest, r.cpuLimit],
    ['memory', r.memoryRequest, r.memoryLimit],
  ];
  for (const [kind, request, limit] of pairs) {
    const rq = quantityValue(request);
    const lm = quantityValue(limit);
    if (rq === undefined || rq <= 0) throw new ComponentError(component, id, `${prop}.${kind}Request`, 'must be a positive quantity such as 500m or 1Gi', request);
    if (lm === undefined || lm <= 0) throw new ComponentError(component, id, `${prop}.${kind}Limit`, 'must be a positive quantity such as 1 or 2Gi', limit);
    if (rq > lm) throw new ComponentError(component, id, `${prop}.${kind}Request`, `must not exceed the limit ${limit}`, request);
  }
  return { requests: { cpu: r.cpuRequest, memory: r.memoryRequest }, limits: { cpu: r.cpuLimit, memory: r.memoryLimit } };
}

/** Validate a storage size (a positive quantity, at least 1Gi). */
export function storageSizeOf(component: string, id: string, prop: string, size: string): string {
  const v = quantityValue(size);
  if (v === undefined || v < 2 ** 30) throw new ComponentError(component, id, prop, 'must be a quantity of at least 1Gi, such as 20Gi', size);
  return size;
}

/** Peers and ports of one network rule, validated with the AllowList component's contract. */
export interface RenderedRule {
  readonly peers: k8s.NetworkPolicyPeer[];
  readonly ports: k8s.NetworkPolicyPort[];
}

/** Validate a network rule (same contract as the AllowList component) and render its peers and ports. */
export function ruleOf(component: string, id: string, prop: string, peers: readonly Peer[], ports: readonly PortSpec[]): RenderedRule {
  const problem = networkRuleProblem(peers, ports);
  if (problem !== undefined) throw new ComponentError(component, id, prop, problem.message, problem.value);
  return {
    peers: peers.map(peerOf),
    ports: ports.map((p) => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol ?? 'TCP' })),
  };
}

export const tcp = (...ports: number[]): PortSpec[] => ports.map((port) => ({ port }));
export const ingressRule = (r: RenderedRule): k8s.NetworkPolicyIngressRule => ({ from: r.peers, ports: r.ports });
export const egressRule = (r: RenderedRule): k8s.NetworkPolicyEgressRule => ({ to: r.peers, ports: r.ports });

/** Pod Security "restricted" for the operator-managed containers: the values the policies demand. */
export function restrictedContainer(): Record<string, unknown> {
  return { ...restrictedContainerSecurity() };
}

/** Validate the Kubernetes API egress (CIDRs, ports) and render the rule. */
export function kubeApiEgress(component: string, id: string, cidrs: readonly string[], ports: readonly number[]): k8s.NetworkPolicyEgressRule {
  if (cidrs.length === 0) throw new ComponentError(component, id, 'kubeApiCidrs', 'must name the API server endpoint CIDRs (the operator-managed pods need the API)', []);
  for (const c of cidrs) {
    if (!isCidr(c)) throw new ComponentError(component, id, 'kubeApiCidrs', 'must be CIDRs such as 10.0.0.1/32', c);
    if (isWholeInternet(c)) throw new ComponentError(component, id, 'kubeApiCidrs', 'allows the whole internet; name the API server endpoints', c);
  }
  return egressRule(ruleOf(component, id, 'kubeApiPorts', cidrs.map((cidr) => ({ cidr })), tcp(...ports)));
}

/** The DNS egress rule every operator-managed pod needs (kept in the component's own policy). */
export function dnsEgress(component: string, id: string, namespace: string | undefined, podLabel: string | undefined): k8s.NetworkPolicyEgressRule {
  const pods = parseLabel(component, id, 'dnsPodLabel', podLabel ?? 'k8s-app=kube-dns');
  return egressRule(ruleOf(component, id, 'dns', [{ namespace: namespace ?? 'kube-system', pods }], [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }]));
}

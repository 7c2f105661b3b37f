import type { Peer } from '../components/network-policy.js';
import type { Cluster } from '../stacks/schema.js';

/** Who the ingress controller's traffic comes from: its namespace (nginx) or the ALB's VPC ranges. */
export function ingressPeers(cluster: Cluster): Peer[] {
  return cluster.ingressClass === 'alb'
    ? (cluster.loadBalancerCidrs ?? []).map((cidr) => ({ cidr }))
    : [{ namespace: cluster.ingressNamespace }];
}

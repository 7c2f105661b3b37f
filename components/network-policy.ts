/**
 * Network policy: default deny per namespace with DNS always allowed, and explicit
 * allow-lists per workload. A peer that names both a namespace and pods renders as ONE peer
 * (namespaceSelector AND podSelector); two separate peers would silently widen access.
 */
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, parseLabel, trace } from './meta.js';
import { networkRuleProblem } from '../kube/network.js';

/** Who may talk / be talked to. Exactly one form per peer. */
export type Peer =
  /** Pods in another namespace (all pods there, or only those matching `pods`). */
  | { readonly namespace: string; readonly pods?: Readonly<Record<string, string>> }
  /** Pods in the policy's own namespace. */
  | { readonly pods: Readonly<Record<string, string>> }
  /** An IP block, e.g. an external JWKS host. */
  | { readonly cidr: string; readonly except?: readonly string[] };

export interface PortSpec {
  readonly port: number;
  /** @default TCP */
  readonly protocol?: 'TCP' | 'UDP';
}

export interface Rule {
  readonly peers: readonly Peer[];
  readonly ports: readonly PortSpec[];
}

const NS_LABEL = 'kubernetes.io/metadata.name';

/**
 * Namespace annotation (set by synth/render.ts from `cluster.loadBalancerCidrs`): the load balancer
 * subnets, comma-separated; the `ingress-from-load-balancer` policy refuses any ingress ipBlock that
 * is not inside one of them.
 */
export const LOAD_BALANCER_CIDRS_ANNOTATION = 'stackbook.io/load-balancer-cidrs';


export function peerOf(p: Peer): k8s.NetworkPolicyPeer {
  if ('cidr' in p) return { ipBlock: { cidr: p.cidr, ...(p.except ? { except: [...p.except] } : {}) } };
  if ('namespace' in p) {
    return {
      namespaceSelector: { matchLabels: { [NS_LABEL]: p.namespace } },
      ...(p.pods ? { podSelector: { matchLabels: { ...p.pods } } } : {}),
    };
  }
  return { podSelector: { matchLabels: { ...p.pods } } };
}

function portsOf(ports: readonly PortSpec[]): k8s.NetworkPolicyPort[] {
  return ports.map((p) => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol ?? 'TCP' }));
}

function checkRule(component: string, id: string, field: string, rule: Rule): void {
  const problem = networkRuleProblem(rule.peers, rule.ports);
  if (problem !== undefined) throw new ComponentError(component, id, field, problem.message, problem.value);
}

export interface DefaultDenyProps {
  readonly namespace: string;
  /** Where cluster DNS runs. @default kube-system */
  readonly dnsNamespace?: string;
  /** `key=value` label of the DNS pods. @default k8s-app=kube-dns */
  readonly dnsPodLabel?: string;
  /** @default none */
  readonly concerns?: readonly string[];
}

/** Deny all ingress and egress in a namespace, except DNS lookups. */
export class DefaultDeny extends Construct {
  readonly deny: k8s.KubeNetworkPolicy;
  readonly dns: k8s.KubeNetworkPolicy;
  constructor(scope: Construct, id: string, props: DefaultDenyProps) {
    super(scope, id);
    const dnsPods = parseLabel('DefaultDeny', props.namespace, 'dnsPodLabel', props.dnsPodLabel ?? 'k8s-app=kube-dns');
    this.deny = new k8s.KubeNetworkPolicy(this, 'Deny', {
      metadata: { name: 'default-deny', namespace: props.namespace },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
    this.dns = new k8s.KubeNetworkPolicy(this, 'Dns', {
      metadata: { name: 'allow-dns', namespace: props.namespace },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [peerOf({ namespace: props.dnsNamespace ?? 'kube-system', pods: dnsPods })],
            ports: portsOf([{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }]),
          },
        ],
      },
    });
    trace([this.deny, this.dns], 'X-3', ...(props.concerns ?? []));
  }
}

export interface AllowListProps {
  /** Policy name. */
  readonly name: string;
  readonly namespace: string;
  /** The pods this policy is about (their selector labels). */
  readonly pods: Readonly<Record<string, string>>;
  /** Who may connect in, and on which ports. @default none (ingress stays denied) */
  readonly ingress?: readonly Rule[];
  /** Where the pods may connect out, and on which ports. @default none (egress stays denied, DNS aside) */
  readonly egress?: readonly Rule[];
  /** @default none */
  readonly concerns?: readonly string[];
}

/** Explicit allow-list for one workload, on top of the namespace's default deny. */
export class AllowList extends Construct {
  readonly policy: k8s.KubeNetworkPolicy;
  constructor(scope: Construct, id: string, props: AllowListProps) {
    super(scope, id);
    if (Object.keys(props.pods).length === 0) throw new ComponentError('AllowList', props.name, 'pods', 'must select pods (an empty selector selects the whole namespace)');
    const ingress = props.ingress ?? [];
    const egress = props.egress ?? [];
    ingress.forEach((r, i) => checkRule('AllowList', props.name, `ingress[${i}]`, r));
    egress.forEach((r, i) => checkRule('AllowList', props.name, `egress[${i}]`, r));
    const types: string[] = [];
    if (ingress.length > 0) types.push('Ingress');
    if (egress.length > 0) types.push('Egress');
    if (types.length === 0) throw new ComponentError('AllowList', props.name, 'ingress/egress', 'are both empty: nothing to allow');
    this.policy = new k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace },
      spec: {
        podSelector: { matchLabels: { ...props.pods } },
        policyTypes: types,
        ...(ingress.length > 0 ? { ingress: ingress.map((r) => ({ from: r.peers.map(peerOf), ports: portsOf(r.ports) })) } : {}),
        ...(egress.length > 0 ? { egress: egress.map((r) => ({ to: r.peers.map(peerOf), ports: portsOf(r.ports) })) } : {}),
      },
    });
    trace(this.policy, 'X-3', ...(props.concerns ?? []));
  }
}

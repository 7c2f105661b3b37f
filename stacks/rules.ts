/**
 * Cross-field rules: what a single field's type cannot say. Each returns the path of the
 * field to fix and a message a platform engineer can act on. Run by parseStack on typed,
 * defaulted values: on the whole stack, or, when the schema rejected some of it, on the
 * parts that did parse (so every problem is reported at once).
 */
import type { PathSegment } from './load.js';
import type { Autoscaling, Cluster, Stack } from './schema.js';

/** The parts of a stack that passed the schema; a rule runs only when its inputs are all here. */
export interface StackParts {
  readonly tier?: Stack['tier'];
  readonly cluster?: Cluster;
  /** Each service's settings, where they parsed. */
  readonly services?: Partial<Stack['services']>;
}

export interface RuleProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** 1 ≤ min ≤ max (the per-field bounds are in the schema). */
export function autoscalingRange(a: Autoscaling, path: readonly PathSegment[]): RuleProblem[] {
  return a.minReplicas > a.maxReplicas
    ? [{ path: [...path, 'minReplicas'], message: `must be ≤ maxReplicas (${a.maxReplicas})` }]
    : [];
}

/** True where the stack must pin every image by digest (staging, production, air-gapped). */
export function requiresDigests(stack: Pick<Stack, 'tier' | 'cluster'>): boolean {
  return stack.tier !== 'development' || stack.cluster.airgapped;
}

function clusterRules(c: Cluster): RuleProblem[] {
  const out: RuleProblem[] = [];
  if (c.airgapped && c.registry === undefined) {
    out.push({ path: ['cluster', 'registry'], message: 'required when cluster.airgapped is true (every image is relocated there)' });
  }
  if (c.airgapped && c.issuer.kind === 'acme') {
    out.push({ path: ['cluster', 'issuer', 'kind'], message: 'ACME cannot be reached from an air-gapped cluster: use kind: ca' });
  }
  if (c.ingressClass === 'alb' && c.loadBalancerCidrs === undefined) {
    out.push({ path: ['cluster', 'loadBalancerCidrs'], message: 'required with ingressClass alb: the ALB reaches pods from these VPC ranges, not from a namespace' });
  }
  if (c.exposure === 'internal' && c.issuer.kind === 'acme') {
    out.push({ path: ['cluster', 'issuer', 'kind'], message: 'ACME HTTP-01 needs a public ingress: with exposure internal use kind: ca' });
  }
  return out;
}

function opeRules(p: StackParts): RuleProblem[] {
  const { tier, cluster } = p;
  const ope = p.services?.ope;
  if (ope === undefined || !ope.enabled) return [];
  const base = ['services', 'ope'];
  const out: RuleProblem[] = [...autoscalingRange(ope.autoscaling, [...base, 'autoscaling'])];
  if (tier === undefined) return out;
  // OPE-3: OIDC issuer/audience/JWKS URL are required in production.
  if (tier === 'production' && ope.oidc === undefined) {
    for (const field of ['issuer', 'audience', 'jwksUrl']) {
      out.push({ path: [...base, 'oidc', field], message: 'required in production' });
    }
  }
  // OPE-8: latency-sensitive environments keep the queue short and fail fast with 503s.
  const latencySensitive = ope.latencySensitive ?? tier === 'production';
  if (latencySensitive && ope.threadQueueMax > 32) {
    out.push({
      path: [...base, 'threadQueueMax'],
      message: 'must be ≤ 32 in a latency-sensitive environment (prefer fast 503s over long waits; set latencySensitive: false to opt out)',
    });
  }
  if (cluster !== undefined && requiresDigests({ tier, cluster }) && ope.image.digest === undefined) {
    out.push({ path: [...base, 'image', 'digest'], message: `required in ${tier}${cluster.airgapped ? ' (air-gapped)' : ''} stacks: images are pinned by digest` });
  }
  return out;
}

/** The rules that can be judged on the parts given (all of them for a whole stack). */
export function partRules(p: StackParts): RuleProblem[] {
  return [...(p.cluster ? clusterRules(p.cluster) : []), ...opeRules(p)];
}

export function stackRules(stack: Stack): RuleProblem[] {
  return partRules({ tier: stack.tier, cluster: stack.cluster, services: stack.services });
}

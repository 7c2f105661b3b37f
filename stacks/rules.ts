/**
 * Cross-field rules: what a single field's type cannot say. Each returns the path of the
 * field to fix and a message a platform engineer can act on. Run by parseStack after the
 * schema accepted the shape, so every rule sees typed, defaulted values.
 */
import type { PathSegment } from './load.js';
import type { Autoscaling, Stack } from './schema.js';

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
export function requiresDigests(stack: Stack): boolean {
  return stack.tier !== 'development' || stack.cluster.airgapped;
}

function clusterRules(stack: Stack): RuleProblem[] {
  const out: RuleProblem[] = [];
  const c = stack.cluster;
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

function opeRules(stack: Stack): RuleProblem[] {
  const ope = stack.services.ope;
  if (ope === undefined || !ope.enabled) return [];
  const base = ['services', 'ope'];
  const out: RuleProblem[] = [...autoscalingRange(ope.autoscaling, [...base, 'autoscaling'])];
  // OPE-3: OIDC issuer/audience/JWKS URL are required in production.
  if (stack.tier === 'production' && ope.oidc === undefined) {
    for (const field of ['issuer', 'audience', 'jwksUrl']) {
      out.push({ path: [...base, 'oidc', field], message: 'required in production' });
    }
  }
  // OPE-8: latency-sensitive environments keep the queue short and fail fast with 503s.
  const latencySensitive = ope.latencySensitive ?? stack.tier === 'production';
  if (latencySensitive && ope.threadQueueMax > 32) {
    out.push({
      path: [...base, 'threadQueueMax'],
      message: 'must be ≤ 32 in a latency-sensitive environment (prefer fast 503s over long waits; set latencySensitive: false to opt out)',
    });
  }
  if (requiresDigests(stack) && ope.image.digest === undefined) {
    out.push({ path: [...base, 'image', 'digest'], message: `required in ${stack.tier}${stack.cluster.airgapped ? ' (air-gapped)' : ''} stacks: images are pinned by digest` });
  }
  return out;
}

export function stackRules(stack: Stack): RuleProblem[] {
  return [...clusterRules(stack), ...opeRules(stack)];
}

/**
 * What every config rule is written with: the parts of a stack that parsed, the problem a rule
 * returns, and the rules several services share (replica range, digest pinning, host length).
 * Apart from config-rules.ts so that the per-service rules (osc.ts, ows.ts, oub.ts, aion.ts) can
 * use them while config-rules.ts runs those rules, without an import cycle.
 */
import type { PathSegment } from './load.js';
import type { Autoscaling, Cluster, ImageRef, Stack } from './schema.js';
import { replicaRangeProblem } from '../kube/replicas.js';

/** The parts of a stack that passed the schema; a rule runs only when its inputs are all here. */
export interface StackParts {
  readonly tier?: Stack['tier'];
  readonly cluster?: Cluster;
  /** Each service's settings, where they parsed. */
  readonly services?: Partial<Stack['services']>;
  /** Per-Secret sources (`stackbook:secretSources`), where they parsed. */
  readonly secretSources?: Stack['secretSources'];
}

export interface RuleProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** 1 ≤ min ≤ max (the per-field bounds are in the schema; kube/replicas.ts words the problem). */
export function autoscalingRange(a: Pick<Autoscaling, 'minReplicas' | 'maxReplicas'>, path: readonly PathSegment[]): RuleProblem[] {
  const problem = replicaRangeProblem(a.minReplicas, a.maxReplicas, 'minReplicas');
  return problem === undefined ? [] : [{ path: [...path, 'minReplicas'], message: problem }];
}

/** True where the stack must pin every image by digest (staging, production, air-gapped). */
export function requiresDigests(stack: Pick<Stack, 'tier' | 'cluster'>): boolean {
  return stack.tier !== 'development' || stack.cluster.airgapped;
}

/** A service image without a digest where digests are required (staging, production, air-gapped). */
export function imageDigestRule(p: StackParts, image: ImageRef, path: readonly PathSegment[]): RuleProblem[] {
  const { tier, cluster } = p;
  if (tier === undefined || cluster === undefined || !requiresDigests({ tier, cluster }) || image.digest !== undefined) return [];
  return [{ path: [...path, 'digest'], message: `required in ${tier}${cluster.airgapped ? ' (air-gapped)' : ''} stacks: images are pinned by digest` }];
}

/** An Ingress host `<host>.<domain>`: the API server refuses a host name over 253 characters. */
export function hostLengthRule(p: StackParts, host: string, path: readonly PathSegment[]): RuleProblem[] {
  const domain = p.cluster?.domain;
  if (domain === undefined || host.length + 1 + domain.length <= 253) return [];
  return [{ path, message: `with cluster.domain makes a ${host.length + 1 + domain.length}-character host name: at most 253` }];
}

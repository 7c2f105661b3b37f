/**
 * Cross-field rules: what a single field's type cannot say. Each returns the path of the
 * field to fix and a message a platform engineer can act on. Run by parseStack on typed,
 * defaulted values: on the whole stack, or, when the schema rejected some of it, on the
 * parts that did parse (so every problem is reported at once).
 */
import { quantityValue } from '../kube/quantity.js';
import { cidrOverlaps, isPrivateName } from '../kube/index.js';
import type { PathSegment } from './load.js';
import type { Cluster, Stack } from './schema.js';
import { autoscalingRange, requiresDigests, type RuleProblem, type StackParts } from './rule-helpers.js';
import { aionRules } from './aion-config.js';
import { oscRules } from './osc-config.js';
import { oubRules } from './oub-config.js';
import { owsRules } from './ows-config.js';

export { autoscalingRange, hostLengthRule, imageDigestRule, requiresDigests, type RuleProblem, type StackParts } from './rule-helpers.js';
export { cidrOverlaps, isPrivateName } from '../kube/index.js';

/** A quantity as a number; NaN (never ordered) when it is not one the schema allows. */
const amount = (q: string): number => quantityValue(q) ?? NaN;

/** Kubernetes refuses a pod whose request exceeds its limit: request ≤ limit for CPU and memory. */
export function resourcesRange(
  r: { readonly cpuRequest: string; readonly cpuLimit: string; readonly memoryRequest: string; readonly memoryLimit: string },
  path: readonly PathSegment[],
): RuleProblem[] {
  const out: RuleProblem[] = [];
  if (amount(r.cpuRequest) > amount(r.cpuLimit)) out.push({ path: [...path, 'cpuRequest'], message: `must be ≤ cpuLimit (${r.cpuLimit})` });
  if (amount(r.memoryRequest) > amount(r.memoryLimit)) {
    out.push({ path: [...path, 'memoryRequest'], message: `must be ≤ memoryLimit (${r.memoryLimit})` });
  }
  return out;
}

/** request ≤ limit for every `resources`-shaped block of every enabled service, wherever it sits. */
function serviceResourceRules(p: StackParts): RuleProblem[] {
  const out: RuleProblem[] = [];
  const walk = (v: unknown, path: PathSegment[]): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, [...path, i]));
    const o = v as Record<string, unknown>;
    if (['cpuRequest', 'cpuLimit', 'memoryRequest', 'memoryLimit'].every((k) => typeof o[k] === 'string')) {
      out.push(...resourcesRange(o as Parameters<typeof resourcesRange>[0], path));
    }
    for (const [k, x] of Object.entries(o)) walk(x, [...path, k]);
  };
  for (const [name, svc] of Object.entries(p.services ?? {})) {
    if (svc !== undefined && (svc as { enabled?: boolean }).enabled !== false) walk(svc, ['services', name]);
  }
  return out;
}

/** where unsigned images must be rejected, not just warned about (production tier, air-gapped). */
export function requiresSignatureEnforcement(stack: Pick<Stack, 'tier' | 'cluster'>): boolean {
  return stack.tier === 'production' || stack.cluster.airgapped;
}

/** the ClusterImagePolicy mode: as configured, else enforce in production and air-gapped stacks, warn elsewhere. */
export function signingMode(stack: Pick<Stack, 'tier' | 'cluster'>): 'enforce' | 'warn' {
  return stack.cluster.signing?.mode ?? (requiresSignatureEnforcement(stack) ? 'enforce' : 'warn');
}

/** production and air-gapped stacks verify signatures, in enforce mode; key names are unique. */
function signingRules(p: StackParts): RuleProblem[] {
  const { tier, cluster } = p;
  if (cluster === undefined) return [];
  const out: RuleProblem[] = [];
  const seen = new Set<string>();
  (cluster.signing?.keys ?? []).forEach((k, i) => {
    if (seen.has(k.name)) out.push({ path: ['cluster', 'signing', 'keys', i, 'name'], message: 'is used by two keys: key names must be unique' });
    seen.add(k.name);
  });
  if (tier === undefined || !requiresSignatureEnforcement({ tier, cluster })) return out;
  const where = tier === 'production' ? (cluster.airgapped ? 'production (air-gapped)' : 'production') : 'air-gapped';
  if (cluster.signing === undefined) {
    out.push({ path: ['cluster', 'signing'], message: `required in ${where} stacks: cosign admission rejects unsigned images (keys: [{name, publicKey}])` });
  } else if (cluster.signing.mode === 'warn') {
    out.push({ path: ['cluster', 'signing', 'mode'], message: `must be enforce in ${where} stacks (warn admits unsigned images)` });
  }
  // Issue 14 item 1: enforcement must be satisfiable. Upstream images (docker.io/library/redis...) carry
  // no signature of your key and cannot: they are mirrored into a registry you control and re-signed there.
  if (cluster.signing !== undefined && signingMode({ tier, cluster }) === 'enforce' && cluster.registry === undefined && !cluster.airgapped) {
    out.push({
      path: ['cluster', 'registry'],
      message: `required when cosign admission enforces (${where}): upstream images (docker.io/library/redis, quay.io/strimzi/kafka, ...) cannot carry your release key's signature; mirror them into a registry you control and sign the copies`,
    });
  }
  return out;
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
  // Issue 14 item 2: the AWS Load Balancer Controller serves ACM certificates only; an HTTP-01 solver
  // Ingress of class alb gets an ALB of its own, and a cert-manager TLS Secret is never used.
  if (c.ingressClass === 'alb' && c.issuer.kind !== 'acm') {
    out.push({
      path: ['cluster', 'issuer', 'kind'],
      message: `is ${c.issuer.kind}, but the ALB serves only ACM certificates (never a cert-manager Secret; an HTTP-01 solver Ingress gets its own ALB): use kind: acm with certificateArns`,
    });
  }
  if (c.ingressClass !== 'alb' && c.issuer.kind === 'acm') {
    out.push({ path: ['cluster', 'issuer', 'kind'], message: `acm certificates are served only by an ALB (ingressClass alb); ingressClass ${c.ingressClass} needs kind acme or ca` });
  }
  // Issue 14 item 13: admit the ALB's own subnets, never the VPC.
  (c.loadBalancerCidrs ?? []).forEach((cidr, i) => {
    const path = ['cluster', 'loadBalancerCidrs', i];
    const prefix = Number(cidr.split('/')[1]);
    const api = (c.kubeApiCidrs ?? []).find((a) => cidrOverlaps(cidr, a));
    if (api !== undefined) {
      out.push({ path, message: `${cidr} holds the API server endpoint ${api}: it is the VPC, not the ALB subnets (every pod and host in it would bypass the ALB); list the ALB's subnets` });
    } else if (prefix < MAX_LB_SUBNET_PREFIX) {
      out.push({ path, message: `${cidr} is wider than /${MAX_LB_SUBNET_PREFIX}: list the subnets the ALB is placed in, not the VPC (every pod and host in the block would bypass the ALB)` });
    }
  });
  // Issue 14 item 6: a private Vault host's certificate is signed by a private CA the controller does not trust.
  if (c.vault !== undefined && c.vault.ca === undefined) {
    const host = new URL(c.vault.server).hostname;
    if (c.airgapped || isPrivateName(host)) {
      out.push({
        path: ['cluster', 'vault', 'ca'],
        message: `required: Vault at ${c.vault.server} is a private host${c.airgapped ? ' in an air-gapped cluster' : ''}, whose certificate no public CA signs; without the CA no ExternalSecret syncs ({kind: ConfigMap|Secret, name, namespace, key})`,
      });
    }
  }
  return out;
}

/** A load-balancer subnet wider than this is taken for the VPC (AWS subnets behind an ALB are /28–/20 in practice). */
export const MAX_LB_SUBNET_PREFIX = 20;

/** Issue 14 item 2: in production the ALB's certificate is named, not left to ACM discovery by host. */
function acmRules(p: StackParts): RuleProblem[] {
  const { tier, cluster } = p;
  if (tier !== 'production' || cluster?.issuer.kind !== 'acm' || cluster.issuer.certificateArns !== undefined) return [];
  return [{ path: ['cluster', 'issuer', 'certificateArns'], message: `required in production: the ACM certificate(s) for *.${cluster.domain} the ALB serves (arn:aws:acm:<region>:<account>:certificate/<id>)` }];
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
  // Issue 14 #10: several uvicorn workers are several metrics registries; /metrics answers from one.
  if (ope.workers > 1 && !ope.multiprocessMetrics) {
    out.push({
      path: [...base, 'workers'],
      message:
        `${ope.workers} workers need an image whose /metrics aggregates them (prometheus_client MultiProcessCollector; ` +
        'options-pricing-engine@fbe159d fastapi_app.py:236-241 serves one process) and set multiprocessMetrics: true; ' +
        'rate-limit counters stay per worker. Run 1 worker and scale replicas instead',
    });
  }
  // The Ingress host `<host>.<domain>`: the API server refuses a host name over 253 characters.
  if (cluster !== undefined && ope.host.length + 1 + cluster.domain.length > 253) {
    out.push({ path: [...base, 'host'], message: `with cluster.domain makes a ${ope.host.length + 1 + cluster.domain.length}-character host name: at most 253` });
  }
  if (cluster !== undefined && requiresDigests({ tier, cluster }) && ope.image.digest === undefined) {
    out.push({ path: [...base, 'image', 'digest'], message: `required in ${tier}${cluster.airgapped ? ' (air-gapped)' : ''} stacks: images are pinned by digest` });
  }
  return out;
}

/**
 * Secrets read from Vault need the cluster's Vault connection (the ClusterSecretStore), and their
 * path must lie under its KV mount (external-secrets strips the mount and reads `<mount>/data/...`).
 */
function secretSourceRules(p: StackParts): RuleProblem[] {
  const out: RuleProblem[] = [];
  if (p.secretSources === undefined || p.cluster === undefined) return out;
  const vault = p.cluster.vault;
  for (const name of Object.keys(p.secretSources).sort()) {
    const s = p.secretSources[name]!;
    if (s.source !== 'vault') continue;
    if (vault === undefined) {
      out.push({
        path: ['secretSources', name, 'source'],
        message: `Secret ${name} reads Vault path ${s.path}: cluster.vault (server, auth.role) is required for vault sources`,
      });
    } else if (!s.path.startsWith(`${vault.mountPath}/`)) {
      out.push({ path: ['secretSources', name, 'path'], message: `must start with the KV mount of cluster.vault (${vault.mountPath}/)` });
    }
  }
  return out;
}

/** The rules that can be judged on the parts given (all of them for a whole stack). */
export function partRules(p: StackParts): RuleProblem[] {
  return [...(p.cluster ? clusterRules(p.cluster) : []), ...signingRules(p), ...acmRules(p), ...oscRules(p), ...owsRules(p), ...oubRules(p), ...opeRules(p), ...aionRules(p), ...serviceResourceRules(p), ...secretSourceRules(p)];
}

export function stackRules(stack: Stack): RuleProblem[] {
  return partRules({ tier: stack.tier, cluster: stack.cluster, services: stack.services, secretSources: stack.secretSources });
}

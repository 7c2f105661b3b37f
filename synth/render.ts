/**
 * The one code path from a typed stack to plain manifest objects. `synth` writes them as a
 * bundle; the Pulumi program registers exactly these objects. Deterministic: same stack, same
 * objects, same order.
 */
import { ApiObject, App, Chart } from 'cdk8s';
import { ClusterIssuer } from '../components/tls-ingress.js';
import { SERVICES } from '../services/index.js';
import type { BuildContext, ImageUse, SecretRequirement, ServiceModule } from '../services/types.js';
import type { ImageRef, Stack } from '../stacks/schema.js';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface Rendered {
  readonly stack: Stack;
  readonly objects: readonly Manifest[];
  readonly secrets: readonly SecretRequirement[];
  readonly images: readonly ImageUse[];
}

/** Apply phases: a bundle file each, applied in this order. */
export const PHASES = ['cluster', 'config', 'network', 'workloads', 'monitoring'] as const;
export type Phase = (typeof PHASES)[number];

const KIND_PHASE: Record<string, Phase> = {
  Namespace: 'cluster',
  ClusterIssuer: 'cluster',
  ClusterImagePolicy: 'cluster',
  ClusterSecretStore: 'cluster',
  PriorityClass: 'cluster',
  RuntimeClass: 'cluster',
  ServiceAccount: 'config',
  ConfigMap: 'config',
  ExternalSecret: 'config',
  Certificate: 'config',
  Role: 'config',
  RoleBinding: 'config',
  PersistentVolumeClaim: 'config',
  NetworkPolicy: 'network',
  ServiceMonitor: 'monitoring',
  PodMonitor: 'monitoring',
  PrometheusRule: 'monitoring',
};

export function phaseOf(m: Manifest): Phase {
  return KIND_PHASE[m.kind] ?? 'workloads';
}

/** Order within a phase: kinds that others depend on first, then namespace, then name. */
const KIND_ORDER = [
  'Namespace', 'ClusterIssuer', 'ClusterSecretStore', 'ClusterImagePolicy', 'ServiceAccount', 'Role', 'RoleBinding',
  'ConfigMap', 'ExternalSecret', 'PersistentVolumeClaim', 'Certificate', 'NetworkPolicy', 'Service', 'Deployment',
  'StatefulSet', 'Job', 'CronJob', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress',
];

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

export function compareManifests(a: Manifest, b: Manifest): number {
  const pa = PHASES.indexOf(phaseOf(a));
  const pb = PHASES.indexOf(phaseOf(b));
  if (pa !== pb) return pa - pb;
  const ka = kindRank(a.kind) - kindRank(b.kind);
  if (ka !== 0) return ka;
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  const na = a.metadata.namespace ?? '';
  const nb = b.metadata.namespace ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** `repo:tag@digest`, relocated under the mirror registry when the cluster is air-gapped. */
export function resolveImage(stack: Stack, ref: ImageRef): ImageUse {
  const source = `${ref.repository}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`;
  const repo = stack.cluster.airgapped && stack.cluster.registry ? `${stack.cluster.registry}/${ref.repository}` : ref.repository;
  const reference = `${repo}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`;
  return ref.digest ? { source, reference, digest: ref.digest } : { source, reference };
}

export function clusterIssuerName(stack: Stack): string {
  return `stackbook-${stack.environment}-${stack.cluster.issuer.kind}`;
}

/** Labels on every object stackbook creates, rendered or Pulumi-owned. */
export const commonLabels = (stack: Stack): Record<string, string> => ({
  'app.kubernetes.io/managed-by': 'stackbook',
  'app.kubernetes.io/part-of': 'stackbook',
  'stackbook.io/environment': stack.environment,
});

/**
 * Render a validated stack into plain, sorted manifest objects.
 * @param services the service modules to compose. @default every module in services/index.ts
 * (benchmarks pass a synthetic fleet).
 */
export function render(stack: Stack, services: readonly ServiceModule[] = SERVICES): Rendered {
  const app = new App({ outdir: '/nonexistent' });
  const secrets: SecretRequirement[] = [];
  const images = new Map<string, ImageUse>();
  const issuer = clusterIssuerName(stack);
  const ctx: BuildContext = {
    stack,
    image(ref) {
      const use = resolveImage(stack, ref);
      images.set(use.reference, use);
      return use.reference;
    },
    clusterIssuer: issuer,
    requireSecret(req) {
      if (secrets.some((s) => s.name === req.name && s.namespace === req.namespace)) {
        throw new Error(`Secret ${req.namespace}/${req.name} is declared twice`);
      }
      secrets.push(req);
    },
    runbookUrl(service, anchor) {
      return `${stack.cluster.runbookBaseUrl.replace(/\/+$/, '')}/${service}#${anchor}`;
    },
  };

  const platform = new Chart(app, 'platform', { disableResourceNameHashes: true });
  new ClusterIssuer(platform, 'Issuer', {
    name: issuer,
    issuer: stack.cluster.issuer,
    solverIngressClass: stack.cluster.ingressClass === 'alb' ? 'alb' : 'nginx',
  });
  for (const svc of services) {
    const cfg = stack.services[svc.key];
    if (cfg === undefined || !cfg.enabled) continue;
    svc.build(app, ctx);
  }

  const labels = commonLabels(stack);
  const objects: Manifest[] = [];
  // One linear pass over the app. `chart.toJson()` per chart would make cdk8s re-resolve and
  // re-validate the whole app once per chart: quadratic in the number of services (bench/fleet.js
  // measured 1,000 services at 50x the time of 100). Order is ours anyway (compareManifests).
  const constructs = app.node.findAll();
  const invalid = constructs.flatMap((c) => c.node.validate().map((e) => `[${c.node.path}] ${e}`));
  if (invalid.length > 0) throw new Error(`validation failed:\n  ${invalid.join('\n  ')}`);
  for (const c of constructs) {
    if (!(c instanceof ApiObject)) continue;
    const m = c.toJson() as Manifest;
    m.metadata.labels = { ...labels, ...m.metadata.labels };
    // Namespaces also carry what the policies need to know about the stack (tier, mirror),
    // so the Pulumi policy pack judges deployed objects exactly as `synth` does.
    if (m.kind === 'Namespace') {
      m.metadata.labels['stackbook.io/tier'] = stack.tier;
      if (stack.cluster.airgapped && stack.cluster.registry) {
        m.metadata.annotations = { ...m.metadata.annotations, 'stackbook.io/image-registry': stack.cluster.registry };
      }
    }
    objects.push(m);
  }
  const seen = new Set<string>();
  for (const m of objects) {
    const id = `${m.apiVersion}/${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;
    if (seen.has(id)) throw new Error(`two objects render as ${id}`);
    seen.add(id);
  }
  objects.sort(compareManifests);
  secrets.sort((a, b) => (a.namespace + '/' + a.name).localeCompare(b.namespace + '/' + b.name));
  return {
    stack,
    objects,
    secrets,
    images: [...images.values()].sort((a, b) => a.reference.localeCompare(b.reference)),
  };
}

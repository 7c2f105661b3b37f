/**
 * The one code path from a typed stack to plain manifest objects. `synth` writes them as a
 * bundle; the Pulumi program registers exactly these objects. Deterministic: same stack, same
 * objects, same order.
 */
import { ApiObject, App, Chart } from 'cdk8s';
import { ALB_CONTEXT, ClusterIssuer, type AlbContext } from '../components/tls-ingress.js';
import { isPlatformImageName, PLATFORM_IMAGES } from '../components/images.js';
import { IMAGE_POLICY_CONTEXT, ImagePolicy, imageGlobs, OPERATOR_IMAGES, type OperatorImageName } from '../components/image-policy.js';
import { ALB_READINESS_GATE_CONTEXT } from '../components/namespace.js';
import { isUpstream } from '../components/upstream.js';
import { AllowList, LOAD_BALANCER_CIDRS_ANNOTATION } from '../components/network-policy.js';
import { ingressPeers } from '../services/common.js';
import { requiresDigests, signingMode } from '../stacks/config-rules.js';
import { withCheckovSkips } from '../policies/checkov.js';
import type { Obj } from '../policies/model.js';
import { SECRET_ENV_EXCEPTION, secretEnvUses } from '../policies/production.js';
import { CONTRACT_ANNOTATION } from '../services/contract.js';
import { CONTRACTS } from '../services/contracts.js';
import { SERVICES } from '../services/index.js';
import { ManagedSecret, rotationAnnotations, VaultSecretStore } from '../components/secret.js';
import type { BuildContext, ImageUse, SecretHandle, SecretRequirement, ServiceModule } from '../services/types.js';
import { ConfigError, type ConfigProblem } from '../stacks/load.js';
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

/**
 * `repo:tag@digest`, relocated under the mirror registry when the cluster is air-gapped, or when
 * `mirror` says so (upstream platform and operator images whenever `cluster.registry` is set).
 */
export function resolveImage(stack: Stack, ref: ImageRef, mirror: boolean = stack.cluster.airgapped): ImageUse {
  const source = `${ref.repository}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`;
  const repo = (mirror || stack.cluster.airgapped) && stack.cluster.registry ? `${stack.cluster.registry}/${ref.repository}` : ref.repository;
  const reference = `${repo}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`;
  return ref.digest ? { source, reference, digest: ref.digest } : { source, reference };
}

/** HTTP-01 solver pods: label and port, cert-manager pkg/apis/acme/v1/types.go:60 and pkg/issuer/acme/http/http.go:49 (2d0d7f7f). */
export const ACME_SOLVER_LABEL = 'acme.cert-manager.io/http01-solver';
export const ACME_SOLVER_PORT = 8089;

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
 * A declared Secret with the stack's `secretSources.<name>` applied: the stack picks the source
 * (and its details) and the rotation version; the service keeps name, namespace, keys, consumers.
 */
export function resolveSecret(stack: Stack, declared: SecretRequirement): SecretRequirement {
  const o = stack.secretSources[declared.name];
  const { pulumi, vault, version, ...base } = declared;
  if (o === undefined) {
    return { ...base, ...(pulumi ? { pulumi } : {}), ...(vault ? { vault } : {}), version: version ?? 1 };
  }
  switch (o.source) {
    case 'pulumi': {
      // Per key: the stack's choice over the service's (a stack that sets only `password` keeps
      // the service's `url` template built from it). Replacing the whole map dropped templates.
      const how = o.values || pulumi ? { ...pulumi, ...o.values } : undefined;
      return { ...base, source: 'pulumi', ...(how ? { pulumi: how } : {}), version: o.version };
    }
    case 'vault':
      return {
        ...base,
        source: 'vault',
        vault: { path: o.path, ...(o.properties ? { properties: o.properties } : {}), refreshInterval: o.refreshInterval },
        version: o.version,
      };
    case 'existing':
      return { ...base, source: 'existing', version: o.version };
  }
}

function secretHandle(req: SecretRequirement): SecretHandle {
  return {
    requirement: req,
    annotations: rotationAnnotations([{ name: req.name, version: req.version ?? 1 }]),
    env(key) {
      if (!req.keys.includes(key)) throw new Error(`Secret ${req.namespace}/${req.name} has no declared key ${key} (declared: ${req.keys.join(', ')})`);
      return { secret: { name: req.name, key } };
    },
  };
}

/**
 * What the bundle carries for the declared Secrets: an ExternalSecret per `vault` Secret and one
 * Vault ClusterSecretStore (platform chart) restricted to their namespaces; nothing for `pulumi`
 * and `existing`. Stack problems (a source for a Secret nobody declares, vault without
 * `cluster.vault`) are config errors naming the stack file.
 */
function renderSecrets(app: App, platform: Chart, stack: Stack, secrets: readonly SecretRequirement[]): void {
  const file = `stacks/Pulumi.${stack.environment}.yaml`;
  const problems: ConfigProblem[] = [];
  const declared = new Set(secrets.map((s) => s.name));
  for (const name of Object.keys(stack.secretSources).sort()) {
    if (!declared.has(name)) {
      problems.push({ file, path: ['secretSources', name], message: `no enabled service declares a Secret named ${name} (declared: ${[...declared].sort().join(', ') || 'none'})` });
    }
  }
  for (const s of secrets) {
    const o = stack.secretSources[s.name];
    if (o?.source !== 'pulumi' || o.values === undefined) continue;
    for (const [key, how] of Object.entries(o.values).sort(([a], [b]) => a.localeCompare(b))) {
      const path = ['secretSources', s.name, 'values', key];
      if (!s.keys.includes(key)) {
        problems.push({ file, path, message: `Secret ${s.namespace}/${s.name} has no key ${key} (keys: ${s.keys.join(', ')})` });
        continue;
      }
      if (!('template' in how)) continue;
      const refs = [...how.template.matchAll(/\{([-._a-zA-Z0-9]+)\}/g)].map((m) => m[1]!);
      const bad = [...new Set(refs.filter((r) => r === key || !s.keys.includes(r) || (s.pulumi?.[r] !== undefined && 'template' in s.pulumi[r]!)))];
      if (bad.length > 0) {
        problems.push({ file, path: [...path, 'template'], message: `may only reference other non-template keys of the Secret (${s.keys.join(', ')}); bad: ${bad.join(', ')}` });
      }
    }
  }
  const vault = stack.cluster.vault;
  const fromVault = secrets.filter((s) => s.source === 'vault');
  for (const s of fromVault) {
    const path = s.vault?.path;
    if (path === undefined) throw new Error(`Secret ${s.namespace}/${s.name}: source vault without a vault path`);
    if (vault === undefined) {
      problems.push({ file, path: ['cluster', 'vault'], message: `required: Secret ${s.namespace}/${s.name} is read from Vault path ${path}` });
    } else if (!path.startsWith(`${vault.mountPath}/`)) {
      problems.push({ file, path: ['secretSources', s.name, 'path'], message: `Vault path ${path} must start with the KV mount of cluster.vault (${vault.mountPath}/)` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (vault === undefined || fromVault.length === 0) return;
  new VaultSecretStore(platform, 'VaultSecretStore', {
    name: vault.storeName,
    server: vault.server,
    mountPath: vault.mountPath,
    kvVersion: vault.kvVersion,
    ...(vault.namespace ? { vaultNamespace: vault.namespace } : {}),
    auth: vault.auth,
    ...(vault.ca ? { ca: vault.ca } : {}),
    namespaces: fromVault.map((s) => s.namespace),
  });
  const chart = new Chart(app, 'secrets', { disableResourceNameHashes: true });
  for (const s of fromVault) {
    new ManagedSecret(chart, `${s.namespace}.${s.name}`, {
      name: s.name,
      namespace: s.namespace,
      keys: s.keys,
      source: 'vault',
      vault: { store: vault.storeName, ...s.vault! },
      version: s.version ?? 1,
      ...(s.concerns ? { concerns: s.concerns } : {}),
    });
  }
}

/**
 * `stackbook:images`: every name is a platform image (components/images.ts; pins of images no
 * enabled service uses are allowed, so disabling a service keeps its pins), and where digests are
 * required every platform image in use has one (config errors naming `images.<name>.digest`).
 */
function platformImageProblems(stack: Stack, used: ReadonlyMap<string, ImageRef>): void {
  const file = `stacks/Pulumi.${stack.environment}.yaml`;
  const problems: ConfigProblem[] = [];
  for (const name of Object.keys(stack.images).sort()) {
    if (!isPlatformImageName(name)) {
      problems.push({ file, path: ['images', name], message: `is not a platform image (known: ${Object.keys(PLATFORM_IMAGES).sort().join(', ')})` });
    }
  }
  if (requiresDigests(stack)) {
    for (const [name, ref] of [...used].sort(([a], [b]) => a.localeCompare(b))) {
      if (ref.digest !== undefined) continue;
      problems.push({
        file,
        path: ['images', name, 'digest'],
        message: `required in ${stack.tier}${stack.cluster.airgapped ? ' (air-gapped)' : ''} stacks: ${ref.repository}:${ref.tag} must be pinned by digest`,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Namespaces holding a cert-manager Certificate issued by the (ACME) ClusterIssuer `issuer`, sorted. */
function acmeCertificateNamespaces(built: readonly ApiObject[], issuer: string): string[] {
  const out = new Set<string>();
  for (const o of built) {
    if (o.kind !== 'Certificate' || !o.apiVersion.startsWith('cert-manager.io/')) continue;
    const m = o.toJson() as Manifest & { spec?: { issuerRef?: { kind?: string; name?: string } } };
    if (m.spec?.issuerRef?.kind === 'ClusterIssuer' && m.spec.issuerRef.name === issuer && m.metadata.namespace) out.add(m.metadata.namespace);
  }
  return [...out].sort();
}

/**
 * Issue 14 item 1: the images operators inject into the stack's namespaces (components/image-policy.ts
 * OPERATOR_IMAGES), as the stack pins them (`cluster.signing.operatorImages`), from the mirror when
 * there is one. Where admission enforces, each must be pinned by digest (config error otherwise).
 */
function operatorImages(stack: Stack, built: readonly ApiObject[], acme: boolean): string[] {
  const needed = new Set<OperatorImageName>();
  for (const o of built) {
    if (o.kind === 'Cluster' && o.apiVersion.startsWith('postgresql.cnpg.io/')) needed.add('cloudnative-pg');
    if (o.kind === 'Kafka' && o.apiVersion.startsWith('kafka.strimzi.io/')) needed.add('strimzi-operator');
  }
  if (acme) needed.add('cert-manager-acmesolver');
  const file = `stacks/Pulumi.${stack.environment}.yaml`;
  const pins = stack.cluster.signing?.operatorImages ?? {};
  const problems: ConfigProblem[] = [];
  const out: string[] = [];
  for (const name of [...needed].sort()) {
    const pin = pins[name];
    const ref: ImageRef = {
      repository: pin?.repository ?? OPERATOR_IMAGES[name].repository,
      tag: pin?.tag ?? OPERATOR_IMAGES[name].tag,
      ...(pin?.digest ? { digest: pin.digest } : {}),
    };
    if (signingMode(stack) === 'enforce' && ref.digest === undefined) {
      problems.push({
        file,
        path: ['cluster', 'signing', 'operatorImages', name, 'digest'],
        message: `required where cosign admission enforces: the operator injects ${ref.repository}:${ref.tag} into this stack's pods; pin the copy it runs`,
      });
    }
    out.push(resolveImage(stack, ref, true).reference);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/**
 * Render a validated stack into plain, sorted manifest objects.
 * @param services the service modules to compose. @default every module in services/index.ts
 * (benchmarks pass a synthetic fleet).
 */
export function render(stack: Stack, services: readonly ServiceModule[] = SERVICES): Rendered {
  const app = new App({ outdir: '/nonexistent' });
  // X-7: with a signing config every Namespace opts in to cosign admission by default (components/namespace.ts).
  app.node.setContext(IMAGE_POLICY_CONTEXT, stack.cluster.signing !== undefined);
  // ALB stacks: ACM certificates, one ALB per scheme, pod readiness gates (components/tls-ingress.ts, namespace.ts).
  if (stack.cluster.ingressClass === 'alb') {
    const i = stack.cluster.issuer;
    const alb: AlbContext = { groupName: `stackbook-${stack.environment}`, ...(i.kind === 'acm' && i.certificateArns ? { certificateArns: i.certificateArns } : {}) };
    app.node.setContext(ALB_CONTEXT, alb);
    app.node.setContext(ALB_READINESS_GATE_CONTEXT, true);
  }
  const secrets: SecretRequirement[] = [];
  const images = new Map<string, ImageUse>();
  const issuer = clusterIssuerName(stack);
  const platformImagesUsed = new Map<string, ImageRef>();
  const register = (use: ImageUse): string => {
    images.set(use.reference, use);
    return use.reference;
  };
  const ctx: BuildContext = {
    stack,
    image(ref) {
      // An upstream image a service names (e.g. docker.io/library/docker) is mirrored like the platform ones.
      return register(resolveImage(stack, ref, isUpstream(ref.repository)));
    },
    platformImage(name) {
      const fallback: ImageRef = PLATFORM_IMAGES[name];
      const o = stack.images[name];
      const ref: ImageRef = {
        repository: o?.repository ?? fallback.repository,
        tag: o?.tag ?? fallback.tag,
        ...(o?.digest ? { digest: o.digest } : fallback.digest ? { digest: fallback.digest } : {}),
      };
      platformImagesUsed.set(name, ref);
      // Upstream images come from the stack's mirror whenever it has one (re-signed there: issue 14 item 1).
      return register(resolveImage(stack, ref, true));
    },
    clusterIssuer: issuer,
    requireSecret(declared) {
      if (secrets.some((s) => s.name === declared.name && s.namespace === declared.namespace)) {
        throw new Error(`Secret ${declared.namespace}/${declared.name} is declared twice`);
      }
      const req = resolveSecret(stack, declared);
      secrets.push(req);
      return secretHandle(req);
    },
    runbookUrl(service, anchor) {
      return `${stack.cluster.runbookBaseUrl.replace(/\/+$/, '')}/${service}#${anchor}`;
    },
  };

  const platform = new Chart(app, 'platform', { disableResourceNameHashes: true });
  const issuerConfig = stack.cluster.issuer;
  // ACM (ALB stacks): the load balancer holds the certificate; cert-manager issues nothing for ingress.
  if (issuerConfig.kind !== 'acm') {
    // HTTP-01 is solved through the cluster's (public nginx) IngressClass, as the Ingresses are.
    new ClusterIssuer(platform, 'Issuer', { name: issuer, issuer: issuerConfig, solverIngressClass: stack.cluster.ingressClassName ?? 'nginx' });
  }
  for (const svc of services) {
    const cfg = stack.services[svc.key];
    if (cfg === undefined || !cfg.enabled) continue;
    svc.build(app, ctx);
  }

  platformImageProblems(stack, platformImagesUsed);
  renderSecrets(app, platform, stack, secrets);

  const built = app.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject);
  const acmeNamespaces = issuerConfig.kind === 'acme' ? acmeCertificateNamespaces(built, issuer) : [];
  // Issue 14 item 3: default deny also blocks the ingress controller from the HTTP-01 solver pods that
  // cert-manager starts in each Certificate's namespace; admit it on the solver port, nothing else.
  for (const ns of acmeNamespaces) {
    new AllowList(platform, `AcmeSolver.${ns}`, {
      name: 'allow-acme-http01-solver',
      namespace: ns,
      pods: { [ACME_SOLVER_LABEL]: 'true' },
      ingress: [{ peers: ingressPeers(stack.cluster), ports: [{ port: ACME_SOLVER_PORT }] }],
      concerns: ['X-4'],
    });
  }

  // X-7: one ClusterImagePolicy per stack, over the images the services deploy, the images operators
  // inject into the opted-in namespaces (or the configured globs).
  const signing = stack.cluster.signing;
  if (signing !== undefined) {
    const injected = operatorImages(stack, built, acmeNamespaces.length > 0);
    const globs = signing.images ?? imageGlobs([...images.keys(), ...injected]);
    if (globs.length > 0) {
      new ImagePolicy(platform, 'ImagePolicy', {
        name: `stackbook-${stack.environment}`,
        mode: signingMode(stack),
        keys: signing.keys,
        images: globs,
        ...(injected.length > 0 ? { operatorImages: injected } : {}),
      });
    }
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
      // The only sources the `ingress-from-load-balancer` policy lets an ingress ipBlock admit (ALB subnets).
      if (stack.cluster.loadBalancerCidrs) {
        m.metadata.annotations = { ...m.metadata.annotations, [LOAD_BALANCER_CIDRS_ANNOTATION]: stack.cluster.loadBalancerCidrs.join(',') };
      }
    }
    // Application workloads keep the Secret-sourced variables their contract cites the app reading
    // (issue 14 item 17): declared here, from the contract, so every checker sees one reason.
    const kept = appSecretEnvReason(m as Obj);
    if (kept) m.metadata.annotations = { ...m.metadata.annotations, [SECRET_ENV_EXCEPTION]: kept };
    // One declaration serves every checker: exception annotations are carried to checkov (policies/checkov.ts).
    objects.push(withCheckovSkips(m, { digestsRequired: requiresDigests(stack) }));
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

/**
 * The `exception.stackbook.io/secret-env` reason of an application workload (annotated with its
 * contract) that takes Secrets through environment variables: each variable with the place its
 * contract cites the app reading it (the runbook-named interface of the app). Undefined when the
 * workload has none, or when any such variable lacks a citation (then nothing is declared and the
 * checkers report it).
 */
export function appSecretEnvReason(o: Obj): string | undefined {
  const spec = o.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined;
  const id = o.metadata.annotations?.[CONTRACT_ANNOTATION] ?? spec?.template?.metadata?.annotations?.[CONTRACT_ANNOTATION];
  if (!id || !id.includes('/')) return undefined;
  const [service, workload] = id.split('/') as [string, string];
  const contract = CONTRACTS[service];
  const env = contract?.workloads[workload]?.env;
  const uses = secretEnvUses(o);
  if (!contract || !env || uses.length === 0) return undefined;
  const parts: string[] = [];
  for (const variable of [...new Set(uses.map((u) => u.variable))].sort()) {
    const cite = env[variable]?.cite;
    if (!cite) return undefined;
    const commit = (cite.commit ?? contract.upstream.commit).slice(0, 7);
    parts.push(`${variable} (${contract.upstream.repo}@${commit} ${cite.file}${cite.line !== undefined ? `:${cite.line}` : ''})`);
  }
  return `the application reads these Secret values from its environment, its own interface per its contract: ${parts.join(', ')}; no file option is wired for them yet`;
}

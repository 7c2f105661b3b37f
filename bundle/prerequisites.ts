/**
 * X-12: what a bundle expects of the cluster it is applied to, derived from the rendered objects
 * (never from a hand-kept list): the operators and CRDs behind every custom kind it renders, with
 * the API versions it uses; the Secrets that must exist (names, namespaces, keys — never values);
 * the cluster capabilities its built-in objects rely on; the cosign public keys of its
 * ClusterImagePolicies. `PREREQUISITES.md` and `apply.sh` are generated from these.
 */
import type { Manifest, Rendered } from '../synth/render.js';
import type { SecretRequirement } from '../services/types.js';
import { secretListing, type SecretListing } from '../components/secret.js';
import { CONTRACT_ANNOTATION } from '../services/contract.js';
import { CONTRACTS } from '../services/contracts.js';

type AnyRec = Record<string, any>;

export interface Operator {
  readonly name: string;
  /** Where its CRDs and install manifests come from (copy them into the air gap too). */
  readonly project: string;
  /**
   * The release whose CRDs the rendered objects are validated against (the fixtures of
   * /work/shared/crds, README: tag and commit); install this one or a later compatible one.
   */
  readonly tested: string;
}

/** API group → the operator that serves it. */
export const OPERATORS: Readonly<Record<string, Operator>> = {
  'cert-manager.io': { name: 'cert-manager', project: 'https://github.com/cert-manager/cert-manager', tested: 'v1.21.1 (24e33194fb39)' },
  'monitoring.coreos.com': { name: 'prometheus-operator', project: 'https://github.com/prometheus-operator/prometheus-operator', tested: 'v0.93.0 (f8fafd475f3d)' },
  'policy.sigstore.dev': { name: 'Sigstore policy-controller', project: 'https://github.com/sigstore/policy-controller', tested: 'v0.15.1 (cc75baab1d34)' },
  'external-secrets.io': { name: 'External Secrets Operator', project: 'https://github.com/external-secrets/external-secrets', tested: 'v2.9.0 (378bdb622ed9)' },
  'kafka.strimzi.io': { name: 'Strimzi', project: 'https://github.com/strimzi/strimzi-kafka-operator', tested: '1.2.0 (6c7b43c4af0d)' },
  'postgresql.cnpg.io': { name: 'CloudNativePG', project: 'https://github.com/cloudnative-pg/cloudnative-pg', tested: 'v1.30.0 (4b5e244a7d03)' },
  'barmancloud.cnpg.io': { name: 'CloudNativePG Barman Cloud plugin', project: 'https://github.com/cloudnative-pg/plugin-barman-cloud', tested: 'hand-checked schema (plugin-barman-cloud eef278e; no CRD in ../shared/crds)' },
  'keda.sh': { name: 'KEDA', project: 'https://github.com/kedacore/keda', tested: 'v2.20.2 (68a5b5028f35)' },
  'kyverno.io': { name: 'Kyverno', project: 'https://github.com/kyverno/kyverno', tested: 'v1.19.0 (ee97ce09538b)' },
};

/** `group/Kind` → plural resource name, for CRD names (`<plural>.<group>`) and `kubectl wait`. */
export const PLURALS: Readonly<Record<string, string>> = {
  'cert-manager.io/Certificate': 'certificates',
  'cert-manager.io/ClusterIssuer': 'clusterissuers',
  'cert-manager.io/Issuer': 'issuers',
  'monitoring.coreos.com/PodMonitor': 'podmonitors',
  'monitoring.coreos.com/PrometheusRule': 'prometheusrules',
  'monitoring.coreos.com/ServiceMonitor': 'servicemonitors',
  'policy.sigstore.dev/ClusterImagePolicy': 'clusterimagepolicies',
  'external-secrets.io/ClusterSecretStore': 'clustersecretstores',
  'external-secrets.io/ExternalSecret': 'externalsecrets',
  'external-secrets.io/SecretStore': 'secretstores',
  'kafka.strimzi.io/Kafka': 'kafkas',
  'kafka.strimzi.io/KafkaTopic': 'kafkatopics',
  'postgresql.cnpg.io/Cluster': 'clusters',
  'postgresql.cnpg.io/ScheduledBackup': 'scheduledbackups',
  'barmancloud.cnpg.io/ObjectStore': 'objectstores',
  'keda.sh/ScaledObject': 'scaledobjects',
  'kyverno.io/ClusterPolicy': 'clusterpolicies',
};

/** Namespaces the operators keep cluster-scoped material in (their defaults). */
export const CERT_MANAGER_NAMESPACE = 'cert-manager';
export const POLICY_CONTROLLER_NAMESPACE = 'cosign-system';

export function groupVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** Built-in groups (served by Kubernetes itself): the core group and `*.k8s.io`-style groups without a dot. */
export function isBuiltinGroup(group: string): boolean {
  return group === '' || !group.includes('.') || group.endsWith('.k8s.io');
}

export function pluralOf(group: string, kind: string): string {
  const known = PLURALS[`${group}/${kind}`];
  if (known) return known;
  const k = kind.toLowerCase();
  return /(s|x|ch|sh)$/.test(k) ? `${k}es` : /[^aeiou]y$/.test(k) ? `${k.slice(0, -1)}ies` : `${k}s`;
}

/** `<plural>.<group>/<name>`: an unambiguous resource reference for kubectl. */
export function resourceRef(o: Manifest): string {
  const { group } = groupVersion(o.apiVersion);
  const plural = pluralOf(group, o.kind);
  return `${group ? `${plural}.${group}` : plural}/${o.metadata.name}`;
}

export interface ApiUse {
  readonly group: string;
  readonly kind: string;
  /** Versions of this kind the bundle renders, sorted. */
  readonly versions: readonly string[];
  readonly count: number;
  /** For custom kinds: the CRD that must be Established (`certificates.cert-manager.io`). */
  readonly crd?: string;
}

/** Every group/kind the bundle renders, sorted by group then kind. */
export function apiUses(objects: readonly Manifest[]): ApiUse[] {
  const by = new Map<string, { group: string; kind: string; versions: Set<string>; count: number }>();
  for (const o of objects) {
    const { group, version } = groupVersion(o.apiVersion);
    const key = `${group}/${o.kind}`;
    const e = by.get(key) ?? { group, kind: o.kind, versions: new Set<string>(), count: 0 };
    e.versions.add(version);
    e.count++;
    by.set(key, e);
  }
  return [...by.values()]
    .sort((a, b) => (a.group === b.group ? cmp(a.kind, b.kind) : cmp(a.group, b.group)))
    .map((e) => ({
      group: e.group,
      kind: e.kind,
      versions: [...e.versions].sort(),
      count: e.count,
      ...(isBuiltinGroup(e.group) ? {} : { crd: `${pluralOf(e.group, e.kind)}.${e.group}` }),
    }));
}

/** The CRDs the bundle needs, sorted. */
export function requiredCrds(objects: readonly Manifest[]): string[] {
  return apiUses(objects).flatMap((u) => (u.crd ? [u.crd] : []));
}

export interface OperatorNeed {
  readonly operator: string;
  readonly project: string;
  readonly tested: string;
  readonly group: string;
  readonly uses: readonly ApiUse[];
}

/** Custom API groups grouped by the operator serving them (unknown groups are listed as such). */
export function operatorNeeds(objects: readonly Manifest[]): OperatorNeed[] {
  const by = new Map<string, ApiUse[]>();
  for (const u of apiUses(objects)) {
    if (!u.crd) continue;
    by.set(u.group, [...(by.get(u.group) ?? []), u]);
  }
  return [...by.entries()].map(([group, uses]) => ({
    operator: OPERATORS[group]?.name ?? `unknown operator for ${group}`,
    project: OPERATORS[group]?.project ?? '',
    tested: OPERATORS[group]?.tested ?? 'untested',
    group,
    uses,
  }));
}

export interface SecretNeed {
  readonly name: string;
  readonly namespace: string;
  readonly keys: readonly string[];
  readonly source: SecretRequirement['source'];
  readonly consumers: readonly string[];
  /** Rotation counter (declared Secrets): bumping it rolls the consumers. */
  readonly version?: number;
  /** Vault path and Secret key -> Vault field (vault-sourced Secrets). */
  readonly vault?: { readonly path: string; readonly properties: Readonly<Record<string, string>> };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function objectRef(o: Manifest): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

function podSpecOf(o: Manifest): AnyRec | undefined {
  const spec = o.spec as AnyRec | undefined;
  if (o.kind === 'Pod') return spec;
  if (o.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.spec;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind)) return spec?.template?.spec;
  return undefined;
}

/** Secrets that objects of the bundle itself create (cert-manager Certificates, ExternalSecrets): not prerequisites. */
function producedSecrets(objects: readonly Manifest[]): Set<string> {
  const out = new Set<string>();
  for (const o of objects) {
    const spec = (o.spec ?? {}) as AnyRec;
    const ns = o.metadata.namespace ?? '';
    if (o.kind === 'Certificate' && typeof spec.secretName === 'string') out.add(`${ns}/${spec.secretName}`);
    if (o.kind === 'ExternalSecret') out.add(`${ns}/${spec.target?.name ?? o.metadata.name}`);
  }
  return out;
}

/** Secret references in rendered objects: pod env/envFrom/volumes, CA issuers, scrape credentials, cosign key refs. */
function referencedSecrets(objects: readonly Manifest[]): Array<{ name: string; namespace: string; keys: string[]; consumer: string }> {
  const out: Array<{ name: string; namespace: string; keys: string[]; consumer: string }> = [];
  for (const o of objects) {
    const ns = o.metadata.namespace ?? '';
    const consumer = objectRef(o);
    const add = (name: unknown, namespace: string, keys: unknown[]) => {
      if (typeof name === 'string' && name) out.push({ name, namespace, keys: keys.filter((k): k is string => typeof k === 'string'), consumer });
    };
    const spec = (o.spec ?? {}) as AnyRec;
    const pod = podSpecOf(o);
    if (pod) {
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])] as AnyRec[]) {
        for (const e of (c.env ?? []) as AnyRec[]) if (e.valueFrom?.secretKeyRef) add(e.valueFrom.secretKeyRef.name, ns, [e.valueFrom.secretKeyRef.key]);
        for (const e of (c.envFrom ?? []) as AnyRec[]) if (e.secretRef) add(e.secretRef.name, ns, []);
      }
      for (const v of (pod.volumes ?? []) as AnyRec[]) {
        if (v.secret) add(v.secret.secretName, ns, ((v.secret.items ?? []) as AnyRec[]).map((i) => i.key));
        for (const s of (v.projected?.sources ?? []) as AnyRec[]) if (s.secret) add(s.secret.name, ns, ((s.secret.items ?? []) as AnyRec[]).map((i) => i.key));
      }
      for (const p of (pod.imagePullSecrets ?? []) as AnyRec[]) add(p.name, ns, ['.dockerconfigjson']);
    }
    if ((o.kind === 'ClusterIssuer' || o.kind === 'Issuer') && spec.ca?.secretName) {
      add(spec.ca.secretName, o.kind === 'ClusterIssuer' ? CERT_MANAGER_NAMESPACE : ns, ['tls.crt', 'tls.key']);
    }
    if (o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor') {
      for (const ep of (spec.endpoints ?? spec.podMetricsEndpoints ?? []) as AnyRec[]) {
        for (const ref of [ep.bearerTokenSecret, ep.authorization?.credentials]) if (ref) add(ref.name, ns, [ref.key]);
      }
    }
    if (o.kind === 'ClusterImagePolicy') {
      for (const a of (spec.authorities ?? []) as AnyRec[]) if (a.key?.secretRef) add(a.key.secretRef.name, POLICY_CONTROLLER_NAMESPACE, []);
    }
  }
  return out;
}

/**
 * Every Secret that must exist before the bundle works: those the services declare (with their
 * source), plus any Secret a rendered object references that the bundle does not create itself
 * (source `existing`). Sorted by namespace, name. Names and keys only, never values.
 */
export function requiredSecrets(r: Pick<Rendered, 'objects' | 'secrets'>): SecretNeed[] {
  const by = new Map<string, { name: string; namespace: string; keys: Set<string>; source: SecretRequirement['source']; consumers: Set<string>; listing?: SecretListing }>();
  for (const s of r.secrets) {
    by.set(`${s.namespace}/${s.name}`, { name: s.name, namespace: s.namespace, keys: new Set(s.keys), source: s.source, consumers: new Set(s.consumers), listing: secretListing(s) });
  }
  const declared = new Set(by.keys());
  const produced = producedSecrets(r.objects);
  for (const ref of referencedSecrets(r.objects)) {
    const id = `${ref.namespace}/${ref.name}`;
    if (produced.has(id) && !declared.has(id)) continue;
    let e = by.get(id);
    if (!e) {
      e = { name: ref.name, namespace: ref.namespace, keys: new Set(), source: 'existing', consumers: new Set() };
      by.set(id, e);
    }
    ref.keys.forEach((k) => e.keys.add(k));
    // A declared Secret keeps the service's own consumer list (workload names).
    if (!declared.has(id)) e.consumers.add(ref.consumer);
  }
  return [...by.values()]
    .sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)))
    .map((e) => ({
      name: e.name,
      namespace: e.namespace,
      keys: [...e.keys].sort(),
      source: e.source,
      consumers: [...e.consumers].sort(),
      ...(e.listing ? { version: e.listing.version } : {}),
      ...(e.listing?.vault ? { vault: e.listing.vault } : {}),
    }));
}

export interface CosignKey {
  /** Bundle file name: `cosign-<policy>-<authority>.pub`. */
  readonly file: string;
  readonly policy: string;
  readonly authority: string;
  readonly pem: string;
}

/** The public keys (`spec.authorities[].key.data`) of the rendered ClusterImagePolicies, sorted by file. */
export function cosignKeys(objects: readonly Manifest[]): CosignKey[] {
  const out: CosignKey[] = [];
  for (const o of objects) {
    if (o.kind !== 'ClusterImagePolicy' || groupVersion(o.apiVersion).group !== 'policy.sigstore.dev') continue;
    const authorities = (((o.spec ?? {}) as AnyRec).authorities ?? []) as AnyRec[];
    authorities.forEach((a, i) => {
      const data = a.key?.data;
      if (typeof data !== 'string' || !data.trim()) return;
      const authority = typeof a.name === 'string' && /^[a-z0-9][-a-z0-9.]*$/.test(a.name) ? a.name : String(i);
      out.push({ file: `cosign-${o.metadata.name}-${authority}.pub`, policy: o.metadata.name, authority, pem: `${data.trim()}\n` });
    });
  }
  return out.sort((a, b) => cmp(a.file, b.file));
}

export interface RuntimeClassNeed {
  /** `RuntimeClass` name (`node.k8s.io/v1`, cluster-scoped). */
  readonly name: string;
  /** Workloads whose pod template names it, `Kind namespace/name`, sorted. */
  readonly consumers: readonly string[];
}

/**
 * RuntimeClasses the pod templates name and the bundle does not render itself: a cluster
 * prerequisite like a CRD (installed with its runtime, e.g. sysbox creates `sysbox-runc`); without
 * it the API server refuses every Pod of the consumer (`RuntimeClass "x" not found`). Sorted by name.
 */
export function requiredRuntimeClasses(objects: readonly Manifest[]): RuntimeClassNeed[] {
  const rendered = new Set(objects.filter((o) => o.kind === 'RuntimeClass').map((o) => o.metadata.name));
  const by = new Map<string, Set<string>>();
  for (const o of objects) {
    const name = podSpecOf(o)?.runtimeClassName;
    if (typeof name !== 'string' || !name || rendered.has(name)) continue;
    by.set(name, (by.get(name) ?? new Set<string>()).add(objectRef(o)));
  }
  return [...by.entries()].sort(([a], [b]) => cmp(a, b)).map(([name, c]) => ({ name, consumers: [...c].sort() }));
}

/** Built-in capabilities the rendered objects rely on, one line each. */
export function clusterCapabilities(r: Rendered): string[] {
  const count = (kind: string) => r.objects.filter((o) => o.kind === kind).length;
  const out: string[] = [];
  const classes = [...new Set(r.objects.filter((o) => o.kind === 'Ingress').map((o) => ((o.spec as AnyRec)?.ingressClassName as string | undefined) ?? '(default class)'))].sort();
  if (classes.length > 0) {
    out.push(
      `An ingress controller serving IngressClass ${classes.map((c) => `\`${c}\``).join(', ')} (${r.stack.cluster.ingressClass}), its pods in namespace \`${r.stack.cluster.ingressNamespace}\` (the NetworkPolicies admit traffic from there).`,
    );
  }
  // paths kept off the public Ingress (TlsIngress blockedPaths, e.g. an app's /metrics on its only port)
  const denied = (key: string) => r.objects.filter((o) => o.kind === 'Ingress' && Object.keys(o.metadata.annotations ?? {}).some((k) => k.startsWith(key)));
  const nginxDenied = denied('nginx.ingress.kubernetes.io/denylist-source-range');
  if (nginxDenied.length > 0) {
    out.push(`ingress-nginx honouring the per-Ingress annotation \`nginx.ingress.kubernetes.io/denylist-source-range\` (on ${nginxDenied.map(objectRef).join(', ')}, which deny their paths to every client); without it those paths would be public.`);
  }
  const albDenied = denied('alb.ingress.kubernetes.io/actions.');
  if (albDenied.length > 0) {
    out.push(`AWS Load Balancer Controller \`actions.*\` fixed-response annotations (rules listed before the routes) on ${albDenied.map(objectRef).join(', ')}; without them those paths would be public.`);
  }
  const np = count('NetworkPolicy');
  if (np > 0) out.push(`A CNI that enforces NetworkPolicy (${np} in this bundle, default deny); cluster DNS in \`${r.stack.cluster.dns.namespace}\` labelled \`${r.stack.cluster.dns.podLabel}\`.`);
  const hpa = count('HorizontalPodAutoscaler');
  if (hpa > 0) out.push(`metrics-server (the \`metrics.k8s.io\` API) for ${hpa} HorizontalPodAutoscaler${hpa === 1 ? '' : 's'} on CPU utilisation.`);
  if (count('ServiceMonitor') + count('PodMonitor') + count('PrometheusRule') > 0) {
    out.push(`A Prometheus (prometheus-operator) in namespace \`${r.stack.cluster.monitoringNamespace}\` selecting ServiceMonitors and PrometheusRules labelled \`${r.stack.cluster.prometheusSelector}\`.`);
  }
  if (r.objects.some((o) => o.kind === 'Namespace')) out.push('Pod Security admission (namespaces enforce `restricted`).');
  out.push(...operatorSupplied(r));
  return out;
}

/**
 * Issue 14: what the operator must supply for production semantics, one line each: the ACM
 * certificate and ALB subnets, the CA that signs a private Vault, the intermediate CA of a CA
 * issuer, and the mirrored, re-signed images cosign admission expects (operator-injected ones too).
 */
export function operatorSupplied(r: Rendered): string[] {
  const out: string[] = [];
  const c = r.stack.cluster;
  const ingresses = r.objects.filter((o) => o.kind === 'Ingress');
  const arns = [...new Set(ingresses.map((o) => o.metadata.annotations?.['alb.ingress.kubernetes.io/certificate-arn']).filter((a): a is string => !!a))].sort();
  if (c.ingressClass === 'alb' && ingresses.length > 0) {
    out.push(
      `The AWS Load Balancer Controller (webhook on, for the pod readiness gate of namespaces labelled \`elbv2.k8s.aws/pod-readiness-gate-inject: enabled\`); ACM certificate${arns.length === 1 ? '' : 's'} ${arns.length > 0 ? arns.map((a) => `\`${a}\``).join(', ') : '(discovered by host)'} covering ${ingresses.flatMap((o) => ((o.spec as AnyRec)?.rules ?? []).map((x: AnyRec) => `\`${x.host}\``)).sort().join(', ')}; the ALB in subnets ${(c.loadBalancerCidrs ?? []).map((x) => `\`${x}\``).join(', ')} (the only sources the NetworkPolicies admit).`,
    );
  }
  for (const o of r.objects) {
    const ca = o.kind === 'ClusterSecretStore' ? ((o.spec as AnyRec)?.provider?.vault?.caProvider as AnyRec | undefined) : undefined;
    if (ca) out.push(`The CA bundle that signs Vault's certificate (${(o.spec as AnyRec).provider.vault.server}): ${ca.type} \`${ca.namespace}/${ca.name}\`, key \`${ca.key}\` (ClusterSecretStore ${o.metadata.name}).`);
  }
  if (c.issuer.kind === 'ca') {
    out.push(`An intermediate CA issued for this cluster in Secret \`${CERT_MANAGER_NAMESPACE}/${c.issuer.secretName}\` (\`tls.crt\` with its chain, \`tls.key\`), never the corporate root: cert-manager keeps the key in the cluster, where an intermediate can be constrained, short-lived and revoked alone.`);
  }
  for (const o of r.objects) {
    if (o.kind !== 'ClusterImagePolicy') continue;
    const injected = (o.metadata.annotations?.['stackbook.io/operator-images'] ?? '').split(',').filter(Boolean);
    if (c.registry) {
      out.push(`Upstream images copied into \`${c.registry}\` (\`<registry>/<original repository>\`) and signed there with the release key (\`cosign copy\`, then \`cosign sign --key ... --tlog-upload=false\`): ClusterImagePolicy ${o.metadata.name} accepts only that key.`);
    }
    if (injected.length > 0) {
      out.push(`Operators configured to inject these images (signed like the rest; policy-controller denies an image no policy matches): ${injected.map((i) => `\`${i}\``).join(', ')} — CloudNativePG's operator image, Strimzi's \`STRIMZI_DEFAULT_TOPIC_OPERATOR_IMAGE\`/\`STRIMZI_DEFAULT_USER_OPERATOR_IMAGE\`, cert-manager's \`--acme-http01-solver-image\`.`);
    }
  }
  return out;
}

/**
 * Issue 19: what the runbooks assume of the applications that their code lacks, for every service
 * whose contract an object of the bundle names (`missingMetrics` of services/<svc>.contract.ts):
 * nothing is rendered on these until the application changes, one line each.
 */
export function applicationChanges(objects: readonly Manifest[]): string[] {
  const services = new Set<string>();
  for (const o of objects) {
    const ref = o.metadata.annotations?.[CONTRACT_ANNOTATION];
    if (ref) services.add(ref.split('/')[0]!);
  }
  const out: string[] = [];
  for (const svc of [...services].sort()) {
    const c = CONTRACTS[svc];
    if (!c) continue;
    for (const [metric, m] of Object.entries(c.missingMetrics ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`${svc}: \`${metric}\` (${m.usedFor}) is not exposed by ${c.upstream.repo}@${c.upstream.commit.slice(0, 7)}; app change: ${m.appChange}.`);
    }
  }
  return out;
}

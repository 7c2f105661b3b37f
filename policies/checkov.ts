/**
 * checkov (PyPI `checkov`, framework kubernetes) runs as an independent checker over every bundle
 * (tools/checkov.mjs). A deliberate relaxation is declared once, as the project's
 * `exception.stackbook.io/<id>: <reason>` annotation; this module carries each declaration to
 * checkov as `checkov.io/skip<N>: <CHECK_ID>=<reason>` on the same object, through the mapping
 * below, so one declaration serves the project policies and checkov alike. render.ts applies it to
 * every rendered object (the only render path).
 *
 * Declarations are read from the object's annotations and, for workloads, from its pod template's
 * (checkov reads skips from the top-level object only). `<id>` is a project rule
 * (policies/manifest-rules.ts), or one of the checker-only ids below for checks the project policies do not
 * implement themselves.
 */

/** Project rule or checker-only declaration id → the checkov checks it covers. */
export const CHECKOV_CHECKS: Readonly<Record<string, readonly string[]>> = {
  // Pod Security "restricted" + read-only root FS: privileged, host namespaces, privilege
  // escalation, read-only root filesystem, root, added/NET_RAW/SYS_ADMIN capabilities.
  'pod-security-restricted': ['CKV_K8S_16', 'CKV_K8S_17', 'CKV_K8S_18', 'CKV_K8S_19', 'CKV_K8S_20', 'CKV_K8S_22', 'CKV_K8S_23', 'CKV_K8S_25', 'CKV_K8S_28', 'CKV_K8S_37', 'CKV_K8S_39'],
  // Images by digest.
  'image-digest': ['CKV_K8S_43'],
  // Rule secret-env (policies/production.ts): a Secret read through an environment variable because
  // the consumer reads that variable (the runbook or the application names it as its interface); say which and why.
  'secret-env': ['CKV_K8S_35'],
  // Checker-only: a UID below 10000, the image's own user (it owns the image's and the volume's files).
  'image-user': ['CKV_K8S_40'],
};

export const EXCEPTION_PREFIX = 'exception.stackbook.io/';
export const CHECKOV_SKIP_PREFIX = 'checkov.io/skip';

/** Why the development tier runs images by tag (stacks/rule-helpers.ts `requiresDigests`). */
export const DEV_DIGEST_REASON = 'development stack: images by tag; the image-digest policy requires digests in staging and production (stacks/rules.ts requiresDigests)';

type Annotated = { metadata: { annotations?: Record<string, string> }; kind: string; spec?: unknown };

function podTemplateAnnotations(o: Annotated): Record<string, string> {
  const spec = o.spec as { template?: { metadata?: { annotations?: Record<string, string> } }; jobTemplate?: { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } } } | undefined;
  return (o.kind === 'CronJob' ? spec?.jobTemplate?.spec?.template?.metadata?.annotations : spec?.template?.metadata?.annotations) ?? {};
}

/**
 * The project's position on CKV_K8S_40 (UID ≥ 10000), declared here once: every container runs as
 * a fixed non-root UID (pod-security-restricted), the image's own user where the image has one,
 * because that user owns the image's files and the data already on its volumes.
 */
export function imageUserReason(uid: number): string {
  return `runs as UID ${uid}, the image's own non-root user: it owns the image's files and the data on the volumes; another UID could not read them (non-root is enforced by pod-security-restricted)`;
}

function podRunAsUser(o: Annotated): number | undefined {
  const spec = o.spec as { template?: { spec?: PodSpecLike }; jobTemplate?: { spec?: { template?: { spec?: PodSpecLike } } } } | undefined;
  const pod = o.kind === 'CronJob' ? spec?.jobTemplate?.spec?.template?.spec : o.kind === 'Pod' ? (o.spec as PodSpecLike) : spec?.template?.spec;
  if (!pod) return undefined;
  const uids = [pod.securityContext?.runAsUser, ...[...(pod.initContainers ?? []), ...(pod.containers ?? [])].map((c) => c.securityContext?.runAsUser)].filter((u): u is number => typeof u === 'number');
  return uids.length > 0 ? Math.min(...uids) : undefined;
}

interface PodSpecLike {
  securityContext?: { runAsUser?: number };
  containers?: { securityContext?: { runAsUser?: number } }[];
  initContainers?: { securityContext?: { runAsUser?: number } }[];
}

const POD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet']);

/**
 * The `checkov.io/skip<N>` annotations that carry `o`'s declarations (sorted by check id, numbered
 * from 1); `digestsRequired: false` (development) adds the image-digest relaxation the tier makes.
 * checkov splits the value on `=`, so a reason never contains one.
 */
export function checkovSkips(o: Annotated, opts: { digestsRequired: boolean }): Record<string, string> {
  const declared = new Map<string, string>();
  for (const source of [podTemplateAnnotations(o), o.metadata.annotations ?? {}]) {
    for (const [k, v] of Object.entries(source)) if (k.startsWith(EXCEPTION_PREFIX)) declared.set(k.slice(EXCEPTION_PREFIX.length), v);
  }
  if (!opts.digestsRequired && POD_KINDS.has(o.kind) && !declared.has('image-digest')) declared.set('image-digest', DEV_DIGEST_REASON);
  const uid = podRunAsUser(o);
  if (uid !== undefined && uid < 10000 && !declared.has('image-user')) declared.set('image-user', imageUserReason(uid));
  const byCheck = new Map<string, string>();
  for (const [id, reason] of declared) {
    for (const check of CHECKOV_CHECKS[id] ?? []) {
      const text = `${id}: ${reason}`.replace(/=/g, ' is ').replace(/\s+/g, ' ').trim();
      byCheck.set(check, byCheck.has(check) ? `${byCheck.get(check)}; ${text}` : text);
    }
  }
  const checks = [...byCheck.keys()].sort((a, b) => Number(a.split('_').pop()) - Number(b.split('_').pop()));
  return Object.fromEntries(checks.map((c, i) => [`${CHECKOV_SKIP_PREFIX}${i + 1}`, `${c}=${byCheck.get(c)}`]));
}

/** `o` with its checkov skip annotations (unchanged when it declares nothing checkov knows). */
export function withCheckovSkips<T extends Annotated>(o: T, opts: { digestsRequired: boolean }): T {
  const skips = checkovSkips(o, opts);
  if (Object.keys(skips).length === 0) return o;
  o.metadata.annotations = { ...o.metadata.annotations, ...skips };
  return o;
}

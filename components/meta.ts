/**
 * Shared vocabulary of every component: trace and exception annotations, common labels,
 * content checksums and the error type for invalid props.
 */
import { createHash } from 'node:crypto';
import { ApiObject } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { ComponentError } from '../kube/errors.js';
import { byteValue } from '../kube/quantity.js';

export { ComponentError } from '../kube/errors.js';
export { quantityValue } from '../kube/quantity.js';
export { restrictedContainerSecurity } from '../kube/security.js';

/** Annotation naming the catalog concerns an object implements, e.g. `OPE-1,OPE-4`. */
export const CONCERNS_ANNOTATION = 'stackbook.io/concerns';
/** Prefix of a deliberate, reviewed relaxation of a policy: `exception.stackbook.io/<rule-id>: <reason>`. */
export const EXCEPTION_PREFIX = 'exception.stackbook.io/';

const CONCERN_ID = /^(OSC|OWS|OUB|OPE|AION|X)-\d+$/;

function concernOrder(a: string, b: string): number {
  const [pa, na] = a.split('-');
  const [pb, nb] = b.split('-');
  return pa === pb ? Number(na) - Number(nb) : (pa ?? '').localeCompare(pb ?? '');
}

const traced = new WeakMap<ApiObject, Set<string>>();

function apiObjectOf(c: IConstruct): ApiObject {
  return ApiObject.isApiObject(c) ? c : ApiObject.of(c);
}

/** Mark objects as implementing catalog concerns (merged with what they already carry, sorted). */
export function trace(objects: IConstruct | readonly IConstruct[], ...ids: readonly string[]): void {
  for (const id of ids) {
    if (!CONCERN_ID.test(id)) throw new Error(`trace: "${id}" is not a catalog concern ID`);
  }
  const list: readonly IConstruct[] = Array.isArray(objects) ? objects : [objects as IConstruct];
  for (const c of list) {
    const obj = apiObjectOf(c);
    const set = traced.get(obj) ?? new Set<string>();
    for (const id of ids) set.add(id);
    traced.set(obj, set);
    if (set.size > 0) obj.metadata.addAnnotation(CONCERNS_ANNOTATION, [...set].sort(concernOrder).join(','));
  }
}

/** Record a named, reasoned policy exception on one object. */
export function exception(object: IConstruct, ruleId: string, reason: string): void {
  if (reason.trim().length < 10) throw new Error(`exception ${ruleId}: a reason a reviewer can judge is required`);
  apiObjectOf(object).metadata.addAnnotation(`${EXCEPTION_PREFIX}${ruleId}`, reason);
}

/** The selector labels of a workload: stable, literal, never hashed. */
export function selectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name };
}

/**
 * Parse a `key=value` label (a selector written in config). Anything else would become a selector
 * that matches nothing: every DNS lookup blocked, or rules picked up by no Prometheus.
 */
export function parseLabel(component: string, id: string, prop: string, label: string): Record<string, string> {
  if (!/^[^=]+=[^=]*$/.test(label)) throw new ComponentError(component, id, prop, 'must be key=value', label);
  const i = label.indexOf('=');
  return { [label.slice(0, i)]: label.slice(i + 1) };
}

/** Deterministic JSON: object keys sorted at every depth. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** sha256 of a value's stable JSON: the checksum annotation that rolls pods when config changes. */
export function checksum(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex');
}

/**
 * The pull policy for an image reference: a digest names one content, so `IfNotPresent` pulls it
 * once; a bare tag can move, so `Always` checks the registry on every start (a stale image never
 * keeps running after the tag moved). Every component renders its containers' policy with this.
 */
export function imagePullPolicy(image: string): 'Always' | 'IfNotPresent' {
  return image.includes('@sha256:') ? 'IfNotPresent' : 'Always';
}

/**
 * A literal environment variable. An empty value is rendered as `{ name }` alone: the same to
 * Kubernetes (the variable is set, empty), and what the API server stores (it drops `value: ""`),
 * so the rendered object equals the live one.
 */
export function literalEnv(name: string, value: string): { name: string; value?: string } {
  return value === '' ? { name } : { name, value };
}

/** Ephemeral storage a container requests by default: what the scheduler reserves for logs and scratch. */
export const EPHEMERAL_STORAGE_REQUEST = '64Mi';

/**
 * The ephemeral-storage limit of a container: 256Mi for its logs (the root FS is read-only) plus
 * the `sizeLimit` of every disk-backed emptyDir it mounts, so the pod-level eviction bound (the
 * sum of its containers' limits) is never below what its emptyDirs may legitimately hold.
 */
export function ephemeralStorageLimit(emptyDirSizes: readonly string[]): string {
  const mib = emptyDirSizes.reduce((sum, s) => {
    const bytes = byteValue(s);
    if (bytes === undefined) throw new Error(`ephemeralStorageLimit: "${s}" is not a byte quantity such as 256Mi`);
    return sum + Math.ceil(bytes / 2 ** 20);
  }, 256);
  return `${mib}Mi`;
}

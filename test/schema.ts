/**
 * Schema validation of rendered manifests, for any test: `validateManifest(obj)` returns readable
 * errors (`spec.replicaz: unknown field`, `spec.replicas: must be integer`), `[]` when valid.
 *
 * - Built-in kinds: the validators shipped in kubernetes-models 4.5.1 (one import per kind; the
 *   root barrel costs ~1.5 s). They check types, enums and required fields but accept unknown
 *   fields, so each object is validated through a Proxy that records every property the validator
 *   reads: a validator reads each property its schema declares (`void 0===data.x||…`) and every key
 *   of a map (`for (k in data) data[k]`). Any key of the object it never read is unknown to the
 *   schema: the API server would prune it (or reject it under strict field validation).
 * - Custom resources: ajv over the served version's `openAPIV3Schema` of the CRD in
 *   `/work/shared/crds` (found by group and kind, never copied into the project), with
 *   `additionalProperties: false` added wherever a node has `properties` and declares neither
 *   `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` (and on `type: object` nodes
 *   declaring no fields at all, which the API server prunes to `{}`), and
 *   `x-kubernetes-int-or-string` turned into integer-or-string. Made strict once per CRD version;
 *   what ajv compiles is that schema pruned to the properties the object has (see `prune`), once
 *   per distinct pruned schema: milliseconds instead of ~1 s for the largest CRDs.
 *   Not checked: `x-kubernetes-validations` (CEL rules).
 * - Every object: `metadata` against ObjectMeta (known fields, types), name and namespace shape,
 *   scope (cluster-scoped kinds carry no namespace, namespaced ones must name theirs), label and
 *   annotation key/value syntax. An apiVersion/kind with neither a built-in validator nor a CRD
 *   fixture is an error.
 * - `invalidManifests` (not `validateManifest`) also accepts kinds without a fixture that have a
 *   hand-checked schema in test/crd-hand-checked.ts (Strimzi KafkaNodePool, KafkaUser): that closed
 *   schema plus the metadata checks above.
 *
 * Kubernetes version: the project targets 1.32. kubernetes-models' README (and TOOLCHAIN.md) say its
 * schemas are 1.27, but the installed 4.5.1 schemas are newer: they define `LifecycleHandler.sleep`
 * (1.29) and even `Lifecycle.stopSignal` (1.33). So `lifecycle.preStop.sleep` (`{ seconds: int }`)
 * needs NO allowance here: the shipped schema checks it like any other field (schema.test.ts pins
 * that). In the other direction, fields newer than 1.32 that the schemas accept are refused by
 * the short explicit list `NEWER_THAN_TARGET` below.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { PriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass';
import { RuntimeClass } from 'kubernetes-models/node.k8s.io/v1/RuntimeClass';
import { handCheckedCrd } from './crd-hand-checked.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The shared, read-only CRD fixtures (README there lists upstream sources and versions). */
export const CRD_DIR = join(ROOT, '..', 'shared', 'crds');

// ---------------------------------------------------------------------------------------------
// Names and paths

type NameRule = 'subdomain' | 'label' | 'dns1035' | 'path-segment';
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** `base` + `/containers/0/name` (a JSON pointer) -> `base.containers[0].name`. */
function pointerPath(base: string, pointer: string): string {
  if (pointer === '') return base;
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, seg) => childPath(path, seg), base);
}

function childPath(path: string, key: string | number): string {
  if (typeof key === 'number' || /^\d+$/.test(key)) return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function formatAjvError(e: ErrorObject, prefix: string): string {
  const path = pointerPath(prefix, e.instancePath);
  if (e.keyword === 'required') {
    return `${childPath(path, String((e.params as { missingProperty: string }).missingProperty))}: required field missing`;
  }
  if (e.keyword === 'additionalProperties') {
    return `${childPath(path, String((e.params as { additionalProperty: string }).additionalProperty))}: unknown field`;
  }
  const allowed = e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${path || '(root)'}: ${e.message ?? e.keyword}${allowed}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Built-in kinds: kubernetes-models validators + a known-fields check

/** A kubernetes-models class: its prototype's `validate()` runs the kind's compiled schema on `this`. */
interface ModelClass {
  prototype: { validate(): void };
}

interface CoreKind {
  readonly model: ModelClass;
  readonly clusterScoped?: boolean;
  readonly name: NameRule;
  readonly maxNameLength?: number;
}

const CORE: Readonly<Record<string, CoreKind>> = {
  'v1/Namespace': { model: Namespace, clusterScoped: true, name: 'label' },
  'v1/ServiceAccount': { model: ServiceAccount, name: 'subdomain' },
  'v1/ConfigMap': { model: ConfigMap, name: 'subdomain' },
  'v1/Secret': { model: Secret, name: 'subdomain' },
  'v1/Service': { model: Service, name: 'dns1035' },
  'v1/PersistentVolumeClaim': { model: PersistentVolumeClaim, name: 'subdomain' },
  'apps/v1/Deployment': { model: Deployment, name: 'subdomain' },
  'apps/v1/StatefulSet': { model: StatefulSet, name: 'subdomain' },
  'batch/v1/Job': { model: Job, name: 'subdomain', maxNameLength: 63 },
  // The controller appends an 11-character suffix to name Jobs; the API server caps CronJob names at 52.
  'batch/v1/CronJob': { model: CronJob, name: 'subdomain', maxNameLength: 52 },
  'autoscaling/v2/HorizontalPodAutoscaler': { model: HorizontalPodAutoscaler, name: 'subdomain' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, name: 'subdomain' },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, name: 'subdomain' },
  'networking.k8s.io/v1/Ingress': { model: Ingress, name: 'subdomain' },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, name: 'path-segment' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, name: 'path-segment' },
  // Named in synth/render.ts's phase table, so cheap to support now.
  'scheduling.k8s.io/v1/PriorityClass': { model: PriorityClass, clusterScoped: true, name: 'subdomain' },
  'node.k8s.io/v1/RuntimeClass': { model: RuntimeClass, clusterScoped: true, name: 'subdomain' },
};

/** API groups served by Kubernetes itself (for the error message when a kind has no validator). */
const BUILTIN_GROUP = /^$|^(apps|batch|autoscaling|policy)$|\.k8s\.io$/;

/**
 * Fields the installed schemas (Kubernetes ≥ 1.33) accept but the target, Kubernetes 1.32, does
 * not know: its API server would drop them silently. Matched against the field's path.
 */
const NEWER_THAN_TARGET: readonly { readonly path: RegExp; readonly since: string }[] = [
  { path: /(^|\.)lifecycle\.stopSignal$/, since: '1.33' }, // KEP-4960 container stop signals
];

/** Wrap `value` so that every property read on it, at any depth, is recorded in `reads`. */
function tracked(value: unknown, reads: WeakMap<object, Set<string>>): unknown {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === 'string' && !Array.isArray(target)) {
        let s = reads.get(target);
        if (!s) reads.set(target, (s = new Set()));
        s.add(key);
      }
      return tracked(Reflect.get(target, key, receiver), reads);
    },
  });
}

/** Run a kubernetes-models validator on `data` and report type errors and unknown fields. */
function modelErrors(model: ModelClass, data: unknown, prefix: string): string[] {
  const reads = new WeakMap<object, Set<string>>();
  const errors: string[] = [];
  const errorPaths = new Set<string>();
  try {
    model.prototype.validate.call(tracked(data, reads));
  } catch (e) {
    const list = (e as { errors?: ErrorObject[] }).errors;
    if (!Array.isArray(list)) throw e;
    for (const err of list) {
      errors.push(formatAjvError(err, prefix));
      // Only a type error stops the validator from walking a node's fields.
      if (err.keyword === 'type') errorPaths.add(pointerPath(prefix, err.instancePath));
    }
  }
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, childPath(path, i)));
      return;
    }
    // A node of the wrong type (say an object where a string belongs) was not walked by the validator.
    if (!isRecord(node) || errorPaths.has(path)) return;
    const read = reads.get(node);
    for (const [key, value] of Object.entries(node)) {
      const p = childPath(path, key);
      if (!read?.has(key)) {
        errors.push(`${p}: unknown field`);
        continue;
      }
      const newer = NEWER_THAN_TARGET.find((n) => n.path.test(p));
      if (newer) errors.push(`${p}: field is Kubernetes ${newer.since}+, newer than the 1.32 target`);
      walk(value, p);
    }
  };
  walk(data, prefix);
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Custom resources: ajv over the CRD fixtures

interface CrdVersion {
  name: string;
  served: boolean;
  schema?: { openAPIV3Schema?: Record<string, unknown> };
}
interface Crd {
  file: string;
  spec: { group: string; scope: 'Namespaced' | 'Cluster'; names: { kind: string }; versions: CrdVersion[] };
}

let crdFiles: string[] | undefined;
const parsed = new Map<string, Crd | undefined>();

function listCrdFiles(): string[] {
  if (!crdFiles) {
    const out: string[] = [];
    const visit = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) visit(join(dir, e.name));
        else if (e.name.endsWith('.yaml') || e.name.endsWith('.yml')) out.push(join(dir, e.name));
      }
    };
    visit(CRD_DIR);
    crdFiles = out.sort();
  }
  return crdFiles;
}

function parseCrd(file: string): Crd | undefined {
  if (!parsed.has(file)) {
    const doc = load(readFileSync(file, 'utf8')) as { kind?: string; spec?: Crd['spec'] } | null;
    parsed.set(file, doc?.kind === 'CustomResourceDefinition' && doc.spec ? { file, spec: doc.spec } : undefined);
  }
  return parsed.get(file);
}

/**
 * The CRD fixture defining `apiVersion`/`kind`, if any. Files are named `<plural>.<group>.yaml`:
 * the likely plurals of `kind` are tried first (some CRDs are large, parsing costs), then every
 * file of the group.
 */
export function findCrd(apiVersion: string, kind: string): Crd | undefined {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
  const inGroup = listCrdFiles().filter((f) => f.replace(/\.ya?ml$/, '').endsWith(`.${group}`));
  const lower = kind.toLowerCase();
  const guesses = new Set([`${lower}s`, `${lower}es`, `${lower.replace(/y$/, 'ie')}s`].map((p) => `${p}.${group}`));
  const ordered = [...inGroup.filter((f) => guesses.has(basename(f).replace(/\.ya?ml$/, ''))), ...inGroup];
  for (const file of ordered) {
    const crd = parseCrd(file);
    if (crd && crd.spec.group === group && crd.spec.names.kind === kind) return crd;
  }
  return undefined;
}

/**
 * Go (RE2) patterns from CRDs in JavaScript: `(?i)` becomes the `i` flag (for the whole pattern:
 * at worst more lenient than Go), `(?P<n>` becomes `(?<n>`, `\z` becomes `$`.
 */
function goRegExp(pattern: string, u: string): RegExp {
  let p = pattern;
  let flags = u;
  if (p.includes('(?i)')) {
    p = p.split('(?i)').join('');
    flags += 'i';
  }
  p = p.split('(?P<').join('(?<').replace(/\\z$/, '$');
  try {
    return new RegExp(p, flags);
  } catch {
    return new RegExp(p, flags.replace('u', '')); // identity escapes like `\-` outside a class; throws if still invalid
  }
}
goRegExp.code = 'goRegExp'; // only used by ajv's standalone code generation, which is not used here

const ajv = new Ajv({ allErrors: true, strict: false, code: { regExp: goRegExp } });
// Formats the API server checks; it ignores the ones it does not know (see `registerFormats`).
addFormatsPlugin.default(ajv, ['date-time', 'date', 'time', 'byte', 'int32', 'int64', 'float', 'double', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid']);
ajv.addFormat('uri', (s: string) => {
  if (s.startsWith('/')) return true; // Go's url.ParseRequestURI also accepts an absolute path
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
});
ajv.addFormat('duration', /^([-+]?(\d+(\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h|d|w))+$|^0$/);

function registerFormats(node: unknown): void {
  if (Array.isArray(node)) node.forEach(registerFormats);
  else if (isRecord(node)) {
    if (typeof node.format === 'string' && !ajv.formats[node.format]) ajv.addFormat(node.format, true);
    for (const v of Object.values(node)) registerFormats(v);
  }
}

/**
 * The structural part of a CRD schema made strict (see the file comment). Value validations
 * (`allOf`/`anyOf`/`oneOf`/`not`) are kept as they are: they may only restate declared properties.
 */
function strict(node: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...node };
  if (node['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    if (!out.anyOf && !out.oneOf) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (out.nullable !== undefined && out.type === undefined) delete out.nullable; // ajv needs `type` with `nullable`
  if (isRecord(node.properties)) {
    const props: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node.properties)) props[k] = isRecord(v) ? strict(v) : v;
    if (node['x-kubernetes-embedded-resource'] === true) {
      props.apiVersion ??= { type: 'string' };
      props.kind ??= { type: 'string' };
      props.metadata ??= { type: 'object' };
    }
    out.properties = props;
    if (node.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) {
      out.additionalProperties = false;
    }
  } else if (
    node.type === 'object' &&
    node.additionalProperties === undefined &&
    node['x-kubernetes-preserve-unknown-fields'] !== true &&
    node['x-kubernetes-embedded-resource'] !== true
  ) {
    // An object declaring no fields at all: the API server prunes whatever it holds. (In the
    // fixtures: external-secrets' `fetching.byID: {}` and CNPG's volumeClaimTemplate.metadata,
    // whose labels and annotations the API server would drop.)
    out.additionalProperties = false;
  }
  if (isRecord(node.additionalProperties)) out.additionalProperties = strict(node.additionalProperties);
  if (isRecord(node.items)) out.items = strict(node.items);
  return out;
}

/** Strict root schema per CRD version (or why there is none). */
const strictRoots = new Map<string, Record<string, unknown> | Error>();
/** Compiled validators by pruned schema (see `prune`). */
const compiled = new Map<string, ValidateFunction>();

function strictRoot(crd: Crd, version: CrdVersion): Record<string, unknown> {
  const key = `${crd.spec.group}/${version.name}/${crd.spec.names.kind}`;
  let s = strictRoots.get(key);
  if (!s) {
    const root = version.schema?.openAPIV3Schema;
    if (!root) s = new Error(`${crd.file}: version ${version.name} has no openAPIV3Schema`);
    else {
      s = strict(root);
      // The API server always accepts apiVersion/kind/metadata at the root, declared or not (the
      // policy-controller CRD declares none); metadata is checked against ObjectMeta separately.
      s.properties = { ...(s.properties as object), apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' } };
      if (root['x-kubernetes-preserve-unknown-fields'] !== true) s.additionalProperties = false;
    }
    strictRoots.set(key, s);
  }
  if (s instanceof Error) throw s;
  return s;
}

/**
 * The part of `schema` that can see `values`: declared properties none of the values has are
 * dropped, recursively through `properties`, `additionalProperties` and `items`. Validating the
 * values against the result reports exactly what the whole schema would (`properties` only looks
 * at present keys, `required` and `additionalProperties: false` are kept), but compiling it costs
 * milliseconds where a whole ClusterSecretStore or Kafka schema costs about a second. Value
 * validations (`anyOf`, …) are kept whole.
 */
function prune(schema: unknown, values: readonly unknown[]): unknown {
  if (!isRecord(schema)) return schema;
  const out: Record<string, unknown> = { ...schema };
  const objects = values.filter(isRecord);
  const declared = isRecord(schema.properties) ? schema.properties : {};
  if (isRecord(schema.properties)) {
    const props: Record<string, unknown> = {};
    for (const key of new Set(objects.flatMap((o) => Object.keys(o)))) {
      if (Object.hasOwn(declared, key)) props[key] = prune(declared[key], objects.filter((o) => Object.hasOwn(o, key)).map((o) => o[key]));
    }
    out.properties = props;
  }
  if (isRecord(schema.additionalProperties)) {
    out.additionalProperties = prune(
      schema.additionalProperties,
      objects.flatMap((o) => Object.entries(o).filter(([k]) => !Object.hasOwn(declared, k)).map(([, v]) => v)),
    );
  }
  if (isRecord(schema.items)) out.items = prune(schema.items, values.filter(Array.isArray).flat());
  return out;
}

function crdValidator(crd: Crd, version: CrdVersion, obj: Record<string, unknown>): ValidateFunction {
  const schema = prune(strictRoot(crd, version), [obj]) as Record<string, unknown>;
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    registerFormats(schema);
    v = ajv.compile(schema);
    compiled.set(key, v);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// metadata

function metadataErrors(obj: Record<string, unknown>, scope: 'Namespaced' | 'Cluster', rule: NameRule, maxNameLength?: number): string[] {
  const errors: string[] = [];
  const md = obj.metadata;
  if (!isRecord(md)) return ['metadata: required object'];
  const { name, namespace, labels, annotations } = md;
  if (typeof name !== 'string' || name === '') errors.push('metadata.name: required');
  else {
    const max = maxNameLength ?? (rule === 'subdomain' ? 253 : rule === 'path-segment' ? 253 : 63);
    const ok =
      rule === 'subdomain'
        ? DNS1123_SUBDOMAIN.test(name)
        : rule === 'label'
          ? DNS1123_LABEL.test(name)
          : rule === 'dns1035'
            ? DNS1035_LABEL.test(name)
            : name !== '.' && name !== '..' && !/[/%]/.test(name);
    if (!ok) errors.push(`metadata.name: ${JSON.stringify(name)} is not a valid ${rule === 'path-segment' ? 'path segment' : rule === 'dns1035' ? 'DNS-1035 label' : `DNS-1123 ${rule}`}`);
    if (name.length > max) errors.push(`metadata.name: longer than ${max} characters`);
  }
  if (scope === 'Cluster' && namespace !== undefined) errors.push('metadata.namespace: set on a cluster-scoped kind');
  if (scope === 'Namespaced') {
    if (namespace === undefined) errors.push('metadata.namespace: required (else the object lands in the current kubectl namespace)');
    else if (typeof namespace !== 'string' || namespace.length > 63 || !DNS1123_LABEL.test(namespace)) {
      errors.push(`metadata.namespace: ${JSON.stringify(namespace)} is not a valid DNS-1123 label`);
    }
  }
  const keyError = (key: string): string | undefined => {
    const slash = key.lastIndexOf('/');
    const prefix = slash < 0 ? undefined : key.slice(0, slash);
    const n = slash < 0 ? key : key.slice(slash + 1);
    if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return 'prefix is not a DNS-1123 subdomain';
    if (n.length > 63 || !QUALIFIED_NAME.test(n)) return 'name part is not a qualified name (≤ 63 of [A-Za-z0-9-_.], alphanumeric at both ends)';
    return undefined;
  };
  for (const [field, map] of [['labels', labels], ['annotations', annotations]] as const) {
    if (!isRecord(map)) continue;
    for (const [k, v] of Object.entries(map)) {
      const ke = keyError(k);
      if (ke) errors.push(`${childPath(`metadata.${field}`, k)}: key ${ke}`);
      if (field === 'labels' && typeof v === 'string' && (v.length > 63 || !LABEL_VALUE.test(v))) {
        errors.push(`${childPath('metadata.labels', k)}: value ${JSON.stringify(v)} is not a valid label value`);
      }
    }
  }
  return errors;
}

function dataKeyErrors(obj: Record<string, unknown>, fields: readonly string[]): string[] {
  const errors: string[] = [];
  for (const f of fields) {
    const map = obj[f];
    if (!isRecord(map)) continue;
    for (const k of Object.keys(map)) {
      if (k.length > 253 || !CONFIG_KEY.test(k)) errors.push(`${childPath(f, k)}: key must consist of [-._a-zA-Z0-9]`);
    }
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------

/** Errors of one manifest object (any apiVersion/kind); `[]` when it is valid. */
export function validateManifest(input: unknown): string[] {
  // A JSON round trip: what a bundle would contain, and no shared sub-objects to confuse the read tracking.
  const obj: unknown = JSON.parse(JSON.stringify(input ?? null));
  if (!isRecord(obj)) return ['(root): must be an object'];
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || apiVersion === '' || kind === '') {
    return ['(root): apiVersion and kind must be non-empty strings'];
  }
  const core = CORE[`${apiVersion}/${kind}`];
  if (core) {
    const errors = [
      ...modelErrors(core.model, obj, ''),
      ...metadataErrors(obj, core.clusterScoped ? 'Cluster' : 'Namespaced', core.name, core.maxNameLength),
    ];
    if (kind === 'ConfigMap') errors.push(...dataKeyErrors(obj, ['data', 'binaryData']));
    if (kind === 'Secret') errors.push(...dataKeyErrors(obj, ['data', 'stringData']));
    return [...new Set(errors)];
  }
  const slash = apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  const crd = findCrd(apiVersion, kind);
  if (!crd) {
    // Some CRD groups end in .k8s.io too (Gateway API, volume snapshots), hence the fixtures first.
    return BUILTIN_GROUP.test(group)
      ? [`(root): no validator for built-in ${apiVersion} ${kind} (add the kind to CORE in test/schema.ts)`]
      : [`(root): no CRD fixture for ${apiVersion} ${kind} under ${CRD_DIR}`];
  }
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v) return [`apiVersion: ${apiVersion} is not a version of ${kind} (CRD has ${crd.spec.versions.map((x) => x.name).join(', ')})`];
  if (!v.served) return [`apiVersion: ${apiVersion} ${kind} is not served (CRD serves ${crd.spec.versions.filter((x) => x.served).map((x) => x.name).join(', ')})`];
  const validate = crdValidator(crd, v, obj);
  const errors: string[] = [];
  if (!validate(obj)) errors.push(...(validate.errors ?? []).map((e) => formatAjvError(e, '')));
  errors.push(...modelErrors(ObjectMeta, obj.metadata, 'metadata'));
  errors.push(...metadataErrors(obj, crd.spec.scope, 'subdomain'));
  return [...new Set(errors)];
}

/** Compiled hand-checked schemas (test/crd-hand-checked.ts), by group/Kind. */
const handCompiled = new Map<string, ValidateFunction>();
/** Strict ajv for the hand-written schemas: they are plain JSON Schema, no Kubernetes extensions. */
const handAjv = new Ajv({ allErrors: true, strict: true });

/**
 * Errors of a custom resource that has no CRD fixture but a hand-checked schema in
 * test/crd-hand-checked.ts (the served versions, the closed schema, and the same metadata checks as
 * for fixtures); `undefined` when the kind has no hand-checked schema.
 */
export function validateHandChecked(input: unknown): string[] | undefined {
  const obj: unknown = JSON.parse(JSON.stringify(input ?? null));
  if (!isRecord(obj) || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return undefined;
  const { apiVersion, kind } = obj;
  if (findCrd(apiVersion, kind)) return undefined; // a fixture exists: it wins
  const hand = handCheckedCrd(apiVersion, kind);
  if (!hand) return undefined;
  const version = apiVersion.slice(apiVersion.lastIndexOf('/') + 1);
  if (!hand.served.includes(version)) return [`apiVersion: ${apiVersion} ${kind} is not served (upstream serves ${hand.served.join(', ')}; hand-checked, no CRD fixture)`];
  const key = `${hand.group}/${hand.kind}`;
  let validate = handCompiled.get(key);
  if (!validate) handCompiled.set(key, (validate = handAjv.compile(hand.schema)));
  const errors: string[] = [];
  if (!validate(obj)) errors.push(...(validate.errors ?? []).map((e) => formatAjvError(e, '')));
  errors.push(...modelErrors(ObjectMeta, obj.metadata, 'metadata'));
  errors.push(...metadataErrors(obj, hand.scope, 'subdomain'));
  return [...new Set(errors)];
}

/**
 * Errors already computed, by the object's JSON text. Both validators start from
 * `JSON.parse(JSON.stringify(input ?? null))` and depend on nothing else (the CRD fixtures and the
 * compiled schemas are fixed for a run), so an object with the same JSON text has the same errors:
 * re-validating identical objects (the same render checked by several tests, the services a
 * generated stack leaves unchanged) only costs time. Bounded, cleared when full.
 */
const checkedByJson = new Map<string, readonly string[]>();
const CHECKED_MAX = 50_000;
function checkedErrors(o: unknown): readonly string[] {
  const key = JSON.stringify(o ?? null);
  let errors = checkedByJson.get(key);
  if (!errors) {
    errors = validateHandChecked(o) ?? validateManifest(o);
    if (checkedByJson.size >= CHECKED_MAX) checkedByJson.clear();
    checkedByJson.set(key, errors);
  }
  return errors;
}

/**
 * `apiVersion kind namespace/name` -> errors, for every invalid object (empty when all are valid).
 * Kinds without a CRD fixture but with a hand-checked schema (test/crd-hand-checked.ts) are
 * validated against that schema instead of being reported as "no CRD fixture".
 */
export function invalidManifests(objects: readonly unknown[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const o of objects) {
    const errors = [...checkedErrors(o)];
    if (errors.length === 0) continue;
    const m = (isRecord(o) ? o : {}) as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    out[`${String(m.apiVersion)} ${String(m.kind)} ${String(m.metadata?.namespace ?? '')}/${String(m.metadata?.name)}`] = errors;
  }
  return out;
}

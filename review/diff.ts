/**
 * Semantic diff of two sets of rendered objects (X-11): pure functions, no git, no I/O.
 *
 * Objects are matched by API group, kind, namespace and name. Within an object, values are
 * compared the way Kubernetes reads them: quantities by value (`1Gi` = `1024Mi`, `0.5` = `500m`,
 * `2` = `"2"`), durations by length (`5m` = `300s`), an absent field equal to its documented API
 * default (`DEFAULTS`), an empty list or map equal to an absent one, order ignored where a list is a
 * set (`SET_FIELDS`) and lists Kubernetes merges by key matched by that key
 * (`containers[name=api]`). Changes reviewers must not miss get a risk flag with a stable id
 * (`RISK_IDS`). `formatText`, `formatMarkdown` and `toJson` present one `DiffReport`.
 */
import * as yaml from 'js-yaml';
import { flowDiff } from './connectivity.js';
import { manifestYaml } from '../bundle/yaml.js';
import { parseQuantity } from '../kube/quantity.js';

/** A plain manifest as found in a bundle (the shape `synth/render.ts` produces). */
export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export type Op = 'added' | 'removed' | 'changed';

export interface FieldChange {
  /** JSON-ish path: `spec.template.spec.containers[name=ope].resources.limits.memory`; `[]` marks a set member. */
  readonly path: string;
  readonly op: Op;
  readonly old?: unknown;
  readonly new?: unknown;
  /** Which side was absent and is shown as its API default. */
  readonly defaulted?: 'old' | 'new';
}

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface ObjectDiff {
  /** `Kind namespace/name` (`Kind name` when cluster-scoped). */
  readonly id: string;
  readonly ref: ObjectRef;
  readonly op: Op;
  /** Field changes (empty for added/removed objects). */
  readonly changes: readonly FieldChange[];
  /** The whole object for added (new) and removed (old) objects. */
  readonly object?: Obj;
  /** Risk flag ids raised on this object, in `RISK_IDS` order. */
  readonly risks: readonly RiskId[];
}

export const RISK_IDS = [
  'data-loss',
  'replace-required',
  'deleted',
  'security-relaxed',
  'policy-exception-added',
  'networkpolicy-widened',
  'pdb-lowered',
  'hpa-min-lowered',
  'replicas-dropped',
  'image-changed',
  'secret-ref-changed',
  'alert-removed',
  'alert-loosened',
  'pods-restart',
] as const;
export type RiskId = (typeof RISK_IDS)[number];

export interface Risk {
  readonly id: RiskId;
  readonly env: string;
  /** `Kind namespace/name` of the object the flag is about. */
  readonly object: string;
  /** Field path within the object, when the flag is about one field. */
  readonly path?: string;
  readonly message: string;
}

export interface EnvDiff {
  readonly env: string;
  readonly objects: readonly ObjectDiff[];
  readonly risks: readonly Risk[];
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
  /** `base-missing`: the environment has no stack in the base; `head-missing`: removed by this change. */
  readonly note?: 'base-missing' | 'head-missing';
  /**
   * Objects by kind of a new or removed environment (`note`), and of each namespace this change adds
   * or removes: shown as one line each instead of object by object. Flags are about changes to what
   * exists, so nothing in a new environment or namespace is flagged.
   */
  readonly summaries?: readonly Summary[];
  /**
   * Who can newly talk to whom, and who no longer can (`review/connectivity.ts`): flows computed from
   * the NetworkPolicies and pod labels of each side (`ows/ows-worker → aion/redis:6379/TCP`).
   * Absent for a new or removed environment.
   */
  readonly flows?: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

/** One line for a whole environment or namespace that appears or disappears. */
export interface Summary {
  readonly scope: 'environment' | 'namespace';
  readonly name: string;
  readonly op: 'added' | 'removed';
  /** Objects by kind, sorted by kind. */
  readonly kinds: Readonly<Record<string, number>>;
}

export interface DiffReport {
  /** The base revision as given and the commit it resolved to. */
  readonly base: { readonly ref: string; readonly commit?: string };
  /** What the base is compared with, e.g. `working tree`. */
  readonly head: string;
  readonly envs: readonly EnvDiff[];
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

type Seg = { key: string } | { index: number } | { match: readonly [string, string] } | { set: true };

function segText(s: Seg): string {
  if ('key' in s) return /^[A-Za-z_$][\w$-]*$/.test(s.key) ? `.${s.key}` : `[${JSON.stringify(s.key)}]`;
  if ('index' in s) return `[${s.index}]`;
  if ('match' in s) return `[${s.match[0]}=${s.match[1]}]`;
  return '[]';
}

export function pathText(segs: readonly Seg[]): string {
  const t = segs.map(segText).join('');
  return t.startsWith('.') ? t.slice(1) : t;
}

/** The shape of a path: keys joined by `.`, every list element `[]` (what the rule tables match). */
function shapeText(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) {
    if ('key' in s) out += out === '' ? s.key : `.${s.key}`;
    else out += '[]';
  }
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Deterministic JSON: keys sorted at every depth. */
export function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    isObj(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  ) ?? 'undefined';
}

// ---------------------------------------------------------------------------------------------
// Normalisation: quantities, durations, defaults, sets
// ---------------------------------------------------------------------------------------------

/**
 * A Kubernetes quantity as an exact fraction `num/den` (`1Gi` and `1024Mi` both `1073741824/1`,
 * `0.5` and `500m` both `1/2`), or undefined when the value is not a quantity.
 */
export function quantityValue(v: unknown): string | undefined {
  const f = parseQuantity(v);
  return f === undefined ? undefined : `${f.num}/${f.den}`;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3, y: 31536000e3 };

/** A Prometheus or Go duration in milliseconds (`5m` = `300s` = `0h5m0s`), or undefined. */
export function durationMs(v: unknown): number | undefined {
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const s = v.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  return end === s.length && end > 0 ? total : undefined;
}

/** Fields holding quantities: anything under `limits`/`requests`/`hard`/`overhead`, and `sizeLimit`. */
function isQuantityShape(shape: string): boolean {
  return /(^|\.)(limits|requests|hard|overhead)\.[^.[\]]+$/.test(shape) || /(^|\.)sizeLimit$/.test(shape);
}

/** Fields holding durations (PrometheusRule `for`, scrape intervals, certificate lifetimes). */
const DURATION_KEYS = new Set(['for', 'keep_firing_for', 'interval', 'scrapeTimeout', 'duration', 'renewBefore']);

/** Maps and objects where empty means the same as absent. Empty lists always do. */
const EMPTY_IS_ABSENT = new Set(['annotations', 'labels', 'securityContext', 'resources', 'limits', 'requests', 'nodeSelector', 'data', 'binaryData']);

/** Lists whose order Kubernetes ignores (matched by shape suffix; NetworkPolicy rules are sets too). */
export const SET_FIELDS: readonly string[] = [
  'capabilities.drop', 'capabilities.add', 'policyTypes', 'hosts', 'dnsNames', 'ipAddresses', 'uris', 'emailAddresses', 'usages',
  'finalizers', 'except', 'matchExpressions', 'matchExpressions[].values', 'tolerations',
];
const NP_SET_FIELDS = new Set(['spec.ingress', 'spec.egress', 'spec.ingress[].from', 'spec.egress[].to', 'spec.ingress[].ports', 'spec.egress[].ports']);

function isSetShape(kind: string, shape: string): boolean {
  if (kind === 'NetworkPolicy' && NP_SET_FIELDS.has(shape)) return true;
  return SET_FIELDS.some((f) => shape === f || shape.endsWith(`.${f}`));
}

/** List fields Kubernetes merges by a key, and the candidate keys (first one unique on both sides wins). */
const LIST_KEYS: Record<string, readonly string[]> = {
  containers: ['name'], initContainers: ['name'], ephemeralContainers: ['name'], env: ['name'], volumes: ['name'],
  volumeMounts: ['mountPath'], volumeDevices: ['devicePath'], imagePullSecrets: ['name'], ports: ['name', 'containerPort', 'port'],
  groups: ['name'], rules: ['alert', 'record', 'host'], topologySpreadConstraints: ['topologyKey'], paths: ['path'],
  endpoints: ['port', 'targetPort', 'path'], tls: ['secretName'], metrics: ['type'], hostAliases: ['ip'],
  // ClusterImagePolicy images by glob; StatefulSet claim templates by their name
  images: ['glob'], authorities: ['name'], volumeClaimTemplates: ['metadata.name'],
};

/** Where the pod spec lives in each workload kind. */
const POD_SPEC_PATH: Record<string, readonly string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

type DefaultValue = unknown | ((parent: Record<string, unknown>) => unknown);
const fn = (f: (parent: Record<string, unknown>) => unknown) => ({ fn: f });

/** `IfNotPresent`, or `Always` for `:latest` / untagged images without a digest (the API default). */
function defaultPullPolicy(c: Record<string, unknown>): string {
  const image = String(c.image ?? '');
  if (image.includes('@')) return 'IfNotPresent';
  const last = image.split('/').pop() ?? '';
  const tag = last.includes(':') ? last.slice(last.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

const POD_DEFAULTS: Record<string, DefaultValue> = {
  restartPolicy: 'Always',
  terminationGracePeriodSeconds: 30,
  dnsPolicy: 'ClusterFirst',
  schedulerName: 'default-scheduler',
  enableServiceLinks: true,
  'volumes[].secret.defaultMode': 420,
  'volumes[].configMap.defaultMode': 420,
  'volumes[].projected.defaultMode': 420,
};
for (const list of ['containers', 'initContainers']) {
  Object.assign(POD_DEFAULTS, {
    [`${list}[].terminationMessagePath`]: '/dev/termination-log',
    [`${list}[].terminationMessagePolicy`]: 'File',
    [`${list}[].imagePullPolicy`]: fn(defaultPullPolicy),
    [`${list}[].ports[].protocol`]: 'TCP',
  });
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    Object.assign(POD_DEFAULTS, {
      [`${list}[].${probe}.timeoutSeconds`]: 1,
      [`${list}[].${probe}.periodSeconds`]: 10,
      [`${list}[].${probe}.successThreshold`]: 1,
      [`${list}[].${probe}.failureThreshold`]: 3,
      [`${list}[].${probe}.httpGet.scheme`]: 'HTTP',
    });
  }
}

const KIND_DEFAULTS: Record<string, Record<string, DefaultValue>> = {
  Deployment: {
    'spec.replicas': 1, 'spec.revisionHistoryLimit': 10, 'spec.progressDeadlineSeconds': 600, 'spec.minReadySeconds': 0,
    'spec.strategy.type': 'RollingUpdate', 'spec.strategy.rollingUpdate.maxSurge': '25%', 'spec.strategy.rollingUpdate.maxUnavailable': '25%',
  },
  StatefulSet: { 'spec.replicas': 1, 'spec.revisionHistoryLimit': 10, 'spec.podManagementPolicy': 'OrderedReady' },
  Service: {
    'spec.type': 'ClusterIP', 'spec.sessionAffinity': 'None', 'spec.internalTrafficPolicy': 'Cluster', 'spec.ports[].protocol': 'TCP',
    'spec.ports[].targetPort': fn((p) => p.port),
  },
  HorizontalPodAutoscaler: { 'spec.minReplicas': 1 },
  NetworkPolicy: { 'spec.ingress[].ports[].protocol': 'TCP', 'spec.egress[].ports[].protocol': 'TCP' },
  PrometheusRule: { 'spec.groups[].rules[].for': '0s' },
};

/** The documented API defaults an absent field is compared with: `kind` (`pod` = every pod template) and path. */
export const DEFAULTS: readonly { readonly kind: string; readonly path: string; readonly value: string }[] = [
  ...Object.entries(POD_DEFAULTS).map(([path, v]) => ({ kind: 'pod', path, value: describeDefault(v) })),
  ...Object.entries(KIND_DEFAULTS).flatMap(([kind, t]) => Object.entries(t).map(([path, v]) => ({ kind, path, value: describeDefault(v) }))),
];

function describeDefault(v: DefaultValue): string {
  if (isObj(v) && typeof v.fn === 'function') return v.fn === defaultPullPolicy ? 'IfNotPresent (Always for :latest)' : 'the port';
  return JSON.stringify(v);
}

/** Full-shape default table per kind: `Deployment` -> `spec.template.spec.restartPolicy` -> value. */
const DEFAULTS_BY_KIND = new Map<string, Map<string, DefaultValue>>();
for (const kind of new Set([...Object.keys(POD_SPEC_PATH), ...Object.keys(KIND_DEFAULTS)])) {
  const table = new Map<string, DefaultValue>(Object.entries(KIND_DEFAULTS[kind] ?? {}));
  const prefix = POD_SPEC_PATH[kind];
  if (prefix) for (const [p, v] of Object.entries(POD_DEFAULTS)) table.set(`${prefix.join('.')}.${p}`, v);
  DEFAULTS_BY_KIND.set(kind, table);
}
/** Per kind: parent shape -> [child key, default]. */
const DEFAULT_CHILDREN = new Map<string, Map<string, [string, DefaultValue][]>>();
for (const [kind, table] of DEFAULTS_BY_KIND) {
  const byParent = new Map<string, [string, DefaultValue][]>();
  for (const [shape, v] of table) {
    const i = shape.lastIndexOf('.');
    const parent = i < 0 ? '' : shape.slice(0, i);
    const key = i < 0 ? shape : shape.slice(i + 1);
    byParent.set(parent, [...(byParent.get(parent) ?? []), [key, v]]);
  }
  DEFAULT_CHILDREN.set(kind, byParent);
}

function resolveDefault(v: DefaultValue, parent: Record<string, unknown>): unknown {
  return isObj(v) && typeof v.fn === 'function' ? (v.fn as (p: Record<string, unknown>) => unknown)(parent) : v;
}

function defaultAt(kind: string, parentShape: string, key: string, parent: unknown): unknown {
  if (!isObj(parent)) return undefined;
  const entry = DEFAULT_CHILDREN.get(kind)?.get(parentShape)?.find(([k]) => k === key);
  return entry ? resolveDefault(entry[1], parent) : undefined;
}

const join = (shape: string, key: string) => (shape === '' ? key : `${shape}.${key}`);

/** The normal form of a value at a shape: what equality is decided on. */
function norm(kind: string, shape: string, v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) {
    if (v.length === 0) return undefined;
    const items = v.map((x) => norm(kind, `${shape}[]`, x));
    if (isSetShape(kind, shape)) return [...new Set(items.map(stable))].sort();
    const key = listKey(shape, v, v);
    if (key) {
      const label = (x: unknown) => key(x).join('=');
      return v.map((x, i) => [label(x), items[i]] as const).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, n]) => n);
    }
    return items;
  }
  if (isObj(v)) {
    const out: Record<string, unknown> = {};
    const last = shape.slice(shape.lastIndexOf('.') + 1);
    for (const [k, x] of Object.entries(v)) {
      const n = norm(kind, join(shape, k), x);
      if (n !== undefined) out[k] = n;
    }
    for (const [k, d] of DEFAULT_CHILDREN.get(kind)?.get(shape) ?? []) {
      if (out[k] === undefined) {
        const n = norm(kind, join(shape, k), resolveDefault(d, v));
        if (n !== undefined) out[k] = n;
      }
    }
    if (Object.keys(out).length === 0 && EMPTY_IS_ABSENT.has(last)) return undefined;
    return out;
  }
  if (isQuantityShape(shape)) {
    const q = quantityValue(v);
    if (q !== undefined) return `quantity:${q}`;
  }
  if (DURATION_KEYS.has(shape.slice(shape.lastIndexOf('.') + 1))) {
    const d = durationMs(v);
    if (d !== undefined) return `duration:${d}`;
  }
  return v;
}

/**
 * How a list is keyed, if it is: every element an object with a scalar value for one of the
 * candidate fields (the first it has), unique on each side. `rules` mixes `alert` and `record`.
 */
function listKey(shape: string, a: readonly unknown[], b: readonly unknown[]): ((x: unknown) => readonly [string, string]) | undefined {
  const field = shape.slice(shape.lastIndexOf('.') + 1).replace(/\[\]$/, '');
  const candidates = LIST_KEYS[field] ?? ['name'];
  for (let n = 1; n <= candidates.length; n++) {
    const usable = candidates.slice(0, n);
    const keyOf = (x: unknown): readonly [string, string] | undefined => {
      if (!isObj(x)) return undefined;
      const v = (c: string) => at(x, c.split('.'));
      const k = usable.find((c) => typeof v(c) === 'string' || typeof v(c) === 'number');
      return k === undefined ? undefined : [k, String(v(k))];
    };
    const ok = [a, b].every((list) => {
      const keys = list.map(keyOf);
      return keys.every((k) => k !== undefined) && new Set(keys.map((k) => `${k![0]}=${k![1]}`)).size === keys.length;
    });
    if (ok) return (x) => keyOf(x)!;
  }
  return undefined;
}

/** Equal as Kubernetes sees it (quantities, durations, defaults, sets, empty = absent). */
export function semanticEqual(kind: string, shape: string, a: unknown, b: unknown): boolean {
  return stable(norm(kind, shape, a)) === stable(norm(kind, shape, b));
}

// ---------------------------------------------------------------------------------------------
// Object and field diff
// ---------------------------------------------------------------------------------------------

export function apiGroup(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** Identity: API group (not version), kind, namespace, name. */
export function objectKey(o: Obj): string {
  return `${apiGroup(o.apiVersion)}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export function objectId(o: Obj): string {
  return o.metadata.namespace ? `${o.kind} ${o.metadata.namespace}/${o.metadata.name}` : `${o.kind} ${o.metadata.name}`;
}

function refOf(o: Obj): ObjectRef {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    name: o.metadata.name,
  };
}

/**
 * The same JSON value (key order aside): no allocation, so the common case of a diff, an object
 * that did not change, costs one pass instead of normalising and serialising both sides.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || !sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/** Field-level changes between two versions of one object. */
export function diffFields(base: Obj, head: Obj): FieldChange[] {
  // identical objects have no semantic change (the walk below only finds changes that differ)
  if (sameValue(base, head)) return [];
  const out: FieldChange[] = [];
  walk(head.kind, base, head, [], out, undefined, undefined);
  return out;
}

function walk(kind: string, a: unknown, b: unknown, path: Seg[], out: FieldChange[], pa: unknown, pb: unknown): void {
  const shape = shapeText(path);
  let defaulted: 'old' | 'new' | undefined;
  const last = path[path.length - 1];
  if (last && 'key' in last) {
    const parentShape = shapeText(path.slice(0, -1));
    if (norm(kind, shape, a) === undefined && b !== undefined) {
      const d = defaultAt(kind, parentShape, last.key, pa);
      if (d !== undefined) [a, defaulted] = [d, 'old'];
    } else if (norm(kind, shape, b) === undefined && a !== undefined) {
      const d = defaultAt(kind, parentShape, last.key, pb);
      if (d !== undefined) [b, defaulted] = [d, 'new'];
    }
  }
  if (semanticEqual(kind, shape, a, b)) return;
  const na = norm(kind, shape, a);
  const nb = norm(kind, shape, b);
  const p = pathText(path);
  if (na === undefined) {
    out.push({ path: p, op: 'added', new: b });
    return;
  }
  if (nb === undefined) {
    out.push({ path: p, op: 'removed', old: a });
    return;
  }
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) walk(kind, a[k], b[k], [...path, { key: k }], out, a, b);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (kind === 'NetworkPolicy' && (shape === 'spec.ingress' || shape === 'spec.egress')) {
      // rules by their ports (unique on both sides): a changed peer shows as that peer, not the whole rule
      const portsKey = (x: unknown) => (isObj(x) && Array.isArray(x.ports) ? x.ports.map((q) => (isObj(q) ? `${q.port ?? 'any'}${q.endPort ? `-${q.endPort}` : ''}/${q.protocol ?? 'TCP'}` : '?')).sort().join(',') : 'any');
      const unique = (l: unknown[]) => new Set(l.map(portsKey)).size === l.length;
      if (unique(a) && unique(b)) {
        const ma = new Map(a.map((x) => [portsKey(x), x]));
        const mb = new Map(b.map((x) => [portsKey(x), x]));
        for (const k of [...new Set([...ma.keys(), ...mb.keys()])].sort()) walk(kind, ma.get(k), mb.get(k), [...path, { match: ['ports', k] }], out, undefined, undefined);
        return;
      }
    }
    if (isSetShape(kind, shape)) {
      const ka = new Map(a.map((x) => [stable(norm(kind, `${shape}[]`, x)), x]));
      const kb = new Map(b.map((x) => [stable(norm(kind, `${shape}[]`, x)), x]));
      const sp = pathText([...path, { set: true }]);
      for (const [k, x] of ka) if (!kb.has(k)) out.push({ path: sp, op: 'removed', old: x });
      for (const [k, x] of kb) if (!ka.has(k)) out.push({ path: sp, op: 'added', new: x });
      return;
    }
    const key = listKey(shape, a, b);
    if (key) {
      const ma = new Map(a.map((x) => [key(x).join('='), x]));
      const mb = new Map(b.map((x) => [key(x).join('='), x]));
      for (const k of [...new Set([...ma.keys(), ...mb.keys()])]) {
        walk(kind, ma.get(k), mb.get(k), [...path, { match: key((ma.get(k) ?? mb.get(k))!) }], out, undefined, undefined);
      }
      return;
    }
    // Scalars with distinct values, one inserted or removed, the common members in the same order:
    // the values added and removed, not every index after the edit shifted.
    const scalar = (l: unknown[]) => l.every((x) => typeof x === 'string' || typeof x === 'number') && new Set(l).size === l.length;
    if (a.length !== b.length && scalar(a) && scalar(b)) {
      const inB = new Set(b);
      const inA = new Set(a);
      const common = (l: unknown[], other: Set<unknown>) => l.filter((x) => other.has(x));
      if (stable(common(a, inB)) === stable(common(b, inA))) {
        const sp = pathText([...path, { set: true }]);
        for (const x of a) if (!inB.has(x)) out.push({ path: sp, op: 'removed', old: x });
        for (const x of b) if (!inA.has(x)) out.push({ path: sp, op: 'added', new: x });
        return;
      }
    }
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(kind, a[i], b[i], [...path, { index: i }], out, undefined, undefined);
    return;
  }
  out.push({ path: p, op: 'changed', old: a, new: b, ...(defaulted ? { defaulted } : {}) });
}

/** Per-object diff of two object sets (one environment), ordered by kind, namespace, name. */
export function diffObjects(base: readonly Obj[], head: readonly Obj[]): ObjectDiff[] {
  const bm = new Map(base.map((o) => [objectKey(o), o]));
  const hm = new Map(head.map((o) => [objectKey(o), o]));
  const out: ObjectDiff[] = [];
  for (const [k, h] of hm) {
    const b = bm.get(k);
    if (!b) out.push({ id: objectId(h), ref: refOf(h), op: 'added', changes: [], object: h, risks: [] });
    else {
      const changes = diffFields(b, h);
      if (changes.length > 0) out.push({ id: objectId(h), ref: refOf(h), op: 'changed', changes, risks: [] });
    }
  }
  for (const [k, b] of bm) if (!hm.has(k)) out.push({ id: objectId(b), ref: refOf(b), op: 'removed', changes: [], object: b, risks: [] });
  const sortKey = (d: ObjectDiff) => [d.ref.kind, d.ref.namespace ?? '', d.ref.name, apiGroup(d.ref.apiVersion)];
  return out.sort((x, y) => {
    const [a, b] = [sortKey(x), sortKey(y)];
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Risk flags
// ---------------------------------------------------------------------------------------------

type J = Record<string, any>;

function at(o: unknown, path: readonly string[]): unknown {
  let cur: unknown = o;
  for (const k of path) cur = isObj(cur) ? cur[k] : undefined;
  return cur;
}

function podSpecOf(o: Obj): J | undefined {
  const p = POD_SPEC_PATH[o.kind];
  const spec = p ? at(o, p) : undefined;
  return isObj(spec) ? spec : undefined;
}

function containersOf(spec: J | undefined): J[] {
  if (!spec) return [];
  return ['initContainers', 'containers', 'ephemeralContainers'].flatMap((l) =>
    Array.isArray(spec[l]) ? (spec[l] as unknown[]).filter(isObj).map((c) => ({ ...c, __list: l })) : [],
  );
}

/** Everything about an object that is not Pod Security `restricted` (or the house rules), keyed. */
function unrestricted(o: Obj): Map<string, string> {
  const found = new Map<string, string>();
  if (o.kind === 'Namespace') {
    for (const mode of ['enforce', 'audit', 'warn']) {
      const v = o.metadata.labels?.[`pod-security.kubernetes.io/${mode}`];
      if (v !== 'restricted') found.set(`metadata.labels["pod-security.kubernetes.io/${mode}"]`, `Pod Security ${mode} is ${v ?? 'unset'}`);
    }
  }
  if (o.kind === 'ServiceAccount' && (o as J).automountServiceAccountToken !== false) {
    found.set('automountServiceAccountToken', `automountServiceAccountToken is ${(o as J).automountServiceAccountToken ?? 'unset (true)'}`);
  }
  const spec = podSpecOf(o);
  if (!spec) return found;
  const pre = POD_SPEC_PATH[o.kind]!.join('.');
  for (const h of ['hostNetwork', 'hostPID', 'hostIPC', 'hostUsers']) {
    const bad = h === 'hostUsers' ? spec[h] === false : spec[h] === true;
    if (bad) found.set(`${pre}.${h}`, `${h}: ${spec[h]}`);
  }
  if (spec.automountServiceAccountToken !== false) {
    found.set(`${pre}.automountServiceAccountToken`, `automountServiceAccountToken is ${spec.automountServiceAccountToken ?? 'unset (true)'}`);
  }
  for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) {
    if (isObj(v) && v.hostPath !== undefined) found.set(`${pre}.volumes[name=${v.name}].hostPath`, `hostPath volume ${v.name} (${stable(v.hostPath)})`);
  }
  const psc: J = isObj(spec.securityContext) ? spec.securityContext : {};
  for (const c of containersOf(spec)) {
    const sc: J = isObj(c.securityContext) ? c.securityContext : {};
    const cp = `${pre}.${c.__list}[name=${c.name}]`;
    const eff = (k: string) => sc[k] ?? psc[k];
    if (eff('runAsNonRoot') !== true) found.set(`${cp}.securityContext.runAsNonRoot`, `container ${c.name}: runAsNonRoot is ${eff('runAsNonRoot') ?? 'unset'}`);
    if (eff('runAsUser') === 0) found.set(`${cp}.securityContext.runAsUser`, `container ${c.name}: runs as UID 0`);
    const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') found.set(`${cp}.securityContext.seccompProfile`, `container ${c.name}: seccomp profile is ${seccomp ?? 'unset'}`);
    if (sc.allowPrivilegeEscalation !== false) found.set(`${cp}.securityContext.allowPrivilegeEscalation`, `container ${c.name}: allowPrivilegeEscalation is ${sc.allowPrivilegeEscalation ?? 'unset (true)'}`);
    if (sc.privileged === true) found.set(`${cp}.securityContext.privileged`, `container ${c.name}: privileged`);
    if (sc.readOnlyRootFilesystem !== true) found.set(`${cp}.securityContext.readOnlyRootFilesystem`, `container ${c.name}: writable root filesystem`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') found.set(`${cp}.securityContext.procMount`, `container ${c.name}: procMount ${sc.procMount}`);
    const drop: unknown[] = Array.isArray(sc.capabilities?.drop) ? sc.capabilities.drop : [];
    if (!drop.includes('ALL')) found.set(`${cp}.securityContext.capabilities.drop`, `container ${c.name}: capabilities not dropped (ALL)`);
    for (const cap of Array.isArray(sc.capabilities?.add) ? sc.capabilities.add : []) {
      found.set(`${cp}.securityContext.capabilities.add[${cap}]`, `container ${c.name}: adds capability ${cap}`);
    }
    for (const port of Array.isArray(c.ports) ? c.ports : []) {
      if (isObj(port) && port.hostPort !== undefined) found.set(`${cp}.ports[${port.containerPort}].hostPort`, `container ${c.name}: hostPort ${port.hostPort}`);
    }
  }
  return found;
}

function annotations(o: Obj | undefined): Record<string, string> {
  return o?.metadata.annotations ?? {};
}

// NetworkPolicy grants ---------------------------------------------------------------------------

interface Cidr { readonly v6: boolean; readonly net: bigint; readonly bits: number; readonly text: string }

function parseCidr(s: string): Cidr | undefined {
  const [ip = '', pfx] = s.split('/');
  let v: bigint;
  let v6 = false;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) {
    const parts = ip.split('.').map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    v = parts.reduce((acc, p) => (acc << 8n) + BigInt(p), 0n);
  } else if (ip.includes(':')) {
    v6 = true;
    const [h = '', t = ''] = ip.split('::');
    const hs = h ? h.split(':') : [];
    const ts = ip.includes('::') ? (t ? t.split(':') : []) : [];
    const groups = ip.includes('::') ? [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts] : hs;
    if (groups.length !== 8) return undefined;
    v = groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
  } else return undefined;
  const width = v6 ? 128 : 32;
  const bits = pfx === undefined ? width : Number(pfx);
  if (!Number.isInteger(bits) || bits < 0 || bits > width) return undefined;
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
  return { v6, net: v & mask, bits, text: s };
}

function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.v6 !== inner.v6 || outer.bits > inner.bits) return false;
  const width = outer.v6 ? 128 : 32;
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - outer.bits)) - 1n);
  return (inner.net & mask) === outer.net;
}

const overlaps = (a: Cidr, b: Cidr) => cidrContains(a, b) || cidrContains(b, a);

interface Sel { readonly labels: Record<string, string>; readonly exprs: readonly string[] }
type Peer =
  | { readonly kind: 'any' }
  | { readonly kind: 'ip'; readonly cidr: Cidr | undefined; readonly raw: string; readonly except: readonly Cidr[] }
  | { readonly kind: 'sel'; readonly ns: Sel | 'own'; readonly pods: Sel };
type PortSpec = { readonly any: true } | { readonly any?: false; readonly protocol: string; readonly port?: number | string; readonly endPort?: number };
interface Grant { readonly dir: 'ingress' | 'egress'; readonly peer: Peer; readonly port: PortSpec; readonly text: string }

function selOf(v: unknown): Sel {
  const s: J = isObj(v) ? v : {};
  return { labels: isObj(s.matchLabels) ? (s.matchLabels as Record<string, string>) : {}, exprs: (Array.isArray(s.matchExpressions) ? s.matchExpressions : []).map(stable) };
}

const selEmpty = (s: Sel) => Object.keys(s.labels).length === 0 && s.exprs.length === 0;
/** `a` selects everything `b` selects: `a`'s constraints are a subset of `b`'s. */
const selCovers = (a: Sel, b: Sel) => Object.entries(a.labels).every(([k, v]) => b.labels[k] === v) && a.exprs.every((e) => b.exprs.includes(e));

function peerOf(p: unknown): Peer {
  const x: J = isObj(p) ? p : {};
  if (isObj(x.ipBlock)) {
    const raw = String(x.ipBlock.cidr);
    const except = (Array.isArray(x.ipBlock.except) ? x.ipBlock.except : []).map((e: unknown) => parseCidr(String(e))).filter((e: Cidr | undefined): e is Cidr => !!e);
    return { kind: 'ip', cidr: parseCidr(raw), raw, except };
  }
  return { kind: 'sel', ns: x.namespaceSelector === undefined ? 'own' : selOf(x.namespaceSelector), pods: selOf(x.podSelector) };
}

function peerText(p: Peer): string {
  if (p.kind === 'any') return 'anywhere';
  if (p.kind === 'ip') return `ipBlock ${p.raw}${p.except.length ? ` except ${p.except.map((e) => e.text).join(',')}` : ''}`;
  const sel = (s: Sel) => (selEmpty(s) ? 'all' : [...Object.entries(s.labels).map(([k, v]) => `${k}=${v}`), ...s.exprs].join(','));
  return `${p.ns === 'own' ? 'own namespace' : `namespaces ${sel(p.ns)}`} pods ${sel(p.pods)}`;
}

function peerCovers(a: Peer, b: Peer): boolean {
  if (a.kind === 'any') return true;
  if (b.kind === 'any') return false;
  if (a.kind === 'ip' && b.kind === 'ip') {
    if (!a.cidr || !b.cidr) return a.raw === b.raw && a.except.length <= b.except.length;
    if (!cidrContains(a.cidr, b.cidr)) return false;
    return a.except.every((ax) => !overlaps(ax, b.cidr!) || b.except.some((bx) => cidrContains(bx, ax)));
  }
  if (a.kind === 'sel' && b.kind === 'sel') {
    const ns = a.ns === 'own' ? b.ns === 'own' : b.ns === 'own' ? selEmpty(a.ns) : selCovers(a.ns, b.ns);
    return ns && selCovers(a.pods, b.pods);
  }
  return false;
}

function portOf(p: unknown): PortSpec {
  const x: J = isObj(p) ? p : {};
  return { protocol: String(x.protocol ?? 'TCP'), ...(x.port !== undefined ? { port: x.port } : {}), ...(x.endPort !== undefined ? { endPort: Number(x.endPort) } : {}) };
}

function portCovers(a: PortSpec, b: PortSpec): boolean {
  if (a.any) return true;
  if (b.any) return false;
  if (a.protocol !== b.protocol) return false;
  if (a.port === undefined) return true;
  if (b.port === undefined) return false;
  if (typeof a.port === 'string' || typeof b.port === 'string') return String(a.port) === String(b.port) && b.endPort === undefined;
  return a.port <= b.port && (a.endPort ?? a.port) >= (b.endPort ?? b.port);
}

function portText(p: PortSpec): string {
  if (p.any) return 'any port';
  return `${p.protocol}/${p.port ?? '*'}${p.endPort !== undefined ? `-${p.endPort}` : ''}`;
}

function policyTypes(o: Obj): Set<string> {
  const spec: J = isObj(o.spec) ? o.spec : {};
  if (Array.isArray(spec.policyTypes) && spec.policyTypes.length > 0) return new Set(spec.policyTypes.map(String));
  return new Set(['Ingress', ...(Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Egress'] : [])]);
}

function grantsOf(o: Obj): Grant[] {
  const spec: J = isObj(o.spec) ? o.spec : {};
  const types = policyTypes(o);
  const out: Grant[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    if (!types.has(dir === 'ingress' ? 'Ingress' : 'Egress')) continue;
    for (const rule of Array.isArray(spec[dir]) ? spec[dir] : []) {
      const r: J = isObj(rule) ? rule : {};
      const peersRaw = r[dir === 'ingress' ? 'from' : 'to'];
      const peers: Peer[] = Array.isArray(peersRaw) && peersRaw.length > 0 ? peersRaw.map(peerOf) : [{ kind: 'any' }];
      const ports: PortSpec[] = Array.isArray(r.ports) && r.ports.length > 0 ? r.ports.map(portOf) : [{ any: true }];
      for (const peer of peers) {
        for (const port of ports) out.push({ dir, peer, port, text: `${dir} ${dir === 'ingress' ? 'from' : 'to'} ${peerText(peer)} on ${portText(port)}` });
      }
    }
  }
  return out;
}

function npWidening(base: Obj | undefined, head: Obj | undefined, baseAll: readonly Obj[]): string[] {
  if (!head) return base ? ['NetworkPolicy removed: the pods it selected lose this isolation'] : [];
  const reasons: string[] = [];
  const selector = stable(norm('NetworkPolicy', 'spec.podSelector', at(head, ['spec', 'podSelector'])) ?? {});
  if (base) {
    const baseSelector = stable(norm('NetworkPolicy', 'spec.podSelector', at(base, ['spec', 'podSelector'])) ?? {});
    if (baseSelector !== selector) reasons.push(`podSelector changed ${stable(at(base, ['spec', 'podSelector']) ?? {})} → ${stable(at(head, ['spec', 'podSelector']) ?? {})}`);
    const bt = policyTypes(base);
    const ht = policyTypes(head);
    for (const t of bt) if (!ht.has(t)) reasons.push(`no longer isolates ${t}`);
  }
  // A grant is new unless a base policy in the namespace for the same pods already allowed it.
  const sameScope = baseAll.filter(
    (b) => b.kind === 'NetworkPolicy' && b.metadata.namespace === head.metadata.namespace && stable(norm('NetworkPolicy', 'spec.podSelector', at(b, ['spec', 'podSelector'])) ?? {}) === selector,
  );
  const baseGrants = sameScope.flatMap(grantsOf);
  for (const g of grantsOf(head)) {
    if (!baseGrants.some((bg) => bg.dir === g.dir && peerCovers(bg.peer, g.peer) && portCovers(bg.port, g.port))) reasons.push(`allows ${g.text}`);
  }
  return reasons;
}

// Disruption, scaling ------------------------------------------------------------------------------

function pdbLowered(base: Obj | undefined, head: Obj | undefined): string | undefined {
  if (!base) return undefined;
  if (!head) return 'PodDisruptionBudget removed';
  const b: J = isObj(base.spec) ? base.spec : {};
  const h: J = isObj(head.spec) ? head.spec : {};
  const val = (v: unknown) => (typeof v === 'string' && v.endsWith('%') ? { pct: true, n: Number(v.slice(0, -1)) } : { pct: false, n: Number(v) });
  if (b.minAvailable !== undefined) {
    if (h.minAvailable === undefined) return `minAvailable ${b.minAvailable} replaced by ${h.maxUnavailable !== undefined ? `maxUnavailable ${h.maxUnavailable}` : 'nothing'}`;
    const [x, y] = [val(b.minAvailable), val(h.minAvailable)];
    if (x.pct !== y.pct || y.n < x.n) return `minAvailable ${b.minAvailable} → ${h.minAvailable}`;
  }
  if (b.maxUnavailable !== undefined) {
    if (h.maxUnavailable === undefined) return h.minAvailable !== undefined ? `maxUnavailable ${b.maxUnavailable} replaced by minAvailable ${h.minAvailable}` : `maxUnavailable ${b.maxUnavailable} removed`;
    const [x, y] = [val(b.maxUnavailable), val(h.maxUnavailable)];
    if (x.pct !== y.pct || y.n > x.n) return `maxUnavailable ${b.maxUnavailable} → ${h.maxUnavailable}`;
  }
  return undefined;
}

function hpaTargets(objs: readonly Obj[], o: Obj): boolean {
  return objs.some(
    (h) => h.kind === 'HorizontalPodAutoscaler' && h.metadata.namespace === o.metadata.namespace && at(h, ['spec', 'scaleTargetRef', 'kind']) === o.kind && at(h, ['spec', 'scaleTargetRef', 'name']) === o.metadata.name,
  );
}

const SCALED_KINDS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);

// Images, secret references --------------------------------------------------------------------------

function imagesOf(o: Obj | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!o) return out;
  for (const c of containersOf(podSpecOf(o))) out.set(`${c.__list}[name=${c.name}]`, String(c.image ?? ''));
  return out;
}

function splitImage(ref: string): { name: string; digest?: string } {
  const i = ref.indexOf('@');
  return i < 0 ? { name: ref } : { name: ref.slice(0, i), digest: ref.slice(i + 1) };
}

const SECRET_KEY = /secret/i;
const SECRET_KEYS_EXTRA = new Set(['basicAuth', 'credentials']);

/** Every reference to a Secret under `spec` (and a ServiceAccount's `imagePullSecrets`/`secrets`), keyed by path. */
function secretRefs(o: Obj | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!o) return out;
  const visit = (v: unknown, path: Seg[]) => {
    if (Array.isArray(v)) {
      const key = listKey(shapeText(path), v, v);
      v.forEach((x, i) => visit(x, [...path, key ? { match: key(x) } : { index: i }]));
    } else if (isObj(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (SECRET_KEY.test(k) || SECRET_KEYS_EXTRA.has(k)) out.set(pathText([...path, { key: k }]), stable(x));
        else visit(x, [...path, { key: k }]);
      }
    }
  };
  visit(o.spec, [{ key: 'spec' }]);
  for (const k of ['imagePullSecrets', 'secrets']) if ((o as J)[k] !== undefined) out.set(k, stable((o as J)[k]));
  return out;
}

// Alerts ---------------------------------------------------------------------------------------------

const SEVERITY_RANK: Record<string, number> = { critical: 5, page: 5, high: 4, error: 4, major: 4, warning: 3, warn: 3, medium: 3, minor: 2, low: 2, info: 1, informational: 1, none: 0 };

function alertsOf(o: Obj | undefined): Map<string, J> {
  const out = new Map<string, J>();
  if (!o || o.kind !== 'PrometheusRule') return out;
  for (const g of (at(o, ['spec', 'groups']) as unknown[] | undefined) ?? []) {
    if (!isObj(g)) continue;
    for (const r of Array.isArray(g.rules) ? g.rules : []) if (isObj(r) && typeof r.alert === 'string') out.set(`${g.name}/${r.alert}`, r);
  }
  return out;
}

const THRESHOLD = /^(.*?)\s*(>=|<=|==|!=|>|<)\s*(-?[\d.]+(?:e-?\d+)?)\s*$/s;

function alertLoosened(b: J, h: J): string[] {
  const out: string[] = [];
  const fb = durationMs(String(b.for ?? '0s')) ?? 0;
  const fh = durationMs(String(h.for ?? '0s')) ?? 0;
  if (fh > fb) out.push(`for ${b.for ?? '0s'} → ${h.for ?? '0s'}`);
  const sb = b.labels?.severity;
  const sh = h.labels?.severity;
  if (sb !== sh) {
    const rb = SEVERITY_RANK[String(sb)];
    const rh = sh === undefined ? 0 : SEVERITY_RANK[String(sh)];
    if (rb === undefined || rh === undefined || rh < rb) out.push(`severity ${sb ?? 'none'} → ${sh ?? 'none'}`);
  }
  const eb = String(b.expr ?? '').replace(/\s+/g, ' ').trim();
  const eh = String(h.expr ?? '').replace(/\s+/g, ' ').trim();
  if (eb !== eh) {
    const tb = THRESHOLD.exec(eb);
    const th = THRESHOLD.exec(eh);
    if (tb && th && tb[1] === th[1] && tb[2] === th[2]) out.push(`threshold ${tb[2]} ${tb[3]} → ${th[2]} ${th[3]} (review)`);
    else out.push('expression changed (review)');
  }
  return out;
}

// --- what breaks or destroys: deletions, immutable fields, pod restarts ---------------------

/** Kinds whose removal deletes data (volumes, databases, brokers), not only configuration. */
const DATA_KINDS = new Set(['Namespace', 'PersistentVolumeClaim', 'StatefulSet', 'postgresql.cnpg.io/Cluster', 'kafka.strimzi.io/Kafka', 'kafka.strimzi.io/KafkaNodePool', 'kafka.strimzi.io/KafkaTopic']);

function groupKind(o: Obj): string {
  const g = apiGroup(o.apiVersion);
  return g ? `${g}/${o.kind}` : o.kind;
}

/**
 * Immutable fields, as the API server enforces them: a change there is refused by `kubectl apply`
 * (so `apply.sh` stops halfway) and makes Pulumi replace the object (delete, then create).
 * StatefulSet: kubernetes pkg/apis/apps/validation ValidateStatefulSetUpdate ("updates to statefulset
 * spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy',
 * 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are
 * forbidden"); Deployment/DaemonSet/ReplicaSet `spec.selector` (apps/v1: "field is immutable");
 * Job `spec.selector` and `spec.template`; Service `spec.clusterIP(s)`; PVC: everything but a larger
 * `resources.requests.storage` (and `volumeAttributesClassName`); RoleBinding `roleRef`; ConfigMap
 * and Secret data when `immutable: true`.
 */
function immutableChanges(b: Obj, h: Obj, changes: readonly FieldChange[]): string[] {
  const out: string[] = [];
  const gk = groupKind(h);
  const under = (c: FieldChange, prefix: string) => c.path === prefix || c.path.startsWith(`${prefix}.`) || c.path.startsWith(`${prefix}[`);
  const first = (prefixes: readonly string[]) => changes.filter((c) => prefixes.some((p) => under(c, p)));
  if (gk === 'apps/StatefulSet') {
    const mutable = ['spec.replicas', 'spec.ordinals', 'spec.template', 'spec.updateStrategy', 'spec.revisionHistoryLimit', 'spec.persistentVolumeClaimRetentionPolicy', 'spec.minReadySeconds'];
    for (const c of changes) if (under(c, 'spec') && !mutable.some((p) => under(c, p))) out.push(c.path);
  } else if (gk === 'apps/Deployment' || gk === 'apps/DaemonSet' || gk === 'apps/ReplicaSet') {
    out.push(...first(['spec.selector']).map((c) => c.path));
  } else if (gk === 'batch/Job') {
    out.push(...first(['spec.selector', 'spec.template', 'spec.completionMode']).map((c) => c.path));
  } else if (gk === 'Service') {
    out.push(...first(['spec.clusterIP', 'spec.clusterIPs']).map((c) => c.path));
  } else if (gk === 'PersistentVolumeClaim') {
    for (const c of changes) {
      if (!under(c, 'spec')) continue;
      if (c.path === 'spec.resources.requests.storage') {
        const frac = (v: unknown) => {
          const q = quantityValue(v)?.split('/');
          return q ? [BigInt(q[0]!), BigInt(q[1]!)] as const : undefined;
        };
        const [o, n] = [frac(c.old), frac(c.new)];
        if (o && n && n[0] * o[1] >= o[0] * n[1]) continue; // expansion is allowed
        out.push(`${c.path} (shrinking a claim is refused)`);
      } else if (c.path !== 'spec.volumeAttributesClassName') out.push(c.path);
    }
  } else if (gk === 'rbac.authorization.k8s.io/RoleBinding' || gk === 'rbac.authorization.k8s.io/ClusterRoleBinding') {
    out.push(...first(['roleRef']).map((c) => c.path));
  } else if ((gk === 'ConfigMap' || gk === 'Secret') && (b as J).immutable === true) {
    out.push(...first(['data', 'binaryData', 'stringData']).map((c) => c.path));
  }
  return out;
}

const CHECKSUM_PREFIX = 'checksum.stackbook.io/';
const ROTATION_PREFIX = 'rotation.stackbook.io/';
/** Kinds whose running pods are replaced when the pod template changes. */
const ROLLING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** Why the pods of a workload restart, from its field changes (empty: they do not). */
function restartCauses(o: Obj, changes: readonly FieldChange[]): string[] {
  if (!ROLLING_KINDS.has(o.kind)) return [];
  const causes = new Set<string>();
  for (const c of changes) {
    if (!c.path.startsWith('spec.template.')) continue;
    const ann = /^spec\.template\.metadata\.annotations\["?([^"\]]+)"?\]$/.exec(c.path)?.[1];
    if (ann?.startsWith(CHECKSUM_PREFIX)) {
      const what = ann.slice(CHECKSUM_PREFIX.length).replace(/^configmap-/, 'ConfigMap ').replace(/^secret-/, 'Secret ');
      causes.add(`${what} changed`);
    } else if (ann?.startsWith(ROTATION_PREFIX)) causes.add(`Secret ${ann.slice(ROTATION_PREFIX.length).replace(/^secret-/, '')} rotated`);
    else if (/\.image$/.test(c.path)) causes.add('image changed');
    else causes.add(c.path.replace(/^spec\.template\./, ''));
  }
  const list = [...causes].sort();
  return list.length > 5 ? [...list.slice(0, 5), `${list.length - 5} more pod-template fields`] : list;
}

/** Objects by kind, sorted. */
function kindCounts(objs: readonly Obj[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of [...objs].sort((a, b) => cmp(a.kind, b.kind))) out[o.kind] = (out[o.kind] ?? 0) + 1;
  return out;
}

/** The Namespace objects of one side (a namespace appears or disappears with its Namespace object). */
function namespacesOf(objs: readonly Obj[]): Set<string> {
  return new Set(objs.filter((o) => o.kind === 'Namespace' && !o.metadata.namespace).map((o) => o.metadata.name));
}

const inNamespace = (o: Obj, ns: ReadonlySet<string>) => (o.kind === 'Namespace' && !o.metadata.namespace ? ns.has(o.metadata.name) : o.metadata.namespace !== undefined && ns.has(o.metadata.namespace));

/** Risk flags for one environment, in `RISK_IDS` order, then object, then path. */
export function assessRisks(env: string, base: readonly Obj[], head: readonly Obj[]): Risk[] {
  const bm = new Map(base.map((o) => [objectKey(o), o]));
  const hm = new Map(head.map((o) => [objectKey(o), o]));
  const risks: Risk[] = [];
  const add = (id: RiskId, o: Obj, message: string, path?: string) => risks.push({ id, env, object: objectId(o), ...(path ? { path } : {}), message });
  const [nsBase, nsHead] = [namespacesOf(base), namespacesOf(head)];
  // A namespace this change creates is new, not changed: nothing in it is flagged.
  const newNamespaces = new Set([...nsHead].filter((n) => !nsBase.has(n)));
  // A namespace this change removes: one flag for the namespace, plus one per object that holds data.
  const goneNamespaces = new Set([...nsBase].filter((n) => !nsHead.has(n)));
  for (const ns of [...goneNamespaces].sort()) {
    const inside = base.filter((o) => o.metadata.namespace === ns);
    const nsObj = base.find((o) => o.kind === 'Namespace' && o.metadata.name === ns)!;
    add('data-loss', nsObj, `namespace ${ns} removed: deletes every object in it (${Object.entries(kindCounts(inside)).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}) and their volumes`);
  }
  for (const k of [...new Set([...bm.keys(), ...hm.keys()])]) {
    const b = bm.get(k);
    const h = hm.get(k);
    const o = (h ?? b)!;
    // An object that did not change raises no flag (each check below compares it with itself);
    // skipping it keeps the flags' cost to what changed (test/diff-speed.test.ts).
    if (b && h && sameValue(b, h)) continue;
    if (!b && inNamespace(o, newNamespaces)) continue;
    if (b && !h) {
      if (inNamespace(b, goneNamespaces)) {
        // counted in the namespace's own flag; only what holds data is named again
        if (b.kind !== 'Namespace' && DATA_KINDS.has(groupKind(b))) add('data-loss', b, `${b.kind} removed with its namespace: its data goes with it`);
        continue;
      } else if (DATA_KINDS.has(groupKind(b))) {
        add('data-loss', b, b.kind === 'StatefulSet' ? 'StatefulSet removed: its pods stop; claims are kept or deleted by its persistentVolumeClaimRetentionPolicy' : `${b.kind} removed: its data is deleted`);
      } else add('deleted', b, `${b.kind} removed`);
    }
    if (b && h) {
      const changes = diffFields(b, h);
      for (const path of immutableChanges(b, h, changes)) {
        add('replace-required', h, `immutable field ${path} changed: the API server refuses the update (apply.sh stops at this file) and Pulumi replaces the object (delete, then create)`, path.split(' ')[0]);
      }
      const causes = restartCauses(h, changes);
      if (causes.length > 0) add('pods-restart', h, `every pod restarts (rolling): ${causes.join('; ')}`);
    }
    if (h) {
      const before = b ? unrestricted(b) : new Map<string, string>();
      for (const [path, message] of unrestricted(h)) if (!before.has(path)) add('security-relaxed', h, message, path);
      const ba = annotations(b);
      for (const [key, reason] of Object.entries(annotations(h))) {
        if (key.startsWith('exception.stackbook.io/') && !(key in ba)) add('policy-exception-added', h, `${key.slice('exception.stackbook.io/'.length)}: ${reason}`, `metadata.annotations["${key}"]`);
      }
    }
    if (o.kind === 'NetworkPolicy') for (const r of npWidening(b, h, base)) add('networkpolicy-widened', o, r);
    if (o.kind === 'PodDisruptionBudget') {
      const r = pdbLowered(b, h);
      if (r) add('pdb-lowered', o, r);
    }
    if (o.kind === 'HorizontalPodAutoscaler' && b) {
      const mb = Number(at(b, ['spec', 'minReplicas']) ?? 1);
      if (!h) add('hpa-min-lowered', o, `HorizontalPodAutoscaler removed (was minReplicas ${mb})`);
      else {
        const mh = Number(at(h, ['spec', 'minReplicas']) ?? 1);
        if (mh < mb) add('hpa-min-lowered', o, `minReplicas ${mb} → ${mh}`, 'spec.minReplicas');
      }
    }
    if (SCALED_KINDS.has(o.kind) && b && !hpaTargets(base, b)) {
      const rb = Number(at(b, ['spec', 'replicas']) ?? 1);
      if (!h) add('replicas-dropped', o, `${o.kind} removed (was ${rb} replicas)`);
      else if (!hpaTargets(head, h)) {
        const rh = Number(at(h, ['spec', 'replicas']) ?? 1);
        if (rh < rb) add('replicas-dropped', o, `replicas ${rb} → ${rh}`, 'spec.replicas');
      }
    }
    if (h) {
      const ib = imagesOf(b);
      const pre = POD_SPEC_PATH[h.kind]?.join('.');
      for (const [c, img] of imagesOf(h)) {
        const old = ib.get(c);
        if (old === img) continue;
        const path = `${pre}.${c}.image`;
        if (old === undefined) add('image-changed', h, `new container image ${img}`, path);
        else {
          const [x, y] = [splitImage(old), splitImage(img)];
          add('image-changed', h, x.name === y.name && x.digest !== y.digest ? `digest of ${y.name} ${x.digest ?? 'none'} → ${y.digest ?? 'none'}` : `${old} → ${img}`, path);
        }
      }
    }
    const sb = secretRefs(b);
    const sh = secretRefs(h);
    for (const path of [...new Set([...sb.keys(), ...sh.keys()])].sort()) {
      const [x, y] = [sb.get(path), sh.get(path)];
      if (x === y) continue;
      add('secret-ref-changed', o, x === undefined ? `new Secret reference ${y}` : y === undefined ? `Secret reference removed ${x}` : `${x} → ${y}`, path);
    }
    if (o.kind === 'PrometheusRule') {
      const ab = alertsOf(b);
      const ah = alertsOf(h);
      for (const [name, rb] of ab) {
        const rh = ah.get(name);
        if (!rh) add('alert-removed', o, `alert ${name.split('/')[1]} removed`);
        else for (const m of alertLoosened(rb, rh)) add('alert-loosened', o, `alert ${name.split('/')[1]}: ${m}`);
      }
    }
  }
  const rank = (r: Risk) => RISK_IDS.indexOf(r.id);
  return risks.sort((a, b) => rank(a) - rank(b) || cmp(a.object, b.object) || cmp(a.path ?? '', b.path ?? '') || cmp(a.message, b.message));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The diff of one environment: objects with their flags, and the flags. */
export function diffEnv(env: string, base: readonly Obj[], head: readonly Obj[], note?: EnvDiff['note']): EnvDiff {
  // A whole environment appearing or disappearing (a stack file added or removed) changes nothing
  // that runs: one summary line, no flags.
  const risks = note ? [] : assessRisks(env, base, head);
  const objects = diffObjects(base, head).map((d) => ({
    ...d,
    risks: RISK_IDS.filter((id) => risks.some((r) => r.id === id && r.object === d.id)),
  }));
  const summaries: Summary[] = [];
  if (note) summaries.push({ scope: 'environment', name: env, op: note === 'base-missing' ? 'added' : 'removed', kinds: kindCounts(note === 'base-missing' ? head : base) });
  else {
    const [nsBase, nsHead] = [namespacesOf(base), namespacesOf(head)];
    for (const ns of [...nsHead].filter((n) => !nsBase.has(n)).sort()) summaries.push({ scope: 'namespace', name: ns, op: 'added', kinds: kindCounts(head.filter((o) => inNamespace(o, new Set([ns])))) });
    for (const ns of [...nsBase].filter((n) => !nsHead.has(n)).sort()) summaries.push({ scope: 'namespace', name: ns, op: 'removed', kinds: kindCounts(base.filter((o) => inNamespace(o, new Set([ns])))) });
  }
  const flows = note ? undefined : flowDiff(base, head);
  return {
    env,
    objects,
    risks,
    ...(flows && (flows.added.length > 0 || flows.removed.length > 0) ? { flows } : {}),
    added: objects.filter((o) => o.op === 'added').length,
    removed: objects.filter((o) => o.op === 'removed').length,
    changed: objects.filter((o) => o.op === 'changed').length,
    ...(note ? { note } : {}),
    ...(summaries.length > 0 ? { summaries } : {}),
  };
}

/** `Deployment 3, Service 2` */
export function kindsText(kinds: Readonly<Record<string, number>>): string {
  return Object.entries(kinds).map(([k, n]) => `${k} ${n}`).join(', ');
}

/** `new namespace ope: 14 objects (ConfigMap 1, …)` */
export function summaryText(x: Summary): string {
  const n = Object.values(x.kinds).reduce((a, b) => a + b, 0);
  const what = x.scope === 'environment' ? (x.op === 'added' ? 'new environment' : 'environment removed') : x.op === 'added' ? `new namespace ${x.name}` : `namespace ${x.name} removed`;
  return `${what}: ${plural(n, 'object')} (${kindsText(x.kinds)})`;
}

/** The objects a summary line stands for (not listed one by one). */
function summarised(e: EnvDiff): (o: ObjectDiff) => boolean {
  if (e.note) return () => true;
  const ns = new Set((e.summaries ?? []).map((x) => x.name));
  return (o) => o.op !== 'changed' && (o.ref.kind === 'Namespace' && !o.ref.namespace ? ns.has(o.ref.name) : o.ref.namespace !== undefined && ns.has(o.ref.namespace)) && o.risks.length === 0;
}

/** Build a report from per-environment object sets (an environment missing on one side is all added/removed). */
export function buildReport(base: DiffReport['base'], head: string, baseEnvs: ReadonlyMap<string, readonly Obj[]>, headEnvs: ReadonlyMap<string, readonly Obj[]>): DiffReport {
  const names = [...new Set([...baseEnvs.keys(), ...headEnvs.keys()])].sort();
  return {
    base,
    head,
    envs: names.map((env) =>
      diffEnv(env, baseEnvs.get(env) ?? [], headEnvs.get(env) ?? [], !baseEnvs.has(env) ? 'base-missing' : !headEnvs.has(env) ? 'head-missing' : undefined),
    ),
  };
}

export function hasChanges(r: DiffReport): boolean {
  return r.envs.some((e) => e.objects.length > 0);
}

/** The manifests of a bundle directory's files (`NN-<phase>.yaml`; other files ignored). */
export function parseBundle(files: readonly { readonly path: string; readonly content: string }[]): Obj[] {
  return files
    .filter((f) => /^\d\d-[\w-]+\.yaml$/.test(f.path))
    .sort((a, b) => cmp(a.path, b.path))
    .flatMap((f) => yaml.loadAll(f.content).filter((o): o is Obj => isObj(o) && typeof o.kind === 'string'));
}

// ---------------------------------------------------------------------------------------------
// Output: text, markdown, JSON
// ---------------------------------------------------------------------------------------------

/** A value as one short line: plain words as they are, anything ambiguous as JSON. */
export function formatValue(v: unknown, max = 160): string {
  let s: string;
  if (v === undefined) s = '(none)';
  else if (typeof v === 'string') {
    const ambiguous = v === '' || v.trim() !== v || /[\n\r\t]/.test(v) || /^["'{[]/.test(v) || /^(true|false|null|~|[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)$/i.test(v);
    s = ambiguous ? JSON.stringify(v) : v;
  }
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else s = stable(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function changeLine(c: FieldChange, max?: number): string {
  if (c.op === 'added') return `+ ${c.path}: ${formatValue(c.new, max)}`;
  if (c.op === 'removed') return `- ${c.path}: ${formatValue(c.old, max)}`;
  const old = `${formatValue(c.old, max)}${c.defaulted === 'old' ? ' (default)' : ''}`;
  const neu = `${formatValue(c.new, max)}${c.defaulted === 'new' ? ' (default)' : ''}`;
  return `${c.path}: ${old} → ${neu}`;
}

const OP_MARK: Record<Op, string> = { added: '+', removed: '-', changed: '~' };

function allRisks(r: DiffReport): Risk[] {
  return r.envs.flatMap((e) => e.risks).sort((a, b) => RISK_IDS.indexOf(a.id) - RISK_IDS.indexOf(b.id) || cmp(a.env, b.env) || cmp(a.object, b.object));
}

function baseLabel(r: DiffReport): string {
  return r.base.commit ? `${r.base.ref} (${r.base.commit.slice(0, 12)})` : r.base.ref;
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

function envCounts(e: EnvDiff): string {
  const parts = [e.added && `${e.added} added`, e.removed && `${e.removed} removed`, e.changed && `${e.changed} changed`].filter(Boolean);
  return parts.join(', ') || 'no changes';
}

/** Terraform-plan-like text; empty when nothing changed. */
export function formatText(r: DiffReport): string {
  if (!hasChanges(r)) return '';
  const lines: string[] = [`stackbook diff: ${baseLabel(r)} → ${r.head}`, ''];
  const risks = allRisks(r);
  if (risks.length > 0) {
    lines.push(`Risk flags (${risks.length}):`);
    const w = Math.max(...risks.map((x) => x.id.length));
    for (const x of risks) lines.push(`  ! ${x.id.padEnd(w)}  ${x.env}  ${x.object}: ${x.message}`);
    lines.push('');
  }
  const unchanged: string[] = [];
  for (const e of r.envs) {
    if (e.objects.length === 0) {
      unchanged.push(e.env);
      continue;
    }
    const note = e.note === 'base-missing' ? ' (new environment)' : e.note === 'head-missing' ? ' (environment removed)' : '';
    lines.push(`${e.env}${note}: ${envCounts(e)}`);
    if (e.flows) {
      lines.push(`  connectivity: ${e.flows.added.length} flows added, ${e.flows.removed.length} removed`);
      for (const f of e.flows.added) lines.push(`    + ${f}`);
      for (const f of e.flows.removed) lines.push(`    - ${f}`);
    }
    for (const x of e.summaries ?? []) lines.push(`  ${x.op === 'added' ? '+' : '-'} ${summaryText(x)}`);
    const hidden = summarised(e);
    for (const o of e.objects) {
      if (hidden(o)) continue;
      lines.push(`  ${OP_MARK[o.op]} ${o.id}${o.risks.length ? `  [${o.risks.join(', ')}]` : ''}`);
      for (const c of o.changes) lines.push(`      ${changeLine(c)}`);
    }
    lines.push('');
  }
  if (unchanged.length > 0) lines.push(`unchanged: ${unchanged.join(', ')}`, '');
  return `${lines.join('\n').replace(/\n+$/, '')}\n`;
}

/** The marker the pull-request workflow looks for to update its one comment. */
export const MARKDOWN_MARKER = '<!-- stackbook-diff -->';
/** GitHub refuses comments over 65,536 characters; stay below with room for the workflow's framing. */
export const MARKDOWN_MAX_CHARS = 60_000;
/** Field rows shown per object in a comment, so one huge object cannot push everything else out. */
export const MARKDOWN_MAX_ROWS = 100;

const cell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const code = (s: string) => {
  const t = cell(s);
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
};
const html = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function objectYaml(o: Obj, max: number): string {
  const text = manifestYaml(o);
  return text.length > max ? `${text.slice(0, max)}\n# … ${text.length - max} more characters` : text.replace(/\n$/, '');
}

/**
 * A pull-request comment: marker, risk flags first, a summary table, then per environment a table
 * of objects and one folded `<details>` block per object. Cut from the bottom, whole blocks at a
 * time, to stay within `maxChars`, with a note saying so.
 */
export function formatMarkdown(r: DiffReport, opts: { readonly maxChars?: number; readonly command?: string } = {}): string {
  const max = opts.maxChars ?? MARKDOWN_MAX_CHARS;
  const command = opts.command ?? `npx stackbook diff --base ${r.base.ref}`;
  const head: string[] = [MARKDOWN_MARKER, '### stackbook diff', '', `Rendered objects of ${code(baseLabel(r))} → ${r.head}.`, ''];
  if (!hasChanges(r)) {
    head.push(`No changes in ${r.envs.map((e) => e.env).join(', ') || 'any environment'}.`);
    return `${head.join('\n')}\n`;
  }
  const blocks: string[] = [];
  const risks = allRisks(r);
  if (risks.length > 0) {
    blocks.push(`**⚠️ ${plural(risks.length, 'risk flag')} — review these first**\n\n| flag | env | object | what |\n|---|---|---|---|\n`);
    for (const x of risks) blocks.push(`| ${code(x.id)} | ${cell(x.env)} | ${code(x.object)} | ${cell(x.message)} |\n`);
    blocks.push('\n');
  } else blocks.push('No risk flags.\n\n');
  blocks.push('| environment | added | removed | changed | risk flags |\n|---|--:|--:|--:|--:|\n');
  for (const e of r.envs) blocks.push(`| ${cell(e.env)}${e.note === 'base-missing' ? ' (new)' : e.note === 'head-missing' ? ' (removed)' : ''} | ${e.added} | ${e.removed} | ${e.changed} | ${e.risks.length} |\n`);
  blocks.push('\n');
  for (const e of r.envs) {
    if (e.objects.length === 0) continue;
    blocks.push(`#### ${cell(e.env)}: ${envCounts(e)}\n\n`);
    if (e.flows) {
      blocks.push(`**Who can talk to whom** (${e.flows.added.length} flows added, ${e.flows.removed.length} removed):\n\n\`\`\`diff\n${[...e.flows.added.map((f) => `+ ${f}`), ...e.flows.removed.map((f) => `- ${f}`)].join('\n').replace(/```/g, '`\u200b``')}\n\`\`\`\n\n`);
    }
    for (const x of e.summaries ?? []) blocks.push(`- ${x.op === 'added' ? '➕' : '➖'} ${cell(summaryText(x))}\n`);
    if (e.summaries?.length) blocks.push('\n');
    const hidden = summarised(e);
    const listed = e.objects.filter((o) => !hidden(o));
    if (listed.length === 0) continue;
    blocks.push('|  | object | fields | risk flags |\n|---|---|--:|---|\n');
    for (const o of listed) {
      blocks.push(`| ${OP_MARK[o.op]} | ${code(o.id)} | ${o.op === 'changed' ? o.changes.length : o.op} | ${o.risks.map(code).join(' ')} |\n`);
    }
    blocks.push('\n');
    for (const o of listed) {
      const summary = `${OP_MARK[o.op]} <code>${html(o.id)}</code> ${o.op === 'changed' ? plural(o.changes.length, 'field') : o.op}${o.risks.length ? ` ⚠️ ${o.risks.join(', ')}` : ''}`;
      let body: string;
      if (o.op === 'changed') {
        const shown = o.changes.slice(0, MARKDOWN_MAX_ROWS);
        const more = o.changes.length - shown.length;
        body = `| field | old | new |\n|---|---|---|\n${shown
          .map((c) => {
            const old = c.op === 'added' ? '' : `${code(formatValue(c.old, 400))}${c.defaulted === 'old' ? ' (default)' : ''}`;
            const neu = c.op === 'removed' ? '' : `${code(formatValue(c.new, 400))}${c.defaulted === 'new' ? ' (default)' : ''}`;
            return `| ${code(c.path)} | ${old} | ${neu} |`;
          })
          .join('\n')}\n${more > 0 ? `| … ${plural(more, 'more field')} (run \`${cell(command)}\`) | | |\n` : ''}`;
      } else body = `\`\`\`yaml\n${objectYaml(o.object!, 8_000).replace(/```/g, '`\u200b``')}\n\`\`\`\n`;
      blocks.push(`<details><summary>${summary}</summary>\n\n${body}\n</details>\n\n`);
    }
  }
  let out = `${head.join('\n')}\n`;
  const note = (n: number) => `\n\n> **Truncated**: ${plural(n, 'more part')} of this diff did not fit in a pull-request comment. Run \`${command}\` for all of it.\n`;
  const reserve = note(blocks.length).length;
  let i = 0;
  for (; i < blocks.length; i++) {
    if (out.length + blocks[i]!.length + reserve > max) break;
    out += blocks[i];
  }
  if (i < blocks.length) return `${out.replace(/\n+$/, '')}${note(blocks.length - i)}`;
  return `${out.replace(/\n+$/, '')}\n`;
}

/** Version of the `--format json` document. */
export const JSON_SCHEMA_ID = 'stackbook.io/diff/v1';

/** The `--format json` document (stable: fields documented in the README, sorted as the text output). */
export function toJson(r: DiffReport): unknown {
  return {
    schema: JSON_SCHEMA_ID,
    base: r.base,
    head: r.head,
    changed: hasChanges(r),
    risks: allRisks(r),
    environments: r.envs.map((e) => ({
      env: e.env,
      ...(e.note ? { note: e.note } : {}),
      ...(e.summaries ? { summaries: e.summaries } : {}),
      ...(e.flows ? { flows: e.flows } : {}),
      added: e.added,
      removed: e.removed,
      changed: e.changed,
      objects: e.objects.map((o) => ({
        op: o.op,
        id: o.id,
        ...o.ref,
        risks: o.risks,
        ...(o.op === 'changed' ? { changes: o.changes } : { object: o.object }),
      })),
    })),
  };
}

// Drift check of the real-cluster tier (tools/test-cluster.mjs): does a live object, as the API
// server returns it, hold every field stackbook set, with the value stackbook set?
//
// Only the fields present in the synthesized object are compared (the server adds status,
// metadata.uid, defaults, ...). The only normalisations are documented API-server
// canonicalisations of built-in kinds, whose fields are Go types (custom resources are stored as
// the JSON they were given, so they are compared exactly):
//   - resource.Quantity fields are serialised in canonical form (`0.5` -> `500m`, `1024Mi` -> `1Gi`,
//     `1000m` -> `1`): compared by numeric value at quantity paths (see isQuantityPath);
//   - `omitempty` drops empty lists and maps and the server never stores null: an expected `[]`,
//     `{}` or `null` matches an absent live field (but not a present, non-empty one).
// IntOrString keeps its JSON type (8080 stays a number, "http" a string), so it needs no rule.
// Deliberately NOT normalised: a zero scalar (`false`, `0`, `""`) the server drops from a
// non-pointer `omitempty` field (e.g. `volumeMounts[].readOnly: false`). Such a field is noise
// that GitOps and Pulumi diffs trip over; the component should not set it.
// Lists are compared element by element: by `name` when every expected element is an object with
// a distinct string `name` (containers, env, ports, volumes, ...), otherwise by position; a live
// list with other elements or another length is a mismatch.

/** @typedef {Array<string | number>} Path */
/** @typedef {{ path: string, expected: unknown, live: unknown }} Mismatch */
/** @typedef {{ compared: number, mismatches: Mismatch[] }} DriftResult */

// The one quantity parser is the package's (kube/quantity.ts), compiled by `npm run build` (which
// `npm ci` runs as `prepare`): parseQuantity reads the API server's full grammar as an exact fraction.
import { sameQuantity } from '../../build/kube/quantity.js';

export { parseQuantity, sameQuantity } from '../../build/kube/quantity.js';

/**
 * Field paths of built-in kinds that are resource.Quantity: container/PVC/overhead
 * `requests`/`limits`, ResourceQuota `hard`, LimitRange `max|min|default|defaultRequest|
 * maxLimitRequestRatio`, emptyDir `sizeLimit`, HPA metric `target.value|averageValue`.
 * @param {Path} path
 */
export function isQuantityPath(path) {
  const parent = path.length >= 2 ? path[path.length - 2] : undefined;
  const last = path[path.length - 1];
  if (['requests', 'limits', 'hard', 'overhead'].includes(String(parent))) return true;
  if (['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'].includes(String(parent)) && path.includes('limits')) return true;
  if (last === 'sizeLimit') return true;
  return parent === 'target' && (last === 'value' || last === 'averageValue');
}

/** @param {string} apiVersion @returns {boolean} a built-in API group (Go types on the server) */
export function isBuiltinApiVersion(apiVersion) {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
  if (group === '') return true;
  if (['apps', 'batch', 'autoscaling', 'policy'].includes(group)) return true;
  return group.endsWith('.k8s.io') && group !== 'apiextensions.k8s.io';
}

/** @param {Path} path */
export function formatPath(path) {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (p.startsWith('[')) s += p;
    else s += s === '' ? p : `.${p}`;
  }
  return s || '(root)';
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isEmpty = (v) => v === null || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);

/**
 * Compares the fields of `expected` (a synthesized object) with `live` (the API server's copy).
 * @param {Record<string, unknown>} expected
 * @param {Record<string, unknown> | undefined} live
 * @returns {DriftResult}
 */
export function compareObject(expected, live) {
  /** @type {DriftResult} */
  const result = { compared: 0, mismatches: [] };
  if (live === undefined) {
    result.mismatches.push({ path: '(object)', expected: 'present', live: 'missing' });
    return result;
  }
  const builtin = isBuiltinApiVersion(String(expected.apiVersion ?? ''));
  walk(expected, live, [], builtin, result);
  return result;
}

/**
 * @param {unknown} exp @param {unknown} live @param {Path} path @param {boolean} builtin
 * @param {DriftResult} out
 */
function walk(exp, live, path, builtin, out) {
  const miss = (e, l) => out.mismatches.push({ path: formatPath(path), expected: e, live: l });
  if (live === undefined) {
    out.compared++;
    if (!(builtin && isEmpty(exp))) miss(exp, undefined);
    return;
  }
  if (isObject(exp)) {
    if (!isObject(live)) {
      out.compared++;
      miss(exp, live);
      return;
    }
    if (Object.keys(exp).length === 0) out.compared++;
    for (const k of Object.keys(exp).sort()) walk(exp[k], live[k], [...path, k], builtin, out);
    return;
  }
  if (Array.isArray(exp)) {
    if (!Array.isArray(live)) {
      out.compared++;
      miss(exp, live);
      return;
    }
    const names = exp.map((e) => (isObject(e) && typeof e.name === 'string' ? e.name : undefined));
    const byName = exp.length > 0 && names.every((n) => n !== undefined) && new Set(names).size === names.length;
    if (byName) {
      const liveNames = live.map((e) => (isObject(e) && typeof e.name === 'string' ? e.name : undefined));
      const extra = liveNames.filter((n) => !names.includes(n));
      if (extra.length > 0) {
        out.compared++;
        miss(`only ${JSON.stringify(names)}`, `also ${JSON.stringify(extra)}`);
      }
      exp.forEach((e, i) => {
        const j = liveNames.indexOf(names[i]);
        walk(e, j < 0 ? undefined : live[j], [...path, `[name=${names[i]}]`], builtin, out);
      });
      return;
    }
    if (exp.length !== live.length) {
      out.compared++;
      miss(`${exp.length} elements ${JSON.stringify(exp)}`, `${live.length} elements ${JSON.stringify(live)}`);
      return;
    }
    if (exp.length === 0) out.compared++;
    exp.forEach((e, i) => walk(e, live[i], [...path, i], builtin, out));
    return;
  }
  out.compared++;
  if (exp === live) return;
  if (exp === null && builtin) return miss(exp, live);
  if (builtin && isQuantityPath(path) && sameQuantity(exp, live)) return;
  miss(exp, live);
}

/**
 * Identity of an object for matching synthesized and live copies.
 * @param {{ apiVersion?: unknown, kind?: unknown, metadata?: { namespace?: unknown, name?: unknown } }} o
 */
export function objectKey(o) {
  const group = String(o.apiVersion ?? '').includes('/') ? String(o.apiVersion).split('/')[0] : '';
  const ns = o.metadata?.namespace ? `${o.metadata.namespace}/` : '';
  return `${o.kind}${group ? `.${group}` : ''}/${ns}${o.metadata?.name}`;
}

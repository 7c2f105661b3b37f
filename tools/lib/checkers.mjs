// Independent manifest checkers of the real-cluster tier (kube-score, kube-linter): their output
// as findings, and the committed exceptions file (tools/checker-exceptions.yaml) applied to them.
// Pure functions; tools/test-cluster.mjs runs the binaries.

/** @typedef {{ checker: string, test: string, object: string, message: string }} Finding */
/**
 * @typedef {{ checker: string, test: string, object: string, reason: string, stacks?: string[] }} CheckerException
 * `object` is `Kind/namespace/name`, `Kind/name` (cluster-scoped) or `*`; within a segment `*`
 * matches any characters except a slash (e.g. `Job/aion/mongo-ttl-*`, or any namespace's
 * redis-node StatefulSet with a star as the namespace segment); `stacks`
 * limits the exception to those stacks (default: every stack).
 */

export const CHECKERS = ['kube-score', 'kube-linter'];
const MIN_REASON = 30;

/**
 * Validates the parsed exceptions file: `{ exceptions: CheckerException[] }`.
 * @param {unknown} doc
 * @returns {CheckerException[]}
 * @throws Error naming the entry, the field and the value
 */
export function parseExceptions(doc) {
  const list = doc && typeof doc === 'object' && 'exceptions' in doc ? /** @type {any} */ (doc).exceptions : undefined;
  if (!Array.isArray(list)) throw new Error(`exceptions file: top-level "exceptions" must be a list, got ${JSON.stringify(list)}`);
  return list.map((e, i) => {
    const at = `exceptions[${i}]`;
    if (!e || typeof e !== 'object') throw new Error(`${at}: must be a mapping, got ${JSON.stringify(e)}`);
    const known = ['checker', 'test', 'object', 'reason', 'stacks'];
    for (const k of Object.keys(e)) if (!known.includes(k)) throw new Error(`${at}: unknown field "${k}"`);
    if (!CHECKERS.includes(e.checker)) throw new Error(`${at}.checker: must be one of ${CHECKERS.join(', ')}, got ${JSON.stringify(e.checker)}`);
    if (typeof e.test !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(e.test)) throw new Error(`${at}.test: must be a check id, got ${JSON.stringify(e.test)}`);
    if (typeof e.object !== 'string' || !(e.object === '*' || /^[A-Za-z]+\/[^/\s]+(\/[^/\s]+)?$/.test(e.object))) {
      throw new Error(`${at}.object: must be Kind/namespace/name, Kind/name or *, got ${JSON.stringify(e.object)}`);
    }
    if (typeof e.reason !== 'string' || e.reason.trim().length < MIN_REASON) {
      throw new Error(`${at}.reason: must explain the exception (at least ${MIN_REASON} characters), got ${JSON.stringify(e.reason)}`);
    }
    if (e.stacks !== undefined && !(Array.isArray(e.stacks) && e.stacks.length > 0 && e.stacks.every((s) => typeof s === 'string'))) {
      throw new Error(`${at}.stacks: must be a non-empty list of stack names, got ${JSON.stringify(e.stacks)}`);
    }
    return { checker: e.checker, test: e.test, object: e.object, reason: e.reason.trim(), ...(e.stacks ? { stacks: [...e.stacks] } : {}) };
  });
}

/**
 * Whether an exception's `object` pattern covers a finding's object: `*` alone covers every object;
 * otherwise the same number of segments, `*` within a segment matching anything but `/`.
 * @param {string} pattern
 * @param {string} object
 */
export function objectMatches(pattern, object) {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === object;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
  return re.test(object);
}

/** @param {string} kind @param {string | undefined} namespace @param {string} name */
export function objectId(kind, namespace, name) {
  return namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`;
}

/**
 * kube-score `score -o json` (output version v2) -> findings: every check that is not skipped and
 * not graded 10 (ALL OK), one finding per comment (or one per check without comments).
 * @param {string} json
 * @returns {Finding[]}
 */
export function kubeScoreFindings(json) {
  const out = [];
  for (const obj of JSON.parse(json)) {
    const id = objectId(obj.type_meta?.kind, obj.object_meta?.namespace, obj.object_meta?.name);
    for (const c of obj.checks ?? []) {
      if (c.skipped || c.grade >= 10) continue;
      const comments = c.comments?.length ? c.comments : [{ summary: c.check?.name ?? '' }];
      for (const m of comments) {
        out.push({ checker: 'kube-score', test: c.check.id, object: id, message: `${m.path ? `(${m.path}) ` : ''}${m.summary}` });
      }
    }
  }
  return sortFindings(out);
}

/**
 * kube-linter `lint --format json` -> findings.
 * @param {string} json
 * @returns {Finding[]}
 */
export function kubeLinterFindings(json) {
  const out = [];
  for (const r of JSON.parse(json).Reports ?? []) {
    const o = r.Object?.K8sObject ?? {};
    out.push({
      checker: 'kube-linter',
      test: r.Check,
      object: objectId(o.GroupVersionKind?.Kind, o.Namespace, o.Name),
      message: r.Diagnostic?.Message ?? '',
    });
  }
  return sortFindings(out);
}

/** @param {Finding[]} f */
function sortFindings(f) {
  const key = (x) => `${x.checker}\u0000${x.object}\u0000${x.test}\u0000${x.message}`;
  return f.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * @param {Finding[]} findings
 * @param {CheckerException[]} exceptions
 * @param {string} stack
 * @returns {{ open: Finding[], excepted: Array<Finding & { reason: string }>, used: Set<number> }}
 *   `used`: indexes of the exceptions that matched a finding
 */
export function applyExceptions(findings, exceptions, stack) {
  const open = [];
  const excepted = [];
  const used = new Set();
  for (const f of findings) {
    const i = exceptions.findIndex(
      (e) => e.checker === f.checker && e.test === f.test && objectMatches(e.object, f.object) && (!e.stacks || e.stacks.includes(stack)),
    );
    if (i < 0) open.push(f);
    else {
      used.add(i);
      excepted.push({ ...f, reason: exceptions[i].reason });
    }
  }
  return { open, excepted, used };
}

/**
 * The exceptions a run leaves stale: those that could have applied in it (their `stacks`, default
 * all, include a stack of the run; a kube-linter one only when kube-linter ran) and matched no finding.
 * @param {CheckerException[]} exceptions
 * @param {Set<number>} used indexes into `exceptions` that matched a finding in some stack of the run
 * @param {string[]} stacks the stacks of the run
 * @param {{ linterRan: boolean }} opts
 * @returns {CheckerException[]}
 */
export function staleExceptions(exceptions, used, stacks, { linterRan }) {
  return exceptions.filter(
    (e, i) => (!e.stacks || e.stacks.some((s) => stacks.includes(s))) && (e.checker === 'kube-score' || linterRan) && !used.has(i),
  );
}

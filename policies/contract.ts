/**
 * `app-contract`: every object that names an application contract (`stackbook.io/contract`)
 * matches what the application's upstream code reads and exposes (services/contract.ts).
 * Pure over rendered manifests plus the contract registry, like every other rule.
 */
import type { AppContract, WorkloadContract } from '../services/contract.js';
import { CONTRACT_ANNOTATION } from '../kube/annotations.js';
import { podSpecOf, type Obj, type Rule } from './model.js';

type AnyRec = Record<string, any>;
type Finding = { object: Obj; message: string; fix: string };

/** Labels Prometheus or the exporter adds to every series: allowed in any matcher. */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'service', 'container', 'endpoint', '__name__']);
// aggregation operators may be followed by `by (...)` before their `(`: never metric names
const KEYWORDS = new Set(['sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group', 'limitk', 'limit_ratio', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export interface MetricUse {
  readonly name: string;
  /** Label names used in this selector's matchers. */
  readonly labels: readonly string[];
}

/**
 * The metric selectors of a PromQL expression: names (not functions, keywords, grouping labels or
 * durations) with the label names their matchers use. A small scanner, not a full parser: enough
 * for the rules and queries stackbook renders.
 */
export function metricsOf(expr: string): MetricUse[] {
  const out: MetricUse[] = [];
  const s = expr;
  let i = 0;
  const skipString = (q: string) => {
    i++;
    while (i < s.length && s[i] !== q) i += s[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipTo = (open: string, close: string) => {
    let depth = 0;
    while (i < s.length) {
      const ch = s[i]!;
      if (ch === '"' || ch === "'" || ch === '`') {
        skipString(ch);
        continue;
      }
      if (ch === open) depth++;
      if (ch === close && --depth === 0) {
        i++;
        return;
      }
      i++;
    }
  };
  const matcherLabels = (start: number, end: number): string[] => {
    const body = s.slice(start + 1, end - 1).replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
    return [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((m) => m[1]!);
  };
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '"' || ch === "'" || ch === '`') {
      skipString(ch);
      continue;
    }
    if (ch === '[') {
      skipTo('[', ']');
      continue;
    }
    if (ch === '{') {
      // a selector without a metric name ({__name__=...}): not a named metric
      skipTo('{', '}');
      continue;
    }
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(s.slice(i));
    if (!m || (i > 0 && /[0-9.]/.test(s[i - 1]!))) {
      i++;
      continue;
    }
    const word = m[0];
    i += word.length;
    let j = i;
    while (j < s.length && /\s/.test(s[j]!)) j++;
    const next = s[j];
    if (GROUPING.has(word) && next === '(') {
      i = j;
      skipTo('(', ')');
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase()) || next === '(') continue;
    let labels: string[] = [];
    if (next === '{') {
      i = j;
      const start = i;
      skipTo('{', '}');
      labels = matcherLabels(start, i);
    }
    out.push({ name: word, labels });
  }
  return out;
}

/** The series names a metric family is exposed under, by the client library's naming. */
export function exposedNames(family: string, type: string, naming: 'python' | 'exact'): string[] {
  switch (type) {
    case 'counter':
      if (naming === 'python') {
        const base = family.replace(/_total$/, '');
        return [`${base}_total`, `${base}_created`];
      }
      return [family];
    case 'histogram':
      return [`${family}_bucket`, `${family}_sum`, `${family}_count`, ...(naming === 'python' ? [`${family}_created`] : [])];
    case 'summary':
      return [family, `${family}_sum`, `${family}_count`, ...(naming === 'python' ? [`${family}_created`] : [])];
    default:
      return [family];
  }
}

/** The expressions an object evaluates against the app's metrics, with where each comes from. */
export function expressionsOf(o: Obj): Array<{ where: string; expr: string }> {
  const spec = o.spec as AnyRec | undefined;
  if (o.kind === 'PrometheusRule') {
    return (spec?.groups ?? []).flatMap((g: AnyRec) =>
      (g.rules ?? []).map((r: AnyRec) => ({ where: r.alert ? `alert ${r.alert}` : `record ${r.record}`, expr: String(r.expr) })),
    );
  }
  if (o.kind === 'ScaledObject') {
    return (spec?.triggers ?? [])
      .filter((t: AnyRec) => t.type === 'prometheus' && t.metadata?.query)
      .map((t: AnyRec, n: number) => ({ where: `trigger ${t.name ?? n}`, expr: String(t.metadata.query) }));
  }
  if (o.kind === 'ConfigMap') {
    // Grafana dashboards: every panel target's expr
    const out: Array<{ where: string; expr: string }> = [];
    for (const [key, text] of Object.entries((o as AnyRec).data ?? {})) {
      if (!key.endsWith('.json')) continue;
      const walk = (v: unknown, title: string): void => {
        if (Array.isArray(v)) v.forEach((x) => walk(x, title));
        else if (v && typeof v === 'object') {
          const r = v as AnyRec;
          const t = typeof r.title === 'string' ? r.title : title;
          if (typeof r.expr === 'string') out.push({ where: `${key} panel "${t}"`, expr: r.expr });
          for (const x of Object.values(r)) walk(x, t);
        }
      };
      try {
        walk(JSON.parse(String(text)), key);
      } catch {
        /* not JSON: not a dashboard */
      }
    }
    return out;
  }
  return [];
}

function naming(c: AppContract): 'python' | 'exact' {
  return c.metricNaming ?? 'python';
}

/** Metric problems of one expression against a contract. */
export function metricProblems(c: AppContract, expr: string): string[] {
  const byExposed = new Map<string, { family: string; labels: readonly string[]; type: string; buckets?: readonly number[] }>();
  for (const [family, m] of Object.entries(c.metrics)) {
    for (const n of exposedNames(family, m.type, naming(c))) byExposed.set(n, { family, labels: m.labels, type: m.type, ...(m.buckets ? { buckets: m.buckets } : {}) });
  }
  const problems: string[] = [];
  for (const use of metricsOf(expr)) {
    const hit = byExposed.get(use.name);
    if (!hit) {
      const missing = c.missingMetrics?.[use.name];
      problems.push(
        `uses metric ${use.name}, which ${c.upstream.repo}@${c.upstream.commit.slice(0, 7)} does not expose` +
          (missing ? ` (app change needed: ${missing.appChange})` : ''),
      );
      continue;
    }
    const extra = hit.type === 'histogram' && use.name.endsWith('_bucket') ? ['le'] : hit.type === 'summary' ? ['quantile'] : [];
    for (const l of use.labels) {
      if (!hit.labels.includes(l) && !TARGET_LABELS.has(l) && !extra.includes(l)) {
        problems.push(`filters ${use.name} on label "${l}", which the app does not set (labels: ${[...hit.labels, ...extra].join(', ') || 'none'})`);
      }
    }
    if (hit.buckets && use.name.endsWith('_bucket')) {
      const top = Math.max(...hit.buckets.filter((b) => Number.isFinite(b)));
      const cmp = /histogram_quantile[\s\S]*\)\s*>=?\s*([0-9.eE+-]+)\s*$/.exec(expr);
      if (cmp && Number(cmp[1]) >= top) {
        problems.push(`compares a quantile of ${hit.family} with ${cmp[1]}, at or above its top finite bucket (${top}): histogram_quantile never returns more, so it can never fire`);
      }
    }
  }
  return problems;
}

function containerOf(pod: AnyRec, workload: string): AnyRec | undefined {
  const cs: AnyRec[] = pod.containers ?? [];
  return cs.find((c) => c.name === workload) ?? cs[0];
}

/** Problems of one workload's pod template against its contract. */
export function workloadProblems(c: AppContract, name: string, w: WorkloadContract, pod: AnyRec, objects: readonly Obj[], namespace: string | undefined): string[] {
  const out: string[] = [];
  const at = `${c.upstream.repo}@${c.upstream.commit.slice(0, 7)}`;
  const ctr = containerOf(pod, name);
  if (!ctr) return [`has no container for contract workload ${name}`];
  // env: literal, valueFrom and every key of envFrom ConfigMaps
  const set = new Set<string>((ctr.env ?? []).map((e: AnyRec) => String(e.name)));
  for (const src of ctr.envFrom ?? []) {
    const cmName = src.configMapRef?.name;
    if (!cmName) continue;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === cmName && o.metadata.namespace === namespace);
    for (const k of Object.keys(((cm as AnyRec | undefined)?.data as AnyRec) ?? {})) set.add(`${src.prefix ?? ''}${k}`);
  }
  for (const k of [...set].sort()) {
    const e = w.env?.[k];
    if (!e) out.push(`sets env ${k}, which ${at} never reads`);
  }
  for (const [k, e] of Object.entries(w.env ?? {})) {
    if (e.required && !set.has(k)) out.push(`does not set env ${k}, which ${at} requires (${e.meaning})`);
  }
  // command and flags
  if (w.command) {
    const argv: string[] = [...(ctr.command ?? []), ...(ctr.args ?? [])];
    if (ctr.command && !w.command.entrypoints.includes(String(ctr.command[0]))) {
      out.push(`runs ${JSON.stringify(ctr.command[0])}, not an entrypoint of ${at} (${w.command.entrypoints.join(', ')})`);
    }
    for (const a of argv) {
      if (!/^--?[A-Za-z]/.test(a)) continue;
      const flag = a.split('=')[0]!;
      if (!w.command.flags?.[flag]) out.push(`passes ${flag}, a flag ${at} does not accept`);
    }
  }
  // ports
  const contractPorts = new Map(Object.entries(w.ports).map(([n, p]) => [p.port, n]));
  const named = new Map<string, number>();
  for (const p of ctr.ports ?? []) {
    named.set(String(p.name), Number(p.containerPort));
    if (!contractPorts.has(Number(p.containerPort))) out.push(`declares port ${p.containerPort}, on which ${at} does not listen`);
  }
  // probes
  for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
    const h = ctr[kind]?.httpGet;
    if (!h) continue;
    const port = typeof h.port === 'string' ? named.get(h.port) : Number(h.port);
    const entry = (w.probes ?? []).find((p) => p.path === h.path && p.port === port);
    if (!entry) {
      out.push(`${kind} GET ${h.path} on port ${port ?? h.port}: not a health endpoint of ${at} (${(w.probes ?? []).map((p) => `${p.path}:${p.port}`).join(', ') || 'none'})`);
      continue;
    }
    if (entry.hostHeader && !(h.httpHeaders ?? []).some((x: AnyRec) => String(x.name).toLowerCase() === 'host')) {
      out.push(`${kind} sends the pod IP as Host, but ${at} answers 200 only for ${entry.hostHeader}: set httpHeaders Host`);
    }
  }
  // config files and writable paths
  const mounts: AnyRec[] = ctr.volumeMounts ?? [];
  const volumes = new Map<string, AnyRec>((pod.volumes ?? []).map((v: AnyRec) => [String(v.name), v]));
  const covering = (path: string) =>
    mounts.filter((m) => path === m.mountPath || path.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  for (const f of w.files ?? []) {
    if (f.required && !covering(f.path)) out.push(`does not provide ${f.path} (${f.format}), which ${at} requires`);
  }
  const readOnlyRoot = ctr.securityContext?.readOnlyRootFilesystem === true;
  for (const p of w.writablePaths ?? []) {
    const m = covering(p.path);
    const v = m ? volumes.get(String(m.name)) : undefined;
    const writable = m && !m.readOnly && v && (v.emptyDir || v.persistentVolumeClaim || v.ephemeral);
    if (readOnlyRoot && !writable) out.push(`the app writes ${p.path} (${p.why}), but nothing writable is mounted there (read-only root FS)`);
  }
  if (w.uid) {
    const uid = ctr.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
    if (uid !== undefined && uid !== w.uid.value) out.push(`runs as UID ${uid}, but ${at} expects ${w.uid.value}`);
  }
  return out;
}

/** The rule over a contract registry. */
export function appContractRule(contracts: Readonly<Record<string, AppContract>>): Rule {
  return {
    id: 'app-contract',
    description: 'Workloads, alerts, scalers and dashboards match what the application upstream reads and exposes (services/*.contract.ts).',
    enforcement: 'mandatory',
    check(objects) {
      const out: Finding[] = [];
      for (const o of objects) {
        const ref = o.metadata.annotations?.[CONTRACT_ANNOTATION];
        if (!ref) continue;
        const [svc, workload] = ref.split('/');
        const c = contracts[svc ?? ''];
        if (!c) {
          out.push({ object: o, message: `names contract "${ref}", but no contract exists for ${svc}`, fix: `add services/${svc}.contract.ts and register it in services/contracts.ts` });
          continue;
        }
        const fix = `read ${c.upstream.repo} at ${c.upstream.commit.slice(0, 7)} and correct the service or services/${svc}.contract.ts (cite the line)`;
        if (workload !== undefined) {
          const w = c.workloads[workload];
          const pod = podSpecOf(o);
          if (!w || !pod) {
            out.push({ object: o, message: `names contract workload "${ref}", which services/${svc}.contract.ts does not define`, fix });
            continue;
          }
          for (const message of workloadProblems(c, workload, w, pod, objects, o.metadata.namespace)) out.push({ object: o, message, fix });
          continue;
        }
        for (const { where, expr } of expressionsOf(o)) {
          for (const p of metricProblems(c, expr)) out.push({ object: o, message: `${where} ${p}`, fix: `alert only on metrics the app exposes; ${fix}` });
        }
      }
      return out;
    },
  };
}

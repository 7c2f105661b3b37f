/**
 * Failure budget (issue 7): for every long-running workload of every stack, what it keeps when
 * a node drains, a zone fails or a rollout runs — replicas or HPA range, PodDisruptionBudget,
 * spread, termination grace — read off the rendered objects (never hand-written), and the
 * failure-tolerance properties it misses (`toleranceProblems`). Generic over whatever the stacks
 * render: new services are covered without a change here.
 *
 * `npx stackbook report failure-budget` prints the table; `--write-readme` writes it into README.md
 * between the markers below (a test keeps that block equal to the generated table).
 */
import type { Manifest, Rendered } from '../synth/render.js';

type AnyRec = Record<string, any>;

export const README_START = '<!-- failure-budget:start -->';
export const README_END = '<!-- failure-budget:end -->';

const LONG_RUNNING = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
export const ZONE_KEY = 'topology.kubernetes.io/zone';
export const NODE_KEY = 'kubernetes.io/hostname';
const DEFAULT_GRACE = 30;

const podSpec = (w: Manifest): AnyRec => (w.spec as AnyRec | undefined)?.template?.spec ?? {};
const podLabels = (w: Manifest): Record<string, string> => (w.spec as AnyRec | undefined)?.template?.metadata?.labels ?? {};
const sameNs = (a: Manifest, b: Manifest) => (a.metadata.namespace ?? '') === (b.metadata.namespace ?? '');

/** A label selector (matchLabels and matchExpressions) against a label set; an empty/absent selector selects nothing. */
export function selects(selector: AnyRec | undefined, labels: Record<string, string>): boolean {
  if (!selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0)) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const ok =
      e.operator === 'In' ? has && e.values.includes(labels[e.key]) :
      e.operator === 'NotIn' ? !has || !e.values.includes(labels[e.key]) :
      e.operator === 'Exists' ? has : !has;
    if (!ok) return false;
  }
  return true;
}

export interface WorkloadView {
  readonly workload: Manifest;
  /** The HorizontalPodAutoscaler, or the KEDA ScaledObject, that scales it. */
  readonly hpa?: Manifest;
  readonly pdb?: Manifest;
  /** Fewest replicas it runs with: the HPA minimum, else `spec.replicas` (default 1); DaemonSets: undefined. */
  readonly minReplicas?: number;
  readonly maxReplicas?: number;
}

/** Every long-running workload with its HPA and PDB. */
export function workloadsOf(objects: readonly Manifest[]): WorkloadView[] {
  return objects
    .filter((o) => LONG_RUNNING.has(o.kind))
    .map((w) => {
      const hpa = objects.find((h) => h.kind === 'HorizontalPodAutoscaler' && sameNs(h, w) && (h.spec as AnyRec)?.scaleTargetRef?.kind === w.kind && (h.spec as AnyRec)?.scaleTargetRef?.name === w.metadata.name);
      // KEDA: a ScaledObject drives its own HPA; its scaleTargetRef kind defaults to Deployment.
      const scaled = objects.find(
        (h) => h.kind === 'ScaledObject' && sameNs(h, w) && ((h.spec as AnyRec)?.scaleTargetRef?.kind ?? 'Deployment') === w.kind && (h.spec as AnyRec)?.scaleTargetRef?.name === w.metadata.name,
      );
      const pdb = objects.find((p) => p.kind === 'PodDisruptionBudget' && sameNs(p, w) && selects((p.spec as AnyRec)?.selector, podLabels(w)));
      if (w.kind === 'DaemonSet') return { workload: w, ...(pdb ? { pdb } : {}) };
      const spec = hpa?.spec as AnyRec | undefined;
      const keda = scaled?.spec as AnyRec | undefined;
      const fixed: number = (w.spec as AnyRec)?.replicas ?? 1;
      return {
        workload: w,
        ...(hpa ? { hpa } : scaled ? { hpa: scaled } : {}),
        ...(pdb ? { pdb } : {}),
        minReplicas: spec ? (spec.minReplicas ?? 1) : keda ? (keda.minReplicaCount ?? 0) : fixed,
        maxReplicas: spec ? spec.maxReplicas : keda ? (keda.maxReplicaCount ?? 100) : fixed,
      };
    });
}

/** Seconds of the first container's `preStop` sleep (the `sleep` action, or `exec: sleep N`); 0 without one. */
export function preStopSeconds(w: Manifest): number {
  let longest = 0;
  for (const c of podSpec(w).containers ?? []) {
    const p = c.lifecycle?.preStop;
    const s = p?.sleep?.seconds ?? Number(/\bsleep\s+(\d+)/.exec((p?.exec?.command ?? []).join(' '))?.[1] ?? 0);
    longest = Math.max(longest, Number(s) || 0);
  }
  return longest;
}

const grace = (w: Manifest): number => podSpec(w).terminationGracePeriodSeconds ?? DEFAULT_GRACE;

/** Pods a PDB lets go at once for a workload of `n` replicas (Kubernetes rounds percentages: maxUnavailable up, minAvailable up). */
export function disruptionsAllowed(pdb: Manifest, n: number): number {
  const s = pdb.spec as AnyRec;
  const pct = (v: string, up: boolean) => (up ? Math.ceil : Math.floor)((Number(v.replace('%', '')) / 100) * n);
  if (s.maxUnavailable !== undefined) return typeof s.maxUnavailable === 'string' ? pct(s.maxUnavailable, true) : s.maxUnavailable;
  if (s.minAvailable !== undefined) return n - (typeof s.minAvailable === 'string' ? pct(s.minAvailable, true) : s.minAvailable);
  return n;
}

/** The majority of `n` members: what a stateful quorum needs up. */
export const quorum = (n: number): number => Math.floor(n / 2) + 1;

const intOrPct = (v: unknown, n: number): number => (typeof v === 'string' ? Math.ceil((Number(v.replace('%', '')) / 100) * n) : Number(v ?? 0));

/**
 * Failure-tolerance properties a workload that runs more than one replica misses (empty: none).
 * Stateful sets must keep quorum; a rollout must not go below capacity, or below what the PDB allows.
 */
export function toleranceProblems(objects: readonly Manifest[], v: WorkloadView): string[] {
  const w = v.workload;
  const out: string[] = [];
  const n = v.minReplicas ?? 2;
  if (v.minReplicas !== undefined && n <= 1) return out;
  // PodDisruptionBudget: exists, lets drains through, keeps quorum for stateful sets.
  if (!v.pdb) out.push('no PodDisruptionBudget selects its pods');
  else {
    const allowed = disruptionsAllowed(v.pdb, n);
    if (allowed < 1) out.push(`PDB ${v.pdb.metadata.name} allows no disruption at ${n} replicas: node drains block`);
    if (w.kind === 'StatefulSet' && n - allowed < quorum(n)) out.push(`PDB ${v.pdb.metadata.name} lets ${allowed} of ${n} go: below quorum (${quorum(n)})`);
    if (w.kind !== 'StatefulSet' && allowed >= n) out.push(`PDB ${v.pdb.metadata.name} lets all ${n} replicas go at once`);
  }
  // Spread over zones and nodes, selecting its own pods.
  const tsc: AnyRec[] = podSpec(w).topologySpreadConstraints ?? [];
  for (const [key, what] of [[ZONE_KEY, 'zones'], [NODE_KEY, 'nodes']] as const) {
    if (!tsc.some((t) => t.topologyKey === key && selects(t.labelSelector, podLabels(w)))) out.push(`no topologySpreadConstraint over ${what} (${key}) selecting its pods`);
  }
  // Rollouts keep capacity.
  const spec = w.spec as AnyRec;
  const budget = v.pdb ? disruptionsAllowed(v.pdb, n) : 0;
  if (w.kind === 'Deployment') {
    const strategy = spec.strategy ?? { type: 'RollingUpdate' };
    if (strategy.type === 'Recreate') out.push('Recreate strategy: every replica goes down during a rollout');
    else {
      const mu = intOrPct(strategy.rollingUpdate?.maxUnavailable ?? '25%', n);
      if (mu > 0 && mu > budget) out.push(`rolling update maxUnavailable ${mu} exceeds what the PDB allows (${budget})`);
    }
  } else if (w.kind === 'StatefulSet') {
    const us = spec.updateStrategy ?? { type: 'RollingUpdate' };
    if (us.type === 'OnDelete') out.push('OnDelete update strategy: rollouts are manual and unbounded');
    const mu = intOrPct(us.rollingUpdate?.maxUnavailable ?? 1, n);
    if (mu > Math.max(budget, 1)) out.push(`rolling update maxUnavailable ${mu} exceeds what the PDB allows (${budget})`);
  }
  // SIGTERM: the preStop sleep ends before the grace period does.
  if (grace(w) <= preStopSeconds(w)) out.push(`terminationGracePeriodSeconds ${grace(w)} ≤ preStop sleep ${preStopSeconds(w)}s: SIGKILL before SIGTERM is handled`);
  // Distinct liveness and readiness probes.
  for (const c of podSpec(w).containers ?? []) {
    if (!c.livenessProbe || !c.readinessProbe) out.push(`container ${c.name} lacks a ${c.livenessProbe ? 'readiness' : 'liveness'} probe`);
    else if (JSON.stringify(c.livenessProbe) === JSON.stringify(c.readinessProbe)) out.push(`container ${c.name} has identical liveness and readiness probes`);
  }
  return out;
}

/** Redis-compatible stores (images), for the production HA rule. */
export const REDIS_IMAGE = /(^|\/)(redis|valkey|keydb)[^/]*(:|@|$)/;

/** Production: a Redis (e.g. the AION gateway's fail-closed rate limiter) runs more than one replica. */
export function redisHaProblems(objects: readonly Manifest[]): string[] {
  return workloadsOf(objects)
    .filter((v) => (podSpec(v.workload).containers ?? []).some((c: AnyRec) => REDIS_IMAGE.test(String(c.image))))
    .filter((v) => v.minReplicas !== undefined && v.minReplicas < 2)
    .map((v) => `${v.workload.kind} ${v.workload.metadata.namespace}/${v.workload.metadata.name}: Redis with ${v.minReplicas} replica in production (not highly available)`);
}

/** CronJobs that take backups: named `*-backup`, or traced X-6 and not a restore drill. */
export function backupCronJobs(objects: readonly Manifest[]): Manifest[] {
  return objects.filter((o) => {
    if (o.kind !== 'CronJob') return false;
    const x6 = (o.metadata.annotations?.['stackbook.io/concerns'] ?? '').split(',').includes('X-6');
    return /-backup$/.test(o.metadata.name) || (x6 && !/restore|drill/.test(o.metadata.name));
  });
}

const scriptOf = (cj: Manifest): string => {
  const pod = (cj.spec as AnyRec)?.jobTemplate?.spec?.template?.spec ?? {};
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])].map((c: AnyRec) => [...(c.command ?? []), ...(c.args ?? [])].join(' ')).join('\n');
};

/** What a backup CronJob misses: a verify step, a restore drill (CronJob), a staleness alert. */
export function backupProblems(objects: readonly Manifest[], cj: Manifest): string[] {
  const out: string[] = [];
  if (!/sha256sum -c|verif|integrity_check/i.test(scriptOf(cj))) out.push('no verify step (a checksum or restore check of the artefact)');
  const base = cj.metadata.name.replace(/-backup$/, '');
  const drill = objects.find((o) => o.kind === 'CronJob' && sameNs(o, cj) && o !== cj && /restore|drill/.test(o.metadata.name) && o.metadata.name.startsWith(base));
  if (!drill) out.push(`no restore drill CronJob (${base}-restore-drill) in namespace ${cj.metadata.namespace}`);
  const stale = objects.some(
    (o) =>
      o.kind === 'PrometheusRule' &&
      ((o.spec as AnyRec)?.groups ?? []).some((g: AnyRec) =>
        (g.rules ?? []).some((r: AnyRec) => r.alert && String(r.expr).includes('time()') && String(r.expr).includes(`"${cj.metadata.name}"`)),
      ),
  );
  if (!stale) out.push(`no staleness alert (an alert on time() - last success of cronjob="${cj.metadata.name}")`);
  return out;
}

// ----------------------------------------------------------------------------- the table

export interface BudgetRow {
  readonly stack: string;
  readonly namespace: string;
  readonly workload: string;
  readonly kind: string;
  readonly replicas: string;
  readonly pdb: string;
  readonly spread: string;
  readonly grace: string;
  /** `full`, `single replica` or the properties missed. */
  readonly tolerance: string;
}

function pdbText(pdb: Manifest | undefined): string {
  if (!pdb) return 'none';
  const s = pdb.spec as AnyRec;
  return s.maxUnavailable !== undefined ? `maxUnavailable ${s.maxUnavailable}` : s.minAvailable !== undefined ? `minAvailable ${s.minAvailable}` : 'empty';
}

function spreadText(w: Manifest): string {
  const tsc: AnyRec[] = podSpec(w).topologySpreadConstraints ?? [];
  const parts = tsc.map((t) => {
    const where = t.topologyKey === ZONE_KEY ? 'zones' : t.topologyKey === NODE_KEY ? 'nodes' : t.topologyKey;
    return `${where} (${t.whenUnsatisfiable === 'DoNotSchedule' ? 'hard' : 'soft'})`;
  });
  if (podSpec(w).affinity?.podAntiAffinity) parts.push('anti-affinity');
  return parts.join(', ') || 'none';
}

export function budgetRows(stack: string, objects: readonly Manifest[]): BudgetRow[] {
  return workloadsOf(objects).map((v) => {
    const w = v.workload;
    const replicas = w.kind === 'DaemonSet' ? 'one per node' : v.hpa ? `${v.hpa.kind === 'ScaledObject' ? 'KEDA' : 'HPA'} ${v.minReplicas}–${v.maxReplicas}` : String(v.minReplicas);
    const problems = toleranceProblems(objects, v);
    const single = v.minReplicas !== undefined && v.minReplicas <= 1;
    return {
      stack,
      namespace: w.metadata.namespace ?? '',
      workload: w.metadata.name,
      kind: w.kind,
      replicas,
      pdb: pdbText(v.pdb),
      spread: spreadText(w),
      grace: `${grace(w)} s (preStop ${preStopSeconds(w)} s)`,
      tolerance: single ? 'single replica' : problems.length === 0 ? 'full' : problems.join('; '),
    };
  });
}

const HEADER = ['stack', 'namespace', 'workload', 'kind', 'replicas / HPA range', 'PDB', 'spread', 'grace', 'failure tolerance'];

/** The markdown table for rendered stacks (in the order given), deterministic. */
export function failureBudgetTable(stacks: ReadonlyArray<readonly [string, Pick<Rendered, 'objects'>]>): string {
  const rows = stacks.flatMap(([env, r]) => budgetRows(env, r.objects));
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${[r.stack, r.namespace, r.workload, r.kind, r.replicas, r.pdb, r.spread, r.grace, r.tolerance].map(cell).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** README text with the block between the markers replaced by `table`. @throws Error when the markers are missing */
export function withFailureBudget(readme: string, table: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${README_START} … ${README_END} block`);
  return `${readme.slice(0, start + README_START.length)}\n${table}${readme.slice(end)}`;
}

/** The table block currently in a README (between the markers), or undefined. */
export function failureBudgetBlock(readme: string): string | undefined {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + README_START.length, end).replace(/^\n/, '');
}

/**
 * Event-driven scaling (AION-16, X-2): a KEDA `ScaledObject` (`keda.sh/v1alpha1`) with Prometheus
 * triggers, as an alternative to the HPA of ./autoscaling.ts for one workload. KEDA creates and owns
 * an HPA (`keda-hpa-<name>`) for the target, so a target never gets both: the policy
 * `single-autoscaler` blocks an HPA and a ScaledObject (or two of either) on one workload.
 *
 * Same guarantees as the HPA component: validated `1 ≤ min ≤ max` (no scale to zero), scale-down
 * one pod per minute after a 5-minute window, and a PodDisruptionBudget `maxUnavailable: 1`.
 * Trigger types:
 * - queue depth: `AverageValue` (desired = ceil(total depth / items per replica));
 * - p95 latency: `Value` (desired = ceil(current × p95 / target)): a percentile does not add up
 *   over replicas, so it is never divided by the replica count. Idle traffic makes
 *   `histogram_quantile` NaN (0/0), which KEDA reports as a scaler error (scale-down stalls): the
 *   query maps NaN and an empty result to 0 (`(… > 0) or vector(0)`), so idle means zero latency;
 * - CPU (`cpuTrigger`): KEDA's own `cpu` scaler (resource metrics, `Utilization` of the CPU
 *   request), the fallback when the application exposes no metric to scale on (issue 19).
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, trace } from './meta.js';
import { replicaRangeProblem } from '../kube/replicas.js';
import { CONTRACT_ANNOTATION } from '../kube/annotations.js';
import { DNS_LABEL, isDnsLabel } from '../kube/names.js';

export interface PrometheusTrigger {
  /** Trigger name, unique within the ScaledObject (shows in the HPA's metric names). */
  readonly name: string;
  /** Prometheus HTTP API base URL, e.g. `http://prometheus-operated.monitoring.svc:9090`. */
  readonly serverAddress: string;
  /** PromQL returning a single sample. */
  readonly query: string;
  /** Target: per replica for `AverageValue`, for the whole workload for `Value`. > 0. */
  readonly threshold: number;
  /** `AverageValue` for additive load (queue depth, request rate); `Value` for non-additive signals (latency). */
  readonly metricType: 'AverageValue' | 'Value';
  /** Below this the trigger is inactive. @default unset (KEDA: 0) */
  readonly activationThreshold?: number;
  /**
   * `false`: an empty result (lost target, renamed metric) is an error, so KEDA holds the current
   * replica count (or applies `fallback`) instead of reading it as zero load. @default false
   */
  readonly ignoreNullValues?: boolean;
}

/** KEDA's `cpu` scaler: average CPU use of the target's pods, percent of their CPU request. */
export interface CpuTrigger {
  readonly type: 'cpu';
  /** @default cpu */
  readonly name?: string;
  /** Target utilisation, percent of the CPU request, 1–100. */
  readonly utilization: number;
}

/** Scale on CPU utilisation (KEDA `cpu` trigger, `metricType: Utilization`). */
export function cpuTrigger(utilization: number, name = 'cpu'): CpuTrigger {
  return { type: 'cpu', name, utilization };
}

export type Trigger = PrometheusTrigger | CpuTrigger;
const isCpu = (t: Trigger): t is CpuTrigger => 'type' in t && t.type === 'cpu';
const triggerName = (t: Trigger): string => (isCpu(t) ? (t.name ?? 'cpu') : t.name);

/** PromQL label matchers from a plain label map: `{a="1",b="2"}`, sorted, values escaped. */
export function labelMatchers(selector: Readonly<Record<string, string>>): string {
  const keys = Object.keys(selector).sort();
  for (const k of keys) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) throw new ComponentError('labelMatchers', k, 'selector', 'keys must be Prometheus label names', k);
  }
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}=${JSON.stringify(selector[k])}`).join(',')}}`;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export interface QueueDepthOptions {
  readonly serverAddress: string;
  /** Gauge of items waiting, e.g. `aion_control_queue_depth`. */
  readonly metric: string;
  /** Label matchers that pick this workload's queue. @default none */
  readonly selector?: Readonly<Record<string, string>>;
  /** Items one replica should have waiting: the scaling target. */
  readonly itemsPerReplica: number;
  /** @default queue-depth */
  readonly name?: string;
  /** @default unset */
  readonly activationThreshold?: number;
}

/** Scale on queue depth: `sum(<metric>{selector})` per replica (`AverageValue`). */
export function queueDepthTrigger(o: QueueDepthOptions): PrometheusTrigger {
  const name = o.name ?? 'queue-depth';
  if (!METRIC_NAME.test(o.metric)) throw new ComponentError('queueDepthTrigger', name, 'metric', 'must be a Prometheus metric name', o.metric);
  return {
    name,
    serverAddress: o.serverAddress,
    query: `sum(${o.metric}${labelMatchers(o.selector ?? {})})`,
    threshold: o.itemsPerReplica,
    metricType: 'AverageValue',
    ...(o.activationThreshold !== undefined ? { activationThreshold: o.activationThreshold } : {}),
  };
}

export interface LatencyOptions {
  readonly serverAddress: string;
  /** Histogram base name (without `_bucket`), e.g. `aion_request_latency_seconds`. */
  readonly histogram: string;
  /** @default none */
  readonly selector?: Readonly<Record<string, string>>;
  /** p95 the workload should stay under, in seconds. */
  readonly targetSeconds: number;
  /** Rate window. @default 2m */
  readonly window?: string;
  /** @default p95-latency */
  readonly name?: string;
}

/**
 * Scale on p95 latency: `histogram_quantile(0.95, ...)` against a target in seconds (`Value`).
 * No requests in the window give NaN (and no series at all an empty result): both read as 0.
 */
export function p95LatencyTrigger(o: LatencyOptions): PrometheusTrigger {
  const name = o.name ?? 'p95-latency';
  const window = o.window ?? '2m';
  if (!METRIC_NAME.test(o.histogram) || o.histogram.endsWith('_bucket')) {
    throw new ComponentError('p95LatencyTrigger', name, 'histogram', 'must be a histogram base name (without _bucket)', o.histogram);
  }
  if (!/^[1-9]\d*[smh]$/.test(window)) throw new ComponentError('p95LatencyTrigger', name, 'window', 'must be a PromQL duration such as 2m', window);
  return {
    name,
    serverAddress: o.serverAddress,
    query: `(histogram_quantile(0.95, sum by (le) (rate(${o.histogram}_bucket${labelMatchers(o.selector ?? {})}[${window}]))) > 0) or vector(0)`,
    threshold: o.targetSeconds,
    metricType: 'Value',
  };
}

export interface ScaledObjectProps {
  /** The Deployment to scale (same namespace); its name names the ScaledObject and the PDB. */
  readonly target: { readonly name: string; readonly namespace: string; readonly selector: Readonly<Record<string, string>> };
  /** 1 ≤ minReplicas (no scale to zero: the service keeps answering). */
  readonly minReplicas: number;
  /** minReplicas ≤ maxReplicas. */
  readonly maxReplicas: number;
  /** At least one; names unique. */
  readonly triggers: readonly Trigger[];
  /** Seconds between trigger queries. @default 30 */
  readonly pollingIntervalSeconds?: number;
  /** Seconds after the last active trigger before scaling to minReplicas (KEDA's scale-to-zero timer). @default 300 */
  readonly cooldownPeriodSeconds?: number;
  /** HPA scale-down behaviour: stabilization window and pods removed per minute. @default 300 s, 1 pod per 60 s */
  readonly scaleDown?: { readonly stabilizationWindowSeconds: number; readonly podsPerMinute: number };
  /**
   * Replicas to run after `failureThreshold` failed queries; KEDA allows it only when every trigger
   * is `AverageValue`. @default none (the HPA keeps the current count while metrics fail)
   */
  readonly fallback?: { readonly failureThreshold: number; readonly replicas: number };
  /** Render the PodDisruptionBudget. @default true */
  readonly disruptionBudget?: boolean;
  /** @default none */
  readonly concerns?: readonly string[];
  /** The application contract whose metrics the triggers query (`stackbook.io/contract: <service>`; services/contract.ts). @default none */
  readonly contract?: string;
}

/** KEDA names its HPA `keda-hpa-<name>`, which must stay a 63-character label. */
const MAX_NAME = 63 - 'keda-hpa-'.length;

function num(v: number): string {
  return String(v);
}

export class ScaledObject extends Construct {
  readonly object: ApiObject;
  readonly pdb?: k8s.KubePodDisruptionBudget;
  constructor(scope: Construct, id: string, props: ScaledObjectProps) {
    super(scope, id);
    const C = 'ScaledObject';
    const n = props.target.name;
    if (!isDnsLabel(n, MAX_NAME)) {
      throw new ComponentError(C, n, 'target.name', `must be a DNS label of at most ${MAX_NAME} characters (KEDA's HPA is keda-hpa-<name>)`, n);
    }
    const { minReplicas: min, maxReplicas: max } = props;
    if (!Number.isInteger(min) || min < 1) throw new ComponentError(C, n, 'minReplicas', 'must be an integer ≥ 1', min);
    const range = replicaRangeProblem(min, max, 'maxReplicas');
    if (range !== undefined) throw new ComponentError(C, n, 'maxReplicas', range, max);
    const polling = props.pollingIntervalSeconds ?? 30;
    if (!Number.isInteger(polling) || polling < 1 || polling > 3600) throw new ComponentError(C, n, 'pollingIntervalSeconds', 'must be an integer 1–3600', polling);
    const cooldown = props.cooldownPeriodSeconds ?? 300;
    if (!Number.isInteger(cooldown) || cooldown < 0 || cooldown > 86400) throw new ComponentError(C, n, 'cooldownPeriodSeconds', 'must be an integer 0–86400', cooldown);
    const scaleDown = props.scaleDown ?? { stabilizationWindowSeconds: 300, podsPerMinute: 1 };
    if (!Number.isInteger(scaleDown.stabilizationWindowSeconds) || scaleDown.stabilizationWindowSeconds < 0 || scaleDown.stabilizationWindowSeconds > 3600) {
      throw new ComponentError(C, n, 'scaleDown.stabilizationWindowSeconds', 'must be an integer 0–3600', scaleDown.stabilizationWindowSeconds);
    }
    if (!Number.isInteger(scaleDown.podsPerMinute) || scaleDown.podsPerMinute < 1) {
      throw new ComponentError(C, n, 'scaleDown.podsPerMinute', 'must be an integer ≥ 1', scaleDown.podsPerMinute);
    }
    if (props.triggers.length === 0) throw new ComponentError(C, n, 'triggers', 'must have at least one trigger', props.triggers);
    const names = new Set<string>();
    for (const t of props.triggers) {
      const tn = triggerName(t);
      const p = `triggers.${tn}`;
      if (!DNS_LABEL.test(tn)) throw new ComponentError(C, n, 'triggers', 'names must be DNS labels', tn);
      if (names.has(tn)) throw new ComponentError(C, n, 'triggers', 'has a duplicate trigger name', tn);
      names.add(tn);
      if (isCpu(t)) {
        if (!Number.isInteger(t.utilization) || t.utilization < 1 || t.utilization > 100) {
          throw new ComponentError(C, n, `${p}.utilization`, 'must be an integer 1–100 (percent of the CPU request)', t.utilization);
        }
        continue;
      }
      let url: URL | undefined;
      try {
        url = new URL(t.serverAddress);
      } catch {
        url = undefined;
      }
      if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.username !== '' || url.password !== '') {
        throw new ComponentError(C, n, `${p}.serverAddress`, 'must be an http(s) URL without credentials', t.serverAddress);
      }
      if (t.query.trim() === '') throw new ComponentError(C, n, `${p}.query`, 'must be a PromQL expression', t.query);
      if (!Number.isFinite(t.threshold) || t.threshold <= 0) throw new ComponentError(C, n, `${p}.threshold`, 'must be a number > 0', t.threshold);
      if (t.metricType !== 'AverageValue' && t.metricType !== 'Value') throw new ComponentError(C, n, `${p}.metricType`, 'must be AverageValue or Value', t.metricType);
      if (t.activationThreshold !== undefined && (!Number.isFinite(t.activationThreshold) || t.activationThreshold < 0)) {
        throw new ComponentError(C, n, `${p}.activationThreshold`, 'must be a number ≥ 0', t.activationThreshold);
      }
    }
    const fb = props.fallback;
    if (fb) {
      if (!Number.isInteger(fb.failureThreshold) || fb.failureThreshold < 1) throw new ComponentError(C, n, 'fallback.failureThreshold', 'must be an integer ≥ 1', fb.failureThreshold);
      if (!Number.isInteger(fb.replicas) || fb.replicas < min || fb.replicas > max) {
        throw new ComponentError(C, n, 'fallback.replicas', `must be an integer within minReplicas–maxReplicas (${min}–${max})`, fb.replicas);
      }
      const value = props.triggers.find((t) => isCpu(t) || t.metricType !== 'AverageValue');
      if (value) {
        const kind = isCpu(value) ? 'a cpu trigger' : value.metricType;
        throw new ComponentError(C, n, 'fallback', `needs every trigger to be a Prometheus AverageValue trigger (KEDA rejects it otherwise); ${triggerName(value)} is ${kind}`, triggerName(value));
      }
    }

    const concerns = ['X-2', ...(props.concerns ?? [])];
    this.object = new ApiObject(this, 'Resource', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: n, namespace: props.target.namespace, ...(props.contract ? { annotations: { [CONTRACT_ANNOTATION]: props.contract } } : {}) },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: n },
        minReplicaCount: min,
        maxReplicaCount: max,
        pollingInterval: polling,
        cooldownPeriod: cooldown,
        ...(fb ? { fallback: { failureThreshold: fb.failureThreshold, replicas: fb.replicas } } : {}),
        advanced: {
          horizontalPodAutoscalerConfig: {
            behavior: {
              scaleDown: {
                stabilizationWindowSeconds: scaleDown.stabilizationWindowSeconds,
                policies: [{ type: 'Pods', value: scaleDown.podsPerMinute, periodSeconds: 60 }],
              },
            },
          },
        },
        triggers: props.triggers.map((t) =>
          isCpu(t)
            ? { type: 'cpu', name: triggerName(t), metricType: 'Utilization', metadata: { value: num(t.utilization) } }
            : {
                type: 'prometheus',
                name: t.name,
                metricType: t.metricType,
                metadata: {
                  serverAddress: t.serverAddress,
                  query: t.query,
                  threshold: num(t.threshold),
                  ...(t.activationThreshold !== undefined ? { activationThreshold: num(t.activationThreshold) } : {}),
                  ignoreNullValues: String(t.ignoreNullValues ?? false),
                },
              },
        ),
      },
    });
    trace(this.object, ...concerns);
    if (props.disruptionBudget ?? true) {
      this.pdb = new k8s.KubePodDisruptionBudget(this, 'Pdb', {
        metadata: { name: n, namespace: props.target.namespace },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...props.target.selector } } },
      });
      trace(this.pdb, ...concerns);
    }
  }
}

/**
 * Autoscaling: an autoscaling/v2 HPA with validated ranges, and a PodDisruptionBudget
 * consistent with its minimum (voluntary evictions never take more than one pod, and never
 * block a drain forever: `maxUnavailable: 1` instead of a `minAvailable` equal to the minimum).
 */
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, trace } from './meta.js';
import { replicaRangeProblem } from '../kube/replicas.js';

export interface PodsMetric {
  /** Per-pod custom metric served by the metrics adapter, e.g. `http_request_latency_p95_seconds`. */
  readonly name: string;
  /** Target average value, as a quantity (e.g. `500m` for 0.5). */
  readonly averageValue: string;
}

export interface AutoscalingProps {
  /** The Deployment to scale (same namespace). */
  readonly target: { readonly name: string; readonly namespace: string; readonly selector: Readonly<Record<string, string>> };
  /** 1 ≤ minReplicas ≤ maxReplicas. */
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Average CPU utilisation target, percent of request, 1–100. */
  readonly cpuUtilization: number;
  /** Extra per-pod metrics (latency, queue depth). @default none */
  readonly podsMetrics?: readonly PodsMetric[];
  /** Seconds of stable recommendations before scaling down. @default 300 */
  readonly scaleDownStabilizationSeconds?: number;
  /** Render the PodDisruptionBudget. @default true */
  readonly disruptionBudget?: boolean;
  /** @default none */
  readonly concerns?: readonly string[];
}

export class Autoscaling extends Construct {
  readonly hpa: k8s.KubeHorizontalPodAutoscalerV2;
  readonly pdb?: k8s.KubePodDisruptionBudget;
  constructor(scope: Construct, id: string, props: AutoscalingProps) {
    super(scope, id);
    const C = 'Autoscaling';
    const n = props.target.name;
    const { minReplicas: min, maxReplicas: max, cpuUtilization: cpu } = props;
    if (!Number.isInteger(min) || min < 1) throw new ComponentError(C, n, 'minReplicas', 'must be an integer ≥ 1', min);
    const range = replicaRangeProblem(min, max, 'maxReplicas');
    if (range !== undefined) throw new ComponentError(C, n, 'maxReplicas', range, max);
    if (!Number.isInteger(cpu) || cpu < 1 || cpu > 100) throw new ComponentError(C, n, 'cpuUtilization', 'must be an integer percentage 1–100', cpu);
    const metrics: k8s.MetricSpecV2[] = [
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: cpu } } },
      ...(props.podsMetrics ?? []).map((m) => ({
        type: 'Pods',
        pods: { metric: { name: m.name }, target: { type: 'AverageValue', averageValue: k8s.Quantity.fromString(m.averageValue) } },
      })),
    ];
    const concerns = ['X-2', ...(props.concerns ?? [])];
    this.hpa = new k8s.KubeHorizontalPodAutoscalerV2(this, 'Hpa', {
      metadata: { name: n, namespace: props.target.namespace },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: n },
        minReplicas: min,
        maxReplicas: max,
        metrics,
        behavior: {
          scaleDown: {
            stabilizationWindowSeconds: props.scaleDownStabilizationSeconds ?? 300,
            policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
          },
        },
      },
    });
    trace(this.hpa, ...concerns);
    if (props.disruptionBudget ?? true) {
      this.pdb = new k8s.KubePodDisruptionBudget(this, 'Pdb', {
        metadata: { name: n, namespace: props.target.namespace },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...props.target.selector } } },
      });
      trace(this.pdb, ...concerns);
    }
  }
}

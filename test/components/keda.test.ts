/** Event-driven scaling (AION-16, X-2): a KEDA ScaledObject with Prometheus triggers, as an alternative to the HPA. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cpuTrigger,
  labelMatchers,
  p95LatencyTrigger,
  queueDepthTrigger,
  ScaledObject,
  type PrometheusTrigger,
  type ScaledObjectProps,
} from '../../components/keda.js';
import { Workload } from '../../components/workload.js';
import { DefaultDeny } from '../../components/network-policy.js';
import { Namespace } from '../../components/namespace.js';
import { blocking, evaluate, type Obj } from '../../policies/manifest-rules.js';
import { validateManifest } from '../schema.js';
import { promtool } from '../promtool.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const PROM = 'http://prometheus-operated.monitoring.svc:9090';
const TARGET = { name: 'control', namespace: 'aion', selector: { 'app.kubernetes.io/name': 'control' } };
const QUEUE = queueDepthTrigger({ serverAddress: PROM, metric: 'aion_control_queue_depth', selector: { queue: 'tasks' }, itemsPerReplica: 20 });
const LATENCY = p95LatencyTrigger({ serverAddress: PROM, histogram: 'aion_request_latency_seconds', selector: { service: 'control' }, targetSeconds: 0.5 });

function build(overrides: Partial<ScaledObjectProps> = {}) {
  const chart = newChart();
  new ScaledObject(chart, 'K', { target: TARGET, minReplicas: 2, maxReplicas: 10, triggers: [QUEUE, LATENCY], ...overrides });
  const objects = objectsOf(chart);
  return { objects, so: only(objects, 'ScaledObject'), pdb: objects.find((o) => o.kind === 'PodDisruptionBudget') };
}

describe('ScaledObject (keda.sh/v1alpha1)', () => {
  it('targets the Deployment with the validated range and one prometheus trigger per signal', () => {
    const { so } = build();
    expect(so.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so.metadata).toMatchObject({ name: 'control', namespace: 'aion' });
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'control' });
    expect(so.spec.minReplicaCount).toBe(2);
    expect(so.spec.maxReplicaCount).toBe(10);
    expect(so.spec.triggers).toEqual([
      {
        type: 'prometheus', name: 'queue-depth', metricType: 'AverageValue',
        metadata: { serverAddress: PROM, query: 'sum(aion_control_queue_depth{queue="tasks"})', threshold: '20', ignoreNullValues: 'false' },
      },
      {
        type: 'prometheus', name: 'p95-latency', metricType: 'Value',
        metadata: {
          serverAddress: PROM,
          query: '(histogram_quantile(0.95, sum by (le) (rate(aion_request_latency_seconds_bucket{service="control"}[2m]))) > 0) or vector(0)',
          threshold: '0.5',
          ignoreNullValues: 'false',
        },
      },
    ]);
  });

  it('defaults: polling 30 s, cooldown 300 s, scale down one pod per minute after 300 s, no fallback, a PDB', () => {
    const { so, pdb } = build();
    expect(so.spec.pollingInterval).toBe(30);
    expect(so.spec.cooldownPeriod).toBe(300);
    expect(so.spec.advanced).toEqual({
      horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } } },
    });
    expect(so.spec.fallback).toBeUndefined();
    expect(so.spec.idleReplicaCount).toBeUndefined();
    expect(pdb!.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: TARGET.selector } });
  });

  it('takes polling, cooldown, scale-down behaviour, a fallback, an activation threshold; no PDB on request', () => {
    const { objects, so } = build({
      triggers: [{ ...QUEUE, activationThreshold: 5, ignoreNullValues: true }],
      pollingIntervalSeconds: 15,
      cooldownPeriodSeconds: 600,
      scaleDown: { stabilizationWindowSeconds: 900, podsPerMinute: 2 },
      fallback: { failureThreshold: 3, replicas: 6 },
      disruptionBudget: false,
    });
    expect(objects.map((o: Json) => o.kind)).toEqual(['ScaledObject']);
    expect(so.spec.pollingInterval).toBe(15);
    expect(so.spec.cooldownPeriod).toBe(600);
    expect(so.spec.fallback).toEqual({ failureThreshold: 3, replicas: 6 });
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown).toEqual({ stabilizationWindowSeconds: 900, policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] });
    expect(so.spec.triggers[0].metadata).toMatchObject({ activationThreshold: '5', ignoreNullValues: 'true' });
  });

  it('is valid against the KEDA CRD, with defaults and with every option', () => {
    expect(validateManifest(build().so)).toEqual([]);
    const full = build({ triggers: [{ ...QUEUE, activationThreshold: 1.5 }], fallback: { failureThreshold: 2, replicas: 2 }, scaleDown: { stabilizationWindowSeconds: 0, podsPerMinute: 3 } });
    expect(validateManifest(full.so)).toEqual([]);
    expect(validateManifest(full.pdb)).toEqual([]);
  });

  it('both objects carry X-2 and the given concerns', () => {
    const { objects } = build({ concerns: ['AION-16'] });
    expect(objects).toHaveLength(2);
    for (const o of objects) expect(concernsOf(o)).toEqual(['AION-16', 'X-2']);
  });

  it('beside a hardened Workload (autoscaled) it passes every policy, hpa-pdb and single-autoscaler included', () => {
    const chart = newChart();
    new Namespace(chart, 'N', { name: 'aion' });
    new DefaultDeny(chart, 'D', { namespace: 'aion', dnsNamespace: 'kube-system', dnsPodLabel: 'k8s-app=kube-dns' });
    new Workload(chart, 'W', {
      name: 'control', namespace: 'aion', image: 'example.com/control:1', port: 8080,
      liveness: { path: '/livez' }, readiness: { path: '/readyz' }, autoscaled: true,
    });
    new ScaledObject(chart, 'K', { target: TARGET, minReplicas: 2, maxReplicas: 10, triggers: [QUEUE] });
    const objects = objectsOf(chart) as Obj[];
    expect(only(objects, 'Deployment').spec.replicas).toBeUndefined();
    expect(blocking(evaluate(objects))).toEqual([]);
  });
});

describe('trigger helpers', () => {
  it('queue depth is additive: AverageValue, items per replica as the threshold', () => {
    expect(queueDepthTrigger({ serverAddress: PROM, metric: 'q_depth', itemsPerReplica: 50, name: 'tasks', activationThreshold: 1 })).toEqual({
      name: 'tasks', serverAddress: PROM, query: 'sum(q_depth)', threshold: 50, metricType: 'AverageValue', activationThreshold: 1,
    } satisfies PrometheusTrigger);
  });

  it('p95 latency is not additive: Value, target in seconds, 2m window by default', () => {
    const t = p95LatencyTrigger({ serverAddress: PROM, histogram: 'http_latency_seconds', targetSeconds: 0.25, window: '5m' });
    expect(t).toEqual({
      name: 'p95-latency', serverAddress: PROM, query: '(histogram_quantile(0.95, sum by (le) (rate(http_latency_seconds_bucket[5m]))) > 0) or vector(0)', threshold: 0.25, metricType: 'Value',
    });
  });

  it('issue 14 item 7: idle traffic makes the p95 query 0, not NaN (which KEDA reports as a scaler error); load still gives the quantile (promtool evaluates it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keda-p95-'));
    const q = p95LatencyTrigger({ serverAddress: PROM, histogram: 'h_seconds', targetSeconds: 0.5, window: '2m' }).query;
    writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups: [{ name: 'trigger', rules: [{ record: 'trigger:p95', expr: q }] }] }));
    // busy for 10 minutes (every request in the 0.1–0.5 s bucket), then idle: the counters stop moving
    const busy = (perMinute: number) => `0+${perMinute}x10 ${10 * perMinute}x15`;
    writeFileSync(
      join(dir, 'test.yaml'),
      JSON.stringify({
        rule_files: ['rules.yaml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              { series: 'h_seconds_bucket{le="0.1"}', values: busy(0) },
              { series: 'h_seconds_bucket{le="0.5"}', values: busy(60) },
              { series: 'h_seconds_bucket{le="+Inf"}', values: busy(60) },
            ],
            promql_expr_test: [
              // busy: p95 interpolated inside the 0.1–0.5 bucket
              { expr: 'trigger:p95', eval_time: '5m', exp_samples: [{ labels: 'trigger:p95', value: 0.48 }] },
              // idle for more than the 2m window: zero, where histogram_quantile alone is NaN
              { expr: 'trigger:p95', eval_time: '20m', exp_samples: [{ labels: 'trigger:p95', value: 0 }] },
              // no series at all: also zero (vector(0)), not an empty result
              { expr: '(histogram_quantile(0.95, sum by (le) (rate(absent_seconds_bucket[2m]))) > 0) or vector(0)', eval_time: '5m', exp_samples: [{ labels: '{}', value: 0 }] },
            ],
          },
        ],
      }),
    );
    const r = promtool(['test', 'rules', 'test.yaml'], dir);
    expect(r.code, r.output).toBe(0);
  });

  it('cpuTrigger renders KEDA\'s cpu scaler (Utilization of the CPU request) and refuses fallback beside it', () => {
    const { so } = build({ triggers: [cpuTrigger(70)] });
    expect(so.spec.triggers).toEqual([{ type: 'cpu', name: 'cpu', metricType: 'Utilization', metadata: { value: '70' } }]);
    expect(errorOf(() => build({ triggers: [cpuTrigger(0)] })).message).toContain('triggers.cpu.utilization');
    expect(errorOf(() => build({ triggers: [cpuTrigger(70), QUEUE], fallback: { failureThreshold: 3, replicas: 4 } })).message).toContain('cpu is a cpu trigger');
  });

  it('label matchers are sorted and their values escaped', () => {
    expect(labelMatchers({ b: 'x"y', a: '1' })).toBe('{a="1",b="x\\"y"}');
    expect(labelMatchers({})).toBe('');
    expect(errorOf(() => labelMatchers({ 'app.kubernetes.io/name': 'x' })).message).toContain('(got "app.kubernetes.io/name")');
  });

  it.each([
    ['a metric name with a space', () => queueDepthTrigger({ serverAddress: PROM, metric: 'queue depth', itemsPerReplica: 1 }), 'queueDepthTrigger "queue-depth": metric', '"queue depth"'],
    ['a bucket series instead of the histogram name', () => p95LatencyTrigger({ serverAddress: PROM, histogram: 'h_bucket', targetSeconds: 1 }), 'p95LatencyTrigger "p95-latency": histogram', '"h_bucket"'],
    ['a window that is not a duration', () => p95LatencyTrigger({ serverAddress: PROM, histogram: 'h', targetSeconds: 1, window: '2 minutes' }), 'p95LatencyTrigger "p95-latency": window', '"2 minutes"'],
  ])('rejects %s', (_label, f, prefix, got) => {
    const e = errorOf(f);
    expect(e.message).toContain(prefix);
    expect(e.message).toContain(`(got ${got})`);
  });
});

describe('ScaledObject rejects invalid props, naming the prop and the value', () => {
  const cases: Array<[string, Partial<ScaledObjectProps>, string, string]> = [
    ['minReplicas 0 (no scale to zero)', { minReplicas: 0 }, 'minReplicas', '0'],
    ['a fractional minReplicas', { minReplicas: 1.5 }, 'minReplicas', '1.5'],
    ['maxReplicas below minReplicas', { minReplicas: 4, maxReplicas: 3 }, 'maxReplicas', '3'],
    ['a target name too long for keda-hpa-<name>', { target: { ...TARGET, name: 'c'.repeat(55) } }, 'target.name', `"${'c'.repeat(55)}"`],
    ['pollingInterval 0', { pollingIntervalSeconds: 0 }, 'pollingIntervalSeconds', '0'],
    ['a negative cooldown', { cooldownPeriodSeconds: -1 }, 'cooldownPeriodSeconds', '-1'],
    ['a stabilization window over an hour', { scaleDown: { stabilizationWindowSeconds: 3601, podsPerMinute: 1 } }, 'scaleDown.stabilizationWindowSeconds', '3601'],
    ['zero pods per minute', { scaleDown: { stabilizationWindowSeconds: 300, podsPerMinute: 0 } }, 'scaleDown.podsPerMinute', '0'],
    ['no triggers', { triggers: [] }, 'triggers', '[]'],
    ['two triggers with one name', { triggers: [QUEUE, { ...LATENCY, name: 'queue-depth' }] }, 'triggers', '"queue-depth"'],
    ['a trigger name that is not a DNS label', { triggers: [{ ...QUEUE, name: 'Queue' }] }, 'triggers', '"Queue"'],
    ['a server address that is not http(s)', { triggers: [{ ...QUEUE, serverAddress: 'prometheus:9090' }] }, 'triggers.queue-depth.serverAddress', '"prometheus:9090"'],
    ['an empty query', { triggers: [{ ...QUEUE, query: ' ' }] }, 'triggers.queue-depth.query', '" "'],
    ['threshold 0', { triggers: [{ ...QUEUE, threshold: 0 }] }, 'triggers.queue-depth.threshold', '0'],
    ['an unknown metric type', { triggers: [{ ...QUEUE, metricType: 'Utilization' as never }] }, 'triggers.queue-depth.metricType', '"Utilization"'],
    ['a negative activation threshold', { triggers: [{ ...QUEUE, activationThreshold: -1 }] }, 'triggers.queue-depth.activationThreshold', '-1'],
    ['a fallback outside the range', { triggers: [QUEUE], fallback: { failureThreshold: 3, replicas: 11 } }, 'fallback.replicas', '11'],
    ['a fallback failureThreshold of 0', { triggers: [QUEUE], fallback: { failureThreshold: 0, replicas: 2 } }, 'fallback.failureThreshold', '0'],
    ['a fallback with a Value trigger (KEDA refuses it)', { fallback: { failureThreshold: 3, replicas: 4 } }, 'fallback', '"p95-latency"'],
  ];
  it.each(cases)('%s', (_label, overrides, prop, got) => {
    const e = errorOf(() => build(overrides));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain(`ScaledObject "${overrides.target?.name ?? 'control'}": ${prop} `);
    expect(e.message).toContain(`(got ${got})`);
  });
});

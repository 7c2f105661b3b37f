import { describe, expect, it } from 'vitest';
import { appContractRule, metricProblems, metricsOf } from '../policies/contract.js';
import type { AppContract } from '../services/contract.js';
import type { Obj } from '../policies/manifest-rules.js';

const cite = { file: 'app.py', line: 1 };
const contract: AppContract = {
  service: 'demo',
  upstream: { repo: 'example/demo', commit: '0123456789abcdef' },
  workloads: {
    api: {
      command: { entrypoints: ['uvicorn'], flags: { '--port': { meaning: 'port', cite } }, cite },
      ports: { http: { port: 8000, cite } },
      probes: [{ path: '/healthz', port: 8000, hostHeader: 'localhost', cite }],
      env: { APP_ENV: { meaning: 'environment', required: true, cite }, APP_LOG: { meaning: 'log level', cite } },
      files: [{ path: '/etc/demo/config.json', format: 'json', required: true, cite }],
      writablePaths: [{ path: '/data/cache', why: 'cache', cite }],
    },
  },
  metrics: {
    demo_requests: { type: 'counter', labels: ['route', 'status_code'], cite },
    demo_latency_seconds: { type: 'histogram', labels: ['route'], buckets: [0.1, 0.5, 1], cite },
  },
  missingMetrics: { demo_queue_depth: { usedFor: 'KEDA', appChange: 'export a gauge of the queue' } },
};

function deployment(container: Record<string, unknown>, extra: Record<string, unknown> = {}): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: 'demo', annotations: { 'stackbook.io/contract': 'demo/api' } },
    spec: { template: { spec: { containers: [{ name: 'api', ...container }], ...extra } } },
  };
}

const rule = appContractRule({ demo: contract });
const messages = (objs: Obj[]) => rule.check(objs, { tier: undefined, registry: undefined }).map((f) => f.message);

describe('metricsOf (PromQL selectors)', () => {
  it('finds metric names with their matcher labels, not functions, grouping labels, durations or strings', () => {
    const uses = metricsOf('sum by (le, route) (rate(demo_latency_seconds_bucket{route!~"/x|y", status="5.."}[5m])) / on(job) group_left count(up) > 0.5');
    expect(uses).toEqual([
      { name: 'demo_latency_seconds_bucket', labels: ['route', 'status'] },
      { name: 'up', labels: [] },
    ]);
  });
});

describe('app-contract rule', () => {
  it('passes a workload that matches its contract', () => {
    const ok = deployment(
      {
        command: ['uvicorn'],
        args: ['--port=8000'],
        env: [{ name: 'APP_ENV', value: 'production' }],
        ports: [{ name: 'http', containerPort: 8000 }],
        readinessProbe: { httpGet: { path: '/healthz', port: 'http', httpHeaders: [{ name: 'Host', value: 'localhost' }] } },
        securityContext: { readOnlyRootFilesystem: true },
        volumeMounts: [
          { name: 'cfg', mountPath: '/etc/demo' },
          { name: 'data', mountPath: '/data' },
        ],
      },
      { volumes: [{ name: 'cfg', configMap: { name: 'x' } }, { name: 'data', emptyDir: {} }] },
    );
    expect(messages([ok])).toEqual([]);
  });

  it('names every mismatch: unread and missing env, unknown flag and entrypoint, port, probe path and Host, files, writable paths', () => {
    const bad = deployment({
      command: ['gunicorn'],
      args: ['--workers', '4'],
      env: [{ name: 'ENVIRONMENT', value: 'production' }],
      envFrom: [{ configMapRef: { name: 'settings' } }],
      ports: [{ name: 'http', containerPort: 8080 }],
      livenessProbe: { httpGet: { path: '/health', port: 8000 } },
      readinessProbe: { httpGet: { path: '/healthz', port: 8000 } },
      securityContext: { readOnlyRootFilesystem: true },
    });
    const cm: Obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'demo' }, data: { LOG_FORMAT: 'json' } };
    expect(messages([bad, cm])).toEqual([
      'sets env ENVIRONMENT, which example/demo@0123456 never reads',
      'sets env LOG_FORMAT, which example/demo@0123456 never reads',
      'does not set env APP_ENV, which example/demo@0123456 requires (environment)',
      'runs "gunicorn", not an entrypoint of example/demo@0123456 (uvicorn)',
      'passes --workers, a flag example/demo@0123456 does not accept',
      'declares port 8080, on which example/demo@0123456 does not listen',
      'livenessProbe GET /health on port 8000: not a health endpoint of example/demo@0123456 (/healthz:8000)',
      'readinessProbe sends the pod IP as Host, but example/demo@0123456 answers 200 only for localhost: set httpHeaders Host',
      'does not provide /etc/demo/config.json (json), which example/demo@0123456 requires',
      'the app writes /data/cache (cache), but nothing writable is mounted there (read-only root FS)',
    ]);
  });

  it('refuses alerts on metrics or labels the app does not expose, and quantiles above the top bucket', () => {
    expect(metricProblems(contract, 'sum(rate(demo_requests_total{status=~"5.."}[5m])) > 0')).toEqual([
      'filters demo_requests_total on label "status", which the app does not set (labels: route, status_code)',
    ]);
    expect(metricProblems(contract, 'sum(rate(demo_requests_total{status_code=~"5.."}[5m])) > 0')).toEqual([]);
    expect(metricProblems(contract, 'max(demo_queue_depth) > 10')).toEqual([
      'uses metric demo_queue_depth, which example/demo@0123456 does not expose (app change needed: export a gauge of the queue)',
    ]);
    expect(metricProblems(contract, 'histogram_quantile(0.99, sum by (le) (rate(demo_latency_seconds_bucket[5m]))) > 2')[0]).toMatch(/can never fire/);
    expect(metricProblems(contract, 'histogram_quantile(0.99, sum by (le) (rate(demo_latency_seconds_bucket[5m]))) > 0.5')).toEqual([]);
  });

  it('finds metrics in ScaledObject triggers and names the object when the contract is unknown', () => {
    const so: Obj = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'api', namespace: 'demo', annotations: { 'stackbook.io/contract': 'demo' } },
      spec: { triggers: [{ type: 'prometheus', name: 'queue', metadata: { query: 'max(demo_queue_depth)' } }] },
    };
    expect(messages([so])).toEqual([expect.stringMatching(/^trigger queue uses metric demo_queue_depth/)]);
    const other: Obj = { ...so, metadata: { ...so.metadata, annotations: { 'stackbook.io/contract': 'nope/api' } } };
    expect(messages([other])).toEqual(['names contract "nope/api", but no contract exists for nope']);
  });
});

/**
 * MinIO ships its own scrape and alerts (issue 14; X-8): the "AION / Object Storage" dashboard's
 * minio_* series come from the ServiceMonitors this component renders (v2 cluster and bucket
 * paths, unauthenticated for Prometheus' namespace only), and its alerts pass promtool with the
 * unit tests in test/alerts/aion.minio.test.yaml (a FIRING and a QUIET case each; each FIRING
 * turned QUIET fails).
 */
import { describe, expect, it } from 'vitest';
import { Minio, MINIO_METRICS_PATHS } from '../../components/minio.js';
import { componentAlertTests, promtoolWorkspace, ruleSetOf, type RuleSet } from '../promtool.js';
import { newChart, objectsOf, only, type Json } from './util.js';

const BASE = 'https://runbooks.example.com/runbooks';

function render(runbookUrl: string | null = `${BASE}/aion#minio`) {
  const chart = newChart();
  new Minio(chart, 'M', {
    namespace: 'aion',
    image: `quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:${'b'.repeat(64)}`,
    rootUser: { name: 'minio', key: 'user' },
    rootPassword: { name: 'minio', key: 'password' },
    clients: [{ name: 'control' }],
    ...(runbookUrl ? { runbookUrl } : {}),
  });
  return objectsOf(chart) as Json[];
}

const ruleSet = (): RuleSet => ruleSetOf(only(render(), 'PrometheusRule'), BASE);
const runDir = promtoolWorkspace('minio-alerts');

describe('MinIO scrape and alerts (issue 14, AION-17, X-8)', () => {
  it('two ServiceMonitors scrape the v2 cluster and bucket paths on the s3 port; the metrics need no token; Prometheus\' namespace is let in on 9000', () => {
    const objects = render();
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
    expect(monitors.map((m) => m.spec.endpoints[0].path).sort()).toEqual([...MINIO_METRICS_PATHS].sort());
    for (const m of monitors) expect(m.spec.endpoints[0].port).toBe('s3');
    const env = only(objects, 'StatefulSet').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'MINIO_PROMETHEUS_AUTH_TYPE', value: 'public' });
    const ingress = objects.filter((o) => o.kind === 'NetworkPolicy').flatMap((p) => p.spec.ingress ?? []);
    expect(ingress.some((i: Json) => (i.from ?? []).some((f: Json) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring') && (i.ports ?? []).some((p: Json) => p.port === 9000 || p.port === 's3'))).toBe(true);
  });

  it('no runbookUrl, no alerts', () => {
    expect(render(null).filter((o) => o.kind === 'PrometheusRule')).toEqual([]);
  });

  componentAlertTests({ concerns: 'X-8', unitTest: 'aion.minio', alerts: ['MinioDown', 'MinioCapacityLow'], set: ruleSet, runDir });
});

/**
 * Found by Prometheus's own Kubernetes service discovery in the controllers tier (issue 15): a
 * ServiceMonitor selects Services by label, and Prometheus makes one target per Service endpoint.
 * A StatefulStore publishes each Pod through two Services (headless + client) carrying the same
 * labels; when the metrics port is also a client port (MinIO's `s3`), both Services expose it and
 * every Pod is scraped twice (two series per metric, differing only by `service`: sums double).
 * Every ServiceMonitor endpoint must reach each Pod through exactly one Service.
 */
import { describe, expect, it } from 'vitest';
import { ENVS, renderEnv } from './helpers.js';

type Obj = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any };
const matches = (sel: Record<string, string> = {}, labels: Record<string, string> = {}) => Object.entries(sel).every(([k, v]) => labels[k] === v);

describe.each(ENVS)('%s: each ServiceMonitor endpoint reaches a Pod through one Service', (env) => {
  const objects = renderEnv(env).objects as unknown as Obj[];
  const services = objects.filter((o) => o.kind === 'Service');
  const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
  const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
  it('has ServiceMonitors', () => expect(monitors.length).toBeGreaterThan(0));
  it.each(monitors.map((m) => [`${m.metadata.namespace}/${m.metadata.name}`, m]))('%s', (_n, m) => {
    const namespaces: string[] = m.spec.namespaceSelector?.matchNames ?? [m.metadata.namespace];
    for (const ep of m.spec.endpoints) {
      const selected = services.filter((s) => namespaces.includes(s.metadata.namespace!) && matches(m.spec.selector.matchLabels, s.metadata.labels)
        && (s.spec.ports ?? []).some((p: { name?: string }) => p.name === ep.port));
      // the workloads whose Pods each selected Service reaches
      const via = new Map<string, string[]>();
      for (const s of selected) {
        for (const w of workloads.filter((x) => x.metadata.namespace === s.metadata.namespace && s.spec.selector && matches(s.spec.selector, x.spec.template.metadata.labels))) {
          const k = `${w.kind}/${w.metadata.name}`;
          via.set(k, [...(via.get(k) ?? []), s.metadata.name]);
        }
      }
      const twice = [...via].filter(([, svcs]) => svcs.length > 1).map(([w, svcs]) => `${w} via ${svcs.join(' + ')}`);
      expect(twice, `port ${ep.port}: Pods scraped once per Service`).toEqual([]);
    }
  });
});

/**
 * Qdrant (AION-2 data service): the unprivileged upstream image on the StatefulSet base, API key
 * from a Secret, `/livez` and `/readyz` probes, read-only root FS, or external.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { DefaultDeny } from '../../components/network-policy.js';
import { ExternalQdrant, QDRANT_AUTH_SCRIPT, QDRANT_IMAGE, Qdrant, type QdrantProps } from '../../components/qdrant.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { invalidManifests } from '../schema.js';
import { errorOf, newChart, objectsOf, only, type Json } from './util.js';

const BASE: QdrantProps = {
  namespace: 'aion',
  image: `docker.io/qdrant/qdrant:v1.15.4-unprivileged@sha256:${'f'.repeat(64)}`,
  apiKeySecret: { name: 'qdrant', key: 'api-key' },
  clients: [{ name: 'memory' }],
};

function build(overrides: Partial<QdrantProps> = {}) {
  const chart = newChart();
  const q = new Qdrant(chart, 'Q', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const sts = only(objects, 'StatefulSet');
  return { q, objects, sts, pod: sts.spec.template.spec as Json, c: sts.spec.template.spec.containers[0] as Json };
}

describe('Qdrant (AION-2)', () => {
  it('is schema-valid and passes every policy with no exception', () => {
    const { objects } = build();
    const chart = newChart();
    new DefaultDeny(chart, 'D', { namespace: 'aion' });
    expect(invalidManifests(objects)).toEqual({});
    expect(evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined })).toEqual([]);
  });

  it('default image: upstream qdrant/qdrant, the non-root variant, pinned', () => {
    expect(QDRANT_IMAGE).toEqual({ repository: 'docker.io/qdrant/qdrant', tag: 'v1.15.4-unprivileged' });
    expect(build().pod.securityContext).toMatchObject({ runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 });
  });

  it('HTTP 6333 and gRPC 6334; liveness /livez, readiness /readyz (both answer without the API key)', () => {
    const { c, objects } = build();
    expect(c.ports.map((p: Json) => `${p.name}:${p.containerPort}`)).toEqual(['http:6333', 'grpc:6334']);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/livez', port: 6333, scheme: 'HTTP' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 6333, scheme: 'HTTP' });
    const np = only(objects, 'NetworkPolicy');
    expect(np.spec.ingress[0].ports).toEqual([{ port: 6333, protocol: 'TCP' }, { port: 6334, protocol: 'TCP' }]);
  });

  it('issue 14 item 17: the API key is a mounted Secret file; the init script renders service.api_key for --config-path (mode 0600), and a YAML parser reads the same key back', () => {
    const { c, sts } = build();
    const pod = sts.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'api-key', projected: { defaultMode: 0o440, sources: [{ secret: { name: 'qdrant', items: [{ key: 'api-key', path: 'api-key' }] } }] } });
    expect(pod.initContainers[0].command).toEqual(['/bin/sh', '-c', QDRANT_AUTH_SCRIPT]);
    expect(c.command).toEqual(['/qdrant/entrypoint.sh', '--config-path', '/run/qdrant-auth/config.yaml']);
    const dir = mkdtempSync(join(tmpdir(), 'stackbook-qdrant-auth-'));
    try {
      const key = 'k"e\\y: #x $HOME';
      writeFileSync(join(dir, 'api-key'), `${key}\n`);
      execFileSync('/bin/sh', ['-c', QDRANT_AUTH_SCRIPT.split('/run/qdrant-auth').join(dir)], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', QDRANT_API_KEY_FILE: join(dir, 'api-key') } });
      expect((statSync(join(dir, 'config.yaml')).mode & 0o777).toString(8)).toBe('600');
      expect(yaml.load(readFileSync(join(dir, 'config.yaml'), 'utf8'))).toEqual({ service: { api_key: key } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('API key from the Secret; storage and snapshots on the PVC; init marker in an emptyDir (read-only root FS)', () => {
    const { c, sts } = build();
    const env = Object.fromEntries(c.env.map((e: Json) => [e.name, e.value ?? e.valueFrom]));
    expect(env.QDRANT__SERVICE__API_KEY).toBeUndefined();
    expect(JSON.stringify(sts.spec.template.spec)).not.toContain('secretKeyRef');
    expect(env.QDRANT__STORAGE__SNAPSHOTS_PATH).toBe('/qdrant/storage/snapshots');
    expect(env.QDRANT_INIT_FILE_PATH).toBe('/qdrant/init/.qdrant-initialized');
    expect(c.volumeMounts.map((m: Json) => `${m.name}:${m.mountPath}`)).toEqual(['storage:/qdrant/storage', 'init:/qdrant/init', 'auth:/run/qdrant-auth', 'tmp:/tmp']);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('10Gi');
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it('connection(): http URL, API key Secret, HTTP and gRPC endpoints', () => {
    const c = build().q.connection();
    expect(c.url).toBe('http://qdrant.aion.svc:6333');
    expect(c.apiKeySecret).toEqual({ name: 'qdrant', key: 'api-key' });
    expect([c.endpoint.port, c.grpc.port]).toEqual([6333, 6334]);
  });

  it('rejects replicas > 1 (distributed mode not implemented)', () => {
    const e = errorOf(() => build({ replicas: 2 }));
    expect(e.message).toContain('Qdrant "qdrant": replicas');
    expect(e.message).toContain('(got 2)');
  });

  it('external mode: an https URL when tls, egress to the CIDR on the port only', () => {
    const chart = newChart();
    const x = new ExternalQdrant(chart, 'X', { host: 'qdrant.example.com', port: 443, tls: true, cidrs: ['10.50.0.0/24'], apiKeySecret: { name: 'q', key: 'k' }, clients: [{ name: 'memory', namespace: 'aion' }] });
    expect(x.connection().url).toBe('https://qdrant.example.com:443');
    expect(objectsOf(chart).map((o) => o.spec.egress[0].ports[0].port)).toEqual([443]);
  });
});

describe('Qdrant metrics and alerts (issue 14 store alerts)', () => {
  it('/metrics (not on the API key whitelist) is scraped with the API key as a bearer token from the same Secret; Prometheus is admitted on 6333', () => {
    const { objects } = build();
    const sm = only(objects, 'ServiceMonitor');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics', authorization: { type: 'Bearer', credentials: { name: 'qdrant', key: 'api-key' } } })]);
    const np = only(objects, 'NetworkPolicy');
    expect(np.spec.ingress.find((r: Json) => JSON.stringify(r.from).includes('"monitoring"')).ports).toEqual([{ port: 6333, protocol: 'TCP' }]);
  });

  it('alerts only with a runbook URL: QdrantDown, QdrantRecoveryMode, QdrantRestErrors (promtool cases in test/alerts/aion.qdrant.test.yaml)', () => {
    expect(build().objects.some((o: Json) => o.kind === 'PrometheusRule')).toBe(false);
    const rule = only(build({ runbookUrl: 'https://runbooks.example.com/aion#qdrant' }).objects, 'PrometheusRule');
    expect(rule.spec.groups[0].rules.map((r: Json) => r.alert)).toEqual(['QdrantDown', 'QdrantRecoveryMode', 'QdrantRestErrors']);
  });
});

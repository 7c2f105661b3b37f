/**
 * ClickHouse (AION-2 data service): clickhouse-server started directly (read-only root FS), config
 * from a ConfigMap, the password from a mounted Secret file rendered into users.d, `/ping` readiness, or external.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DefaultDeny } from '../../components/network-policy.js';
import { CLICKHOUSE_AUTH_SCRIPT, CLICKHOUSE_IMAGE, ClickHouse, ExternalClickHouse, type ClickHouseProps } from '../../components/clickhouse.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { invalidManifests } from '../schema.js';
import { errorOf, newChart, objectsOf, only, type Json } from './util.js';

const BASE: ClickHouseProps = {
  namespace: 'aion',
  image: `docker.io/clickhouse/clickhouse-server:25.8.3.66@sha256:${'2'.repeat(64)}`,
  passwordSecret: { name: 'clickhouse', key: 'password' },
  clients: [{ name: 'control' }],
};

function build(overrides: Partial<ClickHouseProps> = {}) {
  const chart = newChart();
  const ch = new ClickHouse(chart, 'C', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const sts = only(objects, 'StatefulSet');
  return { ch, objects, sts, pod: sts.spec.template.spec as Json, c: sts.spec.template.spec.containers[0] as Json, cm: only(objects, 'ConfigMap') };
}

describe('ClickHouse (AION-2)', () => {
  it('is schema-valid and passes every policy with no exception', () => {
    const { objects } = build();
    const chart = newChart();
    new DefaultDeny(chart, 'D', { namespace: 'aion' });
    expect(invalidManifests(objects)).toEqual({});
    expect(evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined })).toEqual([]);
  });

  it('default image: upstream clickhouse-server, an LTS release, pinned; runs as UID 101', () => {
    expect(CLICKHOUSE_IMAGE).toEqual({ repository: 'docker.io/clickhouse/clickhouse-server', tag: '25.8.3.66' });
    expect(build().pod.securityContext).toMatchObject({ runAsUser: 101, fsGroup: 101 });
  });

  it('starts clickhouse-server directly, HTTP 8123, native 9000 and metrics 9363; readiness GET /ping, liveness TCP 9000', () => {
    const { c } = build();
    expect(c.command).toEqual(['/usr/bin/clickhouse-server', '--config-file=/etc/clickhouse-server/config.xml']);
    expect(c.ports.map((p: Json) => `${p.name}:${p.containerPort}`)).toEqual(['http:8123', 'native:9000', 'metrics:9363']);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/ping', port: 8123, scheme: 'HTTP' });
    expect(c.livenessProbe.tcpSocket).toEqual({ port: 9000 });
  });

  it('issue 14 item 17: the password is a mounted Secret file, rendered by an init container into users.d (memory emptyDir); no env var, the ConfigMap holds no password', () => {
    const { c, cm, sts, pod } = build();
    expect(c.env ?? []).toEqual([]);
    expect(JSON.stringify(pod)).not.toContain('secretKeyRef');
    expect(pod.volumes).toContainEqual({ name: 'password', projected: { defaultMode: 0o440, sources: [{ secret: { name: 'clickhouse', items: [{ key: 'password', path: 'password' }] } }] } });
    expect(pod.volumes).toContainEqual({ name: 'auth', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    const init = pod.initContainers[0];
    expect(init.command).toEqual(['/bin/sh', '-c', CLICKHOUSE_AUTH_SCRIPT]);
    expect(init.env).toEqual([{ name: 'CLICKHOUSE_PASSWORD_FILE', value: '/run/secrets/clickhouse/password' }]);
    expect(c.volumeMounts).toContainEqual({ name: 'auth', mountPath: '/etc/clickhouse-server/users.d/password.xml', subPath: 'password.xml', readOnly: true });
    expect(cm.data['users.xml']).not.toMatch(/<password/);
    expect(cm.data['server.xml']).toContain('<console>1</console>');
    expect(Object.keys(sts.spec.template.metadata.annotations)).toEqual([`checksum.stackbook.io/configmap-${cm.metadata.name}`]);
  });

  it('issue 14 item 17: the init script escapes the password for XML, mode 0600; an XML parser reads the same password back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stackbook-ch-auth-'));
    try {
      const password = 'a<b>&c"d\'e$HOME`x`';
      writeFileSync(join(dir, 'password'), `${password}\n`);
      execFileSync('/bin/sh', ['-c', CLICKHOUSE_AUTH_SCRIPT.split('/run/clickhouse-auth').join(dir)], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLICKHOUSE_PASSWORD_FILE: join(dir, 'password') } });
      const file = join(dir, 'password.xml');
      expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
      const parsed = execFileSync('python3', ['-c', 'import sys,xml.etree.ElementTree as E; sys.stdout.write(E.parse(sys.argv[1]).getroot().find("users/default/password").text)', file], { encoding: 'utf8' });
      expect(parsed).toBe(password);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('config files are mounted one by one beside the image ones; data on a 20Gi PVC (@default); logs and /tmp are emptyDirs', () => {
    const { c, sts, pod } = build();
    expect(c.volumeMounts).toEqual([
      { name: 'data', mountPath: '/var/lib/clickhouse' },
      { name: 'config', mountPath: '/etc/clickhouse-server/config.d/stackbook.xml', subPath: 'server.xml', readOnly: true },
      { name: 'config', mountPath: '/etc/clickhouse-server/users.d/stackbook.xml', subPath: 'users.xml', readOnly: true },
      { name: 'auth', mountPath: '/etc/clickhouse-server/users.d/password.xml', subPath: 'password.xml', readOnly: true },
      { name: 'logs', mountPath: '/var/log/clickhouse-server' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('20Gi');
    expect(pod.terminationGracePeriodSeconds).toBe(120);
  });

  it('connection(): host, user, password Secret, plain native protocol in-cluster', () => {
    const c = build().ch.connection();
    expect(c).toMatchObject({ host: 'clickhouse.aion.svc', user: 'default', passwordSecret: { name: 'clickhouse', key: 'password' }, secure: false });
    expect([c.endpoint.port, c.http.port]).toEqual([9000, 8123]);
  });

  it('rejects replicas > 1 (Keeper not implemented)', () => {
    const e = errorOf(() => build({ replicas: 2 }));
    expect(e.message).toContain('ClickHouse "clickhouse": replicas');
    expect(e.message).toContain('(got 2)');
  });

  it('external mode: TLS native port 9440 by default, egress policy only', () => {
    const chart = newChart();
    const x = new ExternalClickHouse(chart, 'X', { host: 'ch.example.com', cidrs: ['10.70.0.0/24'], passwordSecret: { name: 'ch', key: 'pw' }, clients: [{ name: 'control', namespace: 'aion' }] });
    expect(x.connection()).toMatchObject({ host: 'ch.example.com', user: 'default', secure: true, endpoint: { port: 9440 } });
    expect(objectsOf(chart).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['NetworkPolicy/clickhouse-egress-control']);
  });
});

describe('ClickHouse metrics and alerts (issue 14 store alerts)', () => {
  it('serves its own Prometheus endpoint on 9363 (server.xml <prometheus>), scraped by a ServiceMonitor; Prometheus is admitted on 9363', () => {
    const { objects, cm } = build();
    expect(cm.data['server.xml']).toContain('<prometheus>\n        <endpoint>/metrics</endpoint>\n        <port>9363</port>');
    const sm = only(objects, 'ServiceMonitor');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    const np = only(objects, 'NetworkPolicy');
    expect(JSON.stringify(np.spec.ingress)).toContain('"monitoring"');
    expect(np.spec.ingress.find((r: Json) => JSON.stringify(r.from).includes('"monitoring"')).ports).toEqual([{ port: 9363, protocol: 'TCP' }]);
  });

  it('alerts only with a runbook URL: ClickHouseDown, ClickHouseTooManyParts, ClickHouseFailedQueries (promtool cases in test/alerts/aion.clickhouse.test.yaml)', () => {
    expect(build().objects.some((o) => o.kind === 'PrometheusRule')).toBe(false);
    const rule = only(build({ runbookUrl: 'https://runbooks.example.com/aion#clickhouse' }).objects, 'PrometheusRule');
    expect(rule.spec.groups[0].rules.map((r: Json) => r.alert)).toEqual(['ClickHouseDown', 'ClickHouseTooManyParts', 'ClickHouseFailedQueries']);
    expect(errorOf(() => build({ runbookUrl: 'not a url' })).message).toContain('runbookUrl');
  });
});

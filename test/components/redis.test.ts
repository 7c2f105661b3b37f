/**
 * Redis as a reusable component: in-cluster (hardened StatefulSet, config from a ConfigMap,
 * password from a Secret, optional AOF persistence, exporter + ServiceMonitor + alerts, clients-only
 * NetworkPolicy, PDB) and external (egress policies only), with a typed connection for consumers.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DefaultDeny } from '../../components/network-policy.js';
import { AUTH_SCRIPT, ExternalRedis, Redis, REDIS_EXPORTER_IMAGE, REDIS_IMAGE, redisEnv, type RedisProps } from '../../components/redis.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { invalidManifests } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const DIGEST = `@sha256:${'d'.repeat(64)}`;
const BASE: RedisProps = {
  namespace: 'aion',
  tier: 'production',
  image: `docker.io/library/redis:8.2.2-alpine${DIGEST}`,
  exporterImage: `docker.io/oliver006/redis_exporter:v1.77.0${DIGEST}`,
  passwordSecret: { name: 'redis-auth', key: 'password' },
  urlSecret: { name: 'redis-auth', key: 'url' },
  clients: [{ name: 'gateway' }, { name: 'oscillink', namespace: 'osc' }],
  runbookUrl: (a) => `https://runbooks.example.com/redis#${a}`,
};
const SECRET_REF = { secretKeyRef: { name: 'redis-auth', key: 'password' } };

function build(overrides: Partial<RedisProps> = {}) {
  const chart = newChart();
  const redis = new Redis(chart, 'R', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const sts = only(objects, 'StatefulSet');
  const pod: Json = sts.spec.template.spec;
  const byName = (n: string): Json => [...(pod.initContainers ?? []), ...pod.containers].find((c: Json) => c.name === n);
  return { redis, objects, sts, pod, conf: only(objects, 'ConfigMap').data['redis.conf'] as string, main: byName('redis'), init: byName('auth'), exporter: byName('exporter') };
}

function violations(objects: readonly Json[], namespaces: readonly string[]) {
  const chart = newChart();
  for (const ns of namespaces) new DefaultDeny(chart, `D-${ns}`, { namespace: ns });
  return evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined });
}

describe('Redis in-cluster (X-5)', () => {
  it('renders ConfigMap, ServiceAccount, StatefulSet, Services, PDB, NetworkPolicy, ServiceMonitor and PrometheusRule, all traced X-5', () => {
    const { objects } = build({ concerns: ['AION-6'] });
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/redis-config',
      'NetworkPolicy/redis',
      'PodDisruptionBudget/redis',
      'PrometheusRule/redis',
      'Service/redis',
      'Service/redis-headless',
      'ServiceAccount/redis',
      'ServiceMonitor/redis',
      'StatefulSet/redis',
    ]);
    for (const o of objects) {
      expect(concernsOf(o), `${o.kind}/${o.metadata.name}`).toContain('X-5');
      expect(concernsOf(o), `${o.kind}/${o.metadata.name}`).toContain('AION-6');
    }
  });

  it('is schema-valid (core kinds and the prometheus-operator CRDs) and passes every policy with no exception', () => {
    for (const tier of ['development', 'production'] as const) {
      const { objects } = build({ tier });
      expect(invalidManifests(objects), tier).toEqual({});
      expect(violations(objects, ['aion', 'osc']), tier).toEqual([]);
    }
  });

  it('renders deterministically', () => {
    expect(JSON.stringify(build().objects)).toBe(JSON.stringify(build().objects));
  });

  it('default images are the pinned upstream ones', () => {
    expect(REDIS_IMAGE).toEqual({ repository: 'docker.io/library/redis', tag: '8.2.2-alpine' });
    expect(REDIS_EXPORTER_IMAGE).toEqual({ repository: 'docker.io/oliver006/redis_exporter', tag: 'v1.77.0' });
  });

  it('runs as the image user 999, hardened, with no service-account token', () => {
    const { pod, main, init, exporter } = build();
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999 });
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of [main, init, exporter]) {
      expect(c.securityContext.readOnlyRootFilesystem, c.name).toBe(true);
      expect(c.securityContext.capabilities.drop, c.name).toEqual(['ALL']);
      expect(c.resources.limits.memory, c.name).toBeDefined();
    }
  });

  it('redis.conf comes from the ConfigMap, includes the auth file and holds no password', () => {
    const { conf, main, objects } = build();
    expect(main.command).toEqual(['redis-server', '/etc/redis/redis.conf']);
    expect(main.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/redis', readOnly: true });
    expect(conf.split('\n')).toContain('include /run/redis-auth/auth.conf');
    expect(conf).not.toMatch(/requirepass|masterauth/);
    // The pod rolls when redis.conf changes.
    const cm = only(objects, 'ConfigMap');
    expect(Object.keys(only(objects, 'StatefulSet').spec.template.metadata.annotations)).toEqual([`checksum.stackbook.io/configmap-${cm.metadata.name}`]);
  });

  it('the password reaches Redis only as a mounted Secret file and a memory-backed file, never env, args or literals (issue 14 item 17)', () => {
    const { init, main, exporter, pod, objects } = build();
    expect(pod.volumes).toContainEqual({ name: 'password', projected: { defaultMode: 0o440, sources: [{ secret: { name: SECRET_REF.secretKeyRef.name, items: [{ key: SECRET_REF.secretKeyRef.key, path: 'password' }] } }] } });
    expect(init.env).toEqual([
      { name: 'REDIS_EXPORTER_ADDR', value: 'redis://localhost:6379' },
      { name: 'REDIS_PASSWORD_FILE', value: '/run/secrets/redis/password' },
    ]);
    expect(init.command).toEqual(['/bin/sh', '-c', AUTH_SCRIPT]);
    expect(init.volumeMounts).toEqual([
      { name: 'auth', mountPath: '/run/redis-auth' },
      { name: 'password', mountPath: '/run/secrets/redis', readOnly: true },
    ]);
    expect(pod.volumes).toContainEqual({ name: 'auth', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    expect(main.volumeMounts).toContainEqual({ name: 'auth', mountPath: '/run/redis-auth', readOnly: true });
    expect(main.env ?? []).toEqual([]);
    expect(main.readinessProbe.exec.command[2]).toBe('REDISCLI_AUTH="$(cat /run/secrets/redis/password)" redis-cli -p 6379 ping | grep -q PONG');
    // redis_exporter v1.77.0 reads REDIS_PASSWORD_FILE (main.go:149): a JSON map keyed by REDIS_ADDR.
    expect(exporter.env).toEqual([
      { name: 'REDIS_ADDR', value: 'redis://localhost:6379' },
      { name: 'REDIS_PASSWORD_FILE', value: '/run/redis-auth/exporter.json' },
    ]);
    expect(exporter.volumeMounts).toContainEqual({ name: 'auth', mountPath: '/run/redis-auth', readOnly: true });
    for (const c of [init, main, exporter]) {
      expect(JSON.stringify(c.env ?? []), c.name).not.toContain('secretKeyRef');
      expect(JSON.stringify([c.command ?? [], c.args ?? []]), c.name).not.toMatch(/--requirepass|--pass|-a /);
    }
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
  });

  it('the init script writes requirepass with quotes and backslashes escaped, readable by the owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stackbook-redis-auth-'));
    try {
      const script = AUTH_SCRIPT.split('/run/redis-auth').join(dir);
      const password = 'pa"ss\\wo rd$HOME`x`';
      writeFileSync(join(dir, 'password'), `${password}\n`);
      execFileSync('/bin/sh', ['-c', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', REDIS_PASSWORD_FILE: join(dir, 'password'), REDIS_EXPORTER_ADDR: 'redis://localhost:6379' } });
      expect(readFileSync(join(dir, 'auth.conf'), 'utf8')).toBe('requirepass "pa\\"ss\\\\wo rd$HOME`x`"\n');
      expect(execFileSync('stat', ['-c', '%a', join(dir, 'auth.conf')], { encoding: 'utf8' }).trim()).toBe('600');
      // The exporter's password map: JSON keyed by its REDIS_ADDR (redis_exporter exporter/pwd_file.go).
      expect(JSON.parse(readFileSync(join(dir, 'exporter.json'), 'utf8'))).toEqual({ 'redis://localhost:6379': password });
      expect(execFileSync('stat', ['-c', '%a', join(dir, 'exporter.json')], { encoding: 'utf8' }).trim()).toBe('600');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('issue 14 item 17, for real: redis-server takes the password from the rendered include file, and the rendered readiness probe authenticates from the mounted file (wrong file: not ready)', async () => {
    const { conf, main } = build();
    const dir = mkdtempSync(join(tmpdir(), 'stackbook-redis-file-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const password = 'pa"ss\\wo rd$HOME`x`';
    writeFileSync(join(dir, 'password'), `${password}\n`);
    execFileSync('/bin/sh', ['-c', AUTH_SCRIPT.split('/run/redis-auth').join(dir)], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', REDIS_PASSWORD_FILE: join(dir, 'password'), REDIS_EXPORTER_ADDR: 'redis://localhost:6379' } });
    // Only what needs a local path changes: the include, port, bind and dir.
    const local = conf
      .split('/run/redis-auth').join(dir)
      .replace(/^port .*$/m, `port ${port}`)
      .replace(/^bind .*$/m, 'bind 127.0.0.1')
      .replace(/^dir .*$/m, `dir ${dir}`)
      .replace(/^appendonly yes$/m, 'appendonly no');
    writeFileSync(join(dir, 'redis.conf'), `${local}\nbind 127.0.0.1\nport ${port}\ndir ${dir}\n`);
    const server = spawn('redis-server', [join(dir, 'redis.conf')], { stdio: 'ignore' });
    const probe = (file: string) =>
      spawnSync('/bin/sh', ['-c', main.readinessProbe.exec.command[2].split('/run/secrets/redis/password').join(file).replace('-p 6379', `-p ${port}`)], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 3000 }).status;
    try {
      let ready = 1;
      for (let i = 0; i < 50 && ready !== 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ready = probe(join(dir, 'password'));
      }
      expect(ready, 'the readiness probe with the mounted password file').toBe(0);
      writeFileSync(join(dir, 'wrong'), 'not-the-password\n');
      expect(probe(join(dir, 'wrong')), 'a wrong password file must not be ready').not.toBe(0);
    } finally {
      server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maxmemory = memory limit × 0.75 by default, or the given ratio; policy noeviction, maxclients 1000 by default', () => {
    const d = build();
    expect(d.redis.maxmemory).toBe(Math.floor(256 * 1024 ** 2 * 0.75));
    expect(d.conf.split('\n')).toEqual(expect.arrayContaining([`maxmemory ${Math.floor(256 * 1024 ** 2 * 0.75)}`, 'maxmemory-policy noeviction', 'maxclients 1000']));
    expect(d.main.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '272Mi' } });
    const c = build({ resources: { cpuRequest: '200m', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi' }, maxmemoryRatio: 0.5, maxmemoryPolicy: 'volatile-lru', maxclients: 200 });
    expect(c.conf.split('\n')).toEqual(expect.arrayContaining(['maxmemory 536870912', 'maxmemory-policy volatile-lru', 'maxclients 200']));
  });

  it('persistence @default off in development: /data is an emptyDir, no PVC, appendonly no', () => {
    const { sts, pod, conf, redis } = build({ tier: 'development' });
    expect(redis.persistence).toBe(false);
    expect(sts.spec.volumeClaimTemplates).toBeUndefined();
    expect(pod.volumes).toContainEqual({ name: 'data', emptyDir: { sizeLimit: '1Gi' } });
    expect(conf.split('\n')).toEqual(expect.arrayContaining(['appendonly no', 'save ""']));
  });

  it('persistence @default on in staging and production: AOF on a 1Gi PVC, retained', () => {
    for (const tier of ['staging', 'production'] as const) {
      const { sts, pod, conf } = build({ tier });
      expect(sts.spec.volumeClaimTemplates.map((t: Json) => [t.metadata.name, t.spec.resources.requests.storage]), tier).toEqual([['data', '1Gi']]);
      expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
      expect(pod.volumes.map((v: Json) => v.name)).not.toContain('data');
      expect(conf.split('\n')).toEqual(expect.arrayContaining(['appendonly yes', 'appendfsync everysec']));
    }
    const custom = build({ tier: 'development', persistence: true, storageSize: '5Gi', storageClassName: 'fast' }).sts.spec.volumeClaimTemplates[0];
    expect(custom.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } });
    expect(build({ tier: 'production', persistence: false }).sts.spec.volumeClaimTemplates).toBeUndefined();
  });

  it('issue 14 item 11: the AOF volume is sized from maxmemory (3×) and a smaller one is refused', () => {
    const resources = { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '512Mi', memoryLimit: '512Mi' };
    // 512Mi × 0.75 = 384Mi maxmemory: an AOF rewrite needs 1152Mi, more than the old 1Gi default.
    const prodLike = build({ resources });
    expect(prodLike.redis.maxmemory).toBe(384 * 1024 ** 2);
    expect(prodLike.sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('2Gi');
    const e = errorOf(() => build({ resources, storageSize: '1Gi' })).message;
    expect(e).toMatch(/storageSize/);
    expect(e).toMatch(/"1Gi"|1Gi/);
    expect(e).toMatch(/3 × maxmemory \(1152Mi for maxmemory 384Mi\)/);
    expect(build({ resources, storageSize: '1152Mi' }).sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1152Mi');
    // Without persistence there is no AOF and no claim: nothing to size.
    expect(build({ resources, storageSize: '1Gi', persistence: false }).sts.spec.volumeClaimTemplates).toBeUndefined();
  });

  it('probes: liveness TCP 6379, readiness an authenticated PING; the exporter is probed on 9121', () => {
    const { main, exporter } = build();
    expect(main.livenessProbe.tcpSocket).toEqual({ port: 6379 });
    expect(main.readinessProbe.exec.command).toEqual(['/bin/sh', '-c', 'REDISCLI_AUTH="$(cat /run/secrets/redis/password)" redis-cli -p 6379 ping | grep -q PONG']);
    expect(exporter.livenessProbe.tcpSocket).toEqual({ port: 9121 });
    expect(exporter.readinessProbe.httpGet).toMatchObject({ path: '/health', port: 9121 });
  });

  it('exporter sidecar scrapes localhost with the same Secret; ServiceMonitor scrapes its metrics port', () => {
    const { exporter, objects } = build();
    expect(exporter.image).toBe(BASE.exporterImage);
    expect(exporter.env).toContainEqual({ name: 'REDIS_ADDR', value: 'redis://localhost:6379' });
    expect(exporter.ports).toEqual([{ name: 'metrics', containerPort: 9121, protocol: 'TCP' }]);
    const sm = only(objects, 'ServiceMonitor');
    // the client Service only (not redis-headless): one target per Pod
    expect(sm.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'redis', 'stackbook.io/service-role': 'client' } });
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
    expect(only(objects, 'Service', 'redis').spec.ports.map((p: Json) => p.name)).toEqual(['redis', 'metrics']);
    expect(only(objects, 'Service', 'redis-headless').spec.ports.map((p: Json) => p.name)).toEqual(['redis']);
  });

  it('NetworkPolicy: only the named clients on 6379, Prometheus (monitoring @default) on 9121', () => {
    const np = only(build({ monitoringNamespace: 'observability' }).objects, 'NetworkPolicy');
    expect(np.spec.ingress.map((r: Json) => [r.from.map((p: Json) => `${p.namespaceSelector.matchLabels['kubernetes.io/metadata.name']}/${p.podSelector?.matchLabels['app.kubernetes.io/name'] ?? '*'}`), r.ports[0].port])).toEqual([
      [['aion/gateway', 'osc/oscillink'], 6379],
      [['observability/*'], 9121],
    ]);
    const def = only(build().objects, 'NetworkPolicy');
    expect(def.spec.ingress[1].from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name']).toBe('monitoring');
  });

  it('PDB maxUnavailable 1 (a drain is planned downtime, never blocked)', () => {
    expect(only(build().objects, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  });

  it('connection(db) hands out the URL Secret, the DB index and the endpoint; redisEnv turns it into env vars', () => {
    const { redis } = build();
    const c = redis.connection(3);
    expect(c).toEqual({ urlSecret: { name: 'redis-auth', key: 'url' }, db: 3, endpoint: { host: 'redis.aion.svc', port: 6379, peers: [{ namespace: 'aion', pods: { 'app.kubernetes.io/name': 'redis' } }] } });
    expect(redisEnv(c)).toEqual({ REDIS_URL: { secret: { name: 'redis-auth', key: 'url' } }, REDIS_DB: '3' });
    expect(redisEnv(c, { url: 'OSCILLINK_REDIS_URL', db: 'OSCILLINK_REDIS_DB' })).toEqual({
      OSCILLINK_REDIS_URL: { secret: { name: 'redis-auth', key: 'url' } },
      OSCILLINK_REDIS_DB: '3',
    });
    expect(redis.connection(0).db).toBe(0);
    expect(redis.connection(15).db).toBe(15);
  });

  it.each([-1, 16, 2.5])('connection(%s) is refused (DB 0–15)', (db) => {
    const e = errorOf(() => build().redis.connection(db));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('db');
    expect(e.message).toContain(`(got ${db})`);
  });

  it.each([
    ['replicas 2 (no Sentinel majority after one loss)', { replicas: 2 }, 'replicas', '(got 2)', /must be odd: with 2 members, losing 1 leaves no Sentinel majority/],
    ['replicas 0', { replicas: 0 }, 'replicas', '(got 0)', /1 \(a single primary\) or an odd number ≥ 3/],
    ['maxmemoryRatio above 0.9', { maxmemoryRatio: 0.95 }, 'maxmemoryRatio', '(got 0.95)', /0\.1–0\.9/],
    ['a memory limit that is no quantity', { resources: { cpuRequest: '1', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: 'lots' } }, 'resources.memoryLimit', '(got "lots")', /32Mi/],
    ['maxclients 0', { maxclients: 0 }, 'maxclients', '(got 0)', /1–65000/],
    ['memoryAlertRatio 1', { memoryAlertRatio: 1 }, 'memoryAlertRatio', '(got 1)', /0\.5–0\.99/],
  ] as Array<[string, Partial<RedisProps>, string, string, RegExp]>)('rejects %s', (_l, overrides, prop, got, why) => {
    const e = errorOf(() => build(overrides));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('Redis "redis"');
    expect(e.message).toContain(prop);
    expect(e.message).toContain(got);
    expect(e.message).toMatch(why);
  });
});

describe('Redis external mode (X-5)', () => {
  function ext() {
    const chart = newChart();
    const r = new ExternalRedis(chart, 'X', {
      host: 'redis.corp.example.com',
      port: 6380,
      cidrs: ['10.30.0.0/28'],
      urlSecret: { name: 'redis-external', key: 'url' },
      clients: [{ name: 'gateway', namespace: 'aion' }],
    });
    return { r, objects: objectsOf(chart) };
  }

  it('renders only an egress NetworkPolicy from each client to the CIDR and port, traced X-5', () => {
    const { objects } = ext();
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['NetworkPolicy aion/redis-egress-gateway']);
    expect(objects[0]!.spec.egress).toEqual([{ to: [{ ipBlock: { cidr: '10.30.0.0/28' } }], ports: [{ port: 6380, protocol: 'TCP' }] }]);
    expect(concernsOf(objects[0]!)).toEqual(['X-3', 'X-5']);
    expect(invalidManifests(objects)).toEqual({});
    expect(violations(objects, ['aion'])).toEqual([]);
  });

  it('hands out the same typed connection as in-cluster Redis', () => {
    const c = ext().r.connection(3);
    expect(c).toEqual({ urlSecret: { name: 'redis-external', key: 'url' }, db: 3, endpoint: { host: 'redis.corp.example.com', port: 6380, peers: [{ cidr: '10.30.0.0/28' }] } });
    expect(errorOf(() => ext().r.connection(16)).message).toContain('(got 16)');
  });
});

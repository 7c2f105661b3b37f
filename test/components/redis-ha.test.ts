/**
 * Replicated Redis (X-5, AION-6): `replicas` odd ≥ 3 renders a StatefulSet `<name>-node` of
 * redis + sentinel (+ exporter) members and an HAProxy Deployment behind the client Service
 * `<name>`, which routes to the primary only; clients keep the plain URL. What is checked here
 * without processes: the objects, defaults, validation, security, secrets, network policies,
 * disruption budgets and spread, the failure-budget rules, the rendered haproxy.cfg (accepted by
 * `haproxy -c`) and the init script's role decision (with a stand-in redis-cli). The real failover
 * is test/components/redis-ha-failover.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { shAsync } from '../shell.js';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DefaultDeny } from '../../components/network-policy.js';
import { HA_INIT_SCRIPT, HAPROXY_AUTH_SCRIPT, Redis, haproxyConfig, redisConf, sentinelConf, type RedisProps } from '../../components/redis.js';
import { PLATFORM_IMAGES } from '../../components/images.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { redisHaProblems, toleranceProblems, workloadsOf } from '../../reports/failure-budget.js';
import type { Manifest } from '../../synth/render.js';
import { invalidManifests } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const DIGEST = `@sha256:${'d'.repeat(64)}`;
const BASE: RedisProps = {
  namespace: 'aion',
  tier: 'production',
  replicas: 3,
  image: `docker.io/library/redis:8.2.2-alpine${DIGEST}`,
  exporterImage: `docker.io/oliver006/redis_exporter:v1.77.0${DIGEST}`,
  haproxyImage: `docker.io/library/haproxy:3.2.4-alpine${DIGEST}`,
  passwordSecret: { name: 'redis-auth', key: 'password' },
  urlSecret: { name: 'redis-auth', key: 'url' },
  clients: [{ name: 'gateway' }, { name: 'oscillink', namespace: 'osc' }],
  runbookUrl: (a) => `https://runbooks.example.com/redis#${a}`,
};
const HOSTS = [0, 1, 2].map((i) => `redis-node-${i}.redis-node.aion.svc.cluster.local`);

function build(overrides: Partial<RedisProps> = {}) {
  const chart = newChart();
  const redis = new Redis(chart, 'R', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const sts = only(objects, 'StatefulSet');
  const pod: Json = sts.spec.template.spec;
  const dep = only(objects, 'Deployment');
  const proxyPod: Json = dep.spec.template.spec;
  const byName = (n: string): Json => [...(pod.initContainers ?? []), ...pod.containers].find((c: Json) => c.name === n);
  const env = (c: Json) => Object.fromEntries(c.env.map((e: Json) => [e.name, e.value ?? e.valueFrom]));
  return {
    redis,
    objects,
    sts,
    pod,
    dep,
    proxyPod,
    haproxy: proxyPod.containers[0] as Json,
    init: byName('config'),
    main: byName('redis'),
    sentinel: byName('sentinel'),
    exporter: byName('exporter'),
    initEnv: env(byName('config')),
    cm: only(objects, 'ConfigMap', 'redis-config').data as Record<string, string>,
    cfg: only(objects, 'ConfigMap', 'redis-haproxy').data['haproxy.cfg'] as string,
  };
}

function violations(objects: readonly Json[], namespaces: readonly string[]) {
  const chart = newChart();
  for (const ns of namespaces) new DefaultDeny(chart, `D-${ns}`, { namespace: ns });
  return evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined });
}

const tmp = mkdtempSync(join(tmpdir(), 'stackbook-redis-ha-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('replicated Redis: objects (X-5, AION-6)', () => {
  it('X-5 AION-6: replicas 3 renders members, HAProxy, their Services, PDBs, policies and monitoring, every object traced', () => {
    const { objects } = build({ concerns: ['AION-6'] });
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/redis-config',
      'ConfigMap/redis-haproxy',
      'Deployment/redis',
      'NetworkPolicy/redis',
      'NetworkPolicy/redis-node',
      'PodDisruptionBudget/redis',
      'PodDisruptionBudget/redis-node',
      'PrometheusRule/redis',
      'PrometheusRule/redis-replication',
      'Service/redis',
      'Service/redis-node',
      'ServiceAccount/redis',
      'ServiceAccount/redis-node',
      'ServiceMonitor/redis',
      'StatefulSet/redis-node',
    ]);
    for (const o of objects) {
      expect(concernsOf(o), `${o.kind}/${o.metadata.name}`).toEqual(expect.arrayContaining(['X-5', 'AION-6']));
    }
  });

  it('X-5: schema-valid (core kinds and the prometheus-operator CRDs) and passes every policy with no exception, in every tier', () => {
    for (const tier of ['development', 'staging', 'production'] as const) {
      const { objects } = build({ tier });
      expect(invalidManifests(objects), tier).toEqual({});
      expect(violations(objects, ['aion', 'osc']), tier).toEqual([]);
      expect(objects.some((o) => Object.keys(o.metadata.annotations ?? {}).some((k) => k.startsWith('exception.stackbook.io/'))), tier).toBe(false);
    }
  });

  it('renders deterministically', () => {
    expect(JSON.stringify(build().objects)).toBe(JSON.stringify(build().objects));
  });

  it('X-5: the client Service redis selects the HAProxy pods only; the headless redis-node selects the members', () => {
    const { objects, dep, sts } = build();
    const client = only(objects, 'Service', 'redis');
    expect(client.spec).toMatchObject({ type: 'ClusterIP', selector: { 'app.kubernetes.io/name': 'redis' } });
    expect(client.spec.ports).toEqual([{ name: 'redis', port: 6379, targetPort: 'redis', protocol: 'TCP' }]);
    expect(dep.spec.template.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'redis' });
    expect(sts.spec.template.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'redis-node' });
    const headless = only(objects, 'Service', 'redis-node');
    expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true, selector: { 'app.kubernetes.io/name': 'redis-node' } });
    expect(headless.spec.ports.map((p: Json) => `${p.name}:${p.port}`)).toEqual(['redis:6379', 'sentinel:26379', 'metrics:9121']);
    expect(sts.spec.serviceName).toBe('redis-node');
  });

  it('X-5 AION-6: consumers keep the same connection: redis.<namespace>.svc:6379, the URL Secret, HAProxy pods as egress peers', () => {
    const c = build().redis.connection(3);
    expect(c).toEqual({ urlSecret: { name: 'redis-auth', key: 'url' }, db: 3, endpoint: { host: 'redis.aion.svc', port: 6379, peers: [{ namespace: 'aion', pods: { 'app.kubernetes.io/name': 'redis' } }] } });
    const single = new Redis(newChart(), 'R', { ...BASE, replicas: 1 }).connection(3);
    expect(c).toEqual(single);
    expect(errorOf(() => build().redis.connection(16)).message).toContain('(got 16)');
  });

  it('defaults: 3 members with quorum 2, OrderedReady; HAProxy 2 replicas; down-after 5000 ms, failover-timeout 10000 ms, cluster.local', () => {
    const { sts, dep, initEnv, redis } = build();
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe('OrderedReady');
    expect(dep.spec.replicas).toBe(2);
    expect(redis.ha!.quorum).toBe(2);
    expect(initEnv).toMatchObject({
      REDIS_HA_HOSTS: HOSTS.join(' '),
      REDIS_HA_MASTER: 'redis',
      REDIS_HA_QUORUM: '2',
      REDIS_HA_REDIS_PORT: '6379',
      REDIS_HA_SENTINEL_PORT: '26379',
      REDIS_HA_DOWN_AFTER_MS: '5000',
      REDIS_HA_FAILOVER_TIMEOUT_MS: '10000',
      REDIS_HA_WAIT_SECONDS: '40',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    const five = build({ replicas: 5, haproxyReplicas: 3, downAfterMilliseconds: 2000, failoverTimeoutMilliseconds: 30000, clusterDomain: 'k8s.corp.internal' });
    expect(five.sts.spec.replicas).toBe(5);
    expect(five.dep.spec.replicas).toBe(3);
    expect(five.initEnv).toMatchObject({ REDIS_HA_QUORUM: '3', REDIS_HA_DOWN_AFTER_MS: '2000', REDIS_HA_FAILOVER_TIMEOUT_MS: '30000', REDIS_HA_WAIT_SECONDS: '34' });
    expect(String(five.initEnv.REDIS_HA_HOSTS).split(' ')).toEqual([0, 1, 2, 3, 4].map((i) => `redis-node-${i}.redis-node.aion.svc.k8s.corp.internal`));
    expect(five.cfg).toContain('nbsrv(sentinels-agree-4) ge 3');
  });

  it('defaults: resources of redis (256Mi, maxmemory 75 %), sentinel, exporter, init and HAProxy', () => {
    const { main, sentinel, exporter, init, haproxy, cm, redis } = build();
    expect(main.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '272Mi' } });
    expect(redis.maxmemory).toBe(Math.floor(256 * 1024 ** 2 * 0.75));
    expect(cm['redis.conf']!.split('\n')).toContain(`maxmemory ${redis.maxmemory}`);
    expect(sentinel.resources).toMatchObject({ requests: { cpu: '20m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } });
    expect(exporter.resources).toMatchObject({ requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } });
    expect(init.resources).toMatchObject({ requests: { cpu: '10m', memory: '8Mi' }, limits: { cpu: '50m', memory: '16Mi' } });
    // ephemeral storage: 64Mi reserved; limit 256Mi logs + the disk emptyDirs mounted (HAProxy: tmp 16Mi)
    expect(haproxy.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '250m', memory: '128Mi', 'ephemeral-storage': '272Mi' } });
    for (const c of [sentinel, exporter, init]) expect(c.resources.requests['ephemeral-storage']).toBe('64Mi');
    const custom = build({ haproxyResources: { cpuRequest: '1', cpuLimit: '2', memoryRequest: '1Gi', memoryLimit: '1Gi' }, sentinelResources: { cpuRequest: '1m', cpuLimit: '2m', memoryRequest: '1Mi', memoryLimit: '2Mi' } });
    expect(custom.haproxy.resources.limits).toMatchObject({ cpu: '2', memory: '1Gi' });
    expect(custom.sentinel.resources.limits).toMatchObject({ cpu: '2m', memory: '2Mi' });
  });

  it('persistence: AOF on a retained 1Gi PVC per member outside development; an emptyDir in development', () => {
    const prod = build();
    expect(prod.sts.spec.volumeClaimTemplates.map((t: Json) => [t.metadata.name, t.spec.resources.requests.storage])).toEqual([['data', '1Gi']]);
    expect(prod.sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    expect(prod.cm['redis.conf']!.split('\n')).toContain('appendonly yes');
    const dev = build({ tier: 'development' });
    expect(dev.sts.spec.volumeClaimTemplates).toBeUndefined();
    expect(dev.pod.volumes).toContainEqual({ name: 'data', emptyDir: { sizeLimit: '1Gi' } });
    expect(dev.cm['redis.conf']!.split('\n')).toContain('appendonly no');
    expect(build({ storageSize: '5Gi', storageClassName: 'fast' }).sts.spec.volumeClaimTemplates[0].spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } });
  });

  it('images: the redis image for init, redis and sentinel, the exporter, and the haproxy platform image (3.2 LTS)', () => {
    const { init, main, sentinel, exporter, haproxy } = build();
    for (const c of [init, main, sentinel]) expect(c.image, c.name).toBe(BASE.image);
    expect(exporter.image).toBe(BASE.exporterImage);
    expect(haproxy.image).toBe(BASE.haproxyImage);
    expect(PLATFORM_IMAGES.haproxy).toEqual({ repository: 'docker.io/library/haproxy', tag: '3.2.4-alpine' });
  });

  it('commands and probes: redis and sentinel from the generated files, HAProxy from its ConfigMap; distinct liveness and readiness', () => {
    const { main, sentinel, exporter, haproxy, init } = build();
    expect(init.command).toEqual(['/bin/sh', '-c', HA_INIT_SCRIPT]);
    expect(main.command).toEqual(['redis-server', '/run/redis/redis.conf']);
    expect(sentinel.command).toEqual(['redis-server', '/run/redis/sentinel.conf', '--sentinel']);
    expect(haproxy.command).toEqual(['haproxy', '-f', '/run/haproxy/auth.cfg', '-f', '/usr/local/etc/haproxy/haproxy.cfg', '-db']);
    expect(main.livenessProbe.tcpSocket).toEqual({ port: 6379 });
    expect(main.readinessProbe.exec.command).toEqual(['/bin/sh', '-c', 'REDISCLI_AUTH="$(cat /run/secrets/redis/password)" redis-cli -p 6379 ping | grep -q PONG']);
    expect(sentinel.livenessProbe.tcpSocket).toEqual({ port: 26379 });
    expect(sentinel.readinessProbe.exec.command).toEqual(['/bin/sh', '-c', 'REDISCLI_AUTH="$(cat /run/secrets/redis/password)" redis-cli -p 26379 ping | grep -q PONG']);
    expect(exporter.env).toContainEqual({ name: 'REDIS_ADDR', value: 'redis://localhost:6379' });
    expect(haproxy.livenessProbe.tcpSocket).toEqual({ port: 6379 });
    expect(haproxy.readinessProbe.httpGet).toMatchObject({ path: '/healthz', port: 8404 });
    expect(haproxy.lifecycle).toEqual({ preStop: { exec: { command: ['sleep', '5'] } } });
  });
});

describe('replicated Redis: security and secrets (X-1, X-5)', () => {
  it('X-1: every container is restricted (non-root 999 / HAProxy 99, read-only root, drop ALL, no escalation, seccomp) with requests and limits; no token', () => {
    const { pod, proxyPod } = build();
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } });
    expect(proxyPod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 99, runAsGroup: 99, seccompProfile: { type: 'RuntimeDefault' } });
    for (const p of [pod, proxyPod]) {
      expect(p.automountServiceAccountToken).toBe(false);
      for (const c of [...(p.initContainers ?? []), ...p.containers]) {
        expect(c.securityContext, c.name).toEqual({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          privileged: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(Object.keys(c.resources.requests).sort(), c.name).toEqual(['cpu', 'ephemeral-storage', 'memory']);
        expect(Object.keys(c.resources.limits).sort(), c.name).toEqual(['cpu', 'ephemeral-storage', 'memory']);
        expect(c.resources.requests['ephemeral-storage'], c.name).toBe('64Mi');
      }
    }
  });

  it('X-5: the password reaches redis, sentinel, HAProxy and the exporter only as a mounted Secret file (issue 14 item 17); no env, ConfigMap, arg or literal holds it', () => {
    const { objects, pod, proxyPod, cm, cfg } = build();
    const fileVolume = { name: 'password', projected: { defaultMode: 0o440, sources: [{ secret: { name: 'redis-auth', items: [{ key: 'password', path: 'password' }] } }] } };
    for (const p of [pod, proxyPod]) expect(p.volumes).toContainEqual(fileVolume);
    for (const c of [...pod.initContainers, ...pod.containers, ...proxyPod.initContainers, ...proxyPod.containers]) {
      expect(JSON.stringify(c.env ?? []), c.name).not.toContain('secretKeyRef');
      expect(c.envFrom, c.name).toBeUndefined();
      expect((c.env ?? []).filter((e: Json) => /PASSWORD$|AUTH/.test(e.name)), c.name).toEqual([]);
      expect(JSON.stringify([c.command ?? [], c.args ?? []]), c.name).not.toMatch(/--requirepass|--masterauth|-a /);
      if (c.name !== 'exporter' && c.name !== 'haproxy') expect(c.volumeMounts, c.name).toContainEqual({ name: 'password', mountPath: '/run/secrets/redis', readOnly: true });
    }
    // The exporter reads its JSON password map from the memory emptyDir (redis_exporter REDIS_PASSWORD_FILE).
    const exporter = pod.containers.find((c: Json) => c.name === 'exporter');
    expect(exporter.env).toContainEqual({ name: 'REDIS_PASSWORD_FILE', value: '/run/redis/exporter.json' });
    expect(exporter.volumeMounts).toContainEqual({ name: 'run', mountPath: '/run/redis', readOnly: true });
    for (const text of [cm['redis.conf']!, cm['sentinel.conf']!, cfg]) expect(text).not.toMatch(/requirepass|masterauth|auth-pass|sentinel-pass/);
    // HAProxy reads the password from its environment at run time, set by the rendered auth.cfg.
    expect(cfg).toContain('%[env(REDIS_PASSWORD)]');
    expect(proxyPod.initContainers.map((c: Json) => c.command)).toEqual([['/bin/sh', '-c', HAPROXY_AUTH_SCRIPT]]);
    expect(proxyPod.volumes).toContainEqual({ name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    // The generated files with the password live in a memory-backed emptyDir.
    expect(pod.volumes).toContainEqual({ name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '4Mi' } });
  });
});

describe('replicated Redis: network policies, disruption budgets, spread (X-3, X-5, AION-6)', () => {
  const peers = (rules: Json[], key: 'from' | 'to') =>
    rules.map((r) => [r[key].map((p: Json) => `${p.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'] ?? '.'}/${p.podSelector?.matchLabels['app.kubernetes.io/name'] ?? '*'}`), r.ports.map((p: Json) => p.port)]);

  it('X-5: clients reach HAProxy on 6379 only; HAProxy reaches the members on 6379 and 26379', () => {
    const np = only(build().objects, 'NetworkPolicy', 'redis');
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'redis' } });
    expect(peers(np.spec.ingress, 'from')).toEqual([[['aion/gateway', 'osc/oscillink'], [6379]]]);
    expect(peers(np.spec.egress, 'to')).toEqual([[['./redis-node'], [6379, 26379]]]);
  });

  it('X-5: members admit HAProxy and each other on 6379 and 26379, Prometheus on 9121; clients never reach a member directly', () => {
    const np = only(build({ monitoringNamespace: 'observability' }).objects, 'NetworkPolicy', 'redis-node');
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'redis-node' } });
    expect(peers(np.spec.ingress, 'from')).toEqual([
      [['./redis'], [6379, 26379]],
      [['./redis-node'], [6379, 26379]],
      [['observability/*'], [9121]],
    ]);
    expect(peers(np.spec.egress, 'to')).toEqual([[['./redis-node'], [6379, 26379]]]);
    expect(JSON.stringify(np)).not.toContain('gateway');
  });

  it('AION-6: PDBs maxUnavailable 1 on members and HAProxy; spread over zones (soft) and nodes (hard); HAProxy rolls one surge pod at a time', () => {
    const { objects, sts, dep } = build();
    expect(only(objects, 'PodDisruptionBudget', 'redis-node').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'redis-node' } } });
    expect(only(objects, 'PodDisruptionBudget', 'redis').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } });
    for (const w of [sts, dep]) {
      const sel = w.spec.selector.matchLabels;
      expect(w.spec.template.spec.topologySpreadConstraints, w.kind).toEqual([
        { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: sel } },
        { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: sel } },
      ]);
    }
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  it('AION-6: the failure budget holds (quorum kept, spread, rollouts, probes) and production Redis counts as highly available; a single primary does not', () => {
    const objects = build().objects as Manifest[];
    const views = workloadsOf(objects);
    expect(views.map((v) => `${v.workload.kind}/${v.workload.metadata.name}:${v.minReplicas}:${v.pdb?.metadata.name}`).sort()).toEqual(['Deployment/redis:2:redis', 'StatefulSet/redis-node:3:redis-node']);
    expect(views.flatMap((v) => toleranceProblems(objects, v))).toEqual([]);
    expect(redisHaProblems(objects)).toEqual([]);
    const chart = newChart();
    new Redis(chart, 'R', { ...BASE, replicas: 1 });
    expect(redisHaProblems(objectsOf(chart) as Manifest[])).toEqual([expect.stringMatching(/^StatefulSet aion\/redis: Redis with 1 replica in production/)]);
  });

  it('X-8: the ServiceMonitor scrapes the members\' metrics port with job = the Redis name (the alerts select job="redis" in both modes)', () => {
    const { objects } = build();
    const sm = only(objects, 'ServiceMonitor');
    expect(sm.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'redis-node' } });
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics' });
    expect(sm.spec.jobLabel).toBe('app.kubernetes.io/instance');
    expect(only(objects, 'Service', 'redis-node').metadata.labels['app.kubernetes.io/instance']).toBe('redis');
  });
});

describe('replicated Redis: generated configuration (X-5)', () => {
  it('redis.conf (replicated) includes no auth file; sentinel.conf resolves and announces host names', () => {
    const { cm } = build();
    expect(cm['redis.conf']).toBe(redisConf({ maxmemory: Math.floor(256 * 1024 ** 2 * 0.75), policy: 'noeviction', maxclients: 1000, persistence: true, replicated: true }));
    expect(cm['redis.conf']).not.toContain('include');
    expect(cm['sentinel.conf']).toBe(sentinelConf());
    expect(cm['sentinel.conf']!.split('\n')).toEqual(expect.arrayContaining(['port 26379', 'sentinel resolve-hostnames yes', 'sentinel announce-hostnames yes', 'dir /tmp']));
  });

  it('X-5: haproxy.cfg routes to a member only while it says role:master and a sentinel quorum names it (weight 0, no load-balancing fallback), cutting sessions when it stops', () => {
    const { cfg } = build();
    expect(cfg).toBe(haproxyConfig({ master: 'redis', hosts: HOSTS, quorum: 2, maxconn: 1000 }));
    const lines = cfg.split('\n').map((l) => l.trim());
    expect(lines).toEqual(expect.arrayContaining(['bind :6379', 'bind :8404', 'monitor-uri /healthz', 'tcp-check expect string role:master', 'maxconn 1000']));
    HOSTS.forEach((h, i) => {
      expect(lines).toContain(`use-server node-${i} if { srv_is_up(node-${i}) } { nbsrv(sentinels-agree-${i}) ge 2 }`);
      expect(lines).toContain(`server node-${i} ${h}:6379 check inter 1s fall 2 rise 1 weight 0 on-marked-down shutdown-sessions resolvers cluster resolve-prefer ipv4 init-addr none`);
      expect(lines).toContain(`tcp-check expect string "${h}\\r\\n"`);
      expect(lines).toContain(`server sentinel-${i} ${h}:26379 check inter 1s fall 1 rise 1 resolvers cluster resolve-prefer ipv4 init-addr none`);
    });
    expect(lines.filter((l) => l.startsWith('server ')).every((l) => !l.startsWith('server node-') || l.includes(' weight 0 '))).toBe(true);
    expect(lines.filter((l) => l === 'tcp-check send-lf "*2\\r\\n\\$4\\r\\nAUTH\\r\\n\\$%[env(REDIS_PASSWORD),length]\\r\\n%[env(REDIS_PASSWORD)]\\r\\n"')).toHaveLength(1 + HOSTS.length);
  });

  it('X-5: haproxy -c accepts the rendered haproxy.cfg (fails without the haproxy binary: apt-get install haproxy)', () => {
    const file = join(tmp, 'haproxy.cfg');
    writeFileSync(file, build().cfg);
    const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8', env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin` } });
    expect(r.error, 'haproxy is not installed: apt-get install -y haproxy').toBeUndefined();
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain('Configuration file is valid');
  });

  it('X-5 (issue 14 item 17): HAProxy\'s init script turns the mounted password file into `global setenv`, escaped for HAProxy, mode 0600; haproxy -c accepts auth.cfg + haproxy.cfg', () => {
    const dir = mkdtempSync(join(tmp, 'haproxy-auth-'));
    const password = 'pa"ss\\wo rd$HOME`x`#%';
    writeFileSync(join(dir, 'password'), `${password}\n`);
    const script = HAPROXY_AUTH_SCRIPT.split('/run/haproxy/').join(`${dir}/`);
    const run = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', REDIS_PASSWORD_FILE: join(dir, 'password') } });
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    expect(readFileSync(join(dir, 'auth.cfg'), 'utf8')).toBe('global\n  setenv REDIS_PASSWORD "pa\\"ss\\\\wo rd\\$HOME`x`#%"\n');
    expect((statSync(join(dir, 'auth.cfg')).mode & 0o777).toString(8)).toBe('600');
    writeFileSync(join(dir, 'haproxy.cfg'), build().cfg);
    const r = spawnSync('haproxy', ['-c', '-f', join(dir, 'auth.cfg'), '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8', env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin` } });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});

describe('replicated Redis: the init script decides the role (X-5)', () => {
  /**
   * Run HA_INIT_SCRIPT as member `ordinal` with a stand-in redis-cli that answers
   * `SENTINEL get-master-addr-by-name` from `answers` (one line per call; empty = no sentinel reachable).
   */
  async function runInit(ordinal: number, answers: readonly string[], password = 'pw') {
    const dir = mkdtempSync(join(tmp, `init-${ordinal}-`));
    const [etc, run, bin] = ['etc', 'run', 'bin'].map((d) => join(dir, d));
    for (const d of [etc, run, bin]) mkdirSync(d!);
    writeFileSync(join(etc!, 'redis.conf'), 'port 6379\n');
    writeFileSync(join(etc!, 'sentinel.conf'), 'port 26379\n');
    writeFileSync(join(dir, 'answers'), answers.map((a) => `${a}\n`).join(''));
    writeFileSync(
      join(bin!, 'redis-cli'),
      `#!/bin/sh\nn=$(cat ${dir}/calls 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${dir}/calls\nsed -n "\${n}p" ${dir}/answers\n`,
    );
    chmodSync(join(bin!, 'redis-cli'), 0o755);
    const script = HA_INIT_SCRIPT.split('/etc/redis/').join(`${etc}/`).split('/run/redis/').join(`${run}/`);
    writeFileSync(join(dir, 'password'), `${password}\n`, { mode: 0o440 });
    const r = await shAsync(script, {
      env: {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        POD_NAME: `redis-node-${ordinal}`,
        REDIS_PASSWORD_FILE: join(dir, 'password'),
        REDIS_EXPORTER_ADDR: 'redis://localhost:6379',
        REDIS_HA_HOSTS: 'h0 h1 h2',
        REDIS_HA_MASTER: 'redis',
        REDIS_HA_QUORUM: '2',
        REDIS_HA_REDIS_PORT: '6379',
        REDIS_HA_SENTINEL_PORT: '26379',
        REDIS_HA_DOWN_AFTER_MS: '5000',
        REDIS_HA_FAILOVER_TIMEOUT_MS: '10000',
        REDIS_HA_WAIT_SECONDS: '2', // two retry rounds (each waited second is a test worker asleep)
      },
      timeoutMs: 20_000,
    });
    const read = (f: string) => {
      try {
        return readFileSync(join(run!, f), 'utf8');
      } catch {
        return '';
      }
    };
    return { code: r.code, out: r.out, redis: read('redis.conf'), sentinel: read('sentinel.conf'), exporter: read('exporter.json'), run: run! };
  }

  it('no sentinel answers: member 0 starts as the primary, the others as replicas of member 0', async () => {
    const first = await runInit(0, []);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain('h0 starts as the primary');
    expect(first.redis).not.toContain('replicaof');
    expect(first.sentinel.split('\n')).toContain('sentinel monitor redis h0 6379 2');
    const second = await runInit(1, ['', '']);
    expect(second.out).toContain('h1 starts as a replica of h0');
    expect(second.redis.split('\n')).toEqual(expect.arrayContaining(['port 6379', 'replica-announce-ip h1', 'replicaof h0 6379']));
    expect(second.sentinel.split('\n')).toEqual(
      expect.arrayContaining([
        'port 26379',
        'sentinel announce-ip h1',
        'sentinel monitor redis h0 6379 2',
        'sentinel down-after-milliseconds redis 5000',
        'sentinel failover-timeout redis 10000',
        'sentinel parallel-syncs redis 1',
      ]),
    );
  });

  it('a sentinel names the primary: the member follows it; answers that name no member are ignored', async () => {
    // Member 0 asks the sentinels of h1 and h2 (its own is not running yet).
    const r = await runInit(0, ['(error) NOAUTH', 'h2']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('h0 starts as a replica of h2');
    expect(r.redis.split('\n')).toContain('replicaof h2 6379');
    expect(r.sentinel.split('\n')).toContain('sentinel monitor redis h2 6379 2');
    expect((await runInit(2, ['10.1.2.3', ''])).out).toContain('h2 starts as a replica of h0');
  });

  it('the sentinels still name this member: it waits for their failover instead of coming back as an empty primary', async () => {
    // Member 1 asks the sentinels (the first that names a member answers): still h1, a second later
    // still h1, then h0 was promoted.
    // (both runs at once: each spends its seconds asleep in the script's wait loop)
    const [r, stuck] = await Promise.all([runInit(1, ['h1', 'h1', 'h0']), runInit(1, Array.from({ length: 20 }, () => 'h1'))]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('the sentinels still name h1 the primary: waiting up to 2s');
    expect(r.out).toContain('h1 starts as a replica of h0');
    // No failover within REDIS_HA_WAIT_SECONDS: it starts as the primary the sentinels know.
    expect(stuck.out).toContain('h1 starts as the primary');
  });

  it('X-5: the password is written quoted and escaped, only into files readable by the owner', async () => {
    const password = 'pa"ss\\wo rd$HOME`x`';
    const r = await runInit(2, [], password);
    const quoted = '"pa\\"ss\\\\wo rd$HOME`x`"';
    expect(r.redis.split('\n')).toEqual(expect.arrayContaining([`requirepass ${quoted}`, `masterauth ${quoted}`]));
    expect(r.sentinel.split('\n')).toEqual(expect.arrayContaining([`sentinel auth-pass redis ${quoted}`, `sentinel sentinel-pass ${quoted}`, `requirepass ${quoted}`]));
    for (const f of ['redis.conf', 'sentinel.conf', 'exporter.json']) expect((statSync(join(r.run, f)).mode & 0o777).toString(8), f).toBe('600');
    // The exporter's password map, keyed by its REDIS_ADDR (redis_exporter exporter/pwd_file.go: JSON object).
    expect(JSON.parse(r.exporter)).toEqual({ 'redis://localhost:6379': password });
    // redis-server and sentinel parsing it back: the failover test runs with such a password.
  });

  it('a pod whose ordinal has no host fails with a clear message', async () => {
    const r = await runInit(7, []);
    expect(r.code).toBe(1);
    expect(r.out).toContain('redis-ha: pod redis-node-7 has no host in REDIS_HA_HOSTS');
  });
});

describe('replicated Redis: validation (X-5)', () => {
  it.each([
    ['replicas 2', { replicas: 2 }, 'replicas', '(got 2)', /must be odd: with 2 members, losing 1 leaves no Sentinel majority and no failover \(use 3 or 1\)/],
    ['replicas 4', { replicas: 4 }, 'replicas', '(got 4)', /must be odd: with 4 members, losing 2 leaves no Sentinel majority and no failover \(use 5 or 3\)/],
    ['replicas 2.5', { replicas: 2.5 }, 'replicas', '(got 2.5)', /odd number ≥ 3/],
    ['no haproxyImage', { haproxyImage: undefined }, 'haproxyImage', 'haproxyImage is required', /platform image "haproxy"/],
    ['haproxyReplicas 1', { haproxyReplicas: 1 }, 'haproxyReplicas', '(got 1)', /≥ 2/],
    ['downAfterMilliseconds 500', { downAfterMilliseconds: 500 }, 'downAfterMilliseconds', '(got 500)', /1000–60000/],
    ['failoverTimeoutMilliseconds below 2 × down-after', { downAfterMilliseconds: 8000, failoverTimeoutMilliseconds: 10000 }, 'failoverTimeoutMilliseconds', '(got 10000)', /≥ 2 × downAfterMilliseconds \(16000\)/],
    ['a cluster domain that is no domain', { clusterDomain: 'Cluster_Local' }, 'clusterDomain', '(got "Cluster_Local")', /DNS domain/],
    ['a name too long for member names', { name: 'r'.repeat(48) }, 'name', `(got "${'r'.repeat(48)}")`, /≤ 47/],
    ['no clients', { clients: [] }, 'clients', 'clients must name at least one client', /nobody could connect/],
  ] as Array<[string, Partial<RedisProps>, string, string, RegExp]>)('rejects %s', (_l, overrides, prop, got, why) => {
    const e = errorOf(() => build(overrides));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toMatch(/^Redis "r*(redis)?"/);
    expect(e.message).toContain(prop);
    expect(e.message).toContain(got);
    expect(e.message).toMatch(why);
  });
});

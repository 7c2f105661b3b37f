/**
 * Redis as a reusable component, in-cluster or external.
 *
 * In-cluster: a primary-only Redis on the hardened StatefulSet base, `redis.conf` in a
 * ConfigMap, the password from a Secret, AOF persistence on a PVC (optional), the
 * oliver006/redis_exporter sidecar with a ServiceMonitor, and alert rules (down, memory near
 * the limit, rejected connections).
 *
 * - Password: never in the ConfigMap, the args or the environment literals. An init container
 *   reads `REDIS_PASSWORD` (a Secret reference) and writes `requirepass "<escaped>"` to a
 *   memory-backed emptyDir (mode 0600); `redis.conf` only says `include /run/redis-auth/auth.conf`.
 *   Unlike `--requirepass $REDIS_PASSWORD` in a shell command, the password never shows in the
 *   process list. The readiness check authenticates with `REDISCLI_AUTH` (also a Secret
 *   reference), the exporter with `REDIS_PASSWORD` (it reads that variable itself).
 * - `maxmemory` = memory limit × `maxmemoryRatio` (@default 0.75): the rest of the container's
 *   limit covers allocator fragmentation, client and replication buffers, and the copy-on-write
 *   pages of an AOF rewrite fork, so Redis refuses writes (`noeviction`) before the kernel
 *   OOM-kills it. The exporter has its own requests/limits.
 * - Persistence: AOF (`appendfsync everysec`) on a PVC; @default off in development, on in
 *   staging and production. Without it `/data` is an emptyDir and a restart empties Redis.
 * - Replicas: primary-only. Replication with Sentinel (or Redis Cluster) is not implemented:
 *   `replicas > 1` is a ComponentError rather than N unrelated primaries behind one Service.
 *   Availability comes from fast restart, the PDB (a drain is planned downtime of one pod) and
 *   the `RedisDown` alert; consumers that fail closed (AION-6) must alert on it.
 *
 * External: `ExternalRedis` renders only egress NetworkPolicies from the named clients to the
 * given CIDRs and port. Both modes give consumers a typed `RedisConnection` (URL from a Secret,
 * DB index 0–15) that `redisEnv` turns into env vars.
 */
import { Construct } from 'constructs';
import { ConfigMap } from './config-map.js';
import { ComponentError, trace } from './meta.js';
import { PrometheusRules, ServiceMonitor, type AlertRule } from './monitoring.js';
import {
  ExternalService,
  StatefulStore,
  parseBytes,
  type ClientRef,
  type Endpoint,
  type SecretKeyRef,
  type Tier,
} from './stateful.js';
import type { EnvValue, WorkloadResources } from './workload.js';
import type { ImageRef } from '../stacks/schema.js';

/** redis 8.2.2 (Alpine), the official Docker library image: the current stable line, OSI-licensed (AGPLv3 option) since Redis 8, and the release that fixes CVE-2025-49844 (Lua use-after-free). Alpine: smaller, has `sh` for the init container. Runs as UID 999 (`redis`). */
export const REDIS_IMAGE: ImageRef = { repository: 'docker.io/library/redis', tag: '8.2.2-alpine' };
/** oliver006/redis_exporter v1.77.0: the exporter the Prometheus community documents for Redis; reads `REDIS_PASSWORD` from its environment. */
export const REDIS_EXPORTER_IMAGE: ImageRef = { repository: 'docker.io/oliver006/redis_exporter', tag: 'v1.77.0' };

export const REDIS_PORT = 6379;
export const REDIS_EXPORTER_PORT = 9121;
const REDIS_UID = 999;

/** What a consumer needs: the URL (with credentials) from a Secret, the DB index, and where to open egress. */
export interface RedisConnection {
  /** Secret key holding `redis://:<password>@<host>:6379` (or `rediss://` for TLS). */
  readonly urlSecret: SecretKeyRef;
  /** Logical database 0–15 (e.g. AION idempotency keys use DB 3). */
  readonly db: number;
  readonly endpoint: Endpoint;
}

/** Anything that hands out Redis connections: the in-cluster `Redis` or an `ExternalRedis`. */
export interface RedisSource {
  connection(db: number): RedisConnection;
}

function checkDb(component: string, id: string, db: number): void {
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new ComponentError(component, id, 'db', 'must be an integer 0–15 (Redis default databases)', db);
}

/** Env vars for a consumer: `<url>` from the Secret key, `<db>` as a literal. @default names REDIS_URL, REDIS_DB */
export function redisEnv(c: RedisConnection, names: { readonly url?: string; readonly db?: string } = {}): Record<string, EnvValue> {
  checkDb('redisEnv', c.urlSecret.name, c.db);
  return { [names.url ?? 'REDIS_URL']: { secret: { name: c.urlSecret.name, key: c.urlSecret.key } }, [names.db ?? 'REDIS_DB']: String(c.db) };
}

export interface RedisProps {
  /** @default redis */
  readonly name?: string;
  readonly namespace: string;
  /** Environment tier: decides the persistence default. */
  readonly tier: Tier;
  /** Resolved image reference of REDIS_IMAGE (or a mirror of it). */
  readonly image: string;
  /** Resolved image reference of REDIS_EXPORTER_IMAGE. */
  readonly exporterImage: string;
  /** Secret key with the password (`requirepass`). */
  readonly passwordSecret: SecretKeyRef;
  /** Secret key with the client URL `redis://:<password>@<name>.<namespace>.svc:6379`, handed to consumers. */
  readonly urlSecret: SecretKeyRef;
  /** Workloads allowed to connect. */
  readonly clients: readonly ClientRef[];
  /** Must be 1: primary-only (see the file comment). @default 1 */
  readonly replicas?: number;
  /** AOF on a PVC. @default false in development, true otherwise */
  readonly persistence?: boolean;
  /** PVC size when persistent. @default 1Gi */
  readonly storageSize?: string;
  /** @default the cluster default */
  readonly storageClassName?: string;
  /** Redis container resources; `maxmemory` derives from the memory limit. @default 100m/500m CPU, 256Mi/256Mi memory */
  readonly resources?: WorkloadResources;
  /** Exporter resources. @default 10m/100m CPU, 32Mi/64Mi memory */
  readonly exporterResources?: WorkloadResources;
  /** `maxmemory` as a share of the memory limit, 0.1–0.9. @default 0.75 */
  readonly maxmemoryRatio?: number;
  /** @default noeviction (writes fail when full; keys with meaning, such as idempotency keys, are never dropped silently) */
  readonly maxmemoryPolicy?: 'noeviction' | 'allkeys-lru' | 'volatile-lru' | 'allkeys-lfu' | 'volatile-lfu' | 'volatile-ttl';
  /** @default 1000 */
  readonly maxclients?: number;
  /** Where Prometheus runs (allowed in on the metrics port). @default monitoring */
  readonly monitoringNamespace?: string;
  /** `key=value` selecting the ServiceMonitor and PrometheusRule into Prometheus. @default release=prometheus */
  readonly prometheusSelector?: string;
  /** Runbook URL of an alert anchor (`redisdown`, `redismemorynearlimit`, `redisrejectedconnections`). */
  readonly runbookUrl: (anchor: string) => string;
  /** Memory share (used / maxmemory) that alerts, 0.5–0.99. @default 0.9 */
  readonly memoryAlertRatio?: number;
  /** Extra concerns (e.g. AION-6) on every object; X-5 is always there. @default none */
  readonly concerns?: readonly string[];
}

const DEFAULT_RESOURCES: WorkloadResources = { cpuRequest: '100m', cpuLimit: '500m', memoryRequest: '256Mi', memoryLimit: '256Mi' };
const EXPORTER_RESOURCES: WorkloadResources = { cpuRequest: '10m', cpuLimit: '100m', memoryRequest: '32Mi', memoryLimit: '64Mi' };

/** The three Redis alerts for the Redis `name` in `namespace` (scraped by the ServiceMonitor: `job` = the Service name). */
export function redisAlerts(name: string, namespace: string, runbookUrl: (anchor: string) => string, memoryAlertRatio = 0.9): AlertRule[] {
  const sel = `job="${name}",namespace="${namespace}"`;
  const pct = Math.round(memoryAlertRatio * 100);
  return [
    {
      alert: 'RedisDown',
      // `or vector(0)`: no series at all (exporter or pod gone) is down too.
      expr: `(max(redis_up{${sel}}) or vector(0)) == 0`,
      for: '1m',
      severity: 'critical',
      summary: `Redis ${namespace}/${name} is down`,
      description: `The exporter cannot reach Redis ${namespace}/${name}, or no exporter is scraped. Consumers that fail closed (rate limiting) reject requests until it is back: check the pod, its PVC and its events.`,
      runbookUrl: runbookUrl('redisdown'),
      concerns: ['X-5'],
    },
    {
      alert: 'RedisMemoryNearLimit',
      expr: `max(redis_memory_used_bytes{${sel}} / (redis_memory_max_bytes{${sel}} > 0)) > ${memoryAlertRatio}`,
      for: '5m',
      severity: 'warning',
      summary: `Redis ${namespace}/${name} uses more than ${pct} % of maxmemory`,
      description: `With maxmemory-policy noeviction Redis refuses writes when full. Look for keys without TTL, raise the memory limit (maxmemory follows it) or lower retention.`,
      runbookUrl: runbookUrl('redismemorynearlimit'),
      concerns: ['X-5'],
    },
    {
      alert: 'RedisRejectedConnections',
      expr: `sum(rate(redis_rejected_connections_total{${sel}}[5m])) > 0`,
      for: '5m',
      severity: 'warning',
      summary: `Redis ${namespace}/${name} is rejecting connections`,
      description: `maxclients is reached: a client leaks connections or its pool is too large. Check connected_clients per client and the pool sizes.`,
      runbookUrl: runbookUrl('redisrejectedconnections'),
      concerns: ['X-5'],
    },
  ];
}

/** `redis.conf` for the given settings (no secret in it). */
export function redisConf(o: { maxmemory: number; policy: string; maxclients: number; persistence: boolean }): string {
  return [
    '# Rendered by stackbook (components/redis.ts). The password comes from the included file.',
    'include /run/redis-auth/auth.conf',
    `port ${REDIS_PORT}`,
    'bind * -::*',
    'protected-mode yes',
    'dir /data',
    `maxmemory ${o.maxmemory}`,
    `maxmemory-policy ${o.policy}`,
    `maxclients ${o.maxclients}`,
    'tcp-keepalive 60',
    'timeout 0',
    // No RDB snapshots: AOF is the persistence when enabled; none at all otherwise.
    'save ""',
    `appendonly ${o.persistence ? 'yes' : 'no'}`,
    'appendfsync everysec',
    // Dangerous admin commands off for every client.
    'rename-command FLUSHALL ""',
    'rename-command DEBUG ""',
    '',
  ].join('\n');
}

/** Shell of the init container: escape `\` and `"` and write the include file, readable by Redis only. */
export const AUTH_SCRIPT = [
  'set -eu',
  'umask 077',
  'escaped=$(printf \'%s\' "$REDIS_PASSWORD" | sed \'s/[\\\\"]/\\\\&/g\')',
  'printf \'requirepass "%s"\\n\' "$escaped" > /run/redis-auth/auth.conf',
].join('\n');

export class Redis extends Construct implements RedisSource {
  readonly store: StatefulStore;
  readonly config: ConfigMap;
  readonly serviceMonitor: ServiceMonitor;
  readonly rules: PrometheusRules;
  readonly maxmemory: number;
  readonly persistence: boolean;
  private readonly urlSecret: SecretKeyRef;

  constructor(scope: Construct, id: string, props: RedisProps) {
    super(scope, id);
    const C = 'Redis';
    const name = props.name ?? 'redis';
    const replicas = props.replicas ?? 1;
    if (replicas !== 1) {
      throw new ComponentError(C, name, 'replicas', 'must be 1: this component runs a single primary (Sentinel/replication is not implemented); use an external Redis for HA', replicas);
    }
    const ratio = props.maxmemoryRatio ?? 0.75;
    if (!(ratio >= 0.1 && ratio <= 0.9)) throw new ComponentError(C, name, 'maxmemoryRatio', 'must be 0.1–0.9 of the memory limit', ratio);
    const alertRatio = props.memoryAlertRatio ?? 0.9;
    if (!(alertRatio >= 0.5 && alertRatio <= 0.99)) throw new ComponentError(C, name, 'memoryAlertRatio', 'must be 0.5–0.99', alertRatio);
    const maxclients = props.maxclients ?? 1000;
    if (!Number.isInteger(maxclients) || maxclients < 1 || maxclients > 65000) throw new ComponentError(C, name, 'maxclients', 'must be an integer 1–65000', maxclients);
    const resources = props.resources ?? DEFAULT_RESOURCES;
    const limit = parseBytes(resources.memoryLimit);
    if (limit === undefined || limit < 32 * 1024 ** 2) throw new ComponentError(C, name, 'resources.memoryLimit', 'must be a memory quantity of at least 32Mi', resources.memoryLimit);
    this.maxmemory = Math.floor(limit * ratio);
    this.persistence = props.persistence ?? props.tier !== 'development';
    this.urlSecret = props.urlSecret;
    const concerns = ['X-5', ...(props.concerns ?? [])];
    const monitoringNamespace = props.monitoringNamespace ?? 'monitoring';

    this.config = new ConfigMap(this, 'Config', {
      name: `${name}-config`,
      namespace: props.namespace,
      data: { 'redis.conf': redisConf({ maxmemory: this.maxmemory, policy: props.maxmemoryPolicy ?? 'noeviction', maxclients, persistence: this.persistence }) },
      concerns,
    });
    const password = { secret: { name: props.passwordSecret.name, key: props.passwordSecret.key } };

    this.store = new StatefulStore(
      this,
      'Store',
      {
        name,
        namespace: props.namespace,
        replicas: 1,
        runAsUser: REDIS_UID,
        clients: props.clients,
        metrics: { namespace: monitoringNamespace, port: 'metrics' },
        terminationGracePeriodSeconds: 30,
        podAnnotations: this.config.annotation,
        emptyDirs: [
          { name: 'auth', sizeLimit: '1Mi', medium: 'Memory' },
          { name: 'tmp', sizeLimit: '16Mi' },
          ...(this.persistence ? [] : [{ name: 'data', sizeLimit: '1Gi' }]),
        ],
        configMaps: [{ name: 'config', configMap: this.config.name }],
        ...(this.persistence
          ? { volumeClaims: [{ name: 'data', size: props.storageSize ?? '1Gi', ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}) }] }
          : {}),
        initContainers: [
          {
            name: 'auth',
            image: props.image,
            command: ['/bin/sh', '-c', AUTH_SCRIPT],
            env: { REDIS_PASSWORD: password },
            resources: { cpuRequest: '10m', cpuLimit: '50m', memoryRequest: '8Mi', memoryLimit: '16Mi' },
            mounts: [{ volume: 'auth', path: '/run/redis-auth' }],
          },
        ],
        container: {
          name: 'redis',
          image: props.image,
          command: ['redis-server', '/etc/redis/redis.conf'],
          env: { REDISCLI_AUTH: password },
          ports: [{ name: 'redis', port: REDIS_PORT }],
          liveness: { tcp: { port: REDIS_PORT } },
          readiness: { exec: ['/bin/sh', '-c', `redis-cli -p ${REDIS_PORT} ping | grep -q PONG`] },
          startupSeconds: this.persistence ? 300 : 30,
          resources,
          mounts: [
            { volume: 'config', path: '/etc/redis', readOnly: true },
            { volume: 'auth', path: '/run/redis-auth', readOnly: true },
            { volume: 'data', path: '/data' },
            { volume: 'tmp', path: '/tmp' },
          ],
        },
        sidecars: [
          {
            name: 'exporter',
            image: props.exporterImage,
            env: { REDIS_ADDR: `redis://localhost:${REDIS_PORT}`, REDIS_PASSWORD: password },
            ports: [{ name: 'metrics', port: REDIS_EXPORTER_PORT }],
            liveness: { tcp: { port: REDIS_EXPORTER_PORT } },
            readiness: { http: { path: '/health', port: REDIS_EXPORTER_PORT } },
            resources: props.exporterResources ?? EXPORTER_RESOURCES,
          },
        ],
        concerns,
      },
      C,
    );
    this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
      name,
      namespace: props.namespace,
      selector: this.store.selector,
      port: 'metrics',
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns,
    });
    this.rules = new PrometheusRules(this, 'Rules', {
      name,
      namespace: props.namespace,
      rules: redisAlerts(name, props.namespace, props.runbookUrl, alertRatio),
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns,
    });
    trace([this.store.serviceAccount, this.store.statefulSet, this.store.headless, this.store.service, this.store.pdb, this.store.networkPolicy], ...concerns);
  }

  connection(db: number): RedisConnection {
    checkDb('Redis', this.store.name, db);
    return { urlSecret: this.urlSecret, db, endpoint: this.store.endpoint() };
  }
}

export interface ExternalRedisProps {
  /** @default redis */
  readonly name?: string;
  readonly host: string;
  /** @default 6379 */
  readonly port?: number;
  readonly cidrs: readonly string[];
  /** Secret key with the full URL (`rediss://:<password>@host:port`). */
  readonly urlSecret: SecretKeyRef;
  readonly clients: readonly (ClientRef & { readonly namespace: string })[];
  /** @default none */
  readonly concerns?: readonly string[];
}

/** External Redis: only the clients' egress policies; the URL stays in its Secret. */
export class ExternalRedis extends Construct implements RedisSource {
  readonly external: ExternalService;
  private readonly urlSecret: SecretKeyRef;
  private readonly name: string;
  constructor(scope: Construct, id: string, props: ExternalRedisProps) {
    super(scope, id);
    this.name = props.name ?? 'redis';
    this.urlSecret = props.urlSecret;
    this.external = new ExternalService(
      this,
      'External',
      { name: this.name, host: props.host, port: props.port ?? REDIS_PORT, cidrs: props.cidrs, clients: props.clients, concerns: ['X-5', ...(props.concerns ?? [])] },
      'ExternalRedis',
    );
  }

  connection(db: number): RedisConnection {
    checkDb('ExternalRedis', this.name, db);
    return { urlSecret: this.urlSecret, db, endpoint: this.external.endpoint };
  }
}

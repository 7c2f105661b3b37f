/**
 * Redis as a reusable component (X-5), in-cluster or external.
 *
 * In-cluster: a primary-only Redis on the hardened StatefulSet base, `redis.conf` in a
 * ConfigMap, the password from a Secret, AOF persistence on a PVC (optional), the
 * oliver006/redis_exporter sidecar with a ServiceMonitor, and alert rules (down, memory near
 * the limit, rejected connections).
 *
 * - Password: never in the ConfigMap, the args or the environment (issue 14 item 17). The Secret
 *   key is mounted read-only as a file (`REDIS_PASSWORD_FILE`, a projected volume, mode 0440 for
 *   the pod's group). An init container reads it and writes `requirepass "<escaped>"` to a
 *   memory-backed emptyDir (mode 0600); `redis.conf` only says `include /run/redis-auth/auth.conf`.
 *   Unlike `--requirepass $REDIS_PASSWORD` in a shell command, the password never shows in the
 *   process list. The readiness check sets `REDISCLI_AUTH` for redis-cli from the file inside
 *   the probe's shell (redis-cli reads that variable, src/redis-cli.c `REDIS_CLI_AUTH_ENV`). The
 *   exporter reads the JSON password map the init container writes beside it
 *   (`REDIS_PASSWORD_FILE` of redis_exporter v1.77.0, main.go:149, exporter/pwd_file.go: a JSON
 *   object `{"<REDIS_ADDR>": "<password>"}`, looked up by the scrape URI, exporter/redis.go:58).
 *   HAProxy (replicated mode) gets it through `global setenv` in a file an init container renders
 *   into a memory emptyDir, loaded before haproxy.cfg.
 * - `maxmemory` = memory limit × `maxmemoryRatio` (@default 0.75): the rest of the container's
 *   limit covers allocator fragmentation, client and replication buffers, and the copy-on-write
 *   pages of an AOF rewrite fork, so Redis refuses writes (`noeviction`) before the kernel
 *   OOM-kills it. The exporter has its own requests/limits.
 * - Persistence: AOF (`appendfsync everysec`) on a PVC; @default off in development, on in
 *   staging and production. Without it `/data` is an emptyDir and a restart empties Redis.
 * - Replicas: `1` (@default) is a single primary: availability comes from fast restart, the PDB
 *   (a drain is planned downtime of one pod) and the `RedisDown` alert. An odd number ≥ 3 is
 *   replication with automatic failover, the shape of the redis-ha chart (see `RedisHa` below):
 *   a StatefulSet `<name>-node` whose every pod runs redis + sentinel (+ exporter), and an
 *   HAProxy Deployment behind the client Service `<name>` that routes to the primary only, so
 *   clients keep the plain `redis://:<password>@<name>.<namespace>.svc:6379/<db>` URL (no
 *   Sentinel-aware client). Even counts are refused: with 2 (or 4) members, losing half leaves
 *   no Sentinel majority and no failover.
 *
 * External: `ExternalRedis` renders only egress NetworkPolicies from the named clients to the
 * given CIDRs and port. Both modes give consumers a typed `RedisConnection` (URL from a Secret,
 * DB index 0–15) that `redisEnv` turns into env vars.
 */
import { JsonPatch } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ConfigMap } from './config-map.js';
import { ComponentError, selectorLabels, trace } from './meta.js';
import { PrometheusRules, ServiceMonitor, type AlertRule } from './monitoring.js';
import { AllowList } from './network-policy.js';
import {
  ExternalStore,
  type ExternalStoreProps,
  StatefulStore,
  clientPeer,
  hardenedContainer,
  parseBytes,
  podVolumes,
  restrictedPodSecurity,
  type ClientRef,
  type ContainerSpec,
  type Endpoint,
  type SecretKeyRef,
  type SecretVolume,
  type Tier,
  podVolumeSizes,
} from './stateful.js';
import type { EnvValue, WorkloadResources } from './workload.js';
import type { ImageRef } from '../kube/image.js';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../kube/names.js';
import { aofStorageSize, redisStorageProblem } from '../kube/storage.js';

export { AOF_STORAGE_FACTOR, aofStorageSize, redisStorageProblem } from '../kube/storage.js';

/** redis 8.2.2 (Alpine), the official Docker library image: the current stable line, OSI-licensed (AGPLv3 option) since Redis 8, and the release that fixes CVE-2025-49844 (Lua use-after-free). Alpine: smaller, has `sh` for the init container. Runs as UID 999 (`redis`). */
export const REDIS_IMAGE: ImageRef = { repository: 'docker.io/library/redis', tag: '8.2.2-alpine' };
/** oliver006/redis_exporter v1.77.0: the exporter the Prometheus community documents for Redis; reads `REDIS_PASSWORD` from its environment. */
export const REDIS_EXPORTER_IMAGE: ImageRef = { repository: 'docker.io/oliver006/redis_exporter', tag: 'v1.77.0' };

export const REDIS_PORT = 6379;
export const REDIS_EXPORTER_PORT = 9121;
/** Sentinel's port (replicated mode). */
export const SENTINEL_PORT = 26379;
/** HAProxy's health endpoint (`/healthz`, readiness) in replicated mode. */
export const HAPROXY_HEALTH_PORT = 8404;
/** Where the password Secret key is mounted read-only (a projected volume, mode 0440, the pod's fsGroup). */
export const REDIS_PASSWORD_FILE = '/run/secrets/redis/password';
const PASSWORD_DIR = '/run/secrets/redis';
/** The exporter's scrape address; also the key of its password map (redis_exporter exporter/redis.go:58 looks the URI up as is). */
const EXPORTER_ADDR = `redis://localhost:${REDIS_PORT}`;
/** redis-cli in a probe: `REDISCLI_AUTH` from the mounted file, set for that one command only. */
const cliPing = (port: number) => `REDISCLI_AUTH="$(cat ${REDIS_PASSWORD_FILE})" redis-cli -p ${port} ping | grep -q PONG`;
const REDIS_UID = 999;
/** The official haproxy image's `haproxy` user and group. */
const HAPROXY_UID = 99;

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
  /**
   * 1: a single primary. An odd number ≥ 3: that many redis + sentinel members with automatic
   * failover behind HAProxy (see the file comment); 2 and other even numbers are refused. @default 1
   */
  readonly replicas?: number;
  /** Resolved image reference of the platform image `haproxy`. Required when `replicas > 1`. @default none */
  readonly haproxyImage?: string;
  /** HAProxy replicas in front of a replicated Redis, at least 2. @default 2 */
  readonly haproxyReplicas?: number;
  /** HAProxy container resources. @default 50m/250m CPU, 64Mi/128Mi memory */
  readonly haproxyResources?: WorkloadResources;
  /** Sentinel container resources. @default 20m/100m CPU, 32Mi/64Mi memory */
  readonly sentinelResources?: WorkloadResources;
  /** Sentinel `down-after-milliseconds`: how long the primary may be unreachable before a failover, 1000–60000. @default 5000 */
  readonly downAfterMilliseconds?: number;
  /**
   * Sentinel `failover-timeout`, at least 2 × downAfterMilliseconds. A sentinel retries an aborted
   * failover (e.g. `-failover-abort-no-good-slave` when the replicas' last INFO is older than 5 s
   * at the moment of the vote) only after twice this, so it bounds the worst-case time without a
   * primary. @default 10000
   */
  readonly failoverTimeoutMilliseconds?: number;
  /** The cluster's DNS domain: members announce `<pod>.<name>-node.<namespace>.svc.<domain>`. @default cluster.local */
  readonly clusterDomain?: string;
  /** AOF on a PVC. @default false in development, true otherwise */
  readonly persistence?: boolean;
  /**
   * PVC size when persistent; at least `AOF_STORAGE_FACTOR` (3) × `maxmemory`: an AOF rewrite
   * writes a new base file of the whole dataset beside the old AOF and its increments, and the
   * volume must hold both. @default 3 × maxmemory rounded up to whole Gi, at least 1Gi
   */
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

/**
 * `redis.conf` for the given settings (no secret in it). Primary-only: it includes the auth file
 * the init container writes. Replicated (`replicated: true`): the init container copies it into
 * a memory emptyDir and appends the password, the announced host name and `replicaof`.
 */
export function redisConf(o: { maxmemory: number; policy: string; maxclients: number; persistence: boolean; replicated?: boolean }): string {
  return [
    ...(o.replicated
      ? ['# Rendered by stackbook (components/redis.ts). The init container appends the password, the announced host and replicaof.']
      : ['# Rendered by stackbook (components/redis.ts). The password comes from the included file.', 'include /run/redis-auth/auth.conf']),
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

/**
 * Shell of the init container: read the password from the mounted file (`REDIS_PASSWORD_FILE`),
 * escape `\\` and `"` and write the include file and the exporter's password map (JSON escapes the
 * same two characters; the address is `REDIS_EXPORTER_ADDR`), readable by the pod's user only.
 */
export const AUTH_SCRIPT = [
  'set -eu',
  'umask 077',
  'escaped=$(sed \'s/[\\\\"]/\\\\&/g\' "$REDIS_PASSWORD_FILE")',
  'printf \'requirepass "%s"\\n\' "$escaped" > /run/redis-auth/auth.conf',
  'printf \'{"%s": "%s"}\\n\' "$REDIS_EXPORTER_ADDR" "$escaped" > /run/redis-auth/exporter.json',
].join('\n');

/**
 * Shell of HAProxy's init container (replicated mode): `global setenv REDIS_PASSWORD "<escaped>"`
 * from the mounted file into `/run/haproxy/auth.cfg` (memory emptyDir, mode 0600), loaded before
 * haproxy.cfg, whose checks read `%[env(REDIS_PASSWORD)]`. Inside HAProxy's double quotes `\\`, `"`
 * and `$` are escaped (HAProxy configuration manual 2.2 "Quoting and escaping").
 */
export const HAPROXY_AUTH_SCRIPT = [
  'set -eu',
  'umask 077',
  'escaped=$(sed \'s/[\\\\"$]/\\\\&/g\' "$REDIS_PASSWORD_FILE")',
  'printf \'global\\n  setenv REDIS_PASSWORD "%s"\\n\' "$escaped" > /run/haproxy/auth.cfg',
].join('\n');

/** Static head of `sentinel.conf` (replicated mode): the init container appends the monitored primary, the timings and the password. */
export function sentinelConf(): string {
  return [
    '# Rendered by stackbook (components/redis.ts). The init container appends the monitored primary, the timings and the password.',
    `port ${SENTINEL_PORT}`,
    'bind * -::*',
    'dir /tmp',
    // Members are known by their stable pod DNS names, not by pod IPs that change on restart.
    'sentinel resolve-hostnames yes',
    'sentinel announce-hostnames yes',
    '',
  ].join('\n');
}

/**
 * Shell of the init container in replicated mode: decide the role, then write `redis.conf` and
 * `sentinel.conf` (with the password) into the memory emptyDir `/run/redis`, readable by the owner only.
 *
 * The primary is the member a reachable sentinel names (`SENTINEL get-master-addr-by-name`, only
 * answers naming a member count); when none answers (first start, or every member restarted),
 * member 0. When the sentinels still name this very member (it restarted before they failed over),
 * it waits up to `REDIS_HA_WAIT_SECONDS` for their failover instead of coming back as a primary
 * that may have lost its data and would then empty the replicas. Environment: `REDIS_PASSWORD_FILE`
 * (the mounted Secret key), `REDIS_EXPORTER_ADDR`, `POD_NAME`, and the literals `REDIS_HA_*` (member host names in ordinal order,
 * master group name, ports, quorum, timings).
 */
export const HA_INIT_SCRIPT = [
  'set -eu',
  'umask 077',
  'ordinal=${POD_NAME##*-}',
  "self=''",
  "first=''",
  'i=0',
  'for h in $REDIS_HA_HOSTS; do',
  '  [ -n "$first" ] || first=$h',
  '  [ "$i" != "$ordinal" ] || self=$h',
  '  i=$((i + 1))',
  'done',
  'if [ -z "$self" ]; then',
  '  echo "redis-ha: pod $POD_NAME has no host in REDIS_HA_HOSTS" >&2',
  '  exit 1',
  'fi',
  'REDIS_PASSWORD=$(cat "$REDIS_PASSWORD_FILE")',
  'export REDISCLI_AUTH="$REDIS_PASSWORD"',
  'ask() {',
  '  for h in $REDIS_HA_HOSTS; do',
  '    [ "$h" != "$self" ] || continue',
  "    reply=$(timeout 3 redis-cli --raw -h \"$h\" -p \"$REDIS_HA_SENTINEL_PORT\" SENTINEL get-master-addr-by-name \"$REDIS_HA_MASTER\" 2>/dev/null | head -n 1) || reply=''",
  '    for m in $REDIS_HA_HOSTS; do',
  '      if [ "$reply" = "$m" ]; then echo "$m"; return 0; fi',
  '    done',
  '  done',
  '  return 1',
  '}',
  "primary=$(ask) || primary=''",
  'if [ "$primary" = "$self" ]; then',
  '  echo "redis-ha: the sentinels still name $self the primary: waiting up to ${REDIS_HA_WAIT_SECONDS}s for their failover" >&2',
  '  waited=0',
  '  while [ "$primary" = "$self" ] && [ "$waited" -lt "$REDIS_HA_WAIT_SECONDS" ]; do',
  '    sleep 1',
  '    waited=$((waited + 1))',
  '    primary=$(ask) || primary=$self',
  '  done',
  'fi',
  '[ -n "$primary" ] || primary=$first',
  'pw=$(printf \'%s\' "$REDIS_PASSWORD" | sed \'s/[\\\\"]/\\\\&/g\')',
  '{',
  '  cat /etc/redis/redis.conf',
  '  printf \'requirepass "%s"\\n\' "$pw"',
  '  printf \'masterauth "%s"\\n\' "$pw"',
  '  printf \'replica-announce-ip %s\\n\' "$self"',
  '  if [ "$primary" != "$self" ]; then printf \'replicaof %s %s\\n\' "$primary" "$REDIS_HA_REDIS_PORT"; fi',
  '} > /run/redis/redis.conf',
  '{',
  '  cat /etc/redis/sentinel.conf',
  '  printf \'sentinel announce-ip %s\\n\' "$self"',
  '  printf \'sentinel monitor %s %s %s %s\\n\' "$REDIS_HA_MASTER" "$primary" "$REDIS_HA_REDIS_PORT" "$REDIS_HA_QUORUM"',
  '  printf \'sentinel down-after-milliseconds %s %s\\n\' "$REDIS_HA_MASTER" "$REDIS_HA_DOWN_AFTER_MS"',
  '  printf \'sentinel failover-timeout %s %s\\n\' "$REDIS_HA_MASTER" "$REDIS_HA_FAILOVER_TIMEOUT_MS"',
  '  printf \'sentinel parallel-syncs %s 1\\n\' "$REDIS_HA_MASTER"',
  '  printf \'sentinel auth-pass %s "%s"\\n\' "$REDIS_HA_MASTER" "$pw"',
  '  printf \'sentinel sentinel-pass "%s"\\n\' "$pw"',
  '  printf \'requirepass "%s"\\n\' "$pw"',
  '} > /run/redis/sentinel.conf',
  // The exporter's password map (JSON escapes the same two characters as redis.conf).
  'printf \'{"%s": "%s"}\\n\' "$REDIS_EXPORTER_ADDR" "$pw" > /run/redis/exporter.json',
  'if [ "$primary" = "$self" ]; then echo "redis-ha: $self starts as the primary"; else echo "redis-ha: $self starts as a replica of $primary"; fi',
].join('\n');

/** RESP `AUTH <password>` with the password read by HAProxy from its environment (binary-safe: the length is computed, no quoting). */
const HAPROXY_AUTH = 'tcp-check send-lf "*2\\r\\n\\$4\\r\\nAUTH\\r\\n\\$%[env(REDIS_PASSWORD),length]\\r\\n%[env(REDIS_PASSWORD)]\\r\\n"';

/**
 * `haproxy.cfg` (replicated mode; no secret in it). A member receives clients only while it answers
 * `role:master` AND at least `quorum` sentinels name it the primary: servers have weight 0, so
 * load balancing never picks one and only the `use-server` rules route, and a primary that the
 * sentinels have demoted (or a partitioned old primary) gets no new clients. When a member stops
 * being the primary its client sessions are cut (`on-marked-down shutdown-sessions`) and clients
 * reconnect to the new one. Host names are resolved at run time (pod IPs change). No `QUIT` at the
 * end of a check: Sentinel does not know the command; HAProxy closes the connection itself.
 */
export function haproxyConfig(o: { master: string; hosts: readonly string[]; quorum: number; maxconn: number }): string {
  const server = (name: string, host: string, port: number, extra: string) =>
    `  server ${name} ${host}:${port} check inter 1s ${extra} resolvers cluster resolve-prefer ipv4 init-addr none`;
  const lines = [
    `# Rendered by stackbook (components/redis.ts): clients of Redis "${o.master}" reach the current primary only.`,
    '# No password here: REDIS_PASSWORD is set by /run/haproxy/auth.cfg (global setenv), rendered by the init container from the mounted Secret.',
    'global',
    '  log stdout format raw local0 notice',
    `  maxconn ${o.maxconn}`,
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    '  timeout connect 3s',
    // Until the connection is established (and for the health frontend's HTTP requests).
    '  timeout client 330s',
    '  timeout server 330s',
    // Once a client is connected to Redis the session is a tunnel: an idle Pub/Sub subscriber (OWS
    // fan-out) or a pooled connection must not be cut after 330 s. `timeout tunnel` supersedes the
    // client/server timeouts then; TCP keepalives (both sides) still find dead peers, and
    // `on-marked-down shutdown-sessions` cuts sessions of a demoted primary.
    '  timeout tunnel 24h',
    '  option clitcpka',
    '  option srvtcpka',
    '  timeout check 2s',
    '',
    'resolvers cluster',
    '  parse-resolv-conf',
    '  resolve_retries 3',
    '  timeout resolve 1s',
    '  timeout retry 1s',
    '  hold valid 5s',
    '  hold nx 5s',
    '  hold obsolete 5s',
    '',
    'frontend health',
    '  mode http',
    `  bind :${HAPROXY_HEALTH_PORT}`,
    '  monitor-uri /healthz',
    // Ready only while a primary is routable (the same condition as the `use-server` rules below):
    // with no primary, /healthz answers 503 and the Service stops sending clients here.
    `  monitor fail unless ${o.hosts.map((_h, i) => `{ srv_is_up(primary/node-${i}) } { nbsrv(sentinels-agree-${i}) ge ${o.quorum} }`).join(' || ')}`,
    '',
    'frontend redis',
    `  bind :${REDIS_PORT}`,
    '  default_backend primary',
    '',
    'backend primary',
    '  option tcp-check',
    '  tcp-check connect',
    `  ${HAPROXY_AUTH}`,
    '  tcp-check expect string +OK',
    '  tcp-check send "INFO replication\\r\\n"',
    '  tcp-check expect string role:master',
    ...o.hosts.map((_h, i) => `  use-server node-${i} if { srv_is_up(node-${i}) } { nbsrv(sentinels-agree-${i}) ge ${o.quorum} }`),
    ...o.hosts.map((h, i) => server(`node-${i}`, h, REDIS_PORT, 'fall 2 rise 1 weight 0 on-marked-down shutdown-sessions')),
  ];
  o.hosts.forEach((h, i) => {
    lines.push(
      '',
      `# Up while a sentinel names ${h} the primary: one server per sentinel.`,
      `backend sentinels-agree-${i}`,
      '  option tcp-check',
      '  tcp-check connect',
      `  ${HAPROXY_AUTH}`,
      '  tcp-check expect string +OK',
      `  tcp-check send "SENTINEL get-master-addr-by-name ${o.master}\\r\\n"`,
      `  tcp-check expect string "${h}\\r\\n"`,
      ...o.hosts.map((s, j) => server(`sentinel-${j}`, s, SENTINEL_PORT, 'fall 1 rise 1')),
    );
  });
  return `${lines.join('\n')}\n`;
}

/**
 * The replicated-mode alerts for Redis `name` (`replicas` members), in their own PrometheusRule
 * `<name>-replication`: the three `redisAlerts` stay the same in both modes (`RedisDown`, critical,
 * still means every member is down).
 */
export function redisReplicationAlerts(name: string, namespace: string, replicas: number, runbookUrl: (anchor: string) => string): AlertRule[] {
  const sel = `job="${name}",namespace="${namespace}"`;
  const anyUp = `on() (max(redis_up{${sel}}) == 1)`;
  return [
    {
      alert: 'RedisNoPrimary',
      expr: `(count(redis_instance_info{${sel},role="master"}) or vector(0)) == 0 and ${anyUp}`,
      for: '1m',
      severity: 'critical',
      summary: `Redis ${namespace}/${name} has no primary`,
      description: `Members are up but none reports role master: Sentinel has not promoted a replica (no majority of sentinels, or no replica fit to promote). Writes fail and consumers that fail closed reject requests: check SENTINEL masters and SENTINEL ckquorum ${name} on a member.`,
      runbookUrl: runbookUrl('redisnoprimary'),
      concerns: ['X-5'],
    },
    {
      alert: 'RedisReplicasMissing',
      expr: `(max(redis_connected_slaves{${sel}} and on(instance) redis_instance_info{${sel},role="master"}) or vector(0)) < ${replicas - 1}`,
      for: '5m',
      severity: 'warning',
      summary: `Redis ${namespace}/${name} has fewer than ${replicas - 1} replicas connected to its primary`,
      description: `A replica is down or cannot follow the primary (wrong masterauth, full resync looping, network policy). One more failure may leave no replica to promote. Check INFO replication on the members and their logs.`,
      runbookUrl: runbookUrl('redisreplicasmissing'),
      concerns: ['X-5'],
    },
    {
      alert: 'RedisInstanceDown',
      expr: `(count(redis_up{${sel}} == 1) or vector(0)) < ${replicas} and ${anyUp}`,
      for: '5m',
      severity: 'warning',
      summary: `Redis ${namespace}/${name} runs with fewer than ${replicas} members up`,
      description: `At least one member is down or not scraped while others still serve (all down is RedisDown). The set tolerates one more loss at most: check the pod, its PVC, its node and its events.`,
      runbookUrl: runbookUrl('redisinstancedown'),
      concerns: ['X-5'],
    },
  ];
}

const HAPROXY_RESOURCES: WorkloadResources = { cpuRequest: '50m', cpuLimit: '250m', memoryRequest: '64Mi', memoryLimit: '128Mi' };
const SENTINEL_RESOURCES: WorkloadResources = { cpuRequest: '20m', cpuLimit: '100m', memoryRequest: '32Mi', memoryLimit: '64Mi' };
const INIT_RESOURCES: WorkloadResources = { cpuRequest: '10m', cpuLimit: '50m', memoryRequest: '8Mi', memoryLimit: '16Mi' };

/** The objects of a replicated Redis (`replicas` ≥ 3). */
export interface RedisHaObjects {
  /** `<name>-node`: the redis + sentinel members. */
  readonly statefulSet: k8s.KubeStatefulSet;
  /** `<name>-node`, headless: stable member DNS names, and the metrics Service. */
  readonly headless: k8s.KubeService;
  readonly nodeServiceAccount: k8s.KubeServiceAccount;
  readonly nodePdb: k8s.KubePodDisruptionBudget;
  readonly nodePolicy: k8s.KubeNetworkPolicy;
  /** `<name>`: HAProxy, routing to the primary. */
  readonly deployment: k8s.KubeDeployment;
  /** `<name>`: the client Service, selecting the HAProxy pods. */
  readonly service: k8s.KubeService;
  readonly proxyServiceAccount: k8s.KubeServiceAccount;
  readonly proxyPdb: k8s.KubePodDisruptionBudget;
  readonly proxyPolicy: k8s.KubeNetworkPolicy;
  /** `<name>-haproxy`: haproxy.cfg. */
  readonly proxyConfig: ConfigMap;
  /** `<name>-replication`: the replicated-mode alerts. */
  readonly rules: PrometheusRules;
  /** Member host names, in ordinal order. */
  readonly hosts: readonly string[];
  readonly quorum: number;
}

export class Redis extends Construct implements RedisSource {
  /** The primary-only store (`replicas` 1); undefined when replicated. */
  readonly store: StatefulStore | undefined;
  /** The replicated objects (`replicas` ≥ 3); undefined for a single primary. */
  readonly ha: RedisHaObjects | undefined;
  readonly config: ConfigMap;
  readonly serviceMonitor: ServiceMonitor;
  readonly rules: PrometheusRules;
  readonly maxmemory: number;
  readonly persistence: boolean;
  /** The PVC size of each member when persistent. */
  readonly storageSize: string;
  readonly replicas: number;
  private readonly urlSecret: SecretKeyRef;
  private readonly endpointOf: () => Endpoint;
  private readonly storeName: string;

  constructor(scope: Construct, id: string, props: RedisProps) {
    super(scope, id);
    const C = 'Redis';
    const name = props.name ?? 'redis';
    const replicas = props.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1) throw new ComponentError(C, name, 'replicas', 'must be 1 (a single primary) or an odd number ≥ 3 (replication with Sentinel failover)', replicas);
    if (replicas > 1 && replicas % 2 === 0) {
      throw new ComponentError(C, name, 'replicas', `must be odd: with ${replicas} members, losing ${replicas / 2} leaves no Sentinel majority and no failover (use ${replicas + 1} or ${replicas - 1 > 1 ? replicas - 1 : 1})`, replicas);
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
    const aof = aofStorageSize(this.maxmemory);
    this.storageSize = props.storageSize ?? aof.defaultSize;
    if (this.persistence) {
      const storageBytes = parseBytes(this.storageSize);
      if (storageBytes === undefined || storageBytes <= 0) throw new ComponentError(C, name, 'storageSize', 'must be a storage quantity such as 10Gi', props.storageSize);
      const problem = redisStorageProblem(resources.memoryLimit, this.storageSize, ratio);
      if (problem) throw new ComponentError(C, name, 'storageSize', problem, props.storageSize);
    }
    this.replicas = replicas;
    this.urlSecret = props.urlSecret;
    this.storeName = name;
    const concerns = ['X-5', ...(props.concerns ?? [])];
    const monitoringNamespace = props.monitoringNamespace ?? 'monitoring';
    const password = { name: 'password', items: [{ secret: props.passwordSecret.name, key: props.passwordSecret.key, path: 'password' }] };
    const passwordMount = { volume: 'password', path: PASSWORD_DIR, readOnly: true };
    const fileEnv = { REDIS_PASSWORD_FILE: REDIS_PASSWORD_FILE, REDIS_EXPORTER_ADDR: EXPORTER_ADDR };
    // The password map the init container wrote into `dir` (a memory emptyDir, mounted read-only).
    const exporter = (volume: string, dir: string): ContainerSpec => ({
      name: 'exporter',
      image: props.exporterImage,
      env: { REDIS_ADDR: EXPORTER_ADDR, REDIS_PASSWORD_FILE: `${dir}/exporter.json` },
      mounts: [{ volume, path: dir, readOnly: true }],
      ports: [{ name: 'metrics', port: REDIS_EXPORTER_PORT }],
      liveness: { tcp: { port: REDIS_EXPORTER_PORT } },
      readiness: { http: { path: '/health', port: REDIS_EXPORTER_PORT } },
      resources: props.exporterResources ?? EXPORTER_RESOURCES,
    });
    const confOptions = { maxmemory: this.maxmemory, policy: props.maxmemoryPolicy ?? 'noeviction', maxclients, persistence: this.persistence };

    if (replicas === 1) {
      this.config = new ConfigMap(this, 'Config', {
        name: `${name}-config`,
        namespace: props.namespace,
        data: { 'redis.conf': redisConf(confOptions) },
        concerns,
      });
      const store = new StatefulStore(
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
          secrets: [password],
          ...(this.persistence
            ? { volumeClaims: [{ name: 'data', size: this.storageSize, ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}) }] }
            : {}),
          initContainers: [
            {
              name: 'auth',
              image: props.image,
              command: ['/bin/sh', '-c', AUTH_SCRIPT],
              env: fileEnv,
              resources: INIT_RESOURCES,
              mounts: [{ volume: 'auth', path: '/run/redis-auth' }, passwordMount],
            },
          ],
          container: {
            name: 'redis',
            image: props.image,
            command: ['redis-server', '/etc/redis/redis.conf'],
            ports: [{ name: 'redis', port: REDIS_PORT }],
            liveness: { tcp: { port: REDIS_PORT } },
            readiness: { exec: ['/bin/sh', '-c', cliPing(REDIS_PORT)] },
            startupSeconds: this.persistence ? 300 : 30,
            resources,
            mounts: [
              { volume: 'config', path: '/etc/redis', readOnly: true },
              { volume: 'auth', path: '/run/redis-auth', readOnly: true },
              { volume: 'data', path: '/data' },
              { volume: 'tmp', path: '/tmp' },
              passwordMount,
            ],
          },
          sidecars: [exporter('auth', '/run/redis-auth')],
          concerns,
        },
        C,
      );
      this.store = store;
      this.ha = undefined;
      this.endpointOf = () => store.endpoint();
      this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
        name,
        namespace: props.namespace,
        selector: store.selector,
        port: 'metrics',
        ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
        concerns,
      });
      trace([store.serviceAccount, store.statefulSet, store.headless, store.service, store.pdb, store.networkPolicy], ...concerns);
    } else {
      this.store = undefined;
      const ha = this.replicated(C, name, props, { replicas, concerns, monitoringNamespace, password, passwordMount, fileEnv, exporter: exporter('run', '/run/redis'), resources, confOptions });
      this.config = ha.config;
      this.ha = ha.objects;
      this.serviceMonitor = ha.serviceMonitor;
      const endpoint: Endpoint = { host: `${name}.${props.namespace}.svc`, port: REDIS_PORT, peers: [{ namespace: props.namespace, pods: selectorLabels(name) }] };
      this.endpointOf = () => endpoint;
    }
    // The same three alerts in both modes (replicated mode adds `<name>-replication`).
    this.rules = new PrometheusRules(this, 'Rules', {
      name,
      namespace: props.namespace,
      rules: redisAlerts(name, props.namespace, props.runbookUrl, alertRatio),
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns,
    });
  }

  /** Replicated mode: the members (redis + sentinel + exporter), HAProxy in front, their policies, PDBs and alerts. */
  private replicated(
    C: string,
    name: string,
    props: RedisProps,
    o: {
      replicas: number;
      concerns: string[];
      monitoringNamespace: string;
      password: SecretVolume;
      passwordMount: { volume: string; path: string; readOnly: boolean };
      fileEnv: Record<string, string>;
      exporter: ContainerSpec;
      resources: WorkloadResources;
      confOptions: Parameters<typeof redisConf>[0];
    },
  ): { config: ConfigMap; objects: RedisHaObjects; serviceMonitor: ServiceMonitor } {
    const ns = props.namespace;
    if (!DNS_LABEL.test(name) || name.length > 47) throw new ComponentError(C, name, 'name', 'must be a DNS label of ≤ 47 characters when replicated (members are <name>-node-<n>)', name);
    if (!props.haproxyImage) throw new ComponentError(C, name, 'haproxyImage', 'is required when replicas > 1 (HAProxy routes clients to the primary): resolve the platform image "haproxy"', props.haproxyImage);
    const proxyReplicas = props.haproxyReplicas ?? 2;
    if (!Number.isInteger(proxyReplicas) || proxyReplicas < 2) throw new ComponentError(C, name, 'haproxyReplicas', 'must be an integer ≥ 2 (one HAProxy is a single point of failure)', proxyReplicas);
    const downAfter = props.downAfterMilliseconds ?? 5000;
    if (!Number.isInteger(downAfter) || downAfter < 1000 || downAfter > 60000) throw new ComponentError(C, name, 'downAfterMilliseconds', 'must be an integer 1000–60000', downAfter);
    const failoverTimeout = props.failoverTimeoutMilliseconds ?? 10000;
    if (!Number.isInteger(failoverTimeout) || failoverTimeout < 2 * downAfter) {
      throw new ComponentError(C, name, 'failoverTimeoutMilliseconds', `must be an integer ≥ 2 × downAfterMilliseconds (${2 * downAfter})`, failoverTimeout);
    }
    const domain = props.clusterDomain ?? 'cluster.local';
    if (!DNS_SUBDOMAIN.test(domain)) throw new ComponentError(C, name, 'clusterDomain', 'must be a DNS domain such as cluster.local', domain);
    if (props.clients.length === 0) throw new ComponentError(C, name, 'clients', 'must name at least one client workload (nobody could connect)');

    const nodeName = `${name}-node`;
    const nodeSel = selectorLabels(nodeName);
    const proxySel = selectorLabels(name);
    const hosts = Array.from({ length: o.replicas }, (_v, i) => `${nodeName}-${i}.${nodeName}.${ns}.svc.${domain}`);
    const quorum = Math.floor(o.replicas / 2) + 1;
    const concerns = o.concerns;

    const config = new ConfigMap(this, 'Config', {
      name: `${name}-config`,
      namespace: ns,
      data: { 'redis.conf': redisConf({ ...o.confOptions, replicated: true }), 'sentinel.conf': sentinelConf() },
      concerns,
    });
    const proxyConfig = new ConfigMap(this, 'HaproxyConfig', {
      name: `${name}-haproxy`,
      namespace: ns,
      data: { 'haproxy.cfg': haproxyConfig({ master: name, hosts, quorum, maxconn: o.confOptions.maxclients }) },
      concerns,
    });

    // ------------------------------------------------------------------ members
    const nodeSa = new k8s.KubeServiceAccount(this, 'NodeServiceAccount', { metadata: { name: nodeName, namespace: ns, labels: nodeSel }, automountServiceAccountToken: false });
    const emptyDirs = [
      { name: 'run', sizeLimit: '4Mi', medium: 'Memory' as const },
      { name: 'tmp', sizeLimit: '16Mi' },
      ...(this.persistence ? [] : [{ name: 'data', sizeLimit: '1Gi' }]),
    ];
    const configMaps = [{ name: 'config', configMap: config.name }];
    const volumeNames = podVolumeSizes(emptyDirs, ['config', 'password', ...(this.persistence ? ['data'] : [])]);
    const haEnv = {
      POD_NAME: { field: 'metadata.name' },
      ...o.fileEnv,
      REDIS_HA_HOSTS: hosts.join(' '),
      REDIS_HA_MASTER: name,
      REDIS_HA_QUORUM: String(quorum),
      REDIS_HA_REDIS_PORT: String(REDIS_PORT),
      REDIS_HA_SENTINEL_PORT: String(SENTINEL_PORT),
      REDIS_HA_DOWN_AFTER_MS: String(downAfter),
      REDIS_HA_FAILOVER_TIMEOUT_MS: String(failoverTimeout),
      // Long enough for the sentinels to notice this member is gone and promote another.
      REDIS_HA_WAIT_SECONDS: String(Math.ceil((2 * downAfter) / 1000) + 30),
    } as const;
    const init: ContainerSpec = {
      name: 'config',
      image: props.image,
      command: ['/bin/sh', '-c', HA_INIT_SCRIPT],
      env: haEnv,
      resources: INIT_RESOURCES,
      mounts: [
        { volume: 'config', path: '/etc/redis', readOnly: true },
        { volume: 'run', path: '/run/redis' },
        o.passwordMount,
      ],
    };
    const redis: ContainerSpec = {
      name: 'redis',
      image: props.image,
      command: ['redis-server', '/run/redis/redis.conf'],
      ports: [{ name: 'redis', port: REDIS_PORT }],
      liveness: { tcp: { port: REDIS_PORT } },
      readiness: { exec: ['/bin/sh', '-c', cliPing(REDIS_PORT)] },
      startupSeconds: this.persistence ? 300 : 60,
      resources: o.resources,
      mounts: [
        { volume: 'run', path: '/run/redis' },
        { volume: 'data', path: '/data' },
        { volume: 'tmp', path: '/tmp' },
        o.passwordMount,
      ],
    };
    const sentinel: ContainerSpec = {
      name: 'sentinel',
      image: props.image,
      command: ['redis-server', '/run/redis/sentinel.conf', '--sentinel'],
      ports: [{ name: 'sentinel', port: SENTINEL_PORT }],
      liveness: { tcp: { port: SENTINEL_PORT } },
      readiness: { exec: ['/bin/sh', '-c', cliPing(SENTINEL_PORT)] },
      resources: props.sentinelResources ?? SENTINEL_RESOURCES,
      mounts: [
        { volume: 'run', path: '/run/redis' },
        { volume: 'tmp', path: '/tmp' },
        o.passwordMount,
      ],
    };
    const spread = (sel: Record<string, string>): k8s.TopologySpreadConstraint[] => [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: sel } },
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: sel } },
    ];
    const volumes = podVolumes(emptyDirs, configMaps, [o.password]);
    const statefulSet = new k8s.KubeStatefulSet(this, 'NodeStatefulSet', {
      metadata: { name: nodeName, namespace: ns, labels: nodeSel },
      spec: {
        replicas: o.replicas,
        serviceName: nodeName,
        // One after another: member 0 is the first primary, the next ones find it through its sentinel.
        podManagementPolicy: 'OrderedReady',
        revisionHistoryLimit: 5,
        selector: { matchLabels: nodeSel },
        updateStrategy: { type: 'RollingUpdate' },
        ...(this.persistence
          ? {
              persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
              volumeClaimTemplates: [
                {
                  metadata: { name: 'data', labels: nodeSel },
                  spec: {
                    accessModes: ['ReadWriteOnce'],
                    ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}),
                    resources: { requests: { storage: k8s.Quantity.fromString(this.storageSize) } },
                  },
                },
              ],
            }
          : {}),
        template: {
          metadata: { labels: nodeSel, annotations: { ...config.annotation } },
          spec: {
            serviceAccountName: nodeName,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 30,
            securityContext: restrictedPodSecurity(C, name, REDIS_UID),
            topologySpreadConstraints: spread(nodeSel),
            initContainers: [hardenedContainer(C, name, init, 'init', volumeNames)],
            containers: [
              hardenedContainer(C, name, redis, 'main', volumeNames),
              hardenedContainer(C, name, sentinel, 'sidecar', volumeNames),
              hardenedContainer(C, name, o.exporter, 'sidecar', volumeNames),
            ],
            volumes,
          },
        },
      },
    });
    const port = (n: string, p: number): k8s.ServicePort => ({ name: n, port: p, targetPort: k8s.IntOrString.fromString(n), protocol: 'TCP' });
    // Headless, published before readiness: members find each other while starting. Also the
    // metrics Service: the ServiceMonitor takes `job` from its instance label, so the alerts
    // select `job="<name>"` in both modes.
    const headless = new k8s.KubeService(this, 'NodeService', {
      metadata: { name: nodeName, namespace: ns, labels: { ...nodeSel, 'app.kubernetes.io/instance': name } },
      spec: {
        clusterIp: 'None',
        publishNotReadyAddresses: true,
        selector: nodeSel,
        ports: [port('redis', REDIS_PORT), port('sentinel', SENTINEL_PORT), port('metrics', REDIS_EXPORTER_PORT)],
      },
    });
    const nodePdb = new k8s.KubePodDisruptionBudget(this, 'NodePdb', {
      metadata: { name: nodeName, namespace: ns, labels: nodeSel },
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: nodeSel } },
    });
    const memberPorts = [{ port: REDIS_PORT }, { port: SENTINEL_PORT }];
    const nodePolicy = new AllowList(this, 'NodePolicy', {
      name: nodeName,
      namespace: ns,
      pods: nodeSel,
      ingress: [
        { peers: [{ pods: proxySel }], ports: memberPorts },
        { peers: [{ pods: nodeSel }], ports: memberPorts },
        { peers: [{ namespace: o.monitoringNamespace }], ports: [{ port: REDIS_EXPORTER_PORT }] },
      ],
      egress: [{ peers: [{ pods: nodeSel }], ports: memberPorts }],
      concerns,
    }).policy;

    // ------------------------------------------------------------------ HAProxy
    const proxySa = new k8s.KubeServiceAccount(this, 'ProxyServiceAccount', { metadata: { name, namespace: ns, labels: proxySel }, automountServiceAccountToken: false });
    const proxyEmptyDirs = [
      { name: 'tmp', sizeLimit: '16Mi' },
      { name: 'run', sizeLimit: '1Mi', medium: 'Memory' as const },
    ];
    const proxyVolumes = podVolumeSizes(proxyEmptyDirs, ['haproxy', 'password']);
    const proxyInit = hardenedContainer(
      C,
      name,
      {
        name: 'auth',
        image: props.haproxyImage,
        command: ['/bin/sh', '-c', HAPROXY_AUTH_SCRIPT],
        env: { REDIS_PASSWORD_FILE: REDIS_PASSWORD_FILE },
        resources: INIT_RESOURCES,
        mounts: [{ volume: 'run', path: '/run/haproxy' }, o.passwordMount],
      },
      'init',
      proxyVolumes,
    );
    const proxyContainer: k8s.Container = {
      ...hardenedContainer(
        C,
        name,
        {
          name: 'haproxy',
          image: props.haproxyImage,
          // auth.cfg first: its `global setenv` is in place before the checks read env(REDIS_PASSWORD).
          command: ['haproxy', '-f', '/run/haproxy/auth.cfg', '-f', '/usr/local/etc/haproxy/haproxy.cfg', '-db'],
          ports: [
            { name: 'redis', port: REDIS_PORT },
            { name: 'health', port: HAPROXY_HEALTH_PORT },
          ],
          liveness: { tcp: { port: REDIS_PORT } },
          // 503 while no primary is routable (haproxy.cfg `monitor fail`): out of the Service, not restarted.
          readiness: { http: { path: '/healthz', port: HAPROXY_HEALTH_PORT } },
          startup: { tcp: { port: REDIS_PORT } },
          startupSeconds: 30,
          resources: props.haproxyResources ?? HAPROXY_RESOURCES,
          mounts: [
            { volume: 'haproxy', path: '/usr/local/etc/haproxy', readOnly: true },
            { volume: 'run', path: '/run/haproxy', readOnly: true },
            { volume: 'tmp', path: '/tmp' },
          ],
        },
        'main',
        proxyVolumes,
      ),
      // Out of the Service before SIGTERM (HAProxy stops at once on SIGTERM).
      lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
    };
    const deployment = new k8s.KubeDeployment(this, 'ProxyDeployment', {
      metadata: { name, namespace: ns, labels: proxySel },
      spec: {
        replicas: proxyReplicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: proxySel },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: {
          metadata: { labels: proxySel, annotations: { ...proxyConfig.annotation } },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 30,
            securityContext: restrictedPodSecurity(C, name, HAPROXY_UID),
            topologySpreadConstraints: spread(proxySel),
            initContainers: [proxyInit],
            containers: [proxyContainer],
            volumes: podVolumes(proxyEmptyDirs, [{ name: 'haproxy', configMap: proxyConfig.name }], [o.password]),
          },
        },
      },
    });
    const service = new k8s.KubeService(this, 'ProxyService', {
      metadata: { name, namespace: ns, labels: proxySel },
      spec: { type: 'ClusterIP', selector: proxySel, ports: [port('redis', REDIS_PORT)] },
    });
    const proxyPdb = new k8s.KubePodDisruptionBudget(this, 'ProxyPdb', {
      metadata: { name, namespace: ns, labels: proxySel },
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: proxySel } },
    });
    const proxyPolicy = new AllowList(this, 'ProxyPolicy', {
      name,
      namespace: ns,
      pods: proxySel,
      ingress: [{ peers: props.clients.map((c) => clientPeer(c, ns)), ports: [{ port: REDIS_PORT }] }],
      egress: [{ peers: [{ pods: nodeSel }], ports: memberPorts }],
      concerns,
    }).policy;
    const serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
      name,
      namespace: ns,
      selector: nodeSel,
      port: 'metrics',
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns,
    });
    serviceMonitor.object.addJsonPatch(JsonPatch.add('/spec/jobLabel', 'app.kubernetes.io/instance'));
    const rules = new PrometheusRules(this, 'ReplicationRules', {
      name: `${name}-replication`,
      namespace: ns,
      rules: redisReplicationAlerts(name, ns, o.replicas, props.runbookUrl),
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns,
    });
    trace([statefulSet, deployment], 'X-1');
    trace([nodeSa, statefulSet, headless, nodePdb, nodePolicy, proxySa, deployment, service, proxyPdb, proxyPolicy], ...concerns);
    return {
      config,
      serviceMonitor,
      objects: { statefulSet, headless, nodeServiceAccount: nodeSa, nodePdb, nodePolicy, deployment, service, proxyServiceAccount: proxySa, proxyPdb, proxyPolicy, proxyConfig, rules, hosts, quorum },
    };
  }

  connection(db: number): RedisConnection {
    checkDb('Redis', this.storeName, db);
    return { urlSecret: this.urlSecret, db, endpoint: this.endpointOf() };
  }
}


export interface ExternalRedisProps extends ExternalStoreProps {
  /** @default redis */
  readonly name?: string;
  /** @default 6379 */
  readonly port?: number;
  /** Secret key with the full URL (`rediss://:<password>@host:port`). */
  readonly urlSecret: SecretKeyRef;
}

/** External Redis: only the clients' egress policies; the URL stays in its Secret. */
export class ExternalRedis extends ExternalStore<ExternalRedisProps> implements RedisSource {
  constructor(scope: Construct, id: string, props: ExternalRedisProps) {
    super(scope, id, props, { component: 'ExternalRedis', name: 'redis', port: REDIS_PORT, concerns: ['X-5'] });
  }

  connection(db: number): RedisConnection {
    checkDb('ExternalRedis', this.storeName, db);
    return { urlSecret: this.props.urlSecret, db, endpoint: this.external.endpoint };
  }
}

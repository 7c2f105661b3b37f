/**
 * AION data plane (runbook 004: "Deploy data services", Backups, Redis & Kafka recovery, MinIO
 * lifecycle, ClickHouse TTL, Retention). Built by services/aion.ts into its chart; returns what
 * each AION workload kind (gateway, control plane, module hosts) needs: env, egress rules and
 * pod-template rotation annotations.
 *
 * | runbook section                                   | where it lands                                                            | concern |
 * |---------------------------------------------------|---------------------------------------------------------------------------|---------|
 * | Bootstrapping 2: PostgreSQL, Redis, MongoDB, Kafka, Qdrant, MinIO (+ ClickHouse) | one store each, `mode: in-cluster` (components) or `external` (egress to CIDRs); credentials from Secrets; `AION_*` connection env | AION-2 |
 * | Health checks: Kafka topics exist                 | `KafkaTopic` `aion.metrics.runtime`, `kernel.proposals`; topic names as env | AION-5 |
 * | Redis & Kafka recovery: fail-closed rate limiting | Redis `redis` (replicas from config, PDB, `RedisDown` critical alert)     | AION-6 |
 * | Webhooks: idempotency keys `redis://redis:6379/3`, 24 h | `AION_IDEMPOTENCY_REDIS_DB` 3, `AION_IDEMPOTENCY_TTL_SECONDS` 86400 | AION-9 |
 * | Backups: pg_dump, mongodump to MinIO, ClickHouse to S3 | `BackupCronJob` `pg` (→ `aion-backups/pg`), `mongo` (→ `aion-backups/mongo`); ClickHouse `BACKUP DATABASE … TO S3` (→ `aion-backups/clickhouse`); restore drills + staleness alerts | AION-10 |
 * | MinIO lifecycle: `memory-retention`, multipart 72 h | `MinioLifecycleJob` on bucket `memory`; MinIO's stale-upload expiry 72 h | AION-13 |
 * | ClickHouse TTL, Mongo TTL indexes, `AION_*_TTL_DAYS` | `ClickHouseTtlJob`, `MongoTtlJob`, env; days validated per tier          | AION-14 |
 * | Kafka: monitor lag of group `control-plane`       | PrometheusRule `kafka-consumer-lag` (Kafka Exporter)                      | AION-18 |
 *
 * Env names are this module's assumptions (the runbook names none but the TTL overrides): see
 * `AION_ENV` and README. Kafka clients authenticate with mutual TLS: one `KafkaUser` per client kind
 * (`aion-control-plane`, `aion-modules`) whose Secret (`user.crt`, `user.key`) the User Operator
 * creates, and the cluster CA from `aion-cluster-ca-cert`.
 */
import { ApiObject, type Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { BACKUP_SECRETS_DIR, backupAlerts, BackupCronJob, credentialScript, scheduleInterval, shellCommand, type BackupTarget } from '../components/backup.js';
import { ClickHouse, ExternalClickHouse, type ClickHouseConnection } from '../components/clickhouse.js';
import { scheduledJob } from '../components/cron-job.js';
import { consumerLagAlert, Kafka, KAFKA_PORTS } from '../components/kafka.js';
import { checksum, selectorLabels, trace } from '../components/meta.js';
import { ExternalMinio, Minio, type MinioConnection } from '../components/minio.js';
import { ExternalMongoDb, MongoDb, type MongoConnection } from '../components/mongodb.js';
import { PrometheusRules } from '../components/monitoring.js';
import { AllowList, type Peer, type Rule } from '../components/network-policy.js';
import { Postgres } from '../components/postgres.js';
import { ExternalQdrant, Qdrant, type QdrantConnection } from '../components/qdrant.js';
import { redisEnv } from '../components/redis.js';
import { ClickHouseTtlJob, MinioLifecycleJob, MongoTtlJob } from '../components/retention.js';
import { egressTo, ExternalService, hardenedContainer, podVolumeSizes, podVolumes, type Endpoint } from '../components/stateful.js';
import { restrictedJobPod } from '../kube/security.js';
import type { EnvValue, FileMount } from '../components/workload.js';
import { aionData, retentionDays, type AionData } from '../stacks/aion-data-config.js';
import type { Cluster, Stack } from '../stacks/schema.js';
import type { BuildContext, SecretHandle } from './types.js';
import { serviceRedis } from './common.js';

/** The AION workloads that use the data services, by name (their `app.kubernetes.io/name` label). */
export interface AionClients {
  readonly gateway: string;
  readonly controlPlane: string;
  readonly modules: readonly string[];
}

/** What each AION workload gets from the data plane. */
export interface AionDataPlane {
  /** Env vars (connection URLs from Secrets, DB indexes, TTLs, topic names) per workload kind. */
  readonly env: {
    readonly gateway: Readonly<Record<string, EnvValue>>;
    readonly controlPlane: Readonly<Record<string, EnvValue>>;
    readonly modules: Readonly<Record<string, EnvValue>>;
  };
  /** Egress rules each workload kind needs to reach its stores. */
  readonly egress: {
    readonly gateway: readonly Rule[];
    readonly controlPlane: readonly Rule[];
    readonly modules: readonly Rule[];
  };
  /**
   * Key material mounted read-only as files (issue 14 item 17), per workload kind; the env names the
   * path (`*_FILE`). Only the module hosts get any: the gateway and control plane read theirs from env
   * (services/aion.contract.ts). @default none
   */
  readonly files: {
    readonly gateway: readonly FileMount[];
    readonly controlPlane: readonly FileMount[];
    readonly modules: readonly FileMount[];
  };
  /** Pod-template annotations (credential rotation versions) per workload kind. */
  readonly podAnnotations: {
    readonly gateway: Readonly<Record<string, string>>;
    readonly controlPlane: Readonly<Record<string, string>>;
    readonly modules: Readonly<Record<string, string>>;
  };
}

/** AION-5: the runbook's topics (KafkaTopic resources) and the consumer group whose lag alerts (AION-18). */
export const AION_TOPICS = { metricsRuntime: 'aion.metrics.runtime', kernelProposals: 'kernel.proposals' } as const;
export const CONTROL_PLANE_GROUP = 'control-plane';
/** AION-10: the runbook's backup bucket (`aion-backups/pg`), and AION-13's memory bucket (`mc ilm ls minio/memory`). */
export const BACKUP_BUCKET = 'aion-backups';
export const MEMORY_BUCKET = 'memory';
/** Object names. */
export const AION_DATA_NAMES = {
  redis: 'redis',
  postgres: 'aion-pg',
  postgresDatabase: 'aion',
  kafka: 'aion',
  mongodb: 'mongodb',
  qdrant: 'qdrant',
  minio: 'minio',
  clickhouse: 'clickhouse',
  clickhouseDatabase: 'aion',
} as const;
/** Secrets the data plane declares (`stackbook:secretSources.<name>` may change their source). */
export const AION_DATA_SECRETS = {
  redis: 'aion-redis',
  postgres: 'aion-postgres',
  mongodb: 'aion-mongodb',
  qdrant: 'aion-qdrant',
  minio: 'aion-minio',
  clickhouse: 'aion-clickhouse',
  kafkaExternal: 'aion-kafka-client',
} as const;
/** Drill schedule of every AION backup (Sundays 05:30 UTC, the BackupCronJob default). */
const DRILL_SCHEDULE = '30 5 * * 0';

type Kind = 'gateway' | 'controlPlane' | 'modules';
const KINDS: readonly Kind[] = ['gateway', 'controlPlane', 'modules'];

/** Accumulates what each workload kind gets, deterministically. */
class Grants {
  readonly env: Record<Kind, Record<string, EnvValue>> = { gateway: {}, controlPlane: {}, modules: {} };
  readonly egress: Record<Kind, Rule[]> = { gateway: [], controlPlane: [], modules: [] };
  readonly annotations: Record<Kind, Record<string, string>> = { gateway: {}, controlPlane: {}, modules: {} };
  readonly files: Record<Kind, FileMount[]> = { gateway: [], controlPlane: [], modules: [] };
  give(kinds: readonly Kind[], what: { env?: Readonly<Record<string, EnvValue>>; egress?: readonly Rule[]; secret?: SecretHandle; files?: Readonly<Record<string, FileMount>> }): void {
    for (const k of kinds) {
      Object.assign(this.env[k], what.env ?? {});
      // a file: its path in `<NAME>_FILE`, the Secret key mounted read-only there
      for (const [name, f] of Object.entries(what.files ?? {})) {
        this.env[k][`${name}_FILE`] = f.path;
        this.files[k].push(f);
      }
      this.egress[k].push(...(what.egress ?? []));
      Object.assign(this.annotations[k], what.secret?.annotations ?? {});
    }
  }
  plane(): AionDataPlane {
    const sorted = <T>(r: Record<string, T>): Record<string, T> => Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]!]));
    const of = <T>(f: (k: Kind) => T) => ({ gateway: f('gateway'), controlPlane: f('controlPlane'), modules: f('modules') });
    return {
      env: of((k) => sorted(this.env[k])),
      egress: of((k) => [...this.egress[k]]),
      files: of((k) => [...this.files[k]].sort((a, b) => a.path.localeCompare(b.path))),
      podAnnotations: of((k) => sorted(this.annotations[k])),
    };
  }
}

const app = (name: string) => selectorLabels(name);

/** Where the module hosts find key material (issue 14 item 17: files, not env). */
export const AION_SECRETS_DIR = '/var/run/secrets/aion';
const secretFile = (rel: string, secret: string, key: string): FileMount => ({ path: `${AION_SECRETS_DIR}/${rel}`, secret, key, mode: 0o440 });

/** Object names, Secret names (short aliases inside this file). */
const NAME = AION_DATA_NAMES;
const SECRET = AION_DATA_SECRETS;

/** The backup CronJob and its restore drill, the two pods of one store's backup that reach the object store. */
const backupClients = (name: string) => [`${name}-backup`, `${name}-restore-drill`];

/** What every store's builder reads: the stack's `services.aion` block, where objects go, and the grants it adds to. */
interface DataPlaneScope {
  readonly chart: Chart;
  readonly ctx: BuildContext;
  readonly data: AionData;
  readonly ns: string;
  readonly tier: Stack['tier'];
  readonly cluster: Cluster;
  readonly grants: Grants;
  readonly gateway: string;
  readonly controlPlane: string;
  /** The module hosts' names, sorted. */
  readonly modules: readonly string[];
  readonly monitoring: { readonly monitoringNamespace: string; readonly prometheusSelector: Cluster['prometheusSelector'] };
  readonly dns: { readonly dnsNamespace: string; readonly dnsPodLabel: string };
  /** `<base>/aion#<anchor>` for alert runbook links. */
  runbook(anchor: string): string;
  /** The API server's CIDRs (operator-managed PostgreSQL and Kafka pods call it). */
  kubeApi(): readonly string[];
}

/** Client pods in the store's own namespace, by name (in-cluster stores). */
const localClients = (...names: string[]) => names.map((name) => ({ name }));

/**
 * Build the data plane into `chart` (namespace `services.aion.namespace`) from
 * `services.aion.data` (see stacks/aion-data-config.ts), and return what each workload kind needs.
 * One builder per store, MinIO first (the backups and PostgreSQL's archive target it), then the
 * backups and retention jobs that read the stores' connections.
 */
export function buildAionData(chart: Chart, ctx: BuildContext, clients: AionClients): AionDataPlane {
  const stack = ctx.stack;
  const cfg = stack.services.aion!;
  const cluster = stack.cluster;
  const scope: DataPlaneScope = {
    chart,
    ctx,
    data: (cfg as { data?: AionData }).data ?? aionData.parse(undefined),
    ns: cfg.namespace,
    tier: stack.tier,
    cluster,
    grants: new Grants(),
    gateway: clients.gateway,
    controlPlane: clients.controlPlane,
    modules: [...clients.modules].sort(),
    monitoring: { monitoringNamespace: cluster.monitoringNamespace, prometheusSelector: cluster.prometheusSelector },
    dns: { dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel },
    runbook: (anchor) => ctx.runbookUrl('aion', anchor),
    kubeApi: () => {
      if (cluster.kubeApiCidrs === undefined) throw new Error('services.aion.data: cluster.kubeApiCidrs is required for in-cluster PostgreSQL/Kafka (checked by aionDataRules)');
      return cluster.kubeApiCidrs;
    },
  };
  const minio = buildMinio(scope);
  buildRedis(scope);
  const postgres = buildPostgres(scope, minio);
  const mongo = buildMongoDb(scope);
  buildQdrant(scope);
  const clickhouse = buildClickHouse(scope, minio);
  buildKafka(scope);
  buildBackups(scope, { minio, postgres, mongo, clickhouse });
  buildRetention(scope, { minio, mongo, clickhouse });

  for (const kind of KINDS) scope.grants.egress[kind].sort((a, b) => stableKey(a).localeCompare(stableKey(b)));
  return scope.grants.plane();
}

/** Client pods in the AION namespace, by name (external stores: their egress policies select these). */
function namespacedClients(scope: DataPlaneScope, ...names: string[]) {
  return names.map((name) => ({ name, namespace: scope.ns }));
}

/** Issue 14 item 12: outside development, in-cluster PostgreSQL archives WAL and base backups to the object store. */
function archivesPostgres(scope: DataPlaneScope): boolean {
  return scope.data.postgres.mode === 'in-cluster' && scope.tier !== 'development';
}

/** MinIO (in-cluster or external), the module hosts' S3 settings, and the backup bucket. */
function buildMinio(scope: DataPlaneScope): MinioConnection {
  const { chart, ctx, data, ns, grants, controlPlane, modules } = scope;
  const minioClients = [controlPlane, ...modules, ...backupClients('pg'), ...backupClients('mongo'), ...backupClients('clickhouse'), 'minio-lifecycle', 'minio-buckets'];
  if (data.clickhouse.mode === 'in-cluster') minioClients.push(NAME.clickhouse); // BACKUP … TO S3 runs in the server
  // the cluster archives, its point-in-time restore drill reads the archive back
  if (archivesPostgres(scope)) minioClients.push(NAME.postgres, `${NAME.postgres}-pitr-drill`);
  let minio: MinioConnection;
  let minioSecret: SecretHandle;
  if (data.minio.mode === 'in-cluster') {
    minioSecret = ctx.requireSecret({
      name: SECRET.minio,
      namespace: ns,
      keys: ['password', 'user'],
      source: 'pulumi',
      pulumi: { user: { randomLength: 20 }, password: { randomLength: 40 } },
      consumers: [NAME.minio, ...minioClients].sort(),
    });
    minio = new Minio(chart, 'Minio', {
      name: NAME.minio,
      namespace: ns,
      image: ctx.platformImage('minio'),
      rootUser: { name: SECRET.minio, key: 'user' },
      rootPassword: { name: SECRET.minio, key: 'password' },
      clients: localClients(...minioClients),
      ...(data.minio.storageSize ? { storageSize: data.minio.storageSize } : {}),
      ...(data.minio.resources ? { resources: data.minio.resources } : {}),
      abortIncompleteUploadsAfterHours: 72,
      ...scope.monitoring,
      runbookUrl: scope.runbook('minio'),
      concerns: ['AION-2', 'AION-13'],
    }).connection();
  } else {
    // (sorts minioClients in place: the external policy lists its clients in that order)
    minioSecret = ctx.requireSecret({ name: SECRET.minio, namespace: ns, keys: ['password', 'user'], source: 'existing', consumers: minioClients.sort() });
    minio = new ExternalMinio(chart, 'Minio', {
      name: NAME.minio,
      host: data.minio.host,
      port: data.minio.port,
      tls: data.minio.tls,
      cidrs: data.minio.cidrs,
      accessKeySecret: { name: SECRET.minio, key: 'user' },
      secretKeySecret: { name: SECRET.minio, key: 'password' },
      clients: namespacedClients(scope, ...minioClients),
      concerns: ['AION-2'],
    }).connection();
  }
  // The control plane at 947c840 keeps memory uploads on disk and reads no MinIO setting
  // (services/aion.contract.ts): the S3 keys go to the module hosts only.
  grants.give(['controlPlane'], { egress: [egressTo(minio.endpoint)] });
  grants.give(['modules'], {
    env: { AION_MINIO_ENDPOINT: minio.url, AION_MINIO_MEMORY_BUCKET: MEMORY_BUCKET },
    files: {
      AION_MINIO_ACCESS_KEY: secretFile('minio/access-key', SECRET.minio, 'user'),
      AION_MINIO_SECRET_KEY: secretFile('minio/secret-key', SECRET.minio, 'password'),
    },
    egress: [egressTo(minio.endpoint)],
    secret: minioSecret,
  });
  new BucketJob(chart, 'Buckets', { namespace: ns, image: ctx.platformImage('minio-mc'), connection: minio, buckets: [BACKUP_BUCKET], dns: scope.dns });
  return minio;
}

/** Where a store's backups go: `aion-backups/<prefix>` on MinIO. */
function backupTarget(minio: MinioConnection, prefix: string): BackupTarget {
  return {
    kind: 's3',
    endpoint: minio.url,
    bucket: BACKUP_BUCKET,
    prefix,
    accessKeyId: { secretName: SECRET.minio, key: 'user' },
    secretAccessKey: { secretName: SECRET.minio, key: 'password' },
    peer: minio.endpoint.peers[0]!,
  };
}

/** Redis (AION-6, AION-9): rate limits and idempotency keys for the gateway, the control plane's Redis. */
function buildRedis(scope: DataPlaneScope): void {
  const { chart, ctx, data, ns, grants, gateway, controlPlane } = scope;
  const { source: redis, secret: redisSecret } = serviceRedis(chart, ctx, {
    config: data.redis,
    namespace: ns,
    name: NAME.redis,
    secretName: SECRET.redis,
    clients: [gateway, controlPlane],
    service: 'aion',
    // AION-9: the gateway has one Redis client and takes the logical DB from the URL (gateway/src/redis.ts:4).
    urlPath: `/${data.idempotency.db}`,
    secretConcerns: ['AION-6'],
    concerns: ['AION-2', 'AION-6', 'AION-9'],
  });
  const idempotency = redis.connection(data.idempotency.db);
  const redisUrl = redisEnv(idempotency, { url: 'AION_REDIS_URL' }).AION_REDIS_URL!;
  grants.give(['gateway'], {
    env: {
      // AION-6, AION-9: rate-limit counters and idempotency keys share the URL's DB (runbook: DB 3);
      // the gateway answers 503 when Redis is down (middleware/idempotency.ts:25).
      AION_REDIS_URL: redisUrl,
      // AION-9: 24 h (the app's default is 900 s, config.ts:70).
      AION_IDEMPOTENCY_TTL: String(data.idempotency.ttlSeconds),
    },
    egress: [egressTo(idempotency.endpoint)],
    secret: redisSecret,
  });
  grants.give(['controlPlane'], { env: { AION_CONTROL_REDIS_URL: redisUrl }, egress: [egressTo(idempotency.endpoint)], secret: redisSecret });
}

/** PostgreSQL (CloudNativePG in-cluster, with its archive and PITR drill outside development; or external). */
function buildPostgres(scope: DataPlaneScope, minio: MinioConnection): Endpoint {
  const { chart, ctx, data, ns, grants, controlPlane } = scope;
  // CloudNativePG reads the owner from a `kubernetes.io/basic-auth` Secret labelled
  // `cnpg.io/reload: "true"` (a Pulumi-created Opaque Secret is neither): created by the operator.
  const pgClients = [controlPlane, 'pg-backup'];
  const pgSecret = ctx.requireSecret({
    name: SECRET.postgres,
    namespace: ns,
    keys: ['password', 'url', 'username'],
    source: 'existing',
    consumers: [...(data.postgres.mode === 'in-cluster' ? [NAME.postgres] : []), ...pgClients].sort(),
  });
  let pgEndpoint: Endpoint;
  if (data.postgres.mode === 'in-cluster') {
    const postgres = new Postgres(chart, 'Postgres', {
      name: NAME.postgres,
      namespace: ns,
      instances: data.postgres.instances,
      imageName: ctx.platformImage('postgres'),
      ...(data.postgres.storageSize ? { storageSize: data.postgres.storageSize } : {}),
      ...(data.postgres.resources ? { resources: data.postgres.resources } : {}),
      database: NAME.postgresDatabase,
      owner: NAME.postgresDatabase,
      ownerSecret: SECRET.postgres,
      // Health alerts (PrometheusRule aion-pg-health): no primary, an instance down, replication lag, a standby not streaming.
      runbookUrl: scope.runbook('postgres'),
      clients: pgClients.map((client) => ({ pods: app(client) })),
      kubeApiCidrs: scope.kubeApi(),
      ...(archivesPostgres(scope)
        ? { backup: { destinationPath: `s3://${BACKUP_BUCKET}/pg-cnpg`, endpointUrl: minio.url, credentials: { secretName: SECRET.minio, accessKeyIdKey: 'user', secretAccessKeyKey: 'password' }, egress: egressTo(minio.endpoint), runbookUrl: scope.runbook('backups'), drill: { image: ctx.platformImage('postgres-pitr-drill'), minTables: 1 } } }
        : {}),
      ...scope.monitoring,
      ...scope.dns,
      concerns: ['AION-2'],
    });
    pgEndpoint = { host: `${postgres.serviceName}.${ns}.svc`, port: 5432, peers: [{ pods: { 'cnpg.io/cluster': NAME.postgres } }] };
  } else {
    pgEndpoint = new ExternalService(chart, 'Postgres', {
      name: 'postgres',
      host: data.postgres.host,
      port: data.postgres.port,
      cidrs: data.postgres.cidrs,
      clients: namespacedClients(scope, ...pgClients),
      concerns: ['AION-2'],
    }).endpoint;
  }
  grants.give(['controlPlane'], { env: { AION_CONTROL_POSTGRES_DSN: pgSecret.env('url') }, egress: [egressTo(pgEndpoint)], secret: pgSecret });
  return pgEndpoint;
}

/** MongoDB (in-cluster or external): the control plane's store, backed up and given TTL indexes. */
function buildMongoDb(scope: DataPlaneScope): { readonly connection: MongoConnection; readonly secret: SecretHandle } {
  const { chart, ctx, data, ns, grants, controlPlane } = scope;
  const mongoClients = [controlPlane, 'mongo-backup', 'mongo-ttl'];
  let mongo: MongoConnection;
  let mongoSecret: SecretHandle;
  if (data.mongodb.mode === 'in-cluster') {
    mongoSecret = ctx.requireSecret({
      name: SECRET.mongodb,
      namespace: ns,
      keys: ['password', 'uri', 'username'],
      source: 'pulumi',
      pulumi: {
        username: { randomLength: 16 },
        password: { randomLength: 32 },
        uri: { template: `mongodb://{username}:{password}@${NAME.mongodb}.${ns}.svc:27017/?authSource=admin` },
      },
      consumers: [NAME.mongodb, ...mongoClients].sort(),
    });
    mongo = new MongoDb(chart, 'MongoDb', {
      name: NAME.mongodb,
      namespace: ns,
      image: ctx.platformImage('mongodb'),
      rootUsername: { name: SECRET.mongodb, key: 'username' },
      rootPassword: { name: SECRET.mongodb, key: 'password' },
      uriSecret: { name: SECRET.mongodb, key: 'uri' },
      clients: localClients(...mongoClients),
      ...(data.mongodb.storageSize ? { storageSize: data.mongodb.storageSize } : {}),
      ...(data.mongodb.resources ? { resources: data.mongodb.resources } : {}),
      concerns: ['AION-2'],
      // Alerts (PrometheusRule mongodb): no ready member, restarts, data volume filling.
      runbookUrl: scope.runbook('mongodb'),
    }).connection();
  } else {
    // (sorts mongoClients in place: the external policy lists its clients in that order)
    mongoSecret = ctx.requireSecret({ name: SECRET.mongodb, namespace: ns, keys: ['uri'], source: 'existing', consumers: mongoClients.sort() });
    mongo = new ExternalMongoDb(chart, 'MongoDb', {
      name: NAME.mongodb,
      host: data.mongodb.host,
      port: data.mongodb.port,
      cidrs: data.mongodb.cidrs,
      uriSecret: { name: SECRET.mongodb, key: 'uri' },
      clients: namespacedClients(scope, ...mongoClients),
      concerns: ['AION-2'],
    }).connection();
  }
  grants.give(['controlPlane'], { env: { AION_CONTROL_MONGO_DSN: mongoSecret.env('uri') }, egress: [egressTo(mongo.endpoint)], secret: mongoSecret });
  return { connection: mongo, secret: mongoSecret };
}

/** Qdrant (in-cluster or external): vectors for the control plane and the module hosts. */
function buildQdrant(scope: DataPlaneScope): void {
  const { chart, ctx, data, ns, grants, controlPlane, modules } = scope;
  const qdrantClients = [controlPlane, ...modules];
  let qdrant: QdrantConnection;
  const qdrantSecret = ctx.requireSecret({
    name: SECRET.qdrant,
    namespace: ns,
    keys: ['api-key'],
    source: data.qdrant.mode === 'in-cluster' ? 'pulumi' : 'existing',
    ...(data.qdrant.mode === 'in-cluster' ? { pulumi: { 'api-key': { randomLength: 40 } } } : {}),
    consumers: [...(data.qdrant.mode === 'in-cluster' ? [NAME.qdrant] : []), ...qdrantClients].sort(),
  });
  if (data.qdrant.mode === 'in-cluster') {
    qdrant = new Qdrant(chart, 'Qdrant', {
      name: NAME.qdrant,
      namespace: ns,
      image: ctx.platformImage('qdrant'),
      apiKeySecret: { name: SECRET.qdrant, key: 'api-key' },
      clients: localClients(...qdrantClients),
      ...(data.qdrant.storageSize ? { storageSize: data.qdrant.storageSize } : {}),
      ...(data.qdrant.resources ? { resources: data.qdrant.resources } : {}),
      concerns: ['AION-2'],
      // Alerts (PrometheusRule qdrant): down, recovery mode, REST server errors.
      runbookUrl: scope.runbook('qdrant'),
    }).connection();
  } else {
    qdrant = new ExternalQdrant(chart, 'Qdrant', {
      name: NAME.qdrant,
      host: data.qdrant.host,
      port: data.qdrant.port,
      tls: data.qdrant.tls,
      cidrs: data.qdrant.cidrs,
      apiKeySecret: { name: SECRET.qdrant, key: 'api-key' },
      clients: namespacedClients(scope, ...qdrantClients),
      concerns: ['AION-2'],
    }).connection();
  }
  // The control plane's settings have a Qdrant URL but no API key (config.py:14).
  grants.give(['controlPlane'], { env: { AION_CONTROL_QDRANT_URL: qdrant.url }, egress: [egressTo(qdrant.endpoint)] });
  grants.give(['modules'], { env: { AION_QDRANT_URL: qdrant.url }, files: { AION_QDRANT_API_KEY: secretFile('qdrant/api-key', SECRET.qdrant, 'api-key') }, egress: [egressTo(qdrant.endpoint)], secret: qdrantSecret });
}

/** ClickHouse (in-cluster, with egress to MinIO for `BACKUP … TO S3`; or external). */
function buildClickHouse(scope: DataPlaneScope, minio: MinioConnection): ClickHouseConnection {
  const { chart, ctx, data, ns, grants, controlPlane } = scope;
  const chClients = [controlPlane, 'clickhouse-ttl', 'clickhouse-backup'];
  let clickhouse: ClickHouseConnection;
  // Declared for its consumers (the TTL and backup jobs mount it); no workload kind gets it.
  ctx.requireSecret({
    name: SECRET.clickhouse,
    namespace: ns,
    keys: ['password'],
    source: data.clickhouse.mode === 'in-cluster' ? 'pulumi' : 'existing',
    ...(data.clickhouse.mode === 'in-cluster' ? { pulumi: { password: { randomLength: 32 } } } : {}),
    consumers: [...(data.clickhouse.mode === 'in-cluster' ? [NAME.clickhouse] : []), ...chClients].sort(),
  });
  if (data.clickhouse.mode === 'in-cluster') {
    const server = new ClickHouse(chart, 'ClickHouse', {
      name: NAME.clickhouse,
      namespace: ns,
      image: ctx.platformImage('clickhouse'),
      passwordSecret: { name: SECRET.clickhouse, key: 'password' },
      clients: localClients(...chClients),
      ...(data.clickhouse.storageSize ? { storageSize: data.clickhouse.storageSize } : {}),
      ...(data.clickhouse.resources ? { resources: data.clickhouse.resources } : {}),
      concerns: ['AION-2'],
      // Alerts (PrometheusRule clickhouse): down, too many parts, failing queries.
      runbookUrl: scope.runbook('clickhouse'),
    });
    clickhouse = server.connection();
    // AION-10: `BACKUP … TO S3` is executed by the server itself: it needs a path to the object store.
    const serverEgress = new AllowList(chart, 'ClickHouseBackupEgress', {
      name: `${NAME.clickhouse}-backup-target`,
      namespace: ns,
      pods: app(NAME.clickhouse),
      egress: [egressTo(minio.endpoint)],
      concerns: ['AION-10'],
    });
    trace(serverEgress.policy, 'AION-10');
  } else {
    clickhouse = new ExternalClickHouse(chart, 'ClickHouse', {
      name: NAME.clickhouse,
      host: data.clickhouse.host,
      port: data.clickhouse.port,
      secure: data.clickhouse.secure,
      cidrs: data.clickhouse.cidrs,
      passwordSecret: { name: SECRET.clickhouse, key: 'password' },
      clients: namespacedClients(scope, ...chClients),
      concerns: ['AION-2'],
    }).connection();
  }
  // The control plane at 947c840 reads no ClickHouse setting (services/aion.contract.ts): no
  // connection env or password; ClickHouse is written by the bigdata pipelines and the TTL/backup jobs.
  grants.give(['controlPlane'], { egress: [egressTo(clickhouse.endpoint)] });
  return clickhouse;
}

/** The topic names and protocol every Kafka client of AION gets (AION-5). */
const KAFKA_TOPIC_ENV = {
  AION_KAFKA_TOPIC_METRICS_RUNTIME: AION_TOPICS.metricsRuntime,
  AION_KAFKA_TOPIC_KERNEL_PROPOSALS: AION_TOPICS.kernelProposals,
  AION_KAFKA_SECURITY_PROTOCOL: 'SSL',
};

/** Kafka (AION-5, AION-18): Strimzi in-cluster (topics, mTLS users, lag alert) or external. */
function buildKafka(scope: DataPlaneScope): void {
  const kafka = scope.data.kafka;
  if (kafka.mode === 'in-cluster') buildInClusterKafka(scope, kafka);
  else buildExternalKafka(scope, kafka);
}

type KafkaConfig = AionData['kafka'];

/** Strimzi Kafka: the cluster and its topics, mTLS users, bootstrap env and egress, the consumer-lag alert. */
function buildInClusterKafka(scope: DataPlaneScope, config: Extract<KafkaConfig, { mode: 'in-cluster' }>): void {
  const { chart, ctx, data, ns, grants, controlPlane, modules } = scope;
  const kafka = new Kafka(chart, 'Kafka', {
    name: NAME.kafka,
    namespace: ns,
    brokers: config.brokers,
    runbookUrl: scope.runbook('kafka'),
    image: ctx.platformImage('kafka'),
    ...(config.storageSize ? { storageSize: config.storageSize } : {}),
    ...(config.resources ? { resources: config.resources } : {}),
    clients: [controlPlane, ...modules].map((client) => ({ pods: app(client) })),
    kubeApiCidrs: scope.kubeApi(),
    ...scope.monitoring,
    ...scope.dns,
    topics: [
      // Runtime metrics: high volume, read soon after (the latency-spike runbook entry).
      { name: AION_TOPICS.metricsRuntime, partitions: 6, retentionDays: 3, concerns: ['AION-5'] },
      // Kernel proposal audit records: kept longer.
      { name: AION_TOPICS.kernelProposals, partitions: 3, retentionDays: 30, concerns: ['AION-5'] },
    ],
    concerns: ['AION-2'],
  });
  buildKafkaUsers(scope);
  const bootstrap = `${kafka.name}-kafka-bootstrap.${ns}.svc:${KAFKA_PORTS.tls}`;
  const kafkaEgress = [{ peers: [{ pods: { 'strimzi.io/name': `${kafka.name}-kafka` } }], ports: [{ port: KAFKA_PORTS.tls }] }];
  grants.give(['modules'], { env: { AION_KAFKA_BOOTSTRAP: bootstrap, ...KAFKA_TOPIC_ENV }, egress: kafkaEgress });
  grants.give(['controlPlane'], { env: { AION_CONTROL_KAFKA_BOOTSTRAP: bootstrap }, egress: kafkaEgress });
  // AION-18: the runbook's `kafka-consumer-groups.sh --group control-plane --describe`, as an alert.
  new PrometheusRules(chart, 'KafkaLag', {
    name: 'kafka-consumer-lag',
    namespace: ns,
    rules: [
      consumerLagAlert({
        group: CONTROL_PLANE_GROUP,
        runbookUrl: scope.runbook('kafka-consumer-lag'),
        threshold: data.consumerLagThreshold,
        matchers: { namespace: ns },
        concerns: ['AION-18'],
      }),
    ],
    prometheusSelector: scope.cluster.prometheusSelector,
    concerns: ['AION-18'],
  });
}

/** One `KafkaUser` (mTLS, simple ACLs) per client kind; the module hosts get their key files. */
function buildKafkaUsers(scope: DataPlaneScope): void {
  const { chart, ns, grants, controlPlane, modules } = scope;
  const clusterCa = { name: `${NAME.kafka}-cluster-ca-cert`, key: 'ca.crt' };
  const users: [Kind, string, readonly Acl[]][] = [
    [
      'controlPlane',
      `aion-${controlPlane}`,
      [
        acl('topic', AION_TOPICS.kernelProposals, 'Describe', 'Read', 'Write'),
        acl('topic', AION_TOPICS.metricsRuntime, 'Describe', 'Read'),
        acl('group', CONTROL_PLANE_GROUP, 'Read'),
      ],
    ],
  ];
  if (modules.length > 0) users.push(['modules', 'aion-modules', [acl('topic', AION_TOPICS.metricsRuntime, 'Describe', 'Write')]]);
  for (const [kind, user, acls] of users) {
    const kafkaUser = new ApiObject(chart, `KafkaUser-${user}`, {
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'KafkaUser',
      metadata: { name: user, namespace: ns, labels: { 'strimzi.io/cluster': NAME.kafka } },
      spec: { authentication: { type: 'tls' }, authorization: { type: 'simple', acls } },
    });
    trace(kafkaUser, 'AION-2', 'AION-5');
    // The control plane has no Kafka TLS settings at 947c840 (config.py:13): its client key is not handed to it.
    if (kind !== 'modules') continue;
    grants.give([kind], {
      files: {
        AION_KAFKA_SSL_CA: secretFile('kafka/ca.crt', clusterCa.name, clusterCa.key),
        AION_KAFKA_SSL_CERT: secretFile('kafka/user.crt', user, 'user.crt'),
        AION_KAFKA_SSL_KEY: secretFile('kafka/user.key', user, 'user.key'),
      },
    });
  }
}

/** External Kafka: topics are not Kubernetes resources here (no Strimzi operator owns that cluster). */
function buildExternalKafka(scope: DataPlaneScope, kafka: Extract<KafkaConfig, { mode: 'external' }>): void {
  const { chart, ctx, ns, grants, controlPlane, modules } = scope;
  const kafkaClients = [controlPlane, ...modules];
  // (sorts kafkaClients in place: the external policy lists its clients in that order)
  const kafkaSecret = ctx.requireSecret({ name: SECRET.kafkaExternal, namespace: ns, keys: ['ca.crt', 'user.crt', 'user.key'], source: 'existing', consumers: kafkaClients.sort() });
  const external = new ExternalService(chart, 'Kafka', {
    name: 'kafka',
    host: kafka.host,
    port: kafka.port,
    cidrs: kafka.cidrs,
    clients: namespacedClients(scope, ...kafkaClients),
    concerns: ['AION-2'],
  });
  grants.give(['controlPlane'], { env: { AION_CONTROL_KAFKA_BOOTSTRAP: `${kafka.host}:${kafka.port}` }, egress: [egressTo(external.endpoint)] });
  grants.give(['modules'], {
    env: {
      AION_KAFKA_BOOTSTRAP: `${kafka.host}:${kafka.port}`,
      ...KAFKA_TOPIC_ENV,
    },
    files: {
      AION_KAFKA_SSL_CA: secretFile('kafka/ca.crt', SECRET.kafkaExternal, 'ca.crt'),
      AION_KAFKA_SSL_CERT: secretFile('kafka/user.crt', SECRET.kafkaExternal, 'user.crt'),
      AION_KAFKA_SSL_KEY: secretFile('kafka/user.key', SECRET.kafkaExternal, 'user.key'),
    },
    egress: [egressTo(external.endpoint)],
    secret: kafkaSecret,
  });
}

/** The stores the backups and retention jobs read. */
interface StoreConnections {
  readonly minio: MinioConnection;
  readonly postgres: Endpoint;
  readonly mongo: { readonly connection: MongoConnection; readonly secret: SecretHandle };
  readonly clickhouse: ClickHouseConnection;
}

/** Backups (AION-10): pg_dump and mongodump to `aion-backups/<store>`, ClickHouse `BACKUP … TO S3`, with drills. */
function buildBackups(scope: DataPlaneScope, stores: StoreConnections): void {
  const { chart, ctx, data, ns, cluster } = scope;
  const { minio, postgres, mongo, clickhouse } = stores;
  const backupCommon = {
    namespace: ns,
    schedule: data.backups.schedule,
    drillSchedule: DRILL_SCHEDULE,
    retention: data.backups.keep,
    runbookUrl: scope.runbook('backups'),
    images: { postgres: ctx.platformImage('backup-postgres'), mongodb: ctx.platformImage('backup-mongodb'), s3: ctx.platformImage('backup-s3') },
    prometheusSelector: cluster.prometheusSelector,
    ...scope.dns,
    concerns: ['AION-10'],
  };
  new BackupCronJob(chart, 'BackupPg', {
    ...backupCommon,
    name: 'pg',
    source: {
      kind: 'postgres',
      host: postgres.host,
      port: postgres.port,
      database: NAME.postgresDatabase,
      username: { secretName: SECRET.postgres, key: 'username' },
      password: { secretName: SECRET.postgres, key: 'password' },
      peer: postgres.peers[0]!,
    },
    target: backupTarget(minio, 'pg'),
  });
  new BackupCronJob(chart, 'BackupMongo', {
    ...backupCommon,
    name: 'mongo',
    source: { kind: 'mongodb', uri: { secretName: mongo.secret.requirement.name, key: 'uri' }, port: mongo.connection.endpoint.port, peer: mongo.connection.endpoint.peers[0]! },
    target: backupTarget(minio, 'mongo'),
  });
  new ClickHouseBackup(chart, 'BackupClickHouse', {
    namespace: ns,
    schedule: data.backups.schedule,
    drillSchedule: DRILL_SCHEDULE,
    keep: data.backups.keep,
    image: ctx.platformImage('clickhouse'),
    s3Image: ctx.platformImage('backup-s3'),
    source: clickhouse,
    database: NAME.clickhouseDatabase,
    target: minio,
    bucket: BACKUP_BUCKET,
    runbookUrl: scope.runbook('backups'),
    prometheusSelector: cluster.prometheusSelector,
    dns: scope.dns,
  });
  // Backup pods reach every address of an external store (BackupCronJob takes one peer).
  for (const [name, endpoint] of [['pg', postgres], ['mongo', mongo.connection.endpoint]] as const) {
    if (endpoint.peers.length > 1) extraEgress(chart, ns, `${name}-backup`, endpoint);
  }
  if (minio.endpoint.peers.length > 1) {
    for (const name of ['pg', 'mongo']) for (const client of backupClients(name)) extraEgress(chart, ns, client, minio.endpoint);
  }
}

/** Retention (AION-13, AION-14): MinIO lifecycle, ClickHouse TTL, Mongo TTL indexes, and the TTL env of the control plane. */
function buildRetention(scope: DataPlaneScope, stores: Omit<StoreConnections, 'postgres'>): void {
  const { chart, ctx, data, ns, tier, grants } = scope;
  const days = retentionDays(data, tier);
  new MinioLifecycleJob(chart, 'MinioLifecycle', {
    name: 'minio-lifecycle',
    namespace: ns,
    tier,
    retentionDays: days.memory,
    image: ctx.platformImage('minio-mc'),
    connection: stores.minio,
    bucket: MEMORY_BUCKET,
    abortIncompleteUploadsAfterHours: 72,
    concerns: ['AION-13'],
  });
  new ClickHouseTtlJob(chart, 'ClickHouseTtl', {
    name: 'clickhouse-ttl',
    namespace: ns,
    tier,
    retentionDays: days.clickhouse,
    image: ctx.platformImage('clickhouse'),
    connection: stores.clickhouse,
    tables: data.retention.clickhouseTables,
    concerns: ['AION-14'],
  });
  new MongoTtlJob(chart, 'MongoTtl', {
    name: 'mongo-ttl',
    namespace: ns,
    tier,
    retentionDays: days.log,
    image: ctx.platformImage('mongodb'),
    connection: stores.mongo.connection,
    indexes: data.retention.mongoCollections,
    concerns: ['AION-14'],
  });
  grants.give(['controlPlane'], { env: { AION_LOG_TTL_DAYS: String(days.log), AION_CLICKHOUSE_TTL_DAYS: String(days.clickhouse) } });
}

const stableKey = (r: Rule): string => JSON.stringify([r.ports.map((p) => p.port), r.peers]);

interface Acl {
  readonly resource: { readonly type: 'topic' | 'group'; readonly name: string; readonly patternType: 'literal' };
  readonly operations: readonly string[];
  readonly host: '*';
}
function acl(type: 'topic' | 'group', name: string, ...operations: string[]): Acl {
  return { resource: { type, name, patternType: 'literal' }, operations: [...operations].sort(), host: '*' };
}

/** One more egress policy for `client` pods to every address of `endpoint`. */
function extraEgress(scope: Construct, namespace: string, client: string, endpoint: Endpoint): void {
  new AllowList(scope, `Egress-${client}-${endpoint.host}`, {
    name: `${client}-to-${endpoint.host.split('.')[0]}`,
    namespace,
    pods: app(client),
    egress: [egressTo(endpoint)],
    concerns: ['AION-10'],
  });
}

// ------------------------------------------------------------------------------------------------
// Buckets the backups write to

interface BucketJobProps {
  readonly namespace: string;
  readonly image: string;
  readonly connection: MinioConnection;
  readonly buckets: readonly string[];
  readonly dns: { readonly dnsNamespace: string; readonly dnsPodLabel: string };
}

export const BUCKET_SCRIPT = [
  'set -eu',
  // The keys from the mounted Secret files (issue 14 item 17) on mc's stdin: never env or argv.
  'printf \'%s\\n%s\\n\' "$(cat /run/secrets/minio/access-key)" "$(cat /run/secrets/minio/secret-key)" | mc alias set target "$S3_URL" --api S3v4 >/dev/null',
  'for b in $BUCKETS; do mc mb --ignore-existing "target/$b"; done',
].join('\n');

/** AION-10: an idempotent Job creating the backup bucket(s) (`mc mb --ignore-existing`); named `minio-buckets-<hash>`. */
class BucketJob extends Construct {
  constructor(scope: Construct, id: string, props: BucketJobProps) {
    super(scope, id);
    const C = 'BucketJob';
    const n = 'minio-buckets';
    const c = props.connection;
    const env: Record<string, EnvValue> = {
      HOME: '/tmp',
      MC_CONFIG_DIR: '/tmp/mc',
      BUCKETS: [...props.buckets].sort().join(' '),
      S3_URL: c.url,
    };
    const keys = [
      { secret: c.accessKeySecret.name, key: c.accessKeySecret.key, path: 'access-key' },
      { secret: c.secretKeySecret.name, key: c.secretKeySecret.key, path: 'secret-key' },
    ];
    const command = ['/bin/sh', '-c', BUCKET_SCRIPT];
    const container = hardenedContainer(
      C,
      n,
      {
        name: 'buckets',
        image: props.image,
        command,
        env,
        resources: { cpuRequest: '50m', cpuLimit: '250m', memoryRequest: '64Mi', memoryLimit: '256Mi' },
        mounts: [{ volume: 'tmp', path: '/tmp' }, { volume: 'keys', path: '/run/secrets/minio', readOnly: true }],
      },
      'job',
      podVolumeSizes([{ name: 'tmp', sizeLimit: '64Mi' }], ['keys']),
    );
    const labels = app(n);
    const sa = new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name: n, namespace: props.namespace, labels }, automountServiceAccountToken: false });
    const job = new k8s.KubeJob(this, 'Job', {
      metadata: { name: `${n}-${checksum({ image: props.image, command, env, keys }).slice(0, 8)}`, namespace: props.namespace, labels },
      spec: {
        backoffLimit: 6,
        ttlSecondsAfterFinished: 86400,
        activeDeadlineSeconds: 900,
        template: {
          metadata: { labels },
          spec: {
            ...restrictedJobPod(C, n, { serviceAccountName: n, uid: 10001 }),
            containers: [container],
            volumes: podVolumes([{ name: 'tmp', sizeLimit: '64Mi' }], [], [{ name: 'keys', items: keys }]),
          },
        },
      },
    });
    const policy = new AllowList(this, 'NetworkPolicy', {
      name: n,
      namespace: props.namespace,
      pods: labels,
      egress: [dnsRule(props.dns), egressTo(c.endpoint)],
      concerns: ['AION-10'],
    });
    trace([sa, job, policy.policy], 'AION-10');
    trace(job, 'X-1');
  }
}

function dnsRule(dns: { readonly dnsNamespace: string; readonly dnsPodLabel: string }): Rule {
  const [k, v] = dns.dnsPodLabel.split('=') as [string, string];
  return { peers: [{ namespace: dns.dnsNamespace, pods: { [k]: v } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] };
}

// ------------------------------------------------------------------------------------------------
// ClickHouse backups (AION-10): `BACKUP DATABASE … TO S3(…)`, verified, pruned, drilled, alerted

export interface ClickHouseBackupProps {
  readonly namespace: string;
  /** 5-field cron (UTC). */
  readonly schedule: string;
  readonly drillSchedule: string;
  /** Newest backups kept under `<bucket>/clickhouse/`. */
  readonly keep: number;
  /** clickhouse-server image (clickhouse-client for the backup, a scratch server for the drill). */
  readonly image: string;
  /** AWS CLI image (pruning). */
  readonly s3Image: string;
  readonly source: ClickHouseConnection;
  readonly database: string;
  readonly target: MinioConnection;
  readonly bucket: string;
  readonly runbookUrl: string;
  readonly prometheusSelector: string;
  readonly dns: { readonly dnsNamespace: string; readonly dnsPodLabel: string };
}

/**
 * Shell helpers shared by the ClickHouse scripts (after backup.ts's PREAMBLE: `set -eu`, `fail`):
 * SQL-quote the S3 keys, read from the mounted Secret files (issue 14 item 17; no Secret env).
 */
const CH_COMMON = String.raw`sq() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }
S3_KEY=$(sq "$(cat "$BACKUP_SECRETS_DIR/AWS_ACCESS_KEY_ID")"); S3_SECRET=$(sq "$(cat "$BACKUP_SECRETS_DIR/AWS_SECRET_ACCESS_KEY")")
BASE="$S3_ENDPOINT/$S3_BUCKET/$S3_PREFIX"
umask 077
`;

export const CLICKHOUSE_SCRIPTS = {
  /** Server-side BACKUP to S3, then verified: status BACKUP_CREATED and the `.backup` manifest read back from the bucket. */
  backup: CH_COMMON + String.raw`NAME="clickhouse-$(date -u +%Y%m%dT%H%M%SZ)"
ch() { CLICKHOUSE_PASSWORD="$(cat "$BACKUP_SECRETS_DIR/CLICKHOUSE_PASSWORD")" clickhouse-client --host "$CH_HOST" --port "$CH_PORT" --user "$CH_USER" $CH_SECURE --queries-file "$1"; }
printf "BACKUP DATABASE \`%s\` TO S3('%s/%s', '%s', '%s')" "$CH_DATABASE" "$BASE" "$NAME" "$S3_KEY" "$S3_SECRET" > /tmp/backup.sql
RESULT=$(ch /tmp/backup.sql) || { rm -f /tmp/backup.sql; fail "BACKUP DATABASE $CH_DATABASE to $BASE/$NAME failed"; }
rm -f /tmp/backup.sql
echo "$RESULT" | grep -q BACKUP_CREATED || fail "BACKUP of $CH_DATABASE ended as: $RESULT"
printf "SELECT count() FROM s3('%s/%s/.backup', '%s', '%s', 'RawBLOB')" "$BASE" "$NAME" "$S3_KEY" "$S3_SECRET" > /tmp/verify.sql
FOUND=$(ch /tmp/verify.sql) || { rm -f /tmp/verify.sql; fail "cannot read back $BASE/$NAME/.backup"; }
rm -f /tmp/verify.sql
[ "$FOUND" = "1" ] || fail "$BASE/$NAME/.backup not found after BACKUP (verification)"
echo "$NAME" > "$WORK/artifact"
echo "backed up and verified $BASE/$NAME"
`,
  /** Keep the newest N backups (directories `clickhouse-<UTC stamp>/`). */
  prune: String.raw`NAME=$(cat "$WORK/artifact")
s3() { aws --endpoint-url "$S3_ENDPOINT" --no-cli-pager "$@"; }
DIRS=$(s3 s3 ls "s3://$S3_BUCKET/$S3_PREFIX/" | sed -n 's|^ *PRE \(clickhouse-[0-9]\{8\}T[0-9]\{6\}Z\)/$|\1|p' | sort -r) || fail "cannot list s3://$S3_BUCKET/$S3_PREFIX/"
echo "$DIRS" | grep -qx "$NAME" || fail "$NAME is not listed in s3://$S3_BUCKET/$S3_PREFIX/ (verification)"
echo "$DIRS" | tail -n +$((RETENTION + 1)) | while read -r old; do
  [ -n "$old" ] || continue
  s3 s3 rm --recursive --only-show-errors "s3://$S3_BUCKET/$S3_PREFIX/$old/" || fail "cannot remove $old"
  echo "retention ($RETENTION): removed $old"
done
`,
  /** Restore the newest backup into a scratch clickhouse-server in the pod; at least MIN_COUNT tables. */
  drill: CH_COMMON + String.raw`clickhouse-server --config-file=/etc/clickhouse-server/config.xml > /tmp/server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
i=0; until clickhouse-client --query 'SELECT 1' >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt 120 ] || { tail -n 50 /tmp/server.log >&2; fail "scratch clickhouse-server did not start"; }; sleep 1; done
printf "SELECT max(_path) FROM s3('%s/clickhouse-*/.backup', '%s', '%s', 'RawBLOB')" "$BASE" "$S3_KEY" "$S3_SECRET" > /tmp/latest.sql
LATEST=$(clickhouse-client --queries-file /tmp/latest.sql) || fail "cannot list $BASE"
rm -f /tmp/latest.sql
NAME=$(echo "$LATEST" | sed -n 's|.*/\(clickhouse-[0-9]\{8\}T[0-9]\{6\}Z\)/\.backup$|\1|p')
[ -n "$NAME" ] || fail "no ClickHouse backup in $BASE"
printf "RESTORE DATABASE \`%s\` FROM S3('%s/%s', '%s', '%s')" "$CH_DATABASE" "$BASE" "$NAME" "$S3_KEY" "$S3_SECRET" > /tmp/restore.sql
clickhouse-client --queries-file /tmp/restore.sql >/dev/null || { rm -f /tmp/restore.sql; fail "RESTORE of $NAME into the scratch server failed"; }
rm -f /tmp/restore.sql
TABLES=$(clickhouse-client --query "SELECT count() FROM system.tables WHERE database = '$CH_DATABASE'") || fail "cannot query the scratch server"
[ "$TABLES" -ge "$MIN_COUNT" ] || fail "restored $NAME has $TABLES tables, expected at least $MIN_COUNT"
echo "restore drill ok: $NAME restored into a scratch clickhouse-server, $TABLES tables"
`,
} as const;

/**
 * AION-10, ClickHouse: the runbook replicates ClickHouse to S3-compatible storage. BackupCronJob
 * has no ClickHouse kind, so this renders the same shape: CronJob `clickhouse-backup` (init:
 * `BACKUP DATABASE … TO S3` through clickhouse-client, executed by the server, verified; main:
 * keep the newest N with the AWS CLI), CronJob `clickhouse-restore-drill` (a scratch
 * clickhouse-server in the pod restores the newest backup: never the source), their
 * NetworkPolicies, and BackupCronJob's three alerts in PrometheusRule `clickhouse-backup`.
 * S3 keys reach the SQL through a 0600 file in the pod's /tmp, never argv.
 */
export class ClickHouseBackup extends Construct {
  readonly backup: k8s.KubeCronJob;
  readonly drill: k8s.KubeCronJob;
  readonly rules: PrometheusRules;
  constructor(scope: Construct, id: string, props: ClickHouseBackupProps) {
    super(scope, id);
    const C = 'ClickHouseBackup';
    const n = 'clickhouse';
    const interval = scheduleInterval(props.schedule);
    const drillInterval = scheduleInterval(props.drillSchedule);
    const src = props.source;
    const tgt = props.target;
    const s3Env: Record<string, EnvValue> = {
      S3_ENDPOINT: tgt.url.replace(/\/$/, ''),
      S3_BUCKET: props.bucket,
      S3_PREFIX: n,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      BACKUP_SECRETS_DIR,
    };
    // Secret keys as files (issue 14 item 17): one projected volume per container, at BACKUP_SECRETS_DIR.
    const s3Files = [
      { secret: tgt.accessKeySecret.name, key: tgt.accessKeySecret.key, path: 'AWS_ACCESS_KEY_ID' },
      { secret: tgt.secretKeySecret.name, key: tgt.secretKeySecret.key, path: 'AWS_SECRET_ACCESS_KEY' },
    ];
    const secretsMount = (volume: string) => ({ volume, path: BACKUP_SECRETS_DIR, readOnly: true });
    const common = { HOME: '/tmp', WORK: '/work' };
    const res = { cpuRequest: '100m', cpuLimit: '1', memoryRequest: '256Mi', memoryLimit: '1Gi' };
    const saName = `${n}-backup`;
    const sa = new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name: saName, namespace: props.namespace, labels: app(saName) }, automountServiceAccountToken: false });
    const tmpWork = [{ volume: 'tmp', path: '/tmp' }, { volume: 'work', path: '/work' }];
    const cron = (cid: string, name: string, schedule: string, every: number, pod: Pick<k8s.PodSpec, 'initContainers' | 'containers' | 'volumes'>) => {
      const labels = { ...app(name), 'stackbook.io/backup': n };
      return scheduledJob(this, cid, {
        name,
        namespace: props.namespace,
        labels,
        schedule,
        timeZone: 'Etc/UTC',
        startingDeadlineSeconds: 600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        backoffLimit: 2,
        activeDeadlineSeconds: 3600,
        ttlSecondsAfterFinished: Math.max(86400, 2 * every),
        pod: { ...restrictedJobPod(C, name, { serviceAccountName: saName, uid: 101 }), ...pod },
      });
    };
    const backupVolumes = podVolumeSizes([{ name: 'tmp', sizeLimit: '64Mi', medium: 'Memory' }, { name: 'work', sizeLimit: '64Mi' }], ['secrets-backup', 'secrets-prune']);
    this.backup = cron('Backup', `${n}-backup`, props.schedule, interval, {
      initContainers: [
        hardenedContainer(C, n, {
          name: 'backup',
          image: props.image,
          command: shellCommand(CLICKHOUSE_SCRIPTS.backup),
          env: {
            ...common,
            ...s3Env,
            CH_HOST: src.host,
            CH_PORT: String(src.endpoint.port),
            CH_USER: src.user,
            CH_SECURE: src.secure ? '--secure' : '',
            CH_DATABASE: props.database,
          },
          resources: res,
          mounts: [...tmpWork, secretsMount('secrets-backup')],
        }, 'init', backupVolumes),
      ],
      containers: [
        // aws-cli reads AWS_SHARED_CREDENTIALS_FILE, rendered into the memory-backed /tmp.
        hardenedContainer(C, n, { name: 'prune', image: props.s3Image, command: shellCommand(`${credentialScript(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])}${CLICKHOUSE_SCRIPTS.prune}`), env: { ...common, ...s3Env, BACKUP_AUTH_DIR: '/tmp', RETENTION: String(props.keep) }, resources: res, mounts: [...tmpWork, secretsMount('secrets-prune')] }, 'job', backupVolumes),
      ],
      volumes: podVolumes([{ name: 'tmp', sizeLimit: '64Mi', medium: 'Memory' }, { name: 'work', sizeLimit: '64Mi' }], [], [
        { name: 'secrets-backup', items: [...s3Files, { secret: src.passwordSecret.name, key: src.passwordSecret.key, path: 'CLICKHOUSE_PASSWORD' }] },
        { name: 'secrets-prune', items: s3Files },
      ]),
    });
    const drillVolumes = podVolumeSizes([{ name: 'tmp', sizeLimit: '256Mi' }, { name: 'work', sizeLimit: '64Mi' }, { name: 'data', sizeLimit: '20Gi' }, { name: 'logs', sizeLimit: '256Mi' }], ['secrets-restore']);
    this.drill = cron('Drill', `${n}-restore-drill`, props.drillSchedule, drillInterval, {
      containers: [
        hardenedContainer(C, n, {
          name: 'restore',
          image: props.image,
          command: shellCommand(CLICKHOUSE_SCRIPTS.drill),
          env: { ...common, ...s3Env, CH_DATABASE: props.database, MIN_COUNT: '1' },
          resources: { cpuRequest: '250m', cpuLimit: '2', memoryRequest: '1Gi', memoryLimit: '2Gi' },
          mounts: [...tmpWork, { volume: 'data', path: '/var/lib/clickhouse' }, { volume: 'logs', path: '/var/log/clickhouse-server' }, secretsMount('secrets-restore')],
        }, 'job', drillVolumes),
      ],
      volumes: podVolumes([{ name: 'tmp', sizeLimit: '256Mi' }, { name: 'work', sizeLimit: '64Mi' }, { name: 'data', sizeLimit: '20Gi' }, { name: 'logs', sizeLimit: '256Mi' }], [], [{ name: 'secrets-restore', items: s3Files }]),
    });
    const dns = dnsRule(props.dns);
    const toMinio = egressTo(tgt.endpoint);
    const backupPolicy = new AllowList(this, 'BackupPolicy', {
      name: `${n}-backup`,
      namespace: props.namespace,
      pods: app(`${n}-backup`),
      egress: [dns, egressTo(src.endpoint), toMinio],
      concerns: ['X-6', 'AION-10'],
    });
    const drillPolicy = new AllowList(this, 'DrillPolicy', {
      name: `${n}-restore-drill`,
      namespace: props.namespace,
      pods: app(`${n}-restore-drill`),
      egress: [dns, toMinio],
      concerns: ['X-6', 'AION-10'],
    });
    this.rules = new PrometheusRules(this, 'Alerts', {
      name: `${n}-backup`,
      namespace: props.namespace,
      rules: backupAlerts({ name: n, namespace: props.namespace, interval, drillInterval, runbookUrl: props.runbookUrl, severity: 'warning' }),
      prometheusSelector: props.prometheusSelector,
      concerns: ['X-6', 'AION-10'],
    });
    trace([sa, this.backup, this.drill], 'X-1', 'X-6', 'AION-10');
    trace([backupPolicy.policy, drillPolicy.policy], 'AION-10');
  }
}

/**
 * Issue 3's done-criterion: "the production stack can include every platform component". One
 * cdk8s App/Chart holds, with production-like props (tier `production`, every image digest-pinned):
 * Namespace + DefaultDeny, the client Workloads, a Vault ClusterSecretStore + ExternalSecret, a
 * KEDA ScaledObject (its target has no HPA), a ClusterImagePolicy (enforce), one BackupCronJob per
 * source kind, Redis, MongoDB, Qdrant, MinIO, ClickHouse, the three retention Jobs, Postgres (3
 * instances, backups) and Kafka (3 nodes, the AION topics). The combined output must be
 * schema-valid, pass every policy without exceptions, have no duplicate object, and run only the
 * images passed in.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BACKUP_IMAGES, BackupCronJob, type BackupSource, type BackupTarget } from '../../components/backup.js';
import { ClickHouse } from '../../components/clickhouse.js';
import { ImagePolicy, imageGlobs } from '../../components/image-policy.js';
import { Kafka } from '../../components/kafka.js';
import { ScaledObject, p95LatencyTrigger, queueDepthTrigger } from '../../components/keda.js';
import { EXCEPTION_PREFIX } from '../../components/meta.js';
import { Minio } from '../../components/minio.js';
import { MONGODB_IMAGE, MongoDb } from '../../components/mongodb.js';
import { Namespace } from '../../components/namespace.js';
import { DefaultDeny } from '../../components/network-policy.js';
import { POSTGRES_IMAGE, Postgres } from '../../components/postgres.js';
import { Qdrant } from '../../components/qdrant.js';
import { Redis, redisEnv } from '../../components/redis.js';
import { ClickHouseTtlJob, MinioLifecycleJob, MongoTtlJob } from '../../components/retention.js';
import { ManagedSecret, VaultSecretStore } from '../../components/secret.js';
import { Workload } from '../../components/workload.js';
import { blocking, evaluate, formatViolation, podSpecOf, type Obj } from '../../policies/manifest-rules.js';
import { validateManifest } from '../schema.js';
import { newChart, objectsOf, type Json } from './util.js';

const NS = 'aion';
const TIER = 'production' as const;
const RETENTION_DAYS = 30;

/** `registry.example/<name>:<tag>@sha256:<64 hex>`: a distinct, deterministic digest per image. */
function pinned(name: string, tag: string): string {
  const ref = `registry.example/${name}:${tag}`;
  return `${ref}@sha256:${createHash('sha256').update(ref).digest('hex')}`;
}

const IMAGES = {
  control: pinned('aion/control', '1.4.0'),
  memory: pinned('aion/memory', '1.4.0'),
  gateway: pinned('aion/gateway', '1.4.0'),
  redis: pinned('library/redis', '8.2.2-alpine'),
  redisExporter: pinned('oliver006/redis_exporter', 'v1.77.0'),
  mongodb: pinned('library/mongo', '8.0.12'),
  qdrant: pinned('qdrant/qdrant', 'v1.15.4-unprivileged'),
  minio: pinned('minio/minio', 'RELEASE.2025-09-07T16-13-09Z'),
  mc: pinned('minio/mc', 'RELEASE.2025-08-13T08-35-41Z'),
  clickhouse: pinned('clickhouse/clickhouse-server', '25.8.3.66'),
  postgres: pinned('cloudnative-pg/postgresql', '18.6-standard-trixie'),
  postgresPitrDrill: pinned('cloudnative-pg/postgresql', '18.6-system-trixie'),
  kafka: pinned('strimzi/kafka', '1.2.0-kafka-4.3.1'),
  // The backup defaults, digest-pinned (pg_dump must be ≥ the server's major: checked below).
  backupPostgres: pinned('library/postgres', BACKUP_IMAGES.postgres.tag),
  backupMongodb: pinned('library/mongo', BACKUP_IMAGES.mongodb.tag),
  backupSqlite: pinned('keinos/sqlite3', '3.46.1'),
  backupTools: pinned('library/alpine', '3.20.3'),
  backupS3: pinned('amazon/aws-cli', '2.17.50'),
} as const;
const PASSED_IN = new Set<string>(Object.values(IMAGES));

const PROM = 'http://prometheus-operated.monitoring.svc:9090';
const RUNBOOK = 'https://runbooks.example.com/runbooks/aion';
const KUBE_API = ['10.96.0.1/32'];
const app = (name: string) => ({ 'app.kubernetes.io/name': name });
const SIGNING_KEY = generateKeyPairSync('ec', { namedCurve: 'prime256v1', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).publicKey;

function buildPlatform(): Json[] {
  const chart = newChart();

  // Namespace (production tier: the image-digest policy is strict) and its default deny.
  new Namespace(chart, 'Ns', { name: NS, labels: { 'stackbook.io/tier': TIER }, imagePolicy: true });
  new DefaultDeny(chart, 'Deny', { namespace: NS });

  // Secrets: Vault store for the namespace, one ExternalSecret read by the control plane.
  const store = new VaultSecretStore(chart, 'Vault', {
    server: 'https://vault.corp.internal:8200',
    auth: { role: 'stackbook' },
    ca: { kind: 'ConfigMap', name: 'corp-ca', namespace: 'external-secrets', key: 'ca.crt' },
    namespaces: [NS],
  });
  const hooks = new ManagedSecret(chart, 'Hooks', {
    name: 'aion-hooks',
    namespace: NS,
    keys: ['apiKey', 'hmacKey'],
    source: 'vault',
    vault: { store: store.name, path: 'secret/omertaos/hooks' },
    concerns: ['AION-11'],
  });

  // Stores.
  const redis = new Redis(chart, 'Redis', {
    namespace: NS,
    tier: TIER,
    image: IMAGES.redis,
    exporterImage: IMAGES.redisExporter,
    passwordSecret: { name: 'redis-auth', key: 'password' },
    urlSecret: { name: 'redis-auth', key: 'url' },
    clients: [{ name: 'gateway' }],
    runbookUrl: (a) => `${RUNBOOK}#${a}`,
  });
  const mongo = new MongoDb(chart, 'Mongo', {
    namespace: NS,
    image: IMAGES.mongodb,
    rootUsername: { name: 'mongo-root', key: 'username' },
    rootPassword: { name: 'mongo-root', key: 'password' },
    uriSecret: { name: 'mongo-client', key: 'uri' },
    clients: [{ name: 'control' }, { name: 'mongo-ttl' }, { name: 'mongo-backup' }],
  });
  new Qdrant(chart, 'Qdrant', { namespace: NS, image: IMAGES.qdrant, apiKeySecret: { name: 'qdrant', key: 'api-key' }, clients: [{ name: 'memory' }] });
  const minio = new Minio(chart, 'Minio', {
    namespace: NS,
    image: IMAGES.minio,
    rootUser: { name: 'minio-root', key: 'user' },
    rootPassword: { name: 'minio-root', key: 'password' },
    clients: [{ name: 'memory' }, { name: 'minio-lifecycle' }, ...['pg', 'mongo', 'projects', 'auth'].flatMap((b) => [{ name: `${b}-backup` }, { name: `${b}-restore-drill` }])],
  });
  const clickhouse = new ClickHouse(chart, 'ClickHouse', {
    namespace: NS,
    image: IMAGES.clickhouse,
    passwordSecret: { name: 'clickhouse', key: 'password' },
    clients: [{ name: 'control' }, { name: 'clickhouse-ttl' }],
  });

  // Retention Jobs, production retention.
  new MinioLifecycleJob(chart, 'MinioLifecycle', { name: 'minio-lifecycle', namespace: NS, tier: TIER, retentionDays: RETENTION_DAYS, image: IMAGES.mc, connection: minio.connection(), concerns: ['AION-13'] });
  new ClickHouseTtlJob(chart, 'ClickHouseTtl', {
    name: 'clickhouse-ttl',
    namespace: NS,
    tier: TIER,
    retentionDays: RETENTION_DAYS,
    image: IMAGES.clickhouse,
    connection: clickhouse.connection(),
    tables: [{ database: 'aion', table: 'events', column: 'ts' }],
    concerns: ['AION-14'],
  });
  new MongoTtlJob(chart, 'MongoTtl', {
    name: 'mongo-ttl',
    namespace: NS,
    tier: TIER,
    retentionDays: RETENTION_DAYS,
    image: IMAGES.mongodb,
    connection: mongo.connection(),
    indexes: [{ database: 'aion', collection: 'logs', field: 'createdAt' }],
    concerns: ['AION-14'],
  });

  // Postgres: 3 instances, Barman Cloud backups. The plugin only accepts an https:// endpoint, so it
  // targets an external S3-compatible service, not the in-cluster (plain-http) MinIO.
  new Postgres(chart, 'Postgres', {
    name: 'aion-pg',
    namespace: NS,
    instances: 3,
    imageName: IMAGES.postgres,
    database: 'aion',
    ownerSecret: 'aion-pg-owner',
    clients: [{ pods: app('control') }, { pods: app('pg-backup') }],
    kubeApiCidrs: KUBE_API,
    backup: {
      destinationPath: 's3://aion-backups/pg',
      endpointUrl: 'https://s3.backup.example.com',
      credentials: { secretName: 'aion-pg-s3' },
      egress: { peers: [{ cidr: '203.0.113.10/32' }], ports: [{ port: 443 }] },
      runbookUrl: 'https://runbooks.example.com/aion#backups',
      drill: { image: IMAGES.postgresPitrDrill },
    },
  });

  // Kafka: 3 dual-role nodes, the AION topics.
  new Kafka(chart, 'Kafka', {
    name: 'aion',
    namespace: NS,
    brokers: 3,
    image: IMAGES.kafka,
    clients: [{ pods: app('control') }],
    kubeApiCidrs: KUBE_API,
    topics: [
      { name: 'aion.metrics.runtime', partitions: 6, retentionDays: 3, concerns: ['AION-5'] },
      { name: 'kernel.proposals', partitions: 3, retentionDays: 30, concerns: ['AION-5', 'AION-7'] },
    ],
  });

  // Backups: one per source kind, all to MinIO.
  const s3: BackupTarget = {
    kind: 's3',
    endpoint: `http://minio.${NS}.svc:9000`,
    bucket: 'aion-backups',
    accessKeyId: { secretName: 'minio-backup', key: 'accessKey' },
    secretAccessKey: { secretName: 'minio-backup', key: 'secretKey' },
    peer: { pods: app('minio') },
  };
  const sources: Record<string, BackupSource> = {
    pg: {
      kind: 'postgres',
      host: `aion-pg-rw.${NS}.svc`,
      database: 'aion',
      username: { secretName: 'aion-pg-owner', key: 'username' },
      password: { secretName: 'aion-pg-owner', key: 'password' },
      peer: { pods: { 'cnpg.io/cluster': 'aion-pg' } },
    },
    mongo: { kind: 'mongodb', uri: { secretName: 'mongo-client', key: 'uri' }, peer: { pods: app('mongodb') } },
    projects: { kind: 'pvc-tarball', claimName: 'oubliette-projects' },
    auth: { kind: 'sqlite', claimName: 'oubliette-data', path: 'data/auth.db' },
  };
  for (const [name, source] of Object.entries(sources)) {
    new BackupCronJob(chart, `Backup-${name}`, {
      name,
      namespace: NS,
      schedule: '0 2 * * *',
      source,
      target: { ...s3, prefix: name },
      runbookUrl: `${RUNBOOK}#backups`,
      images: { postgres: IMAGES.backupPostgres, mongodb: IMAGES.backupMongodb, sqlite: IMAGES.backupSqlite, tools: IMAGES.backupTools, s3: IMAGES.backupS3 },
      concerns: ['AION-10'],
    });
  }

  // Client workloads the stores admit. `control` is scaled by KEDA only (no HPA).
  const probes = { liveness: { path: '/livez' }, readiness: { path: '/readyz' } };
  new Workload(chart, 'Control', {
    name: 'control',
    namespace: NS,
    image: IMAGES.control,
    port: 8080,
    ...probes,
    autoscaled: true,
    env: { HOOKS_API_KEY: hooks.env('apiKey'), HOOKS_HMAC_KEY: hooks.env('hmacKey') },
    podAnnotations: hooks.annotations,
  });
  new ScaledObject(chart, 'ControlScaler', {
    target: { name: 'control', namespace: NS, selector: app('control') },
    minReplicas: 2,
    maxReplicas: 10,
    triggers: [
      queueDepthTrigger({ serverAddress: PROM, metric: 'aion_control_queue_depth', selector: { queue: 'tasks' }, itemsPerReplica: 20 }),
      p95LatencyTrigger({ serverAddress: PROM, histogram: 'aion_request_latency_seconds', selector: { service: 'control' }, targetSeconds: 0.5 }),
    ],
    concerns: ['AION-16'],
  });
  new Workload(chart, 'Memory', { name: 'memory', namespace: NS, image: IMAGES.memory, port: 8080, ...probes, replicas: 2 });
  new Workload(chart, 'Gateway', { name: 'gateway', namespace: NS, image: IMAGES.gateway, port: 8080, ...probes, replicas: 2, env: redisEnv(redis.connection(3)) });

  // Cosign admission for every image above.
  // ... and for the images the CNPG and Strimzi operators inject (issue 14 item 1), mirrored like the rest.
  const injected = [pinned('ghcr.io/cloudnative-pg/cloudnative-pg', '1.30.0'), pinned('quay.io/strimzi/operator', '1.2.0')];
  new ImagePolicy(chart, 'ImagePolicy', { name: 'stackbook-aion', mode: 'enforce', keys: [{ name: 'release', publicKey: SIGNING_KEY }], images: imageGlobs([...PASSED_IN, ...injected]), operatorImages: injected });

  return objectsOf(chart);
}

const OBJECTS = buildPlatform();
const keyOf = (o: Json) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`;

/** Every container image of a pod template, plus the operand images of the CNPG/Strimzi CRs. */
function imagesOf(o: Json): string[] {
  const pod = podSpecOf(o as Obj);
  if (pod) return [...(pod.initContainers ?? []), ...(pod.containers ?? [])].map((c: Json) => String(c.image));
  if (o.kind === 'Cluster') return [String(o.spec.imageName)];
  if (o.kind === 'Kafka') return [String(o.spec.kafka.image)];
  return [];
}

// Kinds without a CRD fixture in /work/shared/crds: validateManifest reports exactly that, as in
// test/components/kafka.test.ts and postgres.test.ts (which check them against hand-written schemas).
const NO_FIXTURE: Record<string, string> = {
  KafkaNodePool: 'no CRD fixture for kafka.strimzi.io/v1 KafkaNodePool',
  ObjectStore: 'no CRD fixture for barmancloud.cnpg.io/v1 ObjectStore',
};

describe('the production stack can include every platform component (issue 3)', () => {
  it('the default backup images can dump the default servers (pg_dump refuses a newer server major)', () => {
    const major = (tag: string) => Number(/^(\d+)/.exec(tag)?.[1]);
    expect(major(BACKUP_IMAGES.postgres.tag)).toBeGreaterThanOrEqual(major(POSTGRES_IMAGE.tag));
    expect(major(BACKUP_IMAGES.mongodb.tag)).toBeGreaterThanOrEqual(major(MONGODB_IMAGE.tag));
  });

  it('renders every component kind', () => {
    const kinds = new Set(OBJECTS.map((o) => o.kind));
    for (const k of [
      'Namespace', 'NetworkPolicy', 'ClusterSecretStore', 'ExternalSecret', 'ScaledObject', 'ClusterImagePolicy', 'CronJob', 'StatefulSet',
      'Job', 'Cluster', 'ObjectStore', 'ScheduledBackup', 'Kafka', 'KafkaNodePool', 'KafkaTopic', 'Deployment', 'PrometheusRule',
    ]) {
      expect(kinds.has(k), k).toBe(true);
    }
    expect(OBJECTS.filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name).sort()).toEqual(
      ['aion-pg-pitr-drill', ...['auth', 'mongo', 'pg', 'projects'].flatMap((n) => [`${n}-backup`, `${n}-restore-drill`])],
    );
    expect(OBJECTS.filter((o) => o.kind === 'KafkaTopic').map((o) => o.spec.topicName ?? o.metadata.name).sort()).toEqual(['aion.metrics.runtime', 'kernel.proposals']);
    expect(OBJECTS.find((o) => o.kind === 'Cluster')!.spec.instances).toBe(3);
    expect(OBJECTS.find((o) => o.kind === 'ClusterImagePolicy')!.spec.mode).toBe('enforce');
  });

  it('every object is schema-valid (kinds without a CRD fixture report only that)', () => {
    const problems: Record<string, string[]> = {};
    for (const o of OBJECTS) {
      const errors = validateManifest(o);
      const expected = NO_FIXTURE[o.kind];
      if (expected !== undefined) {
        if (!(errors.length === 1 && errors[0]!.includes(expected))) problems[keyOf(o)] = errors;
      } else if (errors.length > 0) {
        problems[keyOf(o)] = errors;
      }
    }
    expect(problems).toEqual({});
  });

  it('passes every mandatory policy but secret-env on the two application stand-ins, and no object carries a policy exception', () => {
    // control and gateway stand for applications (no stackbook.io/contract): they take their keys as
    // env, which rule secret-env refuses unless declared; every platform component here passes it.
    const found = blocking(evaluate(OBJECTS as Obj[]));
    expect(found.filter((v) => v.rule !== 'secret-env').map(formatViolation)).toEqual([]);
    expect(found.map((v) => `${v.rule} ${v.object}`)).toEqual(['secret-env Deployment aion/control', 'secret-env Deployment aion/control', 'secret-env Deployment aion/gateway']);
    const excepted = OBJECTS.flatMap((o) => Object.keys(o.metadata.annotations ?? {}).filter((k) => k.startsWith(EXCEPTION_PREFIX)).map((k) => `${keyOf(o)} ${k}`));
    expect(excepted).toEqual([]);
  });

  it('the policies see a production tier (the digest rule is strict) and control has no HPA', () => {
    const ns = OBJECTS.find((o) => o.kind === 'Namespace')!;
    expect(ns.metadata.labels['stackbook.io/tier']).toBe('production');
    expect(OBJECTS.filter((o) => o.kind === 'HorizontalPodAutoscaler')).toEqual([]);
    const control = OBJECTS.find((o) => o.kind === 'Deployment' && o.metadata.name === 'control')!;
    expect(control.spec.replicas).toBeUndefined();
  });

  it('no two objects share apiVersion/kind/namespace/name', () => {
    const counts = new Map<string, number>();
    for (const o of OBJECTS) counts.set(keyOf(o), (counts.get(keyOf(o)) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
  });

  it('every pod template (and CNPG/Strimzi operand) runs only the digest-pinned images passed in', () => {
    const workloads = OBJECTS.filter((o) => podSpecOf(o as Obj) !== undefined);
    expect(new Set(workloads.map((o) => o.kind))).toEqual(new Set(['Deployment', 'StatefulSet', 'Job', 'CronJob']));
    const foreign = OBJECTS.flatMap((o) => imagesOf(o).filter((i) => !PASSED_IN.has(i) || !/@sha256:[a-f0-9]{64}$/.test(i)).map((i) => `${keyOf(o)}: ${i}`));
    expect(foreign).toEqual([]);
    const used = new Set(OBJECTS.flatMap(imagesOf));
    // Every image passed in is used (none is silently replaced by a default).
    expect([...PASSED_IN].filter((i) => !used.has(i))).toEqual([]);

    const perKind = new Map<string, number>();
    for (const o of OBJECTS) perKind.set(o.kind, (perKind.get(o.kind) ?? 0) + 1);
    const kinds = [...perKind].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k}=${n}`).join(' ');
    console.log(`platform: ${OBJECTS.length} objects: ${kinds}; images (${used.size}): ${[...used].sort().join(' ')}`);
  });
});

/**
 * The AION data plane (services/aion-data.ts, stacks/aion-data-config.ts): AION-2, 5, 6, 9, 10, 13, 14, 18.
 *
 * Each real stack file is read with only its `services.aion` block (and the AION Secret sources), so
 * these tests judge the data plane alone, and `buildAionData` renders into a chart with the AION
 * namespace and its default deny, through the one render path (`render`: secrets, platform images,
 * policies). Variants edit `services.aion.data` of a real stack before it is parsed, so config errors
 * are checked with the loader's own wording (file, path, value).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { Namespace } from '../components/namespace.js';
import { DefaultDeny } from '../components/network-policy.js';
import { blocking, evaluate, formatViolation, podSpecOf, type Obj } from '../policies/manifest-rules.js';
import { AION_DATA_SECRETS, AION_TOPICS, buildAionData, CLICKHOUSE_SCRIPTS, type AionDataPlane } from '../services/aion-data.js';
import type { BuildContext, ServiceModule } from '../services/types.js';
import { aionData, aionDataRules } from '../stacks/aion-data-config.js';
import { ConfigError, parseStack, rawFromStackFile } from '../stacks/load.js';
import type { Stack } from '../stacks/schema.js';
import { airgapProblems } from '../synth/airgap.js';
import { backupCronJobs, backupProblems, redisHaProblems, toleranceProblems, workloadsOf } from '../reports/failure-budget.js';
import { render, type Manifest, type Rendered } from '../synth/render.js';
import { concernsOf, ENVS, renderEnv, ROOT, type Env } from './helpers.js';
import { alertsOf, coverageProblems, findPromtool, PROMTOOL_MISSING, readUnitTests, ruleSets, unitTestFileOf } from './promtool.js';
import { validateManifest } from './schema.js';

type Json = Record<string, any>;
const NS = 'aion';
const CLIENTS = { gateway: 'aion-gateway', controlPlane: 'aion-control-plane', modules: ['aion-module-planner'] };

/** A real stack's raw config with only the AION block (data edited by `edit`) and the data plane's Secret sources. */
function rawStack(env: Env, edit?: (data: Json) => void): { raw: Json; file: string; secretTopKeys: Set<string> } {
  const file = `stacks/Pulumi.${env}.yaml`;
  const { raw, secretTopKeys } = rawFromStackFile(readFileSync(join(ROOT, file), 'utf8'), file);
  const aion = structuredClone((raw.services as Json).aion) as Json;
  aion.data ??= {};
  edit?.(aion.data);
  raw.services = { aion };
  const mine = new Set<string>(Object.values(AION_DATA_SECRETS));
  raw.secretSources = Object.fromEntries(Object.entries((raw.secretSources ?? {}) as Json).filter(([k]) => mine.has(k)));
  return { raw, file, secretTopKeys };
}

function stackOf(env: Env, edit?: (data: Json) => void): Stack {
  const { raw, file, secretTopKeys } = rawStack(env, edit);
  return parseStack(raw, file, secretTopKeys);
}

/** The loader's error lines for an edited stack (fails the test when it parses). */
function configErrors(env: Env, edit: (data: Json) => void): string[] {
  try {
    stackOf(env, edit);
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected a config error, but the stack parsed');
}

/** Render the data plane of a stack (namespace + default deny + buildAionData) through `render`. */
function renderData(stack: Stack): { rendered: Rendered; plane: AionDataPlane } {
  let plane: AionDataPlane | undefined;
  const module: ServiceModule = {
    key: 'aion',
    prefix: 'AION',
    runbook: '004_dada5245eb69c1ad.txt',
    appConcerns: {},
    build(scope: Construct, ctx: BuildContext) {
      const chart = new Chart(scope, 'aion', { disableResourceNameHashes: true });
      new Namespace(chart, 'Namespace', { name: NS });
      new DefaultDeny(chart, 'DefaultDeny', { namespace: NS, dnsNamespace: ctx.stack.cluster.dns.namespace, dnsPodLabel: ctx.stack.cluster.dns.podLabel });
      plane = buildAionData(chart, ctx, CLIENTS);
    },
  };
  const rendered = render(stack, [module]);
  return { rendered, plane: plane! };
}

const cache = new Map<Env, { rendered: Rendered; plane: AionDataPlane }>();
function envData(env: Env) {
  let r = cache.get(env);
  if (!r) cache.set(env, (r = renderData(stackOf(env))));
  return r;
}

const objs = (r: { rendered: Rendered }) => r.rendered.objects as readonly Json[];
const find = (objects: readonly Json[], kind: string, name: string): Json => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(' ')}`);
  return o;
};
const has = (objects: readonly Json[], kind: string, name: string) => objects.some((x) => x.kind === kind && x.metadata.name === name);
const jobByPrefix = (objects: readonly Json[], prefix: string): Json => {
  const found = objects.filter((x) => x.kind === 'Job' && x.metadata.name.startsWith(`${prefix}-`));
  expect(found.map((j) => j.metadata.name)).toHaveLength(1);
  return found[0]!;
};
const containers = (o: Json): Json[] => {
  const pod = podSpecOf(o as Obj) as Json;
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
};
const envOf = (c: Json): Json => Object.fromEntries((c.env ?? []).map((e: Json) => [e.name, e]));
const secretRef = (name: string, key: string) => ({ secret: { name, key } });
const drill0 = (objects: readonly Json[]): Json => containers(find(objects, 'CronJob', 'clickhouse-restore-drill'))[0]!;

describe('AION-2: data services in-cluster or external, credentials from Secrets, connection env', () => {
  it.each(ENVS)('AION-2 %s: every store is there, in the mode its stack chose', (env) => {
    const objects = objs(envData(env));
    const kinds = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort();
    // Production runs its single-instance stores as managed services (HA by the provider); airgap cannot.
    const external = env === 'prod' ? ['clickhouse', 'minio', 'mongodb', 'qdrant'] : [];
    expect(kinds('StatefulSet')).toEqual(
      ['clickhouse', 'minio', 'mongodb', 'qdrant', env === 'dev' ? 'redis' : 'redis-node'].filter((n) => !external.includes(n)).sort(),
    );
    expect(find(objects, 'Cluster', 'aion-pg').spec.bootstrap.initdb).toMatchObject({ database: 'aion', owner: 'aion', secret: { name: 'aion-postgres' } });
    expect(find(objects, 'Kafka', 'aion').spec.kafka.listeners).toEqual([expect.objectContaining({ port: 9093, tls: true, authentication: { type: 'tls' } })]);
    for (const store of external) {
      // External: only egress policies from the clients, to the configured CIDRs on the store's port.
      const policy = find(objects, 'NetworkPolicy', `${store}-egress-aion-control-plane`);
      const where = { minio: ['10.40.20.0/24', 443], mongodb: ['10.40.30.0/24', 27017], qdrant: ['10.40.31.0/24', 6333], clickhouse: ['10.40.32.0/24', 9440] } as const;
      const [cidr, port] = where[store as keyof typeof where];
      expect(policy.spec.egress).toEqual([{ to: [{ ipBlock: { cidr } }], ports: [{ port, protocol: 'TCP' }] }]);
      expect(concernsOf(policy as Manifest)).toContain('AION-2');
    }
    for (const name of ['aion-pg', 'aion'] as const) {
      const o = objects.find((x) => (x.kind === 'Cluster' || x.kind === 'Kafka') && x.metadata.name === name)!;
      expect(concernsOf(o as Manifest)).toContain('AION-2');
    }
  });

  it('AION-2: the control plane gets every connection it reads (AION_CONTROL_* settings, issue 19); URLs and credentials only as Secret references', () => {
    const { plane } = envData('dev');
    const cp = plane.env.controlPlane;
    // control/app/config.py at OMERTAOS 947c840: pydantic-settings, env_prefix AION_CONTROL_; no
    // MinIO, ClickHouse, Kafka TLS or Qdrant API key setting exists, so none is handed over.
    expect(cp).toEqual({
      AION_CONTROL_POSTGRES_DSN: secretRef('aion-postgres', 'url'),
      AION_CONTROL_REDIS_URL: secretRef('aion-redis', 'url'),
      AION_CONTROL_MONGO_DSN: secretRef('aion-mongodb', 'uri'),
      AION_CONTROL_QDRANT_URL: 'http://qdrant.aion.svc:6333',
      AION_CONTROL_KAFKA_BOOTSTRAP: 'aion-kafka-bootstrap.aion.svc:9093',
      AION_LOG_TTL_DAYS: '7',
      AION_CLICKHOUSE_TTL_DAYS: cp.AION_CLICKHOUSE_TTL_DAYS,
    });
    // The gateway reaches Redis only (one URL, DB in its path); module hosts Kafka (as their own user), Qdrant and MinIO.
    expect(Object.keys(plane.env.gateway).sort()).toEqual(['AION_IDEMPOTENCY_TTL', 'AION_REDIS_URL']);
    // issue 14 item 17: the module hosts' key material is mounted read-only, its path in <NAME>_FILE
    expect(plane.env.modules).toMatchObject({
      AION_KAFKA_SSL_KEY_FILE: '/var/run/secrets/aion/kafka/user.key',
      AION_QDRANT_API_KEY_FILE: '/var/run/secrets/aion/qdrant/api-key',
      AION_MINIO_SECRET_KEY_FILE: '/var/run/secrets/aion/minio/secret-key',
    });
    expect(plane.files.modules).toEqual(
      expect.arrayContaining([
        { path: '/var/run/secrets/aion/kafka/user.key', secret: 'aion-modules', key: 'user.key', mode: 0o440 },
        { path: '/var/run/secrets/aion/kafka/ca.crt', secret: 'aion-cluster-ca-cert', key: 'ca.crt', mode: 0o440 },
        { path: '/var/run/secrets/aion/qdrant/api-key', secret: 'aion-qdrant', key: 'api-key', mode: 0o440 },
        { path: '/var/run/secrets/aion/minio/secret-key', secret: 'aion-minio', key: 'password', mode: 0o440 },
      ]),
    );
    for (const k of Object.keys(plane.env.modules)) expect(k, 'no key material in module env').not.toMatch(/_(KEY|CERT|CA|SECRET_KEY|ACCESS_KEY)$/);
    expect(plane.files.gateway).toEqual([]);
    expect(plane.files.controlPlane).toEqual([]);
    expect(plane.env.modules.AION_CONTROL_POSTGRES_DSN).toBeUndefined();
    // Every env value that names a credential is a Secret reference, never a literal.
    for (const kind of ['gateway', 'controlPlane', 'modules'] as const) {
      for (const [k, v] of Object.entries(plane.env[kind])) {
        if (/URL$|DSN$|KEY$|PASSWORD$|CERT$|_CA$/.test(k) && !['AION_QDRANT_URL', 'AION_CONTROL_QDRANT_URL', 'AION_MINIO_ENDPOINT'].includes(k)) expect(v, `${kind} ${k}`).toHaveProperty('secret');
      }
    }
  });

  it('AION-2: each store Secret is declared with its source; in-cluster URLs are built from random passwords', () => {
    const secrets = Object.fromEntries(envData('dev').rendered.secrets.filter((s) => !['aion-hooks', 'aion-gateway-api-keys', 'aion-jwt-signing-keys'].includes(s.name)).map((s) => [s.name, s]));
    expect(Object.keys(secrets).sort()).toEqual(['aion-clickhouse', 'aion-minio', 'aion-mongodb', 'aion-postgres', 'aion-qdrant', 'aion-redis']);
    expect(secrets['aion-redis']).toMatchObject({ source: 'pulumi', keys: ['password', 'url'], pulumi: { password: { randomLength: 32 }, url: { template: 'redis://:{password}@redis.aion.svc:6379/3' } } });
    expect(secrets['aion-mongodb']!.pulumi!.uri).toEqual({ template: 'mongodb://{username}:{password}@mongodb.aion.svc:27017/?authSource=admin' });
    // CloudNativePG needs a basic-auth Secret labelled cnpg.io/reload: the operator creates it.
    expect(secrets['aion-postgres']).toMatchObject({ source: 'existing', keys: ['password', 'url', 'username'] });
    expect(secrets['aion-redis']!.consumers).toEqual(['aion-control-plane', 'aion-gateway', 'redis']);
    // prod: external stores' credentials come from the operator.
    const prod = Object.fromEntries(envData('prod').rendered.secrets.map((s) => [s.name, s.source]));
    expect(prod).toMatchObject({ 'aion-minio': 'existing', 'aion-mongodb': 'existing', 'aion-redis': 'pulumi' });
  });

  it('AION-2: the pod annotations roll each workload kind when one of its Secrets rotates', () => {
    const { plane } = envData('dev');
    expect(plane.podAnnotations.gateway).toEqual({ 'rotation.stackbook.io/secret-aion-redis': '1' });
    expect(Object.keys(plane.podAnnotations.controlPlane).sort()).toEqual(
      // only the Secrets it reads (no MinIO, ClickHouse or Qdrant key at 947c840)
      ['aion-mongodb', 'aion-postgres', 'aion-redis'].map((s) => `rotation.stackbook.io/secret-${s}`),
    );
    // A version bump of one Secret changes only its annotation.
    const bumped = renderData(
      parseStack({ ...rawStack('dev').raw, secretSources: { ...rawStack('dev').raw.secretSources, 'aion-qdrant': { source: 'pulumi', version: 4 } } }, 'stacks/Pulumi.dev.yaml'),
    ).plane;
    expect(bumped.podAnnotations.modules['rotation.stackbook.io/secret-aion-qdrant']).toBe('4');
    expect(bumped.podAnnotations.gateway).toEqual(plane.podAnnotations.gateway);
  });

  it('AION-2: egress rules lead each workload kind to exactly its stores', () => {
    const { plane } = envData('dev');
    const ports = (kind: keyof AionDataPlane['egress']) => plane.egress[kind].map((r) => r.ports.map((p) => p.port).join()).sort();
    expect(ports('gateway')).toEqual(['6379']);
    expect(ports('controlPlane')).toEqual(['27017', '5432', '6333', '6379', '9000', '9000', '9093'].sort());
    expect(ports('modules')).toEqual(['6333', '9000', '9093']);
    expect(plane.egress.controlPlane).toContainEqual({ peers: [{ pods: { 'cnpg.io/cluster': 'aion-pg' } }], ports: [{ port: 5432 }] });
  });

  it.each(ENVS)('AION-2 %s: every object is schema-valid, passes every mandatory policy, has full failure tolerance', (env) => {
    const objects = objs(envData(env)) as Obj[];
    const noFixture = new Set(['KafkaNodePool', 'KafkaUser', 'ObjectStore']);
    const invalid = objects.flatMap((o) => {
      const errors = validateManifest(o);
      return noFixture.has(o.kind) ? errors.filter((e) => !e.includes('no CRD fixture')) : errors.map((e) => `${o.kind}/${o.metadata.name}: ${e}`);
    });
    expect(invalid).toEqual([]);
    expect(blocking(evaluate(objects)).map(formatViolation)).toEqual([]);
    expect(workloadsOf(objects as Manifest[]).flatMap((v) => toleranceProblems(objects as Manifest[], v).map((p) => `${v.workload.metadata.name}: ${p}`))).toEqual([]);
  });

  it('AION-2 airgap: every image is the mirror by digest and every endpoint is private', () => {
    const r = envData('airgap').rendered;
    expect(airgapProblems(r)).toEqual([]);
    const images = objs(envData('airgap')).flatMap((o) => (podSpecOf(o as Obj) ? containers(o).map((c) => String(c.image)) : []));
    expect(images.length).toBeGreaterThan(20);
    for (const i of images) expect(i).toMatch(/^registry\.corp\.internal:5000\/mirror\/.+@sha256:[a-f0-9]{64}$/);
  });

  it('AION-2: every store external renders no store, only egress, and the operator-provided Secrets', () => {
    const ext = (port: number, extra: Json = {}) => ({ mode: 'external', host: 'db.corp.internal', cidrs: ['10.1.2.0/24'], port, ...extra });
    const { rendered, plane } = renderData(
      stackOf('staging', (d) => {
        Object.assign(d, { postgres: ext(5432), redis: ext(6380), mongodb: ext(27017), kafka: ext(9093), qdrant: ext(6333), minio: ext(9000, { tls: false }), clickhouse: ext(9440) });
      }),
    );
    const objects = rendered.objects as readonly Json[];
    expect(objects.filter((o) => ['StatefulSet', 'Cluster', 'Kafka', 'KafkaTopic', 'KafkaUser'].includes(o.kind))).toEqual([]);
    expect(rendered.secrets.filter((s) => s.name.startsWith('aion-') && ['aion-hooks', 'aion-gateway-api-keys', 'aion-jwt-signing-keys'].every((n) => n !== s.name)).map((s) => `${s.name}:${s.source}`)).toEqual([
      'aion-clickhouse:existing', 'aion-kafka-client:existing', 'aion-minio:existing', 'aion-mongodb:existing', 'aion-postgres:existing', 'aion-qdrant:existing', 'aion-redis:existing',
    ]);
    expect(plane.env.controlPlane).toMatchObject({ AION_CONTROL_KAFKA_BOOTSTRAP: 'db.corp.internal:9093' });
    expect(plane.env.modules).toMatchObject({ AION_KAFKA_BOOTSTRAP: 'db.corp.internal:9093', AION_KAFKA_SSL_CERT_FILE: '/var/run/secrets/aion/kafka/user.crt' });
    expect(plane.files.modules).toContainEqual({ path: '/var/run/secrets/aion/kafka/user.key', secret: 'aion-kafka-client', key: 'user.key', mode: 0o440 });
    expect(find(objects, 'NetworkPolicy', 'redis-egress-aion-gateway').spec.egress[0].ports).toEqual([{ port: 6380, protocol: 'TCP' }]);
    expect(blocking(evaluate(objects as Obj[])).map(formatViolation)).toEqual([]);
    // Backups and retention still run against the external stores (the runbook's pg_dump to MinIO).
    expect(envOf(containers(find(objects, 'CronJob', 'pg-backup'))[0]!).PGHOST.value).toBe('db.corp.internal');
  });

  it('AION-2: config errors name the file, the path and the value', () => {
    expect(configErrors('dev', (d) => (d.minio = { mode: 's3' }))).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.minio.mode: must be one of "in-cluster", "external" (got "s3")',
    ]);
    expect(configErrors('dev', (d) => (d.mongodb = { mode: 'external', host: 'mongo.corp.internal', cidrs: ['0.0.0.0/99'] }))).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.mongodb.cidrs[0]: must be an IPv4 CIDR such as 10.0.0.0/8 (got "0.0.0.0/99")',
    ]);
    expect(configErrors('dev', (d) => (d.qdrant = { mode: 'in-cluster', replicas: 3 }))).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.qdrant.replicas: unknown key (a typo?) (got 3)',
    ]);
  });

  it('AION-2: in-cluster PostgreSQL and Kafka need cluster.kubeApiCidrs; production needs 3 PostgreSQL instances', () => {
    const { raw, file } = rawStack('prod', (d) => (d.postgres = { mode: 'in-cluster', instances: 2 }));
    delete (raw.cluster as Json).kubeApiCidrs;
    expect(() => parseStack(raw, file)).toThrow(ConfigError);
    let lines: string[] = [];
    try {
      parseStack(raw, file);
    } catch (e) {
      lines = (e as Error).message.split('\n');
    }
    expect(lines).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.kubeApiCidrs: required: services.aion.data.postgres runs in-cluster (its operator-managed pods need the Kubernetes API)',
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.kubeApiCidrs: required: services.aion.data.kafka runs in-cluster (its operator-managed pods need the Kubernetes API)',
      'stacks/Pulumi.prod.yaml: config.stackbook:services.aion.data.postgres.instances: too few: production needs at least 3 PostgreSQL instances (got 2) (got 2)',
    ]);
    expect(configErrors('dev', (d) => (d.kafka = { mode: 'in-cluster', brokers: 2 }))).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.kafka.brokers: must be odd: the brokers are also the KRaft controller quorum (got 2)',
    ]);
  });

  it('AION-2: the block is optional: its default is every store in-cluster with the runbook values', () => {
    const d = aionData.parse(undefined);
    expect([d.postgres.mode, d.redis.mode, d.mongodb.mode, d.kafka.mode, d.qdrant.mode, d.minio.mode, d.clickhouse.mode]).toEqual(Array(7).fill('in-cluster'));
    expect(d).toMatchObject({ idempotency: { db: 3, ttlSeconds: 86400 }, consumerLagThreshold: 1000, backups: { schedule: '0 2 * * *', keep: 7 } });
    expect(d.postgres).toEqual({ mode: 'in-cluster', instances: 1 });
    expect(d.kafka).toEqual({ mode: 'in-cluster', brokers: 3 });
    expect(d.redis).toEqual({ mode: 'in-cluster', replicas: 1 });
  });

  it('AION-2: output is deterministic', () => {
    const a = renderData(stackOf('prod'));
    const b = renderData(stackOf('prod'));
    expect(JSON.stringify(b.rendered.objects)).toBe(JSON.stringify(a.rendered.objects));
    expect(JSON.stringify(b.plane)).toBe(JSON.stringify(a.plane));
  });
});

describe('AION-5: Kafka topics as resources, topic names to the control plane', () => {
  it.each(ENVS)('AION-5 %s: KafkaTopic aion.metrics.runtime and kernel.proposals', (env) => {
    const objects = objs(envData(env));
    const topics = objects.filter((o) => o.kind === 'KafkaTopic');
    expect(topics.map((t) => t.spec.topicName ?? t.metadata.name).sort()).toEqual(['aion.metrics.runtime', 'kernel.proposals']);
    for (const t of topics) {
      expect(t.metadata.labels['strimzi.io/cluster']).toBe('aion');
      expect(concernsOf(t as Manifest)).toContain('AION-5');
      expect(t.spec.replicas).toBe(env === 'dev' ? 1 : 3);
    }
  });

  it('AION-5: topic names go to the module hosts; the control plane reads none (947c840); module hosts only write runtime metrics', () => {
    const { plane } = envData('prod');
    expect(plane.env.modules).toMatchObject({ AION_KAFKA_TOPIC_METRICS_RUNTIME: AION_TOPICS.metricsRuntime, AION_KAFKA_TOPIC_KERNEL_PROPOSALS: AION_TOPICS.kernelProposals });
    expect(Object.keys(plane.env.controlPlane).filter((k) => k.startsWith('AION_KAFKA_'))).toEqual([]);
    const objects = objs(envData('prod'));
    const acls = (user: string) => find(objects, 'KafkaUser', user).spec.authorization.acls.map((a: Json) => `${a.resource.type}:${a.resource.name}:${a.operations.join('+')}`);
    expect(acls('aion-aion-control-plane')).toEqual(['topic:kernel.proposals:Describe+Read+Write', 'topic:aion.metrics.runtime:Describe+Read', 'group:control-plane:Read']);
    expect(acls('aion-modules')).toEqual(['topic:aion.metrics.runtime:Describe+Write']);
    // Only the AION workloads reach the brokers (Strimzi's listener NetworkPolicy peers).
    expect(find(objects, 'Kafka', 'aion').spec.kafka.listeners[0].networkPolicyPeers.map((p: Json) => p.podSelector.matchLabels['app.kubernetes.io/name']).sort()).toEqual(['aion-control-plane', 'aion-module-planner']);
  });
});

describe('AION-6: the gateway rate limiter fails closed on Redis: Redis kept available and alerted on', () => {
  it('AION-6 prod: Redis runs 3 members (Sentinel + HAProxy) with disruption budgets, spread, and the critical RedisDown alert', () => {
    const objects = objs(envData('prod'));
    expect(redisHaProblems(objects as Manifest[])).toEqual([]);
    const node = find(objects, 'StatefulSet', 'redis-node');
    expect(node.spec.replicas).toBe(3);
    expect(concernsOf(node as Manifest)).toContain('AION-6');
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget' && /^redis/.test(o.metadata.name)).length).toBeGreaterThanOrEqual(1);
    const down = find(objects, 'PrometheusRule', 'redis').spec.groups.flatMap((g: Json) => g.rules).find((r: Json) => r.alert === 'RedisDown');
    expect(down.labels.severity).toBe('critical');
    expect(down.annotations.runbook_url).toBe('https://stackbook.example.com/runbooks/aion#redisdown');
    expect(concernsOf(find(objects, 'PrometheusRule', 'redis') as Manifest)).toContain('AION-6');
  });

  it('AION-6 dev: a single Redis is allowed outside production', () => {
    const objects = objs(envData('dev'));
    expect(find(objects, 'StatefulSet', 'redis').spec.replicas).toBe(1);
    expect(redisHaProblems(objects as Manifest[])).toHaveLength(1); // what failure-budget.ts would flag in production
  });

  it('AION-6: the gateway gets the Redis URL it reads and reaches Redis (it answers 503 while Redis is down: middleware/idempotency.ts:25)', () => {
    const { plane } = envData('prod');
    expect(plane.env.gateway).toEqual({ AION_REDIS_URL: secretRef('aion-redis', 'url'), AION_IDEMPOTENCY_TTL: '86400' });
    expect(plane.egress.gateway).toEqual([{ peers: [{ namespace: NS, pods: { 'app.kubernetes.io/name': 'redis' } }], ports: [{ port: 6379 }] }]);
  });

  it('AION-6: production refuses a single Redis, and an even member count', () => {
    expect(configErrors('prod', (d) => (d.redis = { mode: 'in-cluster', replicas: 1 }))).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.aion.data.redis.replicas: must be ≥ 2 in production: the gateway rate limiter fails closed while Redis is down (AION-6) (got 1)',
    ]);
    expect(configErrors('staging', (d) => (d.redis = { mode: 'in-cluster', replicas: 4 }))).toEqual([
      'stacks/Pulumi.staging.yaml: config.stackbook:services.aion.data.redis.replicas: must be 1 or odd (3, 5, 7): with an even count, losing half leaves no Sentinel majority to fail over (got 4)',
    ]);
  });
});

describe('AION-9: idempotency keys in Redis DB 3, 24 h', () => {
  it('AION-9: DB 3 (the path of the Redis URL the gateway reads) and a TTL of 86400 s (AION_IDEMPOTENCY_TTL) by default (the runbook)', () => {
    const url = (r: { rendered: { secrets: readonly { name: string; pulumi?: Json }[] } }) => r.rendered.secrets.find((s) => s.name === 'aion-redis')!.pulumi!.url.template;
    const dev = envData('dev');
    expect(dev.plane.env.gateway).toMatchObject({ AION_IDEMPOTENCY_TTL: '86400', AION_REDIS_URL: secretRef('aion-redis', 'url') });
    expect(url(dev)).toBe('redis://:{password}@redis.aion.svc:6379/3');
    const configured = renderData(stackOf('dev', (d) => (d.idempotency = { db: 5, ttlSeconds: 43200 })));
    expect(configured.plane.env.gateway).toMatchObject({ AION_IDEMPOTENCY_TTL: '43200' });
    expect(url(configured)).toBe('redis://:{password}@redis.aion.svc:6379/5');
  });

  it('AION-9: the DB index and the TTL are validated', () => {
    expect(configErrors('dev', (d) => (d.idempotency = { db: 16 }))).toEqual(['stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.idempotency.db: must be ≤ 15 (got 16)']);
    expect(configErrors('dev', (d) => (d.idempotency = { ttlSeconds: 60 }))).toEqual(['stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.idempotency.ttlSeconds: must be ≥ 3600 (got 60)']);
    // the gateway has one Redis client (gateway/src/redis.ts:4): a separate rate-limit DB cannot be configured
    expect(configErrors('dev', (d) => (d.rateLimitDb = 0)).join('\n')).toContain('stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data');
  });
});

describe('AION-10: nightly pg_dump and mongodump to MinIO aion-backups, ClickHouse to S3', () => {
  it.each(ENVS)('AION-10 %s: three backups, each verified, drilled and alerted', (env) => {
    const objects = objs(envData(env)) as Manifest[];
    const backups = backupCronJobs(objects).map((c) => c.metadata.name).sort();
    expect(backups).toEqual(['clickhouse-backup', 'mongo-backup', 'pg-backup']);
    expect(backupCronJobs(objects).flatMap((cj) => backupProblems(objects, cj))).toEqual([]);
    for (const b of backups) {
      expect((find(objects, 'CronJob', b) as Json).spec.schedule).toBe('0 2 * * *');
      expect(concernsOf(find(objects, 'CronJob', b) as Manifest)).toEqual(expect.arrayContaining(['AION-10', 'X-6']));
      expect(has(objects, 'PrometheusRule', b)).toBe(true);
    }
  });

  it('AION-10: pg_dump of database aion goes to aion-backups/pg, mongodump to aion-backups/mongo', () => {
    const objects = objs(envData('dev'));
    const pg = containers(find(objects, 'CronJob', 'pg-backup'));
    expect(envOf(pg[0]!)).toMatchObject({ PGHOST: { value: 'aion-pg-rw.aion.svc' }, PGDATABASE: { value: 'aion' } });
    // Credentials as mounted files (issue 14 item 17), never env.
    const pgPod = find(objects, 'CronJob', 'pg-backup').spec.jobTemplate.spec.template.spec;
    expect(pgPod.volumes.find((v: Json) => v.name === 'secrets-produce').projected.sources).toContainEqual({ secret: { name: 'aion-postgres', items: [{ key: 'password', path: 'PGPASSWORD' }] } });
    expect(JSON.stringify(pg)).not.toContain('secretKeyRef');
    expect(envOf(pg[1]!)).toMatchObject({ S3_BUCKET: { value: 'aion-backups' }, S3_PREFIX: { value: 'pg' }, S3_ENDPOINT: { value: 'http://minio.aion.svc:9000' } });
    expect(pg[0]!.command[2]).toContain('pg_dump --format=custom');
    const mongo = containers(find(objects, 'CronJob', 'mongo-backup'));
    expect(envOf(mongo[0]!).MONGODB_URI).toBeUndefined();
    expect(find(objects, 'CronJob', 'mongo-backup').spec.jobTemplate.spec.template.spec.volumes.find((v: Json) => v.name === 'secrets-produce').projected.sources).toEqual([{ secret: { name: 'aion-mongodb', items: [{ key: 'uri', path: 'MONGODB_URI' }] } }]);
    expect(envOf(mongo[1]!).S3_PREFIX.value).toBe('mongo');
    // The bucket exists before the first backup: an idempotent Job creates it.
    const buckets = jobByPrefix(objects, 'minio-buckets');
    expect(envOf(containers(buckets)[0]!).BUCKETS.value).toBe('aion-backups');
    expect(JSON.stringify(containers(buckets))).not.toContain('secretKeyRef');
    expect(containers(buckets)[0]!.command[2]).toContain('"$(cat /run/secrets/minio/access-key)" "$(cat /run/secrets/minio/secret-key)" | mc alias set');
    expect(containers(buckets)[0]!.command[2]).toContain('mc mb --ignore-existing');
  });

  it('AION-10: prod backs up to the external object store over https', () => {
    const objects = objs(envData('prod'));
    for (const b of ['pg-backup', 'mongo-backup', 'clickhouse-backup']) {
      const c = containers(find(objects, 'CronJob', b));
      expect(c.map((x) => envOf(x).S3_ENDPOINT?.value).filter(Boolean)).toContain('https://objects.prod.stackbook.example.com:443');
    }
    expect(find(objects, 'NetworkPolicy', 'pg-backup').spec.egress).toContainEqual({ to: [{ ipBlock: { cidr: '10.40.20.0/24' } }], ports: [{ port: 443, protocol: 'TCP' }] });
  });

  it('AION-10: ClickHouse BACKUP DATABASE … TO S3 runs in the server, is verified and pruned; the drill restores into a scratch server', () => {
    const objects = objs(envData('dev'));
    const [backup, prune] = containers(find(objects, 'CronJob', 'clickhouse-backup'));
    expect(backup!.command[2]).toContain("printf \"BACKUP DATABASE \\`%s\\` TO S3('%s/%s', '%s', '%s')\"");
    expect(backup!.command[2]).toContain('grep -q BACKUP_CREATED');
    expect(backup!.command[2]).toContain('/.backup');
    expect(envOf(backup!)).toMatchObject({ CH_HOST: { value: 'clickhouse.aion.svc' }, CH_DATABASE: { value: 'aion' }, BACKUP_SECRETS_DIR: { value: '/run/secrets/backup' } });
    // The S3 keys and the password are mounted Secret files (issue 14 item 17); the keys reach the SQL through
    // a 0600 file in /tmp (memory) written by the shell's printf builtin: no clickhouse-client command line carries them.
    const backupPod = find(objects, 'CronJob', 'clickhouse-backup').spec.jobTemplate.spec.template.spec;
    expect(backupPod.volumes.find((v: Json) => v.name === 'secrets-backup').projected.sources).toEqual([
      { secret: { name: 'aion-minio', items: [{ key: 'user', path: 'AWS_ACCESS_KEY_ID' }] } },
      { secret: { name: 'aion-minio', items: [{ key: 'password', path: 'AWS_SECRET_ACCESS_KEY' }] } },
      { secret: { name: 'aion-clickhouse', items: [{ key: 'password', path: 'CLICKHOUSE_PASSWORD' }] } },
    ]);
    expect(JSON.stringify([backup, prune])).not.toContain('secretKeyRef');
    for (const script of [backup!.command[2], drill0(objects).command[2]]) {
      expect(script).toContain('umask 077');
      expect(script.split('\n').filter((l: string) => /clickhouse-client/.test(l) && /S3_(KEY|SECRET)/.test(l))).toEqual([]);
    }
    expect(find(objects, 'CronJob', 'clickhouse-backup').spec.jobTemplate.spec.template.spec.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: '64Mi', medium: 'Memory' } });
    expect(envOf(prune!).RETENTION.value).toBe('7');
    const drill = containers(find(objects, 'CronJob', 'clickhouse-restore-drill'));
    expect(drill).toHaveLength(1);
    expect(drill[0]!.command[2]).toContain('clickhouse-server --config-file');
    expect(drill[0]!.command[2]).toContain('RESTORE DATABASE');
    // The drill never reaches the source: DNS and the object store only.
    const drillPolicy = find(objects, 'NetworkPolicy', 'clickhouse-restore-drill');
    expect(drillPolicy.spec.egress.flatMap((r: Json) => r.ports.map((p: Json) => p.port))).toEqual([53, 53, 9000]);
    expect(JSON.stringify(drillPolicy.spec.egress)).not.toContain('"clickhouse"');
    // The server itself needs a path to the bucket for BACKUP … TO S3.
    const server = find(objects, 'NetworkPolicy', 'clickhouse-backup-target');
    expect(server.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'clickhouse' });
    expect(concernsOf(server as Manifest)).toContain('AION-10');
  });

  it('AION-10: the ClickHouse SQL quoting keeps S3 keys inside their string literals', () => {
    const sq = CLICKHOUSE_SCRIPTS.backup.split('\n').find((l) => l.startsWith('sq()'))!;
    const quote = (value: string) => {
      const r = spawnSync('/bin/sh', ['-c', `${sq}\nprintf "'%s'" "$(sq "$V")"`], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', V: value }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(quote('plainKey123')).toBe("'plainKey123'");
    expect(quote("it's")).toBe("'it\\'s'");
    expect(quote('back\\slash')).toBe("'back\\\\slash'");
    expect(quote("x\\', 'evil")).toBe("'x\\\\\\', \\'evil'");
  });
});

describe('AION-13: MinIO lifecycle memory-retention, multipart uploads aborted after 72 h', () => {
  it.each(ENVS)('AION-13 %s: the lifecycle Job imports memory-retention on bucket memory', (env) => {
    const objects = objs(envData(env));
    const job = jobByPrefix(objects, 'minio-lifecycle');
    expect(concernsOf(job as Manifest)).toContain('AION-13');
    expect(envOf(containers(job)[0]!).BUCKET.value).toBe('memory');
    const lifecycle = JSON.parse(find(objects, 'ConfigMap', 'minio-lifecycle').data['lifecycle.json']);
    const days = { dev: 14, staging: 14, prod: 30, airgap: 30 }[env];
    expect(lifecycle.Rules).toEqual([
      { ID: 'memory-retention', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: days }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } },
    ]);
  });

  it('AION-13: the in-cluster MinIO aborts stale multipart uploads after 72 h itself', () => {
    const minio = containers(find(objs(envData('dev')), 'StatefulSet', 'minio'))[0]!;
    expect(envOf(minio).MINIO_API_STALE_UPLOADS_EXPIRY.value).toBe('72h');
  });
});

describe('AION-14: ClickHouse TTL, Mongo TTL indexes, AION_LOG_TTL_DAYS / AION_CLICKHOUSE_TTL_DAYS', () => {
  it.each([
    ['dev', 7, 7],
    ['staging', 14, 14],
    ['prod', 30, 90],
    ['airgap', 30, 90],
  ] as const)('AION-14 %s: logs %i days, ClickHouse %i days, in the Jobs and the env', (env, log, ch) => {
    const { rendered, plane } = envData(env);
    const objects = rendered.objects as readonly Json[];
    expect(plane.env.controlPlane).toMatchObject({ AION_LOG_TTL_DAYS: String(log), AION_CLICKHOUSE_TTL_DAYS: String(ch) });
    expect(find(objects, 'ConfigMap', 'clickhouse-ttl').data['retention.sql']).toContain(`ALTER TABLE \`aion\`.\`events\` MODIFY TTL \`ts\` + INTERVAL ${ch} DAY;`);
    expect(find(objects, 'ConfigMap', 'mongo-ttl').data['mongo-ttl.js']).toContain(`"expireAfterSeconds": ${log * 86400}`);
    for (const j of ['clickhouse-ttl', 'mongo-ttl']) expect(concernsOf(jobByPrefix(objects, j) as Manifest)).toContain('AION-14');
  });

  it('AION-14: a retention outside the tier range is a config error naming file, path, value and range', () => {
    expect(configErrors('prod', (d) => (d.retention = { logTtlDays: 14 }))).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.aion.data.retention.logTtlDays: must be within 30–90 days in production (runbook retention ranges) (got 14)',
    ]);
    expect(configErrors('dev', (d) => (d.retention = { clickhouseTtlDays: 30, memoryRetentionDays: 6 }))).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.retention.clickhouseTtlDays: must be within 7–14 days in development (runbook retention ranges) (got 30)',
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.data.retention.memoryRetentionDays: must be within 7–14 days in development (runbook retention ranges) (got 6)',
    ]);
    expect(configErrors('staging', (d) => (d.retention = { logTtlDays: 31 }))).toEqual([
      'stacks/Pulumi.staging.yaml: config.stackbook:services.aion.data.retention.logTtlDays: must be within 14–30 days in staging (runbook retention ranges) (got 31)',
    ]);
  });

  it('AION-14: unset days take the lower bound of the tier range', () => {
    const plane = renderData(stackOf('prod', (d) => (d.retention = {}))).plane;
    expect(plane.env.controlPlane).toMatchObject({ AION_LOG_TTL_DAYS: '30', AION_CLICKHOUSE_TTL_DAYS: '30' });
    expect(aionDataRules({ tier: 'development' }, aionData.parse({ retention: { logTtlDays: 15 } }), ['services', 'aion', 'data'])).toEqual([
      { path: ['services', 'aion', 'data', 'retention', 'logTtlDays'], message: 'must be within 7–14 days in development (runbook retention ranges)' },
    ]);
  });
});

describe('AION-18: consumer lag of group control-plane alerted', () => {
  it.each(ENVS)('AION-18 %s: PrometheusRule kafka-consumer-lag on control-plane in namespace aion; Kafka Exporter reports it', (env) => {
    const objects = objs(envData(env));
    const rule = find(objects, 'PrometheusRule', 'kafka-consumer-lag');
    expect(concernsOf(rule as Manifest)).toContain('AION-18');
    const [alert] = rule.spec.groups.flatMap((g: Json) => g.rules);
    expect(alert.alert).toBe('KafkaConsumerLagControlPlane');
    expect(alert.expr).toBe('sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup="control-plane",namespace="aion"}) > 1000');
    expect(find(objects, 'Kafka', 'aion').spec.kafkaExporter.groupRegex).toBe('.*');
    expect(has(objects, 'PodMonitor', 'aion-kafka')).toBe(true);
  });

  it('AION-18: the threshold comes from config', () => {
    const objects = renderData(stackOf('dev', (d) => (d.consumerLagThreshold = 250))).rendered.objects as readonly Json[];
    expect(find(objects, 'PrometheusRule', 'kafka-consumer-lag').spec.groups[0].rules[0].expr).toMatch(/ > 250$/);
  });
});

describe('AION-6 AION-10 AION-18: promtool unit tests of the data plane PrometheusRules', () => {
  it('AION-6 AION-10 AION-18: every alert has a FIRING and a QUIET case in test/alerts/aion.<rule>.test.yaml, and promtool passes (each set is one the full stacks render: test/alerts.test.ts runs it)', () => {
    // without promtool this fails, never passes on the strength of a run that cannot happen
    expect(findPromtool(), PROMTOOL_MISSING).toBeDefined();
    const sets = ruleSets(ENVS.map((e) => envData(e).rendered)).filter((s) => s.namespace === NS);
    expect([...new Set(sets.map((s) => s.name))].sort()).toEqual(['aion-brokers', 'aion-pg-backup', 'aion-pg-health', 'clickhouse', 'clickhouse-backup', 'kafka-consumer-lag', 'minio', 'mongo-backup', 'mongodb', 'pg-backup', 'qdrant', 'redis', 'redis-replication']);
    for (const set of sets) {
      const file = unitTestFileOf(set);
      expect(file.endsWith(`aion.${set.name}.test.yaml`), file).toBe(true);
      const { doc } = readUnitTests(file);
      expect(coverageProblems(alertsOf(set.groups).map((a) => a.alert), doc), file).toEqual([]);
    }
    // promtool itself: each of these rule sets is, byte for byte and for the same stacks, one the
    // full stacks render, and test/alerts.test.ts "OPE-6 X-8: promtool test rules passes for every
    // PrometheusRule of every stack" unit-tests every set of every stack against the same
    // unitTestFileOf file. So it is asserted here that the data plane judged alone is the one the
    // stacks deploy, instead of running promtool a second time on the same files.
    const key = (s: { name: string; namespace: string; runbookBaseUrl: string; groups: unknown }) => JSON.stringify([s.namespace, s.name, s.runbookBaseUrl, s.groups]);
    const full = new Map(ruleSets(ENVS.map((e) => renderEnv(e))).map((s) => [key(s), s.stacks] as const));
    for (const set of sets) expect(full.get(key(set)), `${set.name} (${set.stacks.join(', ')}) as the full stacks render it`).toEqual(set.stacks);
  });
});

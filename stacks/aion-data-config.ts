/**
 * Stack schema of the AION data services (`services.aion.data`, runbook 004 "Deploy data
 * services", Backups, Retention): PostgreSQL, Redis, MongoDB, Kafka, Qdrant, MinIO and ClickHouse,
 * each `mode: in-cluster` (the platform components) or `mode: external` (a managed service reached
 * through egress NetworkPolicies to its CIDRs); backups and retention. Built by
 * services/aion-data.ts.
 *
 * The whole block has a default (`{}`: every store in-cluster, single instance, the runbook's
 * values), so `services.aion` works without it. Cross-field rules (per tier) are in
 * `aionDataRules`, called by stacks/aion-config.ts with the block's path.
 */
import { z } from 'zod';
import { postgresInstancesProblem, retentionRange } from '../kube/tier.js';
import { byteQuantity, hostname, ipv4Cidr, port, resources } from './primitives.js';
import { redisStorageProblem } from '../kube/storage.js';
import type { PathSegment } from './load.js';
import type { RuleProblem, StackParts } from './rule-helpers.js';

/** Where an external store is: host (for URLs and TLS names), port, and the CIDRs egress is opened to. */
const externalOf = (defaultPort: number) => ({
  mode: z.literal('external'),
  /** Host name of the managed service (private in air-gapped stacks). */
  host: hostname,
  /** @default the store's usual port */
  port: port.default(defaultPort),
  /** Addresses of the service (NetworkPolicies cannot name hosts). */
  cidrs: z.array(ipv4Cidr).min(1),
});

/** Storage size and requests/limits of a single-instance in-cluster store. */
const inCluster = {
  mode: z.literal('in-cluster'),
  /** PVC size. @default the component's (MongoDB 10Gi, Qdrant 10Gi, MinIO 20Gi, ClickHouse 20Gi) */
  storageSize: byteQuantity.optional(),
  /** @default the component's */
  resources: resources.optional(),
};

/** A single-instance store that is in-cluster or external. @default in-cluster */
const mongodb = z.discriminatedUnion('mode', [z.strictObject(inCluster), z.strictObject(externalOf(27017))]).default({ mode: 'in-cluster' });
const qdrant = z
  .discriminatedUnion('mode', [z.strictObject(inCluster), z.strictObject({ ...externalOf(6333), /** @default false */ tls: z.boolean().default(false) })])
  .default({ mode: 'in-cluster' });
const minio = z
  .discriminatedUnion('mode', [z.strictObject(inCluster), z.strictObject({ ...externalOf(443), /** @default true */ tls: z.boolean().default(true) })])
  .default({ mode: 'in-cluster' });
const clickhouse = z
  .discriminatedUnion('mode', [z.strictObject(inCluster), z.strictObject({ ...externalOf(9440), /** @default true */ secure: z.boolean().default(true) })])
  .default({ mode: 'in-cluster' });

const postgres = z
  .discriminatedUnion('mode', [
    z.strictObject({
      ...inCluster,
      /** CloudNativePG instances (production needs ≥ 3). @default 1 */
      instances: z.int().min(1).max(9).default(1),
    }),
    z.strictObject({
      ...externalOf(5432),
    }),
  ])
  .default({ mode: 'in-cluster', instances: 1 });

const redis = z
  .discriminatedUnion('mode', [
    z.strictObject({
      ...inCluster,
      /** AION-6: Redis replicas: 1, or an odd count replicated with Sentinel behind HAProxy (production needs ≥ 2). @default 1 */
      replicas: z.int().min(1).max(7).default(1),
      /** AOF on a PVC. @default off in development, on otherwise */
      persistence: z.boolean().optional(),
    }),
    z.strictObject({
      ...externalOf(6379),
    }),
  ])
  .default({ mode: 'in-cluster', replicas: 1 });

const kafka = z
  .discriminatedUnion('mode', [
    z.strictObject({
      ...inCluster,
      /** Dual-role (broker + KRaft controller) nodes: odd. @default 3 */
      brokers: z.int().min(1).max(9).default(3),
    }),
    z.strictObject({
      ...externalOf(9093),
    }),
  ])
  .default({ mode: 'in-cluster', brokers: 3 });

const tableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)' });

const aionDataBlock = z
  .strictObject({
    /** AION-2: CloudNativePG cluster `aion-pg` (database `aion`), or an external PostgreSQL. @default in-cluster, 1 instance */
    postgres,
    /** AION-2/6/9: Redis `redis` (rate limiting, idempotency keys), or an external Redis. @default in-cluster, 1 replica */
    redis,
    /** AION-2: MongoDB `mongodb`. @default in-cluster */
    mongodb,
    /** AION-2/5: Strimzi Kafka `aion`, or an external Kafka (mutual TLS on `port`). @default in-cluster, 3 brokers */
    kafka,
    /** AION-2: Qdrant `qdrant`. @default in-cluster */
    qdrant,
    /** AION-2: MinIO `minio` (buckets `memory` and `aion-backups`), or an external S3 endpoint. @default in-cluster */
    minio,
    /** AION-2: ClickHouse `clickhouse`. External: native protocol (TLS on 9440). @default in-cluster */
    clickhouse,
    /**
     * AION-9: idempotency keys (runbook: `redis://redis:6379/3`, expire after 24 h). The gateway has
     * one Redis client (gateway/src/redis.ts:4): its rate-limit counters share this DB, the path of
     * the URL it gets. An external Redis's `url` must end in `/<db>`.
     */
    idempotency: z
      .strictObject({
        /** Redis logical database. @default 3 */
        db: z.int().min(0).max(15).default(3),
        /** Key expiry in seconds, 1 h – 7 d. @default 86400 (24 h) */
        ttlSeconds: z.int().min(3600).max(604800).default(86400),
      })
      .default({ db: 3, ttlSeconds: 86400 }),
    /** AION-18: lag (messages per topic) of consumer group `control-plane` that alerts after 10 minutes. @default 1000 */
    consumerLagThreshold: z.int().min(1).max(10_000_000).default(1000),
    /** AION-10: nightly backups (pg_dump, mongodump, ClickHouse BACKUP) to MinIO bucket `aion-backups`. */
    backups: z
      .strictObject({
        /** 5-field cron, UTC. @default 0 2 * * * (nightly 02:00) */
        schedule: z.string().min(9).default('0 2 * * *'),
        /** Newest artefacts kept per backup. @default 7 */
        keep: z.int().min(1).max(365).default(7),
      })
      .default({ schedule: '0 2 * * *', keep: 7 }),
    /**
     * AION-13/14: retention in days, each within the tier's range (development 7–14, staging 14–30,
     * production 30–90). @default the range's lower bound
     */
    retention: z
      .strictObject({
        /** `AION_LOG_TTL_DAYS`: Mongo TTL indexes on the log collections. */
        logTtlDays: z.int().optional(),
        /** `AION_CLICKHOUSE_TTL_DAYS`: ClickHouse table TTLs. */
        clickhouseTtlDays: z.int().optional(),
        /** MinIO lifecycle rule `memory-retention` on bucket `memory`. */
        memoryRetentionDays: z.int().optional(),
        /** Mongo collections expired by `logTtlDays`. @default aion.logs on createdAt */
        mongoCollections: z
          .array(z.strictObject({ database: tableName, collection: tableName, field: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/) }))
          .min(1)
          .default([{ database: 'aion', collection: 'logs', field: 'createdAt' }]),
        /** ClickHouse tables expired by `clickhouseTtlDays`. @default aion.events on ts */
        clickhouseTables: z
          .array(z.strictObject({ database: tableName, table: tableName, column: tableName }))
          .min(1)
          .default([{ database: 'aion', table: 'events', column: 'ts' }]),
      })
      .default({ mongoCollections: [{ database: 'aion', collection: 'logs', field: 'createdAt' }], clickhouseTables: [{ database: 'aion', table: 'events', column: 'ts' }] }),
  });
/** `services.aion.data`; absent, every default applies (every store in-cluster, single instance). */
export const aionData = aionDataBlock.default(() => aionDataBlock.parse({}));
export type AionData = z.infer<typeof aionData>;

/** Retention days of the tier when unset: the lower bound of its range. */
export function retentionDays(data: AionData, tier: 'development' | 'staging' | 'production'): { log: number; clickhouse: number; memory: number } {
  const min = retentionRange(tier).min;
  return { log: data.retention.logTtlDays ?? min, clickhouse: data.retention.clickhouseTtlDays ?? min, memory: data.retention.memoryRetentionDays ?? min };
}

/** Cross-field rules of `services.aion.data` (path is where the block sits). */
export function aionDataRules(p: StackParts, data: AionData, path: readonly PathSegment[]): RuleProblem[] {
  const out: RuleProblem[] = [];
  const at = (...rest: PathSegment[]): PathSegment[] => [...path, ...rest];
  const { tier, cluster } = p;

  // AION-14: retention within the tier's range (runbook: 7–14 days in dev, 30–90 in prod).
  if (tier !== undefined) {
    const r = retentionRange(tier);
    for (const key of ['logTtlDays', 'clickhouseTtlDays', 'memoryRetentionDays'] as const) {
      const v = data.retention[key];
      if (v !== undefined && (v < r.min || v > r.max)) {
        out.push({ path: at('retention', key), message: `must be within ${r.min}–${r.max} days in ${tier} (runbook retention ranges)` });
      }
    }
  }
  // Operator-managed PostgreSQL and Kafka pods talk to the Kubernetes API.
  for (const store of ['postgres', 'kafka'] as const) {
    if (data[store].mode === 'in-cluster' && cluster !== undefined && cluster.kubeApiCidrs === undefined) {
      out.push({ path: ['cluster', 'kubeApiCidrs'], message: `required: services.aion.data.${store} runs in-cluster (its operator-managed pods need the Kubernetes API)` });
    }
  }
  const pg = data.postgres;
  if (pg.mode === 'in-cluster' && tier !== undefined) {
    const problem = postgresInstancesProblem(tier, pg.instances);
    if (problem) out.push({ path: at('postgres', 'instances'), message: `too few: ${problem}` });
  }
  const kafka = data.kafka;
  if (kafka.mode === 'in-cluster' && kafka.brokers % 2 === 0) {
    out.push({ path: at('kafka', 'brokers'), message: 'must be odd: the brokers are also the KRaft controller quorum' });
  }
  // AION-6: the gateway fails closed without Redis: production runs it replicated.
  const redis = data.redis;
  // Issue 14 item 11: an AOF rewrite needs room for a second copy of the dataset.
  if (redis.mode === 'in-cluster' && (redis.persistence ?? tier !== 'development') && redis.storageSize !== undefined) {
    const problem = redisStorageProblem(redis.resources?.memoryLimit ?? '256Mi', redis.storageSize);
    if (problem) out.push({ path: at('redis', 'storageSize'), message: problem });
  }
  if (redis.mode === 'in-cluster' && tier === 'production' && redis.replicas < 2) {
    out.push({ path: at('redis', 'replicas'), message: 'must be ≥ 2 in production: the gateway rate limiter fails closed while Redis is down (AION-6)' });
  }
  if (redis.mode === 'in-cluster' && redis.replicas > 1 && redis.replicas % 2 === 0) {
    out.push({ path: at('redis', 'replicas'), message: 'must be 1 or odd (3, 5, 7): with an even count, losing half leaves no Sentinel majority to fail over' });
  }
  return out;
}

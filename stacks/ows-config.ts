/**
 * Stack schema and cross-field rules of the OWS service (runbook: see services/ows.ts).
 * Imported by ./schema.ts (the `services.ows` block) and ./config-rules.ts.
 */
import { z } from 'zod';
import { quantityValue } from '../kube/quantity.js';
import { redisStorageProblem } from '../kube/storage.js';
import { autoscaling, byteQuantity, dnsLabel, hostname, imageRef, ipv4Cidr, port, resources } from './primitives.js';
import { autoscalingRange, hostLengthRule, imageDigestRule, type RuleProblem, type StackParts } from './rule-helpers.js';

const MiB = 1024 * 1024;

/** A StorageClass name (DNS subdomain). */
const storageClassName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { error: 'must be a StorageClass name (lowercase letters, digits, "-", ".")' });

/** OWS-10: an in-cluster Redis (components/redis.ts) for cross-instance WebSocket fan-out. */
const inClusterRedis = z.strictObject({
  mode: z.literal('in-cluster'),
  /** Redis pods: 1, or an odd 3–7 (replication with Sentinel failover); production needs ≥ 3. @default 1 */
  replicas: z.int().min(1).max(7).default(1),
  /** AOF on a PVC. @default off in development, on otherwise */
  persistence: z.boolean().optional(),
  /** PVC size when persistent, at least 3 × maxmemory (AOF rewrite). @default 3 × maxmemory in whole Gi, ≥ 1Gi */
  storageSize: byteQuantity.optional(),
  /** @default the cluster's default StorageClass */
  storageClassName: storageClassName.optional(),
  /** Redis container; `maxmemory` follows the memory limit (≥ 32Mi). @default 100m/500m CPU, 256Mi/256Mi memory */
  resources: resources.default({ cpuRequest: '100m', cpuLimit: '500m', memoryRequest: '256Mi', memoryLimit: '256Mi' }),
});

/** OWS-10: a Redis run elsewhere (managed service); the URL comes from the Secret `ows-redis` (key `url`). */
const externalRedis = z.strictObject({
  mode: z.literal('external'),
  /** Host name of the Redis endpoint (documentation; the URL in the Secret is authoritative). */
  host: hostname,
  /** @default 6379 */
  port: port.default(6379),
  /** Addresses of the Redis endpoint: the API and worker pods may connect there (NetworkPolicy cannot name hosts). */
  cidrs: z.array(ipv4Cidr).min(1),
});

export const OWS_LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;

export const owsService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default ows */
  namespace: dnsLabel.default('ows'),
  /** Public host is `<host>.<cluster.domain>`. @default ows */
  host: dnsLabel.default('ows'),
  /** OWS-14: the standard image (`Dockerfile`). */
  image: imageRef,
  /** OWS-14: which image runs: `standard`, or `distroless` (no shell: nothing here ever runs one). @default standard */
  variant: z.enum(['standard', 'distroless']).default('standard'),
  /** OWS-14: the image built from `Dockerfile.distroless`; required when `variant` is distroless. @default none */
  distrolessImage: imageRef.optional(),
  /** OWS-5: `OW_SC_RL_PER_SEC`, `OW_SC_WS_MSGS_PER_SEC`, `OW_SC_WS_MAX_MESSAGE_BYTES`. */
  rateLimits: z
    .strictObject({
      /** `OW_SC_RL_PER_SEC`: requests per second per client on `/api/*`. @default 10 */
      httpPerSecond: z.int().min(1).max(10_000).default(10),
      /** `OW_SC_WS_MSGS_PER_SEC`: messages per second per WebSocket. @default 20 */
      wsMessagesPerSecond: z.int().min(1).max(1_000).default(20),
      /**
       * `OW_SC_WS_MAX_MESSAGE_BYTES`: largest WebSocket message accepted, 1 KiB – 16 MiB. Above 10240 the
       * size alert can only tell "p99 above 8192" (the app's largest histogram bucket).
       * @default 8192 (the app's own default, dashboard/__init__.py:310)
       */
      wsMaxMessageBytes: z.int().min(1024).max(16 * MiB).default(8192),
    })
    .prefault({}),
  /** OWS-6: `OW_SC_MAX_CSV_BYTES`, `OW_SC_MAX_CSV_ROWS`. */
  csv: z
    .strictObject({
      /** `OW_SC_MAX_CSV_BYTES`, 1 KiB – 512 MiB; the nginx ingress body limit follows it. @default 10485760 (10 MiB) */
      maxBytes: z.int().min(1024).max(512 * MiB).default(10 * MiB),
      /** `OW_SC_MAX_CSV_ROWS`. @default 100000 */
      maxRows: z.int().min(1).max(10_000_000).default(100_000),
    })
    .prefault({}),
  /** OWS-7: `LOG_FORMAT`, `LOG_LEVEL`. */
  logging: z
    .strictObject({
      /** Log format of the app and uvicorn (ConfigMap `ows-logging`, uvicorn `--log-config`): json uses the app's JSONFormatter, with X-Request-ID as `corr_id`. @default json */
      format: z.enum(['text', 'json']).default('json'),
      /** Level of the root and uvicorn loggers (Python logging levels), in the same log config. @default INFO */
      level: z.enum(OWS_LOG_LEVELS).default('INFO'),
    })
    .prefault({}),
  /** OWS-4: `OW_SC_METRICS_PROTECT`; the scrape then sends the `OW_SC_METRICS_TOKEN` Secret as Bearer. @default true */
  metricsProtect: z.boolean().default(true),
  /** OWS-10: Redis for cross-instance fan-out; required for more than one API replica. @default none */
  redis: z.discriminatedUnion('mode', [inClusterRedis, externalRedis]).optional(),
  /** OWS-10: `OW_SC_REDIS_CHANNEL`. @default owsc:effluent */
  redisChannel: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$/, { error: 'must be a Redis channel name such as owsc:effluent (letters, digits, : . _ -)' })
    .default('owsc:effluent'),
  /**
   * OWS-11: uvicorn processes per pod. Only 1: the app's metrics registry is per process (more workers
   * would each report a part; services/ows.contract.ts), so the API scales with `autoscaling`. @default 1
   */
  workers: z.int().min(1).max(16).optional(),
  /** OWS-11: the API's HPA; more than one replica needs `redis`. A maximum of 1 renders a fixed single replica. @default 1–1 at 70 % CPU */
  autoscaling: autoscaling.default({ minReplicas: 1, maxReplicas: 1, cpuUtilization: 70 }),
  /** @default 250m/1 CPU, 256Mi/512Mi */
  resources: resources.default({ cpuRequest: '250m', cpuLimit: '1', memoryRequest: '256Mi', memoryLimit: '512Mi' }),
  /** OWS-1: writable volumes (the root filesystem is read-only). */
  volumes: z
    .strictObject({
      /** `/app/artifacts`: per-pod emptyDir (regenerable outputs), size limit. @default 1Gi */
      artifactsSizeLimit: byteQuantity.default('1Gi'),
      /** `/app/logs`: per-pod emptyDir, size limit. @default 512Mi */
      logsSizeLimit: byteQuantity.default('512Mi'),
      /** `/app/reports`: the persistent PVC `ows-reports`, shared by every API pod. */
      reports: z
        .strictObject({
          /** @default 5Gi */
          size: byteQuantity.default('5Gi'),
          /** ReadWriteOnce allows a single API replica only (rule); more need ReadWriteMany (EFS, NFS, CephFS...). @default ReadWriteOnce */
          accessMode: z.enum(['ReadWriteOnce', 'ReadWriteMany']).default('ReadWriteOnce'),
          /** @default the cluster's default StorageClass */
          storageClassName: storageClassName.optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  /** OWS-12: ingress read/send (nginx) or idle (ALB) timeout, so idle WebSockets stay open; 60 s – 1 day. @default 3600 */
  wsTimeoutSeconds: z.int().min(60).max(86_400).default(3600),
  /**
   * OWS-15: a worker Deployment for CPU-bound chemistry work. Refused: the app has no worker program at
   * any commit (services/ows.contract.ts). Kept so a stack that has the block gets that reason. @default none
   */
  worker: z
    .strictObject({
      /** @default true */
      enabled: z.boolean().default(true),
      /** The worker's entrypoint in the same image, e.g. `[python, -m, ows.worker]` (distroless: no shell). */
      command: z.array(z.string().min(1).max(1024)).min(1).max(64),
      /** Port of the worker's `/livez` and `/readyz` (kubelet only; no Service). @default 8001 */
      healthPort: port.default(8001),
      /** @default 1–4 at 80 % CPU (a maximum of 1 renders a fixed single replica) */
      autoscaling: autoscaling.default({ minReplicas: 1, maxReplicas: 4, cpuUtilization: 80 }),
      /** @default 500m/2 CPU, 512Mi/1Gi */
      resources: resources.default({ cpuRequest: '500m', cpuLimit: '2', memoryRequest: '512Mi', memoryLimit: '1Gi' }),
    })
    .optional(),
  /** OWS-9: alert thresholds. */
  alerts: z
    .strictObject({
      /** `OWSWebSocketErrors` above this many `ws_errors_total` per second for 10m. @default 0.1 */
      wsErrorsPerSecond: z.number().min(0.001).max(1000).default(0.1),
      /** Connections one pod is sized for; `OWSWebSocketConnectionsNearLimit` at 80 %. @default 1000 */
      maxConnectionsPerPod: z.int().min(10).max(1_000_000).default(1000),
      /** `OWSWebSocketConnectionsLost` when none is left after at least this many within 15m. @default 5 */
      lostConnectionsMinimum: z.int().min(1).max(1_000_000).default(5),
    })
    .prefault({}),
});
export type OwsService = z.infer<typeof owsService>;

/** Cross-field rules of `services.ows`. */
export function owsRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.ows;
  if (svc === undefined || !svc.enabled) return [];
  const base = ['services', 'ows'];
  const out: RuleProblem[] = [...autoscalingRange(svc.autoscaling, [...base, 'autoscaling'])];
  const replicas = Math.max(svc.autoscaling.minReplicas, svc.autoscaling.maxReplicas);
  // Issue 14 item 11: an AOF rewrite needs room for a second copy of the dataset.
  if (svc.redis?.mode === 'in-cluster' && (svc.redis.persistence ?? p.tier !== 'development') && svc.redis.storageSize !== undefined) {
    const problem = redisStorageProblem(svc.redis.resources.memoryLimit, svc.redis.storageSize);
    if (problem) out.push({ path: [...base, 'redis', 'storageSize'], message: problem });
  }
  // OWS-10: broadcasts are per process; more than one process without Redis splits the clients.
  if (svc.redis === undefined) {
    if (replicas > 1) {
      out.push({
        path: [...base, 'autoscaling', 'maxReplicas'],
        message:
          'more than one replica needs services.ows.redis: WebSocket broadcasts are per instance, so clients of other replicas would miss them (configure redis, or set maxReplicas: 1)',
      });
    }
  }
  // OWS-11: one process per pod (the app's metrics registry is per process; its CLI exits 1 with more).
  if (svc.workers !== undefined && svc.workers > 1) {
    out.push({
      path: [...base, 'workers'],
      message:
        'must be 1: OWS 98a9718 keeps its metrics in a per-process registry without MultiProcessCollector, so each scrape would see one worker of several (and its own CLI exits 1 with more); scale with autoscaling instead (services/ows.contract.ts)',
    });
  }
  // OWS-15: `python -m openworld_specialty_chemicals.worker` exists at no commit.
  if (svc.worker !== undefined && svc.worker.enabled) {
    out.push({
      path: [...base, 'worker', 'enabled'],
      message:
        'OWS has no worker program at any commit (98a9718 newest): a worker Deployment would crash-loop; remove the block until the app ships a job consumer entrypoint (OWS-15, services/ows.contract.ts)',
    });
  }
  // OWS-1: a ReadWriteOnce volume attaches to one node; a second API pod elsewhere never starts.
  if (replicas > 1 && svc.volumes.reports.accessMode === 'ReadWriteOnce') {
    out.push({
      path: [...base, 'volumes', 'reports', 'accessMode'],
      message: `must be ReadWriteMany when the API runs more than one replica (autoscaling up to ${replicas}): every pod mounts the reports volume`,
    });
  }
  // OWS-14: the distroless variant needs its image; it has no shell.
  if (svc.variant === 'distroless' && svc.distrolessImage === undefined) {
    out.push({ path: [...base, 'distrolessImage'], message: 'required when variant is distroless (Dockerfile.distroless builds a separate image)' });
  }
  if (svc.redis?.mode === 'in-cluster') {
    if ((quantityValue(svc.redis.resources.memoryLimit) ?? 0) < 32 * MiB) {
      out.push({ path: [...base, 'redis', 'resources', 'memoryLimit'], message: 'must be at least 32Mi (maxmemory is 75 % of it)' });
    }
    if (svc.redis.replicas % 2 === 0) {
      out.push({ path: [...base, 'redis', 'replicas'], message: 'must be odd (1, 3, 5 or 7): with an even count, losing half leaves no Sentinel majority to fail over' });
    } else if (p.tier === 'production' && svc.redis.replicas < 3) {
      out.push({ path: [...base, 'redis', 'replicas'], message: 'must be ≥ 3 in production: with a single Redis every restart drops the cross-instance fan-out' });
    }
  }
  out.push(...imageDigestRule(p, svc.image, [...base, 'image']));
  if (svc.distrolessImage !== undefined) out.push(...imageDigestRule(p, svc.distrolessImage, [...base, 'distrolessImage']));
  out.push(...hostLengthRule(p, svc.host, [...base, 'host']));
  return out;
}

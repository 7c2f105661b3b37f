/**
 * AION / OmertaOS application contract (issue 19): what the gateway and the control plane read and
 * expose, read from `ghasemzadeh-hamed/OMERTAOS` at 947c840 (the commit of the runbook
 * `docs/runbook.md`, and the version the stacks deploy). Every entry cites the upstream file and
 * line; `runbookSays` keeps the runbook's (or our former) line where the code disagrees. The code
 * wins. See services/contract.ts for the shape and policies/contract.ts for the rule.
 */
import type { AppContract, Citation } from './contract.js';

export const AION_UPSTREAM_COMMIT = '947c840849c43e6e622ac0311bd8bfe738d11c67';
/** The newest commit read (interfaces that changed there are in `upstream.notes`). */
export const AION_HEAD_COMMIT = 'd2cde08ebda8e3b8957c25148b2d7c1eb5330071';

/** The control plane's settings class: pydantic-settings with `env_prefix = "AION_CONTROL_"`. */
const settings = (line: number, note?: string): Citation => ({ file: 'control/app/config.py', line, note: note ?? 'Settings field, read as AION_CONTROL_<FIELD> (env_prefix, line 27)' });
const gwConfig = (line: number, note?: string): Citation => ({ file: 'gateway/src/config.ts', line, ...(note ? { note } : {}) });

/** Where the control plane's memory uploads live (`memory_storage_path`): a mounted volume, never `/app`. */
export const AION_MEMORY_PATH = '/var/lib/aion/memory';
export const AION_PORTS = {
  /** gateway/src/config.ts:55 `AION_GATEWAY_PORT || 8080` (HEAD: 3000, so the stacks always set it). */
  gateway: 8080,
  /** control/Dockerfile:10 `uvicorn ... --port 8000`. */
  controlHttp: 8000,
  /** control/app/grpc_server.py:62 `port: int = 50051`. */
  controlGrpc: 50051,
} as const;

export const aionContract: AppContract = {
  service: 'aion',
  upstream: {
    repo: 'ghasemzadeh-hamed/OMERTAOS',
    commit: AION_UPSTREAM_COMMIT,
    runbookCommit: AION_UPSTREAM_COMMIT,
    notes:
      'The stacks deploy images built from 947c840 (the runbook commit). HEAD d2cde08 changed interfaces: the gateway listens on 3000 ' +
      'unless AION_GATEWAY_PORT (gateway/src/config.ts:608; we set it, so both listen on 8080), reads AION_ENV before NODE_ENV ' +
      '(config.ts:567), accepts TLS material as PEM or *_SECRET_PATH files (config.ts:509-513) and autostarts (server.ts:481); the ' +
      'control plane moved to `uvicorn os.control.main:app` (control/Dockerfile). HEAD is not covered by this contract: moving to it ' +
      'means re-reading those files.',
  },
  metricNaming: 'python',
  workloads: {
    'aion-gateway': {
      command: {
        entrypoints: ['node'],
        cite: { file: 'gateway/Dockerfile', line: 14, note: 'CMD ["node", "dist/server.js"]; the stacks keep the image command' },
      },
      ports: { http: { port: AION_PORTS.gateway, cite: gwConfig(55, 'port: Number(process.env.AION_GATEWAY_PORT || 8080)') } },
      // GET /healthz exists (server.ts:94) but the global preHandler (server.ts:92: authPreHandler with
      // roles user|manager|admin, auth/index.ts:73-75) answers 401 without an API key or JWT: no HTTP
      // probe can pass. The stacks probe the TCP port.
      probes: [],
      env: {
        AION_GATEWAY_PORT: { default: '8080', meaning: 'HTTP listen port (HEAD default 3000)', cite: gwConfig(55) },
        AION_GATEWAY_HOST: { default: '0.0.0.0', meaning: 'listen address', cite: gwConfig(56) },
        AION_CONTROL_GRPC: {
          required: true,
          default: 'control:50051',
          meaning: 'host:port of the control plane gRPC server (AionTasks Submit/Stream/StatusById)',
          cite: gwConfig(57),
          runbookSays: 'we set AION_CONTROL_PLANE_URL=http://aion-control-plane:8000, which nothing reads; the default host `control` does not resolve',
        },
        AION_REDIS_URL: {
          required: true,
          default: 'redis://redis:6379',
          meaning: 'one ioredis client for rate-limit counters and idempotency keys; the logical DB is the URL path',
          cite: { file: 'gateway/src/redis.ts', line: 4, note: 'new Redis(gatewayConfig.redisUrl) (config.ts:58)' },
          runbookSays: 'runbook: idempotency keys in redis://redis:6379/3; we set AION_IDEMPOTENCY_REDIS_DB/AION_RATE_LIMIT_REDIS_DB, which nothing reads',
        },
        AION_GATEWAY_API_KEYS: { meaning: 'key:role|role:tenant,… API keys (the only interface for them at 947c840: env)', cite: gwConfig(28) },
        AION_JWT_PUBLIC_KEY: { meaning: 'RS256 public key (PEM) that verifies bearer JWTs; unset = JWT auth refused (401)', cite: { file: 'gateway/src/auth/index.ts', line: '35-39' } },
        AION_CORS_ORIGINS: { default: '*', meaning: 'comma-separated CORS origins', cite: gwConfig(61) },
        AION_RATE_LIMIT_MAX: { default: '60', meaning: 'requests per window per API key', cite: gwConfig(66) },
        AION_RATE_LIMIT_WINDOW: { default: '1 minute', meaning: 'rate-limit window', cite: gwConfig(67) },
        AION_RATE_LIMIT_PER_IP: { default: '30', meaning: 'requests per window per client IP', cite: gwConfig(68) },
        AION_IDEMPOTENCY_TTL: {
          default: '900',
          meaning: 'idempotency key expiry, seconds',
          cite: gwConfig(70),
          runbookSays: 'runbook: idempotency keys expire after 24h; we set AION_IDEMPOTENCY_TTL_SECONDS, which nothing reads',
        },
        NODE_ENV: {
          default: 'production (gateway/Dockerfile:10)',
          meaning:
            '`production` makes the gRPC client to the control plane TLS with AION_TLS_KEY/AION_TLS_CERT files (server/grpc.ts:30-37, config/tls.ts:25-33); the control plane gRPC server only has an insecure port (control/app/grpc_server.py:65), so production mode cannot reach it',
          cite: gwConfig(71),
        },
        AION_TLS_CERT: { meaning: 'client certificate file for gRPC to the control plane (production only)', cite: gwConfig(73) },
        AION_TLS_KEY: { meaning: 'client key file for gRPC to the control plane (production only)', cite: gwConfig(74) },
        AION_TLS_CA_CHAIN: { meaning: 'CA files for gRPC to the control plane (production only)', cite: gwConfig(75) },
        AION_TLS_REQUIRE_MTLS: { default: 'false', meaning: '`true`: gRPC TLS with target name AION_CONTROL_TLS_NAME (production only)', cite: gwConfig(76) },
        AION_CONTROL_TLS_NAME: { default: 'control.aionos.local', meaning: 'gRPC TLS target name override (production + mTLS only)', cite: { file: 'gateway/src/server/grpc.ts', line: 35 } },
      },
      files: [
        {
          path: '/protos/aion/v1/tasks.proto',
          format: 'protobuf IDL (in the image, not mounted)',
          cite: { file: 'gateway/src/server/grpc.ts', line: 11, note: "path.resolve(__dirname, '../../../protos/aion/v1/tasks.proto'), loadSync at import; part of the image (see assumptions)" },
        },
      ],
      writablePaths: [],
      secrets: [
        { what: 'API keys', as: 'env AION_GATEWAY_API_KEYS (Secret aion-gateway-api-keys, key api-keys)', cite: gwConfig(28) },
        { what: 'JWT verification (public) key', as: 'env AION_JWT_PUBLIC_KEY (Secret aion-jwt-signing-keys, key verification-key)', cite: gwConfig(60) },
        { what: 'Redis URL with password', as: 'env AION_REDIS_URL (Secret aion-redis, key url)', cite: gwConfig(58) },
      ],
    },
    'aion-control-plane': {
      command: {
        entrypoints: ['uvicorn', 'python'],
        cite: { file: 'control/Dockerfile', line: 10, note: 'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]; the gRPC server is `python -m app.grpc_server` (grpc_server.py:76-77)' },
      },
      ports: {
        http: { port: AION_PORTS.controlHttp, cite: { file: 'control/Dockerfile', line: 10 } },
        grpc: {
          port: AION_PORTS.controlGrpc,
          cite: {
            file: 'control/app/grpc_server.py',
            line: '62-65',
            note: 'create_grpc_server(host="0.0.0.0", port=50051), add_insecure_port; started only by `python -m app.grpc_server` (lines 69-77), which the image CMD does not run: the pod runs it as a second container',
          },
        },
      },
      probes: [{ path: '/healthz', port: AION_PORTS.controlHttp, cite: { file: 'control/app/main.py', line: 51 } }],
      env: {
        AION_CONTROL_REDIS_URL: {
          default: 'redis://redis:6379/0',
          meaning: 'Redis URL (defined in Settings; no code path at 947c840 connects yet)',
          cite: settings(10),
          runbookSays: 'we set AION_REDIS_URL, which the control plane never reads (env_prefix AION_CONTROL_, config.py:27; upstream deploy/k8s/control-deployment.yaml:24)',
        },
        AION_CONTROL_POSTGRES_DSN: {
          default: 'postgresql://aionos:aionos@postgres:5432/aionos',
          meaning: 'PostgreSQL DSN',
          cite: settings(11),
          runbookSays: 'we set AION_DATABASE_URL, which nothing reads (upstream deploy/k8s/control-deployment.yaml:26)',
        },
        AION_CONTROL_MONGO_DSN: { default: 'mongodb://mongo:27017', meaning: 'MongoDB DSN', cite: settings(12), runbookSays: 'we set AION_MONGO_URL, which nothing reads' },
        AION_CONTROL_KAFKA_BOOTSTRAP: {
          default: 'kafka:9092',
          meaning: 'Kafka bootstrap servers (no TLS settings exist; no producer at 947c840)',
          cite: settings(13),
          runbookSays: 'we set AION_KAFKA_BOOTSTRAP and AION_KAFKA_SSL_CA/CERT/KEY, which nothing reads',
        },
        AION_CONTROL_QDRANT_URL: { default: 'http://qdrant:6333', meaning: 'Qdrant URL', cite: settings(14), runbookSays: 'we set AION_QDRANT_URL, which nothing reads' },
        AION_CONTROL_MEMORY_STORAGE_PATH: {
          required: true,
          default: './.memory',
          meaning: 'memory upload store; created with mkdir at import (routes/memory.py:101, 256): under the read-only /app the process crashes',
          cite: settings(18),
        },
        AION_CONTROL_POLICIES_DIRECTORY: {
          default: '../policies',
          meaning: 'intents/policies/models/modules YAML; missing files are skipped (policy.py:17-20)',
          cite: settings(17),
        },
        AION_CONTROL_MEMORY_DEFAULT_RETENTION_DAYS: { default: '90', meaning: 'memory retention default', cite: settings(19) },
        AION_LOG_TTL_DAYS: {
          meaning: 'log retention days',
          runbookOnly:
            'runbook docs/runbook.md:94 names it as the retention override; no code reads it at 947c840. The MongoDB and ClickHouse TTL jobs apply the same days from the stack; shown on the pod for operators',
        },
        AION_CLICKHOUSE_TTL_DAYS: {
          meaning: 'ClickHouse retention days',
          runbookOnly: 'runbook docs/runbook.md:94 names it as the retention override; no code reads it at 947c840. The ClickHouse TTL job applies it from the stack',
        },
      },
      writablePaths: [
        { path: AION_MEMORY_PATH, why: 'memory uploads (AION_CONTROL_MEMORY_STORAGE_PATH), mkdir at import', cite: { file: 'control/app/routes/memory.py', line: '101, 256' } },
      ],
      secrets: [
        { what: 'Redis URL with password', as: 'env AION_CONTROL_REDIS_URL (pydantic-settings reads env or /app/.env only)', cite: settings(10) },
        { what: 'PostgreSQL DSN', as: 'env AION_CONTROL_POSTGRES_DSN', cite: settings(11) },
        { what: 'MongoDB DSN', as: 'env AION_CONTROL_MONGO_DSN', cite: settings(12) },
      ],
    },
  },
  // Neither the gateway (no prom-client) nor the control plane (no prometheus_client, no /metrics
  // route: main.py) exposes a metric at 947c840; control/pyproject.toml and gateway/package.json list no client.
  metrics: {},
  missingMetrics: {
    aion_gateway_request_duration_seconds: {
      usedFor: 'gateway p95 scaling trigger; Router dashboard (rate, p95, 429s, /v1/hooks/approval)',
      appChange: 'gateway: add prom-client with a request-duration histogram (labels route, code) and serve /metrics on a separate port',
    },
    aion_control_request_duration_seconds: { usedFor: 'control-plane p95 scaling trigger; Kernel dashboard', appChange: 'control plane: add prometheus_client (or prometheus-fastapi-instrumentator) and a /metrics route' },
    aion_control_queue_depth: { usedFor: 'control-plane queue-depth scaling trigger; Kernel dashboard', appChange: 'control plane: a gauge of tasks waiting in the orchestrator (orchestrator.py keeps them in a dict, no queue)' },
    aion_task_duration_seconds: { usedFor: 'Router dashboard task p95 by module', appChange: 'control plane: a histogram observed in Orchestrator.execute (label module)' },
    aion_kernel_proposals_total: { usedFor: 'Kernel dashboard proposals by outcome', appChange: 'control plane: kernel proposals do not exist at 947c840 (HEAD adds them); a counter with label outcome' },
    aion_router_policy_reloads_total: { usedFor: 'Router dashboard policy reloads', appChange: 'control plane: a counter incremented in POST /v1/router/policy/reload (main.py:116-119)' },
    webhook_failures_total: { usedFor: 'alert AIONWebhookFailures; Webhooks dashboard', appChange: 'webhooks (inbound /v1/hooks/approval, outbound retries) do not exist at 947c840: implement them with a failure counter' },
    k_rollbacks_total: { usedFor: 'alert AIONKernelRollbacks; Kernel dashboard', appChange: 'kernel rollbacks do not exist at 947c840: a counter in the rollback endpoint' },
  },
  assumptions: [
    'The gateway at 947c840 defines start() (server.ts:207-211) but nothing calls it, so `node dist/server.js` never listens; the image the stacks deploy (ghcr.io/acme/aion-gateway) must start it (HEAD autostarts, server.ts:481). Not fixable from the deployment without overriding the command.',
    'The gateway loads ../../../protos/aion/v1/tasks.proto relative to dist/server (server/grpc.ts:11) at import; gateway/Dockerfile copies only the gateway directory, so the image must add /protos (built from the repository root).',
    'The control plane gRPC server keeps tasks in memory per process (orchestrator.py): the gateway submits and reads tasks only over gRPC, so the HTTP /v1/tasks of the uvicorn container and the gRPC tasks are separate sets.',
    'Memory uploads live on an emptyDir per pod (lost on restart, not shared between replicas): 947c840 has no object-store backend for them.',
    'Module hosts: upstream modules/host/src/main.rs:22-26 is a one-shot CLI (`module_host <module> <payload>`), no server, no /healthz; the module images the stacks deploy (ghcr.io/acme/aion-module-*) are assumed to be operator-built servers on 9000 and are not covered by this contract.',
  ],
};

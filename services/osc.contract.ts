/**
 * OSC application contract: what Oscillink's licensed container really reads and exposes, read
 * from `Maverick0351a/Oscillink` at aef213d (2025-10-16, whose `docs/ops/OPERATIONS.md` is the
 * runbook `000_4eed07ff97eda6d9.txt`). Every entry cites the upstream file and line.
 *
 * The licensed image (`cloud/Dockerfile.licensed`) runs `cloud/entrypoint.sh`, which (a) exits 90
 * without a licence file and 92 when the licence does not verify (expired included) at every
 * start, so a restarted pod crash-loops instead of going unready, and (b) sources
 * `/run/oscillink_entitlements.env`, which replaces `OSCILLINK_API_KEYS` with the licence subject
 * and our limits with the licence's. stackbook therefore does not run that script: the pod has
 *  - an init container `license-verify` running the image's `tools/license_verify.py` (the same
 *    call as the entrypoint), whose failure is logged and tolerated: it writes
 *    `/run/oscillink_entitlements.json` only for a valid licence, and the app's `/license/status`
 *    (the readiness probe) answers 503 without it when `OSCILLINK_LICENSE_REQUIRED=1`;
 *  - the app container running `uvicorn cloud.app.main:app --host 0.0.0.0 --port <port>` (the
 *    entrypoint's last line), with exactly the environment the stack sets (nothing sourced);
 *  - with `usage` configured, a `usage-flush` sidecar running `tools/usage_flush.py` (the
 *    entrypoint starts it in the background only with `OSCILLINK_USAGE_LOG` set) and the app
 *    writing its usage JSONL to a shared emptyDir.
 * Workload keys: `osc` is the Deployment's app container (checked by the `app-contract` rule);
 * `license-verify` and `usage-flush` are its init container and sidecar (checked in test/osc.test.ts
 * with the same rule function).
 */
import type { AppContract, Citation, EnvEntry } from './contract.js';

const c = (file: string, line: number | string, note?: string): Citation => ({ file, line, ...(note ? { note } : {}) });
const MAIN = 'cloud/app/main.py';
const ENTRY = 'cloud/entrypoint.sh';
const VERIFY = 'tools/license_verify.py';
const FLUSH = 'tools/usage_flush.py';
const HELM = 'deploy/helm/oscillink/templates/deployment.yaml';

/** Proxy variables: read by the Python standard library (`urllib.request` getproxies) and the HTTP clients, not by Oscillink's code. */
const proxyEnv = (where: Citation): Record<string, EnvEntry> =>
  Object.fromEntries(
    ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'].map((k) => [
      k,
      { meaning: `${k} for outbound HTTP(S) (OSC-14), honoured by urllib/httpx`, cite: where },
    ]),
  );

/** The `OSCILLINK_FEAT_<NAME>` overlays the app reads: one per key of its tier feature map. */
export const OSC_FEATURES = ['DIFFUSION_GATES', 'ASYNC_JOBS', 'SIGNED_USAGE', 'PRIORITY_QUEUE'] as const;
/** The `OSCILLINK_EPRL_<ENDPOINT>_LIMIT/_WINDOW` pairs the app reads. */
export const OSC_EPRL_ENDPOINTS = ['CLI_START', 'CLI_POLL'] as const;

const appEnv: Record<string, EnvEntry> = {
  OSCILLINK_ADMIN_SECRET: { meaning: 'X-Admin-Secret of /admin/* and, with METRICS_PROTECTED, /metrics', cite: c('cloud/app/admin.py', 16) },
  OSCILLINK_LICENSE_REQUIRED: {
    default: '0',
    meaning: '/license/status answers 503 when the entitlements file is missing or expired',
    cite: c(MAIN, 857),
    runbookSays: 'set OSCILLINK_LICENSE_REQUIRED=1 to fail on expired/missing (readiness): true, but the entrypoint exits 90/92 before the app starts',
  },
  OSCILLINK_METRICS_PROTECTED: { default: '0', meaning: 'GET /metrics requires X-Admin-Secret (403 otherwise) when an admin secret is set', cite: c(MAIN, '1475-1478') },
  OSCILLINK_JSON_LOGS: { meaning: 'structured JSON access log (no bodies)', cite: c(MAIN, 415) },
  OSCILLINK_LOG_SAMPLE: { default: '1', meaning: 'share of requests logged', cite: c(MAIN, 418) },
  OSCILLINK_CACHE_ENABLE: { default: '0', meaning: 'per-key bundle cache', cite: c('cloud/app/services/cache.py', 12) },
  OSCILLINK_CACHE_TTL: { default: '300', meaning: 'cache TTL, seconds', cite: c('cloud/app/services/cache.py', 17) },
  OSCILLINK_CACHE_CAP: { default: '128', meaning: 'cache entries per key', cite: c('cloud/app/services/cache.py', 24) },
  OSCILLINK_TRUST_XFF: { default: '0', meaning: 'client IP from X-Forwarded-For for per-IP limits', cite: c(MAIN, 471) },
  OSCILLINK_RATE_LIMIT: { default: '0 (off)', meaning: 'global requests per window (X-RateLimit-*)', cite: c('cloud/app/runtime_config.py', 34) },
  OSCILLINK_RATE_WINDOW: { default: '60', meaning: 'global window, seconds', cite: c('cloud/app/runtime_config.py', 35) },
  OSCILLINK_IP_RATE_LIMIT: { default: '0 (off)', meaning: 'per-IP requests per window (X-IPLimit-*)', cite: c(MAIN, 464) },
  OSCILLINK_IP_RATE_WINDOW: { default: '60', meaning: 'per-IP window, seconds', cite: c(MAIN, 468) },
  ...Object.fromEntries(
    OSC_EPRL_ENDPOINTS.flatMap((e) => {
      const line = e === 'CLI_START' ? 1521 : 1575;
      return [
        [`OSCILLINK_EPRL_${e}_LIMIT`, { default: '0 (off)', meaning: `requests per window on the ${e} endpoint`, cite: c(MAIN, line, 'read through _endpoint_rate_limit, main.py:498') }],
        [`OSCILLINK_EPRL_${e}_WINDOW`, { default: '60', meaning: `${e} window, seconds`, cite: c(MAIN, line, 'read through _endpoint_rate_limit, main.py:502') }],
      ];
    }),
  ),
  OSCILLINK_KEY_NODE_UNITS_LIMIT: { default: '0 (off)', meaning: 'node×dim units per key per window', cite: c('cloud/app/runtime_config.py', 44) },
  OSCILLINK_KEY_NODE_UNITS_WINDOW: { default: '3600', meaning: 'quota window, seconds', cite: c('cloud/app/runtime_config.py', 45) },
  OSCILLINK_MONTHLY_CAP: { default: '0 (off)', meaning: 'monthly units per key (X-Monthly-*)', cite: c(MAIN, 249) },
  ...Object.fromEntries(
    OSC_FEATURES.map((f) => [
      `OSCILLINK_FEAT_${f}`,
      { meaning: `overrides the tier's ${f.toLowerCase()} feature (1/0)`, cite: c('cloud/app/features.py', '63-65', 'one variable per key of TIER_FEATURES (features.py:14-40)') },
    ]),
  ),
  OSCILLINK_STATE_BACKEND: { default: 'memory', meaning: '`redis`: rate-limit/quota state in Redis', cite: c('cloud/app/redis_backend.py', 10) },
  OSCILLINK_REDIS_URL: { default: 'redis://localhost:6379/0', meaning: 'Redis URL (REDIS_URL also read)', cite: c('cloud/app/redis_backend.py', 23) },
  OSCILLINK_CLI_SESSIONS_BACKEND: { default: 'memory', meaning: 'CLI pairing sessions store', cite: c('cloud/app/services/cli.py', 15) },
  OSCILLINK_CLI_TTL: { default: '900', meaning: 'CLI session TTL, seconds', cite: c('cloud/app/services/cli.py', 28) },
  OSCILLINK_KEYSTORE_BACKEND: { default: 'memory', meaning: '`memory` (keys from OSCILLINK_API_KEYS) or `firestore`', cite: c('cloud/app/keystore.py', 173) },
  OSCILLINK_API_KEYS: {
    meaning: 'comma-separated API keys of the memory key store',
    cite: c('cloud/app/keystore.py', 61),
    runbookSays: 'verify X-API-Key and key store mode (env/Firestore); the entrypoint overwrites this with the licence subject (license_verify.py:153-154, entrypoint.sh:20-24), so stackbook does not source the entitlements',
  },
  OSCILLINK_FIRESTORE_COLLECTION: { default: 'oscillink_api_keys', meaning: 'Firestore collection of API keys', cite: c('cloud/app/keystore.py', 118) },
  GOOGLE_CLOUD_PROJECT: { meaning: 'project of the Firestore client (google-cloud libraries)', cite: c('cloud/app/keystore.py', 117, 'firestore.Client() with default credentials and project from the environment') },
  CLOUDSDK_CONFIG: { meaning: 'directory of application_default_credentials.json (google-auth default credentials)', cite: c('cloud/app/keystore.py', 117, 'firestore.Client(): google-auth reads ADC from $CLOUDSDK_CONFIG') },
  OSCILLINK_USAGE_LOG: {
    meaning: 'JSONL usage log the app appends to (creating its directory); the flusher tails it',
    cite: c('cloud/app/services/usage_log.py', '16-31'),
    runbookSays: 'the runbook names only the usage endpoint; without this variable nothing is logged and entrypoint.sh:27 never starts the flusher',
  },
  ...proxyEnv(c('cloud/app/keystore.py', 117, 'outbound calls are made by client libraries (Firestore, Stripe), which honour the proxy variables')),
};

export const OSC_CONTRACT: AppContract = {
  service: 'osc',
  upstream: {
    repo: 'Maverick0351a/Oscillink',
    commit: 'aef213dac97c0127425604a02626e194b21b3000',
    notes:
      'Licensed container cloud/Dockerfile.licensed (python:3.11.9-slim, WORKDIR /app, pip install .[cloud-all], tools/ copied to /app/tools). ' +
      'The Helm chart deploy/helm/oscillink/ runs the same image with its entrypoint on port 8080, UID 10001, /run as an emptyDir.',
  },
  workloads: {
    osc: {
      command: {
        entrypoints: ['uvicorn'],
        flags: {
          '--host': { meaning: 'bind address (0.0.0.0: the kubelet and the Service reach the pod IP)', cite: c(ENTRY, 32) },
          '--port': { meaning: 'listen port (the entrypoint passes ${PORT:-8080}; stackbook passes the configured port)', cite: c(ENTRY, 32) },
        },
        cite: c(ENTRY, 32, 'exec uvicorn cloud.app.main:app --host 0.0.0.0 --port "${PORT:-8080}"'),
        runbookSays: 'the image entrypoint /app/entrypoint.sh (Dockerfile.licensed:37), which exits 90/91/92 before the app and sources the entitlements: not run, see the header',
      },
      ports: {
        http: { port: 8000, cite: c(ENTRY, 32, 'the port is whatever --port says; 8000 is the stack default (stacks/osc-config.ts)') },
        'image-default': { port: 8080, cite: c('cloud/Dockerfile.licensed', 31, 'PORT=8080; also the Helm chart, deployment.yaml:27') },
      },
      probes: [
        { path: '/health', port: 8000, cite: c(MAIN, 835, 'always 200 {status: ok}; no rate limit or auth on it, main.py:582') },
        { path: '/license/status', port: 8000, cite: c(MAIN, '840-877', '503 when required and the entitlements are missing or expired') },
        { path: '/health', port: 8080, cite: c(HELM, 44) },
        { path: '/license/status', port: 8080, cite: c(HELM, 36) },
      ],
      env: appEnv,
      files: [
        {
          path: '/run/oscillink_entitlements.json',
          format: 'JSON (the verified licence JWT payload: exp, iss, sub, tier, limits, features)',
          required: false,
          cite: c(MAIN, 851, 'OSCILLINK_ENTITLEMENTS_PATH, default /run/oscillink_entitlements.json; written by license_verify.py:246-247'),
        },
      ],
      writablePaths: [],
      uid: { value: 10001, cite: c(HELM, 52, 'runAsUser: 10001; cloud/Dockerfile:14 useradd -u 10001 (Dockerfile.licensed sets no USER)') },
      secrets: [
        { what: 'admin secret', as: 'env OSCILLINK_ADMIN_SECRET', cite: c('cloud/app/admin.py', 16) },
        { what: 'Redis URL (with password)', as: 'env OSCILLINK_REDIS_URL', cite: c('cloud/app/redis_backend.py', 23) },
        { what: 'API keys (memory key store)', as: 'env OSCILLINK_API_KEYS', cite: c('cloud/app/keystore.py', 61) },
        { what: 'Google ADC (firestore key store)', as: 'file $CLOUDSDK_CONFIG/application_default_credentials.json', cite: c('cloud/app/keystore.py', 117) },
      ],
    },
    'license-verify': {
      command: {
        entrypoints: ['sh'],
        flags: { '-c': { meaning: 'the script: the entrypoint\'s verification call, its failure logged and tolerated', cite: c(ENTRY, 17) } },
        cite: c(ENTRY, 17, 'python /app/tools/license_verify.py --license "${LICENSE_PATH}" --jwks "${JWKS_URL}" || exit 92'),
      },
      ports: {},
      env: {
        OSCILLINK_LICENSE_PATH: { default: '/run/secrets/oscillink.lic (image ENV)', meaning: 'the licence JWT file, passed as --license', cite: c(ENTRY, 4) },
        OSCILLINK_JWKS_URL: {
          default: 'https://license.oscillink.com/.well-known/jwks.json (image ENV, Dockerfile.licensed:29)',
          meaning: 'JWKS the Ed25519 signature is verified against, passed as --jwks',
          cite: c(ENTRY, 5),
        },
        OSCILLINK_JWKS_TTL: { default: '3600', meaning: 'JWKS cache TTL, seconds', cite: c(VERIFY, 223) },
        OSCILLINK_JWKS_OFFLINE_GRACE: { default: '86400', meaning: 'cached JWKS accepted while the URL is unreachable, seconds', cite: c(VERIFY, 228) },
        ...proxyEnv(c(VERIFY, 92, 'urllib.request.urlopen honours HTTP(S)_PROXY/NO_PROXY')),
      },
      files: [{ path: '/etc/oscillink/license/oscillink.lic', format: 'Ed25519-signed JWT (alg EdDSA)', required: false, cite: c(VERIFY, '232-233') }],
      writablePaths: [
        { path: '/run', why: 'entitlements JSON/env and the JWKS cache', cite: c(VERIFY, '214-220') },
      ],
      uid: { value: 10001, cite: c(HELM, 52) },
      secrets: [{ what: 'licence JWT', as: 'file (OSCILLINK_LICENSE_PATH)', cite: c(ENTRY, '4-10') }],
    },
    'usage-flush': {
      command: {
        entrypoints: ['python'],
        cite: c(ENTRY, 28, 'python /app/tools/usage_flush.py &'),
      },
      ports: {},
      env: {
        OSCILLINK_USAGE_LOG: { required: true, meaning: 'the JSONL file to tail', cite: c(FLUSH, 103) },
        OSCILLINK_USAGE_FLUSH_URL: { required: true, meaning: 'where batches are POSTed', cite: c(FLUSH, 104) },
        OSCILLINK_LICENSE_ID: { required: true, meaning: 'licence id in each batch; the loop returns at once without it', cite: c(FLUSH, '105-107') },
        ...proxyEnv(c(FLUSH, 31, 'urllib.request.urlopen honours HTTP(S)_PROXY/NO_PROXY')),
      },
      uid: { value: 10001, cite: c(HELM, 52) },
    },
  },
  metricNaming: 'python',
  metrics: {
    oscillink_settle_requests_total: { type: 'counter', labels: ['status'], cite: c(MAIN, 149) },
    oscillink_settle_latency_seconds: { type: 'histogram', labels: [], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0], cite: c(MAIN, '150-154') },
    oscillink_settle_last_N: { type: 'gauge', labels: [], cite: c(MAIN, 155) },
    oscillink_settle_last_D: { type: 'gauge', labels: [], cite: c(MAIN, 156) },
    oscillink_usage_nodes_total: { type: 'counter', labels: [], cite: c(MAIN, 157) },
    oscillink_usage_node_dim_units_total: { type: 'counter', labels: [], cite: c(MAIN, '158-160') },
    oscillink_job_queue_depth: { type: 'gauge', labels: [], cite: c(MAIN, '161-163') },
    oscillink_stripe_webhook_events_total: { type: 'counter', labels: ['result'], cite: c(MAIN, '164-166') },
    oscillink_cli_sessions_created_total: { type: 'counter', labels: [], cite: c(MAIN, '167-169') },
    oscillink_cli_sessions_provisioned_total: { type: 'counter', labels: [], cite: c(MAIN, '170-172') },
    oscillink_cli_sessions_active: { type: 'gauge', labels: [], cite: c(MAIN, '173-175') },
  },
  assumptions: [
    'The image is built from cloud/Dockerfile.licensed at this commit (uvicorn on PATH, /app/tools/license_verify.py and usage_flush.py present, sh and python present).',
    'The image runs as UID 10001 although Dockerfile.licensed sets no USER: the Python files are world-readable after pip install, and the app writes only to the mounted emptyDirs.',
    'OSCILLINK_TELEMETRY (Dockerfile.licensed:30, Helm values) is read by no code at this commit: not rendered.',
    'Licence entitlements (limits, features, tier) are not applied: the stack\'s settings are the app\'s settings; copy the licence\'s limits into the stack where they should apply.',
    'usage_flush.py keeps its read offset in memory: a restarted sidecar re-sends the log from the start, and nothing truncates the log (the emptyDir sizeLimit bounds it).',
  ],
};

/**
 * Application contract of the Options Pricing Engine, read from its upstream code (never copied):
 * SaridakisStamatisChristos/options-pricing-engine. Paths below are under `options-pricing-engine/`
 * of the repository at the commits named (the runbook commit 15d3396 and the code commit fbe159d
 * share that layout); 6e82acc moved the package to the repository root.
 */
import type { AppContract, Citation } from './contract.js';

/** The commit the stacks deploy and this contract was read at. */
export const OPE_CODE_COMMIT = 'fbe159d2b31493b99b6c653a96f0b0b8153ee0ea';
/** The commit the runbook (OPERATIONS.md) was taken from. */
export const OPE_RUNBOOK_COMMIT = '15d3396f8048e5e587550f453bc0b0e31753d832';
/** The newer layout (package at the repository root), read for what it changed. */
export const OPE_NEWER_COMMIT = '6e82acc9081b1f76696c21b807054cd9aeee784b';

const P = 'options-pricing-engine/src/options_engine';
const config = (line: number | string, note?: string): Citation => ({ file: `${P}/api/config.py`, line, ...(note ? { note } : {}) });
const app = (line: number | string, note?: string): Citation => ({ file: `${P}/api/fastapi_app.py`, line, ...(note ? { note } : {}) });
const metric = (line: string): Citation => ({ file: `${P}/observability/metrics.py`, line });
const DOCKERFILE = 'options-pricing-engine/docker/Dockerfile';

export const opeContract: AppContract = {
  service: 'ope',
  upstream: {
    repo: 'SaridakisStamatisChristos/options-pricing-engine',
    commit: OPE_CODE_COMMIT,
    runbookCommit: OPE_RUNBOOK_COMMIT,
    notes:
      'The stacks deploy the app at fbe159d (version 1.0.1, pyproject.toml:3). Every env name we set is read under the same ' +
      'name at 15d3396, fbe159d and 6e82acc: OPE_ENVIRONMENT (15d3396 config.py:118; fbe159d config.py:169 also reads ENV; ' +
      '6e82acc src/options_engine/api/config.py also reads ENV and refuses values other than development/test/staging/production, ' +
      'which is why we pass only production/staging/development) and OPE_ALLOWED_HOSTS (15d3396 config.py:120; fbe159d ' +
      'config.py:178 and 6e82acc also read ALLOWED_HOSTS). 6e82acc treats staging like production (ALLOWED_HOSTS and OIDC ' +
      'required, no wildcard hosts): the staging stack provides both. Metrics and their labels are identical at fbe159d and ' +
      '6e82acc (observability/metrics.py). Workers: the Dockerfile at fbe159d still runs --workers 4, but /metrics serves ' +
      'generate_latest() of one process (fastapi_app.py:236-241) and the slowapi limiter keeps its counters per process, and ' +
      '6e82acc OPERATIONS.md "Deployment contract" says run exactly one Uvicorn process per container and scale with replicas: ' +
      'the stacks run one worker.',
  },
  metricNaming: 'python',
  workloads: {
    ope: {
      command: {
        entrypoints: ['uvicorn'],
        flags: {
          '--host': { meaning: 'bind address (uvicorn)', cite: { file: DOCKERFILE, line: 9 } },
          '--port': { meaning: 'listen port (uvicorn)', cite: { file: DOCKERFILE, line: 9 } },
          '--workers': {
            meaning: 'uvicorn worker processes; each has its own metrics registry and rate-limit counters, so the stacks run 1',
            cite: { file: DOCKERFILE, line: 9, note: 'CMD uvicorn options_engine.api.fastapi_app:app --host 0.0.0.0 --port 8000 --workers 4' },
          },
        },
        cite: { file: DOCKERFILE, line: 9 },
        runbookSays:
          'OPERATIONS.md:8 "FastAPI application served by Uvicorn (recommended 2–4 workers)"; 6e82acc OPERATIONS.md says --workers 1 ' +
          '(exactly one Uvicorn process per container), which the code at fbe159d agrees with (per-process /metrics and limiter)',
      },
      ports: {
        http: { port: 8000, cite: { file: DOCKERFILE, line: '7-9', note: 'EXPOSE 8000; --port 8000' } },
      },
      probes: [
        { path: '/healthz', port: 8000, cite: app(257, '@app.get("/healthz"), exempt from rate limiting') },
        { path: '/health', port: 8000, cite: app(273, 'alias of /healthz (the image HEALTHCHECK uses it)') },
      ],
      env: {
        OPE_ENVIRONMENT: {
          default: 'development',
          meaning: 'production turns on the OIDC/ALLOWED_HOSTS checks and hides /docs; we pass production, staging or development by tier',
          cite: config(169, '_get_env_alias("ENV", "OPE_ENVIRONMENT", default="development"); 15d3396 config.py:118 reads OPE_ENVIRONMENT only'),
          runbookSays: 'the previous service set ENVIRONMENT, which no version of the app reads: production ran as development',
        },
        OPE_ALLOWED_HOSTS: {
          required: true,
          default: 'localhost,127.0.0.1',
          meaning:
            'TrustedHostMiddleware allow-list (fastapi_app.py:190): any other Host gets HTTP 400, so kubelet probes (Host: pod IP), ' +
            'Prometheus (Host: pod IP:port) and the Ingress (public host) need it; production refuses to start without it',
          cite: config('178-184', '_get_env_alias("ALLOWED_HOSTS", "OPE_ALLOWED_HOSTS"); RuntimeError in production when empty; 15d3396 config.py:120-126'),
        },
        K8S_POD_IP: {
          meaning: 'the pod IP from the downward API',
          runbookOnly:
            'not read by the app: Kubernetes expands $(K8S_POD_IP) inside OPE_ALLOWED_HOSTS (it must sort before it), so probes and scrapes that send the pod IP as Host are allowed',
        },
        OPE_THREADS: { default: '8', meaning: 'pricing thread pool size (>= 1)', cite: config(248) },
        OPE_THREAD_QUEUE_MAX: { default: '32', meaning: 'pricing queue length before rejections (>= 0)', cite: config(249) },
        RATE_LIMIT_DEFAULT: { default: '60/minute', meaning: 'slowapi default limit per client address', cite: config(269) },
        MAX_BODY_BYTES: { default: '1048576', meaning: 'request body limit (>= 1024)', cite: config(270) },
        OIDC_ISSUER: { meaning: 'token issuer; required in production', cite: config('223, 227-241') },
        OIDC_AUDIENCE: { meaning: 'token audience; required in production', cite: config('224, 227-241') },
        OIDC_JWKS_URL: { meaning: 'JWKS document URL; required in production', cite: config('225, 227-241') },
        PROMETHEUS_MULTIPROC_DIR: {
          meaning:
            'prometheus_client multiprocess mode (read by the library, not the app): set only when more than one worker runs, ' +
            'which also needs an image whose /metrics uses MultiProcessCollector (the app at fbe159d does not)',
          cite: {
            file: 'prometheus_client/values.py',
            line: '79-95, 157',
            commit: 'v0.26.0',
            note: 'prometheus/client_python (pyproject.toml:16 requires prometheus-client>=0.19.0): MultiProcessValue when the variable is set',
          },
        },
        // read by the app, not set by the stacks (documented for operators)
        ENV: { meaning: 'alias of OPE_ENVIRONMENT (read first)', cite: config(169) },
        ALLOWED_HOSTS: { meaning: 'alias of OPE_ALLOWED_HOSTS (read first)', cite: config(178) },
        CORS_ALLOWED_ORIGINS: { meaning: 'CORS origins; none in production, localhost origins otherwise', cite: config('186-194') },
        OPE_ALLOWED_ORIGINS: { meaning: 'alias of CORS_ALLOWED_ORIGINS', cite: config(187) },
        OPE_CORS_ALLOW_CREDENTIALS: { default: 'true', meaning: 'CORS credentials', cite: config(303) },
        DEV_JWT_SECRET: { meaning: 'development HMAC secret; forbidden in production (the app refuses to start)', cite: config('196-246') },
        OPE_JWT_SECRET: { meaning: 'alias of DEV_JWT_SECRET', cite: config(198) },
        DEV_JWT_ADDITIONAL_SECRETS: { meaning: 'previous development secrets during rotation', cite: config(206) },
        OPE_JWT_ADDITIONAL_SECRETS: { meaning: 'alias of DEV_JWT_ADDITIONAL_SECRETS', cite: config(206) },
        OPE_THREAD_QUEUE_TIMEOUT_SECONDS: { default: '0.5', meaning: 'wait for a queue slot before rejecting', cite: config('250-252') },
        OPE_THREAD_TASK_TIMEOUT_SECONDS: { default: '30.0', meaning: 'pricing task timeout', cite: config('253-255') },
        OPE_MAX_CONTRACTS: { default: '1000', meaning: 'contracts per pricing request', cite: config(257) },
        OPE_MAX_RISK_CONTRACTS: { default: 'OPE_MAX_CONTRACTS', meaning: 'contracts per risk request', cite: config(258) },
        OPE_MONTE_CARLO_SEED: { meaning: 'fixed Monte Carlo seed', cite: config('260-267') },
        OIDC_CLOCK_SKEW_S: { default: '60', meaning: 'token clock skew', cite: config('272-281') },
        OIDC_JWKS_CACHE_TTL_S: { default: '300', meaning: 'JWKS cache TTL (>= 60)', cite: config('283-292') },
        OPTIONS_ENGINE_BUILD_ID: { meaning: 'build id reported by the API', cite: { file: `${P}/api/routes.py`, line: 74 } },
        MC_ENABLE_QMC: { meaning: 'quasi-Monte Carlo switch', cite: { file: `${P}/api/routes.py`, line: 84 } },
        NUMERICS_STRICT: { meaning: '"1" makes numerical guards raise', cite: { file: `${P}/core/pricing_models.py`, line: 163 } },
      },
      writablePaths: [],
      secrets: [],
    },
  },
  metrics: {
    ope_request_total: { type: 'counter', labels: ['method', 'route', 'status_code'], cite: metric('8-12') },
    ope_request_errors_total: { type: 'counter', labels: ['method', 'route', 'status_code'], cite: metric('14-18') },
    ope_request_latency_seconds: {
      type: 'histogram',
      labels: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      cite: metric('20-38'),
    },
    ope_model_latency_seconds: {
      type: 'histogram',
      labels: ['model'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      cite: metric('40-57'),
    },
    ope_model_errors_total: { type: 'counter', labels: ['model'], cite: metric('59-63') },
    ope_auth_failures_total: { type: 'counter', labels: ['reason'], cite: metric('65-69') },
    ope_rate_limit_rejections_total: { type: 'counter', labels: ['route'], cite: metric('71-75') },
    ope_payload_too_large_total: { type: 'counter', labels: ['route'], cite: metric('77-81') },
    ope_threadpool_queue_depth: { type: 'gauge', labels: ['engine'], cite: metric('83-87') },
    ope_threadpool_tasks_in_flight: { type: 'gauge', labels: ['engine'], cite: metric('89-93') },
    ope_threadpool_workers: { type: 'gauge', labels: ['engine'], cite: metric('95-99') },
    ope_threadpool_queue_wait_seconds: {
      type: 'histogram',
      labels: ['engine'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      cite: metric('101-119'),
    },
    ope_threadpool_rejections_total: { type: 'counter', labels: ['engine'], cite: metric('121-125') },
    ope_threadpool_saturation_total: { type: 'counter', labels: ['engine'], cite: metric('127-131') },
  },
  assumptions: [
    'The image runs the package installed as in docker/Dockerfile at fbe159d (pip install . into the system site-packages); the Dockerfile sets no USER (root), and the app needs no particular UID, so the stacks run it as 10001.',
    'The app writes no files (no tempfile/open-for-write in src/ outside tests at fbe159d); /tmp stays an emptyDir for libraries.',
    'Pod IPs are IPv4: TrustedHostMiddleware compares the Host header up to its first ":", which an IPv6 literal would break.',
    'In-cluster clients use the Service name `ope.<namespace>.svc` or `ope.<namespace>.svc.cluster.local` (cluster domain cluster.local).',
  ],
};

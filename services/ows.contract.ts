/**
 * OWS application contract: what `openworld_specialty_chemicals` really reads and exposes, read at
 * llamasearchai/OpenWorld-SpecialtyChemicals@98a9718 (newest commit; package version 0.2.1 in
 * pyproject.toml, `__version__` 0.2.0). Every entry cites the upstream file and line. The runbook
 * (001_8ef09203eb418336.txt, the repository's docs/operations.md) summarises; where it disagrees
 * the code wins and `runbookSays` keeps the runbook's line.
 */
import type { AppContract, Citation } from './contract.js';

const COMMIT = '98a9718d6e14271154f0422353198cdac160175a';
const api = (line: number | string, note?: string): Citation => ({ file: 'openworld_specialty_chemicals/dashboard/__init__.py', line, ...(note ? { note } : {}) });
const cli = (line: number | string, note?: string): Citation => ({ file: 'openworld_specialty_chemicals/cli.py', line, ...(note ? { note } : {}) });
const logging = (line: number | string, note?: string): Citation => ({ file: 'openworld_specialty_chemicals/logging.py', line, ...(note ? { note } : {}) });

/** The API's one HTTP port: `cli dashboard --port` (default 8000; the images pass 8000). */
export const OWS_CONTRACT_PORT = 8000;

/**
 * `ws_message_size_bytes` buckets' upper bounds: the largest finite one (8192) is the biggest p99 the
 * histogram can report, whatever `OW_SC_WS_MAX_MESSAGE_BYTES` allows.
 */
export const OWS_MESSAGE_SIZE_BUCKETS = [64, 128, 256, 512, 1024, 2048, 4096, 8192, Infinity] as const;

/** The app's own `OW_SC_WS_MAX_MESSAGE_BYTES` default. */
export const OWS_APP_MAX_MESSAGE_BYTES = 8192;

/** The app factory uvicorn imports (`--factory`): the API without the CLI, which cannot be imported at 98a9718. */
export const OWS_APP_FACTORY = 'openworld_specialty_chemicals.dashboard:build_app';

/** Where the API reads its logging configuration (uvicorn `--log-config`). */
export const OWS_LOG_CONFIG_PATH = '/etc/ows/log-config.json';

/** The logging classes the app provides for a dictConfig. */
export const OWS_LOG_CLASSES = {
  json: 'openworld_specialty_chemicals.logging.JSONFormatter',
  correlation: 'openworld_specialty_chemicals.logging.CorrelationFilter',
  /** The app's plain-text console format (logging.py:91-93). */
  textFormat: '%(asctime)s [%(levelname)s] %(name)s: %(message)s',
} as const;

export const owsContract: AppContract = {
  service: 'ows',
  upstream: {
    repo: 'llamasearchai/OpenWorld-SpecialtyChemicals',
    commit: COMMIT,
    notes:
      '98a9718 (2025-09-07) is the newest commit; the runbook is its docs/operations.md. The stacks deploy images built from it ' +
      '(Dockerfile / Dockerfile.distroless; the stacks tag them 0.9.4 in our registry) but override their CMD: the CLI it runs fails to import at every commit ' +
      '(openworld_specialty_chemicals/reports/ is gitignored), so the pod runs `python3 -m uvicorn --factory openworld_specialty_chemicals.dashboard:build_app`. No commit has a worker program: ' +
      '`python -m openworld_specialty_chemicals.worker` (our former `ows-worker`) exists at no commit, so no worker Deployment is rendered (OWS-15 needs an app change).',
  },
  workloads: {
    ows: {
      command: {
        entrypoints: ['python3'],
        cite: {
          file: 'openworld_specialty_chemicals/dashboard/__init__.py',
          line: 18,
          note: 'build_app(max_buffer=1024) -> FastAPI: a factory uvicorn imports by string (uvicorn==0.30.6 pinned, pyproject.toml:28; `python3 -m uvicorn --factory`)',
        },
        runbookSays:
          'Docker: the image CMD `python -m openworld_specialty_chemicals.cli dashboard --host 0.0.0.0 --port 8000` (Dockerfile:38, Dockerfile.distroless:24). ' +
          'That CLI cannot start at any commit: cli.py:36 imports openworld_specialty_chemicals.reports.certificate, and `reports/` is in .gitignore (line 12), so the package was never committed (ModuleNotFoundError, run here). ' +
          'Logging: "set `--log-format json` in CLI or `LOG_FORMAT=json` env": the CLI overwrites LOG_FORMAT from --log-format (cli.py:108).',
        flags: {
          '-m': { meaning: 'python: run the module uvicorn (a dependency of the app, pinned 0.30.6)', cite: { file: 'pyproject.toml', line: 28 } },
          '--factory': {
            meaning: 'uvicorn: the import string names a factory (build_app) to call',
            cite: { file: 'uvicorn/main.py (uvicorn==0.30.6)', line: 355, note: 'the app: openworld_specialty_chemicals.dashboard:build_app (dashboard/__init__.py:18)' },
          },
          '--host': { meaning: 'uvicorn: bind address (default 127.0.0.1: unreachable in a pod)', cite: { file: 'uvicorn/main.py (uvicorn==0.30.6)', line: 64 } },
          '--port': { meaning: 'uvicorn: port (default 8000)', cite: { file: 'uvicorn/main.py (uvicorn==0.30.6)', line: 71 } },
          '--log-config': {
            meaning: 'uvicorn: a logging dictConfig file (.json: json.load + dictConfig), applied before the app is imported',
            cite: { file: 'uvicorn/config.py (uvicorn==0.30.6)', line: '366-369', note: 'flag at uvicorn/main.py:196' },
          },
          '--workers': {
            meaning: 'uvicorn: processes (default $WEB_CONCURRENCY or 1); more than 1 splits metrics, rate limits and WebSocket clients per process (see assumptions)',
            cite: { file: 'uvicorn/main.py (uvicorn==0.30.6)', line: 112 },
          },
        },
      },
      ports: { http: { port: OWS_CONTRACT_PORT, cite: { file: 'Dockerfile', line: 28, note: 'EXPOSE 8000; the CLI default too (cli.py:695); we pass uvicorn --port 8000' } } },
      probes: [
        { path: '/livez', port: OWS_CONTRACT_PORT, cite: api('201-204', 'no TrustedHost middleware: any Host (the kubelet sends the pod IP) answers 200; auth covers only /api/ and /ws/ (line 54)') },
        { path: '/readyz', port: OWS_CONTRACT_PORT, cite: api('206-209', 'always 200 once serving (reports the buffer size)') },
        { path: '/health', port: OWS_CONTRACT_PORT, cite: api('196-199') },
      ],
      env: {
        OW_SC_API_TOKEN: {
          meaning: 'Bearer token required on /api/* and /ws/* when set (unset: no authentication); also the /metrics token when OW_SC_METRICS_TOKEN is unset',
          cite: api('52-60, 217-218, 287-292'),
        },
        OW_SC_METRICS_PROTECT: { default: '0', meaning: '"1": /metrics requires Bearer OW_SC_METRICS_TOKEN (or OW_SC_API_TOKEN)', cite: api(215) },
        OW_SC_METRICS_TOKEN: { meaning: 'Bearer token of /metrics when protected', cite: api(218) },
        OW_SC_RL_PER_SEC: { default: '10', meaning: 'requests per second per client IP and path on /api/*', cite: api(64) },
        OW_SC_WS_MSGS_PER_SEC: { default: '20', meaning: 'messages per second per /ws/effluent connection (more are dropped, counted in ws_errors_total)', cite: api(311) },
        OW_SC_WS_MAX_MESSAGE_BYTES: {
          default: String(OWS_APP_MAX_MESSAGE_BYTES),
          meaning: 'largest JSON-encoded /ws/effluent message; larger ones are dropped (ws_errors_total) and never observed in ws_message_size_bytes',
          cite: api('310, 315-318'),
          runbookSays: 'Rate Limits: `OW_SC_WS_MAX_MESSAGE_BYTES` (no default given; the stacks used to default to 65536)',
        },
        OW_SC_REDIS_URL: { meaning: 'Redis URL (redis.asyncio.from_url) for cross-instance fan-out; unset: none', cite: api('153-164, 192') },
        OW_SC_REDIS_CHANNEL: { default: 'owsc:effluent', meaning: 'Redis pub/sub channel of the fan-out', cite: api(149) },
        OW_SC_CORS_ORIGINS: { default: '*', meaning: 'comma-separated CORS origins', cite: api('28-35') },
        LOG_LEVEL: {
          default: 'INFO',
          meaning:
            'read only by the CLI path (logging.py:180, setup_production_logging), and even there too late: importing cli.py configured logging already (cli.py:45 -> logging.py:113 returns). Never read under uvicorn --factory: the level is the log config\'s (--log-config).',
          cite: logging(180),
          runbookSays: 'Logging: `LOG_FORMAT={text|json}`, `LOG_LEVEL`.',
        },
        LOG_FORMAT: {
          default: 'text',
          meaning:
            'read only by the CLI path, after the CLI overwrote it from --log-format (cli.py:108, read at cli.py:751 and logging.py:184): never selects JSON by itself. Under uvicorn --factory the format is the log config\'s (--log-config).',
          cite: cli(108),
          runbookSays: 'JSON logs: set `--log-format json` in CLI or `LOG_FORMAT=json` env.',
        },
        LOG_FILE: { default: 'logs/openworld-chem.log', meaning: 'log file (relative to /app); read only by the CLI path, too late (see LOG_LEVEL)', cite: logging(181) },
        WEB_CONCURRENCY: {
          meaning:
            'uvicorn 0.30.6 reads it as the worker count (CLI --workers envvar, main.py:112-116; run() at config.py:328-329). Through the app\'s CLI (uvicorn.run with the app object, cli.py:752) more than 1 exits 1 (main.py:564-567); through --factory it starts N processes, each with its own private metrics registry: not set (one process per pod)',
          cite: { file: 'uvicorn/config.py (uvicorn==0.30.6, pinned in pyproject.toml:28)', line: '328-329', note: 'exit at uvicorn/main.py:564-567' },
          runbookSays: 'Scaling: Tune `uvicorn` workers based on CPU.',
        },
        OW_SC_MAX_CSV_BYTES: {
          default: '10485760',
          meaning: 'largest batch CSV',
          runbookOnly:
            'only io.py:50 reads it, in read_batch_csv, which no command or endpoint of 98a9718 calls (only tests/test_app.py and tests/test_io_schema_limits.py); the API has no upload endpoint. Set for OWS-6 (runbook) so the limit holds once the app uses it.',
        },
        OW_SC_MAX_CSV_ROWS: {
          default: '1000000',
          meaning: 'most rows of a batch CSV',
          runbookOnly: 'only io.py:51 reads it, in read_batch_csv, which nothing outside the tests calls (see OW_SC_MAX_CSV_BYTES). Set for OWS-6 (runbook).',
        },
      },
      files: [
        {
          path: OWS_LOG_CONFIG_PATH,
          format: 'JSON logging dictConfig (uvicorn --log-config)',
          sections: ['version', 'filters', 'formatters', 'handlers', 'loggers', 'root'],
          required: false,
          cite: {
            file: 'uvicorn/config.py (uvicorn==0.30.6)',
            line: '366-369',
            note: 'the app\'s own JSON variant is logging.py:197-220 (uvicorn_log_config: JSONFormatter on uvicorn loggers and root); CorrelationFilter (logging.py:27-33) puts X-Request-ID in corr_id (dashboard/__init__.py:96-100)',
          },
        },
      ],
      writablePaths: [
        {
          path: '/app/logs',
          why:
            'the first get_logger() (the request-logging middleware, dashboard/__init__.py:96-98) opens logs/openworld-chem.log relative to WORKDIR /app; unwritable, it raises and the middleware swallows it (lines 101-102): the app\'s request log with X-Request-ID is lost (run here)',
          cite: logging('56-64, 129-138, 164-167', 'WORKDIR /app at Dockerfile:17'),
        },
      ],
      uid: { value: 10001, cite: { file: 'Dockerfile', line: 22, note: 'useradd -u 10001 appuser; USER appuser (Dockerfile.distroless sets no user: runAsUser 10001 from the pod)' } },
      secrets: [
        { what: 'API token', as: 'env OW_SC_API_TOKEN', cite: api(52) },
        { what: 'metrics token', as: 'env OW_SC_METRICS_TOKEN', cite: api(218) },
        { what: 'Redis URL (with password)', as: 'env OW_SC_REDIS_URL', cite: api(153) },
      ],
    },
  },
  metricNaming: 'python',
  metrics: {
    stream_buffer_len: { type: 'gauge', labels: [], cite: api('109-113') },
    ws_active_connections: { type: 'gauge', labels: [], cite: api('115-119', 'set from len(connections) on connect/disconnect and at each scrape (line 223)') },
    ws_connections_total: { type: 'counter', labels: [], cite: api('120-124') },
    ws_messages_received_total: { type: 'counter', labels: [], cite: api('125-129') },
    ws_messages_broadcast_total: { type: 'counter', labels: [], cite: api('130-134') },
    ws_errors_total: { type: 'counter', labels: [], cite: api('135-139', 'oversized and rate-limited messages, send and Redis failures') },
    ws_message_size_bytes: {
      type: 'histogram',
      labels: [],
      buckets: OWS_MESSAGE_SIZE_BUCKETS,
      cite: api('140-145', 'observed at line 342 only for accepted messages (≤ OW_SC_WS_MAX_MESSAGE_BYTES)'),
    },
  },
  assumptions: [
    'The metrics live in a private CollectorRegistry (dashboard/__init__.py:108) served by /metrics (line 224) without MultiProcessCollector: with N uvicorn workers each scrape reads the one process that answers (run here). PROMETHEUS_MULTIPROC_DIR alone aggregates nothing (prometheus_client writes per-process files, but only a MultiProcessCollector reads them), so the API runs one process per pod and scales by replicas. App change for more: build the /metrics registry from MultiProcessCollector over PROMETHEUS_MULTIPROC_DIR (dashboard/__init__.py:108, 224); then the stack can mount the directory as an emptyDir and set workers.',
    'The distroless image (gcr.io/distroless/python3-debian12) has /usr/bin/python3 on PATH, so one command serves both images.',
    'The per-client rate limit keys on request.client.host (dashboard/__init__.py:66); uvicorn trusts X-Forwarded-For only from FORWARDED_ALLOW_IPS (default 127.0.0.1, uvicorn config.py:333), so behind the ingress every client counts as the ingress controller pod. Not changed here (trusting * would let clients spoof the key).',
    'No process_* or python_* series: the private registry registers no default collectors.',
  ],
};

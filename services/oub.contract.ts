/**
 * OUB's application contract: what Oubliette (`HyphaGroup/oubliette`) really reads and exposes,
 * read from its code at the runbook's commit f19a278 ("Initial release"; the runbook is its
 * docs/OPERATIONS.md there). Every entry cites file:line at that commit. The stacks deploy this
 * version (the image `ghcr.io/acme/oubliette:1.6.0` is assumed to be built from it with
 * Dockerfile.server); what changed at HEAD 31abce2 is in `upstream.notes`, and the rendered layout
 * (HOME-relative `~/.oubliette`) is one both versions read.
 */
import type { AppContract } from './contract.js';

/** `$HOME` of every Oubliette process we run: f19a278 keeps everything under `~/.oubliette`. */
export const OUB_HOME = '/home/oubliette';
/** `<home>`: `~/.oubliette` (cmd/server/main.go:106-113). */
export const OUB_ROOT = `${OUB_HOME}/.oubliette`;
/** Where the app reads and writes, all fixed relative to `<home>` (no flag or key moves them). */
export const OUB_APP_PATHS = {
  config: `${OUB_ROOT}/config`,
  configFile: `${OUB_ROOT}/config/oubliette.jsonc`,
  data: `${OUB_ROOT}/data`,
  projects: `${OUB_ROOT}/data/projects`,
  logs: `${OUB_ROOT}/data/logs`,
  /** `defaults.backup.directory`, set absolute (a relative one is joined to data/, main.go:328-330). */
  backups: `${OUB_ROOT}/data/backups`,
  /** Relay sockets, a constant (internal/mcp/connector.go:13, cmd/server/main.go:300). */
  sockets: '/tmp/oubliette-sockets',
} as const;


/** Where the runbook and the code disagree (the code wins; rendered from the code). */
export const OUB_RUNBOOK_DISAGREEMENTS: readonly { readonly runbookSays: string; readonly codeSays: string; readonly cite: string }[] = [
  { runbookSays: './oubliette -config config.yaml', codeSays: 'the only flag is -version; the config is <home>/config/oubliette.jsonc, <home> = $HOME/.oubliette', cite: 'cmd/server/main.go:98-117' },
  { runbookSays: 'config.yaml with server/runtime/recursion/rate_limit/cleanup/backup/paths', codeSays: 'oubliette.jsonc with server/credentials/defaults/models/containers (JSON with comments)', cite: 'internal/config/unified.go:11-17' },
  { runbookSays: 'FACTORY_API_KEY env (required)', codeSays: 'credentials.factory.credentials.<default>.api_key in oubliette.jsonc; the server exits without it (the env is only a Droid fallback never reached)', cite: 'internal/config/loader.go:137-142, internal/agent/droid/runtime.go:48-51' },
  { runbookSays: 'DEFAULT_GITHUB_TOKEN env', codeSays: 'credentials.github.credentials.<default>.token in oubliette.jsonc; no env read', cite: 'internal/config/credentials.go:23-31' },
  { runbookSays: 'SERVER_ADDR=:8080', codeSays: 'server.address in oubliette.jsonc, default ":8080"; no env read', cite: 'internal/config/unified.go:135-136' },
  { runbookSays: 'DEFAULT_MAX_RECURSION_DEPTH / _AGENTS_PER_SESSION / _COST_USD env', codeSays: 'defaults.limits.max_recursion_depth / max_agents_per_session / max_cost_usd in oubliette.jsonc', cite: 'internal/config/loader.go:28-32' },
  { runbookSays: 'paths: projects/, data/, logs/ beside the binary', codeSays: '<home>/data holds auth.db, schedules.db, projects/ and logs/oubliette-YYYY-MM-DD.log', cite: 'cmd/server/main.go:112,133-134; internal/logger/logger.go:43' },
  { runbookSays: 'rate_limit (10 rps, burst 20), cleanup (5 min / 60 min / 80 % / 90 %), runtime.memory / cpus', codeSays: 'compiled in, not configurable: DefaultRateLimiter(10, 20), cleanup.Config{5m, 60m, 80, 90}, sessions 4G / 4 CPUs', cite: 'internal/auth/ratelimit.go:33-34; cmd/server/main.go:304-320' },
  { runbookSays: 'TooManySessions: oubliette_active_sessions > 100', codeSays: 'the gauge has one series per project_id: the total is sum(oubliette_active_sessions)', cite: 'internal/metrics/metrics.go:34-40' },
];

export const OUB_CONTRACT: AppContract = {
  service: 'oub',
  upstream: {
    repo: 'HyphaGroup/oubliette',
    commit: 'f19a278de3e69fb2fce06c2b8ae445a22d98cecb',
    runbookCommit: 'f19a278',
    notes:
      'Deployed: f19a278 (the runbook\'s version). HEAD 31abce2 differs: flags -dir and -daemon and env OUBLIETTE_HOME choose <home> (main.go:111-112,1482-1497; default still ~/.oubliette, so this layout works there too); ' +
      'the Droid runtime and credentials.factory are gone (OpenCode only: credentials.providers; aee3f23), so factoryApiKey would need to become a provider key; ' +
      'metrics oubliette_containers_running, _event_buffer_drops_total, _projects_total and _tool_calls_total are removed; `token` uses <home> instead of ~/.oubliette (c79ba2c). ' +
      'Upstream Dockerfile.server runs as root with WORKDIR /app and sets SERVER_ADDR / RUNTIME_PREFERENCE, which the code never reads.',
  },
  metricNaming: 'exact',
  workloads: {
    oubliette: {
      command: {
        // the image's CMD (Dockerfile.server:55): we never set command
        entrypoints: ['/app/oubliette'],
        flags: {
          '-version': { meaning: 'print the version and exit', cite: { file: 'cmd/server/main.go', line: 98 } },
          '--version': { meaning: 'Go flag syntax: same as -version', cite: { file: 'cmd/server/main.go', line: 98 } },
        },
        cite: { file: 'cmd/server/main.go', line: '96-104', note: 'runServer: flag.Bool("version") then flag.Parse(); any other flag exits 2' },
        runbookSays: './oubliette -config config.yaml',
      },
      ports: {
        http: { port: 8080, cite: { file: 'internal/config/unified.go', line: '135-136', note: 'server.address defaults to ":8080"; MCP, /health, /ready and /metrics share it (internal/mcp/server.go:227-242)' } },
      },
      probes: [
        { path: '/health', port: 8080, cite: { file: 'internal/mcp/server.go', line: 227, note: 'always 200 {"status":"ok"}, no Host check' } },
        { path: '/ready', port: 8080, cite: { file: 'internal/mcp/server.go', line: 228, note: '503 while the container runtime does not answer Ping (line 257)' } },
      ],
      env: {
        HOME: {
          required: true,
          meaning: '<home> is $HOME/.oubliette: config, data, projects, logs, auth.db',
          cite: { file: 'cmd/server/main.go', line: '106-113', note: 'os.UserHomeDir()' },
          runbookSays: 'run ./oubliette beside config.yaml',
        },
        CONTAINER_RUNTIME: {
          default: 'auto',
          meaning: 'docker | apple-container | auto',
          cite: { file: 'internal/container/factory.go', line: 9 },
        },
        DOCKER_HOST: {
          meaning: 'the Docker API socket (Docker SDK client.FromEnv; docker/docker v28.0.4 client/options.go)',
          cite: { file: 'internal/container/docker/runtime.go', line: 30 },
        },
        OUBLIETTE_DEV: {
          meaning: '"1": local image names oubliette-base/dev:latest instead of ghcr.io (never set here)',
          cite: { file: 'internal/config/unified.go', line: 205 },
        },
        APPLE_CONTAINER_BINARY: {
          meaning: 'macOS only (never set here)',
          cite: { file: 'internal/container/applecontainer/runtime.go', line: 22 },
        },
        FACTORY_API_KEY: {
          meaning: 'Droid fallback when credentials.factory has no key, which Validate() already refuses: never reached (not set here)',
          cite: { file: 'internal/agent/droid/runtime.go', line: 50 },
          runbookSays: 'FACTORY_API_KEY (required)',
        },
      },
      files: [
        {
          path: OUB_APP_PATHS.configFile,
          format: 'JSONC (JSON with // and /* */ comments)',
          sections: ['server', 'credentials', 'defaults', 'models', 'containers'],
          required: true,
          cite: { file: 'cmd/server/main.go', line: '115-129', note: '"Oubliette not initialized" and exit 1 without it; then LoadAll + Validate (credentials.factory key required)' },
        },
      ],
      writablePaths: [
        { path: OUB_APP_PATHS.data, why: 'auth.db and schedules.db (SQLite)', cite: { file: 'internal/auth/store.go', line: 35, note: 'also internal/schedule/store.go:31' } },
        { path: OUB_APP_PATHS.projects, why: 'project workspaces, bind-mounted into session containers', cite: { file: 'cmd/server/main.go', line: 133 } },
        { path: OUB_APP_PATHS.logs, why: 'oubliette-YYYY-MM-DD.log (one file per day, opened at start)', cite: { file: 'internal/logger/logger.go', line: '38-46' } },
        { path: OUB_APP_PATHS.sockets, why: 'relay sockets per project', cite: { file: 'internal/mcp/connector.go', line: 13 } },
      ],
      secrets: [
        { what: 'Factory API key', as: 'credentials.factory.credentials.default.api_key in oubliette.jsonc', cite: { file: 'internal/config/credentials.go', line: '11-19' } },
        { what: 'GitHub token (optional)', as: 'credentials.github.credentials.default.token in oubliette.jsonc', cite: { file: 'internal/config/credentials.go', line: '23-31' } },
      ],
    },
  },
  metrics: {
    oubliette_requests_total: { type: 'counter', labels: ['method', 'path', 'status'], cite: { file: 'internal/metrics/metrics.go', line: '15-21', note: 'only /mcp requests pass the middleware (internal/mcp/server.go:234-235)' } },
    oubliette_request_duration_seconds: {
      type: 'histogram',
      labels: ['method', 'path'],
      // prometheus.DefBuckets
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      cite: { file: 'internal/metrics/metrics.go', line: '24-31' },
    },
    oubliette_active_sessions: { type: 'gauge', labels: ['project_id'], cite: { file: 'internal/metrics/metrics.go', line: '34-40', note: 'RecordSessionStart/End (line 140-147) from internal/session/active.go:368' } },
    oubliette_containers_running: { type: 'gauge', labels: [], cite: { file: 'internal/metrics/metrics.go', line: '43-48' } },
    oubliette_session_duration_seconds: {
      type: 'histogram',
      labels: ['project_id', 'status'],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      cite: { file: 'internal/metrics/metrics.go', line: '51-58' },
    },
    oubliette_event_buffer_drops_total: { type: 'counter', labels: ['session_id'], cite: { file: 'internal/metrics/metrics.go', line: '61-67' } },
    oubliette_projects_total: { type: 'gauge', labels: [], cite: { file: 'internal/metrics/metrics.go', line: '70-75' } },
    oubliette_tool_calls_total: { type: 'counter', labels: ['tool', 'status'], cite: { file: 'internal/metrics/metrics.go', line: '78-84' } },
  },
  assumptions: [
    'The image ghcr.io/acme/oubliette:1.6.0 is Dockerfile.server built at f19a278: CMD /app/oubliette, no USER (we run it as UID 1000 with every path it writes mounted).',
    'The Docker SDK (docker/docker v28.0.4) reads DOCKER_HOST in client.FromEnv: read in the SDK, not in the app.',
    `Session images come from the oubliette.jsonc "containers" map (default ghcr.io/hyphagroup/oubliette-{base,dev}:latest, internal/config/unified.go:179-189); the server pulls them through DOCKER_HOST.`,
  ],
};

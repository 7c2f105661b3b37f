/**
 * Oubliette — runbook `002_6b4e0b06bc314619.txt` (concerns OUB-1 … OUB-15): agent sessions in
 * containers, spawned by the server through a Docker API.
 *
 * | runbook section                          | where it lands                                                                 |
 * |------------------------------------------|--------------------------------------------------------------------------------|
 * | Health checks `/health`, `/ready`        | liveness `/health`, readiness + startup `/ready` on 8080 (oubliette.jsonc `server.address`) (OUB-1) |
 * | Metrics `/metrics`                       | ServiceMonitor `oubliette`, monitoring namespace allowed in on 8080 (OUB-1)    |
 * | Env `FACTORY_API_KEY`, `DEFAULT_GITHUB_TOKEN` | oubliette.jsonc `credentials.factory` / `.github` from Secrets `oubliette-factory` (required), `oubliette-github` (optional), written by init container `config` (OUB-2) |
 * | Config file (config.yaml)                | the app reads `~/.oubliette/config/oubliette.jsonc` (services/oub.contract.ts): ConfigMap `oubliette-config` holds it without secrets, checksum rolls pods (OUB-3) |
 * | Env defaults (`CONTAINER_RUNTIME`, `DEFAULT_MAX_*`) | `CONTAINER_RUNTIME` env; `DEFAULT_MAX_*` as oubliette.jsonc `defaults.limits`; apple-container refused (OUB-4) |
 * | Alert recommendations (3 alerts)         | PrometheusRule `oub`, group `oubliette`, the runbook's expr/for/severity/summary (OUB-5) |
 * | paths: projects, data, logs; backups     | four PersistentVolumeClaims `oubliette-*`; PrometheusRule `oub-disk` at 80 % / 90 % (OUB-6) |
 * | Backup verification; data corruption      | BackupCronJob `oub-projects` (tar.gz) and `oub-authdb` (SQLite `.backup`), retention 7, restore drills (OUB-7) |
 * | Log rotation (logrotate policy)          | ConfigMap `oubliette-logrotate` + daily CronJob `oubliette-logrotate` (OUB-8)  |
 * | Graceful shutdown (SIGTERM)              | grace = preStop + `drainSeconds` + runtime stop margin (OUB-9)                  |
 * | Container runtime (docker)               | rootful Docker-in-Docker native sidecar `runtime` under RuntimeClass sysbox-runc (privileged only without it), socket in `/tmp/oubliette-sockets`, reasoned exceptions, node pool (OUB-10) |
 * | Capacity planning (light/medium/heavy)   | presets in stacks/oub-config.ts: resources and claim sizes (sessions are 4G / 4 CPUs in the app) (OUB-11) |
 * | rate_limit, cleanup; database maintenance | compiled into the app at the runbook values (services/oub.contract.ts); weekly CronJob `oubliette-vacuum` (OUB-12) |
 * | Scaling: multiple instances, shared storage | replicas > 1 only with ReadWriteMany (stacks/oub-config.ts rules), PDB (OUB-13)     |
 * | Common commands: token create            | one-off Job `oubliette-admin-token-<hash>`, token written to the data volume, never logged (OUB-14) |
 * | Security incident: rotate FACTORY_API_KEY | rotation annotations of both Secrets on the pod template (OUB-15)              |
 *
 * ReadWriteOnce (the default): the claims attach to one node, so every CronJob and Job that mounts
 * one is scheduled beside the server pod (required pod affinity on `kubernetes.io/hostname`, plus
 * the node pool's tolerations) and the Deployment rolls out with `Recreate` (a surge pod on another
 * node could never attach them). ReadWriteMany (required for replicas > 1): no affinity, rolling
 * updates, a PDB.
 */
import { Chart, JsonPatch } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { Namespace } from '../components/namespace.js';
import { Workload, type EnvValue, type Toleration } from '../components/workload.js';
import { AllowList, DefaultDeny, type Rule as NetRule } from '../components/network-policy.js';
import { TlsIngress } from '../components/tls-ingress.js';
import { ConfigMap } from '../components/config-map.js';
import { PrometheusRules, ServiceMonitor, type AlertRule } from '../components/monitoring.js';
import { BackupCronJob, scheduleInterval } from '../components/backup.js';
import { checksum, exception, imagePullPolicy, literalEnv, parseLabel, restrictedContainerSecurity, selectorLabels, trace } from '../components/meta.js';
import { restrictedJobPod } from '../kube/security.js';
import { scheduledJob } from '../components/cron-job.js';
import { OUB_FACTORY_SECRET, OUB_GITHUB_SECRET, OUB_PRESETS, type OubSecretOrigin, type OubService } from '../stacks/oub-config.js';
import type { BuildContext, SecretHandle, SecretRequirement, ServiceModule } from './types.js';
import { ingressPeers } from './common.js';
import { OUB_APP_PATHS, OUB_HOME } from './oub.contract.js';
import { byteValue } from '../kube/quantity.js';

/** OUB-1: oubliette.jsonc `server.address` (the app's default, services/oub.contract.ts). */
export const OUB_PORT = 8080;
/** UID/GID of the server and the maintenance pods; the Docker socket's group, so the server can use it. */
export const OUB_UID = 1000;
/**
 * Where things live in the pods: where the app reads and writes them (services/oub.contract.ts,
 * `~/.oubliette` with HOME=/home/oubliette). The claims are mounted there.
 */
export const OUB_PATHS = {
  home: OUB_HOME,
  config: OUB_APP_PATHS.config,
  projects: OUB_APP_PATHS.projects,
  data: OUB_APP_PATHS.data,
  logs: OUB_APP_PATHS.logs,
  backups: OUB_APP_PATHS.backups,
  /** The app's relay sockets (a constant upstream); also where the runtime's Docker socket is. */
  sockets: OUB_APP_PATHS.sockets,
} as const;
export const OUB_DOCKER_HOST = `unix://${OUB_PATHS.sockets}/docker.sock`;
/** The runtime's daemon.json (ConfigMap `oubliette-docker`) and the data root of the inner dockerd. */
export const OUB_DOCKER_CONFIG_DIR = '/etc/stackbook-docker';
export const OUB_DOCKER_DATA_ROOT = '/var/lib/docker';
const NAME = 'oubliette';
/** The runtime container's own grace to stop session containers after the server has exited. */
export const OUB_RUNTIME_STOP_SECONDS = 20;
export const OUB_PRESTOP_SECONDS = 5;

/** OUB-6: the four claims and their mount paths. */
export const OUB_CLAIMS = ['projects', 'data', 'logs', 'backups'] as const;
export type OubClaim = (typeof OUB_CLAIMS)[number];
export const claimName = (c: OubClaim): string => `${NAME}-${c}`;

// ---------------------------------------------------------------------------------------------
// Alerts

/** OUB-5: the runbook's "Alert recommendations", verbatim (expr, for, severity, summary). */
export const OUB_RUNBOOK_ALERTS = [
  { alert: 'HighErrorRate', expr: 'rate(oubliette_requests_total{status=~"5.."}[5m]) > 0.1', for: '5m', severity: 'warning', summary: 'High error rate on Oubliette' },
  {
    alert: 'HighLatency',
    expr: 'histogram_quantile(0.95, rate(oubliette_request_duration_seconds_bucket[5m])) > 5',
    for: '5m',
    severity: 'warning',
    summary: 'High latency on Oubliette',
  },
  // The runbook writes `oubliette_active_sessions > 100`, but the gauge has one series per
  // project_id (internal/metrics/metrics.go:34-40 at f19a278): the total is their sum.
  { alert: 'TooManySessions', expr: 'sum(oubliette_active_sessions) > 100', for: '10m', severity: 'warning', summary: 'High number of active sessions' },
] as const;

const DESCRIPTIONS: Readonly<Record<(typeof OUB_RUNBOOK_ALERTS)[number]['alert'], string>> = {
  HighErrorRate:
    'More than 0.1 requests per second answered with 5xx for 5 minutes. Check the server logs (data/logs/oubliette-YYYY-MM-DD.log), the runtime container (docker info) and disk space (Sessions Failing, Container Startup Failures).',
  HighLatency:
    'p95 request latency above 5 s for 5 minutes. Check active sessions, CPU and memory of the pod and the runtime container, and whether cleanup is running (High Memory Usage).',
  TooManySessions:
    'More than 100 active sessions for 10 minutes. Check that cleanup runs (retention_minutes), lower max_agents / max_depth, or move to a larger capacity preset (Capacity Planning).',
};

/** OUB-5: the three runbook alerts with the annotations every house alert carries. */
export function oubAlerts(runbook: (anchor: string) => string): AlertRule[] {
  return OUB_RUNBOOK_ALERTS.map((a) => ({
    alert: a.alert,
    expr: a.expr,
    for: a.for,
    severity: a.severity,
    summary: a.summary,
    description: DESCRIPTIONS[a.alert],
    runbookUrl: runbook(a.alert.toLowerCase()),
    concerns: ['OUB-5'],
  }));
}

/** OUB-6: volume usage of the four claims (kubelet volume stats) at the runbook's warn / error percentages. */
export function oubDiskAlerts(p: { namespace: string; warnPercent: number; errorPercent: number; runbookUrl: string }): AlertRule[] {
  const sel = `namespace="${p.namespace}", persistentvolumeclaim=~"${NAME}-(${OUB_CLAIMS.join('|')})"`;
  const usage = `max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes{${sel}}) / max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{${sel}}) * 100`;
  return [
    {
      alert: 'OublietteDiskUsageWarning',
      expr: `${usage} > ${p.warnPercent}`,
      for: '5m',
      severity: 'warning',
      summary: `An Oubliette volume is more than ${p.warnPercent} % full`,
      description: `Claim {{ $labels.persistentvolumeclaim }} is above the runbook's disk_warn_percent (${p.warnPercent} %). Check df -h on projects/, that cleanup runs, and the backup retention; grow the claim or move to a larger capacity preset.`,
      runbookUrl: p.runbookUrl,
      concerns: ['OUB-6'],
    },
    {
      alert: 'OublietteDiskUsageError',
      expr: `${usage} > ${p.errorPercent}`,
      for: '5m',
      severity: 'critical',
      summary: `An Oubliette volume is more than ${p.errorPercent} % full`,
      description: `Claim {{ $labels.persistentvolumeclaim }} is above the runbook's disk_error_percent (${p.errorPercent} %): sessions and backups are about to fail. Free space (old projects, backups) or grow the claim now.`,
      runbookUrl: p.runbookUrl,
      concerns: ['OUB-6'],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Configuration

/** The effective sizes: the capacity preset with the explicit overrides applied (OUB-11). */
export function oubSizing(cfg: OubService) {
  const preset = OUB_PRESETS[cfg.capacity];
  return {
    server: cfg.resources ?? preset.server,
    runtime: cfg.runtime.resources ?? preset.runtime,
    runtimeStorage: cfg.runtime.storage ?? preset.runtimeStorage,
    storage: {
      projects: cfg.storage.projects ?? preset.storage.projects,
      data: cfg.storage.data ?? preset.storage.data,
      logs: cfg.storage.logs ?? preset.storage.logs,
      backups: cfg.storage.backups ?? preset.storage.backups,
    },
  };
}

/**
 * OUB-10: daemon.json of the inner dockerd: the socket the server uses (group OUB_UID, so the
 * non-root server can open it), the data root on its volume, no insecure registries, and the
 * mirror when air-gapped (its CA is mounted under /etc/docker/certs.d/<host:port>/).
 */
export function oubDaemonJson(registryHost: string | undefined): string {
  const doc = {
    hosts: [OUB_DOCKER_HOST],
    group: String(OUB_UID),
    'data-root': OUB_DOCKER_DATA_ROOT,
    'insecure-registries': [],
    ...(registryHost ? { 'registry-mirrors': [`https://${registryHost}`] } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Placeholders of oubliette.jsonc that the init container `config` replaces with Secret values. */
/** Where the config container reads the Factory key and GitHub token (projected Secret files). */
export const OUB_SECRETS_DIR = '/run/secrets/oubliette';
export const OUB_SECRET_PLACEHOLDERS = { factory: '@@OUBLIETTE_FACTORY_API_KEY@@', github: '@@OUBLIETTE_GITHUB_TOKEN@@' } as const;

/**
 * OUB-3: `~/.oubliette/config/oubliette.jsonc` as the app reads it at f19a278 (sections server,
 * credentials, defaults, containers; services/oub.contract.ts), WITHOUT secrets: the credentials
 * hold placeholders the init container `config` replaces with the Secrets' values. Plain JSON (a
 * subset of JSONC), deterministic key order.
 */
export function oubConfigJsonc(
  cfg: OubService,
  p: { backupIntervalHours: number; github: boolean; sessionImages?: { readonly base: string; readonly dev: string } },
): string {
  const credential = (key: 'api_key' | 'token', placeholder: string, secret: string) => ({
    default: 'default',
    credentials: { default: { [key]: placeholder, description: `Secret ${secret}` } },
  });
  const doc = {
    server: { address: `:${OUB_PORT}` },
    credentials: {
      factory: credential('api_key', OUB_SECRET_PLACEHOLDERS.factory, `${OUB_FACTORY_SECRET}/api-key`),
      ...(p.github ? { github: credential('token', OUB_SECRET_PLACEHOLDERS.github, `${OUB_GITHUB_SECRET}/token`) } : {}),
    },
    defaults: {
      limits: {
        max_recursion_depth: cfg.recursion.maxDepth,
        max_agents_per_session: cfg.recursion.maxAgents,
        max_cost_usd: cfg.recursion.maxCostUsd,
      },
      backup: {
        enabled: cfg.backup.appBackups,
        directory: OUB_PATHS.backups,
        retention: cfg.backup.retention,
        interval_hours: p.backupIntervalHours,
      },
    },
    // session images: relocated to the mirror when air-gapped (the app's default is ghcr.io/hyphagroup/oubliette-*:latest)
    ...(p.sessionImages ? { containers: { base: p.sessionImages.base, dev: p.sessionImages.dev } } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * OUB-2, OUB-3: writes oubliette.jsonc into the in-memory config volume: the ConfigMap's template
 * with each placeholder replaced by its Secret's value as a JSON string body (`\\` and `"`
 * escaped; a value with a control character, or empty, is refused). awk's index/substr, not
 * gsub or sed: no character of a value is special. The file is 0600, read-only for the server.
 * The values come from the Secrets mounted read-only as files (`$SECRETS_DIR/<NAME>`, issue 14
 * item 17), never from environment variables.
 */
export const OUB_CONFIG_SCRIPT = `set -eu
umask 077
fail() { echo "CONFIG FAILED: $*" >&2; exit 1; }
json() {
  v=$(cat "$SECRETS_DIR/$1" 2>/dev/null) || fail "$1 is not mounted in $SECRETS_DIR"
  [ -n "$v" ] || fail "$1 is empty"
  case "$v" in *[[:cntrl:]]*) fail "$1 holds a control character or a line break";; esac
  printf '%s' "$v" | sed -e 's/\\\\/\\\\\\\\/g' -e 's/"/\\\\"/g'
}
OUBLIETTE_FACTORY_JSON=$(json OUBLIETTE_FACTORY_API_KEY)
OUBLIETTE_GITHUB_JSON=""
if grep -q '${OUB_SECRET_PLACEHOLDERS.github}' "$TEMPLATE"; then OUBLIETTE_GITHUB_JSON=$(json OUBLIETTE_GITHUB_TOKEN); fi
export OUBLIETTE_FACTORY_JSON OUBLIETTE_GITHUB_JSON
awk -v F='${OUB_SECRET_PLACEHOLDERS.factory}' -v G='${OUB_SECRET_PLACEHOLDERS.github}' '
# one pass, earliest placeholder first: a value is never scanned again
function fill(s,   out, i, j, k, t, v) {
  out = ""
  while ((i = index(s, F)) > 0 || (j = index(s, G)) > 0) {
    j = index(s, G)
    if (i > 0 && (j == 0 || i < j)) { k = i; t = F; v = ENVIRON["OUBLIETTE_FACTORY_JSON"] } else { k = j; t = G; v = ENVIRON["OUBLIETTE_GITHUB_JSON"] }
    out = out substr(s, 1, k - 1) v
    s = substr(s, k + length(t))
  }
  return out s
}
{ print fill($0) }
' "$TEMPLATE" > "$CONFIG_DIR/.oubliette.jsonc.partial"
grep -q '@@OUBLIETTE_' "$CONFIG_DIR/.oubliette.jsonc.partial" && fail "a placeholder is left in oubliette.jsonc"
mv "$CONFIG_DIR/.oubliette.jsonc.partial" "$CONFIG_DIR/oubliette.jsonc"
echo "wrote $CONFIG_DIR/oubliette.jsonc ($(wc -c < "$CONFIG_DIR/oubliette.jsonc") bytes; secrets not logged)"
`;

// ---------------------------------------------------------------------------------------------
// Maintenance scripts (static text: configuration reaches them only through the environment)

/** OUB-8: the runbook's logrotate policy, for the logs volume. */
export const OUB_LOGROTATE_CONF = `${OUB_PATHS.logs}/*.log {
    daily
    rotate 7
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}
`;

/**
 * OUB-8: that policy with busybox tools (the pinned `backup-tools` alpine image has no logrotate):
 * `daily` (a state file: at most one rotation per UTC day), `rotate N` (read from the policy),
 * `compress` + `delaycompress` (the previous rotation is gzipped one run later), `missingok`,
 * `notifempty`, `copytruncate` (copy, then truncate in place: the server keeps its file handle).
 */
export const OUB_LOGROTATE_SCRIPT = `set -eu
CONF="$CONF_DIR/logrotate.conf"
ROTATE=$(sed -n 's/^[[:space:]]*rotate[[:space:]][[:space:]]*\\([0-9][0-9]*\\)[[:space:]]*$/\\1/p' "$CONF")
[ -n "$ROTATE" ] || { echo "LOGROTATE FAILED: no 'rotate N' in $CONF" >&2; exit 1; }
for d in daily compress delaycompress missingok notifempty copytruncate; do
  grep -q "^[[:space:]]*$d[[:space:]]*$" "$CONF" || { echo "LOGROTATE FAILED: $CONF lacks '$d', which this job implements" >&2; exit 1; }
done
TODAY=\${TODAY:-$(date -u +%Y-%m-%d)}
STATE="$LOG_DIR/.logrotate.state"
if [ "$(cat "$STATE" 2>/dev/null || true)" = "$TODAY" ]; then echo "daily: already rotated on $TODAY"; exit 0; fi
cd "$LOG_DIR"
found=0
for f in *.log; do
  [ -f "$f" ] || continue
  found=1
  if [ ! -s "$f" ]; then echo "notifempty: $f is empty, not rotated"; continue; fi
  rm -f "$f.$ROTATE.gz" "$f.$ROTATE"
  i=$((ROTATE - 1))
  while [ "$i" -ge 2 ]; do
    if [ -e "$f.$i.gz" ]; then mv "$f.$i.gz" "$f.$((i + 1)).gz"; fi
    i=$((i - 1))
  done
  if [ -e "$f.1" ]; then
    if [ "$ROTATE" -ge 2 ]; then gzip -c "$f.1" > "$f.2.gz.partial" && mv "$f.2.gz.partial" "$f.2.gz"; fi
    rm -f "$f.1"
  fi
  cp "$f" "$f.1"
  : > "$f"
  echo "rotated $f"
done
[ "$found" -eq 1 ] || echo "missingok: no *.log in $LOG_DIR"
echo "$TODAY" > "$STATE"
`;

/**
 * OUB-12: `sqlite3 auth.db "VACUUM;"` beside a running server: a busy timeout waits for the
 * server's write locks instead of failing, and the database must pass `integrity_check` before
 * and after (the verified daily backup is the runbook's "backup first").
 */
export const OUB_VACUUM_SCRIPT = `set -eu
DB="$DATA_DIR/auth.db"
if [ ! -f "$DB" ]; then echo "no database at $DB yet: nothing to vacuum"; exit 0; fi
sq() { sqlite3 -batch -cmd ".timeout $BUSY_TIMEOUT_MS" "$DB" "$1"; }
R=$(sq 'PRAGMA integrity_check;') || { echo "VACUUM FAILED: cannot open $DB" >&2; exit 1; }
[ "$R" = "ok" ] || { echo "VACUUM SKIPPED: integrity_check of $DB: $R" >&2; exit 1; }
BEFORE=$(wc -c < "$DB")
sq 'VACUUM;' || { echo "VACUUM FAILED: the database stayed locked for $BUSY_TIMEOUT_MS ms or VACUUM failed" >&2; exit 1; }
R=$(sq 'PRAGMA integrity_check;')
[ "$R" = "ok" ] || { echo "VACUUM FAILED: integrity_check after VACUUM: $R" >&2; exit 1; }
echo "vacuumed $DB: $BEFORE -> $(wc -c < "$DB") bytes"
`;

/**
 * OUB-14: `token create --name ops-admin --scope admin`, once. The printed token never reaches a
 * log: it goes to a 0600 file on the data volume (the operator reads it once with kubectl exec and
 * deletes it); the Job only logs where it is. Idempotent: an existing file or token is left alone.
 */
export const OUB_ADMIN_TOKEN_SCRIPT = `set -eu
umask 077
OUT="$DATA_DIR/bootstrap/ops-admin.token"
BIN=\${OUBLIETTE_BIN:-/app/oubliette}
if [ -s "$OUT" ]; then echo "ops-admin token already created ($OUT): nothing to do"; exit 0; fi
if "$BIN" token list 2>/dev/null | grep -q -w 'ops-admin'; then echo "a token named ops-admin exists: nothing to do"; exit 0; fi
mkdir -p "$DATA_DIR/bootstrap"
"$BIN" token create --name ops-admin --scope admin > "$OUT.partial" 2>/dev/null || { rm -f "$OUT.partial"; echo "token create failed" >&2; exit 1; }
[ -s "$OUT.partial" ] || { rm -f "$OUT.partial"; echo "token create printed nothing" >&2; exit 1; }
mv "$OUT.partial" "$OUT"
echo "ops-admin token written to $OUT (mode 0600, not logged): kubectl -n $NAMESPACE exec deploy/oubliette -c oubliette -- cat $OUT; then delete the file"
`;

// ---------------------------------------------------------------------------------------------
// Helpers

function q(v: string): k8s.Quantity {
  return k8s.Quantity.fromString(v);
}

/** A Secret requirement from the stack's origin for it (OUB-2). */
function secretRequirement(name: string, namespace: string, key: string, origin: OubSecretOrigin): SecretRequirement {
  return {
    name,
    namespace,
    keys: [key],
    source: origin.source,
    consumers: [NAME],
    ...(origin.source === 'vault' ? { vault: { path: origin.path, ...(origin.property ? { properties: { [key]: origin.property } } : {}) } } : {}),
    ...(origin.source === 'pulumi' ? { pulumi: { [key]: { configKey: origin.configKey } } } : {}),
    concerns: ['OUB-2', 'OUB-15'],
  };
}

const RESTRICTED = restrictedContainerSecurity();

const JOB_RESOURCES: k8s.ResourceRequirements = {
  requests: { cpu: q('50m'), memory: q('64Mi'), 'ephemeral-storage': q('64Mi') },
  limits: { cpu: q('500m'), memory: q('256Mi'), 'ephemeral-storage': q('1Gi') },
};

interface JobPod {
  readonly name: string;
  readonly image: string;
  readonly script: string;
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly { readonly volume: string; readonly path: string; readonly readOnly?: boolean }[];
  readonly volumes: readonly k8s.Volume[];
  readonly workingDir?: string;
}

// ---------------------------------------------------------------------------------------------
// The service

export const oub: ServiceModule = {
  key: 'oub',
  prefix: 'OUB',
  runbook: '002_6b4e0b06bc314619.txt',
  appConcerns: {
    'OUB-14':
      'Listing and revoking tokens (`token list`, `token revoke`, the security-incident loop) are app commands run with kubectl exec in the server container; the deployment provides the one-off ops-admin bootstrap Job, whose token is written to a 0600 file on the data volume and never logged.',
  },
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.oub!;
    const cluster = ctx.stack.cluster;
    const ns = cfg.namespace;
    const chart = new Chart(scope, 'oub', { disableResourceNameHashes: true });
    const sizing = oubSizing(cfg);
    const shared = cfg.storage.accessMode === 'ReadWriteMany';
    const runtimeClass = cfg.runtime.runtimeClassName;
    const privileged = runtimeClass === undefined;
    const tolerations: Toleration[] = (cfg.runtime.nodePool?.tolerations ?? []).map((t) => ({
      key: t.key,
      operator: t.operator,
      ...(t.value !== undefined ? { value: t.value } : {}),
      effect: t.effect,
    }));
    const serverLabels = selectorLabels(NAME);

    // OUB-10: the namespace is relaxed only as far as the runtime container needs, as a reviewed exception.
    new Namespace(chart, 'Namespace', {
      name: ns,
      podSecurity: privileged ? 'privileged' : 'baseline',
      exceptionReason: privileged
        ? `OUB-10: development without sysbox: the ${NAME} pod runs a rootful Docker daemon (container "runtime") that needs privileged to create the namespaces, cgroups and mounts of agent session containers; only Oubliette runs in this namespace${cfg.runtime.nodePool ? ', on its dedicated node pool' : ''}. Set runtime.runtimeClassName: sysbox-runc to drop privileged (baseline).`
        : `OUB-10: the Docker daemon (container "runtime") of the ${NAME} pod runs as root inside the user namespace RuntimeClass ${runtimeClass} gives the pod (root there is an unprivileged host UID); restricted refuses UID 0, baseline allows it. Not privileged, no privilege escalation, no added capabilities; only Oubliette runs in this namespace.`,
      concerns: ['OUB-10'],
    });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: ns, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });

    // OUB-2, OUB-15: Secrets, by reference; their rotation versions roll the pods.
    const factory: SecretHandle = ctx.requireSecret(secretRequirement(OUB_FACTORY_SECRET, ns, 'api-key', cfg.factoryApiKey ?? { source: 'existing' }));
    const github: SecretHandle | undefined = cfg.githubToken ? ctx.requireSecret(secretRequirement(OUB_GITHUB_SECRET, ns, 'token', cfg.githubToken)) : undefined;
    // OUB-10, X-12: the CA of the mirror registry, trusted by the inner dockerd (air-gapped stacks).
    const registryCa = cfg.runtime.registry?.caSecret;
    if (registryCa) {
      ctx.requireSecret({ name: registryCa.name, namespace: ns, keys: [registryCa.key], source: 'existing', consumers: [NAME], concerns: ['OUB-10'] });
    }

    // OUB-3: oubliette.jsonc without secrets; its checksum rolls the pods.
    const backupHours = Math.max(1, Math.round(scheduleInterval(cfg.backup.schedule) / 3600));
    const sessionImages = cfg.runtime.sessionImages ? { base: ctx.image(cfg.runtime.sessionImages.base), dev: ctx.image(cfg.runtime.sessionImages.dev) } : undefined;
    const config = new ConfigMap(chart, 'Config', {
      name: `${NAME}-config`,
      namespace: ns,
      data: { 'oubliette.jsonc': oubConfigJsonc(cfg, { backupIntervalHours: backupHours, github: github !== undefined, ...(sessionImages ? { sessionImages } : {}) }) },
      concerns: ['OUB-3', 'OUB-4', 'OUB-12'],
    });
    // OUB-10: the inner dockerd's daemon.json (socket, its group, data root, registry mirror when air-gapped).
    const registryHost = cluster.airgapped && cluster.registry ? cluster.registry.split('/')[0]! : undefined;
    const dockerConfig = new ConfigMap(chart, 'DockerConfig', {
      name: `${NAME}-docker`,
      namespace: ns,
      data: { 'daemon.json': oubDaemonJson(registryHost) },
      concerns: ['OUB-10'],
    });

    // OUB-6, OUB-11, OUB-13: the claims.
    for (const c of OUB_CLAIMS) {
        const pvc = new k8s.KubePersistentVolumeClaim(chart, `Claim-${c}`, {
          metadata: { name: claimName(c), namespace: ns, labels: { ...serverLabels, 'stackbook.io/volume': c } },
          spec: {
            accessModes: [cfg.storage.accessMode],
            ...(cfg.storage.storageClass ? { storageClassName: cfg.storage.storageClass } : {}),
            resources: { requests: { storage: q(sizing.storage[c]) } },
          },
        });
        trace(pvc, 'OUB-6', 'OUB-11', 'OUB-13');
    }

    // OUB-4: the server's environment: only what the app reads (services/oub.contract.ts).
    const env: Record<string, EnvValue> = {
      HOME: OUB_PATHS.home,
      CONTAINER_RUNTIME: cfg.runtime.preference,
      DOCKER_HOST: OUB_DOCKER_HOST,
    };
    const grace = OUB_PRESTOP_SECONDS + cfg.drainSeconds + OUB_RUNTIME_STOP_SECONDS;
    const nodeSelector = cfg.runtime.nodePool?.nodeSelector;
    const app = new Workload(chart, 'Server', {
      name: NAME,
      namespace: ns,
      image: ctx.image(cfg.image),
      port: OUB_PORT,
      env,
      contract: 'oub/oubliette',
      liveness: { path: '/health' },
      readiness: { path: '/ready' },
      resources: sizing.server,
      replicas: cfg.replicas,
      runAsUser: OUB_UID,
      terminationGracePeriodSeconds: grace,
      preStopSleepSeconds: OUB_PRESTOP_SECONDS,
      writablePaths: [
        { path: '/tmp', sizeLimit: '256Mi' },
        { path: OUB_PATHS.sockets, sizeLimit: '16Mi' },
        // data/ holds auth.db and schedules.db; projects/ and logs/ are their own claims inside it
        { path: OUB_PATHS.data, claimName: claimName('data') },
        { path: OUB_PATHS.projects, claimName: claimName('projects') },
        { path: OUB_PATHS.logs, claimName: claimName('logs') },
        ...(cfg.backup.appBackups ? [{ path: OUB_PATHS.backups, claimName: claimName('backups') }] : []),
      ],
      podAnnotations: {
        ...config.annotation,
        ...dockerConfig.annotation,
        ...factory.annotations,
        ...(github?.annotations ?? {}),
        // Sysbox on CRI-O: the pod gets its own user namespace of 65536 IDs
        ...(privileged ? {} : { 'io.kubernetes.cri-o.userns-mode': 'auto:size=65536' }),
      },
      ...(nodeSelector ? { nodeSelector } : {}),
      ...(tolerations.length > 0 ? { tolerations } : {}),
      concerns: [],
    });
    const d = app.deployment;
    trace(d, 'OUB-1', 'OUB-2', 'OUB-3', 'OUB-4', 'OUB-6', 'OUB-9', 'OUB-10', 'OUB-11', 'OUB-13', 'OUB-15');
    trace(app.service, 'OUB-1');

    // OUB-2, OUB-3: oubliette.jsonc, written with the Secrets' values by the init container
    // `config` into an in-memory volume, read-only for the server at ~/.oubliette/config.
    for (const v of [
      { name: 'config', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
      { name: 'config-template', configMap: { name: config.name } },
      { name: 'docker-config', configMap: { name: dockerConfig.name } },
    ]) {
      d.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes/-', v));
    }
    d.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/volumeMounts/-', { name: 'config', mountPath: OUB_PATHS.config, readOnly: true }));
    const configContainer = {
      name: 'config',
      image: ctx.platformImage('backup-tools'),
      imagePullPolicy: imagePullPolicy(ctx.platformImage('backup-tools')),
      command: ['/bin/sh', '-ec', OUB_CONFIG_SCRIPT],
      env: [
        { name: 'CONFIG_DIR', value: OUB_PATHS.config },
        { name: 'TEMPLATE', value: '/etc/oubliette-template/oubliette.jsonc' },
        { name: 'SECRETS_DIR', value: OUB_SECRETS_DIR },
      ],
      resources: {
        requests: { cpu: '50m', memory: '32Mi', 'ephemeral-storage': '16Mi' },
        limits: { cpu: '200m', memory: '64Mi', 'ephemeral-storage': '64Mi' },
      },
      securityContext: RESTRICTED,
      volumeMounts: [
        { name: 'config', mountPath: OUB_PATHS.config },
        { name: 'config-template', mountPath: '/etc/oubliette-template', readOnly: true },
        { name: 'secrets', mountPath: OUB_SECRETS_DIR, readOnly: true },
      ],
    };
    // The Secrets as files for the config container only (issue 14 item 17).
    const secretFile = (path: string, v: EnvValue) => {
      if (typeof v !== 'object' || !('secret' in v)) throw new Error(`oub: ${path} must come from a Secret`);
      return { secret: { name: v.secret.name, items: [{ key: v.secret.key, path }] } };
    };
    d.addJsonPatch(
      JsonPatch.add('/spec/template/spec/volumes/-', {
        name: 'secrets',
        projected: {
          defaultMode: 0o440,
          sources: [secretFile('OUBLIETTE_FACTORY_API_KEY', factory.env('api-key')), ...(github ? [secretFile('OUBLIETTE_GITHUB_TOKEN', github.env('token'))] : [])],
        },
      }),
    );
    // Large claims: change their group ownership only when the root does not match.
    d.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/fsGroupChangePolicy', 'OnRootMismatch'));
    // OUB-13: one node mounts ReadWriteOnce claims: stop the old pod before the new one starts.
    if (!shared) d.addJsonPatch(JsonPatch.replace('/spec/strategy', { type: 'Recreate' }));
    if (runtimeClass) d.addJsonPatch(JsonPatch.add('/spec/template/spec/runtimeClassName', runtimeClass));

    // OUB-10: the container runtime, a rootful Docker daemon as a native sidecar (an init container
    // with restartPolicy Always): started and ready (startup probe) before the server, stopped after
    // it. Under sysbox-runc the pod has its own user namespace (CRI-O userns-mode auto, 65536 IDs):
    // root in it is an unprivileged host UID, and Sysbox's guidance for Docker-in-Docker is rootful
    // dockerd with /var/lib/docker on a volume (a rootless daemon would need a nested user namespace
    // with subordinate IDs outside the pod's 65536, which Sysbox does not allow). Without a
    // RuntimeClass (development only) the container is privileged instead.
    const rt = sizing.runtime;
    const runtimeContainer = {
      name: 'runtime',
      image: ctx.image(cfg.runtime.image),
      imagePullPolicy: imagePullPolicy(ctx.image(cfg.runtime.image)),
      restartPolicy: 'Always',
      // the image's `dind` wrapper (cgroup v2 nesting) around dockerd, without the entrypoint's
      // default `--host=tcp://0.0.0.0:2375`: every daemon setting is in daemon.json
      command: ['dind', 'dockerd', `--config-file=${OUB_DOCKER_CONFIG_DIR}/daemon.json`],
      env: [{ name: 'DOCKER_HOST', value: OUB_DOCKER_HOST }],
      resources: {
        requests: { cpu: rt.cpuRequest, memory: rt.memoryRequest, 'ephemeral-storage': '1Gi' },
        // the data root (emptyDir) counts against the pod's ephemeral storage
        limits: { cpu: rt.cpuLimit, memory: rt.memoryLimit, 'ephemeral-storage': `${gibibytes(sizing.runtimeStorage) + 2}Gi` },
      },
      securityContext: privileged
        ? { runAsUser: 0, runAsNonRoot: false, privileged: true, allowPrivilegeEscalation: true, readOnlyRootFilesystem: true }
        : {
            // root of the pod's user namespace (sysbox), not of the node
            runAsUser: 0,
            runAsNonRoot: false,
            privileged: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            seccompProfile: { type: 'RuntimeDefault' },
          },
      startupProbe: { exec: { command: ['docker', 'info'] }, periodSeconds: 2, timeoutSeconds: 5, failureThreshold: 60 },
      readinessProbe: { exec: { command: ['docker', 'info'] }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 2 },
      livenessProbe: { exec: { command: ['docker', 'version'] }, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 3 },
      volumeMounts: [
        { name: 'runtime-data', mountPath: OUB_DOCKER_DATA_ROOT },
        { name: 'runtime-run', mountPath: '/run' },
        { name: 'runtime-tmp', mountPath: '/tmp' },
        { name: 'docker-config', mountPath: OUB_DOCKER_CONFIG_DIR, readOnly: true },
        ...(registryCa && registryHost ? [{ name: 'registry-ca', mountPath: `/etc/docker/certs.d/${registryHost}`, readOnly: true }] : []),
        { name: volumeName(OUB_PATHS.sockets), mountPath: OUB_PATHS.sockets },
        // session containers bind-mount project directories: the daemon must see them at the same path
        { name: volumeName(OUB_PATHS.projects), mountPath: OUB_PATHS.projects },
      ],
    };
    d.addJsonPatch(JsonPatch.add('/spec/template/spec/initContainers', [configContainer, runtimeContainer]));
    for (const v of [
      { name: 'runtime-data', emptyDir: { sizeLimit: sizing.runtimeStorage } },
      { name: 'runtime-run', emptyDir: { sizeLimit: '64Mi' } },
      { name: 'runtime-tmp', emptyDir: { sizeLimit: '1Gi' } },
      ...(registryCa ? [{ name: 'registry-ca', secret: { secretName: registryCa.name, items: [{ key: registryCa.key, path: 'ca.crt' }] } }] : []),
    ]) {
      d.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes/-', v));
    }
    exception(
      d,
      'pod-security-restricted',
      privileged
        ? `OUB-10: development without sysbox: only the native sidecar "runtime" (rootful Docker daemon) runs as root and privileged (and so may escalate): dockerd creates the namespaces, cgroups and mounts of agent session containers. The server and config containers stay restricted. The namespace${cfg.runtime.nodePool ? ' and the node pool are' : ' is'} dedicated to Oubliette; set runtime.runtimeClassName: sysbox-runc to drop privileged.`
        : `OUB-10: only the native sidecar "runtime" (rootful Docker daemon, RuntimeClass ${runtimeClass}) runs as UID 0, which restricted refuses: it is root of the pod's own user namespace (sysbox, userns-mode auto:size=65536), an unprivileged UID on the node. Not privileged, no privilege escalation, no added capabilities, read-only root filesystem. The server and config containers stay restricted.`,
    );

    if (cfg.replicas > 1) {
      const pdb = new k8s.KubePodDisruptionBudget(chart, 'Pdb', {
        metadata: { name: NAME, namespace: ns },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...serverLabels } } },
      });
      trace(pdb, 'X-2', 'OUB-13');
    }

    // OUB-1: who may talk to the server; where sessions may go.
    const egress: NetRule[] = cfg.egress.map((e) => ({ peers: [{ cidr: e.cidr, ...(e.except ? { except: e.except } : {}) }], ports: e.ports.map((port) => ({ port })) }));
    // OUB-10, X-12: the inner dockerd pulls session images from the mirror registry (its host's port).
    if (cfg.runtime.registry && registryHost) {
      egress.push({ peers: cfg.runtime.registry.cidrs.map((cidr) => ({ cidr })), ports: [{ port: registryPort(registryHost) }] });
    }
    const allow = new AllowList(chart, 'AllowList', {
      name: NAME,
      namespace: ns,
      pods: serverLabels,
      ingress: [
        { peers: ingressPeers(cluster), ports: [{ port: OUB_PORT }] },
        { peers: [{ namespace: cluster.monitoringNamespace }], ports: [{ port: OUB_PORT }] },
      ],
      ...(egress.length > 0 ? { egress } : {}),
    });
    trace(allow.policy, 'OUB-1', 'OUB-10');

    new TlsIngress(chart, 'Ingress', {
      name: NAME,
      namespace: ns,
      host: `${cfg.host}.${cluster.domain}`,
      serviceName: app.name,
      servicePort: OUB_PORT,
      ingressClass: cluster.ingressClass,
      ...(cluster.ingressClassName ? { className: cluster.ingressClassName } : {}),
      exposure: cluster.exposure,
      clusterIssuer: ctx.clusterIssuer,
      // Only the MCP endpoint is public: /health, /ready and /metrics stay inside the cluster.
      paths: ['/mcp'],
      timeoutSeconds: 300,
      concerns: ['OUB-1'],
    });

    new ServiceMonitor(chart, 'Metrics', {
      name: NAME,
      namespace: ns,
      selector: app.selector,
      path: '/metrics',
      prometheusSelector: cluster.prometheusSelector,
      concerns: ['OUB-1'],
    });
    new PrometheusRules(chart, 'Alerts', {
      name: 'oub',
      namespace: ns,
      group: 'oubliette',
      rules: oubAlerts((a) => ctx.runbookUrl('oub', a)),
      prometheusSelector: cluster.prometheusSelector,
      contract: 'oub',
    });
    new PrometheusRules(chart, 'DiskAlerts', {
      name: 'oub-disk',
      namespace: ns,
      rules: oubDiskAlerts({
        namespace: ns,
        warnPercent: cfg.cleanup.diskWarnPercent,
        errorPercent: cfg.cleanup.diskErrorPercent,
        runbookUrl: ctx.runbookUrl('oub', 'disk-usage'),
      }),
      prometheusSelector: cluster.prometheusSelector,
    });

    // Pods that mount a ReadWriteOnce claim run beside the server, on its (tainted) node.
    const colocate = shared ? undefined : serverLabels;
    const affinity: k8s.Affinity | undefined = colocate
      ? { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { ...colocate } }, topologyKey: 'kubernetes.io/hostname' }] } }
      : undefined;

    // OUB-7: daily verified backups with restore drills and alerts.
    const backupCommon = {
      namespace: ns,
      schedule: cfg.backup.schedule,
      drillSchedule: cfg.backup.drillSchedule,
      retention: cfg.backup.retention,
      target: { kind: 'pvc' as const, claimName: claimName('backups') },
      runbookUrl: ctx.runbookUrl('oub', 'backups'),
      runAsUser: OUB_UID,
      ...(colocate ? { colocateWith: colocate } : {}),
      ...(tolerations.length > 0 ? { tolerations } : {}),
      prometheusSelector: cluster.prometheusSelector,
      dnsNamespace: cluster.dns.namespace,
      dnsPodLabel: cluster.dns.podLabel,
      concerns: ['OUB-7'],
    };
    new BackupCronJob(chart, 'ProjectsBackup', {
      ...backupCommon,
      name: 'oub-projects',
      source: { kind: 'pvc-tarball', claimName: claimName('projects') },
      images: { tools: ctx.platformImage('backup-tools') },
      // issue 14.9: the archive streams into the backups claim, never staged on the node's disk
      // (workSize now sizes only the weekly restore drill's scratch copy)
      stream: true,
      workSize: `${gibibytes(sizing.storage.projects)}Gi`,
    });
    new BackupCronJob(chart, 'AuthDbBackup', {
      ...backupCommon,
      name: 'oub-authdb',
      source: { kind: 'sqlite', claimName: claimName('data'), path: 'auth.db' },
      images: { sqlite: ctx.platformImage('backup-sqlite'), tools: ctx.platformImage('backup-tools') },
    });

    // OUB-8, OUB-12, OUB-14: maintenance pods, hardened like the server, no API token, DNS only.
    const maintenanceSa = new k8s.KubeServiceAccount(chart, 'MaintenanceServiceAccount', {
      metadata: { name: `${NAME}-maintenance`, namespace: ns, labels: selectorLabels(`${NAME}-maintenance`) },
      automountServiceAccountToken: false,
    });
    trace(maintenanceSa, 'X-1', 'OUB-8', 'OUB-12', 'OUB-14');
    const dnsPods = parseLabel('oub', ns, 'cluster.dns.podLabel', cluster.dns.podLabel);
    const podSpec = (p: JobPod): k8s.PodSpec => ({
      ...restrictedJobPod('oub', p.name, { serviceAccountName: maintenanceSa.name, uid: OUB_UID }),
      ...(affinity ? { affinity } : {}),
      ...(tolerations.length > 0 ? { tolerations: tolerations.map((t) => ({ ...t })) } : {}),
      containers: [
        {
          name: p.name,
          image: p.image,
          imagePullPolicy: imagePullPolicy(p.image),
          command: ['/bin/sh', '-ec', p.script],
          ...(p.workingDir ? { workingDir: p.workingDir } : {}),
          env: Object.keys(p.env)
            .sort()
            .map((name) => literalEnv(name, p.env[name]!)),
          resources: JOB_RESOURCES,
          securityContext: RESTRICTED,
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...p.mounts.map((m) => ({ name: m.volume, mountPath: m.path, ...(m.readOnly ? { readOnly: true } : {}) }))],
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: { sizeLimit: q('256Mi') } }, ...p.volumes],
    });
    const podPolicy = (name: string, ...concerns: string[]) => {
      const a = new AllowList(chart, `Policy-${name}`, {
        name,
        namespace: ns,
        pods: selectorLabels(name),
        egress: [{ peers: [{ namespace: cluster.dns.namespace, pods: dnsPods }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }],
      });
      trace(a.policy, ...concerns);
    };
    const maintenanceCronJob = (id: string, name: string, schedule: string, p: JobPod, concerns: string[]) => {
      const labels = selectorLabels(name);
      const cj = scheduledJob(chart, id, {
        name,
        namespace: ns,
        labels,
        schedule,
        timeZone: 'Etc/UTC',
        startingDeadlineSeconds: 600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        backoffLimit: 2,
        activeDeadlineSeconds: 1800,
        ttlSecondsAfterFinished: 172800,
        pod: podSpec(p),
      });
      trace(cj, 'X-1', ...concerns);
      podPolicy(name, ...concerns);
      return cj;
    };

    // OUB-8: the runbook's logrotate policy, daily, on the logs volume.
    const logrotate = new ConfigMap(chart, 'Logrotate', {
      name: `${NAME}-logrotate`,
      namespace: ns,
      data: { 'logrotate.conf': OUB_LOGROTATE_CONF },
      concerns: ['OUB-8'],
    });
    maintenanceCronJob('LogRotate', `${NAME}-logrotate`, cfg.maintenance.logRotateSchedule, {
      name: 'logrotate',
      image: ctx.platformImage('backup-tools'),
      script: OUB_LOGROTATE_SCRIPT,
      env: { CONF_DIR: '/etc/logrotate.d/oubliette', LOG_DIR: OUB_PATHS.logs },
      mounts: [
        { volume: 'policy', path: '/etc/logrotate.d/oubliette', readOnly: true },
        { volume: 'logs', path: OUB_PATHS.logs },
      ],
      volumes: [
        { name: 'policy', configMap: { name: logrotate.name } },
        { name: 'logs', persistentVolumeClaim: { claimName: claimName('logs') } },
      ],
    }, ['OUB-8']);

    // OUB-12: weekly VACUUM of auth.db beside the running server.
    maintenanceCronJob('Vacuum', `${NAME}-vacuum`, cfg.maintenance.vacuumSchedule, {
      name: 'vacuum',
      image: ctx.platformImage('backup-sqlite'),
      script: OUB_VACUUM_SCRIPT,
      env: { DATA_DIR: OUB_PATHS.data, BUSY_TIMEOUT_MS: '60000', SQLITE_TMPDIR: '/tmp' },
      mounts: [{ volume: 'data', path: OUB_PATHS.data }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claimName('data') } }],
    }, ['OUB-12']);

    // OUB-14: the admin token, once.
    if (cfg.adminBootstrap) {
      const image = ctx.image(cfg.image);
      const name = `${NAME}-admin-token-${checksum({ image, script: OUB_ADMIN_TOKEN_SCRIPT, config: config.checksum }).slice(0, 8)}`;
      const labels = selectorLabels(`${NAME}-admin-token`);
      const job = new k8s.KubeJob(chart, 'AdminToken', {
        metadata: { name, namespace: ns, labels },
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: 600,
          ttlSecondsAfterFinished: 86400,
          template: {
            metadata: { labels },
            spec: podSpec(
              {
                name: 'token',
                image,
                script: OUB_ADMIN_TOKEN_SCRIPT,
                // `token` opens $HOME/.oubliette/data/auth.db (cmd/server/main.go:975-983 at f19a278): the data claim is mounted there
                env: { DATA_DIR: OUB_PATHS.data, NAMESPACE: ns, HOME: OUB_PATHS.home },
                mounts: [{ volume: 'data', path: OUB_PATHS.data }],
                volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claimName('data') } }],
              },
            ),
          },
        },
      });
      trace(job, 'X-1', 'OUB-14');
      podPolicy(`${NAME}-admin-token`, 'OUB-14');
    }
  },
};

/** The port of a registry host (`host:5000`), 443 without one. */
export function registryPort(host: string): number {
  const m = /:(\d+)$/.exec(host);
  return m ? Number(m[1]) : 443;
}

/** A byte quantity in whole GiB (rounded up). */
function gibibytes(v: string): number {
  const bytes = byteValue(v) ?? 2 ** 30;
  return Math.max(1, Math.ceil(bytes / 2 ** 30));
}

/** components/workload.ts names a writable path's volume after the path. */
function volumeName(path: string): string {
  const n = path.replace(/^\/+/, '').replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/-+$/, '');
  return n.length === 0 ? 'root' : n.slice(0, 63);
}

/**
 * Oubliette — runbook `002_6b4e0b06bc314619.txt` (concerns OUB-1 … OUB-15): agent sessions in
 * containers, spawned by the server through a Docker API.
 *
 * | runbook section                          | where it lands                                                                 |
 * |------------------------------------------|--------------------------------------------------------------------------------|
 * | Health checks `/health`, `/ready`        | liveness `/health`, readiness + startup `/ready` on `SERVER_ADDR=:8080` (OUB-1) |
 * | Metrics `/metrics`                       | ServiceMonitor `oubliette`, monitoring namespace allowed in on 8080 (OUB-1)    |
 * | Env `FACTORY_API_KEY`, `DEFAULT_GITHUB_TOKEN` | env from Secrets `oubliette-factory` (required source, rules), `oubliette-github` (optional) (OUB-2) |
 * | Config file (config.yaml)                | ConfigMap `oubliette-config` without `auth:`, mounted read-only, checksum rolls pods (OUB-3) |
 * | Env defaults (`CONTAINER_RUNTIME`, `DEFAULT_MAX_*`) | env literals from typed, range-checked config; apple-container refused (OUB-4) |
 * | Alert recommendations (3 alerts)         | PrometheusRule `oub`, group `oubliette`, the runbook's expr/for/severity/summary (OUB-5) |
 * | paths: projects, data, logs; backups     | four PersistentVolumeClaims `oubliette-*`; PrometheusRule `oub-disk` at 80 % / 90 % (OUB-6) |
 * | Backup verification; data corruption      | BackupCronJob `oub-projects` (tar.gz) and `oub-authdb` (SQLite `.backup`), retention 7, restore drills (OUB-7) |
 * | Log rotation (logrotate policy)          | ConfigMap `oubliette-logrotate` + daily CronJob `oubliette-logrotate` (OUB-8)  |
 * | Graceful shutdown (SIGTERM)              | grace = preStop + `drainSeconds` + runtime stop margin (OUB-9)                  |
 * | Container runtime (docker)               | rootless Docker-in-Docker native sidecar `runtime`, socket in `/tmp/oubliette-sockets`, reasoned exceptions, node pool, optional RuntimeClass (OUB-10) |
 * | Capacity planning (light/medium/heavy)   | presets in stacks/oub.ts: resources, session size, claim sizes (OUB-11)        |
 * | rate_limit, cleanup; database maintenance | config.yaml `rate_limit`/`cleanup`; weekly CronJob `oubliette-vacuum` (OUB-12) |
 * | Scaling: multiple instances, shared storage | replicas > 1 only with ReadWriteMany (stacks/oub.ts rules), PDB (OUB-13)     |
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
import { OUB_FACTORY_SECRET, OUB_GITHUB_SECRET, OUB_PRESETS, type OubSecretOrigin, type OubService } from '../stacks/oub.js';
import type { BuildContext, SecretHandle, SecretRequirement, ServiceModule } from './types.js';
import { ingressPeers } from './common.js';

/** OUB-1: `SERVER_ADDR=:8080`. */
export const OUB_PORT = 8080;
/** UID/GID of every Oubliette pod: the rootless Docker user of the runtime image, so both containers share the socket and the files. */
export const OUB_UID = 1000;
/** Where things live in the pods (absolute, so config.yaml does not depend on the working directory). */
export const OUB_PATHS = {
  config: '/etc/oubliette',
  projects: '/var/lib/oubliette/projects',
  data: '/var/lib/oubliette/data',
  logs: '/var/lib/oubliette/logs',
  backups: '/var/lib/oubliette/backups',
  /** The runbook's `paths.sockets`: also where the runtime's Docker socket is. */
  sockets: '/tmp/oubliette-sockets',
} as const;
export const OUB_DOCKER_HOST = `unix://${OUB_PATHS.sockets}/docker.sock`;
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
  { alert: 'TooManySessions', expr: 'oubliette_active_sessions > 100', for: '10m', severity: 'warning', summary: 'High number of active sessions' },
] as const;

const DESCRIPTIONS: Readonly<Record<(typeof OUB_RUNBOOK_ALERTS)[number]['alert'], string>> = {
  HighErrorRate:
    'More than 0.1 requests per second answered with 5xx for 5 minutes. Check the server logs (logs/oubliette.log), the runtime container (docker info) and disk space (Sessions Failing, Container Startup Failures).',
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
    session: { cpus: cfg.runtime.sessionCpus ?? preset.session.cpus, memory: cfg.runtime.sessionMemory ?? preset.session.memory },
    storage: {
      projects: cfg.storage.projects ?? preset.storage.projects,
      data: cfg.storage.data ?? preset.storage.data,
      logs: cfg.storage.logs ?? preset.storage.logs,
      backups: cfg.storage.backups ?? preset.storage.backups,
    },
  };
}

/** A float the way the runbook writes it (`10.0`). */
const float = (n: number): string => (Number.isInteger(n) ? n.toFixed(1) : String(n));
const str = (s: string): string => JSON.stringify(s);

/**
 * OUB-3: config.yaml, section by section as the runbook writes it, WITHOUT `auth:` (the keys come
 * from Secrets through the environment). Hours between the platform's backups come from its schedule.
 */
export function oubConfigYaml(cfg: OubService, backupIntervalHours: number): string {
  const s = oubSizing(cfg);
  return `server:
  address: ":${OUB_PORT}"

runtime:
  preference: ${str(cfg.runtime.preference)}
  memory: ${str(s.session.memory)}
  cpus: ${s.session.cpus}

recursion:
  max_depth: ${cfg.recursion.maxDepth}
  max_agents: ${cfg.recursion.maxAgents}
  max_cost_usd: ${float(cfg.recursion.maxCostUsd)}

rate_limit:
  requests_per_second: ${float(cfg.rateLimit.requestsPerSecond)}
  burst: ${cfg.rateLimit.burst}

cleanup:
  enabled: ${cfg.cleanup.enabled}
  interval_minutes: ${cfg.cleanup.intervalMinutes}
  retention_minutes: ${cfg.cleanup.retentionMinutes}
  disk_warn_percent: ${cfg.cleanup.diskWarnPercent}
  disk_error_percent: ${cfg.cleanup.diskErrorPercent}

backup:
  enabled: ${cfg.backup.appBackups}
  interval_hours: ${backupIntervalHours}
  retention: ${cfg.backup.retention}
  directory: ${str(`${OUB_PATHS.backups}/app`)}

paths:
  projects: ${str(OUB_PATHS.projects)}
  data: ${str(OUB_PATHS.data)}
  logs: ${str(OUB_PATHS.logs)}
  sockets: ${str(OUB_PATHS.sockets)}
`;
}

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
if [ -s "$OUT" ]; then echo "ops-admin token already created ($OUT): nothing to do"; exit 0; fi
if oubliette token list 2>/dev/null | grep -q -w 'ops-admin'; then echo "a token named ops-admin exists: nothing to do"; exit 0; fi
mkdir -p "$DATA_DIR/bootstrap"
oubliette token create --name ops-admin --scope admin > "$OUT.partial" 2>/dev/null || { rm -f "$OUT.partial"; echo "token create failed" >&2; exit 1; }
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
        ? `OUB-10: the ${NAME} pod runs a rootless Docker daemon (container "runtime") that needs privileged to create the user namespaces and mounts of agent session containers; only Oubliette runs in this namespace${cfg.runtime.nodePool ? ', on its dedicated node pool' : ''}. Set runtime.runtimeClassName (sysbox-runc) to drop privileged (baseline).`
        : `OUB-10: the rootless Docker daemon (container "runtime") of the ${NAME} pod runs under RuntimeClass ${runtimeClass} without privileged, but needs allowPrivilegeEscalation and SETUID/SETGID for its setuid newuidmap/newgidmap helpers (baseline allows them, restricted does not); only Oubliette runs in this namespace.`,
      concerns: ['OUB-10'],
    });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: ns, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });

    // OUB-2, OUB-15: Secrets, by reference; their rotation versions roll the pods.
    const factory: SecretHandle = ctx.requireSecret(secretRequirement(OUB_FACTORY_SECRET, ns, 'api-key', cfg.factoryApiKey ?? { source: 'existing' }));
    const github: SecretHandle | undefined = cfg.githubToken ? ctx.requireSecret(secretRequirement(OUB_GITHUB_SECRET, ns, 'token', cfg.githubToken)) : undefined;

    // OUB-3: config.yaml without secrets; its checksum rolls the pods.
    const backupHours = Math.max(1, Math.round(scheduleInterval(cfg.backup.schedule) / 3600));
    const config = new ConfigMap(chart, 'Config', {
      name: `${NAME}-config`,
      namespace: ns,
      data: { 'config.yaml': oubConfigYaml(cfg, backupHours) },
      concerns: ['OUB-3', 'OUB-4', 'OUB-12'],
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

    // OUB-1, OUB-2, OUB-4: the server's environment.
    const env: Record<string, EnvValue> = {
      SERVER_ADDR: `:${OUB_PORT}`,
      CONTAINER_RUNTIME: cfg.runtime.preference,
      DEFAULT_MAX_RECURSION_DEPTH: String(cfg.recursion.maxDepth),
      DEFAULT_MAX_AGENTS_PER_SESSION: String(cfg.recursion.maxAgents),
      DEFAULT_MAX_COST_USD: cfg.recursion.maxCostUsd.toFixed(2),
      DOCKER_HOST: OUB_DOCKER_HOST,
      FACTORY_API_KEY: factory.env('api-key'),
      ...(github ? { DEFAULT_GITHUB_TOKEN: github.env('token') } : {}),
    };
    const grace = OUB_PRESTOP_SECONDS + cfg.drainSeconds + OUB_RUNTIME_STOP_SECONDS;
    const nodeSelector = cfg.runtime.nodePool?.nodeSelector;
    const app = new Workload(chart, 'Server', {
      name: NAME,
      namespace: ns,
      image: ctx.image(cfg.image),
      port: OUB_PORT,
      args: ['-config', `${OUB_PATHS.config}/config.yaml`],
      env,
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
        { path: OUB_PATHS.projects, claimName: claimName('projects') },
        { path: OUB_PATHS.data, claimName: claimName('data') },
        { path: OUB_PATHS.logs, claimName: claimName('logs') },
        ...(cfg.backup.appBackups ? [{ path: OUB_PATHS.backups, claimName: claimName('backups') }] : []),
      ],
      podAnnotations: { ...config.annotation, ...factory.annotations, ...(github?.annotations ?? {}) },
      ...(nodeSelector ? { nodeSelector } : {}),
      ...(tolerations.length > 0 ? { tolerations } : {}),
      concerns: [],
    });
    const d = app.deployment;
    trace(d, 'OUB-1', 'OUB-2', 'OUB-3', 'OUB-4', 'OUB-6', 'OUB-9', 'OUB-10', 'OUB-11', 'OUB-13', 'OUB-15');
    trace(app.service, 'OUB-1');

    // OUB-3: config.yaml read-only at /etc/oubliette.
    d.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes/-', { name: 'config', configMap: { name: config.name } }));
    d.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/volumeMounts/-', { name: 'config', mountPath: OUB_PATHS.config, readOnly: true }));
    // Large claims: change their group ownership only when the root does not match.
    d.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/fsGroupChangePolicy', 'OnRootMismatch'));
    // OUB-13: one node mounts ReadWriteOnce claims: stop the old pod before the new one starts.
    if (!shared) d.addJsonPatch(JsonPatch.replace('/spec/strategy', { type: 'Recreate' }));
    if (runtimeClass) d.addJsonPatch(JsonPatch.add('/spec/template/spec/runtimeClassName', runtimeClass));

    // OUB-10: the container runtime, a rootless Docker daemon as a native sidecar (an init container
    // with restartPolicy Always): started and ready (startup probe) before the server, stopped after it.
    const rt = sizing.runtime;
    const runtimeContainer = {
      name: 'runtime',
      image: ctx.image(cfg.runtime.image),
      imagePullPolicy: imagePullPolicy(ctx.image(cfg.runtime.image)),
      restartPolicy: 'Always',
      args: [`--host=${OUB_DOCKER_HOST}`],
      env: [
        { name: 'DOCKER_HOST', value: OUB_DOCKER_HOST },
        // unix socket only: no TCP listener, so no TLS material to generate
        literalEnv('DOCKER_TLS_CERTDIR', ''),
      ],
      resources: {
        requests: { cpu: rt.cpuRequest, memory: rt.memoryRequest, 'ephemeral-storage': '1Gi' },
        limits: { cpu: rt.cpuLimit, memory: rt.memoryLimit, 'ephemeral-storage': `${gibibytes(sizing.runtimeStorage) + 2}Gi` },
      },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: OUB_UID,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: true,
        privileged,
        // not privileged (RuntimeClass): the setuid newuidmap/newgidmap helpers need these two back in the bounding set
        capabilities: privileged ? { drop: ['ALL'] } : { drop: ['ALL'], add: ['SETGID', 'SETUID'] },
        seccompProfile: { type: 'RuntimeDefault' },
      },
      startupProbe: { exec: { command: ['docker', 'info'] }, periodSeconds: 2, timeoutSeconds: 5, failureThreshold: 60 },
      readinessProbe: { exec: { command: ['docker', 'info'] }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 2 },
      livenessProbe: { exec: { command: ['docker', 'version'] }, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 3 },
      volumeMounts: [
        { name: 'runtime-home', mountPath: '/home/rootless' },
        { name: 'runtime-xdg', mountPath: `/run/user/${OUB_UID}` },
        { name: 'runtime-tmp', mountPath: '/tmp' },
        { name: volumeName(OUB_PATHS.sockets), mountPath: OUB_PATHS.sockets },
        // session containers bind-mount project directories: the daemon must see them at the same path
        { name: volumeName(OUB_PATHS.projects), mountPath: OUB_PATHS.projects },
      ],
    };
    d.addJsonPatch(JsonPatch.add('/spec/template/spec/initContainers', [runtimeContainer]));
    for (const v of [
      { name: 'runtime-home', emptyDir: { sizeLimit: sizing.runtimeStorage } },
      { name: 'runtime-xdg', emptyDir: { sizeLimit: '16Mi' } },
      { name: 'runtime-tmp', emptyDir: { sizeLimit: '1Gi' } },
    ]) {
      d.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes/-', v));
    }
    exception(
      d,
      'pod-security-restricted',
      privileged
        ? `OUB-10: only the native sidecar "runtime" (rootless Docker daemon, UID 1000) is privileged (and so may escalate): rootlesskit needs it to create user namespaces, mounts and /dev/net/tun for agent session containers. The server container stays restricted. The namespace${cfg.runtime.nodePool ? ' and the node pool are' : ' is'} dedicated to Oubliette; set runtime.runtimeClassName: sysbox-runc to drop privileged.`
        : `OUB-10: only the native sidecar "runtime" (rootless Docker daemon, UID 1000, RuntimeClass ${runtimeClass}, not privileged) allows privilege escalation and keeps SETUID and SETGID: rootlesskit's setuid newuidmap/newgidmap set up the user namespace of agent session containers (baseline allows both). The server container stays restricted.`,
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
    const podSpec = (p: JobPod, restartPolicy: 'Never' | 'OnFailure'): k8s.PodSpec => ({
      serviceAccountName: maintenanceSa.name,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: OUB_UID,
        runAsGroup: OUB_UID,
        fsGroup: OUB_UID,
        fsGroupChangePolicy: 'OnRootMismatch',
        seccompProfile: { type: 'RuntimeDefault' },
      },
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
      const cj = new k8s.KubeCronJob(chart, id, {
        metadata: { name, namespace: ns, labels },
        spec: {
          schedule,
          timeZone: 'Etc/UTC',
          concurrencyPolicy: 'Forbid',
          startingDeadlineSeconds: 600,
          successfulJobsHistoryLimit: 3,
          failedJobsHistoryLimit: 3,
          suspend: false,
          jobTemplate: {
            metadata: { labels },
            spec: {
              backoffLimit: 2,
              activeDeadlineSeconds: 1800,
              ttlSecondsAfterFinished: 172800,
              template: { metadata: { labels }, spec: podSpec(p, 'Never') },
            },
          },
        },
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
                // the runbook runs ./oubliette next to its config.yaml
                workingDir: OUB_PATHS.config,
                env: { DATA_DIR: OUB_PATHS.data, NAMESPACE: ns, HOME: '/tmp' },
                mounts: [
                  { volume: 'config', path: OUB_PATHS.config, readOnly: true },
                  { volume: 'data', path: OUB_PATHS.data },
                ],
                volumes: [
                  { name: 'config', configMap: { name: config.name } },
                  { name: 'data', persistentVolumeClaim: { claimName: claimName('data') } },
                ],
              },
              'Never',
            ),
          },
        },
      });
      trace(job, 'X-1', 'OUB-14');
      podPolicy(`${NAME}-admin-token`, 'OUB-14');
    }
  },
};

/** A byte quantity in whole GiB (rounded up). */
function gibibytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(v);
  const f: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  const bytes = m ? Number(m[1]) * f[m[2] ?? '']! : 2 ** 30;
  return Math.max(1, Math.ceil(bytes / 2 ** 30));
}

/** components/workload.ts names a writable path's volume after the path. */
function volumeName(path: string): string {
  const n = path.replace(/^\/+/, '').replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/-+$/, '');
  return n.length === 0 ? 'root' : n.slice(0, 63);
}

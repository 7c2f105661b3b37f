/**
 * PostgreSQL on CloudNativePG (operator v1.30, `postgresql.cnpg.io/v1`): a `Cluster`, its backups
 * and its network path. One component, the database's operational concerns:
 *
 * | object | what |
 * |---|---|
 * | `Cluster` | instances, pinned image, storage, requests = limits for memory, `initdb` database + owner from a Secret, superuser access off, PDB on, anti-affinity + zone spread, TLS-only client connections, explicit restricted security contexts |
 * | `ObjectStore` (`barmancloud.cnpg.io/v1`) + `ScheduledBackup` | physical base backups and WAL archiving through the Barman Cloud plugin (`method: plugin`), S3 credentials from a Secret, retention, 6-field cron schedule |
 * | `NetworkPolicy` | in: clients and peers on 5432, the CNPG operator on 8000/5432, Prometheus on 9187; out: DNS, the Kubernetes API, peers, the backup target |
 * | `PodMonitor` | scrapes the instances' exporter (`metrics` port, 9187) |
 *
 * Choices, checked against the v1.30.0 CRDs in `../shared/crds/cloudnative-pg` and upstream docs:
 * - Backups use the Barman Cloud plugin. In-tree `spec.backup.barmanObjectStore` is deprecated since
 *   CNPG 1.26 and announced for removal in 1.31; the plugin keeps the same `configuration` schema in
 *   an `ObjectStore` resource, the Cluster lists it in `spec.plugins` (`isWALArchiver: true`) and the
 *   ScheduledBackup says `method: plugin`. The plugin (installed next to the operator) is a
 *   prerequisite. There is no ObjectStore CRD fixture: tests validate it against a hand-checked shape.
 * - `spec.monitoring.enablePodMonitor` is deprecated in v1.30 ("create a PodMonitor manually"): a
 *   separate PodMonitor is rendered instead.
 * - Image: `ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie`. The official CNPG operand image
 *   (the operator's own default for v1.30.0 is `18.6-system-trixie`); PostgreSQL 18 is the newest
 *   major (EOL 2030-11). `standard` instead of `system` because the `system` flavour only adds the
 *   in-tree barman-cloud tools, which the plugin replaces (it runs them in its own sidecar), and a
 *   cluster cannot switch from `system` to `standard` later. `standard` = PGDG packages on Debian
 *   13 slim plus pgaudit, pgvector, failover slots and all locales. The tag pins major.minor; the
 *   service adds the digest (staging/production) and relocates it (air-gapped).
 * - The instance manager in every pod talks to the Kubernetes API (it reconciles its own Cluster,
 *   Secrets and status; CNPG has no other path), so egress to the API server is required: pass the
 *   API server endpoint CIDRs (policies are enforced after the Service DNAT, hence 443 and 6443).
 * - The owner Secret must be `kubernetes.io/basic-auth` with `username` equal to the owner and a
 *   `password`; label it `cnpg.io/reload: "true"` or a password rotation is silently ignored.
 * - Runbook AION-10 says "nightly pg_dump to aion-backups/pg": this renders the operator-native
 *   equivalent, nightly physical base backups plus continuous WAL archiving to `s3://aion-backups/pg`,
 *   which also gives point-in-time recovery. A logical dump, if still wanted, is a separate CronJob.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, parseLabel, quantityValue, selectorLabels, trace } from './meta.js';
import { PrometheusRules, type AlertRule } from './monitoring.js';
import { scheduleInterval } from '../kube/schedule.js';
import { pitrDrillAlerts, PostgresPitrDrill, type PostgresPitrDrillProps } from './postgres-drill.js';
import { peerOf, type Peer, type PortSpec } from './network-policy.js';
import type { WorkloadResources } from './workload.js';
import { checkName, checkSubdomain } from '../kube/names.js';
import { dnsEgress, egressRule, ingressRule, kubeApiEgress, resourcesOf, restrictedContainer, ruleOf, storageSizeOf, tcp } from './operand.js';

export { POSTGRES_MIN_INSTANCES, postgresInstancesProblem } from '../kube/tier.js';

const C = 'Postgres';

/** The PostgreSQL operand image (repository + tag, the shape of a stack `ImageRef`). */
export const POSTGRES_IMAGE = { repository: 'ghcr.io/cloudnative-pg/postgresql', tag: '18.6-standard-trixie' } as const;
/** Name under which the Barman Cloud plugin registers with the operator. */
export const BARMAN_CLOUD_PLUGIN = 'barman-cloud.cloudnative-pg.io';
/** Ports of a CNPG instance pod. */
export const POSTGRES_PORTS = { postgres: 5432, status: 8000, metrics: 9187 } as const;


/**
 * postgresql.conf parameters the operator owns; the admission webhook rejects them, so they are
 * refused here with the prop name instead (CNPG docs, "PostgreSQL Configuration: fixed parameters").
 */
export const CNPG_FIXED_PARAMETERS: readonly string[] = [
  'allow_system_table_mods', 'archive_cleanup_command', 'archive_command', 'archive_mode', 'bonjour', 'bonjour_name',
  'cluster_name', 'config_file', 'data_directory', 'data_sync_retry', 'event_source', 'external_pid_file', 'hba_file',
  'hot_standby', 'ident_file', 'jit_provider', 'listen_addresses', 'log_destination', 'log_directory', 'log_file_mode',
  'log_filename', 'log_rotation_age', 'log_rotation_size', 'log_truncate_on_rotation', 'logging_collector', 'port',
  'primary_conninfo', 'primary_slot_name', 'promote_trigger_file', 'recovery_end_command', 'recovery_min_apply_delay',
  'recovery_target', 'recovery_target_action', 'recovery_target_inclusive', 'recovery_target_lsn', 'recovery_target_name',
  'recovery_target_time', 'recovery_target_timeline', 'recovery_target_xid', 'restart_after_crash', 'restore_command',
  'shared_preload_libraries', 'ssl', 'ssl_ca_file', 'ssl_cert_file', 'ssl_crl_file', 'ssl_dh_params_file', 'ssl_ecdh_curve',
  'ssl_key_file', 'ssl_passphrase_command', 'ssl_passphrase_command_supports_reload', 'ssl_prefer_server_ciphers',
  'stats_temp_directory', 'synchronous_standby_names', 'syslog_facility', 'syslog_ident', 'syslog_sequence_numbers',
  'syslog_split_messages', 'unix_socket_directories', 'unix_socket_group', 'unix_socket_permissions', 'wal_level', 'wal_log_hints',
];

// ---------------------------------------------------------------------------------------------

export interface PostgresBackupProps {
  /** Bucket and prefix, e.g. `s3://aion-backups/pg`. WAL and base backups go below `<prefix>/<cluster>/`. */
  readonly destinationPath: string;
  /**
   * S3-compatible endpoint (MinIO): `https://`, or `http://` to a Service of this cluster
   * (`<name>.<namespace>.svc[.<domain>]`: the traffic never leaves the cluster network and the
   * store's NetworkPolicy admits only its clients). @default AWS S3 (endpoint discovery)
   */
  readonly endpointUrl?: string;
  /** Secret key holding the CA bundle of an endpoint with a private CA. @default system trust store */
  readonly endpointCa?: { readonly secretName: string; readonly key: string };
  /** Secret with the S3 access key pair (referenced, never copied). */
  readonly credentials: {
    readonly secretName: string;
    /** @default ACCESS_KEY_ID */
    readonly accessKeyIdKey?: string;
    /** @default ACCESS_SECRET_KEY */
    readonly secretAccessKeyKey?: string;
  };
  /** How long backups and WAL are kept: `<n>d|w|m`. @default 30d */
  readonly retention?: string;
  /** CNPG cron with SECONDS first (6 fields: s m h dom mon dow) or a descriptor such as `@daily`. @default '0 0 2 * * *' (02:00 nightly) */
  readonly schedule?: string;
  /** Take the first backup as soon as the ScheduledBackup is created. @default true */
  readonly immediate?: boolean;
  /** Compression of WAL segments and base backups. @default gzip */
  readonly compression?: 'gzip' | 'bzip2' | 'snappy';
  /** Where the object store is reachable (egress rule of the instances). */
  readonly egress: { readonly peers: readonly Peer[]; readonly ports: readonly PortSpec[] };
  /** Requests/limits of the plugin sidecar injected into each instance. @default 50m / 250m CPU, 128Mi / 256Mi memory */
  readonly sidecarResources?: WorkloadResources;
  /** Runbook URL of the backup alerts (`PostgresWalArchivingStuck`, `PostgresBaseBackupStale`, `PostgresBackupMetricsAbsent`). */
  readonly runbookUrl: string;
  /** `PostgresBaseBackupStale` when the newest base backup is older than this many hours. @default 2 × the schedule's interval (daily: 48) */
  readonly maxBackupAgeHours?: number;
  /**
   * Point-in-time restore drill of these backups (components/postgres-drill.ts): required, archiving
   * without a proven restore is refused (policy `postgres-pitr-drill` guards hand-made objects too).
   */
  readonly drill: PostgresDrillProps;
}

/** The restore drill of a cluster's physical backups (a CronJob: `<cluster>-pitr-drill`). */
export interface PostgresDrillProps {
  /** PostgreSQL (same major as the cluster) + barman-cloud tools: the operand image's `system` flavour (`PITR_DRILL_IMAGE`), resolved by the service. */
  readonly image: string;
  /** Kubernetes CronJob schedule, 5 fields, UTC. @default '30 6 * * 0' (Sundays 06:30) */
  readonly schedule?: string;
  /** Fewer tables in the database after recovery fails the drill. @default 1 */
  readonly minTables?: number;
  /** Scratch space for the restored cluster. @default the cluster's storageSize */
  readonly workSize?: string;
  /** Seconds the WAL replay may take. @default 3600 */
  readonly recoveryTimeoutSeconds?: number;
  /** @default 250m / 1 CPU, 512Mi / 1Gi memory */
  readonly resources?: WorkloadResources;
}

/** The plugin's own metrics (plugin-barman-cloud internal/cnpgi/instance/metrics.go: the plugin name with `.`/`-` as `_`). */
export const BARMAN_METRIC_PREFIX = 'barman_cloud_cloudnative_pg_io_';

/**
 * Alerts of continuous backup (issue 14 item 12), on metrics the instances expose:
 * - `cnpg_collector_pg_wal_archive_status{value="ready"}`: WAL segments waiting to be archived
 *   (CNPG's built-in collector). A quiet database archives nothing for hours, so "time since the
 *   last archival" is not a fault; a backlog that stays is: archiving is stuck, `pg_wal` grows and
 *   the recovery point falls behind.
 * - `barman_cloud_cloudnative_pg_io_last_available_backup_timestamp`: the newest base backup in the
 *   object store (the Barman Cloud plugin; 0 before the first), from every instance.
 * - its absence: without the plugin's metrics the backup alert could never fire.
 */
export function postgresBackupAlerts(o: { name: string; namespace: string; runbookUrl: string; maxBackupAgeHours: number }): AlertRule[] {
  const sel = `namespace="${o.namespace}",pod=~"${o.name}-[0-9]+"`;
  const backupTs = `${BARMAN_METRIC_PREFIX}last_available_backup_timestamp{${sel}}`;
  const age = o.maxBackupAgeHours * 3600;
  return [
    {
      alert: 'PostgresWalArchivingStuck',
      expr: `max(cnpg_collector_pg_wal_archive_status{${sel},value="ready"}) > 0`,
      for: '30m',
      severity: 'critical',
      summary: `PostgreSQL ${o.namespace}/${o.name}: WAL segments have waited more than 30 minutes to be archived`,
      description: `WAL archiving to the object store is failing: point-in-time recovery falls behind and pg_wal grows until the volume is full. Check the plugin sidecar's log (container plugin-barman-cloud) and the object store credentials and reachability.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace },
    },
    {
      alert: 'PostgresBaseBackupStale',
      expr: `time() - max(${backupTs}) > ${age}`,
      for: '10m',
      severity: 'critical',
      summary: `PostgreSQL ${o.namespace}/${o.name}: no base backup in the last ${o.maxBackupAgeHours} h`,
      description: `The newest base backup in the object store is older than ${o.maxBackupAgeHours} h (or none exists): a restore must replay more WAL than planned, and retention may delete the WAL it needs. Look at the Backup objects of ScheduledBackup ${o.name}-scheduled.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace },
    },
    {
      alert: 'PostgresBackupMetricsAbsent',
      expr: `absent(${backupTs})`,
      for: '1h',
      severity: 'warning',
      summary: `PostgreSQL ${o.namespace}/${o.name}: the Barman Cloud plugin reports no backup metrics`,
      description: `Without ${BARMAN_METRIC_PREFIX}last_available_backup_timestamp, PostgresBaseBackupStale cannot fire. Check that the plugin is installed next to the operator and that the PodMonitor scrapes the instances.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace },
    },
  ];
}

/**
 * Health alerts of a CNPG cluster (issue 14, store alerts), on what every instance's exporter
 * (:9187, the PodMonitor) serves at CloudNativePG v1.30.0 (4b5e244):
 * - `cnpg_collector_up`: 1 if PostgreSQL is up (pkg/management/postgres/webserver/metricserver/pg_collector.go:45, 129–134);
 *   and Prometheus' own `up` of the scrape (the exporter itself gone);
 * - `cnpg_pg_replication_lag` (seconds), `_in_recovery`, `_is_wal_receiver_up` (the default
 *   monitoring queries, config/manager/default-monitoring.yaml:110–132, enabled unless
 *   `monitoring.disableDefaultQueries`).
 * No alert depends on the instance count, so one set fits every stack.
 */
export function postgresHealthAlerts(o: { name: string; namespace: string; runbookUrl: string; maxLagSeconds?: number; concerns?: readonly string[] }): AlertRule[] {
  const sel = `namespace="${o.namespace}",pod=~"${o.name}-[0-9]+"`;
  const lag = o.maxLagSeconds ?? 300;
  const concerns = o.concerns ?? [];
  return [
    {
      alert: 'PostgresNoPrimary',
      expr: `(count(cnpg_pg_replication_in_recovery{${sel}} == 0) or vector(0)) == 0`,
      for: '2m',
      severity: 'critical',
      summary: `PostgreSQL ${o.namespace}/${o.name} has no primary`,
      description: `No instance reports being out of recovery (or none is scraped): writes fail. Check the Cluster status (kubectl cnpg status ${o.name}), the operator's log and the instances' pods.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace },
      concerns,
    },
    {
      alert: 'PostgresInstanceDown',
      expr: `max by (pod) (cnpg_collector_up{${sel}}) == 0 or max by (pod) (up{${sel}}) == 0`,
      for: '5m',
      severity: 'warning',
      summary: `PostgreSQL ${o.namespace}/${o.name}: instance {{ $labels.pod }} is down`,
      description: `The instance's PostgreSQL does not answer its exporter, or the exporter is not scraped: the cluster runs with one instance less and may not survive another loss. Check the pod, its PVC and its events.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace },
      concerns,
    },
    {
      alert: 'PostgresReplicationLagHigh',
      expr: `max by (pod) (cnpg_pg_replication_lag{${sel}}) > ${lag}`,
      for: '5m',
      severity: 'warning',
      summary: `PostgreSQL ${o.namespace}/${o.name}: standby {{ $labels.pod }} lags more than ${lag} s behind the primary`,
      description: `A failover to this standby would lose the transactions it has not replayed, and reads from the ro/r Services are stale. Check the standby's disk and CPU, the network to the primary, and long queries conflicting with recovery.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace },
      concerns,
    },
    {
      alert: 'PostgresStandbyNotStreaming',
      expr: `max by (pod) (cnpg_pg_replication_in_recovery{${sel}}) == 1 and max by (pod) (cnpg_pg_replication_is_wal_receiver_up{${sel}}) == 0`,
      for: '5m',
      severity: 'warning',
      summary: `PostgreSQL ${o.namespace}/${o.name}: standby {{ $labels.pod }} does not stream from the primary`,
      description: `The standby's WAL receiver is down: it falls behind until it reconnects (or replays from the WAL archive only). Check its log for replication connection errors and the NetworkPolicy between instances.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace },
      concerns,
    },
  ];
}

export interface PostgresProps {
  /** Cluster name (pods `<name>-1…`, Services `<name>-rw|ro|r`). */
  readonly name: string;
  readonly namespace: string;
  /** PostgreSQL instances (one primary, the rest streaming standbys); see `POSTGRES_MIN_INSTANCES`. @default 3 */
  readonly instances?: number;
  /** Operand image reference (resolved by the service: digest, mirror). @default `POSTGRES_IMAGE` (`ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie`) */
  readonly imageName?: string;
  /** Data volume per instance. @default 10Gi */
  readonly storageSize?: string;
  /** @default the cluster's default StorageClass */
  readonly storageClass?: string;
  /** Per instance (the postgres container). Memory request = limit is recommended (Guaranteed QoS). @default 500m / 1 CPU, 1Gi / 1Gi memory */
  readonly resources?: WorkloadResources;
  /** Application database created by `initdb`. */
  readonly database: string;
  /** Owner role of `database`. @default database */
  readonly owner?: string;
  /** `kubernetes.io/basic-auth` Secret with `username` (= owner) and `password` of the owner. */
  readonly ownerSecret: string;
  /** Enable the `postgres` superuser with the password in this Secret. @default disabled (no superuser login) */
  readonly superuserSecret?: string;
  /** Operator-managed PodDisruptionBudgets (primary protected, one standby at a time). @default true */
  readonly enablePDB?: boolean;
  /** Anti-affinity domain between instances. @default kubernetes.io/hostname */
  readonly topologyKey?: string;
  /** `required` refuses to co-locate instances; `preferred` co-locates when nodes are short. @default preferred */
  readonly antiAffinity?: 'preferred' | 'required';
  /** Spread instances over this topology (best effort, max skew 1). @default topology.kubernetes.io/zone */
  readonly zoneTopologyKey?: string;
  /**
   * postgresql.conf parameters, merged over the defaults: `max_connections` 200,
   * `shared_buffers` 25 % and `effective_cache_size` 75 % of the memory limit,
   * `log_min_duration_statement` 1000 (ms), `log_checkpoints` on, `log_lock_waits` on,
   * `idle_in_transaction_session_timeout` 300000 (ms), `password_encryption` scram-sha-256.
   * @default those defaults
   */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Reject client connections without TLS (`hostnossl all all all reject`). @default true */
  readonly requireTls?: boolean;
  /** Backups to S3/MinIO through the Barman Cloud plugin. @default none */
  readonly backup?: PostgresBackupProps;
  /** Workloads allowed to connect on 5432 (at least one). */
  readonly clients: readonly Peer[];
  /** Namespace of the CNPG operator (it calls every instance on 8000 and 5432). @default cnpg-system */
  readonly operatorNamespace?: string;
  /** `key=value` label of the operator pods. @default app.kubernetes.io/name=cloudnative-pg */
  readonly operatorPodLabel?: string;
  /** Namespace of Prometheus (scrapes 9187). @default monitoring */
  readonly monitoringNamespace?: string;
  /** Kubernetes API server endpoint CIDRs (the instance manager needs the API). */
  readonly kubeApiCidrs: readonly string[];
  /** API server ports as seen after the Service DNAT. @default [443, 6443] */
  readonly kubeApiPorts?: readonly number[];
  /** @default kube-system */
  readonly dnsNamespace?: string;
  /** @default k8s-app=kube-dns */
  readonly dnsPodLabel?: string;
  /** Render a PodMonitor for the instances' exporter. @default true */
  readonly podMonitor?: boolean;
  /**
   * Runbook URL of the health alerts (`postgresHealthAlerts`, PrometheusRule `<name>-health`),
   * rendered with the PodMonitor. @default none: no health alerts
   */
  readonly runbookUrl?: string;
  /** Label selecting the PodMonitor into Prometheus. @default release=prometheus */
  readonly prometheusSelector?: string;
  /** Catalog concerns carried by every object (the service decides, e.g. AION-2, AION-10). @default none */
  readonly concerns?: readonly string[];
}

/** A Secret the cluster reads (for the service's `requireSecret`); values never pass through here. */
export interface PostgresSecretUse {
  readonly name: string;
  readonly keys: readonly string[];
  readonly purpose: string;
}

const DEFAULT_RESOURCES: WorkloadResources = { cpuRequest: '500m', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi' };
const DEFAULT_SIDECAR: WorkloadResources = { cpuRequest: '50m', cpuLimit: '250m', memoryRequest: '128Mi', memoryLimit: '256Mi' };
const PG_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const RESERVED_ROLES = new Set(['postgres', 'streaming_replica', 'cnpg_pooler_pgbouncer']);

/** The default postgresql.conf parameters for a given memory limit (bytes). */
export function defaultParameters(memoryLimitBytes: number): Record<string, string> {
  const mb = (fraction: number): string => `${Math.max(16, Math.floor((memoryLimitBytes * fraction) / 2 ** 20))}MB`;
  return {
    effective_cache_size: mb(0.75),
    idle_in_transaction_session_timeout: '300000',
    log_checkpoints: 'on',
    log_lock_waits: 'on',
    log_min_duration_statement: '1000',
    max_connections: '200',
    password_encryption: 'scram-sha-256',
    shared_buffers: mb(0.25),
  };
}

const CRON_FIELDS: readonly (readonly [string, number, number])[] = [
  ['seconds', 0, 59],
  ['minutes', 0, 59],
  ['hours', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 6],
];
const CRON_DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/**
 * Why `schedule` is not a CNPG schedule (robfig/cron with seconds), or `undefined`. A 5-field
 * Kubernetes CronJob schedule is the usual mistake: it would silently shift every field by one.
 */
export function cnpgScheduleProblem(schedule: string): string | undefined {
  const s = schedule.trim();
  if (CRON_DESCRIPTORS.has(s)) return undefined;
  const fields = s.split(/\s+/);
  if (fields.length === 5) return 'has 5 fields: CNPG schedules have 6, seconds first (e.g. "0 0 2 * * *" for 02:00)';
  if (fields.length !== 6) return `must have 6 fields (seconds minutes hours day-of-month month day-of-week), found ${fields.length}`;
  for (let i = 0; i < 6; i++) {
    const [label, min, max] = CRON_FIELDS[i]!;
    for (const part of fields[i]!.split(',')) {
      const m = /^(\*|\?|(\d+)(-(\d+))?)(\/(\d+))?$/.exec(part);
      if (!m) return `${label} field "${fields[i]}" is not a cron expression`;
      const nums = [m[2], m[4]].filter((x): x is string => x !== undefined).map(Number);
      if (m[6] !== undefined && Number(m[6]) < 1) return `${label} step must be ≥ 1`;
      if (nums.some((n) => n < min || n > max)) return `${label} field "${fields[i]}" is outside ${min}–${max}`;
      if (nums.length === 2 && nums[0]! > nums[1]!) return `${label} range "${part}" is reversed`;
    }
  }
  return undefined;
}

/**
 * The longest gap in hours between two runs of a valid CNPG schedule, roughly: hourly when the
 * hours field is `*` (or a step), weekly when the day of week is restricted, monthly when the day
 * of month is, else daily.
 */
export function scheduleIntervalHours(schedule: string): number {
  const s = schedule.trim();
  const descriptors: Record<string, number> = { '@hourly': 1, '@daily': 24, '@midnight': 24, '@weekly': 168, '@monthly': 744, '@yearly': 8784, '@annually': 8784 };
  if (s in descriptors) return descriptors[s]!;
  const [, , hours = '*', dom = '*', , dow = '*'] = s.split(/\s+/);
  if (dom !== '*' && dom !== '?') return 744;
  if (dow !== '*' && dow !== '?') return 168;
  if (hours === '*' || hours.includes('/')) return 1;
  return 24;
}

/** A CloudNativePG cluster with backups, network policy and monitoring. */
export class Postgres extends Construct {
  readonly name: string;
  readonly namespace: string;
  /** Read-write Service (the primary): `<name>-rw`, port 5432. */
  readonly serviceName: string;
  readonly cluster: ApiObject;
  readonly networkPolicy: k8s.KubeNetworkPolicy;
  readonly podMonitor?: ApiObject;
  readonly objectStore?: ApiObject;
  readonly scheduledBackup?: ApiObject;
  /** The continuous-backup alerts (with `backup`), including the restore drill's. */
  readonly backupRules?: PrometheusRules;
  readonly healthRules?: PrometheusRules;
  /** The point-in-time restore drill of the physical backups (with `backup`). */
  readonly pitrDrill?: PostgresPitrDrill;
  /** The Secrets this cluster reads (names and keys only). */
  readonly secrets: readonly PostgresSecretUse[];

  constructor(scope: Construct, id: string, props: PostgresProps) {
    super(scope, id);
    const n = props.name;
    // Instance pods are `<name>-<n>`, PVCs and Services derive from it; 50 leaves room for suffixes.
    checkName(C, n, 'name', n, 50);
    checkName(C, n, 'namespace', props.namespace);
    const instances = props.instances ?? 3;
    if (!Number.isInteger(instances) || instances < 1) throw new ComponentError(C, n, 'instances', 'must be an integer ≥ 1', instances);
    const imageName = props.imageName ?? `${POSTGRES_IMAGE.repository}:${POSTGRES_IMAGE.tag}`;
    // The operator reads the PostgreSQL major version from the tag, so the tag must start with it.
    if (!/^[^\s@]+:(1[3-9]|[2-9]\d)(\.\d+)?([-._A-Za-z0-9]*)?(@sha256:[a-f0-9]{64})?$/.test(imageName)) {
      throw new ComponentError(C, n, 'imageName', 'must be <repository>:<major>[.<minor>][-suffix][@sha256:…] with a supported major (13+)', imageName);
    }
    const storageSize = storageSizeOf(C, n, 'storageSize', props.storageSize ?? '10Gi');
    if (props.storageClass !== undefined) checkSubdomain(C, n, 'storageClass', props.storageClass);
    const resources = resourcesOf(C, n, 'resources', props.resources ?? DEFAULT_RESOURCES);
    if (!PG_IDENTIFIER.test(props.database)) throw new ComponentError(C, n, 'database', 'must be a lower-case PostgreSQL identifier ([a-z_][a-z0-9_]*, ≤ 63)', props.database);
    if (props.database === 'postgres' || props.database.startsWith('template')) throw new ComponentError(C, n, 'database', 'must not be a system database', props.database);
    const owner = props.owner ?? props.database;
    if (!PG_IDENTIFIER.test(owner)) throw new ComponentError(C, n, 'owner', 'must be a lower-case PostgreSQL identifier ([a-z_][a-z0-9_]*, ≤ 63)', owner);
    if (RESERVED_ROLES.has(owner)) throw new ComponentError(C, n, 'owner', 'is a role the operator reserves', owner);
    checkSubdomain(C, n, 'ownerSecret', props.ownerSecret);
    if (props.superuserSecret !== undefined) checkSubdomain(C, n, 'superuserSecret', props.superuserSecret);
    const topologyKey = props.topologyKey ?? 'kubernetes.io/hostname';
    const zoneKey = props.zoneTopologyKey ?? 'topology.kubernetes.io/zone';
    for (const [prop, key] of [['topologyKey', topologyKey], ['zoneTopologyKey', zoneKey]] as const) {
      if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(key)) throw new ComponentError(C, n, prop, 'must be a node label key', key);
    }
    const parameters: Record<string, string> = { ...defaultParameters(quantityValue(resources.limits.memory)!) };
    for (const [key, value] of Object.entries(props.parameters ?? {})) {
      if (!/^[a-z_][a-z0-9_.]*$/.test(key)) throw new ComponentError(C, n, `parameters.${key}`, 'is not a PostgreSQL parameter name');
      if (CNPG_FIXED_PARAMETERS.includes(key)) throw new ComponentError(C, n, `parameters.${key}`, 'is managed by the operator and cannot be set', value);
      if (typeof value !== 'string' || value === '') throw new ComponentError(C, n, `parameters.${key}`, 'must be a non-empty string', value);
      parameters[key] = value;
    }
    if (props.clients.length === 0) throw new ComponentError(C, n, 'clients', 'must name at least one client workload (nothing else may connect on 5432)', []);

    this.name = n;
    this.namespace = props.namespace;
    this.serviceName = `${n}-rw`;
    const concerns = props.concerns ?? [];
    const selector = { 'cnpg.io/cluster': n };
    const storeName = `${n}-backup`;
    const secrets: PostgresSecretUse[] = [{ name: props.ownerSecret, keys: ['password', 'username'], purpose: `owner "${owner}" of database "${props.database}" (type kubernetes.io/basic-auth, label cnpg.io/reload=true)` }];
    if (props.superuserSecret) secrets.push({ name: props.superuserSecret, keys: ['password', 'username'], purpose: 'postgres superuser (type kubernetes.io/basic-auth, label cnpg.io/reload=true)' });

    // ---- backups (validated before anything renders)
    let backup: undefined | { store: Record<string, unknown>; scheduled: Record<string, unknown>; egress: k8s.NetworkPolicyEgressRule; maxAge: number; runbookUrl: string; drill: PostgresPitrDrillProps };
    if (props.backup) {
      const b = props.backup;
      if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._\-/]*)?$/.test(b.destinationPath)) {
        throw new ComponentError(C, n, 'backup.destinationPath', 'must be s3://<bucket>[/<prefix>]', b.destinationPath);
      }
      if (
        b.endpointUrl !== undefined &&
        !/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/.test(b.endpointUrl) &&
        !/^http:\/\/[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\.svc(\.[a-z0-9.-]+)?(:\d{1,5})?\/?$/.test(b.endpointUrl)
      ) {
        throw new ComponentError(C, n, 'backup.endpointUrl', 'must be an https:// URL without a path, or http:// to a Service of this cluster (<name>.<namespace>.svc): credentials and backups never cross a network in clear text', b.endpointUrl);
      }
      const maxAge = b.maxBackupAgeHours ?? 2 * Math.max(1, Math.round(scheduleIntervalHours(b.schedule ?? '0 0 2 * * *')));
      if (!Number.isInteger(maxAge) || maxAge < 1) throw new ComponentError(C, n, 'backup.maxBackupAgeHours', 'must be an integer ≥ 1', b.maxBackupAgeHours);
      const retention = b.retention ?? '30d';
      if (!/^[1-9][0-9]*[dwm]$/.test(retention)) throw new ComponentError(C, n, 'backup.retention', 'must be <n>d, <n>w or <n>m, such as 30d', retention);
      const schedule = b.schedule ?? '0 0 2 * * *';
      const problem = cnpgScheduleProblem(schedule);
      if (problem) throw new ComponentError(C, n, 'backup.schedule', problem, schedule);
      checkSubdomain(C, n, 'backup.credentials.secretName', b.credentials.secretName);
      const idKey = b.credentials.accessKeyIdKey ?? 'ACCESS_KEY_ID';
      const secretKey = b.credentials.secretAccessKeyKey ?? 'ACCESS_SECRET_KEY';
      for (const [prop, key] of [['accessKeyIdKey', idKey], ['secretAccessKeyKey', secretKey]] as const) {
        if (!/^[-._a-zA-Z0-9]+$/.test(key)) throw new ComponentError(C, n, `backup.credentials.${prop}`, 'must be a Secret key', key);
      }
      if (b.endpointCa) checkSubdomain(C, n, 'backup.endpointCa.secretName', b.endpointCa.secretName);
      const compression = b.compression ?? 'gzip';
      const sidecar = resourcesOf(C, n, 'backup.sidecarResources', b.sidecarResources ?? DEFAULT_SIDECAR);
      const egress = egressRule(ruleOf(C, n, 'backup.egress', b.egress.peers, b.egress.ports));
      secrets.push({ name: b.credentials.secretName, keys: [idKey, secretKey].sort(), purpose: `S3 credentials for ${b.destinationPath}` });
      if (b.endpointCa) secrets.push({ name: b.endpointCa.secretName, keys: [b.endpointCa.key], purpose: 'CA bundle of the backup endpoint' });
      if (!/^https?:\/\/\S+$/.test(b.runbookUrl ?? '')) throw new ComponentError(C, n, 'backup.runbookUrl', 'must be an absolute URL', b.runbookUrl);
      if (!b.drill || typeof b.drill.image !== 'string' || b.drill.image === '') throw new ComponentError(C, n, 'backup.drill.image', 'is required: WAL archiving and base backups ship with a restore drill that proves them (image: PostgreSQL + barman-cloud, PITR_DRILL_IMAGE)', b.drill?.image);
      const drillSchedule = b.drill.schedule ?? '30 6 * * 0';
      let drillInterval: number;
      try {
        drillInterval = scheduleInterval(drillSchedule);
      } catch (e) {
        throw new ComponentError(C, n, 'backup.drill.schedule', `is not a CronJob schedule: ${(e as Error).message}`, drillSchedule);
      }
      const drill: PostgresPitrDrillProps = {
        cluster: n,
        namespace: props.namespace,
        image: b.drill.image,
        destinationPath: b.destinationPath,
        ...(b.endpointUrl ? { endpointUrl: b.endpointUrl } : {}),
        credentials: { secretName: b.credentials.secretName, accessKeyIdKey: idKey, secretAccessKeyKey: secretKey },
        ...(b.endpointCa ? { endpointCa: b.endpointCa } : {}),
        database: props.database,
        schedule: drillSchedule,
        ...(b.drill.minTables !== undefined ? { minTables: b.drill.minTables } : {}),
        workSize: b.drill.workSize ?? storageSize,
        ...(b.drill.recoveryTimeoutSeconds !== undefined ? { recoveryTimeoutSeconds: b.drill.recoveryTimeoutSeconds } : {}),
        ...(b.drill.resources ? { resources: b.drill.resources } : {}),
        interval: drillInterval,
        runbookUrl: b.runbookUrl,
      };
      backup = {
        drill,
        egress,
        maxAge,
        runbookUrl: b.runbookUrl,
        store: {
          configuration: {
            destinationPath: b.destinationPath,
            ...(b.endpointUrl ? { endpointURL: b.endpointUrl } : {}),
            ...(b.endpointCa ? { endpointCA: { name: b.endpointCa.secretName, key: b.endpointCa.key } } : {}),
            s3Credentials: {
              accessKeyId: { name: b.credentials.secretName, key: idKey },
              secretAccessKey: { name: b.credentials.secretName, key: secretKey },
            },
            wal: { compression },
            data: { compression },
          },
          retentionPolicy: retention,
          instanceSidecarConfiguration: { resources: sidecar },
        },
        scheduled: {
          cluster: { name: n },
          schedule,
          immediate: b.immediate ?? true,
          // The Backup objects it creates are garbage-collected with the ScheduledBackup.
          backupOwnerReference: 'self',
          method: 'plugin',
          pluginConfiguration: { name: BARMAN_CLOUD_PLUGIN },
        },
      };
    }

    // ---- network (validated before anything renders)
    const operatorPods = parseLabel(C, n, 'operatorPodLabel', props.operatorPodLabel ?? 'app.kubernetes.io/name=cloudnative-pg');
    const operatorNamespace = props.operatorNamespace ?? 'cnpg-system';
    const monitoringNamespace = props.monitoringNamespace ?? 'monitoring';
    checkName(C, n, 'operatorNamespace', operatorNamespace);
    checkName(C, n, 'monitoringNamespace', monitoringNamespace);
    const peers: Peer[] = [{ pods: selector }];
    const ingress: k8s.NetworkPolicyIngressRule[] = [
      ingressRule(ruleOf(C, n, 'clients', props.clients, tcp(POSTGRES_PORTS.postgres))),
      ingressRule(ruleOf(C, n, 'peers', peers, tcp(POSTGRES_PORTS.postgres, POSTGRES_PORTS.status))),
      ingressRule(ruleOf(C, n, 'operator', [{ namespace: operatorNamespace, pods: operatorPods }], tcp(POSTGRES_PORTS.postgres, POSTGRES_PORTS.status))),
      ingressRule(ruleOf(C, n, 'monitoring', [{ namespace: monitoringNamespace }], tcp(POSTGRES_PORTS.metrics))),
    ];
    const egress: k8s.NetworkPolicyEgressRule[] = [
      dnsEgress(C, n, props.dnsNamespace, props.dnsPodLabel),
      kubeApiEgress(C, n, props.kubeApiCidrs, props.kubeApiPorts ?? [443, 6443]),
      egressRule(ruleOf(C, n, 'peers', peers, tcp(POSTGRES_PORTS.postgres, POSTGRES_PORTS.status))),
      ...(backup ? [backup.egress] : []),
    ];
    const prometheusLabels = parseLabel(C, n, 'prometheusSelector', props.prometheusSelector ?? 'release=prometheus');

    // ---- objects
    const hba = (props.requireTls ?? true) ? ['hostnossl all all all reject'] : [];
    this.cluster = new ApiObject(this, 'Cluster', {
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: { name: n, namespace: props.namespace },
      spec: {
        instances,
        imageName,
        storage: { size: storageSize, ...(props.storageClass ? { storageClass: props.storageClass } : {}) },
        resources,
        bootstrap: {
          initdb: { database: props.database, owner, secret: { name: props.ownerSecret }, dataChecksums: true },
        },
        enableSuperuserAccess: props.superuserSecret !== undefined,
        ...(props.superuserSecret ? { superuserSecret: { name: props.superuserSecret } } : {}),
        // Pods (and the other objects the operator creates) also carry app.kubernetes.io/name=<name>,
        // so other components name them as clients like any workload (the object store's policy).
        inheritedMetadata: { labels: selectorLabels(n) },
        enablePDB: props.enablePDB ?? true,
        affinity: {
          enablePodAntiAffinity: true,
          podAntiAffinityType: props.antiAffinity ?? 'preferred',
          topologyKey,
        },
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: zoneKey, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } },
        ],
        postgresql: {
          parameters: Object.fromEntries(Object.keys(parameters).sort().map((k) => [k, parameters[k]!])),
          ...(hba.length > 0 ? { pg_hba: hba } : {}),
        },
        // Explicit, not inherited from operator defaults: these are the restricted profile the
        // policies check on workloads we render ourselves. UID/GID 26 is `postgres` in the image.
        podSecurityContext: { runAsNonRoot: true, runAsUser: 26, runAsGroup: 26, fsGroup: 26, seccompProfile: { type: 'RuntimeDefault' } },
        securityContext: restrictedContainer(),
        ...(backup ? { plugins: [{ name: BARMAN_CLOUD_PLUGIN, isWALArchiver: true, parameters: { barmanObjectName: storeName } }] } : {}),
      },
    });
    trace(this.cluster, 'X-1', ...concerns);

    if (backup) {
      this.objectStore = new ApiObject(this, 'ObjectStore', {
        apiVersion: 'barmancloud.cnpg.io/v1',
        kind: 'ObjectStore',
        metadata: { name: storeName, namespace: props.namespace },
        spec: backup.store,
      });
      this.scheduledBackup = new ApiObject(this, 'ScheduledBackup', {
        apiVersion: 'postgresql.cnpg.io/v1',
        kind: 'ScheduledBackup',
        metadata: { name: `${n}-scheduled`, namespace: props.namespace },
        spec: backup.scheduled,
      });
      if (concerns.length > 0) trace([this.objectStore, this.scheduledBackup], ...concerns);
      this.backupRules = new PrometheusRules(this, 'BackupRules', {
        name: `${n}-backup`,
        namespace: props.namespace,
        rules: [
          ...postgresBackupAlerts({ name: n, namespace: props.namespace, runbookUrl: backup.runbookUrl, maxBackupAgeHours: backup.maxAge }),
          ...pitrDrillAlerts({ cluster: n, namespace: props.namespace, interval: backup.drill.interval, runbookUrl: backup.runbookUrl }),
        ],
        ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
        concerns: ['X-6', 'X-8', ...concerns],
      });
      this.pitrDrill = new PostgresPitrDrill(this, 'PitrDrill', {
        ...backup.drill,
        egress: [dnsEgress(C, n, props.dnsNamespace, props.dnsPodLabel), backup.egress],
        concerns,
      });
    }

    this.networkPolicy = new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: `${n}-postgres`, namespace: props.namespace },
      spec: { podSelector: { matchLabels: selector }, policyTypes: ['Ingress', 'Egress'], ingress, egress },
    });
    trace(this.networkPolicy, 'X-3', ...concerns);

    if (props.podMonitor ?? true) {
      this.podMonitor = new ApiObject(this, 'PodMonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PodMonitor',
        metadata: { name: `${n}-postgres`, namespace: props.namespace, labels: prometheusLabels },
        spec: {
          selector: { matchLabels: selector },
          podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
        },
      });
      trace(this.podMonitor, 'X-8', ...concerns);
      if (props.runbookUrl !== undefined) {
        if (!/^https?:\/\/\S+$/.test(props.runbookUrl)) throw new ComponentError(C, n, 'runbookUrl', 'must be an absolute URL', props.runbookUrl);
        this.healthRules = new PrometheusRules(this, 'HealthRules', {
          name: `${n}-health`,
          namespace: props.namespace,
          rules: postgresHealthAlerts({ name: n, namespace: props.namespace, runbookUrl: props.runbookUrl, concerns }),
          ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
          concerns: ['X-8', ...concerns],
        });
      }
    }
    this.secrets = secrets.sort((a, b) => a.name.localeCompare(b.name));
  }
}

/**
 * Restore drill of a CloudNativePG cluster's physical backups (issue 14 item 12): a CronJob that
 * restores the newest base backup from the Barman Cloud object store into a scratch data directory,
 * replays the archived WAL up to a recovery target with PostgreSQL itself, promotes, checks the
 * result, and fails loudly (`PITR DRILL FAILED: …`) when any step does. Its alerts go into the
 * cluster's backup PrometheusRule. docs/postgres-pitr-drill.md has the upstream references.
 *
 * Why a Job with the barman-cloud tools, not CNPG's recovery bootstrap of a scratch Cluster: the
 * latter needs RBAC to create and delete `Cluster` objects (and their PVCs) from inside the
 * namespace, a second set of Secrets, and instances that join the monitoring and backup machinery;
 * a Job needs no API access at all (`automountServiceAccountToken: false`) and reads the object
 * store with the same credentials the cluster writes it with.
 *
 * - Image: the CNPG operand image of the `system` flavour (`ghcr.io/cloudnative-pg/postgresql:
 *   <major>-system-trixie`): the `standard` image plus `barman[cloud]` (postgres-containers
 *   Dockerfile, target `system`, barman 3.19.1 in docker-bake.hcl at a949ae5). PostgreSQL and the
 *   barman-cloud tools must share a container: `restore_command` runs inside the server. The
 *   `system` flavour is deprecated upstream (README "System Images"): when it goes, the drill needs
 *   an image with both, built by the user.
 * - Flags and paths are the Barman Cloud plugin's: `--cloud-provider aws-s3`, `--endpoint-url`,
 *   then `<destinationPath> <serverName>` (github.com/cloudnative-pg/barman-cloud
 *   pkg/command/commandbuilder.go `CloudWalRestoreOptions`, `appendCloudProviderOptions`;
 *   serverName defaults to the cluster name); base backup: `barman-cloud-restore <opts>
 *   <destinationPath> <serverName> <backupID> <pgdata>` (plugin-barman-cloud
 *   internal/cnpgi/restore/restore.go `restoreDataDir`); credentials as AWS_ACCESS_KEY_ID /
 *   AWS_SECRET_ACCESS_KEY, a private CA as AWS_CA_BUNDLE (barman-cloud pkg/credentials/env.go).
 *   The drill reads the key pair from files (the Secret mounted read-only) and exports it itself.
 * - Recovery target: the start of the newest archived WAL segment (`recovery_target_lsn`), or
 *   `immediate` when the newest segment is the base backup's last. PostgreSQL refuses to promote
 *   when the WAL ends before the target ("recovery ended before configured recovery target was
 *   reached", PostgreSQL ≥ 13), so a missing or corrupt segment anywhere between the base backup
 *   and the newest segment fails the drill. A time target would fail on an idle database (no commit
 *   after it) and prove nothing on a busy one.
 * - Checks after promotion: out of recovery; `pg_amcheck --all --heapallindexed --install-missing`
 *   (heap, B-tree and index-to-heap consistency, page checksums as pages are read); at least
 *   `minTables` tables in the database, with exact row counts in the log line.
 */
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, EPHEMERAL_STORAGE_REQUEST, ephemeralStorageLimit, imagePullPolicy, literalEnv, quantityValue, restrictedContainerSecurity, selectorLabels, trace } from './meta.js';
import type { AlertRule } from './monitoring.js';
import type { WorkloadResources } from './workload.js';
import { restrictedJobPod } from '../kube/security.js';
import { scheduledJob } from './cron-job.js';

/** The label every PITR drill CronJob carries, valued with its cluster's name (policies/postgres-drill.ts). */
export const PITR_DRILL_LABEL = 'stackbook.io/pitr-drill-for';
/** Alert names of the drill (policies/postgres-drill.ts checks that they are rendered). */
export const PITR_DRILL_ALERTS = { failed: 'PostgresPitrDrillFailed', stale: 'PostgresPitrDrillStale' } as const;

/** The `system` flavour of the operand image: PostgreSQL + barman-cloud (postgres-containers Dockerfile). */
export const PITR_DRILL_IMAGE = { repository: 'ghcr.io/cloudnative-pg/postgresql', tag: '18.6-system-trixie' } as const;

export interface PostgresPitrDrillProps {
  /** The CNPG cluster (its serverName in the object store). */
  readonly cluster: string;
  readonly namespace: string;
  /** Image with PostgreSQL (same major as the cluster) and the barman-cloud tools. */
  readonly image: string;
  /** `s3://bucket[/prefix]`, as in the ObjectStore. */
  readonly destinationPath: string;
  /** @default AWS S3 */
  readonly endpointUrl?: string;
  readonly credentials: { readonly secretName: string; readonly accessKeyIdKey: string; readonly secretAccessKeyKey: string };
  /** @default system trust store */
  readonly endpointCa?: { readonly secretName: string; readonly key: string };
  /** Database whose tables are counted. */
  readonly database: string;
  /** Kubernetes CronJob schedule (5 fields, UTC). @default '30 6 * * 0' (Sundays 06:30, after the nightly base backup) */
  readonly schedule?: string;
  /** Fewer tables than this in `database` fails the drill. @default 1 */
  readonly minTables?: number;
  /** Scratch space for the restored data directory and WAL: at least the database's size. */
  readonly workSize: string;
  /** Seconds PostgreSQL may take to replay the WAL and promote. @default 3600 */
  readonly recoveryTimeoutSeconds?: number;
  /** @default 250m / 1 CPU, 512Mi / 1Gi memory */
  readonly resources?: WorkloadResources;
  /** Seconds the longest gap between two drills (for the stale alert). */
  readonly interval: number;
  readonly runbookUrl: string;
}

const WORK = '/work';
const CREDENTIALS = '/etc/pitr-drill/s3';
const CA_DIR = '/etc/pitr-drill/ca';

/**
 * The drill script (POSIX sh + python3 of the image). Environment: DESTINATION_PATH, SERVER_NAME,
 * ENDPOINT_URL (optional), S3_CREDENTIALS_DIR, ACCESS_KEY_ID_KEY, SECRET_ACCESS_KEY_KEY,
 * CA_FILE (optional), DATABASE, SUPERUSER, MIN_TABLES, RECOVERY_TIMEOUT, WORK, PGDATA.
 */
export const PITR_DRILL_SCRIPT = `set -eu
fail() { echo "PITR DRILL FAILED: $*" >&2; exit 1; }
AWS_ACCESS_KEY_ID=$(cat "$S3_CREDENTIALS_DIR/$ACCESS_KEY_ID_KEY") || fail "cannot read the access key id"
AWS_SECRET_ACCESS_KEY=$(cat "$S3_CREDENTIALS_DIR/$SECRET_ACCESS_KEY_KEY") || fail "cannot read the secret access key"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
if [ -n "\${CA_FILE:-}" ]; then export AWS_CA_BUNDLE="$CA_FILE"; fi
set -- --cloud-provider aws-s3
if [ -n "\${ENDPOINT_URL:-}" ]; then set -- "$@" --endpoint-url "$ENDPOINT_URL"; fi

# 1. plan: the newest completed base backup, the newest archived WAL segment, the target
barman-cloud-backup-list "$@" --format json "$DESTINATION_PATH" "$SERVER_NAME" > "$WORK/backups.json" || fail "cannot list the base backups of $SERVER_NAME in $DESTINATION_PATH"
python3 - "$WORK/backups.json" > "$WORK/plan" <<'PY' || fail "no recovery plan (see above)"
import json, os, re, sys
from urllib.parse import urlparse
import boto3
done = [b for b in json.load(open(sys.argv[1])).get("backups_list", []) if b.get("status") == "DONE"]
if not done:
    sys.exit("PITR DRILL FAILED: no completed base backup in the object store")
b = max(done, key=lambda x: x["backup_id"])
u = urlparse(os.environ["DESTINATION_PATH"])
prefix = "/".join(p for p in (u.path.strip("/"), os.environ["SERVER_NAME"], "wals") if p) + "/"
s3 = boto3.client("s3", endpoint_url=os.environ.get("ENDPOINT_URL") or None)
segments = set()
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=u.netloc, Prefix=prefix):
    for o in page.get("Contents", []):
        m = re.fullmatch(r"([0-9A-F]{24})(\\.[a-z0-9]+)?", o["Key"].rsplit("/", 1)[-1])
        if m:
            segments.add(m.group(1))
end_wal = b["end_wal"]
if not segments or max(segments) < end_wal:
    sys.exit("PITR DRILL FAILED: the WAL archive ends before base backup %s does (%s)" % (b["backup_id"], end_wal))
newest = max(segments)
size = int(b.get("xlog_segment_size") or 16777216)
if newest == end_wal:
    target = "immediate"
else:
    lsn = (int(newest[8:16], 16) << 32) + int(newest[16:24], 16) * size
    target = "%X/%X" % (lsn >> 32, lsn & 0xFFFFFFFF)
print("BACKUP_ID=%s\\nNEWEST_WAL=%s\\nTARGET=%s\\nSEGMENTS=%d" % (b["backup_id"], newest, target, len(segments)))
PY
. "$WORK/plan"

# 2. the base backup into a scratch data directory
rm -rf "$PGDATA" "$WORK/run"
mkdir -m 700 "$PGDATA" "$WORK/run"
barman-cloud-restore "$@" "$DESTINATION_PATH" "$SERVER_NAME" "$BACKUP_ID" "$PGDATA" || fail "barman-cloud-restore of base backup $BACKUP_ID failed"
rm -f "$PGDATA/standby.signal" "$PGDATA/postmaster.pid"
touch "$PGDATA/recovery.signal"
printf 'local all all trust\\n' > "$WORK/run/pg_hba.conf"
: > "$WORK/run/pg_ident.conf"
if [ "$TARGET" = immediate ]; then TARGET_LINE="recovery_target = 'immediate'"; else TARGET_LINE="recovery_target_lsn = '$TARGET'"; fi
# postgresql.auto.conf is read last: these win over the cluster's own settings (TLS files, log
# directory, archiving) that only exist in the instance pods
cat >> "$PGDATA/postgresql.auto.conf" <<EOF
# stackbook PITR drill: scratch server, local socket only, no archiving
listen_addresses = ''
port = 5432
unix_socket_directories = '$WORK/run'
hba_file = '$WORK/run/pg_hba.conf'
ident_file = '$WORK/run/pg_ident.conf'
ssl = off
archive_mode = off
hot_standby = off
logging_collector = off
log_destination = 'stderr'
shared_buffers = '128MB'
restore_command = 'barman-cloud-wal-restore $* $DESTINATION_PATH $SERVER_NAME %f %p'
recovery_target_timeline = 'latest'
recovery_target_action = 'promote'
$TARGET_LINE
EOF

# 3. replay the WAL to the target and promote. pg_ctl --wait returns as soon as recovery starts
#    (status "standby"); with hot_standby off no connection is accepted before the promotion, so
#    wait for a connection that reports it is out of recovery, or for the server to stop
trap 'pg_ctl --pgdata="$PGDATA" --mode=fast stop >/dev/null 2>&1 || true' EXIT
export PGHOST="$WORK/run" PGPORT=5432 PGUSER="$SUPERUSER"
UNREACHED="recovery of base backup $BACKUP_ID to $TARGET (newest archived segment $NEWEST_WAL) did not complete"
pg_ctl --pgdata="$PGDATA" --log="$WORK/postgres.log" --wait start >/dev/null || { tail -n 20 "$WORK/postgres.log" >&2; fail "$UNREACHED: postgres did not start"; }
WAITED=0
until [ "$(psql -d postgres -Atc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
  pg_ctl --pgdata="$PGDATA" status >/dev/null 2>&1 || { tail -n 20 "$WORK/postgres.log" >&2; fail "$UNREACHED: postgres stopped"; }
  [ "$WAITED" -lt "$RECOVERY_TIMEOUT" ] || { tail -n 20 "$WORK/postgres.log" >&2; fail "$UNREACHED within $RECOVERY_TIMEOUT s"; }
  sleep 2
  WAITED=$((WAITED + 2))
done

# 4. check what was recovered
pg_amcheck --all --install-missing --heapallindexed >&2 || fail "pg_amcheck found corruption in the recovered cluster"
TABLES=$(psql -d "$DATABASE" -Atc "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'") || fail "cannot read database $DATABASE"
[ "$TABLES" -ge "$MIN_TABLES" ] || fail "database $DATABASE has $TABLES tables after recovery, expected at least $MIN_TABLES"
ROWS=$(psql -d "$DATABASE" -Atc "SELECT coalesce(string_agg(format('%s.%s=%s', n.nspname, c.relname, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text), ' ' ORDER BY n.nspname, c.relname), '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'") || fail "cannot count the rows of $DATABASE"
LSN=$(psql -d postgres -Atc 'SELECT pg_current_wal_lsn()')
echo "pitr drill ok: base backup $BACKUP_ID + $SEGMENTS archived WAL segments, recovered to $TARGET (newest segment $NEWEST_WAL), promoted at $LSN; $DATABASE: $TABLES tables, rows $ROWS"
`;

/** The drill's CronJob, its ServiceAccount (no token) and NetworkPolicy; alerts via `pitrDrillAlerts`. */
export class PostgresPitrDrill extends Construct {
  readonly cronJob: k8s.KubeCronJob;
  readonly serviceAccount: k8s.KubeServiceAccount;
  readonly name: string;

  constructor(scope: Construct, id: string, props: PostgresPitrDrillProps & { readonly egress: readonly k8s.NetworkPolicyEgressRule[]; readonly concerns?: readonly string[] }) {
    super(scope, id);
    const C = 'Postgres';
    const n = `${props.cluster}-pitr-drill`;
    const err = (prop: string, message: string, value?: unknown) => new ComponentError(C, props.cluster, `backup.drill.${prop}`, message, value);
    const schedule = props.schedule ?? '30 6 * * 0';
    if (schedule.trim().split(/\s+/).length !== 5) throw err('schedule', 'must be a 5-field Kubernetes CronJob schedule (minute hour day-of-month month day-of-week)', schedule);
    const minTables = props.minTables ?? 1;
    if (!Number.isInteger(minTables) || minTables < 1) throw err('minTables', 'must be an integer ≥ 1', props.minTables);
    const timeout = props.recoveryTimeoutSeconds ?? 3600;
    if (!Number.isInteger(timeout) || timeout < 60 || timeout > 86400) throw err('recoveryTimeoutSeconds', 'must be an integer 60–86400', props.recoveryTimeoutSeconds);
    const work = quantityValue(props.workSize);
    if (work === undefined || work < 2 ** 30) throw err('workSize', 'must be a quantity of at least 1Gi (the restored database and its WAL)', props.workSize);
    const res = props.resources ?? { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '512Mi', memoryLimit: '1Gi' };
    this.name = n;

    const labels = { ...selectorLabels(n), [PITR_DRILL_LABEL]: props.cluster };
    this.serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: n, namespace: props.namespace, labels: selectorLabels(n) },
      automountServiceAccountToken: false,
    });
    const env: Record<string, string> = {
      DESTINATION_PATH: props.destinationPath,
      SERVER_NAME: props.cluster,
      ...(props.endpointUrl ? { ENDPOINT_URL: props.endpointUrl } : {}),
      S3_CREDENTIALS_DIR: CREDENTIALS,
      ACCESS_KEY_ID_KEY: props.credentials.accessKeyIdKey,
      SECRET_ACCESS_KEY_KEY: props.credentials.secretAccessKeyKey,
      ...(props.endpointCa ? { CA_FILE: `${CA_DIR}/${props.endpointCa.key}` } : {}),
      DATABASE: props.database,
      // CNPG's superuser role is always `postgres` (enableSuperuserAccess only governs its password login)
      SUPERUSER: 'postgres',
      MIN_TABLES: String(minTables),
      RECOVERY_TIMEOUT: String(timeout),
      WORK,
      PGDATA: `${WORK}/pgdata`,
      HOME: '/tmp',
    };
    const q = (v: string) => k8s.Quantity.fromString(v);
    const volumes: k8s.Volume[] = [
      { name: 'tmp', emptyDir: { sizeLimit: q('64Mi') } },
      { name: 'work', emptyDir: { sizeLimit: q(props.workSize) } },
      { name: 's3-credentials', secret: { secretName: props.credentials.secretName, defaultMode: 0o440, items: [...new Set([props.credentials.accessKeyIdKey, props.credentials.secretAccessKeyKey])].sort().map((key) => ({ key, path: key })) } },
      ...(props.endpointCa ? [{ name: 'endpoint-ca', secret: { secretName: props.endpointCa.secretName, defaultMode: 0o444, items: [{ key: props.endpointCa.key, path: props.endpointCa.key }] } }] : []),
    ];
    const mounts: k8s.VolumeMount[] = [
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'work', mountPath: WORK },
      { name: 's3-credentials', mountPath: CREDENTIALS, readOnly: true },
      ...(props.endpointCa ? [{ name: 'endpoint-ca', mountPath: CA_DIR, readOnly: true }] : []),
    ];
    this.cronJob = scheduledJob(this, 'CronJob', {
      name: n,
      namespace: props.namespace,
      labels,
      schedule,
      timeZone: 'Etc/UTC',
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 3,
      // a failed drill is a finding, not a flake to retry: the alert reads the failed Job
      backoffLimit: 0,
      activeDeadlineSeconds: timeout + 3 * 3600,
      ttlSecondsAfterFinished: 2 * props.interval,
      pod: {
        // UID/GID 26 is `postgres` in the CNPG operand images (postgres-containers Dockerfile: usermod -u 26 postgres)
        ...restrictedJobPod(C, n, { serviceAccountName: n, uid: 26 }),
        containers: [
          {
            name: 'drill',
            image: props.image,
            imagePullPolicy: imagePullPolicy(props.image),
            command: ['/bin/sh', '-ec', PITR_DRILL_SCRIPT],
            env: Object.keys(env).sort().map((k) => literalEnv(k, env[k]!)),
            resources: {
              requests: { cpu: q(res.cpuRequest), memory: q(res.memoryRequest), 'ephemeral-storage': q(EPHEMERAL_STORAGE_REQUEST) },
              limits: { cpu: q(res.cpuLimit), memory: q(res.memoryLimit), 'ephemeral-storage': q(ephemeralStorageLimit(['64Mi', props.workSize])) },
            },
            securityContext: restrictedContainerSecurity(),
            volumeMounts: mounts,
          },
        ],
        volumes,
      },
    });
    // no ingress; egress only to DNS and the object store
    const policy = new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: n, namespace: props.namespace },
      spec: { podSelector: { matchLabels: selectorLabels(n) }, policyTypes: ['Ingress', 'Egress'], egress: [...props.egress] },
    });
    trace([this.serviceAccount, this.cronJob, policy], 'X-6', ...(props.concerns ?? []));
    trace([this.cronJob], 'X-1'); // a hardened pod (restricted contexts, read-only root FS, no token)
    trace([policy], 'X-3'); // its own allow-list under the namespace's default deny
  }
}

/** `PostgresPitrDrillFailed` / `PostgresPitrDrillStale`, on kube-state-metrics series of the drill's CronJob and Jobs (the shape of backupAlerts in components/backup.ts). */
export function pitrDrillAlerts(o: { cluster: string; namespace: string; interval: number; runbookUrl: string }): AlertRule[] {
  const drill = `${o.cluster}-pitr-drill`;
  const sel = `namespace="${o.namespace}", cronjob="${drill}"`;
  const lastSuccess = `max(kube_cronjob_status_last_successful_time{${sel}} or on (namespace, cronjob) kube_cronjob_created{${sel}})`;
  const days = Math.round((2 * o.interval) / 86400);
  return [
    {
      alert: PITR_DRILL_ALERTS.failed,
      expr:
        `max((kube_job_status_start_time{namespace="${o.namespace}"} and on (namespace, job_name) (kube_job_failed{namespace="${o.namespace}", condition="true"} == 1))` +
        ` * on (namespace, job_name) group_left () kube_job_owner{namespace="${o.namespace}", owner_kind="CronJob", owner_name="${drill}"})` +
        ` > (max(kube_cronjob_status_last_successful_time{${sel}}) or vector(0))`,
      for: '5m',
      severity: 'critical',
      summary: `PostgreSQL ${o.namespace}/${o.cluster}: the point-in-time restore drill failed`,
      description: `The newest Job of CronJob ${o.namespace}/${drill} failed after its last success: the newest base backup could not be restored, or the archived WAL does not replay to the newest segment (a missing or corrupt segment), or the recovered cluster failed its checks. Read the Job's log (PITR DRILL FAILED line) before a restore is needed.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace, cluster: o.cluster },
      concerns: ['X-6'],
    },
    {
      alert: PITR_DRILL_ALERTS.stale,
      expr: `time() - ${lastSuccess} > ${2 * o.interval}`,
      for: '10m',
      severity: 'warning',
      summary: `PostgreSQL ${o.namespace}/${o.cluster}: no successful point-in-time restore drill for ${days} days`,
      description: `CronJob ${o.namespace}/${drill} has not completed successfully for more than twice its schedule's longest interval: the physical backups are unproven.`,
      runbookUrl: o.runbookUrl,
      labels: { namespace: o.namespace, cluster: o.cluster },
      concerns: ['X-6'],
    },
  ];
}

/**
 * Backups (X-6; OUB-7, AION-10): a hardened backup CronJob, a scheduled restore drill, their
 * NetworkPolicies and alerts, for one source:
 *
 * | kind          | produce (verified before it is stored)                                   | drill (restore into a scratch target, then check)          |
 * |---------------|---------------------------------------------------------------------------|-------------------------------------------------------------|
 * | `postgres`    | `pg_dump -Fc`; `pg_restore --list` must read it and list objects          | scratch postgres (initdb in an emptyDir), `pg_restore --exit-on-error`, ≥ N tables |
 * | `mongodb`     | `mongodump --archive --gzip`; `gzip -t` and the archive magic number      | scratch `mongod` in an emptyDir, `mongorestore --stopOnError`, ≥ N databases |
 * | `pvc-tarball` | `tar -czf` of the mounted claim; `tar -tzf` must list ≥ 1 entry          | `tar -xzf` into an emptyDir, entry count equals the listing |
 * | `sqlite`      | `sqlite3 <db> ".backup <file>"` (safe under writers); `PRAGMA integrity_check` = ok | copy, `integrity_check` = ok, ≥ N tables          |
 *
 * Every artefact gets a `.sha256` beside it; the store step checks what it wrote (a PVC copy is
 * re-hashed, an S3 object is read back and hashed) and keeps the newest `retention` artefacts.
 * Any failed check exits non-zero (`/bin/sh -ec` scripts with `set -eu`, `fail` prints why).
 *
 * Pods: an init container produces the artefact into an emptyDir, the main container stores it
 * (restore drill: init fetches + checksums the newest artefact, main restores and checks). No
 * service-account token, Pod Security "restricted", requests and limits, writable paths are
 * emptyDirs. Credentials only from Secret keys mounted read-only as files (issue 14 item 17), one
 * projected volume per container at `BACKUP_SECRETS_DIR/<VARIABLE>`, never environment
 * variables: the script's first lines (`credentialScript`) render each consumer's own credential
 * file into a memory emptyDir (`BACKUP_AUTH_DIR`, mode 0600): libpq's `PGPASSFILE` (pg_dump),
 * mongodump's `--config` YAML with `uri` (mongodb/mongo-tools common/options/options.go:120,
 * 604–623 @8fa3cfc), aws-cli's `AWS_SHARED_CREDENTIALS_FILE`. The drill never receives the
 * source's credentials nor a network path to the source.
 *
 * Alerts (PrometheusRule `<name>-backup`, kube-state-metrics): `BackupStale` when the last
 * successful backup is older than twice the schedule's interval, `BackupRestoreDrillFailed` when
 * the newest failed drill job started after the last successful drill, `BackupRestoreDrillStale`
 * when no drill succeeded within twice the drill interval. The interval of a schedule is the
 * LONGEST gap between two consecutive runs (`scheduleInterval`): `0 3 * * *` → 1 day,
 * `0 3 * * 1-5` → 3 days (Friday to Monday), `0 4 * * 0` → 7 days.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, EPHEMERAL_STORAGE_REQUEST, ephemeralStorageLimit, imagePullPolicy, literalEnv, parseLabel, restrictedContainerSecurity, selectorLabels, trace } from './meta.js';
import { restrictedJobPod } from '../kube/security.js';
import { scheduledJob } from './cron-job.js';
import { AllowList, type Peer, type Rule } from './network-policy.js';
import { PrometheusRules, type AlertRule } from './monitoring.js';
import type { Toleration, WorkloadResources } from './workload.js';
import { imageString, type ImageRef } from '../kube/image.js';
import { DAY_S, scheduleInterval } from '../kube/schedule.js';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../kube/names.js';

export { parseCron, scheduleInterval, type CronSchedule } from '../kube/schedule.js';
export { imageString } from '../kube/image.js';

// ---------------------------------------------------------------------------------------------
// Images

/**
 * Default images, by tag: digests cannot be looked up offline, so a stack pins them by digest in
 * its config and passes the resolved strings (`ctx.image(ref)`) as `images`.
 * - `postgres`: official image, alpine variant (busybox sh + sha256sum, `postgres` user UID 70 that
 *   `initdb` needs for the drill). Its major version must be ≥ the server's (pg_dump refuses older): 18, as the CloudNativePG operand
 *   (components/postgres.ts); the MongoDB tag matches components/mongodb.ts.
 * - `mongodb`: official image; ships mongodump/mongorestore (database tools), mongod and mongosh.
 * - `sqlite`: alpine with the sqlite3 CLI (keinos/sqlite3, a small community build: there is no
 *   official sqlite image; replace with an in-house build where policy requires).
 * - `tools`: official alpine (busybox tar, gzip, sha256sum) for tarballs and PVC targets.
 * - `s3`: the official AWS CLI v2; speaks to S3 and MinIO (`--endpoint-url`).
 */
export const BACKUP_IMAGES = {
  postgres: { repository: 'docker.io/library/postgres', tag: '18.6-alpine' },
  mongodb: { repository: 'docker.io/library/mongo', tag: '8.0.12' },
  sqlite: { repository: 'docker.io/keinos/sqlite3', tag: '3.46.1' },
  tools: { repository: 'docker.io/library/alpine', tag: '3.20.3' },
  s3: { repository: 'docker.io/amazon/aws-cli', tag: '2.17.50' },
} as const satisfies Record<string, ImageRef>;
export type BackupImage = keyof typeof BACKUP_IMAGES;

// ---------------------------------------------------------------------------------------------
// Props

/** A key of a Kubernetes Secret: the only way a credential reaches a backup pod. */
export interface SecretKeyRef {
  readonly secretName: string;
  readonly key: string;
}

export type BackupSource =
  /** PostgreSQL over the network: `pg_dump -Fc` of one database. */
  | {
      readonly kind: 'postgres';
      readonly host: string;
      /** @default 5432 */
      readonly port?: number;
      readonly database: string;
      readonly username: SecretKeyRef;
      readonly password: SecretKeyRef;
      /** Where the server runs, for the egress rule (pods, namespace or CIDR). */
      readonly peer: Peer;
    }
  /** MongoDB: `mongodump --uri` (the URI, with its credentials, comes from a Secret key). */
  | {
      readonly kind: 'mongodb';
      readonly uri: SecretKeyRef;
      /** @default 27017 */
      readonly port?: number;
      readonly peer: Peer;
    }
  /** A tar.gz of a PersistentVolumeClaim's contents (mounted read-only). */
  | { readonly kind: 'pvc-tarball'; readonly claimName: string }
  /**
   * A SQLite database file on a PersistentVolumeClaim, copied with the online backup API.
   * The claim is mounted read-write: SQLite takes locks (and a WAL database its `-shm`) even to read.
   */
  | { readonly kind: 'sqlite'; readonly claimName: string; /** File path inside the claim, e.g. `data/auth.db`. */ readonly path: string };

export type BackupTarget =
  /** An S3 or MinIO bucket: `s3://<bucket>/<prefix>/<name>-<UTC stamp>.<ext>` (+ `.sha256`). */
  | {
      readonly kind: 's3';
      /** e.g. `http://minio.minio.svc:9000` or `https://s3.eu-west-1.amazonaws.com`. */
      readonly endpoint: string;
      readonly bucket: string;
      /** Key prefix (AION: bucket `aion-backups`, prefix `pg`). @default the backup name */
      readonly prefix?: string;
      /** @default us-east-1 */
      readonly region?: string;
      readonly accessKeyId: SecretKeyRef;
      readonly secretAccessKey: SecretKeyRef;
      /** Where the endpoint is, for the egress rule; the port comes from the endpoint URL. */
      readonly peer: Peer;
    }
  /** A backup PersistentVolumeClaim: `<directory>/<name>-<UTC stamp>.<ext>` (+ `.sha256`). */
  | {
      readonly kind: 'pvc';
      readonly claimName: string;
      /** Directory inside the claim. @default the backup name */
      readonly directory?: string;
    };

export interface BackupProps {
  /** Backup name (≤ 38 characters): CronJob `<name>-backup`, drill `<name>-restore-drill`, artefacts `<name>-<stamp>.<ext>`. */
  readonly name: string;
  readonly namespace: string;
  /** 5-field cron schedule of the backup, in `timeZone`. */
  readonly schedule: string;
  readonly source: BackupSource;
  readonly target: BackupTarget;
  /** Absolute URL of the runbook section for the backup alerts. */
  readonly runbookUrl: string;
  /** 5-field cron schedule of the restore drill. @default `30 5 * * 0` (Sundays 05:30) */
  readonly drillSchedule?: string;
  /** Newest artefacts kept in the target (older ones are deleted after a verified store). @default 7 (Oubliette runbook) */
  readonly retention?: number;
  /** Drill check: at least this many tables (postgres, sqlite), databases (mongodb) or entries (pvc-tarball) restored. @default 1 */
  readonly drillMinimum?: number;
  /** Resolved image references (digest-pinned by the stack). @default `BACKUP_IMAGES` by tag */
  readonly images?: Partial<Readonly<Record<BackupImage, string>>>;
  /** Per container. @default 100m / 1 CPU, 256Mi / 1Gi memory */
  readonly resources?: WorkloadResources;
  /** Size limit of the `/work` emptyDir (the artefact, and the drill's scratch database). @default 2Gi */
  readonly workSize?: string;
  /**
   * pvc-tarball to a pvc target only: one container streams the archive into the target claim
   * (STREAM_SCRIPTS), nothing is staged in `/work` (which then sizes the restore drill alone). @default false
   */
  readonly stream?: boolean;
  /** UID/GID of every container. @default 70 (postgres alpine), 999 (mongodb), else 10001 */
  readonly runAsUser?: number;
  /** Labels of the pods that use a ReadWriteOnce source/target claim: the backup pods are scheduled on their node. @default none */
  readonly colocateWith?: Readonly<Record<string, string>>;
  /** Taints the backup pods tolerate (a dedicated node pool the `colocateWith` pods run on). @default none */
  readonly tolerations?: readonly Toleration[];
  /** Time zone of both schedules. @default Etc/UTC */
  readonly timeZone?: string;
  /** A run that cannot start within this many seconds of its time is skipped (and counted missed). @default 600 */
  readonly startingDeadlineSeconds?: number;
  /** Pod retries before a run fails. @default 2 */
  readonly backoffLimit?: number;
  /** A run (all retries) is killed after this many seconds. @default 3600 */
  readonly activeDeadlineSeconds?: number;
  /** Finished jobs are deleted after this many seconds. @default twice the schedule's interval, at least 1 day (a failure stays inspectable and alerted until the stale alert takes over) */
  readonly ttlSecondsAfterFinished?: number;
  /** @default 3 */
  readonly successfulJobsHistoryLimit?: number;
  /** @default 3 */
  readonly failedJobsHistoryLimit?: number;
  /** Severity of the three backup alerts. @default warning */
  readonly alertSeverity?: 'critical' | 'warning';
  /** @default release=prometheus */
  readonly prometheusSelector?: string;
  /** @default kube-system */
  readonly dnsNamespace?: string;
  /** @default k8s-app=kube-dns */
  readonly dnsPodLabel?: string;
  /** Concerns carried besides X-6 (e.g. OUB-7, AION-10). @default none */
  readonly concerns?: readonly string[];
}

const DEFAULT_RESOURCES: WorkloadResources = { cpuRequest: '100m', cpuLimit: '1', memoryRequest: '256Mi', memoryLimit: '1Gi' };
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const REL_PATH = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const EXTENSIONS = { postgres: 'dump', mongodb: 'archive.gz', 'pvc-tarball': 'tar.gz', sqlite: 'sqlite3' } as const;

// ---------------------------------------------------------------------------------------------
// Scripts. Static text per kind: configuration reaches them only as environment variables, so
// no prop is ever interpolated into shell code.

const PREAMBLE = `set -eu
if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi
fail() { echo "BACKUP FAILED: $*" >&2; exit 1; }
`;
/** Names of artefacts of this backup, newest first (names carry a sortable UTC stamp). */
const ARTEFACTS = `artefacts() { { grep -E "^$BACKUP_NAME-[0-9]{8}T[0-9]{6}Z\\.$EXT\\$" || true; } | sort -r; }
`;
const FINISH = `( cd "$WORK" && sha256sum "$FILE" > "$FILE.sha256" && sha256sum -c "$FILE.sha256" >/dev/null ) || fail "cannot checksum $FILE"
echo "$FILE" > "$WORK/artifact"
echo "produced and verified $FILE ($(wc -c < "$WORK/$FILE") bytes)"
`;
const STAMP = `FILE="$BACKUP_NAME-$(date -u +%Y%m%dT%H%M%SZ).$EXT"
`;

export const SCRIPTS = {
  produce: {
    postgres: `${STAMP}pg_dump --format=custom --no-password --file="$WORK/$FILE" || fail "pg_dump of $PGDATABASE on $PGHOST failed"
[ -s "$WORK/$FILE" ] || fail "pg_dump wrote an empty $FILE"
pg_restore --list "$WORK/$FILE" > "$WORK/toc.txt" || fail "pg_restore --list cannot read $FILE"
[ "$(grep -c -v '^;' "$WORK/toc.txt" || true)" -gt 0 ] || fail "$FILE lists no objects"
${FINISH}`,
    mongodb: `${STAMP}mongodump --config="$BACKUP_AUTH_DIR/mongodump.yaml" --archive="$WORK/$FILE" --gzip --quiet || fail "mongodump failed"
[ -s "$WORK/$FILE" ] || fail "mongodump wrote an empty $FILE"
gzip -t "$WORK/$FILE" || fail "$FILE is not a valid gzip stream"
MAGIC=$( (gzip -dc "$WORK/$FILE" 2>/dev/null || true) | head -c 4 | od -An -tx1 | tr -d ' \\n')
[ "$MAGIC" = "6de29981" ] || fail "$FILE is not a mongodump archive (magic '$MAGIC')"
${FINISH}`,
    'pvc-tarball': `${STAMP}tar -czf "$WORK/$FILE" -C "$SOURCE_DIR" . || fail "tar of $SOURCE_DIR failed"
tar -tzf "$WORK/$FILE" > "$WORK/list.txt" || fail "tar -tzf cannot read $FILE"
[ "$(grep -c -v -E '^\\./?$' "$WORK/list.txt" || true)" -gt 0 ] || fail "$FILE holds no entries: is $SOURCE_DIR empty?"
${FINISH}`,
    sqlite: `${STAMP}[ -f "$DB_PATH" ] || fail "no database file at $DB_PATH"
sqlite3 "$DB_PATH" ".backup '$WORK/$FILE'" || fail "sqlite3 .backup of $DB_PATH failed"
RESULT=$(sqlite3 "$WORK/$FILE" 'PRAGMA integrity_check;') || fail "sqlite3 cannot open $FILE"
[ "$RESULT" = "ok" ] || fail "integrity_check of $FILE: $RESULT"
${FINISH}`,
  },
  store: {
    pvc: `${ARTEFACTS}FILE=$(cat "$WORK/artifact")
mkdir -p "$TARGET_DIR"
cp "$WORK/$FILE" "$TARGET_DIR/.$FILE.partial"
cp "$WORK/$FILE.sha256" "$TARGET_DIR/$FILE.sha256"
mv "$TARGET_DIR/.$FILE.partial" "$TARGET_DIR/$FILE"
( cd "$TARGET_DIR" && sha256sum -c "$FILE.sha256" >/dev/null ) || fail "$TARGET_DIR/$FILE does not match its checksum"
echo "stored and verified $TARGET_DIR/$FILE"
ls -1 "$TARGET_DIR" | artefacts | tail -n +$((RETENTION + 1)) | while read -r old; do
  rm -f "$TARGET_DIR/$old" "$TARGET_DIR/$old.sha256"
  echo "retention ($RETENTION): removed $old"
done
`,
    s3: `${ARTEFACTS}FILE=$(cat "$WORK/artifact")
s3() { aws --endpoint-url "$S3_ENDPOINT" --no-cli-pager "$@"; }
BASE="s3://$S3_BUCKET/$S3_PREFIX"
s3 s3 cp --only-show-errors "$WORK/$FILE" "$BASE/$FILE" || fail "upload of $FILE to $BASE failed"
s3 s3 cp --only-show-errors "$WORK/$FILE.sha256" "$BASE/$FILE.sha256" || fail "upload of $FILE.sha256 failed"
WANT=$(cut -d ' ' -f 1 "$WORK/$FILE.sha256")
GOT=$( (s3 s3 cp --only-show-errors "$BASE/$FILE" - || true) | sha256sum | cut -d ' ' -f 1)
[ "$GOT" = "$WANT" ] || fail "$BASE/$FILE reads back as sha256 $GOT, expected $WANT"
echo "stored and verified $BASE/$FILE"
KEYS=$(s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/" --query 'Contents[].Key' --output text) || fail "cannot list $BASE"
echo "$KEYS" | tr '\\t' '\\n' | sed 's|.*/||' | artefacts | tail -n +$((RETENTION + 1)) | while read -r old; do
  s3 s3 rm --only-show-errors "$BASE/$old" || fail "cannot remove $BASE/$old"
  s3 s3 rm --only-show-errors "$BASE/$old.sha256" || true
  echo "retention ($RETENTION): removed $old"
done
`,
  },
  fetch: {
    pvc: `${ARTEFACTS}LATEST=$(ls -1 "$TARGET_DIR" 2>/dev/null | artefacts | sed -n 1p)
[ -n "$LATEST" ] || fail "no $EXT backup of $BACKUP_NAME in $TARGET_DIR"
cp "$TARGET_DIR/$LATEST" "$TARGET_DIR/$LATEST.sha256" "$WORK/" || fail "cannot copy $LATEST"
( cd "$WORK" && sha256sum -c "$LATEST.sha256" >/dev/null ) || fail "$LATEST does not match its checksum"
echo "$LATEST" > "$WORK/artifact"
echo "fetched and verified $LATEST"
`,
    s3: `${ARTEFACTS}s3() { aws --endpoint-url "$S3_ENDPOINT" --no-cli-pager "$@"; }
BASE="s3://$S3_BUCKET/$S3_PREFIX"
KEYS=$(s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/" --query 'Contents[].Key' --output text) || fail "cannot list $BASE"
LATEST=$(echo "$KEYS" | tr '\\t' '\\n' | sed 's|.*/||' | artefacts | sed -n 1p)
[ -n "$LATEST" ] || fail "no $EXT backup of $BACKUP_NAME in $BASE"
s3 s3 cp --only-show-errors "$BASE/$LATEST" "$WORK/$LATEST" || fail "download of $LATEST failed"
s3 s3 cp --only-show-errors "$BASE/$LATEST.sha256" "$WORK/$LATEST.sha256" || fail "download of $LATEST.sha256 failed"
( cd "$WORK" && sha256sum -c "$LATEST.sha256" >/dev/null ) || fail "$LATEST does not match its checksum"
echo "$LATEST" > "$WORK/artifact"
echo "fetched and verified $BASE/$LATEST"
`,
  },
  check: {
    postgres: `FILE=$(cat "$WORK/artifact")
export PGDATA="$WORK/pgdata" PGHOST="$WORK/run" PGUSER=drill PGDATABASE=drill
mkdir -p "$PGHOST"
initdb --username=drill --auth=trust --no-sync --pgdata="$PGDATA" >/dev/null || fail "initdb of the scratch database failed"
pg_ctl --pgdata="$PGDATA" --wait --log="$WORK/postgres.log" --options="-c listen_addresses='' -k $PGHOST -c fsync=off" start >/dev/null || { cat "$WORK/postgres.log" >&2; fail "scratch postgres did not start"; }
trap 'pg_ctl --pgdata="$PGDATA" --mode=immediate stop >/dev/null 2>&1 || true' EXIT
createdb drill 2>/dev/null || true
pg_restore --exit-on-error --no-owner --no-privileges --dbname=drill "$WORK/$FILE" || fail "pg_restore of $FILE into the scratch database failed"
TABLES=$(psql -Atc "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')") || fail "cannot query the restored database"
[ "$TABLES" -ge "$MIN_COUNT" ] || fail "restored $FILE has $TABLES tables, expected at least $MIN_COUNT"
echo "restore drill ok: $FILE restored into a scratch database, $TABLES tables"
`,
    mongodb: `FILE=$(cat "$WORK/artifact")
mkdir -p "$WORK/db"
mongod --dbpath "$WORK/db" --bind_ip 127.0.0.1 --port 27017 --wiredTigerCacheSizeGB 0.25 --fork --logpath "$WORK/mongod.log" >/dev/null || { cat "$WORK/mongod.log" >&2; fail "scratch mongod did not start"; }
trap 'mongod --dbpath "$WORK/db" --shutdown >/dev/null 2>&1 || true' EXIT
mongorestore --uri=mongodb://127.0.0.1:27017 --archive="$WORK/$FILE" --gzip --stopOnError --quiet || fail "mongorestore of $FILE into the scratch mongod failed"
COUNT=$(mongosh --quiet mongodb://127.0.0.1:27017 --eval 'db.adminCommand({ listDatabases: 1 }).databases.filter((d) => !["admin", "config", "local"].includes(d.name)).length') || fail "cannot query the scratch mongod"
[ "$COUNT" -ge "$MIN_COUNT" ] || fail "restored $FILE has $COUNT databases, expected at least $MIN_COUNT"
echo "restore drill ok: $FILE restored into a scratch mongod, $COUNT databases"
`,
    'pvc-tarball': `FILE=$(cat "$WORK/artifact")
mkdir -p "$WORK/restore"
tar -xzf "$WORK/$FILE" -C "$WORK/restore" || fail "tar -xzf of $FILE failed"
LISTED=$( (tar -tzf "$WORK/$FILE" || true) | grep -c -v -E '^\\./?$' || true)
FOUND=$(cd "$WORK/restore" && find . -mindepth 1 | wc -l)
[ "$FOUND" -ge "$MIN_COUNT" ] || fail "restored $FILE has $FOUND entries, expected at least $MIN_COUNT"
[ "$FOUND" -eq "$LISTED" ] || fail "restored $FOUND entries but $FILE lists $LISTED"
echo "restore drill ok: $FILE restored into a scratch directory, $FOUND entries"
`,
    sqlite: `FILE=$(cat "$WORK/artifact")
cp "$WORK/$FILE" "$WORK/restore.db"
RESULT=$(sqlite3 "$WORK/restore.db" 'PRAGMA integrity_check;') || fail "sqlite3 cannot open the restored $FILE"
[ "$RESULT" = "ok" ] || fail "integrity_check of the restored $FILE: $RESULT"
TABLES=$(sqlite3 "$WORK/restore.db" "SELECT count(*) FROM sqlite_master WHERE type = 'table';")
[ "$TABLES" -ge "$MIN_COUNT" ] || fail "restored $FILE has $TABLES tables, expected at least $MIN_COUNT"
echo "restore drill ok: $FILE restored, integrity ok, $TABLES tables"
`,
  },
} as const;

/** The container command: a POSIX shell running the script with `set -eu` (and pipefail where the shell has it). */
/**
 * `stream: true` (pvc-tarball to a pvc target): tar writes straight into the target claim while a
 * FIFO feeds the same bytes to sha256sum, so nothing is staged in the pod's `/work` emptyDir on the
 * node; the archive is renamed into place, re-checked against its checksum and listed (at least one
 * entry) before retention deletes anything.
 */
export const STREAM_SCRIPTS = {
  'pvc-tarball': {
    pvc: `${ARTEFACTS}${STAMP}mkdir -p "$TARGET_DIR"
PART="$TARGET_DIR/.$FILE.partial"
FIFO="$WORK/sha256.fifo"
rm -f "$FIFO" "$PART"
mkfifo "$FIFO"
trap 'rm -f "$FIFO" "$PART"' EXIT
sha256sum < "$FIFO" > "$WORK/sum" &
SUM_PID=$!
# a pipeline's status is its last command's (no pipefail in every sh): tar records its own failure
rm -f "$WORK/tar.failed"
{ tar -czf - -C "$SOURCE_DIR" . || echo "$?" > "$WORK/tar.failed"; } | tee "$FIFO" > "$PART" || fail "writing $PART failed"
[ ! -e "$WORK/tar.failed" ] || fail "tar of $SOURCE_DIR failed (exit $(cat "$WORK/tar.failed"))"
wait "$SUM_PID" || fail "sha256sum of the stream failed"
echo "$(cut -d ' ' -f 1 "$WORK/sum")  $FILE" > "$TARGET_DIR/$FILE.sha256"
mv "$PART" "$TARGET_DIR/$FILE"
( cd "$TARGET_DIR" && sha256sum -c "$FILE.sha256" >/dev/null ) || fail "$TARGET_DIR/$FILE does not match its checksum"
N=$( { tar -tzf "$TARGET_DIR/$FILE" || echo "$?" > "$WORK/tar.failed"; } | awk '!/^[.][/]?$/ { n++ } END { print n + 0 }')
[ ! -e "$WORK/tar.failed" ] || fail "tar -tzf cannot read $TARGET_DIR/$FILE"
[ "$N" -gt 0 ] || fail "$FILE holds no entries: is $SOURCE_DIR empty?"
echo "streamed, stored and verified $TARGET_DIR/$FILE ($(wc -c < "$TARGET_DIR/$FILE") bytes, $N entries; nothing staged in $WORK)"
ls -1 "$TARGET_DIR" | artefacts | tail -n +$((RETENTION + 1)) | while read -r old; do
  rm -f "$TARGET_DIR/$old" "$TARGET_DIR/$old.sha256"
  echo "retention ($RETENTION): removed $old"
done
`,
  },
} as const;

export function shellCommand(script: string): string[] {
  return ['/bin/sh', '-ec', `${PREAMBLE}${script}`];
}

/** Where a backup container's Secret keys are mounted read-only, one file per former variable name. */
export const BACKUP_SECRETS_DIR = '/run/secrets/backup';
/** Memory emptyDir for the credential files rendered from them (mode 0600). */
export const BACKUP_AUTH_DIR = '/run/backup-auth';

/**
 * The lines that turn the mounted Secret files into each consumer's own credential file, for the
 * Secret-sourced names a container has (empty when it has none). Literal env `BACKUP_SECRETS_DIR`
 * and `BACKUP_AUTH_DIR` locate them.
 * - `PGUSER`/`PGPASSWORD`: `PGUSER` exported from its file (a user name), the password in a
 *   `PGPASSFILE` line `*:*:*:*:<password>` with `\\` and `:` escaped (libpq, "The Password File").
 * - `MONGODB_URI`: `uri: "<uri>"` (YAML double-quoted, `\\` and `"` escaped) for `mongodump --config`.
 * - `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`: a `[default]` profile in
 *   `AWS_SHARED_CREDENTIALS_FILE` (botocore reads it without interpolation).
 */
export function credentialScript(secretNames: readonly string[]): string {
  const has = (n: string) => secretNames.includes(n);
  const lines: string[] = [];
  if (has('PGUSER')) lines.push('PGUSER=$(cat "$BACKUP_SECRETS_DIR/PGUSER"); export PGUSER');
  if (has('PGPASSWORD')) {
    lines.push(
      `( umask 077; printf '*:*:*:*:%s\\n' "$(sed 's/[\\\\:]/\\\\&/g' "$BACKUP_SECRETS_DIR/PGPASSWORD")" > "$BACKUP_AUTH_DIR/pgpass" )`,
      'export PGPASSFILE="$BACKUP_AUTH_DIR/pgpass"',
    );
  }
  if (has('MONGODB_URI')) lines.push(`( umask 077; printf 'uri: "%s"\\n' "$(sed 's/[\\\\"]/\\\\&/g' "$BACKUP_SECRETS_DIR/MONGODB_URI")" > "$BACKUP_AUTH_DIR/mongodump.yaml" )`);
  if (has('AWS_ACCESS_KEY_ID') && has('AWS_SECRET_ACCESS_KEY')) {
    lines.push(
      `( umask 077; printf '[default]\\naws_access_key_id = %s\\naws_secret_access_key = %s\\n' "$(cat "$BACKUP_SECRETS_DIR/AWS_ACCESS_KEY_ID")" "$(cat "$BACKUP_SECRETS_DIR/AWS_SECRET_ACCESS_KEY")" > "$BACKUP_AUTH_DIR/aws-credentials" )`,
      'export AWS_SHARED_CREDENTIALS_FILE="$BACKUP_AUTH_DIR/aws-credentials"',
    );
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

// ---------------------------------------------------------------------------------------------
// The construct

type Env = Readonly<Record<string, string | SecretKeyRef>>;

function envVars(env: Env): k8s.EnvVar[] {
  return Object.keys(env)
    .sort()
    .map((name) => {
      const v = env[name]!;
      return typeof v === 'string' ? literalEnv(name, v) : { name, valueFrom: { secretKeyRef: { name: v.secretName, key: v.key } } };
    });
}

function q(v: string): k8s.Quantity {
  return k8s.Quantity.fromString(v);
}

const WORK = '/work';
const SOURCE = '/source';
const TARGET = '/backup';

export class BackupCronJob extends Construct {
  readonly backup: k8s.KubeCronJob;
  readonly drill: k8s.KubeCronJob;
  readonly serviceAccount: k8s.KubeServiceAccount;
  readonly backupPolicy: AllowList;
  readonly drillPolicy: AllowList;
  readonly rules: PrometheusRules;
  /** Seconds: the longest gap between two backup runs, and between two drills. */
  readonly interval: number;
  readonly drillInterval: number;

  constructor(scope: Construct, id: string, props: BackupProps) {
    super(scope, id);
    const C = 'BackupCronJob';
    const err = (prop: string, message: string, value?: unknown) => new ComponentError(C, props.name, prop, message, value);
    const int = (prop: string, v: number, min: number, max: number): number => {
      if (!Number.isInteger(v) || v < min || v > max) throw err(prop, `must be an integer ${min}–${max}`, v);
      return v;
    };
    const secretRef = (prop: string, r: SecretKeyRef): SecretKeyRef => {
      if (!DNS_SUBDOMAIN.test(r.secretName)) throw err(`${prop}.secretName`, 'must be a Secret name', r.secretName);
      if (!SECRET_KEY.test(r.key)) throw err(`${prop}.key`, 'must be a Secret data key', r.key);
      return r;
    };
    const cron = (prop: string, s: string): number => {
      try {
        return scheduleInterval(s);
      } catch (e) {
        throw err(prop, `is not a usable 5-field cron schedule: ${(e as Error).message}`, s);
      }
    };

    if (!DNS_LABEL.test(props.name) || props.name.length > 38) throw err('name', 'must be a DNS label of at most 38 characters (CronJob names ≤ 52 with "-restore-drill")', props.name);
    if (!DNS_LABEL.test(props.namespace)) throw err('namespace', 'must be a DNS label', props.namespace);
    this.interval = cron('schedule', props.schedule);
    const drillSchedule = props.drillSchedule ?? '30 5 * * 0';
    this.drillInterval = cron('drillSchedule', drillSchedule);
    if (!/^https?:\/\/\S+$/.test(props.runbookUrl)) throw err('runbookUrl', 'must be an absolute URL', props.runbookUrl);
    const retention = int('retention', props.retention ?? 7, 1, 1000);
    const drillMinimum = int('drillMinimum', props.drillMinimum ?? 1, 0, 1_000_000);
    const startingDeadlineSeconds = int('startingDeadlineSeconds', props.startingDeadlineSeconds ?? 600, 10, 86_400);
    const backoffLimit = int('backoffLimit', props.backoffLimit ?? 2, 0, 10);
    const activeDeadlineSeconds = int('activeDeadlineSeconds', props.activeDeadlineSeconds ?? 3600, 60, 7 * DAY_S);
    const successful = int('successfulJobsHistoryLimit', props.successfulJobsHistoryLimit ?? 3, 1, 100);
    const failed = int('failedJobsHistoryLimit', props.failedJobsHistoryLimit ?? 3, 1, 100);
    const ttlFor = (interval: number) => int('ttlSecondsAfterFinished', props.ttlSecondsAfterFinished ?? Math.max(DAY_S, 2 * interval), 0, 366 * DAY_S);
    const timeZone = props.timeZone ?? 'Etc/UTC';
    if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(timeZone)) throw err('timeZone', 'must be an IANA time zone name such as Etc/UTC', timeZone);
    const workSize = props.workSize ?? '2Gi';
    if (!/^\d+(Ki|Mi|Gi|Ti)$/.test(workSize)) throw err('workSize', 'must be a quantity such as 2Gi', workSize);
    const res = props.resources ?? DEFAULT_RESOURCES;
    const src = props.source;
    const tgt = props.target;
    const runAsUser = int('runAsUser', props.runAsUser ?? (src.kind === 'postgres' ? 70 : src.kind === 'mongodb' ? 999 : 10001), 1, 2 ** 31 - 1);
    const images: Record<BackupImage, string> = {
      postgres: imageString(BACKUP_IMAGES.postgres),
      mongodb: imageString(BACKUP_IMAGES.mongodb),
      sqlite: imageString(BACKUP_IMAGES.sqlite),
      tools: imageString(BACKUP_IMAGES.tools),
      s3: imageString(BACKUP_IMAGES.s3),
      ...props.images,
    };
    for (const [k, v] of Object.entries(images)) if (!/^\S+:\S+$|^\S+@sha256:[a-f0-9]{64}$/.test(v)) throw err(`images.${k}`, 'must be a full image reference with a tag or digest', v);
    const dnsPods = parseLabel(C, props.name, 'dnsPodLabel', props.dnsPodLabel ?? 'k8s-app=kube-dns');
    const ext = EXTENSIONS[src.kind];

    // Source: environment of the produce step, its volume and its egress.
    const sourceEnv: Record<string, string | SecretKeyRef> = {};
    const sourceEgress: Rule[] = [];
    let sourceClaim: { claimName: string; readOnly: boolean } | undefined;
    let produceImage: string;
    let checkImage: string;
    switch (src.kind) {
      case 'postgres': {
        if (!DNS_SUBDOMAIN.test(src.host)) throw err('source.host', 'must be a DNS name', src.host);
        if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(src.database)) throw err('source.database', 'must be a database name', src.database);
        const port = int('source.port', src.port ?? 5432, 1, 65535);
        Object.assign(sourceEnv, {
          PGHOST: src.host,
          PGPORT: String(port),
          PGDATABASE: src.database,
          PGCONNECT_TIMEOUT: '30',
          PGUSER: secretRef('source.username', src.username),
          PGPASSWORD: secretRef('source.password', src.password),
        });
        sourceEgress.push({ peers: [src.peer], ports: [{ port }] });
        [produceImage, checkImage] = [images.postgres, images.postgres];
        break;
      }
      case 'mongodb': {
        const port = int('source.port', src.port ?? 27017, 1, 65535);
        sourceEnv.MONGODB_URI = secretRef('source.uri', src.uri);
        sourceEgress.push({ peers: [src.peer], ports: [{ port }] });
        [produceImage, checkImage] = [images.mongodb, images.mongodb];
        break;
      }
      case 'pvc-tarball':
        if (!DNS_SUBDOMAIN.test(src.claimName)) throw err('source.claimName', 'must be a PersistentVolumeClaim name', src.claimName);
        sourceEnv.SOURCE_DIR = SOURCE;
        sourceClaim = { claimName: src.claimName, readOnly: true };
        [produceImage, checkImage] = [images.tools, images.tools];
        break;
      case 'sqlite':
        if (!DNS_SUBDOMAIN.test(src.claimName)) throw err('source.claimName', 'must be a PersistentVolumeClaim name', src.claimName);
        if (!REL_PATH.test(src.path) || src.path.split('/').includes('..')) throw err('source.path', 'must be a relative file path inside the claim, such as data/auth.db', src.path);
        sourceEnv.DB_PATH = `${SOURCE}/${src.path}`;
        sourceClaim = { claimName: src.claimName, readOnly: false };
        [produceImage, checkImage] = [images.sqlite, images.sqlite];
        break;
      default:
        throw err('source.kind', 'must be postgres, mongodb, pvc-tarball or sqlite', (src as { kind: unknown }).kind);
    }

    // Target: environment of the store/fetch steps, volume and egress.
    const targetEnv: Record<string, string | SecretKeyRef> = {};
    const targetEgress: Rule[] = [];
    let targetClaim: string | undefined;
    let storeImage: string;
    if (tgt.kind === 's3') {
      let url: URL;
      try {
        url = new URL(tgt.endpoint);
      } catch {
        throw err('target.endpoint', 'must be an http(s) URL', tgt.endpoint);
      }
      if (!/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search !== '' || url.username !== '') {
        throw err('target.endpoint', 'must be an http(s) URL with no path, query or credentials', tgt.endpoint);
      }
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(tgt.bucket)) throw err('target.bucket', 'must be an S3 bucket name', tgt.bucket);
      const prefix = tgt.prefix ?? props.name;
      if (!REL_PATH.test(prefix)) throw err('target.prefix', 'must be a key prefix such as pg or backups/pg (no leading or trailing "/")', prefix);
      const region = tgt.region ?? 'us-east-1';
      if (!/^[a-z0-9-]+$/.test(region)) throw err('target.region', 'must be a region such as eu-west-1', region);
      Object.assign(targetEnv, {
        S3_ENDPOINT: tgt.endpoint.replace(/\/$/, ''),
        S3_BUCKET: tgt.bucket,
        S3_PREFIX: prefix,
        AWS_DEFAULT_REGION: region,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ACCESS_KEY_ID: secretRef('target.accessKeyId', tgt.accessKeyId),
        AWS_SECRET_ACCESS_KEY: secretRef('target.secretAccessKey', tgt.secretAccessKey),
      });
      const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
      targetEgress.push({ peers: [tgt.peer], ports: [{ port }] });
      storeImage = images.s3;
    } else if (tgt.kind === 'pvc') {
      if (!DNS_SUBDOMAIN.test(tgt.claimName)) throw err('target.claimName', 'must be a PersistentVolumeClaim name', tgt.claimName);
      const dir = tgt.directory ?? props.name;
      if (!REL_PATH.test(dir) || dir.split('/').includes('..')) throw err('target.directory', 'must be a relative directory inside the claim', dir);
      if (sourceClaim?.claimName === tgt.claimName) throw err('target.claimName', 'must not be the source claim (a backup on the same volume dies with it)', tgt.claimName);
      targetEnv.TARGET_DIR = `${TARGET}/${dir}`;
      targetClaim = tgt.claimName;
      storeImage = images.tools;
    } else {
      throw err('target.kind', 'must be s3 or pvc', (tgt as { kind: unknown }).kind);
    }

    const concerns = ['X-6', ...(props.concerns ?? [])];
    const saName = `${props.name}-backup`;
    this.serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: saName, namespace: props.namespace, labels: selectorLabels(saName) },
      automountServiceAccountToken: false,
    });

    const common = { BACKUP_NAME: props.name, EXT: ext, WORK, HOME: '/tmp' };
    const containerSecurity = restrictedContainerSecurity();
    // every container mounts tmp and work (emptyDirs): its ephemeral-storage limit covers both
    const resources: k8s.ResourceRequirements = {
      requests: { cpu: q(res.cpuRequest), memory: q(res.memoryRequest), 'ephemeral-storage': q(res.ephemeralStorageRequest ?? EPHEMERAL_STORAGE_REQUEST) },
      limits: { cpu: q(res.cpuLimit), memory: q(res.memoryLimit), 'ephemeral-storage': q(res.ephemeralStorageLimit ?? ephemeralStorageLimit(['64Mi', workSize])) },
    };
    // Secret-sourced values become files of a projected volume `secrets-<container>` (never env);
    // `secretVolumes` collects them for the pod, `credentialScript` renders what the tools read.
    const secretVolumes = new Map<string, k8s.Volume>();
    const container = (name: string, image: string, script: string, env: Env, mounts: k8s.VolumeMount[]): k8s.Container => {
      const secretNames = Object.keys(env)
        .filter((k) => typeof env[k] !== 'string')
        .sort();
      const literals = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string')) as Env;
      if (secretNames.length > 0) {
        secretVolumes.set(name, {
          name: `secrets-${name}`,
          projected: {
            defaultMode: 0o440,
            sources: secretNames.map((k) => {
              const r = env[k] as SecretKeyRef;
              return { secret: { name: r.secretName, items: [{ key: r.key, path: k }] } };
            }),
          },
        });
      }
      const files: Env = secretNames.length > 0 ? { BACKUP_SECRETS_DIR, BACKUP_AUTH_DIR } : {};
      return {
        name,
        image,
        imagePullPolicy: imagePullPolicy(image),
        command: shellCommand(`${credentialScript(secretNames)}${script}`),
        env: envVars({ ...common, ...literals, ...files }),
        resources,
        securityContext: containerSecurity,
        volumeMounts: [
          { name: 'tmp', mountPath: '/tmp' },
          { name: 'work', mountPath: WORK },
          ...mounts,
          ...(secretNames.length > 0
            ? [
                { name: `secrets-${name}`, mountPath: BACKUP_SECRETS_DIR, readOnly: true },
                { name: 'auth', mountPath: BACKUP_AUTH_DIR },
              ]
            : []),
        ],
      };
    };
    /** The pod's secret volumes (and the memory emptyDir for rendered credentials) for `containers`. */
    const secretPodVolumes = (containers: readonly k8s.Container[]): k8s.Volume[] => {
      const vols = containers.flatMap((c) => (secretVolumes.has(c.name) ? [secretVolumes.get(c.name)!] : []));
      return vols.length > 0 ? [{ name: 'auth', emptyDir: { medium: 'Memory', sizeLimit: q('1Mi') } }, ...vols] : [];
    };
    const baseVolumes: k8s.Volume[] = [
      { name: 'tmp', emptyDir: { sizeLimit: q('64Mi') } },
      { name: 'work', emptyDir: { sizeLimit: q(workSize) } },
    ];
    const affinity: k8s.Affinity | undefined = props.colocateWith
      ? { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { ...props.colocateWith } }, topologyKey: 'kubernetes.io/hostname' }] } }
      : undefined;

    const cronJob = (cid: string, name: string, schedule: string, interval: number, labels: Record<string, string>, pod: Pick<k8s.PodSpec, 'initContainers' | 'containers' | 'volumes'>) =>
      scheduledJob(this, cid, {
        name,
        namespace: props.namespace,
        labels,
        schedule,
        timeZone,
        startingDeadlineSeconds,
        successfulJobsHistoryLimit: successful,
        failedJobsHistoryLimit: failed,
        backoffLimit,
        activeDeadlineSeconds,
        ttlSecondsAfterFinished: ttlFor(interval),
        pod: {
          ...restrictedJobPod(C, name, { serviceAccountName: saName, uid: runAsUser }),
          ...(affinity ? { affinity } : {}),
          ...(props.tolerations && props.tolerations.length > 0 ? { tolerations: props.tolerations.map((t) => ({ ...t })) } : {}),
          ...pod,
        },
      });

    // Backup: produce (init) -> store (main).
    const backupLabels = { ...selectorLabels(`${props.name}-backup`), 'stackbook.io/backup': props.name };
    // `readOnly: false` is the API default and the server drops it (a perpetual drift): only `true` is written.
    const ro = (readOnly: boolean): { readOnly?: true } => (readOnly ? { readOnly: true } : {});
    const srcMount: k8s.VolumeMount[] = sourceClaim ? [{ name: 'source', mountPath: SOURCE, ...ro(sourceClaim.readOnly) }] : [];
    const srcVolume: k8s.Volume[] = sourceClaim ? [{ name: 'source', persistentVolumeClaim: { claimName: sourceClaim.claimName, ...ro(sourceClaim.readOnly) } }] : [];
    const tgtVolume = (readOnly: boolean): k8s.Volume[] => (targetClaim ? [{ name: 'target', persistentVolumeClaim: { claimName: targetClaim, ...ro(readOnly) } }] : []);
    const tgtMount = (readOnly: boolean): k8s.VolumeMount[] => (targetClaim ? [{ name: 'target', mountPath: TARGET, ...ro(readOnly) }] : []);
    const mode = tgt.kind;
    if (props.stream && (src.kind !== 'pvc-tarball' || mode !== 'pvc')) {
      throw err('stream', 'streams only a pvc-tarball source into a pvc target', `${src.kind} -> ${mode}`);
    }
    const streamStore = props.stream ? container('store', storeImage, STREAM_SCRIPTS['pvc-tarball'].pvc, { ...sourceEnv, ...targetEnv, RETENTION: String(retention) }, [...srcMount, ...tgtMount(false)]) : undefined;
    const produce = props.stream ? undefined : container('produce', produceImage, SCRIPTS.produce[src.kind], sourceEnv, srcMount);
    const store = props.stream ? undefined : container('store', storeImage, SCRIPTS.store[mode], { ...targetEnv, RETENTION: String(retention) }, tgtMount(false));
    this.backup = streamStore
      ? cronJob('Backup', `${props.name}-backup`, props.schedule, this.interval, backupLabels, {
          containers: [streamStore],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: q('64Mi') } }, { name: 'work', emptyDir: { sizeLimit: q('64Mi') } }, ...srcVolume, ...tgtVolume(false), ...secretPodVolumes([streamStore])],
        })
      : cronJob('Backup', `${props.name}-backup`, props.schedule, this.interval, backupLabels, {
          initContainers: [produce!],
          containers: [store!],
          volumes: [...baseVolumes, ...srcVolume, ...tgtVolume(false), ...secretPodVolumes([produce!, store!])],
        });

    // Restore drill: fetch (init) -> restore and check (main). Never the source's credentials or network.
    const drillLabels = { ...selectorLabels(`${props.name}-restore-drill`), 'stackbook.io/backup': props.name };
    const fetch = container('fetch', storeImage, SCRIPTS.fetch[mode], targetEnv, tgtMount(true));
    const restore = container('restore', checkImage, SCRIPTS.check[src.kind], { MIN_COUNT: String(drillMinimum) }, []);
    this.drill = cronJob('Drill', `${props.name}-restore-drill`, drillSchedule, this.drillInterval, drillLabels, {
      initContainers: [fetch],
      containers: [restore],
      volumes: [...baseVolumes, ...tgtVolume(true), ...secretPodVolumes([fetch, restore])],
    });

    const dns: Rule = { peers: [{ namespace: props.dnsNamespace ?? 'kube-system', pods: dnsPods }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] };
    this.backupPolicy = new AllowList(this, 'BackupPolicy', {
      name: `${props.name}-backup`,
      namespace: props.namespace,
      pods: selectorLabels(`${props.name}-backup`),
      egress: [dns, ...sourceEgress, ...targetEgress],
      concerns,
    });
    this.drillPolicy = new AllowList(this, 'DrillPolicy', {
      name: `${props.name}-restore-drill`,
      namespace: props.namespace,
      pods: selectorLabels(`${props.name}-restore-drill`),
      egress: [dns, ...targetEgress],
      concerns,
    });

    this.rules = new PrometheusRules(this, 'Alerts', {
      name: `${props.name}-backup`,
      namespace: props.namespace,
      rules: backupAlerts({
        name: props.name,
        namespace: props.namespace,
        interval: this.interval,
        drillInterval: this.drillInterval,
        runbookUrl: props.runbookUrl,
        severity: props.alertSeverity ?? 'warning',
      }),
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns,
    });
    trace([this.serviceAccount, this.backup, this.drill], 'X-1', ...concerns);
  }
}

export interface BackupAlertsProps {
  readonly name: string;
  readonly namespace: string;
  /** Seconds (see `scheduleInterval`). */
  readonly interval: number;
  readonly drillInterval: number;
  readonly runbookUrl: string;
  readonly severity: 'critical' | 'warning';
}

function duration(seconds: number): string {
  if (seconds % DAY_S === 0) return `${seconds / DAY_S}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${Math.round(seconds / 60)}m`;
}

/**
 * The three backup alerts, on kube-state-metrics series of the two CronJobs and their Jobs.
 * Every expression aggregates with `max(...)` (no labels); the alerts carry `namespace` and `backup`.
 */
export function backupAlerts(p: BackupAlertsProps): AlertRule[] {
  const sel = (cronjob: string) => `namespace="${p.namespace}", cronjob="${cronjob}"`;
  const backup = `${p.name}-backup`;
  const drill = `${p.name}-restore-drill`;
  // Never succeeded yet: count from the CronJob's creation, so a backup that never works still alerts.
  const lastSuccess = (cj: string) => `max(kube_cronjob_status_last_successful_time{${sel(cj)}} or on (namespace, cronjob) kube_cronjob_created{${sel(cj)}})`;
  const labels = { namespace: p.namespace, backup: p.name };
  return [
    {
      alert: 'BackupStale',
      expr: `time() - ${lastSuccess(backup)} > ${2 * p.interval}`,
      for: '10m',
      severity: p.severity,
      summary: `No successful ${p.name} backup for more than ${duration(2 * p.interval)} (twice its schedule's interval)`,
      description: `CronJob ${p.namespace}/${backup} has not completed successfully for more than twice its schedule's longest interval (${duration(p.interval)}). Check its last Jobs (kubectl -n ${p.namespace} get jobs -l app.kubernetes.io/name=${backup}) and their logs: every failed verification says BACKUP FAILED and why.`,
      runbookUrl: p.runbookUrl,
      labels,
      concerns: ['X-6'],
    },
    {
      alert: 'BackupRestoreDrillFailed',
      expr:
        `max((kube_job_status_start_time{namespace="${p.namespace}"} and on (namespace, job_name) (kube_job_failed{namespace="${p.namespace}", condition="true"} == 1))` +
        ` * on (namespace, job_name) group_left () kube_job_owner{namespace="${p.namespace}", owner_kind="CronJob", owner_name="${drill}"})` +
        ` > (max(kube_cronjob_status_last_successful_time{${sel(drill)}}) or vector(0))`,
      for: '5m',
      severity: p.severity,
      summary: `The ${p.name} restore drill failed: the newest backup did not restore`,
      description: `The newest failed Job of CronJob ${p.namespace}/${drill} started after its last successful run. The latest backup could not be fetched, failed its checksum, or did not restore into the scratch target: read the Job's logs (BACKUP FAILED lines) before the backup is needed.`,
      runbookUrl: p.runbookUrl,
      labels,
      concerns: ['X-6'],
    },
    {
      alert: 'BackupRestoreDrillStale',
      expr: `time() - ${lastSuccess(drill)} > ${2 * p.drillInterval}`,
      for: '10m',
      severity: p.severity,
      summary: `No successful ${p.name} restore drill for more than ${duration(2 * p.drillInterval)}`,
      description: `CronJob ${p.namespace}/${drill} has not completed successfully for more than twice its schedule's longest interval (${duration(p.drillInterval)}): restores of ${p.name} are unproven.`,
      runbookUrl: p.runbookUrl,
      labels,
      concerns: ['X-6'],
    },
  ];
}

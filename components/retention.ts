/**
 * Retention Jobs (AION-13, AION-14): idempotent, hardened Jobs that apply
 *
 * - the MinIO lifecycle: rule `memory-retention` expiring objects after N days, and incomplete
 *   multipart uploads aborted after 72 h (`mc ilm rule import` of a rendered lifecycle.json,
 *   which replaces the bucket's whole lifecycle: this Job owns it, as the runbook's
 *   `deploy/minio/lifecycle.json` did). MinIO itself drops `AbortIncompleteMultipartUpload` and
 *   aborts stale uploads server-side instead (see components/minio.ts); S3 targets honour it;
 * - the ClickHouse TTL script (`ALTER TABLE … MODIFY TTL <column> + INTERVAL N DAY`), run with
 *   `clickhouse-client --queries-file` (the runbook's `clickhouse-client -n < script`);
 * - Mongo TTL indexes: `createIndex({<field>: 1}, {expireAfterSeconds})` when missing, `collMod`
 *   when the index exists with another expiry, nothing when it is already right.
 *
 * Running any of them twice gives the same state, so re-applying a bundle (or Pulumi replacing
 * the Job) is safe. The Job name carries a hash of what it applies: a change of retention is a
 * new Job (Job templates are immutable), and `ttlSecondsAfterFinished` removes finished ones.
 *
 * Retention days are validated per tier by `retentionRange`: development 7–14, production
 * 30–90 (the runbook), staging 14–30 (decision: between the two, long enough to debug a
 * release candidate, short enough to keep staging small).
 *
 * Credentials only as mounted Secret files (issue 14 item 17), read-only under
 * `RETENTION_SECRETS_DIR`, never environment variables: `mc` reads the keys from stdin (piped by
 * the shell from the files, never argv), clickhouse-client gets `CLICKHOUSE_PASSWORD` for its one
 * process from the file (exported by the shell that execs it; not in the pod spec), mongosh
 * reads the URI file itself (`fs.readFileSync`).
 */
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ConfigMap } from './config-map.js';
import { ComponentError, checksum, selectorLabels, trace } from './meta.js';
import { AllowList } from './network-policy.js';
import { restrictedJobPod } from '../kube/security.js';
import {
  egressTo,
  hardenedContainer,
  podVolumes,
  type Endpoint,
  type Tier,
  podVolumeSizes,
} from './stateful.js';
import type { ClickHouseConnection } from './clickhouse.js';
import type { MinioConnection } from './minio.js';
import type { MongoConnection } from './mongodb.js';
import type { EnvValue, WorkloadResources } from './workload.js';
import { isDnsLabel } from '../kube/names.js';
import { retentionRange } from '../kube/tier.js';

export { retentionRange } from '../kube/tier.js';

/** Throw a ComponentError unless `days` is an integer in the tier's range. */
export function checkRetentionDays(component: string, id: string, days: number, tier: Tier): void {
  const r = retentionRange(tier);
  if (!Number.isInteger(days) || days < r.min || days > r.max) {
    throw new ComponentError(component, id, 'retentionDays', `must be an integer within ${r.min}–${r.max} days for tier ${tier}`, days);
  }
}

export interface RetentionJobProps {
  /** Base name: ConfigMap, ServiceAccount, NetworkPolicy and the `app.kubernetes.io/name` label; the Job is `<name>-<hash>`. */
  readonly name: string;
  readonly namespace: string;
  readonly tier: Tier;
  /** Retention in days, validated by `retentionRange(tier)`. */
  readonly retentionDays: number;
  /** Resolved image reference (MC_IMAGE, CLICKHOUSE_IMAGE or MONGODB_IMAGE). */
  readonly image: string;
  /** Retries before the Job fails. @default 3 */
  readonly backoffLimit?: number;
  /** Finished Jobs are deleted after this. @default 86400 (a day to read the logs) */
  readonly ttlSecondsAfterFinished?: number;
  /** Hard limit of one run. @default 900 */
  readonly activeDeadlineSeconds?: number;
  /** @default 50m/250m CPU, 64Mi/256Mi memory */
  readonly resources?: WorkloadResources;
  /** Catalog concerns (e.g. AION-13 for MinIO, AION-14 for TTLs). @default none */
  readonly concerns?: readonly string[];
}

const JOB_RESOURCES: WorkloadResources = { cpuRequest: '50m', cpuLimit: '250m', memoryRequest: '64Mi', memoryLimit: '256Mi' };
const SQL_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Where a retention Job's Secret keys are mounted read-only, one file per key. */
export const RETENTION_SECRETS_DIR = '/run/secrets/retention';

interface JobSpec {
  readonly component: string;
  /** Secret keys mounted as `RETENTION_SECRETS_DIR/<path>`. */
  readonly secretFiles: readonly { readonly path: string; readonly ref: { readonly name: string; readonly key: string } }[];
  readonly files: Readonly<Record<string, string>>;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, EnvValue>>;
  readonly endpoint: Endpoint;
  readonly uid: number;
}

/** The shared shape of the three Jobs. */
class RetentionJob extends Construct {
  readonly job: k8s.KubeJob;
  readonly config: ConfigMap;
  readonly serviceAccount: k8s.KubeServiceAccount;
  readonly networkPolicy: k8s.KubeNetworkPolicy;
  constructor(scope: Construct, id: string, props: RetentionJobProps, spec: JobSpec) {
    super(scope, id);
    const C = spec.component;
    const n = props.name;
    if (!isDnsLabel(n, 54)) throw new ComponentError(C, n, 'name', 'must be a DNS label of ≤ 54 characters (a hash is appended)', n);
    checkRetentionDays(C, n, props.retentionDays, props.tier);
    const backoff = props.backoffLimit ?? 3;
    if (!Number.isInteger(backoff) || backoff < 0 || backoff > 10) throw new ComponentError(C, n, 'backoffLimit', 'must be an integer 0–10', backoff);
    const ttl = props.ttlSecondsAfterFinished ?? 86400;
    if (!Number.isInteger(ttl) || ttl < 0) throw new ComponentError(C, n, 'ttlSecondsAfterFinished', 'must be an integer ≥ 0', ttl);
    const deadline = props.activeDeadlineSeconds ?? 900;
    if (!Number.isInteger(deadline) || deadline < 60) throw new ComponentError(C, n, 'activeDeadlineSeconds', 'must be an integer ≥ 60', deadline);
    const concerns = props.concerns ?? [];
    const labels = selectorLabels(n);

    this.config = new ConfigMap(this, 'Config', { name: n, namespace: props.namespace, data: spec.files, concerns });
    this.serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: n, namespace: props.namespace, labels },
      automountServiceAccountToken: false,
    });
    const volumes = podVolumeSizes([{ name: 'tmp', sizeLimit: '64Mi' }], ['config', 'secrets']);
    const container = hardenedContainer(
      C,
      n,
      {
        name: 'retention',
        image: props.image,
        command: spec.command,
        env: { HOME: '/tmp', ...spec.env },
        resources: props.resources ?? JOB_RESOURCES,
        mounts: [
          { volume: 'config', path: '/etc/retention', readOnly: true },
          { volume: 'secrets', path: RETENTION_SECRETS_DIR, readOnly: true },
          { volume: 'tmp', path: '/tmp' },
        ],
      },
      'job',
      volumes,
    );
    const hash = checksum({ image: props.image, command: spec.command, env: spec.env, files: spec.files, secretFiles: spec.secretFiles }).slice(0, 8);
    this.job = new k8s.KubeJob(this, 'Job', {
      metadata: { name: `${n}-${hash}`, namespace: props.namespace, labels },
      spec: {
        backoffLimit: backoff,
        ttlSecondsAfterFinished: ttl,
        activeDeadlineSeconds: deadline,
        template: {
          metadata: { labels, annotations: this.config.annotation },
          spec: {
            ...restrictedJobPod(C, n, { serviceAccountName: n, uid: spec.uid }),
            containers: [container],
            volumes: podVolumes([{ name: 'tmp', sizeLimit: '64Mi' }], [{ name: 'config', configMap: n }], [
              { name: 'secrets', items: spec.secretFiles.map((f) => ({ secret: f.ref.name, key: f.ref.key, path: f.path })) },
            ]),
          },
        },
      },
    });
    this.networkPolicy = new AllowList(this, 'NetworkPolicy', {
      name: n,
      namespace: props.namespace,
      pods: labels,
      egress: [egressTo(spec.endpoint)],
      concerns,
    }).policy;
    trace(this.job, 'X-1', ...concerns);
    if (concerns.length > 0) trace(this.serviceAccount, ...concerns);
  }
}

export interface MinioLifecycleJobProps extends RetentionJobProps {
  readonly connection: MinioConnection;
  /** @default memory */
  readonly bucket?: string;
  /** Only objects under this prefix expire. @default the whole bucket */
  readonly prefix?: string;
  /** Abort incomplete multipart uploads after this many hours, a multiple of 24 (S3 counts days). @default 72 */
  readonly abortIncompleteUploadsAfterHours?: number;
}

/** The lifecycle document `mc ilm rule import` applies. */
export function minioLifecycle(days: number, abortAfterDays: number, prefix = ''): string {
  return `${JSON.stringify(
    {
      Rules: [
        {
          ID: 'memory-retention',
          Status: 'Enabled',
          Filter: { Prefix: prefix },
          Expiration: { Days: days },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: abortAfterDays },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

export const MINIO_LIFECYCLE_SCRIPT = [
  'set -eu',
  // Keys on stdin (mc reads them when they are not arguments), from the mounted files: never in
  // argv, the environment or on disk but the alias file in /tmp.
  `printf '%s\\n%s\\n' "$(cat ${RETENTION_SECRETS_DIR}/access-key)" "$(cat ${RETENTION_SECRETS_DIR}/secret-key)" | mc alias set target "$S3_URL" --api S3v4 >/dev/null`,
  'mc mb --ignore-existing "target/$BUCKET"',
  'mc ilm rule import "target/$BUCKET" < /etc/retention/lifecycle.json',
  'mc ilm rule ls "target/$BUCKET"',
].join('\n');

/** AION-13: the `memory-retention` lifecycle on the MinIO (or S3) bucket. */
export class MinioLifecycleJob extends RetentionJob {
  constructor(scope: Construct, id: string, props: MinioLifecycleJobProps) {
    const C = 'MinioLifecycleJob';
    const bucket = props.bucket ?? 'memory';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ComponentError(C, props.name, 'bucket', 'must be an S3 bucket name', bucket);
    const hours = props.abortIncompleteUploadsAfterHours ?? 72;
    if (!Number.isInteger(hours) || hours < 24 || hours % 24 !== 0) throw new ComponentError(C, props.name, 'abortIncompleteUploadsAfterHours', 'must be a whole number of days (24, 48, 72, …)', hours);
    if (props.prefix !== undefined && /[\s"\\]/.test(props.prefix)) throw new ComponentError(C, props.name, 'prefix', 'must not contain spaces, quotes or backslashes', props.prefix);
    super(scope, id, props, {
      component: C,
      files: { 'lifecycle.json': minioLifecycle(props.retentionDays, hours / 24, props.prefix) },
      command: ['/bin/sh', '-c', MINIO_LIFECYCLE_SCRIPT],
      env: {
        BUCKET: bucket,
        MC_CONFIG_DIR: '/tmp/mc',
        S3_URL: props.connection.url,
      },
      secretFiles: [
        { path: 'access-key', ref: props.connection.accessKeySecret },
        { path: 'secret-key', ref: props.connection.secretKeySecret },
      ],
      endpoint: props.connection.endpoint,
      uid: 10001,
    });
  }
}

export interface ClickHouseTable {
  readonly database: string;
  readonly table: string;
  /** Date/DateTime column the TTL counts from. */
  readonly column: string;
}

export interface ClickHouseTtlJobProps extends RetentionJobProps {
  readonly connection: ClickHouseConnection;
  /** Tables to expire (at least one). */
  readonly tables: readonly ClickHouseTable[];
}

/** The retention SQL: one `ALTER TABLE … MODIFY TTL` per table, identifiers quoted. */
export function clickhouseTtlSql(tables: readonly ClickHouseTable[], days: number): string {
  return [
    `-- Rendered by stackbook (components/retention.ts): ${days}-day TTL. Idempotent.`,
    ...tables.map((t) => `ALTER TABLE \`${t.database}\`.\`${t.table}\` MODIFY TTL \`${t.column}\` + INTERVAL ${days} DAY;`),
    '',
  ].join('\n');
}

/** AION-14: the ClickHouse TTL script. */
export class ClickHouseTtlJob extends RetentionJob {
  constructor(scope: Construct, id: string, props: ClickHouseTtlJobProps) {
    const C = 'ClickHouseTtlJob';
    if (props.tables.length === 0) throw new ComponentError(C, props.name, 'tables', 'must name at least one table');
    for (const t of props.tables) {
      for (const k of ['database', 'table', 'column'] as const) {
        if (!SQL_IDENT.test(t[k])) throw new ComponentError(C, props.name, `tables[].${k}`, 'must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)', t[k]);
      }
    }
    const c = props.connection;
    super(scope, id, props, {
      component: C,
      files: { 'retention.sql': clickhouseTtlSql(props.tables, props.retentionDays) },
      // The password for clickhouse-client's one process, from the mounted file (not in the pod spec).
      command: [
        '/bin/sh',
        '-c',
        `CLICKHOUSE_PASSWORD="$(cat ${RETENTION_SECRETS_DIR}/clickhouse-password)" exec clickhouse-client "$@"`,
        'clickhouse-client',
        '--host',
        c.host,
        '--port',
        String(c.endpoint.port),
        '--user',
        c.user,
        ...(c.secure ? ['--secure'] : []),
        '--multiquery',
        '--queries-file',
        '/etc/retention/retention.sql',
      ],
      env: {},
      secretFiles: [{ path: 'clickhouse-password', ref: c.passwordSecret }],
      endpoint: c.endpoint,
      uid: 101,
    });
  }
}

export interface MongoTtlIndex {
  readonly database: string;
  readonly collection: string;
  /** Date field the expiry counts from. */
  readonly field: string;
}

export interface MongoTtlJobProps extends RetentionJobProps {
  readonly connection: MongoConnection;
  /** Collections to expire (at least one). */
  readonly indexes: readonly MongoTtlIndex[];
}

/** The mongosh script: create the TTL index, or collMod its expiry, or leave it. */
export function mongoTtlScript(indexes: readonly MongoTtlIndex[], days: number): string {
  const specs = indexes.map((i) => ({ ...i, expireAfterSeconds: days * 86400 }));
  return `// Rendered by stackbook (components/retention.ts): ${days}-day TTL indexes. Idempotent.
const specs = ${JSON.stringify(specs, null, 2)};
const client = new Mongo(require('fs').readFileSync(${JSON.stringify(`${RETENTION_SECRETS_DIR}/mongodb-uri`)}, 'utf8').trim());
for (const s of specs) {
  const db = client.getDB(s.database);
  const key = { [s.field]: 1 };
  const exists = db.getCollectionNames().includes(s.collection);
  const index = exists ? db.getCollection(s.collection).getIndexes().find((i) => JSON.stringify(i.key) === JSON.stringify(key)) : undefined;
  const where = s.database + '.' + s.collection + ' {' + s.field + ': 1}';
  if (!index) {
    db.getCollection(s.collection).createIndex(key, { expireAfterSeconds: s.expireAfterSeconds });
    print('created TTL index ' + where + ' expireAfterSeconds=' + s.expireAfterSeconds);
  } else if (index.expireAfterSeconds !== s.expireAfterSeconds) {
    const r = db.runCommand({ collMod: s.collection, index: { keyPattern: key, expireAfterSeconds: s.expireAfterSeconds } });
    if (r.ok !== 1) throw new Error('collMod failed for ' + where + ': ' + JSON.stringify(r));
    print('updated TTL index ' + where + ' expireAfterSeconds=' + s.expireAfterSeconds);
  } else {
    print('TTL index ' + where + ' already expireAfterSeconds=' + s.expireAfterSeconds);
  }
}
`;
}

/** AION-14: Mongo TTL indexes. */
export class MongoTtlJob extends RetentionJob {
  constructor(scope: Construct, id: string, props: MongoTtlJobProps) {
    const C = 'MongoTtlJob';
    if (props.indexes.length === 0) throw new ComponentError(C, props.name, 'indexes', 'must name at least one collection');
    for (const i of props.indexes) {
      if (!/^[A-Za-z0-9_-]{1,63}$/.test(i.database)) throw new ComponentError(C, props.name, 'indexes[].database', 'must be a plain database name', i.database);
      if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,119}$/.test(i.collection) || i.collection.startsWith('system.')) {
        throw new ComponentError(C, props.name, 'indexes[].collection', 'must be a plain collection name (not system.*)', i.collection);
      }
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(i.field)) throw new ComponentError(C, props.name, 'indexes[].field', 'must be a field path', i.field);
    }
    super(scope, id, props, {
      component: C,
      files: { 'mongo-ttl.js': mongoTtlScript(props.indexes, props.retentionDays) },
      command: ['mongosh', '--nodb', '--quiet', '--norc', '/etc/retention/mongo-ttl.js'],
      env: {},
      secretFiles: [{ path: 'mongodb-uri', ref: props.connection.uriSecret }],
      endpoint: props.connection.endpoint,
      uid: 999,
    });
  }
}

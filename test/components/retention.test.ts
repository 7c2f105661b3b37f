/**
 * Retention Jobs (AION-13 MinIO lifecycle, AION-14 ClickHouse TTL and Mongo TTL indexes): hardened,
 * idempotent Jobs with retention validated per tier (7–14 days dev, 30–90 prod, 14–30 staging).
 * The scripts are exercised here too: the MinIO script against a stub `mc`, the mongosh script
 * against an in-memory fake of the mongosh API, twice, to show re-runs change nothing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ClickHouse } from '../../components/clickhouse.js';
import { Minio } from '../../components/minio.js';
import { MongoDb } from '../../components/mongodb.js';
import { DefaultDeny } from '../../components/network-policy.js';
import {
  ClickHouseTtlJob,
  MINIO_LIFECYCLE_SCRIPT,
  MinioLifecycleJob,
  MongoTtlJob,
  checkRetentionDays,
  clickhouseTtlSql,
  minioLifecycle,
  mongoTtlScript,
  retentionRange,
  type ClickHouseTtlJobProps,
  type MinioLifecycleJobProps,
  type MongoTtlJobProps,
} from '../../components/retention.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { invalidManifests } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const D = (c: string) => `@sha256:${c.repeat(64)}`;
const MC = `quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z${D('3')}`;
const CH = `docker.io/clickhouse/clickhouse-server:25.8.3.66${D('4')}`;
const MONGO = `docker.io/library/mongo:8.0.12${D('5')}`;

function stores() {
  const chart = newChart();
  const minio = new Minio(chart, 'M', { namespace: 'aion', image: 'x', rootUser: { name: 'minio-root', key: 'user' }, rootPassword: { name: 'minio-root', key: 'password' }, clients: [{ name: 'minio-lifecycle' }] });
  const ch = new ClickHouse(chart, 'C', { namespace: 'aion', image: 'x', passwordSecret: { name: 'clickhouse', key: 'password' }, clients: [{ name: 'clickhouse-ttl' }] });
  const mongo = new MongoDb(chart, 'G', { namespace: 'aion', image: 'x', rootUsername: { name: 'r', key: 'u' }, rootPassword: { name: 'r', key: 'p' }, uriSecret: { name: 'mongo-client', key: 'uri' }, clients: [{ name: 'mongo-ttl' }] });
  return { minio: minio.connection(), ch: ch.connection(), mongo: mongo.connection() };
}
const CONN = stores();

const MINIO: MinioLifecycleJobProps = { name: 'minio-lifecycle', namespace: 'aion', tier: 'production', retentionDays: 30, image: MC, connection: CONN.minio, concerns: ['AION-13'] };
const CLICK: ClickHouseTtlJobProps = {
  name: 'clickhouse-ttl',
  namespace: 'aion',
  tier: 'production',
  retentionDays: 60,
  image: CH,
  connection: CONN.ch,
  tables: [{ database: 'aion', table: 'events', column: 'ts' }, { database: 'aion', table: 'logs', column: 'created_at' }],
  concerns: ['AION-14'],
};
const MONGO_JOB: MongoTtlJobProps = {
  name: 'mongo-ttl',
  namespace: 'aion',
  tier: 'development',
  retentionDays: 7,
  image: MONGO,
  connection: CONN.mongo,
  indexes: [{ database: 'aion', collection: 'logs', field: 'createdAt' }],
  concerns: ['AION-14'],
};

function render(make: (chart: ReturnType<typeof newChart>) => unknown) {
  const chart = newChart();
  make(chart);
  const objects = objectsOf(chart);
  const job = only(objects, 'Job');
  return { objects, job, pod: job.spec.template.spec as Json, c: job.spec.template.spec.containers[0] as Json, cm: only(objects, 'ConfigMap'), np: only(objects, 'NetworkPolicy') };
}
const minioJob = (o: Partial<MinioLifecycleJobProps> = {}) => render((ch) => new MinioLifecycleJob(ch, 'J', { ...MINIO, ...o }));
const clickJob = (o: Partial<ClickHouseTtlJobProps> = {}) => render((ch) => new ClickHouseTtlJob(ch, 'J', { ...CLICK, ...o }));
const mongoJob = (o: Partial<MongoTtlJobProps> = {}) => render((ch) => new MongoTtlJob(ch, 'J', { ...MONGO_JOB, ...o }));

function violations(objects: readonly Json[]) {
  const chart = newChart();
  new DefaultDeny(chart, 'D', { namespace: 'aion' });
  return evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined });
}

describe('retention days per tier (AION-14)', () => {
  it('retentionRange: development 7–14, staging 14–30, production 30–90', () => {
    expect(retentionRange('development')).toEqual({ min: 7, max: 14 });
    expect(retentionRange('staging')).toEqual({ min: 14, max: 30 });
    expect(retentionRange('production')).toEqual({ min: 30, max: 90 });
  });

  it.each([
    ['development', 7],
    ['development', 14],
    ['staging', 14],
    ['staging', 30],
    ['production', 30],
    ['production', 90],
  ] as const)('%s accepts %d', (tier, days) => {
    expect(() => checkRetentionDays('X', 'x', days, tier)).not.toThrow();
  });

  it.each([
    ['development', 6, '7–14'],
    ['development', 15, '7–14'],
    ['development', 30, '7–14'],
    ['staging', 13, '14–30'],
    ['staging', 31, '14–30'],
    ['production', 29, '30–90'],
    ['production', 91, '30–90'],
    ['production', 45.5, '30–90'],
  ] as const)('%s refuses %d, naming the value and the range', (tier, days, range) => {
    const e = errorOf(() => checkRetentionDays('MongoTtlJob', 'mongo-ttl', days, tier));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toBe(`MongoTtlJob "mongo-ttl": retentionDays must be an integer within ${range} days for tier ${tier} (got ${days})`);
  });

  it('every Job validates its retention against its tier', () => {
    expect(errorOf(() => minioJob({ tier: 'production', retentionDays: 14 })).message).toContain('MinioLifecycleJob "minio-lifecycle": retentionDays must be an integer within 30–90 days for tier production (got 14)');
    expect(errorOf(() => clickJob({ tier: 'development', retentionDays: 30 })).message).toContain('within 7–14 days for tier development (got 30)');
    expect(errorOf(() => mongoJob({ tier: 'staging', retentionDays: 90 })).message).toContain('within 14–30 days for tier staging (got 90)');
  });
});

describe('retention Jobs are hardened, traced and idempotent to re-apply (X-1)', () => {
  const all = [minioJob(), clickJob(), mongoJob()];

  it('each renders a ConfigMap, a ServiceAccount, a Job and an egress NetworkPolicy: schema-valid, every policy clean', () => {
    for (const r of all) {
      expect(r.objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Job', 'NetworkPolicy', 'ServiceAccount']);
      expect(invalidManifests(r.objects)).toEqual({});
      expect(violations(r.objects)).toEqual([]);
    }
  });

  it('Job defaults: backoffLimit 3, ttlSecondsAfterFinished 86400, activeDeadlineSeconds 900, restartPolicy Never', () => {
    for (const { job, pod } of all) {
      expect(job.spec).toMatchObject({ backoffLimit: 3, ttlSecondsAfterFinished: 86400, activeDeadlineSeconds: 900 });
      expect(pod.restartPolicy).toBe('Never');
    }
    const custom = minioJob({ backoffLimit: 1, ttlSecondsAfterFinished: 600, activeDeadlineSeconds: 120 }).job.spec;
    expect(custom).toMatchObject({ backoffLimit: 1, ttlSecondsAfterFinished: 600, activeDeadlineSeconds: 120 });
  });

  it('pods: restricted security context, no token, read-only root FS, requests and limits', () => {
    for (const { pod, c } of all) {
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(c.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '320Mi' } }); // 256Mi logs + tmp 64Mi
      expect(c.volumeMounts).toEqual([
        { name: 'config', mountPath: '/etc/retention', readOnly: true },
        { name: 'secrets', mountPath: '/run/secrets/retention', readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
      ]);
    }
  });

  it('issue 14 item 17: credentials only as mounted Secret files, never environment variables (no secretKeyRef, no envFrom, no literal that looks like one)', () => {
    for (const { c, pod } of all) {
      expect(JSON.stringify(c.env ?? []), c.name).not.toContain('secretKeyRef');
      expect(c.envFrom).toBeUndefined();
      for (const e of (c.env ?? []) as Json[]) expect(/KEY|PASSWORD|URI$/.test(e.name), e.name).toBe(false);
      expect(pod.volumes.find((v: Json) => v.name === 'secrets').projected.defaultMode).toBe(0o440);
    }
  });

  it('the Job name carries a hash of what it applies: same input, same name; other retention, new name', () => {
    expect(minioJob().job.metadata.name).toBe(minioJob().job.metadata.name);
    expect(minioJob().job.metadata.name).toMatch(/^minio-lifecycle-[0-9a-f]{8}$/);
    expect(minioJob({ retentionDays: 31 }).job.metadata.name).not.toBe(minioJob().job.metadata.name);
    expect(minioJob().job.spec.template.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'minio-lifecycle' });
  });

  it('egress only to the store on its port; the concern is traced on every object', () => {
    expect(minioJob().np.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'minio-lifecycle' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'aion' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'minio' } } }], ports: [{ port: 9000, protocol: 'TCP' }] }],
    });
    expect(clickJob().np.spec.egress[0].ports).toEqual([{ port: 9000, protocol: 'TCP' }]);
    expect(mongoJob().np.spec.egress[0].ports).toEqual([{ port: 27017, protocol: 'TCP' }]);
    for (const o of minioJob().objects) expect(concernsOf(o), o.kind).toContain('AION-13');
    for (const o of [...clickJob().objects, ...mongoJob().objects]) expect(concernsOf(o), o.kind).toContain('AION-14');
  });

  it('rejects a name too long for the hash suffix', () => {
    const e = errorOf(() => minioJob({ name: 'x'.repeat(55) }));
    expect(e.message).toContain('name');
    expect(e.message).toContain(`(got "${'x'.repeat(55)}")`);
  });
});

describe('MinIO lifecycle (AION-13)', () => {
  it('lifecycle.json: rule memory-retention expiring after N days, multipart uploads aborted after 3 days (72 h)', () => {
    const doc = JSON.parse(minioJob().cm.data['lifecycle.json']);
    expect(doc).toEqual({
      Rules: [{ ID: 'memory-retention', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 30 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } }],
    });
    expect(JSON.parse(minioLifecycle(10, 2, 'chunks/')).Rules[0]).toMatchObject({ Filter: { Prefix: 'chunks/' }, Expiration: { Days: 10 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } });
  });

  it('the Job targets bucket memory by default, with keys from the MinIO Secret mounted as files', () => {
    const { c, pod } = minioJob();
    expect(c.image).toBe(MC);
    expect(c.command).toEqual(['/bin/sh', '-c', MINIO_LIFECYCLE_SCRIPT]);
    const env = Object.fromEntries(c.env.map((e: Json) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      BUCKET: 'memory',
      S3_URL: 'http://minio.aion.svc:9000',
    });
    expect(pod.volumes.find((v: Json) => v.name === 'secrets').projected.sources).toEqual([
      { secret: { name: 'minio-root', items: [{ key: 'user', path: 'access-key' }] } },
      { secret: { name: 'minio-root', items: [{ key: 'password', path: 'secret-key' }] } },
    ]);
    expect(Object.fromEntries(minioJob({ bucket: 'aion-memory' }).c.env.map((e: Json) => [e.name, e.value])).BUCKET).toBe('aion-memory');
  });

  it('the script creates the bucket if needed, imports the lifecycle and lists it; keys reach mc on stdin, never as arguments', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stackbook-mc-'));
    try {
      writeFileSync(join(dir, 'lifecycle.json'), minioLifecycle(30, 3));
      // A stub mc: logs its arguments and whatever it reads on stdin.
      writeFileSync(join(dir, 'mc'), `#!/bin/sh\necho "ARGS $*" >> "${dir}/log"\nif [ "$1 $2" = "alias set" ] || [ "$2 $3" = "rule import" ]; then cat | sed 's/^/STDIN /' >> "${dir}/log"; fi\n`);
      chmodSync(join(dir, 'mc'), 0o755);
      writeFileSync(join(dir, 'access-key'), 'AKEXAMPLE\n');
      writeFileSync(join(dir, 'secret-key'), 's3cr3t/value');
      const script = MINIO_LIFECYCLE_SCRIPT.split('/etc/retention').join(dir).split('/run/secrets/retention').join(dir);
      const env = { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, BUCKET: 'memory', S3_URL: 'http://minio.aion.svc:9000' };
      execFileSync('/bin/sh', ['-c', script], { env });
      execFileSync('/bin/sh', ['-c', script], { env }); // a re-run issues the same, idempotent commands
      const log = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n');
      const once = [
        'ARGS alias set target http://minio.aion.svc:9000 --api S3v4',
        'STDIN AKEXAMPLE',
        'STDIN s3cr3t/value',
        'ARGS mb --ignore-existing target/memory',
        'ARGS ilm rule import target/memory',
        ...minioLifecycle(30, 3).trimEnd().split('\n').map((l) => `STDIN ${l}`),
        'ARGS ilm rule ls target/memory',
      ];
      expect(log).toEqual([...once, ...once]);
      expect(log.filter((l) => l.startsWith('ARGS')).join('\n')).not.toMatch(/AKEXAMPLE|s3cr3t/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ bucket: 'Bad_Bucket' }, 'bucket', '(got "Bad_Bucket")'],
    [{ abortIncompleteUploadsAfterHours: 36 }, 'abortIncompleteUploadsAfterHours', '(got 36)'],
    [{ prefix: 'a "b' }, 'prefix', '(got "a \\"b")'],
  ] as Array<[Partial<MinioLifecycleJobProps>, string, string]>)('rejects %j', (o, prop, got) => {
    const e = errorOf(() => minioJob(o));
    expect(e.message).toContain(`MinioLifecycleJob "minio-lifecycle": ${prop}`);
    expect(e.message).toContain(got);
  });
});

describe('ClickHouse TTL (AION-14)', () => {
  it('retention.sql: one ALTER TABLE … MODIFY TTL per table, identifiers quoted', () => {
    expect(clickJob().cm.data['retention.sql']).toBe(
      [
        '-- Rendered by stackbook (components/retention.ts): 60-day TTL. Idempotent.',
        'ALTER TABLE `aion`.`events` MODIFY TTL `ts` + INTERVAL 60 DAY;',
        'ALTER TABLE `aion`.`logs` MODIFY TTL `created_at` + INTERVAL 60 DAY;',
        '',
      ].join('\n'),
    );
    expect(clickhouseTtlSql([{ database: 'd', table: 't', column: 'c' }], 7)).toContain('+ INTERVAL 7 DAY;');
  });

  it('runs clickhouse-client on the script with the password from the mounted Secret file, exported for its process only (not an argument, not in the pod spec)', () => {
    const { c, pod } = clickJob();
    const args = ['clickhouse-client', '--host', 'clickhouse.aion.svc', '--port', '9000', '--user', 'default', '--multiquery', '--queries-file', '/etc/retention/retention.sql'];
    expect(c.command).toEqual(['/bin/sh', '-c', 'CLICKHOUSE_PASSWORD="$(cat /run/secrets/retention/clickhouse-password)" exec clickhouse-client "$@"', ...args]);
    expect(pod.volumes.find((v: Json) => v.name === 'secrets').projected.sources).toEqual([{ secret: { name: 'clickhouse', items: [{ key: 'password', path: 'clickhouse-password' }] } }]);
    // The wrapper hands clickhouse-client exactly its arguments and the password from the file.
    const dir = mkdtempSync(join(tmpdir(), 'stackbook-ch-client-'));
    try {
      writeFileSync(join(dir, 'clickhouse-client'), `#!/bin/sh\nprintf '%s\\n' "PW=$CLICKHOUSE_PASSWORD" "$@" > "${dir}/seen"\n`);
      chmodSync(join(dir, 'clickhouse-client'), 0o755);
      writeFileSync(join(dir, 'clickhouse-password'), 'p a$s"s\n');
      execFileSync(c.command[0], [c.command[1], c.command[2].split('/run/secrets/retention').join(dir), ...c.command.slice(3)], { env: { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
      expect(readFileSync(join(dir, 'seen'), 'utf8').trim().split('\n')).toEqual(['PW=p a$s"s', ...args.slice(1)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(pod.securityContext.runAsUser).toBe(101);
    const secure = clickJob({ connection: { ...CONN.ch, secure: true } }).c.command;
    expect(secure).toContain('--secure');
  });

  it.each([
    [{ tables: [] }, 'tables', 'at least one'],
    [{ tables: [{ database: 'aion', table: 'events; DROP TABLE x', column: 'ts' }] }, 'tables[].table', '(got "events; DROP TABLE x")'],
    [{ tables: [{ database: 'aion', table: 'events', column: 'ts + 1' }] }, 'tables[].column', '(got "ts + 1")'],
  ] as Array<[Partial<ClickHouseTtlJobProps>, string, string]>)('rejects %j', (o, prop, text) => {
    const e = errorOf(() => clickJob(o));
    expect(e.message).toContain(`ClickHouseTtlJob "clickhouse-ttl": ${prop}`);
    expect(e.message).toContain(text);
  });
});

/** A minimal in-memory stand-in for the mongosh API the TTL script uses. */
function fakeMongo() {
  const dbs = new Map<string, Map<string, Json[]>>();
  const calls: string[] = [];
  class Mongo {
    constructor(readonly uri: string) {
      calls.push(`connect ${uri}`);
    }
    getDB(name: string) {
      if (!dbs.has(name)) dbs.set(name, new Map());
      const colls = dbs.get(name)!;
      return {
        getCollectionNames: () => [...colls.keys()],
        getCollection: (c: string) => ({
          getIndexes: () => colls.get(c) ?? [],
          createIndex: (key: Json, opts: Json) => {
            calls.push(`createIndex ${name}.${c} ${JSON.stringify(key)} ${JSON.stringify(opts)}`);
            colls.set(c, [...(colls.get(c) ?? []), { key, ...opts }]);
          },
        }),
        runCommand: (cmd: Json) => {
          calls.push(`runCommand ${JSON.stringify(cmd)}`);
          const idx = (colls.get(cmd.collMod) ?? []).find((i) => JSON.stringify(i.key) === JSON.stringify(cmd.index.keyPattern));
          if (!idx) return { ok: 0 };
          idx.expireAfterSeconds = cmd.index.expireAfterSeconds;
          return { ok: 1 };
        },
      };
    }
  }
  // mongosh scripts may require Node built-ins; the URI file as mounted in the pod.
  const require = (m: string) => {
    if (m !== 'fs') throw new Error(`unexpected require ${m}`);
    return { readFileSync: (path: string, enc: string) => (path === '/run/secrets/retention/mongodb-uri' && enc === 'utf8' ? 'mongodb://u:p@mongodb.aion.svc:27017/\n' : `no such file ${path}`) };
  };
  const run = (script: string) => runInNewContext(script, { Mongo, print: (s: string) => calls.push(`print ${s}`), require, process: { env: {} }, JSON });
  return { run, calls, dbs };
}

describe('Mongo TTL indexes (AION-14)', () => {
  it('runs mongosh without a server argument; the script reads the URI from the mounted Secret file', () => {
    const { c, pod, cm } = mongoJob();
    expect(c.command).toEqual(['mongosh', '--nodb', '--quiet', '--norc', '/etc/retention/mongo-ttl.js']);
    expect(pod.volumes.find((v: Json) => v.name === 'secrets').projected.sources).toEqual([{ secret: { name: 'mongo-client', items: [{ key: 'uri', path: 'mongodb-uri' }] } }]);
    expect(cm.data['mongo-ttl.js']).toContain("require('fs').readFileSync(\"/run/secrets/retention/mongodb-uri\", 'utf8').trim()");
    expect(cm.data['mongo-ttl.js']).not.toContain('process.env');
    expect(cm.data['mongo-ttl.js']).toBe(mongoTtlScript(MONGO_JOB.indexes, 7));
    expect(pod.securityContext.runAsUser).toBe(999);
  });

  it('creates the TTL index when missing, leaves it on a re-run, collMods it when the retention changes', () => {
    const m = fakeMongo();
    const spec = [{ database: 'aion', collection: 'logs', field: 'createdAt' }];
    m.run(mongoTtlScript(spec, 7));
    expect(m.calls).toEqual([
      'connect mongodb://u:p@mongodb.aion.svc:27017/',
      'createIndex aion.logs {"createdAt":1} {"expireAfterSeconds":604800}',
      'print created TTL index aion.logs {createdAt: 1} expireAfterSeconds=604800',
    ]);
    m.calls.length = 0;
    m.run(mongoTtlScript(spec, 7));
    expect(m.calls.filter((c) => !c.startsWith('connect'))).toEqual(['print TTL index aion.logs {createdAt: 1} already expireAfterSeconds=604800']);
    m.calls.length = 0;
    m.run(mongoTtlScript(spec, 14));
    expect(m.calls.filter((c) => !c.startsWith('connect'))).toEqual([
      'runCommand {"collMod":"logs","index":{"keyPattern":{"createdAt":1},"expireAfterSeconds":1209600}}',
      'print updated TTL index aion.logs {createdAt: 1} expireAfterSeconds=1209600',
    ]);
    expect(m.dbs.get('aion')!.get('logs')).toEqual([{ key: { createdAt: 1 }, expireAfterSeconds: 1209600 }]);
  });

  it.each([
    [{ indexes: [] }, 'indexes', 'at least one'],
    [{ indexes: [{ database: 'aion', collection: 'system.users', field: 'x' }] }, 'indexes[].collection', '(got "system.users")'],
    [{ indexes: [{ database: 'aion', collection: 'logs', field: "a'); db.dropDatabase(); ('" }] }, 'indexes[].field', 'db.dropDatabase'],
    [{ indexes: [{ database: 'a b', collection: 'logs', field: 'x' }] }, 'indexes[].database', '(got "a b")'],
  ] as Array<[Partial<MongoTtlJobProps>, string, string]>)('rejects %j', (o, prop, text) => {
    const e = errorOf(() => mongoJob(o));
    expect(e.message).toContain(`MongoTtlJob "mongo-ttl": ${prop}`);
    expect(e.message).toContain(text);
  });
});

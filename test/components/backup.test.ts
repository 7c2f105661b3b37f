/**
 * Backups (X-6; OUB-7 Oubliette tar.gz + SQLite with retention 7, AION-10 pg_dump/mongodump to
 * MinIO): a hardened backup CronJob and restore drill per source, their NetworkPolicies, and
 * scripts that verify what they wrote. The pvc-tarball and sqlite scripts are run for real here
 * (sh, tar, gzip, sha256sum, sqlite3) against temporary directories standing in for the volumes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKUP_IMAGES,
  BackupCronJob,
  SCRIPTS,
  credentialScript,
  imageString,
  parseCron,
  scheduleInterval,
  shellCommand,
  type BackupProps,
  type BackupSource,
  type BackupTarget,
} from '../../components/backup.js';
import { DefaultDeny } from '../../components/network-policy.js';
import { evaluate, type Obj } from '../../policies/manifest-rules.js';
import { validateManifest } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const S3: BackupTarget = {
  kind: 's3',
  endpoint: 'http://minio.minio.svc:9000',
  bucket: 'aion-backups',
  prefix: 'pg',
  accessKeyId: { secretName: 'minio-backup', key: 'accessKey' },
  secretAccessKey: { secretName: 'minio-backup', key: 'secretKey' },
  peer: { namespace: 'minio', pods: { 'app.kubernetes.io/name': 'minio' } },
};
const PVC: BackupTarget = { kind: 'pvc', claimName: 'oubliette-backups' };
const SOURCES: Record<BackupSource['kind'], BackupSource> = {
  postgres: {
    kind: 'postgres',
    host: 'postgres.aion.svc',
    database: 'aion',
    username: { secretName: 'aion-postgres', key: 'username' },
    password: { secretName: 'aion-postgres', key: 'password' },
    peer: { pods: { 'app.kubernetes.io/name': 'postgres' } },
  },
  mongodb: { kind: 'mongodb', uri: { secretName: 'aion-mongodb', key: 'uri' }, peer: { pods: { 'app.kubernetes.io/name': 'mongodb' } } },
  'pvc-tarball': { kind: 'pvc-tarball', claimName: 'oubliette-projects' },
  sqlite: { kind: 'sqlite', claimName: 'oubliette-data', path: 'data/auth.db' },
};
const KINDS = Object.keys(SOURCES) as BackupSource['kind'][];

function build(props: Partial<BackupProps> = {}) {
  const chart = newChart();
  new DefaultDeny(chart, 'Deny', { namespace: 'aion' });
  new BackupCronJob(chart, 'Backup', {
    name: 'pg',
    namespace: 'aion',
    schedule: '0 2 * * *',
    source: SOURCES.postgres,
    target: S3,
    runbookUrl: 'https://runbooks.example.com/runbooks/aion#backups',
    ...props,
  });
  const objects = objectsOf(chart).filter((o) => o.metadata.name !== 'default-deny' && o.metadata.name !== 'allow-dns');
  const name = props.name ?? 'pg';
  return {
    objects,
    all: objectsOf(chart),
    backup: only(objects, 'CronJob', `${name}-backup`),
    drill: only(objects, 'CronJob', `${name}-restore-drill`),
    backupPolicy: only(objects, 'NetworkPolicy', `${name}-backup`),
    drillPolicy: only(objects, 'NetworkPolicy', `${name}-restore-drill`),
    rules: only(objects, 'PrometheusRule', `${name}-backup`),
  };
}

const podOf = (cj: Json): Json => cj.spec.jobTemplate.spec.template.spec;
const containersOf = (cj: Json): Json[] => [...(podOf(cj).initContainers ?? []), ...podOf(cj).containers];
const envOf = (c: Json): Record<string, Json> => Object.fromEntries((c.env ?? []).map((e: Json) => [e.name, e]));
const scriptOf = (c: Json): string => c.command[2];

describe('BackupCronJob defaults (X-6): hardened, no overlap, bounded', () => {
  it('a batch/v1 CronJob per backup and per drill, each pinned default explicit', () => {
    const { backup, drill } = build();
    expect(backup.apiVersion).toBe('batch/v1');
    expect(backup.spec).toMatchObject({
      schedule: '0 2 * * *',
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      suspend: false,
    });
    expect(backup.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 3600 });
    expect(podOf(backup).restartPolicy).toBe('Never');
    // Drill: Sundays 05:30 by default, same hardening.
    expect(drill.spec).toMatchObject({ schedule: '30 5 * * 0', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 600 });
  });

  it('ttlSecondsAfterFinished defaults to twice the interval, at least one day', () => {
    const { backup, drill } = build();
    expect(backup.spec.jobTemplate.spec.ttlSecondsAfterFinished).toBe(2 * 86_400);
    expect(drill.spec.jobTemplate.spec.ttlSecondsAfterFinished).toBe(2 * 7 * 86_400);
    expect(build({ schedule: '*/30 * * * *' }).backup.spec.jobTemplate.spec.ttlSecondsAfterFinished).toBe(86_400);
  });

  it('every knob can be set', () => {
    const { backup } = build({
      startingDeadlineSeconds: 120,
      backoffLimit: 0,
      activeDeadlineSeconds: 600,
      ttlSecondsAfterFinished: 3600,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 5,
      timeZone: 'Europe/Paris',
    });
    expect(backup.spec).toMatchObject({ startingDeadlineSeconds: 120, successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 5, timeZone: 'Europe/Paris' });
    expect(backup.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 3600 });
  });

  it.each(KINDS)('%s: Pod Security restricted, no token, requests and limits, writable paths as emptyDirs', (kind) => {
    for (const target of [S3, PVC]) {
      const { backup, drill, objects } = build({ source: SOURCES[kind], target });
      for (const cj of [backup, drill]) {
        const pod = podOf(cj);
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(pod.serviceAccountName).toBe('pg-backup');
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, fsGroupChangePolicy: 'OnRootMismatch' });
        expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
        for (const c of containersOf(cj)) {
          expect(c.securityContext).toEqual({
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          });
          // ephemeral storage: 64Mi reserved; limit 256Mi logs + tmp 64Mi + work 2Gi (the emptyDirs it mounts)
          expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '2368Mi' } });
          expect(c.volumeMounts.map((m: Json) => m.mountPath)).toEqual(expect.arrayContaining(['/tmp', '/work']));
        }
        const vols = Object.fromEntries(pod.volumes.map((v: Json) => [v.name, v]));
        expect(vols.tmp.emptyDir).toEqual({ sizeLimit: '64Mi' });
        expect(vols.work.emptyDir).toEqual({ sizeLimit: '2Gi' });
      }
      expect(only(objects, 'ServiceAccount', 'pg-backup').automountServiceAccountToken).toBe(false);
      // the project's own policies agree (a DefaultDeny is in the chart for network-policy-coverage)
      expect(evaluate(build({ source: SOURCES[kind], target }).all as Obj[]).map((v) => `${v.rule}: ${v.object} ${v.message}`)).toEqual([]);
    }
  });

  it('default runAsUser fits the image (postgres alpine 70 for initdb, mongo 999, else 10001) and can be set', () => {
    const uid = (kind: BackupSource['kind']) => podOf(build({ source: SOURCES[kind] }).backup).securityContext.runAsUser;
    expect([uid('postgres'), uid('mongodb'), uid('pvc-tarball'), uid('sqlite')]).toEqual([70, 999, 10001, 10001]);
    expect(podOf(build({ runAsUser: 4242 }).drill).securityContext).toMatchObject({ runAsUser: 4242, runAsGroup: 4242, fsGroup: 4242 });
  });

  it('resources, work size and co-location are configurable', () => {
    const { backup } = build({
      resources: { cpuRequest: '50m', cpuLimit: '2', memoryRequest: '128Mi', memoryLimit: '4Gi' },
      workSize: '20Gi',
      colocateWith: { 'app.kubernetes.io/name': 'oubliette' },
    });
    expect(containersOf(backup)[0]!.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '20800Mi' } });
    const own = build({ resources: { cpuRequest: '50m', cpuLimit: '2', memoryRequest: '128Mi', memoryLimit: '4Gi', ephemeralStorageRequest: '1Gi', ephemeralStorageLimit: '30Gi' } }).backup;
    expect(containersOf(own)[0]!.resources.limits['ephemeral-storage']).toBe('30Gi');
    expect(containersOf(own)[0]!.resources.requests['ephemeral-storage']).toBe('1Gi');
    expect(podOf(backup).volumes.find((v: Json) => v.name === 'work').emptyDir.sizeLimit).toBe('20Gi');
    expect(podOf(backup).affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'oubliette' } }, topologyKey: 'kubernetes.io/hostname' },
    ]);
  });

  it('every object is schema-valid and carries X-6 (the CronJobs also X-1) plus the given concerns', () => {
    const { objects } = build({ concerns: ['AION-10'] });
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'CronJob/pg-backup',
      'CronJob/pg-restore-drill',
      'NetworkPolicy/pg-backup',
      'NetworkPolicy/pg-restore-drill',
      'PrometheusRule/pg-backup',
      'ServiceAccount/pg-backup',
    ]);
    for (const o of objects) {
      expect(validateManifest(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
      expect(concernsOf(o), `${o.kind}/${o.metadata.name}`).toEqual(expect.arrayContaining(['X-6', 'AION-10']));
    }
    expect(concernsOf(build().backup)).toEqual(['X-1', 'X-6']);
  });
});

describe('images: pinned upstream tags by default, resolved strings from the stack', () => {
  it('defaults by tag, per step', () => {
    const image = (kind: BackupSource['kind'], target: BackupTarget) => {
      const { backup, drill } = build({ source: SOURCES[kind], target });
      return [...containersOf(backup), ...containersOf(drill)].map((c) => `${c.name}=${c.image}`);
    };
    expect(image('postgres', S3)).toEqual([
      'produce=docker.io/library/postgres:18.6-alpine',
      'store=docker.io/amazon/aws-cli:2.17.50',
      'fetch=docker.io/amazon/aws-cli:2.17.50',
      'restore=docker.io/library/postgres:18.6-alpine',
    ]);
    expect(image('mongodb', S3)).toContain('restore=docker.io/library/mongo:8.0.12');
    expect(image('pvc-tarball', PVC)).toEqual(Array(4).fill('').map((_, i) => `${['produce', 'store', 'fetch', 'restore'][i]}=docker.io/library/alpine:3.20.3`));
    expect(image('sqlite', PVC)).toEqual(['produce=docker.io/keinos/sqlite3:3.46.1', 'store=docker.io/library/alpine:3.20.3', 'fetch=docker.io/library/alpine:3.20.3', 'restore=docker.io/keinos/sqlite3:3.46.1']);
    expect(imageString({ ...BACKUP_IMAGES.tools, digest: `sha256:${'a'.repeat(64)}` })).toBe(`docker.io/library/alpine:3.20.3@sha256:${'a'.repeat(64)}`);
  });

  it('a resolved (mirrored, digest-pinned) image replaces the default', () => {
    const pinned = `registry.corp.internal:5000/mirror/docker.io/library/postgres:18.6-alpine@sha256:${'b'.repeat(64)}`;
    const { backup } = build({ images: { postgres: pinned } });
    expect(containersOf(backup)[0]!.image).toBe(pinned);
    expect(errorOf(() => build({ images: { s3: 'aws-cli' } })).message).toContain('images.s3 must be a full image reference with a tag or digest (got "aws-cli")');
  });
});

describe('credentials only as mounted Secret files (issue 14 item 17); the drill never sees the source', () => {
  const projected = (pod: Json, name: string) => pod.volumes.find((v: Json) => v.name === name)?.projected;
  it('postgres: PGUSER/PGPASSWORD and the S3 keys are files of per-container projected volumes; connection details literals; no secret env', () => {
    const { backup } = build();
    const pod = podOf(backup);
    const produce = envOf(pod.initContainers[0]);
    expect(produce.PGPASSWORD).toBeUndefined();
    expect(produce.PGUSER).toBeUndefined();
    expect(projected(pod, 'secrets-produce').sources).toEqual([
      { secret: { name: 'aion-postgres', items: [{ key: 'password', path: 'PGPASSWORD' }] } },
      { secret: { name: 'aion-postgres', items: [{ key: 'username', path: 'PGUSER' }] } },
    ]);
    expect(projected(pod, 'secrets-produce').defaultMode).toBe(0o440);
    expect(pod.initContainers[0].volumeMounts).toEqual(expect.arrayContaining([{ name: 'secrets-produce', mountPath: '/run/secrets/backup', readOnly: true }, { name: 'auth', mountPath: '/run/backup-auth' }]));
    expect(pod.volumes).toContainEqual({ name: 'auth', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    expect([produce.PGHOST!.value, produce.PGPORT!.value, produce.PGDATABASE!.value]).toEqual(['postgres.aion.svc', '5432', 'aion']);
    const store = envOf(pod.containers[0]);
    expect(store.AWS_ACCESS_KEY_ID).toBeUndefined();
    expect(projected(pod, 'secrets-store').sources).toEqual([
      { secret: { name: 'minio-backup', items: [{ key: 'accessKey', path: 'AWS_ACCESS_KEY_ID' }] } },
      { secret: { name: 'minio-backup', items: [{ key: 'secretKey', path: 'AWS_SECRET_ACCESS_KEY' }] } },
    ]);
    // Least privilege: the store container mounts only its own secrets.
    expect(pod.containers[0].volumeMounts.map((m: Json) => m.name)).not.toContain('secrets-produce');
    expect([store.S3_ENDPOINT!.value, store.S3_BUCKET!.value, store.S3_PREFIX!.value, store.RETENTION!.value]).toEqual(['http://minio.minio.svc:9000', 'aion-backups', 'pg', '7']);
  });

  it('mongodb: the URI (which holds credentials) only as a mounted file; mongodump reads it through --config', () => {
    const pod = podOf(build({ source: SOURCES.mongodb }).backup);
    expect(envOf(pod.initContainers[0]).MONGODB_URI).toBeUndefined();
    expect(projected(pod, 'secrets-produce').sources).toEqual([{ secret: { name: 'aion-mongodb', items: [{ key: 'uri', path: 'MONGODB_URI' }] } }]);
    expect(scriptOf(pod.initContainers[0])).toContain('mongodump --config="$BACKUP_AUTH_DIR/mongodump.yaml" --archive=');
  });

  it.each(KINDS)('%s: no container has a Secret-sourced env var, envFrom, or a literal that looks like a credential', (kind) => {
    const { backup, drill } = build({ source: SOURCES[kind] });
    for (const c of [...containersOf(backup), ...containersOf(drill)]) {
      expect(JSON.stringify(c.env ?? []), c.name).not.toContain('secretKeyRef');
      expect(c.envFrom, c.name).toBeUndefined();
      for (const e of c.env) expect(/PASSWORD|SECRET_ACCESS|URI$|^PGUSER$|KEY_ID/.test(e.name), `${c.name} ${e.name}`).toBe(false);
    }
  });

  it('credentialScript renders each consumer\'s own file from the mounted files (mode 0600): a pgpass line, mongodump YAML, and an AWS profile that aws-cli reads back', () => {
    const d = mkdtempSync(join(tmp, 'creds-'));
    const secrets = join(d, 'secrets');
    const auth = join(d, 'auth');
    mkdirSync(secrets);
    mkdirSync(auth);
    const password = 'p:a\\ss w"rd$HOME';
    const uri = 'mongodb://u:p"w\\@mongo:27017/?authSource=admin';
    writeFileSync(join(secrets, 'PGUSER'), 'aion\n');
    writeFileSync(join(secrets, 'PGPASSWORD'), `${password}\n`);
    writeFileSync(join(secrets, 'MONGODB_URI'), uri);
    writeFileSync(join(secrets, 'AWS_ACCESS_KEY_ID'), 'AKIAEXAMPLE\n');
    writeFileSync(join(secrets, 'AWS_SECRET_ACCESS_KEY'), 'se/cr+et%key\n');
    const script = `${credentialScript(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'MONGODB_URI', 'PGPASSWORD', 'PGUSER'])}echo "user=$PGUSER passfile=$PGPASSFILE aws=$AWS_SHARED_CREDENTIALS_FILE"\naws configure get aws_secret_access_key\naws configure get aws_access_key_id\n`;
    const r = sh(script, { BACKUP_SECRETS_DIR: secrets, BACKUP_AUTH_DIR: auth, HOME: d });
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim().split('\n')).toEqual([`user=aion passfile=${auth}/pgpass aws=${auth}/aws-credentials`, 'se/cr+et%key', 'AKIAEXAMPLE']);
    // libpq's password file: host:port:database:user:password, `\\` and `:` escaped.
    expect(readFileSync(join(auth, 'pgpass'), 'utf8')).toBe('*:*:*:*:p\\:a\\\\ss w"rd$HOME\n');
    expect(yaml.load(readFileSync(join(auth, 'mongodump.yaml'), 'utf8'))).toEqual({ uri });
    for (const f of ['pgpass', 'mongodump.yaml', 'aws-credentials']) expect((statSync(join(auth, f)).mode & 0o777).toString(8), f).toBe('600');
  }, 30_000);

  it.each(KINDS)('%s: the drill gets no source credentials, volume or egress', (kind) => {
    const { drill, drillPolicy, backupPolicy } = build({ source: SOURCES[kind], target: S3 });
    const envNames = containersOf(drill).flatMap((c) => c.env.map((e: Json) => e.name));
    for (const n of ['PGPASSWORD', 'PGUSER', 'PGHOST', 'MONGODB_URI', 'DB_PATH', 'SOURCE_DIR']) expect(envNames).not.toContain(n);
    // The fetch container's S3 keys only (no source secret file).
    expect(podOf(drill).volumes.map((v: Json) => v.name).sort()).toEqual(['auth', 'secrets-fetch', 'tmp', 'work']);
    expect(JSON.stringify(podOf(drill).volumes)).not.toMatch(/PGPASSWORD|PGUSER|MONGODB_URI/);
    const peersOf = (p: Json) => p.spec.egress.map((r: Json) => JSON.stringify(r.to));
    expect(peersOf(drillPolicy)).toHaveLength(2); // DNS + target
    if (kind === 'postgres' || kind === 'mongodb') expect(peersOf(backupPolicy)).toHaveLength(3);
  });
});

describe('NetworkPolicy: egress only to DNS, the source and the target', () => {
  const rules = (p: Json) => p.spec.egress.map((r: Json) => ({ to: r.to, ports: r.ports.map((x: Json) => `${x.protocol}/${x.port}`) }));
  const dns = { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: ['UDP/53', 'TCP/53'] };
  const minio = { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'minio' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'minio' } } }], ports: ['TCP/9000'] };

  it('backup pods: DNS, postgres on 5432, MinIO on the endpoint port; egress only', () => {
    const { backupPolicy } = build();
    expect(backupPolicy.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'pg-backup' } });
    expect(backupPolicy.spec.policyTypes).toEqual(['Egress']);
    expect(rules(backupPolicy)).toEqual([dns, { to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'postgres' } } }], ports: ['TCP/5432'] }, minio]);
  });

  it('drill pods: DNS and the target only', () => {
    const { drillPolicy, drill } = build();
    expect(drillPolicy.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'pg-restore-drill' } });
    expect(drill.spec.jobTemplate.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('pg-restore-drill');
    expect(rules(drillPolicy)).toEqual([dns, minio]);
  });

  it('the S3 port follows the endpoint (https 443, http 80, explicit port); PVC targets and sources need no egress', () => {
    const port = (endpoint: string) => rules(build({ target: { ...S3, endpoint } as BackupTarget }).drillPolicy)[1].ports;
    expect(port('https://s3.eu-west-1.amazonaws.com')).toEqual(['TCP/443']);
    expect(port('http://minio.minio.svc')).toEqual(['TCP/80']);
    expect(port('https://minio.example.com:8443/')).toEqual(['TCP/8443']);
    expect(rules(build({ source: SOURCES['pvc-tarball'], target: PVC }).backupPolicy)).toEqual([dns]);
  });

  it('custom ports and DNS location', () => {
    const p = build({ source: { ...SOURCES.postgres, port: 6432 } as BackupSource, dnsNamespace: 'dns', dnsPodLabel: 'app=coredns' }).backupPolicy;
    expect(rules(p)[0].to[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name']).toBe('dns');
    expect(rules(p)[1].ports).toEqual(['TCP/6432']);
  });
});

describe('scripts: /bin/sh -ec with set -eu, verification per kind, volumes', () => {
  it('every container runs its script under /bin/sh -ec, starting with set -eu', () => {
    for (const kind of KINDS) {
      const { backup, drill } = build({ source: SOURCES[kind] });
      for (const c of [...containersOf(backup), ...containersOf(drill)]) {
        expect(c.command.slice(0, 2)).toEqual(['/bin/sh', '-ec']);
        expect(scriptOf(c).startsWith('set -eu\n')).toBe(true);
        expect(c.args).toBeUndefined();
      }
    }
  });

  it('each kind verifies what it produced before storing it', () => {
    const produce = (kind: BackupSource['kind']) => scriptOf(podOf(build({ source: SOURCES[kind] }).backup).initContainers[0]);
    expect(produce('postgres')).toContain('pg_dump --format=custom');
    expect(produce('postgres')).toContain('pg_restore --list');
    expect(produce('mongodb')).toContain('mongodump --config="$BACKUP_AUTH_DIR/mongodump.yaml" --archive=');
    expect(produce('mongodb')).toContain('--gzip');
    expect(produce('mongodb')).toContain('gzip -t');
    expect(produce('pvc-tarball')).toContain('tar -tzf');
    expect(produce('sqlite')).toContain(`sqlite3 "$DB_PATH" ".backup '$WORK/$FILE'"`);
    expect(produce('sqlite')).toContain('PRAGMA integrity_check');
    for (const k of KINDS) expect(produce(k)).toContain('sha256sum -c');
  });

  it('the S3 store reads the object back and compares its sha256; the drill restores into a scratch target', () => {
    const { backup, drill } = build();
    expect(scriptOf(podOf(backup).containers[0])).toContain(`GOT=$( (s3 s3 cp --only-show-errors "$BASE/$FILE" - || true) | sha256sum`);
    expect(scriptOf(podOf(drill).containers[0])).toContain('initdb');
    expect(scriptOf(podOf(drill).containers[0])).toContain('pg_restore --exit-on-error');
    expect(scriptOf(podOf(build({ source: SOURCES.mongodb }).drill).containers[0])).toContain('mongod --dbpath "$WORK/db"');
  });

  it('no prop is interpolated into a script: they differ only by kind, never by name, host or bucket', () => {
    const a = build({ name: 'one', target: S3 });
    const b = build({ name: 'two', source: { ...SOURCES.postgres, host: 'other.svc', database: 'x' } as BackupSource, target: { ...S3, bucket: 'other-bucket' } as BackupTarget });
    expect(containersOf(a.backup).map(scriptOf)).toEqual(containersOf(b.backup).map(scriptOf));
  });

  it('sources mount read-only except SQLite (which locks to read); the drill mounts the target read-only', () => {
    const mounts = (cj: Json) => containersOf(cj).flatMap((c) => c.volumeMounts.filter((m: Json) => m.mountPath === '/source' || m.mountPath === '/backup').map((m: Json) => `${c.name}:${m.mountPath}:${m.readOnly === true}`));
    const tar = build({ source: SOURCES['pvc-tarball'], target: PVC });
    expect(mounts(tar.backup)).toEqual(['produce:/source:true', 'store:/backup:false']);
    expect(mounts(tar.drill)).toEqual(['fetch:/backup:true']);
    expect(podOf(tar.backup).volumes.find((v: Json) => v.name === 'source').persistentVolumeClaim).toEqual({ claimName: 'oubliette-projects', readOnly: true });
    expect(mounts(build({ source: SOURCES.sqlite, target: PVC }).backup)).toEqual(['produce:/source:false', 'store:/backup:false']);
    const env = envOf(podOf(build({ source: SOURCES.sqlite, target: PVC }).backup).initContainers[0]);
    expect(env.DB_PATH!.value).toBe('/source/data/auth.db');
    expect(envOf(podOf(tar.backup).containers[0]).TARGET_DIR!.value).toBe('/backup/pg');
  });
});

describe('cron schedules (5 fields, as Kubernetes reads them)', () => {
  it('the interval is the longest gap between runs', () => {
    expect(scheduleInterval('0 3 * * *')).toBe(86_400);
    expect(scheduleInterval('0 3 * * 1-5')).toBe(3 * 86_400);
    expect(scheduleInterval('0 3 * * MON-FRI')).toBe(3 * 86_400);
    expect(scheduleInterval('30 5 * * 0')).toBe(7 * 86_400);
    expect(scheduleInterval('30 5 * * 7')).toBe(7 * 86_400);
    expect(scheduleInterval('*/15 * * * *')).toBe(900);
    expect(scheduleInterval('0 0,12 * * *')).toBe(12 * 3600);
    expect(scheduleInterval('0 0 31 * *')).toBe(61 * 86_400); // Jan 31 -> Mar 31
    expect(scheduleInterval('0 1 1 JAN,JUL *')).toBe(184 * 86_400);
  });

  it('day-of-month and day-of-week both restricted: either matches (OR)', () => {
    // the 1st of the month OR any Monday: never more than 7 days apart
    expect(scheduleInterval('0 0 1 * 1')).toBe(7 * 86_400);
    expect(parseCron('0 0 1 * 1').dayOfMonth.star).toBe(false);
  });

  it.each([
    ['0 3 * *', 'needs exactly 5 fields, has 4'],
    ['@daily', 'macros and TZ= are not accepted'],
    ['60 3 * * *', 'minute: 60 is outside 0-59'],
    ['0 3 * * FUNDAY', 'day of week: "FUNDAY" is not a number'],
    ['0 5-3 * * *', 'hour: range 5-3 runs backwards'],
    ['0 0 31 2 *', 'runs fewer than twice in four years'],
  ])('rejects %j', (schedule, why) => {
    const e = errorOf(() => build({ schedule }));
    expect(e.message).toContain('BackupCronJob "pg": schedule is not a usable 5-field cron schedule');
    expect(e.message).toContain(why);
    expect(e.message).toContain(`(got ${JSON.stringify(schedule)})`);
  });

  it('rejects a bad drill schedule too', () => {
    expect(errorOf(() => build({ drillSchedule: '0 0 * *' })).message).toContain('drillSchedule is not a usable 5-field cron schedule: needs exactly 5 fields, has 4 (got "0 0 * *")');
  });
});

describe('BackupCronJob rejects unsafe props, naming the value', () => {
  it.each([
    [{ name: 'a-very-long-backup-name-that-exceeds-38' }, 'name must be a DNS label of at most 38 characters', '"a-very-long-backup-name-that-exceeds-38"'],
    [{ retention: 0 }, 'retention must be an integer 1–1000', '0'],
    [{ backoffLimit: 11 }, 'backoffLimit must be an integer 0–10', '11'],
    [{ startingDeadlineSeconds: 5 }, 'startingDeadlineSeconds must be an integer 10–86400', '5'],
    [{ activeDeadlineSeconds: 1.5 }, 'activeDeadlineSeconds must be an integer', '1.5'],
    [{ failedJobsHistoryLimit: 0 }, 'failedJobsHistoryLimit must be an integer 1–100', '0'],
    [{ runAsUser: 0 }, 'runAsUser must be an integer 1–', '0'],
    [{ timeZone: 'Paris time' }, 'timeZone must be an IANA time zone name', '"Paris time"'],
    [{ workSize: 'lots' }, 'workSize must be a quantity', '"lots"'],
    [{ runbookUrl: 'runbooks/aion' }, 'runbookUrl must be an absolute URL', '"runbooks/aion"'],
    [{ target: { ...S3, endpoint: 'http://minio:9000/aion-backups' } }, 'target.endpoint must be an http(s) URL with no path', '"http://minio:9000/aion-backups"'],
    [{ target: { ...S3, endpoint: 'minio:9000' } }, 'target.endpoint must be an http(s) URL', '"minio:9000"'],
    [{ target: { ...S3, bucket: 'Aion_Backups' } }, 'target.bucket must be an S3 bucket name', '"Aion_Backups"'],
    [{ target: { ...S3, prefix: '/pg/' } }, 'target.prefix must be a key prefix', '"/pg/"'],
    [{ target: { ...S3, accessKeyId: { secretName: 'Minio', key: 'a' } } }, 'target.accessKeyId.secretName must be a Secret name', '"Minio"'],
    [{ source: { ...SOURCES.postgres, password: { secretName: 'pg', key: 'pass word' } } }, 'source.password.key must be a Secret data key', '"pass word"'],
    [{ source: { ...SOURCES.postgres, host: 'postgres; rm -rf /' } }, 'source.host must be a DNS name', '"postgres; rm -rf /"'],
    [{ source: { ...SOURCES.postgres, database: 'aion db' } }, 'source.database must be a database name', '"aion db"'],
    [{ source: { ...SOURCES.sqlite, path: '../etc/passwd' } }, 'source.path must be a relative file path', '"../etc/passwd"'],
    [{ source: SOURCES['pvc-tarball'], target: { kind: 'pvc', claimName: 'oubliette-projects' } }, 'target.claimName must not be the source claim', '"oubliette-projects"'],
    [{ target: { ...S3, peer: { cidr: '0.0.0.0/0' } } }, 'allows the whole internet', '"0.0.0.0/0"'],
  ] as [Partial<BackupProps>, string, string][])('%j', (props, message, got) => {
    const e = errorOf(() => build(props));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain(message);
    expect(e.message).toContain(`(got ${got})`);
  });
});

// ---------------------------------------------------------------------------------------------
// The scripts, run for real. Paths come from env (WORK, SOURCE_DIR, TARGET_DIR, DB_PATH), so a
// temporary directory stands in for each volume. /bin/sh here is dash; in the images it is
// busybox ash (alpine) — both POSIX shells.

const tmp = mkdtempSync(join(tmpdir(), 'stackbook-backup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let runId = 0;

function sh(script: string, env: Record<string, string>): { code: number; out: string } {
  const r = spawnSync(shellCommand(script)[0]!, shellCommand(script).slice(1), { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function dirs() {
  const base = join(tmp, `run-${runId++}`);
  const d = { work: join(base, 'work'), source: join(base, 'source'), backup: join(base, 'backup'), drill: join(base, 'drill') };
  for (const p of Object.values(d)) mkdirSync(p, { recursive: true });
  return d;
}

describe('pvc-tarball scripts (OUB-7: tar.gz, verified, retention 7, restore test)', () => {
  const env = (d: ReturnType<typeof dirs>, work = d.work) => ({ BACKUP_NAME: 'projects', EXT: 'tar.gz', WORK: work, SOURCE_DIR: d.source, TARGET_DIR: join(d.backup, 'projects'), RETENTION: '7', MIN_COUNT: '1' });

  function seed(d: ReturnType<typeof dirs>) {
    mkdirSync(join(d.source, 'alpha'), { recursive: true });
    writeFileSync(join(d.source, 'alpha', 'main.py'), 'print("hi")\n');
    writeFileSync(join(d.source, 'README'), 'projects\n');
  }

  it('produce -> store -> fetch -> restore check succeeds, and the archive restores the files', () => {
    const d = dirs();
    seed(d);
    const p = sh(SCRIPTS.produce['pvc-tarball'], env(d));
    expect(p.code, p.out).toBe(0);
    const s = sh(SCRIPTS.store.pvc, env(d));
    expect(s.code, s.out).toBe(0);
    const stored = readdirSync(join(d.backup, 'projects')).sort();
    expect(stored).toHaveLength(2);
    expect(stored[0]).toMatch(/^projects-\d{8}T\d{6}Z\.tar\.gz$/);
    expect(stored[1]).toBe(`${stored[0]}.sha256`);
    const f = sh(SCRIPTS.fetch.pvc, env(d, d.drill));
    expect(f.code, f.out).toBe(0);
    const c = sh(SCRIPTS.check['pvc-tarball'], env(d, d.drill));
    expect(c.code, c.out).toBe(0);
    expect(c.out).toContain('restore drill ok');
    expect(readFileSync(join(d.drill, 'restore', 'alpha', 'main.py'), 'utf8')).toBe('print("hi")\n');
  });

  it('keeps the newest 7 and deletes older archives with their checksums', () => {
    const d = dirs();
    seed(d);
    const target = join(d.backup, 'projects');
    mkdirSync(target, { recursive: true });
    for (let day = 1; day <= 9; day++) {
      const name = `projects-200101${String(day).padStart(2, '0')}T030000Z.tar.gz`;
      writeFileSync(join(target, name), 'old');
      writeFileSync(join(target, `${name}.sha256`), 'old');
    }
    writeFileSync(join(target, 'unrelated.txt'), 'keep me');
    expect(sh(SCRIPTS.produce['pvc-tarball'], env(d)).code).toBe(0);
    const s = sh(SCRIPTS.store.pvc, env(d));
    expect(s.code, s.out).toBe(0);
    const left = readdirSync(target).filter((n) => n.endsWith('.tar.gz')).sort();
    expect(left).toHaveLength(7);
    expect(left[0]).toBe('projects-20010104T030000Z.tar.gz'); // 01..03 removed
    expect(existsSync(join(target, 'projects-20010103T030000Z.tar.gz.sha256'))).toBe(false);
    expect(existsSync(join(target, 'unrelated.txt'))).toBe(true);
    expect(s.out).toContain('retention (7): removed projects-20010101T030000Z.tar.gz');
  });

  it('fails loudly: empty source, archive corrupted before storing, corrupted in the target, no backup at all', () => {
    const empty = dirs();
    const e = sh(SCRIPTS.produce['pvc-tarball'], env(empty));
    expect(e.code).not.toBe(0);
    expect(e.out).toContain('BACKUP FAILED');
    expect(e.out).toContain('holds no entries');

    const d = dirs();
    seed(d);
    expect(sh(SCRIPTS.produce['pvc-tarball'], env(d)).code).toBe(0);
    const file = readFileSync(join(d.work, 'artifact'), 'utf8').trim();
    writeFileSync(join(d.work, file), 'garbage');
    const s = sh(SCRIPTS.store.pvc, env(d));
    expect(s.code).not.toBe(0);
    expect(s.out).toContain(`BACKUP FAILED: ${join(d.backup, 'projects')}/${file} does not match its checksum`);

    const g = dirs();
    seed(g);
    expect(sh(SCRIPTS.produce['pvc-tarball'], env(g)).code).toBe(0);
    expect(sh(SCRIPTS.store.pvc, env(g)).code).toBe(0);
    const stored = readFileSync(join(g.work, 'artifact'), 'utf8').trim();
    writeFileSync(join(g.backup, 'projects', stored), 'bitrot');
    const f = sh(SCRIPTS.fetch.pvc, env(g, g.drill));
    expect(f.code).not.toBe(0);
    expect(f.out).toContain(`BACKUP FAILED: ${stored} does not match its checksum`);

    const none = dirs();
    const n = sh(SCRIPTS.fetch.pvc, env(none, none.drill));
    expect(n.code).not.toBe(0);
    expect(n.out).toContain('BACKUP FAILED: no tar.gz backup of projects in');
  });

  it('the restore check fails when the archive restores fewer entries than the minimum', () => {
    const d = dirs();
    seed(d);
    expect(sh(SCRIPTS.produce['pvc-tarball'], env(d)).code).toBe(0);
    const c = sh(SCRIPTS.check['pvc-tarball'], { ...env(d), MIN_COUNT: '50' });
    expect(c.code).not.toBe(0);
    expect(c.out).toMatch(/BACKUP FAILED: restored projects-\S+ has 3 entries, expected at least 50/);
  });
});

describe('sqlite scripts (OUB-7: SQLite-safe copy of auth.db, integrity check)', () => {
  const env = (d: ReturnType<typeof dirs>, work = d.work) => ({ BACKUP_NAME: 'auth', EXT: 'sqlite3', WORK: work, DB_PATH: join(d.source, 'auth.db'), TARGET_DIR: join(d.backup, 'auth'), RETENTION: '7', MIN_COUNT: '1' });
  const sqlite = (db: string, sql: string) => spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });

  it('.backup of a live WAL database, integrity ok, stored, fetched and checked', () => {
    const d = dirs();
    const db = join(d.source, 'auth.db');
    sqlite(db, "PRAGMA journal_mode=WAL; CREATE TABLE tokens (name TEXT, scope TEXT); INSERT INTO tokens VALUES ('ops-admin', 'admin');");
    for (const [script, work] of [[SCRIPTS.produce.sqlite, d.work], [SCRIPTS.store.pvc, d.work], [SCRIPTS.fetch.pvc, d.drill], [SCRIPTS.check.sqlite, d.drill]] as const) {
      const r = sh(script, env(d, work));
      expect(r.code, r.out).toBe(0);
    }
    expect(sqlite(join(d.drill, 'restore.db'), 'SELECT name FROM tokens;').stdout.trim()).toBe('ops-admin');
  });

  it('fails loudly on a missing or corrupt database', () => {
    const d = dirs();
    const missing = sh(SCRIPTS.produce.sqlite, env(d));
    expect(missing.code).not.toBe(0);
    expect(missing.out).toContain(`BACKUP FAILED: no database file at ${join(d.source, 'auth.db')}`);
    writeFileSync(join(d.source, 'auth.db'), 'SQLite format 3\0' + 'x'.repeat(5000));
    const corrupt = sh(SCRIPTS.produce.sqlite, env(d));
    expect(corrupt.code).not.toBe(0);
    expect(corrupt.out).toContain('BACKUP FAILED');
  });

  it('the drill check fails on an empty database (no tables)', () => {
    const d = dirs();
    sqlite(join(d.source, 'auth.db'), 'PRAGMA user_version = 1;');
    expect(sh(SCRIPTS.produce.sqlite, env(d)).code).toBe(0);
    const c = sh(SCRIPTS.check.sqlite, env(d));
    expect(c.code).not.toBe(0);
    expect(c.out).toMatch(/BACKUP FAILED: restored auth-\S+ has 0 tables, expected at least 1/);
  });
});

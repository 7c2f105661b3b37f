/**
 * Issue 14 item 12: the in-cluster PostgreSQL of staging, prod and airgap archives WAL continuously
 * and takes scheduled base backups through the Barman Cloud plugin to the stack's object store
 * (MinIO in-cluster, or the external one), alerted by `aion-pg-backup`; dev keeps the nightly dump only.
 * The network path is checked on the rendered NetworkPolicies, and the bundles pass the policies.
 */
import { describe, expect, it } from 'vitest';
import { blocking, evaluate, formatViolation } from '../policies/manifest-rules.js';
import { renderEnv } from './helpers.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const find = (objects: readonly Json[], kind: string, name: string): Json | undefined => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe('issue 14 item 12: continuous PostgreSQL backup outside development', () => {
  it.each(['staging', 'prod', 'airgap'])('%s: WAL archiver plugin, ObjectStore on the stack\'s object store, nightly ScheduledBackup, alerts, a network path', (env) => {
    const r = renderEnv(env);
    const objects = r.objects as readonly Json[];
    const cluster = find(objects, 'Cluster', 'aion-pg');
    expect(cluster.spec.plugins).toEqual([{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: 'aion-pg-backup' } }]);
    const store = find(objects, 'ObjectStore', 'aion-pg-backup');
    const minio = (r.stack.services.aion as Json).data.minio;
    const endpoint = minio.mode === 'in-cluster' ? 'http://minio.aion.svc:9000' : `https://${minio.host}:${minio.port}`;
    expect(store.spec.configuration).toMatchObject({
      destinationPath: 's3://aion-backups/pg-cnpg',
      endpointURL: endpoint,
      s3Credentials: { accessKeyId: { name: 'aion-minio', key: 'user' }, secretAccessKey: { name: 'aion-minio', key: 'password' } },
    });
    expect(find(objects, 'ScheduledBackup', 'aion-pg-scheduled').spec).toMatchObject({ method: 'plugin', pluginConfiguration: { name: 'barman-cloud.cloudnative-pg.io' }, cluster: { name: 'aion-pg' } });
    expect(find(objects, 'PrometheusRule', 'aion-pg-backup').spec.groups[0].rules.map((x: Json) => x.alert)).toEqual(['PostgresWalArchivingStuck', 'PostgresBaseBackupStale', 'PostgresBackupMetricsAbsent', 'PostgresPitrDrillFailed', 'PostgresPitrDrillStale']);
    // The instances may reach the object store on its port ...
    const pgPolicy = find(objects, 'NetworkPolicy', 'aion-pg-postgres');
    expect(pgPolicy.spec.egress.some((e: Json) => (e.ports ?? []).some((p: Json) => p.port === 9000 || p.port === minio.port))).toBe(true);
    // ... and an in-cluster MinIO admits them (they carry app.kubernetes.io/name=aion-pg).
    expect(cluster.spec.inheritedMetadata.labels).toEqual({ 'app.kubernetes.io/name': 'aion-pg' });
    if (minio.mode === 'in-cluster') {
      const admitted = objects
        .filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === 'aion' && o.spec.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'minio')
        .flatMap((p) => p.spec.ingress ?? [])
        .flatMap((i: Json) => i.from ?? [])
        .map((f: Json) => f.podSelector?.matchLabels?.['app.kubernetes.io/name']);
      expect(admitted).toContain('aion-pg');
    }
    expect(blocking(evaluate(r.objects)).map(formatViolation)).toEqual([]);
  });

  it('dev: no continuous backup (the nightly pg_dump remains)', () => {
    const objects = renderEnv('dev').objects as readonly Json[];
    expect(find(objects, 'Cluster', 'aion-pg').spec.plugins).toBeUndefined();
    expect(find(objects, 'ObjectStore', 'aion-pg-backup')).toBeUndefined();
    expect(find(objects, 'ScheduledBackup', 'aion-pg-scheduled')).toBeUndefined();
    expect(find(objects, 'CronJob', 'pg-backup')).toBeDefined();
  });
});

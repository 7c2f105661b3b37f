/**
 * The point-in-time restore drill of a CNPG cluster's physical backups (issue 14 item 12,
 * components/postgres-drill.ts). What it does against real PostgreSQL, barman-cloud and S3 is proven
 * by the backup tier (`npm run test:backups`, docs/backup-tests.md); these check the rendered shape:
 * it is always there with backups, reads the archive with the store's credentials as files, runs
 * restricted with no API token, and talks only to DNS and the object store.
 */
import { describe, expect, it } from 'vitest';
import { Postgres, type PostgresProps } from '../../components/postgres.js';
import { PITR_DRILL_LABEL } from '../../components/postgres-drill.js';
import { blocking, evaluate } from '../../policies/rules.js';
import { errorOf, newChart, objectsOf, only, type Json } from './util.js';

const IMAGE = `ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie@sha256:${'b'.repeat(64)}`;
const PROPS: PostgresProps = {
  name: 'aion-pg',
  namespace: 'aion',
  database: 'aion',
  ownerSecret: 'aion-pg-owner',
  storageSize: '20Gi',
  clients: [{ pods: { 'app.kubernetes.io/name': 'control' } }],
  kubeApiCidrs: ['10.96.0.1/32'],
  backup: {
    destinationPath: 's3://aion-backups/pg-cnpg',
    endpointUrl: 'http://minio.aion.svc:9000',
    credentials: { secretName: 'aion-minio', accessKeyIdKey: 'user', secretAccessKeyKey: 'password' },
    egress: { peers: [{ pods: { 'app.kubernetes.io/name': 'minio' } }], ports: [{ port: 9000 }] },
    runbookUrl: 'https://runbooks.example.com/aion#backups',
    drill: { image: IMAGE },
  },
};

function render(props: PostgresProps = PROPS): Json[] {
  const chart = newChart();
  new Postgres(chart, 'PG', props);
  return objectsOf(chart);
}

describe('Postgres point-in-time restore drill (issue 14 item 12)', () => {
  it('backups without a drill are refused, naming the prop', () => {
    const { drill: _drill, ...noDrill } = PROPS.backup!;
    const e = errorOf(() => render({ ...PROPS, backup: noDrill as never }));
    expect(e.message).toContain('backup.drill.image');
  });

  it('a weekly CronJob, labelled for its cluster, in the system image, no retries, no API token', () => {
    const cj = only(render(), 'CronJob', 'aion-pg-pitr-drill');
    expect(cj.metadata.labels[PITR_DRILL_LABEL]).toBe('aion-pg');
    expect(cj.spec).toMatchObject({ schedule: '30 6 * * 0', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid' });
    expect(cj.spec.jobTemplate.spec.backoffLimit).toBe(0);
    const pod = cj.spec.jobTemplate.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 26, runAsGroup: 26, fsGroup: 26 });
    expect(pod.containers).toHaveLength(1);
    expect(pod.containers[0].image).toBe(IMAGE);
    expect(pod.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  });

  it('reads the object store as the cluster writes it: destination, server name = cluster, endpoint; keys as files, never env', () => {
    const pod = only(render(), 'CronJob', 'aion-pg-pitr-drill').spec.jobTemplate.spec.template.spec;
    const env = Object.fromEntries(pod.containers[0].env.map((e: Json) => [e.name, e]));
    expect(env.DESTINATION_PATH.value).toBe('s3://aion-backups/pg-cnpg');
    expect(env.SERVER_NAME.value).toBe('aion-pg');
    expect(env.ENDPOINT_URL.value).toBe('http://minio.aion.svc:9000');
    expect(env.DATABASE.value).toBe('aion');
    expect(pod.containers[0].env.filter((e: Json) => e.valueFrom)).toEqual([]);
    const vol = pod.volumes.find((v: Json) => v.secret);
    expect(vol.secret).toEqual({ secretName: 'aion-minio', defaultMode: 0o440, items: [{ key: 'password', path: 'password' }, { key: 'user', path: 'user' }] });
    expect(pod.containers[0].volumeMounts.find((m: Json) => m.name === vol.name)).toMatchObject({ mountPath: env.S3_CREDENTIALS_DIR.value, readOnly: true });
    // scratch space for the restored cluster defaults to the cluster's volume size
    expect(pod.volumes.find((v: Json) => v.name === 'work').emptyDir.sizeLimit).toBe('20Gi');
  });

  it('egress only to DNS and the object store, no ingress', () => {
    const np = only(render(), 'NetworkPolicy', 'aion-pg-pitr-drill');
    expect(np.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'aion-pg-pitr-drill' });
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress).toBeUndefined();
    expect(np.spec.egress.map((e: Json) => e.ports.map((p: Json) => p.port)).flat().sort()).toEqual([53, 53, 9000]);
  });

  it('passes every policy in production, and the postgres-pitr-drill rule blocks the cluster without it', () => {
    const objects = render();
    expect(blocking(evaluate(objects as never, { tier: 'production', registry: undefined }))).toEqual([]);
    const without = objects.filter((o) => !(o.kind === 'CronJob' && o.metadata.name === 'aion-pg-pitr-drill'));
    expect(blocking(evaluate(without as never, { tier: 'production', registry: undefined })).map((v) => v.rule)).toEqual(['postgres-pitr-drill']);
    const unwatched = structuredClone(objects);
    const rule = unwatched.find((o) => o.kind === 'PrometheusRule');
    rule.spec.groups[0].rules = rule.spec.groups[0].rules.filter((r: Json) => r.alert !== 'PostgresPitrDrillFailed');
    expect(blocking(evaluate(unwatched as never, { tier: 'production', registry: undefined })).map((v) => v.rule)).toEqual(['postgres-pitr-drill']);
  });

  it('bad drill props are refused with the prop name', () => {
    const bad = (drill: Json, prop: string) => expect(errorOf(() => render({ ...PROPS, backup: { ...PROPS.backup!, drill: { image: IMAGE, ...drill } } })).message).toContain(prop);
    bad({ schedule: '0 0 6 * * 0' }, 'backup.drill.schedule');
    bad({ minTables: 0 }, 'backup.drill.minTables');
    bad({ workSize: '100Mi' }, 'backup.drill.workSize');
    bad({ recoveryTimeoutSeconds: 5 }, 'backup.drill.recoveryTimeoutSeconds');
  });
});

/**
 * MinIO (AION-2 data service, AION-13 stale multipart uploads): single-drive MinIO on the
 * StatefulSet base, root credentials from Secrets, health probes, or an external S3 endpoint.
 */
import { describe, expect, it } from 'vitest';
import { DefaultDeny } from '../../components/network-policy.js';
import { ExternalMinio, MC_IMAGE, MINIO_IMAGE, Minio, type MinioProps } from '../../components/minio.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { invalidManifests } from '../schema.js';
import { errorOf, newChart, objectsOf, only, type Json } from './util.js';

const BASE: MinioProps = {
  namespace: 'aion',
  image: `quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:${'1'.repeat(64)}`,
  rootUser: { name: 'minio-root', key: 'user' },
  rootPassword: { name: 'minio-root', key: 'password' },
  clients: [{ name: 'memory' }, { name: 'minio-lifecycle' }],
};

function build(overrides: Partial<MinioProps> = {}) {
  const chart = newChart();
  const m = new Minio(chart, 'M', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const sts = only(objects, 'StatefulSet');
  const c: Json = sts.spec.template.spec.containers[0];
  return { m, objects, sts, c, env: Object.fromEntries(c.env.map((e: Json) => [e.name, e.value ?? e.valueFrom])) };
}

describe('Minio (AION-2, AION-13)', () => {
  it('is schema-valid and passes every policy with no exception', () => {
    const { objects } = build();
    const chart = newChart();
    new DefaultDeny(chart, 'D', { namespace: 'aion' });
    expect(invalidManifests(objects)).toEqual({});
    expect(evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined })).toEqual([]);
  });

  it('default images: MinIO\'s own quay.io registry, pinned RELEASE tags', () => {
    expect(MINIO_IMAGE).toEqual({ repository: 'quay.io/minio/minio', tag: 'RELEASE.2025-09-07T16-13-09Z' });
    expect(MC_IMAGE).toEqual({ repository: 'quay.io/minio/mc', tag: 'RELEASE.2025-08-13T08-35-41Z' });
  });

  it('serves S3 on 9000 from /data (a 20Gi PVC @default), with writable state only in volumes', () => {
    const { c, sts } = build();
    expect(c.command).toEqual(['minio', 'server', '/data', '--address', ':9000', '--console-address', ':9001', '--certs-dir', '/tmp/certs']);
    expect(c.ports).toEqual([{ name: 's3', containerPort: 9000, protocol: 'TCP' }]);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('20Gi');
    expect(c.volumeMounts.map((m: Json) => m.mountPath)).toEqual(['/data', '/tmp', '/run/secrets/minio']);
  });

  it('probes: liveness /minio/health/live, readiness /minio/health/ready', () => {
    const { c } = build();
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/minio/health/live', port: 9000 });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/minio/health/ready', port: 9000 });
  });

  it('issue 14 item 17: root credentials as read-only files (MINIO_ROOT_*_FILE), never in the environment; console and update checks off', () => {
    const { env, c, sts } = build();
    expect(env.MINIO_ROOT_USER).toBeUndefined();
    expect(env.MINIO_ROOT_PASSWORD).toBeUndefined();
    expect(env.MINIO_ROOT_USER_FILE).toBe('/run/secrets/minio/root-user');
    expect(env.MINIO_ROOT_PASSWORD_FILE).toBe('/run/secrets/minio/root-password');
    expect(c.env.filter((e: Json) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(sts.spec.template.spec.volumes.find((v: Json) => v.name === 'root').projected).toEqual({
      defaultMode: 0o440,
      sources: [
        { secret: { name: 'minio-root', items: [{ key: 'user', path: 'root-user' }] } },
        { secret: { name: 'minio-root', items: [{ key: 'password', path: 'root-password' }] } },
      ],
    });
    expect(c.volumeMounts).toContainEqual({ name: 'root', mountPath: '/run/secrets/minio', readOnly: true });
    expect(env.MINIO_BROWSER).toBe('off');
    expect(env.MINIO_UPDATE).toBe('off');
  });

  it('AION-13: stale multipart uploads are aborted after 72 h by default, or the given hours', () => {
    expect(build().env.MINIO_API_STALE_UPLOADS_EXPIRY).toBe('72h');
    expect(build({ abortIncompleteUploadsAfterHours: 48 }).env.MINIO_API_STALE_UPLOADS_EXPIRY).toBe('48h');
  });

  it('connection(): URL, the two Secret keys and the endpoint', () => {
    expect(build().m.connection()).toEqual({
      url: 'http://minio.aion.svc:9000',
      accessKeySecret: { name: 'minio-root', key: 'user' },
      secretKeySecret: { name: 'minio-root', key: 'password' },
      endpoint: { host: 'minio.aion.svc', port: 9000, peers: [{ namespace: 'aion', pods: { 'app.kubernetes.io/name': 'minio' } }] },
    });
  });

  it.each([
    [{ replicas: 4 }, 'replicas', '(got 4)'],
    [{ abortIncompleteUploadsAfterHours: 12 }, 'abortIncompleteUploadsAfterHours', '(got 12)'],
  ] as Array<[Partial<MinioProps>, string, string]>)('rejects %j', (o, prop, got) => {
    const e = errorOf(() => build(o));
    expect(e.message).toContain(`Minio "minio": ${prop}`);
    expect(e.message).toContain(got);
  });

  it('external mode: https on 443 by default, egress policy only', () => {
    const chart = newChart();
    const x = new ExternalMinio(chart, 'X', {
      host: 's3.example.com',
      cidrs: ['10.60.0.0/24'],
      accessKeySecret: { name: 's3', key: 'access' },
      secretKeySecret: { name: 's3', key: 'secret' },
      clients: [{ name: 'memory', namespace: 'aion' }],
    });
    expect(x.connection().url).toBe('https://s3.example.com:443');
    const objects = objectsOf(chart);
    expect(objects.map((o) => o.kind)).toEqual(['NetworkPolicy']);
    expect(objects[0]!.spec.egress[0]).toEqual({ to: [{ ipBlock: { cidr: '10.60.0.0/24' } }], ports: [{ port: 443, protocol: 'TCP' }] });
  });
});

/**
 * MongoDB (AION-2 data service): hardened standalone mongod on the StatefulSet base, credentials
 * from Secrets, TCP liveness and a mongosh ping readiness, or external (egress policy only).
 */
import { describe, expect, it } from 'vitest';
import { DefaultDeny } from '../../components/network-policy.js';
import { ExternalMongoDb, MONGODB_IMAGE, MongoDb, type MongoDbProps } from '../../components/mongodb.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { invalidManifests } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const BASE: MongoDbProps = {
  namespace: 'aion',
  image: `docker.io/library/mongo:8.0.12@sha256:${'e'.repeat(64)}`,
  rootUsername: { name: 'mongo-root', key: 'username' },
  rootPassword: { name: 'mongo-root', key: 'password' },
  uriSecret: { name: 'mongo-client', key: 'uri' },
  clients: [{ name: 'control' }],
};

function build(overrides: Partial<MongoDbProps> = {}) {
  const chart = newChart();
  const m = new MongoDb(chart, 'M', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const sts = only(objects, 'StatefulSet');
  return { m, objects, sts, pod: sts.spec.template.spec as Json, c: sts.spec.template.spec.containers[0] as Json };
}

function violations(objects: readonly Json[], namespaces: readonly string[]) {
  const chart = newChart();
  for (const ns of namespaces) new DefaultDeny(chart, `D-${ns}`, { namespace: ns });
  return evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined });
}

describe('MongoDb (AION-2)', () => {
  it('is schema-valid and passes every policy with no exception', () => {
    const { objects } = build();
    expect(objects.map((o) => o.kind).sort()).toEqual(['NetworkPolicy', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'StatefulSet']);
    expect(invalidManifests(objects)).toEqual({});
    expect(violations(objects, ['aion'])).toEqual([]);
  });

  it('default image: the official library image, pinned tag', () => {
    expect(MONGODB_IMAGE).toEqual({ repository: 'docker.io/library/mongo', tag: '8.0.12' });
  });

  it('runs mongod as UID 999 on port 27017, bound to all interfaces, with the WiredTiger cache @default 0.25 GB', () => {
    const { pod, c } = build();
    expect(pod.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999 });
    expect(c.args).toEqual(['mongod', '--bind_ip_all', '--port', '27017', '--wiredTigerCacheSizeGB', '0.25']);
    expect(c.ports).toEqual([{ name: 'mongodb', containerPort: 27017, protocol: 'TCP' }]);
    expect(build({ cacheSizeGb: 2 }).c.args).toContain('2');
  });

  it('issue 14 item 17: root credentials as read-only files (the entrypoint reads MONGO_INITDB_ROOT_*_FILE), never in the environment', () => {
    const { c, pod } = build();
    const env = Object.fromEntries(c.env.map((e: Json) => [e.name, e]));
    expect(c.env.filter((e: Json) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(env.MONGO_INITDB_ROOT_USERNAME).toBeUndefined();
    expect(env.MONGO_INITDB_ROOT_PASSWORD).toBeUndefined();
    expect(env.MONGO_INITDB_ROOT_USERNAME_FILE.value).toBe('/run/secrets/mongodb/root-username');
    expect(env.MONGO_INITDB_ROOT_PASSWORD_FILE.value).toBe('/run/secrets/mongodb/root-password');
    const root = pod.volumes.find((v: Json) => v.name === 'root');
    expect(root.projected).toEqual({
      defaultMode: 0o440,
      sources: [
        { secret: { name: 'mongo-root', items: [{ key: 'username', path: 'root-username' }] } },
        { secret: { name: 'mongo-root', items: [{ key: 'password', path: 'root-password' }] } },
      ],
    });
    expect(c.volumeMounts).toContainEqual({ name: 'root', mountPath: '/run/secrets/mongodb', readOnly: true });
    // readable by mongod (UID 999) through the pod's fsGroup only
    expect(pod.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999 });
  });

  it('probes: liveness TCP 27017, readiness a mongosh ping (no credential in the probe)', () => {
    const { c } = build();
    expect(c.livenessProbe.tcpSocket).toEqual({ port: 27017 });
    expect(c.readinessProbe.exec.command).toEqual(['mongosh', '--quiet', '--norc', '--port', '27017', '--eval', 'db.adminCommand("ping").ok']);
  });

  it('data on a 10Gi PVC (@default), configdb and /tmp as emptyDirs; 1Gi memory by default', () => {
    const { sts, c, pod } = build();
    expect(sts.spec.volumeClaimTemplates.map((t: Json) => [t.metadata.name, t.spec.resources.requests.storage])).toEqual([['data', '10Gi']]);
    expect(c.volumeMounts.map((m: Json) => `${m.name}:${m.mountPath}`)).toEqual(['data:/data/db', 'configdb:/data/configdb', 'tmp:/tmp', 'root:/run/secrets/mongodb']);
    expect(pod.volumes.map((v: Json) => v.name)).toEqual(['configdb', 'tmp', 'root']);
    expect(c.resources.limits).toEqual({ cpu: '1', memory: '1Gi', 'ephemeral-storage': '336Mi' }); // 256Mi logs + its configdb and tmp emptyDirs
    expect(build({ storageSize: '50Gi', storageClassName: 'gp3' }).sts.spec.volumeClaimTemplates[0].spec).toMatchObject({ storageClassName: 'gp3', resources: { requests: { storage: '50Gi' } } });
  });

  it('connection(): the URI Secret key and the in-cluster endpoint; concerns traced', () => {
    const { m, objects } = build({ concerns: ['AION-2'] });
    expect(m.connection()).toEqual({ uriSecret: { name: 'mongo-client', key: 'uri' }, endpoint: { host: 'mongodb.aion.svc', port: 27017, peers: [{ namespace: 'aion', pods: { 'app.kubernetes.io/name': 'mongodb' } }] } });
    for (const o of objects) expect(concernsOf(o)).toContain('AION-2');
  });

  it.each([
    [{ replicas: 3 }, 'replicas', '(got 3)'],
    [{ cacheSizeGb: 0.1 }, 'cacheSizeGb', '(got 0.1)'],
  ] as Array<[Partial<MongoDbProps>, string, string]>)('rejects %j', (o, prop, got) => {
    const e = errorOf(() => build(o));
    expect(e.message).toContain('MongoDb "mongodb"');
    expect(e.message).toContain(prop);
    expect(e.message).toContain(got);
  });

  it('external mode: only an egress policy, and a connection with the CIDR peer', () => {
    const chart = newChart();
    const x = new ExternalMongoDb(chart, 'X', { host: 'mongo.corp.example.com', cidrs: ['10.40.0.0/24'], uriSecret: { name: 'mongo-ext', key: 'uri' }, clients: [{ name: 'control', namespace: 'aion' }] });
    const objects = objectsOf(chart);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['NetworkPolicy/mongodb-egress-control']);
    expect(objects[0]!.spec.egress[0].ports).toEqual([{ port: 27017, protocol: 'TCP' }]);
    expect(x.connection()).toEqual({ uriSecret: { name: 'mongo-ext', key: 'uri' }, endpoint: { host: 'mongo.corp.example.com', port: 27017, peers: [{ cidr: '10.40.0.0/24' }] } });
  });
});

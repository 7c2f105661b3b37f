/**
 * Postgres (CloudNativePG v1.30): Cluster, Barman Cloud plugin backups (ObjectStore +
 * ScheduledBackup), NetworkPolicy and PodMonitor. Expected values come from the component's
 * documented defaults, the CNPG v1.30.0 CRDs in ../shared/crds and CNPG's documented ports
 * (5432 PostgreSQL, 8000 instance manager status, 9187 metrics).
 */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { dump } from 'js-yaml';
import {
  BARMAN_CLOUD_PLUGIN,
  CNPG_FIXED_PARAMETERS,
  POSTGRES_IMAGE,
  POSTGRES_MIN_INSTANCES,
  Postgres,
  cnpgScheduleProblem,
  defaultParameters,
  postgresInstancesProblem,
  type PostgresBackupProps,
  type PostgresProps,
} from '../../components/postgres.js';
import { blocking, evaluate, RULES } from '../../policies/manifest-rules.js';
import { OBJECT_STORE_SCHEMA } from '../crd-hand-checked.js';
import { validateManifest } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const BASE: PostgresProps = {
  name: 'aion-pg',
  namespace: 'aion',
  database: 'aion',
  ownerSecret: 'aion-pg-owner',
  clients: [{ pods: { 'app.kubernetes.io/name': 'control' } }],
  kubeApiCidrs: ['10.96.0.1/32'],
};

const BACKUP: PostgresBackupProps = {
  destinationPath: 's3://aion-backups/pg',
  endpointUrl: 'https://minio.minio.svc:9000',
  credentials: { secretName: 'aion-pg-s3' },
  egress: { peers: [{ namespace: 'minio', pods: { 'app.kubernetes.io/name': 'minio' } }], ports: [{ port: 9000 }] },
  runbookUrl: 'https://runbooks.example.com/aion#backups',
  drill: { image: 'ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' },
};

function build(overrides: Partial<PostgresProps> = {}) {
  const chart = newChart();
  const pg = new Postgres(chart, 'PG', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  return { pg, objects, cluster: only(objects, 'Cluster'), spec: only(objects, 'Cluster').spec as Json, policy: only(objects, 'NetworkPolicy', 'aion-pg-postgres') };
}

function withBackup(backup: Partial<PostgresBackupProps> = {}, overrides: Partial<PostgresProps> = {}) {
  const r = build({ backup: { ...BACKUP, ...backup }, ...overrides });
  return { ...r, store: only(r.objects, 'ObjectStore'), scheduled: only(r.objects, 'ScheduledBackup') };
}

function rejects(overrides: Partial<PostgresProps>, prop: string, got: string): Error {
  const e = errorOf(() => build(overrides));
  expect(e.name).toBe('ComponentError');
  expect(e.message).toContain('Postgres "aion-pg"');
  expect(e.message).toContain(prop);
  expect(e.message).toContain(`(got ${got})`);
  return e;
}

describe('Postgres Cluster defaults (AION-2)', () => {
  it('renders a Cluster, its NetworkPolicy and a PodMonitor, and no backup objects unless asked', () => {
    const { objects } = build();
    expect(objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).sort()).toEqual([
      'monitoring.coreos.com/v1 PodMonitor aion/aion-pg-postgres',
      'networking.k8s.io/v1 NetworkPolicy aion/aion-pg-postgres',
      'postgresql.cnpg.io/v1 Cluster aion/aion-pg',
    ]);
  });

  it('3 instances of the pinned official CNPG image, 10Gi on the default StorageClass', () => {
    const { spec, pg } = build();
    expect(spec.instances).toBe(3);
    expect(spec.imageName).toBe('ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie');
    expect(`${POSTGRES_IMAGE.repository}:${POSTGRES_IMAGE.tag}`).toBe(spec.imageName);
    expect(spec.storage).toEqual({ size: '10Gi' });
    expect(pg.serviceName).toBe('aion-pg-rw');
  });

  it('requests 500m CPU / 1Gi and limits 1 CPU / 1Gi (memory request = limit)', () => {
    expect(build().spec.resources).toEqual({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } });
  });

  it('bootstraps the database with initdb, owner defaulting to the database, credentials from the owner Secret, data checksums on', () => {
    expect(build().spec.bootstrap).toEqual({ initdb: { database: 'aion', owner: 'aion', secret: { name: 'aion-pg-owner' }, dataChecksums: true } });
    expect(build({ owner: 'aion_app' }).spec.bootstrap.initdb.owner).toBe('aion_app');
  });

  it('superuser access is disabled by default; enabling it needs a Secret and references it', () => {
    const off = build().spec;
    expect(off.enableSuperuserAccess).toBe(false);
    expect(off.superuserSecret).toBeUndefined();
    const on = build({ superuserSecret: 'aion-pg-superuser' }).spec;
    expect(on.enableSuperuserAccess).toBe(true);
    expect(on.superuserSecret).toEqual({ name: 'aion-pg-superuser' });
  });

  it('operator-managed PDB on by default, can be turned off', () => {
    expect(build().spec.enablePDB).toBe(true);
    expect(build({ enablePDB: false }).spec.enablePDB).toBe(false);
  });

  it('anti-affinity per node (preferred) and a best-effort zone spread, both configurable', () => {
    const { spec } = build();
    expect(spec.affinity).toEqual({ enablePodAntiAffinity: true, podAntiAffinityType: 'preferred', topologyKey: 'kubernetes.io/hostname' });
    expect(spec.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { 'cnpg.io/cluster': 'aion-pg' } } },
    ]);
    const custom = build({ antiAffinity: 'required', topologyKey: 'topology.kubernetes.io/zone', zoneTopologyKey: 'topology.kubernetes.io/region' }).spec;
    expect(custom.affinity).toEqual({ enablePodAntiAffinity: true, podAntiAffinityType: 'required', topologyKey: 'topology.kubernetes.io/zone' });
    expect(custom.topologySpreadConstraints[0].topologyKey).toBe('topology.kubernetes.io/region');
  });

  it('postgresql.conf defaults: memory-derived buffers, slow-query and lock logging, idle-in-transaction timeout, SCRAM', () => {
    expect(build().spec.postgresql.parameters).toEqual({
      effective_cache_size: '768MB',
      idle_in_transaction_session_timeout: '300000',
      log_checkpoints: 'on',
      log_lock_waits: 'on',
      log_min_duration_statement: '1000',
      max_connections: '200',
      password_encryption: 'scram-sha-256',
      shared_buffers: '256MB',
    });
    // 25 % / 75 % of the memory limit follow the resources.
    const big = build({ resources: { cpuRequest: '1', cpuLimit: '2', memoryRequest: '4Gi', memoryLimit: '4Gi' } }).spec.postgresql.parameters;
    expect([big.shared_buffers, big.effective_cache_size]).toEqual(['1024MB', '3072MB']);
    expect(defaultParameters(2 ** 30).shared_buffers).toBe('256MB');
  });

  it('given parameters override the defaults and are rendered sorted', () => {
    const p = build({ parameters: { max_connections: '50', work_mem: '8MB' } }).spec.postgresql.parameters;
    expect(p.max_connections).toBe('50');
    expect(p.work_mem).toBe('8MB');
    expect(Object.keys(p)).toEqual([...Object.keys(p)].sort());
  });

  it('client connections without TLS are rejected by default (pg_hba), unless requireTls is false', () => {
    expect(build().spec.postgresql.pg_hba).toEqual(['hostnossl all all all reject']);
    expect(build({ requireTls: false }).spec.postgresql.pg_hba).toBeUndefined();
  });

  it('storage class, instances and image are passed through', () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const { spec } = build({ instances: 1, storageSize: '50Gi', storageClass: 'gp3', imageName: `registry.corp.internal:5000/mirror/ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie@${digest}` });
    expect(spec.instances).toBe(1);
    expect(spec.storage).toEqual({ size: '50Gi', storageClass: 'gp3' });
    expect(spec.imageName).toContain(digest);
  });

  it('no in-tree barmanObjectStore and no deprecated enablePodMonitor are rendered', () => {
    const { spec } = withBackup();
    expect(spec.backup).toBeUndefined();
    expect(spec.monitoring).toBeUndefined();
  });
});

describe('Postgres pod security (X-1): explicit restricted contexts, not operator defaults', () => {
  it('pod: non-root UID/GID 26 (postgres in the image), seccomp RuntimeDefault', () => {
    expect(build().spec.podSecurityContext).toEqual({ runAsNonRoot: true, runAsUser: 26, runAsGroup: 26, fsGroup: 26, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('containers: no privilege escalation, drop ALL, read-only root FS, non-root, seccomp RuntimeDefault, not privileged', () => {
    expect(build().spec.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('two clusters never share security-context objects (no aliasing between renders)', () => {
    const a = build().spec.securityContext;
    a.capabilities.drop.push('NET_RAW');
    expect(build().spec.securityContext.capabilities.drop).toEqual(['ALL']);
  });
});

describe('Postgres backups (AION-10): Barman Cloud plugin to S3/MinIO', () => {
  it('renders an ObjectStore with credentials as Secret references, gzip, 30d retention and sidecar requests/limits', () => {
    const { store } = withBackup();
    expect(store.apiVersion).toBe('barmancloud.cnpg.io/v1');
    expect(store.metadata).toMatchObject({ name: 'aion-pg-backup', namespace: 'aion' });
    expect(store.spec).toEqual({
      configuration: {
        destinationPath: 's3://aion-backups/pg',
        endpointURL: 'https://minio.minio.svc:9000',
        s3Credentials: {
          accessKeyId: { name: 'aion-pg-s3', key: 'ACCESS_KEY_ID' },
          secretAccessKey: { name: 'aion-pg-s3', key: 'ACCESS_SECRET_KEY' },
        },
        wal: { compression: 'gzip' },
        data: { compression: 'gzip' },
      },
      retentionPolicy: '30d',
      instanceSidecarConfiguration: { resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '250m', memory: '256Mi' } } },
    });
  });

  it('the Cluster loads the plugin as its WAL archiver, pointing at the ObjectStore', () => {
    expect(withBackup().spec.plugins).toEqual([{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: 'aion-pg-backup' } }]);
    expect(BARMAN_CLOUD_PLUGIN).toBe('barman-cloud.cloudnative-pg.io');
    expect(build().spec.plugins).toBeUndefined();
  });

  it('ScheduledBackup: nightly at 02:00 (6-field cron), immediate, owned by itself, method plugin', () => {
    const { scheduled } = withBackup();
    expect(scheduled.metadata).toMatchObject({ name: 'aion-pg-scheduled', namespace: 'aion' });
    expect(scheduled.spec).toEqual({
      cluster: { name: 'aion-pg' },
      schedule: '0 0 2 * * *',
      immediate: true,
      backupOwnerReference: 'self',
      method: 'plugin',
      pluginConfiguration: { name: 'barman-cloud.cloudnative-pg.io' },
    });
  });

  it('schedule, retention, immediate, compression, key names, CA and sidecar resources are configurable', () => {
    const { store, scheduled } = withBackup({
      schedule: '0 30 3 * * 0',
      retention: '12w',
      immediate: false,
      compression: 'snappy',
      credentials: { secretName: 'minio', accessKeyIdKey: 'user', secretAccessKeyKey: 'pass' },
      endpointCa: { secretName: 'minio-ca', key: 'ca.crt' },
      sidecarResources: { cpuRequest: '10m', cpuLimit: '100m', memoryRequest: '64Mi', memoryLimit: '128Mi' },
    });
    expect(scheduled.spec.schedule).toBe('0 30 3 * * 0');
    expect(scheduled.spec.immediate).toBe(false);
    expect(store.spec.retentionPolicy).toBe('12w');
    expect(store.spec.configuration.wal).toEqual({ compression: 'snappy' });
    expect(store.spec.configuration.s3Credentials.accessKeyId).toEqual({ name: 'minio', key: 'user' });
    expect(store.spec.configuration.s3Credentials.secretAccessKey).toEqual({ name: 'minio', key: 'pass' });
    expect(store.spec.configuration.endpointCA).toEqual({ name: 'minio-ca', key: 'ca.crt' });
    expect(store.spec.instanceSidecarConfiguration.resources.limits).toEqual({ cpu: '100m', memory: '128Mi' });
  });

  it('AWS S3 without an endpoint: no endpointURL', () => {
    const { store } = withBackup({ endpointUrl: undefined, egress: { peers: [{ cidr: '52.216.0.0/15' }], ports: [{ port: 443 }] } });
    expect(store.spec.configuration.endpointURL).toBeUndefined();
  });

  it('lists every Secret it reads, by name and keys only', () => {
    const { pg } = withBackup({ endpointCa: { secretName: 'minio-ca', key: 'ca.crt' } }, { superuserSecret: 'aion-pg-superuser' });
    expect(pg.secrets.map((s) => [s.name, s.keys])).toEqual([
      ['aion-pg-owner', ['password', 'username']],
      ['aion-pg-s3', ['ACCESS_KEY_ID', 'ACCESS_SECRET_KEY']],
      ['aion-pg-superuser', ['password', 'username']],
      ['minio-ca', ['ca.crt']],
    ]);
    expect(pg.secrets[0]!.purpose).toContain('cnpg.io/reload=true');
  });

  it('no Secret is rendered and no value leaves a reference: only names and keys', () => {
    const { objects } = withBackup();
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    const text = dump(objects);
    expect(text).not.toMatch(/password:|secretAccessKey: [^\n{]/);
  });
});

describe('Postgres network policy (X-3)', () => {
  it('selects the cluster pods, both directions', () => {
    const { policy } = build();
    expect(policy.spec.podSelector).toEqual({ matchLabels: { 'cnpg.io/cluster': 'aion-pg' } });
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it('in: clients on 5432, peers on 5432/8000, the CNPG operator on 8000/5432, Prometheus on 9187', () => {
    const tcp = (...ports: number[]) => ports.map((port) => ({ port, protocol: 'TCP' }));
    expect(build().policy.spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'control' } } }], ports: tcp(5432) },
      { from: [{ podSelector: { matchLabels: { 'cnpg.io/cluster': 'aion-pg' } } }], ports: tcp(5432, 8000) },
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'cnpg-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'cloudnative-pg' } } }],
        ports: tcp(5432, 8000),
      },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: tcp(9187) },
    ]);
  });

  it('out: DNS, the Kubernetes API (443/6443), peers, and the backup target when backups are on', () => {
    const tcp = (...ports: number[]) => ports.map((port) => ({ port, protocol: 'TCP' }));
    const dns = {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }],
    };
    const api = { to: [{ ipBlock: { cidr: '10.96.0.1/32' } }], ports: tcp(443, 6443) };
    const peers = { to: [{ podSelector: { matchLabels: { 'cnpg.io/cluster': 'aion-pg' } } }], ports: tcp(5432, 8000) };
    expect(build().policy.spec.egress).toEqual([dns, api, peers]);
    expect(withBackup().policy.spec.egress).toEqual([
      dns,
      api,
      peers,
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'minio' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'minio' } } }], ports: tcp(9000) },
    ]);
  });

  it('operator namespace/label, monitoring namespace, API ports and DNS are configurable', () => {
    const { policy } = build({
      operatorNamespace: 'postgres-operator',
      operatorPodLabel: 'app=cnpg',
      monitoringNamespace: 'observability',
      kubeApiPorts: [6443],
      dnsNamespace: 'dns',
      dnsPodLabel: 'app=coredns',
    });
    expect(policy.spec.ingress[2].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'postgres-operator' } }, podSelector: { matchLabels: { app: 'cnpg' } } }]);
    expect(policy.spec.ingress[3].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }]);
    expect(policy.spec.egress[0].to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dns' } }, podSelector: { matchLabels: { app: 'coredns' } } }]);
    expect(policy.spec.egress[1].ports).toEqual([{ port: 6443, protocol: 'TCP' }]);
  });
});

describe('Postgres monitoring (X-8)', () => {
  it('a PodMonitor scrapes the instances on their metrics port, selected into Prometheus by release=prometheus', () => {
    const pm = only(build().objects, 'PodMonitor');
    expect(pm.metadata).toMatchObject({ name: 'aion-pg-postgres', namespace: 'aion', labels: { release: 'prometheus' } });
    expect(pm.spec).toEqual({ selector: { matchLabels: { 'cnpg.io/cluster': 'aion-pg' } }, podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }] });
    expect(only(build({ prometheusSelector: 'prometheus=main' }).objects, 'PodMonitor').metadata.labels).toEqual({ prometheus: 'main' });
  });

  it('podMonitor: false renders none', () => {
    expect(build({ podMonitor: false }).objects.filter((o) => o.kind === 'PodMonitor')).toEqual([]);
  });
});

describe('Postgres traceability', () => {
  it('by default only the cross-cutting IDs: X-1 on the Cluster, X-3 on the policy, X-8 on the PodMonitor, X-6 X-8 on the backup alerts, none on the CNPG backup objects, X-6 on the drill (X-1/X-3 on its pod and policy)', () => {
    const { objects } = withBackup();
    expect(Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.name}`, concernsOf(o)]))).toEqual({
      'Cluster/aion-pg': ['X-1'],
      'NetworkPolicy/aion-pg-postgres': ['X-3'],
      'PodMonitor/aion-pg-postgres': ['X-8'],
      'ObjectStore/aion-pg-backup': [],
      'ScheduledBackup/aion-pg-scheduled': [],
      'PrometheusRule/aion-pg-backup': ['X-6', 'X-8'],
      // the point-in-time restore drill (components/postgres-drill.ts)
      'ServiceAccount/aion-pg-pitr-drill': ['X-6'],
      // a hardened pod with its own allow-list, like every job
      'CronJob/aion-pg-pitr-drill': ['X-1', 'X-6'],
      'NetworkPolicy/aion-pg-pitr-drill': ['X-3', 'X-6'],
    });
  });

  it('the service-chosen concerns go on every object', () => {
    const { objects } = withBackup({}, { concerns: ['AION-2', 'AION-10'] });
    for (const o of objects) expect(concernsOf(o), o.kind).toEqual(expect.arrayContaining(['AION-2', 'AION-10']));
  });
});

describe('Postgres manifests are valid and pass the policies', () => {
  it('Cluster, ScheduledBackup, NetworkPolicy, PodMonitor and PrometheusRule validate against the CNPG v1.30 / prometheus-operator CRDs and Kubernetes schemas', () => {
    const { objects } = withBackup({ endpointCa: { secretName: 'minio-ca', key: 'ca.crt' } }, { superuserSecret: 'su', storageClass: 'gp3' });
    const checked = objects.filter((o) => o.kind !== 'ObjectStore');
    expect(checked.map((o) => o.kind).sort()).toEqual(['Cluster', 'CronJob', 'NetworkPolicy', 'NetworkPolicy', 'PodMonitor', 'PrometheusRule', 'ScheduledBackup', 'ServiceAccount']);
    for (const o of checked) expect(validateManifest(o), o.kind).toEqual([]);
  });

  it('the schema check can fail: a misspelt Cluster field and a bad enum are reported', () => {
    const { cluster, scheduled } = withBackup();
    expect(validateManifest({ ...cluster, spec: { ...cluster.spec, instance: 3 } })).toContain('spec.instance: unknown field');
    expect(validateManifest({ ...scheduled, spec: { ...scheduled.spec, method: 'pg_dump' } }).join('\n')).toMatch(/spec\.method: must be equal to one of the allowed values/);
  });

  // There is no ObjectStore CRD among the fixtures (../shared/crds/README.md lists only CNPG's
  // Cluster and ScheduledBackup). This says so, and checks the object against the schema below,
  // written by hand from upstream cloudnative-pg/plugin-barman-cloud
  // config/crd/bases/barmancloud.cnpg.io_objectstores.yaml (spec.configuration = the in-tree
  // BarmanObjectStoreConfiguration; retentionPolicy pattern; instanceSidecarConfiguration), limited
  // to the fields the component can render and closed to anything else.
  it('ObjectStore has no CRD fixture: validated against a hand-checked schema of barmancloud.cnpg.io/v1 instead', () => {
    const { store } = withBackup({ endpointCa: { secretName: 'minio-ca', key: 'ca.crt' } });
    expect(validateManifest(store)).toEqual([expect.stringContaining('no CRD fixture for barmancloud.cnpg.io/v1 ObjectStore')]);
    const validate = new Ajv({ allErrors: true, strict: true }).compile(OBJECT_STORE_SCHEMA);
    expect(validate(store), JSON.stringify(validate.errors)).toBe(true);
    expect(store.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    // …and that schema can fail.
    expect(validate({ ...store, spec: { ...store.spec, retentionPolicy: '30 days' } })).toBe(false);
    expect(validate({ ...store, spec: { ...store.spec, configuration: { ...store.spec.configuration, serverName: 'x' } } })).toBe(false);
  });

  it('passes every project policy with no exception (the policies do not judge operator-managed pods)', () => {
    const { objects } = withBackup({}, { concerns: ['AION-2', 'AION-10'] });
    for (const tier of ['development', 'production'] as const) {
      const vs = evaluate(objects as never, { tier, registry: undefined });
      expect(blocking(vs), tier).toEqual([]);
      expect(vs, tier).toEqual([]);
    }
    expect(RULES.length).toBeGreaterThan(5);
    for (const o of objects) expect(Object.keys(o.metadata.annotations ?? {}).filter((k) => k.startsWith('exception.stackbook.io/'))).toEqual([]);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(withBackup().objects)).toBe(JSON.stringify(withBackup().objects));
  });
});

describe('Postgres tier rule and schedules (helpers)', () => {
  it('production needs 3 instances, other tiers 1', () => {
    expect(POSTGRES_MIN_INSTANCES).toEqual({ development: 1, staging: 1, production: 3 });
    expect(postgresInstancesProblem('production', 2)).toBe('production needs at least 3 PostgreSQL instances (got 2)');
    expect(postgresInstancesProblem('production', 3)).toBeUndefined();
    expect(postgresInstancesProblem('development', 1)).toBeUndefined();
  });

  it.each(['0 0 2 * * *', '*/30 * * * * *', '0 15 1-5 * * 1-5', '0 0 0 1 1,6 ?', '@daily', '@hourly'])('accepts the CNPG schedule %s', (s) => {
    expect(cnpgScheduleProblem(s)).toBeUndefined();
  });

  it.each([
    ['0 2 * * *', /has 5 fields: CNPG schedules have 6, seconds first/],
    ['0 0 2 * * * *', /must have 6 fields .* found 7/],
    ['60 0 2 * * *', /seconds field "60" is outside 0–59/],
    ['0 0 24 * * *', /hours field "24" is outside 0–23/],
    ['0 0 2 0 * *', /day of month field "0" is outside 1–31/],
    ['0 0 2 * * 7', /day of week field "7" is outside 0–6/],
    ['0 0 5-2 * * *', /hours range "5-2" is reversed/],
    ['0 0 2 * * MON', /day of week field "MON" is not a cron expression/],
    ['0 */0 * * * *', /minutes step must be ≥ 1/],
  ])('rejects %s', (s, re) => {
    expect(cnpgScheduleProblem(s)).toMatch(re);
  });
});

describe('Postgres rejects props it cannot render safely', () => {
  it.each([0, -1, 1.5])('instances %s', (instances) => {
    rejects({ instances }, 'instances', String(instances));
  });

  it('names that cannot become pod/Service names', () => {
    for (const name of ['Aion_PG', 'a'.repeat(51)]) {
      const e = errorOf(() => build({ name }));
      expect(e.message).toBe(`Postgres "${name}": name must be a DNS-1123 label of at most 50 characters (got "${name}")`);
    }
  });

  it.each(['postgres:latest', 'ghcr.io/cloudnative-pg/postgresql', 'ghcr.io/cloudnative-pg/postgresql:9.6', 'ghcr.io/cloudnative-pg/postgresql:18@sha256:abc'])(
    'an image whose tag does not start with a supported major: %s',
    (imageName) => {
      rejects({ imageName }, 'imageName', JSON.stringify(imageName));
    },
  );

  it('storage below 1Gi or not a quantity', () => {
    rejects({ storageSize: '500Mi' }, 'storageSize', '"500Mi"');
    rejects({ storageSize: 'ten gigs' }, 'storageSize', '"ten gigs"');
    rejects({ storageClass: 'GP3' }, 'storageClass', '"GP3"');
  });

  it('resources: bad quantities and a request above its limit', () => {
    rejects({ resources: { cpuRequest: 'lots', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi' } }, 'resources.cpuRequest', '"lots"');
    rejects({ resources: { cpuRequest: '2', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi' } }, 'resources.cpuRequest', '"2"');
    rejects({ resources: { cpuRequest: '1', cpuLimit: '1', memoryRequest: '2Gi', memoryLimit: '1Gi' } }, 'resources.memoryRequest', '"2Gi"');
  });

  it('database and owner must be plain identifiers, not system databases or reserved roles', () => {
    rejects({ database: 'App-DB' }, 'database', '"App-DB"');
    rejects({ database: 'postgres' }, 'database', '"postgres"');
    rejects({ owner: 'streaming_replica' }, 'owner', '"streaming_replica"');
    rejects({ owner: 'Robert"; DROP' }, 'owner', '"Robert\\"; DROP"');
  });

  it('Secret names must be Kubernetes names', () => {
    rejects({ ownerSecret: 'Owner Secret' }, 'ownerSecret', '"Owner Secret"');
    rejects({ superuserSecret: '_su' }, 'superuserSecret', '"_su"');
  });

  it('parameters the operator owns, malformed names and empty values', () => {
    expect(CNPG_FIXED_PARAMETERS).toEqual(expect.arrayContaining(['listen_addresses', 'port', 'archive_command', 'ssl', 'wal_level']));
    rejects({ parameters: { listen_addresses: '*' } }, 'parameters.listen_addresses', '"*"');
    rejects({ parameters: { archive_command: '/bin/true' } }, 'parameters.archive_command', '"/bin/true"');
    const e = errorOf(() => build({ parameters: { 'Max Connections': '5' } }));
    expect(e.message).toContain('parameters.Max Connections is not a PostgreSQL parameter name');
    rejects({ parameters: { work_mem: '' } }, 'parameters.work_mem', '""');
  });

  it('no clients (nobody could connect, or everyone would)', () => {
    rejects({ clients: [] }, 'clients', '[]');
  });

  it('a client peer with an empty pod selector or the whole internet', () => {
    rejects({ clients: [{ pods: {} }] }, 'clients', '{}');
    rejects({ clients: [{ cidr: '0.0.0.0/0' }] }, 'clients', '"0.0.0.0/0"');
  });

  it('Kubernetes API CIDRs: required, well-formed, never everything', () => {
    rejects({ kubeApiCidrs: [] }, 'kubeApiCidrs', '[]');
    rejects({ kubeApiCidrs: ['10.96.0.1'] }, 'kubeApiCidrs', '"10.96.0.1"');
    rejects({ kubeApiCidrs: ['0.0.0.0/0'] }, 'kubeApiCidrs', '"0.0.0.0/0"');
    rejects({ kubeApiPorts: [0] }, 'kubeApiPorts', '0');
  });

  it('label props that are not key=value', () => {
    rejects({ operatorPodLabel: 'cloudnative-pg' }, 'operatorPodLabel', '"cloudnative-pg"');
    rejects({ prometheusSelector: 'prometheus' }, 'prometheusSelector', '"prometheus"');
    rejects({ dnsPodLabel: 'kube-dns' }, 'dnsPodLabel', '"kube-dns"');
  });

  it('backup: destination, endpoint (https only), retention, schedule, Secret keys, egress', () => {
    const bad = (b: Partial<PostgresBackupProps>, prop: string, got: string) => rejects({ backup: { ...BACKUP, ...b } }, prop, got);
    bad({ destinationPath: 'minio://aion-backups/pg' }, 'backup.destinationPath', '"minio://aion-backups/pg"');
    // Clear text only to a Service of this cluster: never to a host outside it.
    bad({ endpointUrl: 'http://minio.example.com:9000' }, 'backup.endpointUrl', '"http://minio.example.com:9000"');
    bad({ endpointUrl: 'http://10.0.0.5:9000' }, 'backup.endpointUrl', '"http://10.0.0.5:9000"');
    expect(build({ backup: { ...BACKUP, endpointUrl: 'http://aion-minio.aion.svc:9000' } }).objects.find((o) => o.kind === 'ObjectStore')!.spec.configuration.endpointURL).toBe('http://aion-minio.aion.svc:9000');
    bad({ runbookUrl: 'backups' }, 'backup.runbookUrl', '"backups"');
    bad({ maxBackupAgeHours: 0 }, 'backup.maxBackupAgeHours', '0');
    bad({ endpointUrl: 'https://minio.minio.svc:9000/bucket' }, 'backup.endpointUrl', '"https://minio.minio.svc:9000/bucket"');
    bad({ retention: '30 days' }, 'backup.retention', '"30 days"');
    bad({ retention: '0d' }, 'backup.retention', '"0d"');
    const e = bad({ schedule: '0 2 * * *' }, 'backup.schedule', '"0 2 * * *"');
    expect(e.message).toContain('seconds first');
    bad({ credentials: { secretName: 'minio', accessKeyIdKey: 'access key' } }, 'backup.credentials.accessKeyIdKey', '"access key"');
    bad({ egress: { peers: [], ports: [{ port: 9000 }] } }, 'backup.egress', '[]');
    bad({ egress: { peers: [{ namespace: 'minio' }], ports: [] } }, 'backup.egress', '[]');
    bad({ sidecarResources: { cpuRequest: '1', cpuLimit: '500m', memoryRequest: '1Mi', memoryLimit: '1Mi' } }, 'backup.sidecarResources.cpuRequest', '"1"');
  });
});


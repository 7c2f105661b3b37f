/**
 * StatefulStore / ExternalService: the hardened StatefulSet base of every data store.
 * Expected values come from Pod Security "restricted", the StatefulSet API and the component's
 * documented defaults.
 */
import { describe, expect, it } from 'vitest';
import { DefaultDeny } from '../../components/network-policy.js';
import { ExternalService, StatefulStore, egressTo, parseBytes, type ExternalServiceProps, type StatefulProps } from '../../components/stateful.js';
import { evaluate } from '../../policies/manifest-rules.js';
import { invalidManifests } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const IMAGE = `registry.example.com/store:1.0@sha256:${'b'.repeat(64)}`;
const BASE: StatefulProps = {
  name: 'store',
  namespace: 'data',
  runAsUser: 999,
  clients: [{ name: 'api' }, { name: 'worker', namespace: 'jobs' }],
  emptyDirs: [{ name: 'tmp' }, { name: 'run', sizeLimit: '1Mi', medium: 'Memory' }],
  configMaps: [{ name: 'config', configMap: 'store-config' }],
  volumeClaims: [{ name: 'data', size: '5Gi' }],
  metrics: { namespace: 'monitoring', port: 'metrics' },
  initContainers: [{ name: 'init', image: IMAGE, command: ['/bin/true'], mounts: [{ volume: 'run', path: '/run/x' }] }],
  container: {
    name: 'store',
    image: IMAGE,
    ports: [{ name: 'client', port: 7000 }],
    liveness: { tcp: { port: 7000 } },
    readiness: { exec: ['store-cli', 'ping'] },
    mounts: [
      { volume: 'data', path: '/data' },
      { volume: 'tmp', path: '/tmp' },
      { volume: 'config', path: '/etc/store', readOnly: true },
      { volume: 'run', path: '/run/x', readOnly: true },
    ],
  },
  sidecars: [
    {
      name: 'exporter',
      image: IMAGE,
      ports: [{ name: 'metrics', port: 9100 }],
      liveness: { tcp: { port: 9100 } },
      readiness: { http: { path: '/health', port: 9100 } },
    },
  ],
};

function build(overrides: Partial<StatefulProps> = {}) {
  const chart = newChart();
  const s = new StatefulStore(chart, 'S', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const sts = only(objects, 'StatefulSet');
  const pod: Json = sts.spec.template.spec;
  const containers: Json[] = [...(pod.initContainers ?? []), ...pod.containers];
  return { s, objects, sts, pod, containers, main: pod.containers[0] as Json, np: only(objects, 'NetworkPolicy') };
}

/** Every policy of the project over `objects` plus the namespaces' default deny. */
function violations(objects: readonly Json[], namespaces: readonly string[]) {
  const chart = newChart();
  for (const ns of namespaces) new DefaultDeny(chart, `D-${ns}`, { namespace: ns });
  return evaluate([...objects, ...objectsOf(chart)] as never, { tier: 'production', registry: undefined });
}

describe('StatefulStore secure defaults (X-1)', () => {
  it('renders a ServiceAccount, a StatefulSet, a headless and a client Service, a PDB and a NetworkPolicy', () => {
    const { objects } = build();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'NetworkPolicy/store',
      'PodDisruptionBudget/store',
      'Service/store',
      'Service/store-headless',
      'ServiceAccount/store',
      'StatefulSet/store',
    ]);
    for (const o of objects) expect(o.metadata.namespace).toBe('data');
  });

  it('is schema-valid and passes every project policy with no exception', () => {
    const { objects } = build({ replicas: 3 });
    expect(invalidManifests(objects)).toEqual({});
    expect(violations(objects, ['data'])).toEqual([]);
    for (const o of objects) expect(Object.keys(o.metadata.annotations ?? {}).filter((k) => k.startsWith('exception.'))).toEqual([]);
  });

  it('pod: non-root with the given UID as user, group and fsGroup (changed only on mismatch), seccomp RuntimeDefault, no token', () => {
    const { pod, objects } = build();
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 999,
      runAsGroup: 999,
      fsGroup: 999,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(only(objects, 'ServiceAccount').automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('store');
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('UID @default 10001', () => {
    expect(build({ runAsUser: undefined }).pod.securityContext.runAsUser).toBe(10001);
  });

  it('every container (init, store, sidecar): read-only root FS, no escalation, drop ALL, requests and limits', () => {
    const { containers } = build();
    expect(containers.map((c) => c.name)).toEqual(['init', 'store', 'exporter']);
    for (const c of containers) {
      expect(c.securityContext, c.name).toEqual({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.resources, c.name).toMatchObject({ requests: { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
      expect(c.resources.limits['ephemeral-storage'], c.name).toMatch(/^\d+Mi$/);
      expect(parseInt(c.resources.limits['ephemeral-storage'], 10), c.name).toBeGreaterThanOrEqual(256);
    }
  });

  it('writable paths are explicit volumes: emptyDirs (size-limited, optionally in memory), read-only ConfigMaps, claims', () => {
    const { pod, main } = build();
    expect(pod.volumes).toEqual([
      { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
      { name: 'run', emptyDir: { sizeLimit: '1Mi', medium: 'Memory' } },
      { name: 'config', configMap: { name: 'store-config', defaultMode: 0o444 } },
    ]);
    expect(main.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/store', readOnly: true });
    expect(main.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
  });

  it('volumeClaimTemplates: ReadWriteOnce with the size, and the storage class when given', () => {
    const t = build().sts.spec.volumeClaimTemplates;
    expect(t).toEqual([{ metadata: { name: 'data', labels: { 'app.kubernetes.io/name': 'store' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } } } }]);
    const sc = build({ volumeClaims: [{ name: 'data', size: '5Gi', storageClassName: 'gp3' }] }).sts.spec.volumeClaimTemplates[0];
    expect(sc.spec.storageClassName).toBe('gp3');
  });

  it('PVCs are retained on delete and scale-down by default; the policy is configurable; none without claims', () => {
    expect(build().sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    expect(build({ pvcRetention: { whenDeleted: 'Delete', whenScaled: 'Retain' } }).sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Delete', whenScaled: 'Retain' });
    const none = build({ volumeClaims: [], container: { ...BASE.container, mounts: [{ volume: 'tmp', path: '/tmp' }] } }).sts.spec;
    expect(none.volumeClaimTemplates).toBeUndefined();
    expect(none.persistentVolumeClaimRetentionPolicy).toBeUndefined();
  });

  it('podManagementPolicy @default OrderedReady, Parallel on request; replicas @default 1; grace period @default 60', () => {
    const { sts, pod } = build();
    expect(sts.spec.podManagementPolicy).toBe('OrderedReady');
    expect(sts.spec.replicas).toBe(1);
    expect(sts.spec.serviceName).toBe('store-headless');
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(build({ podManagementPolicy: 'Parallel' }).sts.spec.podManagementPolicy).toBe('Parallel');
    expect(build({ terminationGracePeriodSeconds: 120 }).pod.terminationGracePeriodSeconds).toBe(120);
  });

  it('no topology spread with one replica; zones (best effort) and nodes (strict) with more', () => {
    expect(build().pod.topologySpreadConstraints).toBeUndefined();
    const tsc: Json[] = build({ replicas: 3 }).pod.topologySpreadConstraints;
    expect(tsc.map((c) => [c.topologyKey, c.whenUnsatisfiable, c.maxSkew])).toEqual([
      ['topology.kubernetes.io/zone', 'ScheduleAnyway', 1],
      ['kubernetes.io/hostname', 'DoNotSchedule', 1],
    ]);
    for (const c of tsc) expect(c.labelSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'store' } });
  });

  it('probes: tcp, exec and http as given; liveness slower than readiness; startup covers startupSeconds; none on init containers', () => {
    const { pod, main } = build();
    expect(main.livenessProbe.tcpSocket).toEqual({ port: 7000 });
    expect(main.readinessProbe.exec).toEqual({ command: ['store-cli', 'ping'] });
    expect(main.startupProbe.exec).toEqual({ command: ['store-cli', 'ping'] });
    expect(main.startupProbe.periodSeconds * main.startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
    const tolerance = (p: Json) => p.periodSeconds * p.failureThreshold;
    expect(tolerance(main.livenessProbe)).toBeGreaterThan(tolerance(main.readinessProbe));
    expect(pod.containers[1].readinessProbe.httpGet).toEqual({ path: '/health', port: 9100, scheme: 'HTTP' });
    const init = pod.initContainers[0];
    expect(init.livenessProbe ?? init.readinessProbe ?? init.startupProbe).toBeUndefined();
    const slow = build({ container: { ...BASE.container, startupSeconds: 300 } }).main.startupProbe;
    expect(slow.periodSeconds * slow.failureThreshold).toBeGreaterThanOrEqual(300);
  });
});

describe('StatefulStore containers: ephemeral storage, pull policy, empty env values', () => {
  it('limits ephemeral storage to 256Mi logs + the disk emptyDirs each container mounts (memory-backed ones do not count)', () => {
    const { containers } = build();
    const by = Object.fromEntries(containers.map((c) => [c.name, c.resources]));
    // store mounts tmp (default 256Mi) + run (Memory) + a claim + a ConfigMap; init mounts run; exporter nothing
    expect(by.store.requests['ephemeral-storage']).toBe('64Mi');
    expect(by.store.limits['ephemeral-storage']).toBe('512Mi');
    expect(by.init.limits['ephemeral-storage']).toBe('256Mi');
    expect(by.exporter.limits['ephemeral-storage']).toBe('256Mi');
    const own = build({ container: { ...BASE.container, resources: { cpuRequest: '1', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi', ephemeralStorageRequest: '1Gi', ephemeralStorageLimit: '4Gi' } } });
    expect(own.main.resources.limits['ephemeral-storage']).toBe('4Gi');
    expect(errorOf(() => build({ container: { ...BASE.container, resources: { cpuRequest: '1', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi', ephemeralStorageRequest: '8Gi', ephemeralStorageLimit: '4Gi' } } })).message).toMatch(/ephemeralStorageRequest must be a byte quantity ≤ ephemeralStorageLimit/);
  });
  it('imagePullPolicy: Always for a tag, IfNotPresent for a digest', () => {
    expect(build({ container: { ...BASE.container, image: 'docker.io/library/redis:8.2.2' } }).main.imagePullPolicy).toBe('Always');
    expect(build({ container: { ...BASE.container, image: `docker.io/library/redis:8.2.2@sha256:${'b'.repeat(64)}` } }).main.imagePullPolicy).toBe('IfNotPresent');
  });
  it('an empty env value is rendered as { name } alone (the API server would drop value: "" and report drift)', () => {
    const { main } = build({ container: { ...BASE.container, env: { EMPTY: '', SET: 'x' } } });
    expect(main.env).toEqual([{ name: 'EMPTY' }, { name: 'SET', value: 'x' }]);
  });
});

describe('StatefulStore Services, PDB and NetworkPolicy (X-3)', () => {
  it('headless Service: no cluster IP, publishes not-ready members, client ports only', () => {
    const h = only(build().objects, 'Service', 'store-headless');
    expect(h.spec).toEqual({
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { 'app.kubernetes.io/name': 'store' },
      ports: [{ name: 'client', port: 7000, targetPort: 'client', protocol: 'TCP' }],
    });
  });

  it('client Service: ClusterIP with the client ports and the metrics port', () => {
    const s = only(build().objects, 'Service', 'store');
    expect(s.spec.type).toBe('ClusterIP');
    expect(s.spec.ports.map((p: Json) => `${p.name}:${p.port}`)).toEqual(['client:7000', 'metrics:9100']);
    expect(only(build({ metrics: undefined }).objects, 'Service', 'store').spec.ports).toHaveLength(1);
  });

  it('PDB: maxUnavailable 1 over the store pods', () => {
    expect(only(build().objects, 'PodDisruptionBudget').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'store' } } });
  });

  it('NetworkPolicy admits only the named clients (namespace AND pods) on the client ports, and Prometheus on the metrics port', () => {
    const { np } = build();
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'store' } });
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'data' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'api' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'jobs' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'worker' } } },
        ],
        ports: [{ port: 7000, protocol: 'TCP' }],
      },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 9100, protocol: 'TCP' }] },
    ]);
  });

  it('with several replicas the members may reach each other (in and out) on the client ports', () => {
    const { np } = build({ replicas: 3 });
    const self = { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'store' } } };
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress).toContainEqual({ from: [self], ports: [{ port: 7000, protocol: 'TCP' }] });
    expect(np.spec.egress).toEqual([{ to: [self], ports: [{ port: 7000, protocol: 'TCP' }] }]);
  });

  it('endpoint(): the client Service host, a port and the store pods as the egress peer', () => {
    const { s } = build();
    expect(s.endpoint()).toEqual({ host: 'store.data.svc', port: 7000, peers: [{ namespace: 'data', pods: { 'app.kubernetes.io/name': 'store' } }] });
    expect(egressTo(s.endpoint())).toEqual({ peers: [{ namespace: 'data', pods: { 'app.kubernetes.io/name': 'store' } }], ports: [{ port: 7000 }] });
    expect(errorOf(() => s.endpoint('nope')).message).toContain('(got "nope")');
  });

  it('carries the given concerns on every object (X-1 on the StatefulSet, X-3 on the NetworkPolicy)', () => {
    const { objects } = build({ concerns: ['AION-2'] });
    for (const o of objects) expect(concernsOf(o), o.kind).toContain('AION-2');
    expect(concernsOf(only(objects, 'StatefulSet'))).toEqual(['AION-2', 'X-1']);
    expect(concernsOf(only(objects, 'NetworkPolicy'))).toEqual(['AION-2', 'X-3']);
  });
});

describe('StatefulStore rejects props it cannot render safely', () => {
  const cases: Array<[string, Partial<StatefulProps>, string, string]> = [
    ['a name that is not a DNS label', { name: 'Store_1' }, 'name', '(got "Store_1")'],
    ['replicas 0', { replicas: 0 }, 'replicas', '(got 0)'],
    ['root UID', { runAsUser: 0 }, 'runAsUser', '(got 0)'],
    ['no clients', { clients: [] }, 'clients', 'at least one client'],
    ['no client port', { container: { ...BASE.container, ports: [] } }, 'container.ports', 'client port'],
    ['a duplicate volume name', { emptyDirs: [{ name: 'data' }], configMaps: [] }, 'volumes', '(got "data")'],
    ['a claim size that is no quantity', { volumeClaims: [{ name: 'data', size: 'lots' }] }, 'volumeClaims.data.size', '(got "lots")'],
    ['a mount of an unknown volume', { container: { ...BASE.container, mounts: [{ volume: 'nope', path: '/x' }] } }, 'container.mounts', '(got "nope")'],
    ['a store container without probes', { container: { ...BASE.container, liveness: undefined } }, 'container', 'liveness and a readiness'],
    ['an init container with a probe', { initContainers: [{ name: 'init', image: IMAGE, readiness: { tcp: { port: 1 } } }] }, 'initContainers.init', 'probes are not allowed'],
    ['a metrics port the pod lacks', { metrics: { namespace: 'monitoring', port: 'prom' } }, 'metrics.port', '(got "prom")'],
    ['a secret-looking literal env', { container: { ...BASE.container, env: { ADMIN_PASSWORD: 'hunter2' } } }, 'container.env.ADMIN_PASSWORD', 'Secret'],
    ['an http probe path without /', { container: { ...BASE.container, readiness: { http: { path: 'ready', port: 7000 } } } }, 'container.readiness.http.path', '(got "ready")'],
    ['a probe port out of range', { container: { ...BASE.container, liveness: { tcp: { port: 70000 } } } }, 'container.liveness.tcp.port', '(got 70000)'],
  ];
  it.each(cases)('%s', (_label, overrides, prop, text) => {
    const e = errorOf(() => build(overrides));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('StatefulStore "');
    expect(e.message).toContain(prop);
    expect(e.message).toContain(text);
    expect(e.message).not.toContain('hunter2');
  });
});

describe('ExternalService (external mode, X-3)', () => {
  const EXT: ExternalServiceProps = {
    name: 'db',
    host: 'db.corp.example.com',
    port: 5432,
    cidrs: ['10.20.0.0/24', '10.21.0.0/24'],
    clients: [{ name: 'worker', namespace: 'jobs' }, { name: 'api', namespace: 'apps' }],
  };
  function ext(overrides: Partial<ExternalServiceProps> = {}) {
    const chart = newChart();
    const e = new ExternalService(chart, 'E', { ...EXT, ...overrides });
    return { e, objects: objectsOf(chart) };
  }

  it('renders only egress NetworkPolicies, one per client in its own namespace, to the CIDRs on the port', () => {
    const { objects } = ext();
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['NetworkPolicy apps/db-egress-api', 'NetworkPolicy jobs/db-egress-worker']);
    const p = objects[0]!;
    expect(p.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'api' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '10.20.0.0/24' } }, { ipBlock: { cidr: '10.21.0.0/24' } }], ports: [{ port: 5432, protocol: 'TCP' }] }],
    });
    expect(invalidManifests(objects)).toEqual({});
    expect(violations(objects, ['apps', 'jobs'])).toEqual([]);
  });

  it('exposes a typed endpoint: host, port and CIDR peers', () => {
    expect(ext().e.endpoint).toEqual({ host: 'db.corp.example.com', port: 5432, peers: [{ cidr: '10.20.0.0/24' }, { cidr: '10.21.0.0/24' }] });
  });

  it.each([
    [{ cidrs: ['0.0.0.0/0'] }, '(got "0.0.0.0/0")'],
    [{ cidrs: ['db.example.com'] }, '(got "db.example.com")'],
    [{ cidrs: [] }, 'cidrs'],
    [{ clients: [] }, 'clients'],
    [{ port: 0 }, '(got 0)'],
    [{ host: 'user:pw@db' }, '(got "user:pw@db")'],
  ] as Array<[Partial<ExternalServiceProps>, string]>)('rejects %j', (overrides, text) => {
    const e = errorOf(() => ext(overrides));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain(text);
  });
});

describe('parseBytes', () => {
  it.each([
    ['256Mi', 256 * 1024 ** 2],
    ['1Gi', 1024 ** 3],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['500M', 500e6],
    ['1048576', 1048576],
  ])('%s = %d', (q, n) => expect(parseBytes(q)).toBe(n));
  it('undefined for anything else', () => {
    expect(parseBytes('1GB')).toBeUndefined();
    expect(parseBytes('')).toBeUndefined();
  });
});

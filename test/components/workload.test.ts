/**
 * Workload: the hardened-pod baseline is Pod Security Standards "restricted" plus a
 * read-only root FS, no service-account token, requests and limits, and safe rollouts.
 * Expected values come from those standards and the component's documented contract.
 */
import { describe, expect, it } from 'vitest';
import { Workload, type WorkloadProps } from '../../components/workload.js';
import { evaluate, RULES } from '../../policies/manifest-rules.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const BASE: WorkloadProps = {
  name: 'web',
  namespace: 'apps',
  image: `registry.example.com/web:1.0@${DIGEST}`,
  port: 8080,
  liveness: { path: '/livez' },
  readiness: { path: '/readyz' },
};

function build(overrides: Partial<WorkloadProps> = {}) {
  const chart = newChart();
  const w = new Workload(chart, 'W', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const deployment = only(objects, 'Deployment');
  const pod: Json = deployment.spec.template.spec;
  const container: Json = pod.containers[0];
  return { w, objects, deployment, pod, container, sa: only(objects, 'ServiceAccount'), service: only(objects, 'Service') };
}

describe('Workload secure defaults (X-1)', () => {
  it('renders exactly a ServiceAccount, a Deployment and a Service, all named after the workload', () => {
    const { objects } = build();
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'Service', 'ServiceAccount']);
    for (const o of objects) {
      expect(o.metadata.name).toBe('web');
      expect(o.metadata.namespace).toBe('apps');
    }
  });

  it('pod runs as non-root with a non-zero UID and seccomp RuntimeDefault', () => {
    const { pod } = build();
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext.runAsGroup).toBeGreaterThan(0);
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostIPC ?? false).toBe(false);
  });

  it('container: non-root, read-only root FS, no privilege escalation, not privileged, drops ALL, adds nothing, seccomp RuntimeDefault', () => {
    const { container } = build();
    const sc = container.securityContext;
    expect(sc.runAsNonRoot).toBe(true);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.privileged).toBe(false);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(sc.capabilities.add).toBeUndefined();
    expect(sc.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it('a custom UID is used for user, group and fsGroup', () => {
    const { pod } = build({ runAsUser: 4242 });
    expect(pod.securityContext).toMatchObject({ runAsUser: 4242, runAsGroup: 4242, fsGroup: 4242 });
  });

  it('no service-account token: not on the ServiceAccount, not on the pod; the pod uses its own ServiceAccount', () => {
    const { sa, pod } = build();
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
  });

  it('sets CPU and memory requests and limits by default', () => {
    const { container } = build();
    for (const kind of ['requests', 'limits']) {
      expect(container.resources[kind].cpu, kind).toBeDefined();
      expect(container.resources[kind].memory, kind).toBeDefined();
    }
  });

  it('uses the given resources, and extended resources as request = limit', () => {
    const { container } = build({
      resources: { cpuRequest: '250m', cpuLimit: '2', memoryRequest: '300Mi', memoryLimit: '1Gi', extended: { 'nvidia.com/gpu': '1' } },
    });
    expect(container.resources.requests).toEqual({ cpu: '250m', memory: '300Mi', 'ephemeral-storage': '64Mi', 'nvidia.com/gpu': '1' });
    expect(container.resources.limits).toEqual({ cpu: '2', memory: '1Gi', 'ephemeral-storage': '512Mi', 'nvidia.com/gpu': '1' });
  });

  it('bounds local ephemeral storage: 64Mi requested, limit = 256Mi for logs + every emptyDir sizeLimit', () => {
    expect(build().container.resources.limits['ephemeral-storage']).toBe('512Mi');
    const two = build({ writablePaths: [{ path: '/tmp', sizeLimit: '1Gi' }, { path: '/cache', sizeLimit: '100M' }, { path: '/data', claimName: 'data' }] });
    // 256 + 1024 + ceil(100e6 / 2^20) = 96 MiB; the PVC does not count.
    expect(two.container.resources.limits['ephemeral-storage']).toBe('1376Mi');
    const given = build({ resources: { cpuRequest: '1', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi', ephemeralStorageRequest: '1Gi', ephemeralStorageLimit: '2Gi' } });
    expect(given.container.resources.requests['ephemeral-storage']).toBe('1Gi');
    expect(given.container.resources.limits['ephemeral-storage']).toBe('2Gi');
    expect(
      errorOf(() => build({ resources: { cpuRequest: '1', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi', ephemeralStorageRequest: '1Gi', ephemeralStorageLimit: '100Mi' } })).message,
    ).toBe('Workload "W": resources.ephemeralStorageRequest must be ≤ ephemeralStorageLimit (100Mi) (got "1Gi")');
  });

  it('pull policy: IfNotPresent for a digest (immutable content), Always for a bare tag (it can move)', () => {
    expect(build({ image: `ghcr.io/acme/api:1.0@sha256:${'a'.repeat(64)}` }).container.imagePullPolicy).toBe('IfNotPresent');
    expect(build({ image: 'ghcr.io/acme/api:1.0' }).container.imagePullPolicy).toBe('Always');
  });

  it('rolls out without ever going below capacity: RollingUpdate with maxUnavailable 0 and a surge', () => {
    const { deployment } = build();
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(deployment.spec.strategy.rollingUpdate.maxSurge).toBeGreaterThanOrEqual(1);
  });

  it('spreads replicas over zones (best effort) and hostnames (strict), selecting its own pods', () => {
    const { deployment, pod } = build();
    const tsc: Json[] = pod.topologySpreadConstraints;
    const byKey = new Map(tsc.map((c) => [c.topologyKey, c]));
    expect([...byKey.keys()].sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    expect(byKey.get('topology.kubernetes.io/zone')!.whenUnsatisfiable).toBe('ScheduleAnyway');
    expect(byKey.get('kubernetes.io/hostname')!.whenUnsatisfiable).toBe('DoNotSchedule');
    for (const c of tsc) {
      expect(c.maxSkew).toBe(1);
      expect(c.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    }
  });

  it('spread: false renders no topology spread constraints', () => {
    const { pod } = build({ spread: false });
    expect(pod.topologySpreadConstraints).toBeUndefined();
  });

  it('mounts /tmp as a size-limited emptyDir by default (the root FS is read-only)', () => {
    const { pod, container } = build();
    expect(container.volumeMounts).toHaveLength(1);
    const mount = container.volumeMounts[0];
    expect(mount.mountPath).toBe('/tmp');
    const volume = pod.volumes.find((v: Json) => v.name === mount.name);
    expect(volume.emptyDir).toBeDefined();
    expect(volume.emptyDir.sizeLimit).toBeDefined();
  });

  it('writable paths: emptyDir with the given size, or the given PersistentVolumeClaim', () => {
    const { pod, container } = build({ writablePaths: [{ path: '/tmp', sizeLimit: '64Mi' }, { path: '/app/reports', claimName: 'reports' }] });
    const volumeFor = (path: string) => {
      const m = container.volumeMounts.find((x: Json) => x.mountPath === path);
      return pod.volumes.find((v: Json) => v.name === m.name);
    };
    expect(volumeFor('/tmp').emptyDir.sizeLimit).toBe('64Mi');
    expect(volumeFor('/app/reports').persistentVolumeClaim).toEqual({ claimName: 'reports' });
    expect(new Set(pod.volumes.map((v: Json) => v.name)).size).toBe(2);
  });

  it('liveness and readiness are HTTP probes on the configured paths and the container port, and are not identical', () => {
    const { container } = build();
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/livez', port: 8080 });
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 8080 });
    expect(container.livenessProbe).not.toEqual(container.readinessProbe);
    // Even on the same path, liveness must stay more tolerant than readiness.
    const same = build({ liveness: { path: '/healthz' }, readiness: { path: '/healthz' } }).container;
    expect(same.livenessProbe).not.toEqual(same.readinessProbe);
    const tolerance = (p: Json) => (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
    expect(tolerance(same.livenessProbe)).toBeGreaterThan(tolerance(same.readinessProbe));
  });

  it('a probe may use its own port', () => {
    const { container } = build({ liveness: { path: '/livez', port: 9090 } });
    expect(container.livenessProbe.httpGet.port).toBe(9090);
  });

  it('a startup probe covers the start-up budget before liveness applies', () => {
    const { container } = build({ startupSeconds: 120 });
    const s = container.startupProbe;
    expect(s.httpGet.path).toBe('/readyz');
    expect(s.periodSeconds * s.failureThreshold).toBeGreaterThanOrEqual(120);
  });

  it('preStop sleeps (no shell needed) for less than the termination grace period', () => {
    const { pod, container } = build();
    const sleep = container.lifecycle.preStop.sleep.seconds;
    expect(sleep).toBeGreaterThan(0);
    expect(sleep).toBeLessThan(pod.terminationGracePeriodSeconds);
    const custom = build({ terminationGracePeriodSeconds: 90, preStopSleepSeconds: 20 });
    expect(custom.pod.terminationGracePeriodSeconds).toBe(90);
    expect(custom.container.lifecycle.preStop).toEqual({ sleep: { seconds: 20 } });
  });

  it('renders no replicas when autoscaled (the HPA owns the count), and the fixed count otherwise', () => {
    expect(build({ autoscaled: true }).deployment.spec).not.toHaveProperty('replicas');
    expect(build().deployment.spec.replicas).toBe(1);
    expect(build({ replicas: 3 }).deployment.spec.replicas).toBe(3);
  });

  it('the selector is the stable name label only; extra pod labels are on the pods but not in the selector', () => {
    const { deployment, service } = build({ podLabels: { tier: 'api' } });
    expect(deployment.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'web' });
    expect(deployment.spec.template.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'web', tier: 'api' });
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
  });

  it('Service: ClusterIP on the same port, named http, targeting the named container port', () => {
    const { service, container } = build();
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  });

  it('env: sorted by name; secrets, ConfigMap keys and fields only as references', () => {
    const { container } = build({
      env: {
        ZED: 'last',
        DB_PASSWORD: { secret: { name: 'db', key: 'password' } },
        MODE: { configMap: { name: 'settings', key: 'mode' } },
        POD_IP: { field: 'status.podIP' },
        ALPHA: 'first',
      },
    });
    expect(container.env.map((e: Json) => e.name)).toEqual(['ALPHA', 'DB_PASSWORD', 'MODE', 'POD_IP', 'ZED']);
    const byName = Object.fromEntries(container.env.map((e: Json) => [e.name, e]));
    expect(byName.DB_PASSWORD).toEqual({ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } });
    expect(byName.MODE.valueFrom.configMapKeyRef).toEqual({ name: 'settings', key: 'mode' });
    expect(byName.POD_IP.valueFrom.fieldRef).toEqual({ fieldPath: 'status.podIP' });
    expect(byName.ALPHA.value).toBe('first');
  });

  it('envFrom ConfigMaps, command, args, pod annotations, node selector and tolerations are passed through', () => {
    const { container, pod, deployment } = build({
      envFromConfigMaps: ['settings'],
      command: ['server'],
      args: ['--port', '8080'],
      podAnnotations: { 'checksum.example/config': 'abc' },
      nodeSelector: { pool: 'cpu' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'cpu', effect: 'NoSchedule' }],
    });
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'settings' } }]);
    expect(container.command).toEqual(['server']);
    expect(container.args).toEqual(['--port', '8080']);
    expect(deployment.spec.template.metadata.annotations).toEqual({ 'checksum.example/config': 'abc' });
    expect(pod.nodeSelector).toEqual({ pool: 'cpu' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'cpu', effect: 'NoSchedule' }]);
  });

  it('every object carries X-1 and the given concerns', () => {
    const { objects } = build({ concerns: ['OPE-90'] });
    for (const o of objects) expect(concernsOf(o), o.kind).toEqual(['OPE-90', 'X-1']);
  });

  it('the default workload passes every pod-level policy', () => {
    const { objects } = build();
    const podRules = RULES.filter((r) => ['pod-security-restricted', 'probes', 'resources', 'no-secret-literal', 'image-digest'].includes(r.id));
    expect(podRules).toHaveLength(5);
    expect(evaluate(objects as never, { tier: 'production', registry: undefined }, podRules)).toEqual([]);
  });
});

describe('Workload env and pull policy', () => {
  it('an empty env value is rendered as { name } alone (same meaning; the API server drops value: "")', () => {
    const { container } = build({ env: { EMPTY: '', MODE: 'x' } });
    expect(container.env).toEqual([{ name: 'EMPTY' }, { name: 'MODE', value: 'x' }]);
  });
});

describe('Workload rejects props it cannot render safely', () => {
  it.each([0, 65536, 80.5])('port %s', (port) => {
    const e = errorOf(() => build({ port }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('Workload "web"');
    expect(e.message).toContain('port');
    expect(e.message).toContain(`(got ${port})`);
  });

  it('replicas together with autoscaled', () => {
    const e = errorOf(() => build({ autoscaled: true, replicas: 3 }));
    expect(e.message).toMatch(/replicas .*autoscal/);
    expect(e.message).toContain('(got 3)');
  });

  it('replicas below 1', () => {
    const e = errorOf(() => build({ replicas: 0 }));
    expect(e.message).toContain('replicas');
    expect(e.message).toContain('(got 0)');
  });

  it('runAsUser 0 (root)', () => {
    const e = errorOf(() => build({ runAsUser: 0 }));
    expect(e.message).toContain('runAsUser');
    expect(e.message).toContain('(got 0)');
  });

  it('an invalid environment variable name', () => {
    const e = errorOf(() => build({ env: { 'BAD-NAME': 'x' } }));
    expect(e.message).toContain('env.BAD-NAME');
  });

  it('a secret-looking literal in env', () => {
    const e = errorOf(() => build({ env: { DB_PASSWORD: 'hunter2' } }));
    expect(e.message).toContain('env.DB_PASSWORD');
    expect(e.message).toMatch(/Secret/);
    expect(e.message).not.toContain('hunter2');
  });

  it('every secret-looking name the no-secret-literal policy knows, in any case', () => {
    for (const name of ['DB_PASSWD', 'STRIPE_APIKEY', 'AWS_CREDENTIALS', 'github_token', 'ADMIN_SECRET', 'TLS_PRIVATE_KEY']) {
      expect(errorOf(() => build({ env: { [name]: 'x1' } })).message, name).toContain(`env.${name}`);
    }
  });

  it('preStop sleep not shorter than the grace period', () => {
    const e = errorOf(() => build({ terminationGracePeriodSeconds: 10, preStopSleepSeconds: 10 }));
    expect(e.message).toContain('preStopSleepSeconds');
    expect(e.message).toContain('terminationGracePeriodSeconds (10)');
    expect(e.message).toContain('(got 10)');
  });

  it('a relative writable path', () => {
    const e = errorOf(() => build({ writablePaths: [{ path: 'tmp' }] }));
    expect(e.message).toContain('writablePaths');
    expect(e.message).toContain('(got "tmp")');
  });

  it('a duplicate writable path', () => {
    const e = errorOf(() => build({ writablePaths: [{ path: '/tmp' }, { path: '/tmp' }] }));
    expect(e.message).toContain('writablePaths');
    expect(e.message).toContain('duplicate');
    expect(e.message).toContain('(got "/tmp")');
  });

  it('two writable paths that would share one volume name', () => {
    const e = errorOf(() => build({ writablePaths: [{ path: '/app/cache' }, { path: '/app-cache' }] }));
    expect(e.message).toContain('writablePaths');
    expect(e.message).toContain('(got "/app-cache")');
  });
});

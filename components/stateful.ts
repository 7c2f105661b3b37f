/**
 * Hardened stateful data store base: ServiceAccount (no token) + StatefulSet with
 * volumeClaimTemplates + headless and client Services + PodDisruptionBudget + a NetworkPolicy that
 * admits only the named client workloads (and Prometheus on the metrics port). Plus
 * `ExternalService` for a store that runs outside the cluster: only egress NetworkPolicies from
 * the named clients and a typed endpoint; nothing else in-cluster.
 *
 * Decisions worth knowing:
 * - Pod Security "restricted": non-root UID/GID (the image's own user, so files on the volume
 *   keep their owner), `fsGroup` so the kubelet makes claimed volumes writable for that group
 *   (`fsGroupChangePolicy: OnRootMismatch`: no recursive chown of a large volume on every
 *   start), read-only root FS with explicit writable emptyDirs, drop ALL, seccomp RuntimeDefault,
 *   no service-account token, requests and limits on every container (init and sidecars too).
 * - `persistentVolumeClaimRetentionPolicy` @default `Retain` on delete and on scale-down: data
 *   outlives an accidental `kubectl delete` or a scale-down; deleting a volume is a human decision.
 *   (Stable in Kubernetes 1.32; older API servers without the feature ignore the field.)
 * - `podManagementPolicy` @default `OrderedReady`: members start one after another, each ready
 *   before the next (what replicated stores expect). `Parallel` for stores that form a cluster
 *   on their own.
 * - PodDisruptionBudget `maxUnavailable: 1`: a voluntary eviction never takes two members at once
 *   (with 3+ replicas, the remaining n-1 keep a majority), and a single-replica store never blocks
 *   a node drain (the drain is its planned downtime). Use odd replica counts for quorum stores:
 *   with 2, one eviction leaves no majority.
 * - Topology spread only when replicas > 1: zones best effort, nodes strict (two members on one
 *   node would fail together).
 * - Liveness and readiness are distinct and may be tcp, exec or http: liveness slow and
 *   tolerant (restart only a wedged process), readiness fast (out of the Service quickly);
 *   a startup probe (the readiness check) covers slow starts such as replaying an AOF.
 */
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, EPHEMERAL_STORAGE_REQUEST, ephemeralStorageLimit, imagePullPolicy, literalEnv, restrictedContainerSecurity, selectorLabels, trace } from './meta.js';
import { AllowList, type Peer, type Rule } from './network-policy.js';
import type { EnvValue, WorkloadResources } from './workload.js';
import { SECRET_NAME } from '../kube/secrets.js';
import { DNS_LABEL, isDnsLabel } from '../kube/names.js';
import { parseBytes } from '../kube/quantity.js';
import { restrictedPodSecurity } from '../kube/security.js';

export { parseBytes } from '../kube/quantity.js';
export { restrictedPodSecurity } from '../kube/security.js';
export type { Tier } from '../kube/tier.js';

/** A key of a Kubernetes Secret (the value never enters a manifest). */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

/** A liveness/readiness check: exactly one of http, tcp or exec. */
export type ProbeSpec =
  | { readonly http: { readonly path: string; readonly port: number } }
  | { readonly tcp: { readonly port: number } }
  | { readonly exec: readonly string[] };

export interface NamedPort {
  /** IANA-style port name (≤ 15 chars, lower case), e.g. `redis`, `http`, `metrics`. */
  readonly name: string;
  readonly port: number;
}

export interface Mount {
  /** Name of a volume of the pod: an `emptyDirs`, `configMaps` or `volumeClaims` entry. */
  readonly volume: string;
  readonly path: string;
  /** @default false for emptyDirs and claims, always true for ConfigMaps */
  readonly readOnly?: boolean;
  /** Mount one file of the volume (e.g. one ConfigMap key beside the image's own files). @default the whole volume */
  readonly subPath?: string;
}

export interface ContainerSpec {
  /** Container name (DNS label). */
  readonly name: string;
  /** Fully resolved image reference. */
  readonly image: string;
  /** @default the image's entrypoint */
  readonly command?: readonly string[];
  /** @default the image's arguments */
  readonly args?: readonly string[];
  /** Sorted by name when rendered; secrets only as `{ secret: ... }` references. @default none */
  readonly env?: Readonly<Record<string, EnvValue>>;
  /** @default none */
  readonly ports?: readonly NamedPort[];
  /** Restart when this fails (slow, tolerant). Required on long-running containers, refused on init containers. */
  readonly liveness?: ProbeSpec;
  /** Out of the Service when this fails (fast). Required on long-running containers, refused on init containers. */
  readonly readiness?: ProbeSpec;
  /** Start-up budget before liveness applies (startup probe = readiness check). @default 60 */
  readonly startupSeconds?: number;
  /**
   * The startup probe's check, when readiness can legitimately stay false on a healthy process
   * (HAProxy is unready while there is no primary; restarting it would not help). @default the readiness check
   */
  readonly startup?: ProbeSpec;
  /** @default 100m / 500m CPU, 128Mi / 256Mi memory */
  readonly resources?: WorkloadResources;
  /** @default none */
  readonly mounts?: readonly Mount[];
}

/**
 * The init container that renders a store's mounted Secret into the file the store reads (issue 14
 * item 17: key material as files, never env): `script` runs with `sh -c` in the store's own image,
 * reads the Secret from `secretDir` (volume `secretVolume`, read-only) and writes into the memory
 * emptyDir `auth` mounted at `outDir`. Declare the `auth` emptyDir (medium Memory) and the Secret
 * volume on the store.
 */
export function secretRenderInit(o: { readonly image: string; readonly script: string; readonly env: Readonly<Record<string, string>>; readonly outDir: string; readonly secretVolume: string; readonly secretDir: string }): ContainerSpec {
  return {
    name: 'auth',
    image: o.image,
    command: ['/bin/sh', '-c', o.script],
    env: o.env,
    resources: { cpuRequest: '10m', cpuLimit: '50m', memoryRequest: '8Mi', memoryLimit: '16Mi' },
    mounts: [
      { volume: 'auth', path: o.outDir },
      { volume: o.secretVolume, path: o.secretDir, readOnly: true },
    ],
  };
}


export interface EmptyDir {
  readonly name: string;
  /** @default 256Mi */
  readonly sizeLimit?: string;
  /** `Memory` for small secrets-derived files that must never touch a disk. @default node disk */
  readonly medium?: 'Memory';
}

export interface ConfigMapVolume {
  /** Volume name. */
  readonly name: string;
  /** The ConfigMap mounted (read-only). */
  readonly configMap: string;
}

/**
 * Secret keys mounted as files (issue 14 item 17: key material as files, not environment
 * variables), mode 0440 (owner and the pod's fsGroup); mount it read-only.
 */
export interface SecretVolume {
  /** Volume name. */
  readonly name: string;
  /** Secret keys (referenced, never copied) and the file names they become, in one directory (a projected volume). */
  readonly items: readonly { readonly secret: string; readonly key: string; readonly path: string }[];
}

export interface VolumeClaim {
  /** Volume name; the PVCs are `<name>-<statefulset>-<ordinal>`. */
  readonly name: string;
  /** Requested size, e.g. `10Gi`. */
  readonly size: string;
  /** @default the cluster's default StorageClass */
  readonly storageClassName?: string;
}

/** A workload allowed to connect: pods labelled `app.kubernetes.io/name: <name>` in `namespace`. */
export interface ClientRef {
  readonly name: string;
  /** @default the store's namespace */
  readonly namespace?: string;
}

export interface StatefulProps {
  /** Name of the StatefulSet, ServiceAccount, client Service, PDB, NetworkPolicy and `app.kubernetes.io/name` label. */
  readonly name: string;
  readonly namespace: string;
  /** The store's container. Its ports are the client ports (Services, NetworkPolicy). */
  readonly container: ContainerSpec;
  /** Long-running helpers (e.g. a metrics exporter), hardened the same way. @default none */
  readonly sidecars?: readonly ContainerSpec[];
  /** Run to completion before the store starts (e.g. render a secret-derived file). @default none */
  readonly initContainers?: readonly ContainerSpec[];
  /** @default 1 */
  readonly replicas?: number;
  /** UID and GID the containers run as, also the `fsGroup` of volumes. Use the image's own user. @default 10001 */
  readonly runAsUser?: number;
  /** Writable scratch volumes (the root FS is read-only). Mount them via `mounts`. @default none */
  readonly emptyDirs?: readonly EmptyDir[];
  /** @default none */
  readonly configMaps?: readonly ConfigMapVolume[];
  /** Secret keys as files (mounted read-only). @default none */
  readonly secrets?: readonly SecretVolume[];
  /** Persistent volumes, one PVC per replica each. @default none (the store keeps no data across restarts) */
  readonly volumeClaims?: readonly VolumeClaim[];
  /** What happens to the PVCs. @default `{ whenDeleted: 'Retain', whenScaled: 'Retain' }` */
  readonly pvcRetention?: { readonly whenDeleted: 'Retain' | 'Delete'; readonly whenScaled: 'Retain' | 'Delete' };
  /** @default OrderedReady */
  readonly podManagementPolicy?: 'OrderedReady' | 'Parallel';
  /** SIGTERM → SIGKILL budget, for flushing to disk. @default 60 */
  readonly terminationGracePeriodSeconds?: number;
  /** Workloads that may connect on the client ports. At least one. */
  readonly clients: readonly ClientRef[];
  /** Let Prometheus in from this namespace on the named sidecar/container port. @default none */
  readonly metrics?: { readonly namespace: string; readonly port: string };
  /** Extra egress rules of the store's pods (DNS is the namespace default's job). @default none */
  readonly egress?: readonly Rule[];
  /** Pod template annotations, e.g. ConfigMap checksums. @default none */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** Catalog concerns carried by every object. @default none */
  readonly concerns?: readonly string[];
}

const DEFAULT_RESOURCES: WorkloadResources = { cpuRequest: '100m', cpuLimit: '500m', memoryRequest: '128Mi', memoryLimit: '256Mi' };

function quantity(v: string): k8s.Quantity {
  return k8s.Quantity.fromString(v);
}

function envVar(name: string, v: EnvValue): k8s.EnvVar {
  if (typeof v === 'string') return literalEnv(name, v);
  if ('secret' in v) return { name, valueFrom: { secretKeyRef: { name: v.secret.name, key: v.secret.key } } };
  if ('configMap' in v) return { name, valueFrom: { configMapKeyRef: { name: v.configMap.name, key: v.configMap.key } } };
  return { name, valueFrom: { fieldRef: { fieldPath: v.field } } };
}

function checkPort(C: string, id: string, prop: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ComponentError(C, id, prop, 'must be 1–65535', port);
}

function probeOf(C: string, id: string, prop: string, p: ProbeSpec, timing: Partial<k8s.Probe>): k8s.Probe {
  if ('http' in p) {
    checkPort(C, id, `${prop}.http.port`, p.http.port);
    if (!p.http.path.startsWith('/')) throw new ComponentError(C, id, `${prop}.http.path`, 'must start with /', p.http.path);
    return { httpGet: { path: p.http.path, port: k8s.IntOrString.fromNumber(p.http.port), scheme: 'HTTP' }, ...timing };
  }
  if ('tcp' in p) {
    checkPort(C, id, `${prop}.tcp.port`, p.tcp.port);
    return { tcpSocket: { port: k8s.IntOrString.fromNumber(p.tcp.port) }, ...timing };
  }
  if (p.exec.length === 0) throw new ComponentError(C, id, `${prop}.exec`, 'must name a command', p.exec);
  return { exec: { command: [...p.exec] }, ...timing };
}

/**
 * The volumes of a pod for `hardenedContainer`: name → the size a disk-backed emptyDir counts
 * against ephemeral storage (`undefined` for claims, ConfigMaps and memory-backed emptyDirs).
 */
export type PodVolumeSizes = ReadonlyMap<string, string | undefined>;

export function podVolumeSizes(emptyDirs: readonly EmptyDir[], others: readonly string[] = []): PodVolumeSizes {
  return new Map<string, string | undefined>([
    ...emptyDirs.map((e) => [e.name, e.medium === 'Memory' ? undefined : (e.sizeLimit ?? '256Mi')] as const),
    ...others.map((n) => [n, undefined] as const),
  ]);
}

/**
 * One hardened container. `kind` decides the probes: `main`/`sidecar` need distinct liveness and
 * readiness (plus a startup probe); `init` and `job` containers must not carry any.
 * Ephemeral storage: request `resources.ephemeralStorageRequest` (64Mi), limit
 * `resources.ephemeralStorageLimit` or 256Mi for logs plus the emptyDirs it mounts (sizes from a
 * `PodVolumeSizes`; a plain set of names counts each mounted volume as a default 256Mi emptyDir).
 */
export function hardenedContainer(
  C: string,
  id: string,
  spec: ContainerSpec,
  kind: 'main' | 'sidecar' | 'init' | 'job',
  volumes: ReadonlySet<string> | PodVolumeSizes,
): k8s.Container {
  const where = kind === 'main' ? 'container' : `${kind === 'sidecar' ? 'sidecars' : kind === 'init' ? 'initContainers' : 'container'}.${spec.name}`;
  if (!isDnsLabel(spec.name)) throw new ComponentError(C, id, `${where}.name`, 'must be a DNS label', spec.name);
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new ComponentError(C, id, `${where}.env.${key}`, 'is not a valid variable name');
    if (typeof value === 'string' && SECRET_NAME.test(key)) {
      throw new ComponentError(C, id, `${where}.env.${key}`, 'looks like a secret: reference a Secret key instead of a literal');
    }
  }
  for (const p of spec.ports ?? []) {
    checkPort(C, id, `${where}.ports.${p.name}`, p.port);
    if (!isDnsLabel(p.name, 15)) throw new ComponentError(C, id, `${where}.ports`, 'names must be ≤ 15 lower-case characters', p.name);
  }
  for (const m of spec.mounts ?? []) {
    if (!volumes.has(m.volume)) throw new ComponentError(C, id, `${where}.mounts`, 'names a volume the pod does not have', m.volume);
    if (!m.path.startsWith('/')) throw new ComponentError(C, id, `${where}.mounts`, 'must be absolute paths', m.path);
  }
  const long = kind === 'main' || kind === 'sidecar';
  if (long && (!spec.liveness || !spec.readiness)) throw new ComponentError(C, id, where, 'needs a liveness and a readiness probe', spec.name);
  if (!long && (spec.liveness || spec.readiness || spec.startup)) throw new ComponentError(C, id, where, 'runs to completion: probes are not allowed', spec.name);
  const startupSeconds = spec.startupSeconds ?? 60;
  if (!Number.isInteger(startupSeconds) || startupSeconds < 5) throw new ComponentError(C, id, `${where}.startupSeconds`, 'must be an integer ≥ 5', startupSeconds);
  const res = spec.resources ?? DEFAULT_RESOURCES;
  const mounted = [...new Set((spec.mounts ?? []).map((m) => m.volume))];
  const sizeOf = (v: string): string | undefined => (volumes instanceof Map ? volumes.get(v) : '256Mi');
  const ephemeralRequest = res.ephemeralStorageRequest ?? EPHEMERAL_STORAGE_REQUEST;
  const ephemeralLimit = res.ephemeralStorageLimit ?? ephemeralStorageLimit(mounted.flatMap((v) => sizeOf(v) ?? []));
  if ((parseBytes(ephemeralRequest) ?? NaN) > (parseBytes(ephemeralLimit) ?? NaN) || parseBytes(ephemeralRequest) === undefined || parseBytes(ephemeralLimit) === undefined) {
    throw new ComponentError(C, id, `${where}.resources.ephemeralStorageRequest`, `must be a byte quantity ≤ ephemeralStorageLimit (${ephemeralLimit})`, ephemeralRequest);
  }
  const env = Object.keys(spec.env ?? {})
    .sort()
    .map((k) => envVar(k, spec.env![k]!));
  const probes: Partial<k8s.Container> = long
    ? {
        startupProbe: probeOf(C, id, spec.startup ? `${where}.startup` : `${where}.readiness`, spec.startup ?? spec.readiness!, { periodSeconds: 5, timeoutSeconds: 5, failureThreshold: Math.ceil(startupSeconds / 5) }),
        livenessProbe: probeOf(C, id, `${where}.liveness`, spec.liveness!, { periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 }),
        readinessProbe: probeOf(C, id, `${where}.readiness`, spec.readiness!, { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 2, successThreshold: 1 }),
      }
    : {};
  return {
    name: spec.name,
    image: spec.image,
    imagePullPolicy: imagePullPolicy(spec.image),
    ...(spec.command ? { command: [...spec.command] } : {}),
    ...(spec.args ? { args: [...spec.args] } : {}),
    ...(spec.ports && spec.ports.length > 0 ? { ports: spec.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })) } : {}),
    ...(env.length > 0 ? { env } : {}),
    resources: {
      requests: { cpu: quantity(res.cpuRequest), memory: quantity(res.memoryRequest), 'ephemeral-storage': quantity(ephemeralRequest) },
      limits: { cpu: quantity(res.cpuLimit), memory: quantity(res.memoryLimit), 'ephemeral-storage': quantity(ephemeralLimit) },
    },
    securityContext: restrictedContainerSecurity(),
    ...probes,
    ...(spec.mounts && spec.mounts.length > 0
      ? {
          volumeMounts: spec.mounts.map((m) => ({
            name: m.volume,
            mountPath: m.path,
            ...(m.readOnly ? { readOnly: true } : {}),
            ...(m.subPath ? { subPath: m.subPath } : {}),
          })),
        }
      : {}),
  };
}

/** Pod volumes from emptyDirs and ConfigMaps (claims come from volumeClaimTemplates). */
export function podVolumes(emptyDirs: readonly EmptyDir[], configMaps: readonly ConfigMapVolume[], secrets: readonly SecretVolume[] = []): k8s.Volume[] {
  return [
    ...emptyDirs.map((e) => ({
      name: e.name,
      emptyDir: { sizeLimit: quantity(e.sizeLimit ?? '256Mi'), ...(e.medium ? { medium: e.medium } : {}) },
    })),
    ...configMaps.map((c) => ({ name: c.name, configMap: { name: c.configMap, defaultMode: 0o444 } })),
    ...secrets.map((v) => ({
      name: v.name,
      projected: { defaultMode: 0o440, sources: v.items.map((i) => ({ secret: { name: i.secret, items: [{ key: i.key, path: i.path }] } })) },
    })),
  ];
}

/** The NetworkPolicy peer for a client workload. */
export function clientPeer(c: ClientRef, ownNamespace: string): Peer {
  return { namespace: c.namespace ?? ownNamespace, pods: selectorLabels(c.name) };
}

export class StatefulStore extends Construct {
  readonly name: string;
  readonly namespace: string;
  readonly selector: Record<string, string>;
  /**
   * Labels only the client Service carries (the headless one has `selector` alone): what a
   * ServiceMonitor selects, so a metrics port that is also a client port (MinIO's `s3`) is scraped
   * once per Pod, not once per Service (found by Prometheus's Kubernetes SD, issue 15).
   */
  readonly serviceSelector: Record<string, string>;
  /** `<name>.<namespace>.svc`: the client Service. */
  readonly host: string;
  /** Ports of the store container (the client ports). */
  readonly ports: readonly NamedPort[];
  readonly serviceAccount: k8s.KubeServiceAccount;
  readonly statefulSet: k8s.KubeStatefulSet;
  readonly headless: k8s.KubeService;
  readonly service: k8s.KubeService;
  readonly pdb: k8s.KubePodDisruptionBudget;
  readonly networkPolicy: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: StatefulProps, component = 'StatefulStore') {
    super(scope, id);
    const C = component;
    const n = props.name;
    if (!isDnsLabel(n, 52)) throw new ComponentError(C, n, 'name', 'must be a DNS label of ≤ 52 characters (pod names add a suffix)', n);
    const replicas = props.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1) throw new ComponentError(C, n, 'replicas', 'must be an integer ≥ 1', replicas);
    const grace = props.terminationGracePeriodSeconds ?? 60;
    if (!Number.isInteger(grace) || grace < 1) throw new ComponentError(C, n, 'terminationGracePeriodSeconds', 'must be an integer ≥ 1', grace);
    if (props.clients.length === 0) throw new ComponentError(C, n, 'clients', 'must name at least one client workload (nobody could connect)');
    const ports = props.container.ports ?? [];
    if (ports.length === 0) throw new ComponentError(C, n, 'container.ports', 'must name the client port(s)');

    const emptyDirs = props.emptyDirs ?? [];
    const configMaps = props.configMaps ?? [];
    const secretVolumes = props.secrets ?? [];
    const claims = props.volumeClaims ?? [];
    const seenVolumes = new Set<string>();
    for (const v of secretVolumes) {
      if (v.items.length === 0) throw new ComponentError(C, n, `secrets.${v.name}.items`, 'must name at least one key');
      for (const m of [props.container, ...(props.sidecars ?? []), ...(props.initContainers ?? [])].flatMap((c) => c.mounts ?? [])) {
        if (m.volume === v.name && !m.readOnly) throw new ComponentError(C, n, `secrets.${v.name}`, 'must be mounted read-only', m.path);
      }
    }
    for (const v of [...emptyDirs, ...configMaps, ...secretVolumes, ...claims]) {
      if (!DNS_LABEL.test(v.name)) throw new ComponentError(C, n, 'volumes', 'names must be DNS labels', v.name);
      if (seenVolumes.has(v.name)) throw new ComponentError(C, n, 'volumes', 'has a duplicate name', v.name);
      seenVolumes.add(v.name);
    }
    const volumeNames = podVolumeSizes(emptyDirs, [...configMaps, ...secretVolumes, ...claims].map((v) => v.name));
    for (const c of claims) {
      const bytes = parseBytes(c.size);
      if (bytes === undefined || bytes <= 0) throw new ComponentError(C, n, `volumeClaims.${c.name}.size`, 'must be a storage quantity such as 10Gi', c.size);
    }
    const containerNames = new Set<string>();
    const all = [props.container, ...(props.sidecars ?? []), ...(props.initContainers ?? [])];
    for (const c of all) {
      if (containerNames.has(c.name)) throw new ComponentError(C, n, 'containers', 'has a duplicate name', c.name);
      containerNames.add(c.name);
    }
    const podPorts = [...ports, ...(props.sidecars ?? []).flatMap((s) => s.ports ?? [])];
    const portNames = new Set<string>();
    for (const p of podPorts) {
      if (portNames.has(p.name)) throw new ComponentError(C, n, 'ports', 'has a duplicate port name', p.name);
      portNames.add(p.name);
    }
    const metricsPort = props.metrics ? podPorts.find((p) => p.name === props.metrics!.port) : undefined;
    if (props.metrics && !metricsPort) throw new ComponentError(C, n, 'metrics.port', 'names no port of the pod', props.metrics.port);

    this.name = n;
    this.namespace = props.namespace;
    this.selector = selectorLabels(n);
    this.host = `${n}.${props.namespace}.svc`;
    this.ports = ports;
    const concerns = props.concerns ?? [];
    const headlessName = `${n}-headless`;

    this.serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: n, namespace: props.namespace, labels: this.selector },
      automountServiceAccountToken: false,
    });

    const spread: k8s.TopologySpreadConstraint[] =
      replicas > 1
        ? [
            { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: this.selector } },
            { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: this.selector } },
          ]
        : [];
    const retention = props.pvcRetention ?? { whenDeleted: 'Retain', whenScaled: 'Retain' };
    const volumes = podVolumes(emptyDirs, configMaps, secretVolumes);

    this.statefulSet = new k8s.KubeStatefulSet(this, 'StatefulSet', {
      metadata: { name: n, namespace: props.namespace, labels: this.selector },
      spec: {
        replicas,
        serviceName: headlessName,
        podManagementPolicy: props.podManagementPolicy ?? 'OrderedReady',
        revisionHistoryLimit: 5,
        selector: { matchLabels: this.selector },
        updateStrategy: { type: 'RollingUpdate' },
        ...(claims.length > 0
          ? {
              persistentVolumeClaimRetentionPolicy: { whenDeleted: retention.whenDeleted, whenScaled: retention.whenScaled },
              volumeClaimTemplates: claims.map((c) => ({
                metadata: { name: c.name, labels: this.selector },
                spec: {
                  accessModes: ['ReadWriteOnce'],
                  ...(c.storageClassName ? { storageClassName: c.storageClassName } : {}),
                  resources: { requests: { storage: quantity(c.size) } },
                },
              })),
            }
          : {}),
        template: {
          metadata: {
            labels: this.selector,
            ...(props.podAnnotations && Object.keys(props.podAnnotations).length > 0 ? { annotations: { ...props.podAnnotations } } : {}),
          },
          spec: {
            serviceAccountName: n,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: grace,
            securityContext: restrictedPodSecurity(C, n, props.runAsUser ?? 10001),
            ...(spread.length > 0 ? { topologySpreadConstraints: spread } : {}),
            ...(props.initContainers && props.initContainers.length > 0
              ? { initContainers: props.initContainers.map((c) => hardenedContainer(C, n, c, 'init', volumeNames)) }
              : {}),
            containers: [
              hardenedContainer(C, n, props.container, 'main', volumeNames),
              ...(props.sidecars ?? []).map((c) => hardenedContainer(C, n, c, 'sidecar', volumeNames)),
            ],
            ...(volumes.length > 0 ? { volumes } : {}),
          },
        },
      },
    });

    const servicePorts = (list: readonly NamedPort[]): k8s.ServicePort[] =>
      list.map((p) => ({ name: p.name, port: p.port, targetPort: k8s.IntOrString.fromString(p.name), protocol: 'TCP' }));
    // Headless: stable per-member DNS (`<pod>.<name>-headless`), published before readiness so
    // members can find each other while starting. Only the client ports: no duplicate scrape.
    this.headless = new k8s.KubeService(this, 'Headless', {
      metadata: { name: headlessName, namespace: props.namespace, labels: this.selector },
      spec: { clusterIp: 'None', publishNotReadyAddresses: true, selector: this.selector, ports: servicePorts(ports) },
    });
    this.serviceSelector = { ...this.selector, 'stackbook.io/service-role': 'client' };
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: n, namespace: props.namespace, labels: this.serviceSelector },
      spec: { type: 'ClusterIP', selector: this.selector, ports: servicePorts(metricsPort && !ports.includes(metricsPort) ? [...ports, metricsPort] : ports) },
    });
    this.pdb = new k8s.KubePodDisruptionBudget(this, 'Pdb', {
      metadata: { name: n, namespace: props.namespace, labels: this.selector },
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: this.selector } },
    });

    const clientPorts = ports.map((p) => ({ port: p.port }));
    const ingress: Rule[] = [{ peers: props.clients.map((c) => clientPeer(c, props.namespace)), ports: clientPorts }];
    if (replicas > 1) ingress.push({ peers: [{ pods: this.selector }], ports: clientPorts });
    if (props.metrics && metricsPort) ingress.push({ peers: [{ namespace: props.metrics.namespace }], ports: [{ port: metricsPort.port }] });
    const egress: Rule[] = [...(replicas > 1 ? [{ peers: [{ pods: this.selector }], ports: clientPorts }] : []), ...(props.egress ?? [])];
    const allow = new AllowList(this, 'NetworkPolicy', {
      name: n,
      namespace: props.namespace,
      pods: this.selector,
      ingress,
      ...(egress.length > 0 ? { egress } : {}),
      concerns,
    });
    this.networkPolicy = allow.policy;

    trace(this.statefulSet, 'X-1', ...concerns);
    if (concerns.length > 0) trace([this.serviceAccount, this.headless, this.service, this.pdb], ...concerns);
  }

  /** Where clients connect: the client Service on `port` (default: the first client port). */
  endpoint(port?: string): Endpoint {
    const p = port === undefined ? this.ports[0]! : this.ports.find((x) => x.name === port);
    if (!p) throw new ComponentError('StatefulStore', this.name, 'endpoint', 'names no client port', port);
    return { host: this.host, port: p.port, peers: [{ namespace: this.namespace, pods: this.selector }] };
  }
}

/** How to reach a store, in-cluster or external: the host for URLs, the port and NetworkPolicy peers for egress rules. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly peers: readonly Peer[];
}

/** The egress rule a client needs to reach `endpoint` (add it to the client's AllowList). */
export function egressTo(endpoint: Endpoint): Rule {
  return { peers: endpoint.peers, ports: [{ port: endpoint.port }] };
}

export interface ExternalServiceProps {
  /** Name of the store (policies are `<name>-egress-<client>`). */
  readonly name: string;
  /** Host name the clients use (for URLs; the Secret holds the real connection string). */
  readonly host: string;
  readonly port: number;
  /** Addresses of the external service, e.g. `10.20.0.0/24`. `0.0.0.0/0` is refused. */
  readonly cidrs: readonly string[];
  /** Workloads that connect; each gets an egress policy in its own namespace. */
  readonly clients: readonly (ClientRef & { readonly namespace: string })[];
  /** @default none */
  readonly concerns?: readonly string[];
}

const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/;

/** External mode: egress NetworkPolicies from the named clients to the CIDRs on the port; nothing else. */
export class ExternalService extends Construct {
  readonly policies: readonly k8s.KubeNetworkPolicy[];
  readonly endpoint: Endpoint;
  constructor(scope: Construct, id: string, props: ExternalServiceProps, component = 'ExternalService') {
    super(scope, id);
    const C = component;
    checkPort(C, props.name, 'port', props.port);
    if (props.cidrs.length === 0) throw new ComponentError(C, props.name, 'cidrs', 'must name the external addresses');
    for (const c of props.cidrs) if (!CIDR.test(c)) throw new ComponentError(C, props.name, 'cidrs', 'must be CIDRs such as 10.0.0.0/24', c);
    if (props.clients.length === 0) throw new ComponentError(C, props.name, 'clients', 'must name at least one client workload');
    if (props.host.trim() === '' || /[\s/@:]/.test(props.host)) throw new ComponentError(C, props.name, 'host', 'must be a bare host name', props.host);
    const peers: Peer[] = props.cidrs.map((cidr) => ({ cidr }));
    this.endpoint = { host: props.host, port: props.port, peers };
    this.policies = [...props.clients]
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
      .map(
        (c) =>
          new AllowList(this, `Egress-${c.namespace}-${c.name}`, {
            name: `${props.name}-egress-${c.name}`,
            namespace: c.namespace,
            pods: selectorLabels(c.name),
            egress: [egressTo(this.endpoint)],
            concerns: props.concerns ?? [],
          }).policy,
      );
  }
}

/** What every external store takes: where it is and who connects. */
export interface ExternalStoreProps {
  /** Store name (policies are `<name>-egress-<client>`). @default the store kind (`redis`, `mongodb`, ...) */
  readonly name?: string;
  /** Host name the clients use (for URLs; the Secret holds the real connection string). */
  readonly host: string;
  /** @default the store's standard port */
  readonly port?: number;
  /** Addresses of the external service, e.g. `10.20.0.0/24`. */
  readonly cidrs: readonly string[];
  /** Workloads that connect; each gets an egress policy in its own namespace. */
  readonly clients: readonly (ClientRef & { readonly namespace: string })[];
  /** @default none */
  readonly concerns?: readonly string[];
}

/**
 * Base of the `External*` stores (Redis, MongoDB, Qdrant, MinIO, ClickHouse): the clients' egress
 * policies through `ExternalService`, and the props kept for the subclass's `connection()`.
 */
export abstract class ExternalStore<P extends ExternalStoreProps> extends Construct {
  readonly external: ExternalService;
  protected readonly props: P;
  /** `props.name`, else the store kind's default name. */
  protected readonly storeName: string;
  constructor(
    scope: Construct,
    id: string,
    props: P,
    kind: { readonly component: string; readonly name: string; readonly port: number; readonly concerns?: readonly string[] },
  ) {
    super(scope, id);
    this.props = props;
    this.storeName = props.name ?? kind.name;
    this.external = new ExternalService(
      this,
      'External',
      { name: this.storeName, host: props.host, port: props.port ?? kind.port, cidrs: props.cidrs, clients: props.clients, concerns: [...(kind.concerns ?? []), ...(props.concerns ?? [])] },
      kind.component,
    );
  }
}

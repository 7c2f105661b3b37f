/**
 * Hardened workload: ServiceAccount (no token) + Deployment + Service.
 * Pod Security "restricted" by default, including what cdk8s-plus does not set
 * (seccomp RuntimeDefault, drop ALL). Writable paths are volumes, never the root FS.
 */
import { Construct } from 'constructs';
import { ApiObject, JsonPatch } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, imagePullPolicy, literalEnv, restrictedContainerSecurity, selectorLabels, trace } from './meta.js';
import { SECRET_NAME } from '../kube/secrets.js';
import { CONTRACT_ANNOTATION } from '../kube/annotations.js';
import { byteValue } from '../kube/quantity.js';

/** An environment variable: a literal (never a secret), or a reference. */
export type EnvValue =
  | string
  | { readonly secret: { readonly name: string; readonly key: string } }
  | { readonly configMap: { readonly name: string; readonly key: string } }
  | { readonly field: string };

export interface HttpProbe {
  /** HTTP path, e.g. `/healthz`. */
  readonly path: string;
  /** @default the container port */
  readonly port?: number;
}

export interface WorkloadResources {
  readonly cpuRequest: string;
  readonly cpuLimit: string;
  readonly memoryRequest: string;
  readonly memoryLimit: string;
  /** Extended resources (e.g. `nvidia.com/gpu`), set as request = limit. @default none */
  readonly extended?: Readonly<Record<string, string>>;
  /** Local ephemeral storage the scheduler reserves (logs, emptyDirs). @default 64Mi */
  readonly ephemeralStorageRequest?: string;
  /**
   * Eviction bound for local ephemeral storage (container logs plus every emptyDir).
   * @default 256Mi for logs plus the sum of the emptyDir `sizeLimit`s
   */
  readonly ephemeralStorageLimit?: string;
}

export interface WritablePath {
  /** Mount path inside the container. */
  readonly path: string;
  /** emptyDir size limit. @default 256Mi */
  readonly sizeLimit?: string;
  /** Mount this PersistentVolumeClaim instead of an emptyDir. @default emptyDir */
  readonly claimName?: string;
}

/** A ConfigMap or Secret mounted read-only as files. */
export interface FileMount {
  /** Directory the keys appear in (or, with `subPath`, the file itself). */
  readonly path: string;
  /** Exactly one of `configMap` and `secret`. */
  readonly configMap?: string;
  readonly secret?: string;
  /** Mount only this key, as the file `path` (a subPath mount: not updated in place on change). @default every key, as files in `path` */
  readonly key?: string;
  /** File mode of the projected files. @default 0440 for secrets, 0444 for ConfigMaps */
  readonly mode?: number;
}

/** A further port the process listens on (gRPC, a separate metrics port). */
export interface ExtraPort {
  /** Port name, IANA_SVC_NAME style (`grpc`, `metrics`). */
  readonly name: string;
  readonly port: number;
  /** Also expose it on the Service. @default true */
  readonly service?: boolean;
}

export interface Toleration {
  readonly key: string;
  readonly operator?: 'Equal' | 'Exists';
  readonly value?: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface WorkloadProps {
  /** Name of the Deployment, ServiceAccount, Service and `app.kubernetes.io/name` label. */
  readonly name: string;
  readonly namespace: string;
  /** Fully resolved image reference (`repo@sha256:...` where a digest is configured). */
  readonly image: string;
  /** The port the process listens on; the Service exposes it under the same number, named `http`. */
  readonly port: number;
  /** @default the image's entrypoint */
  readonly command?: readonly string[];
  /** @default the image's arguments */
  readonly args?: readonly string[];
  /** Environment, sorted by name when rendered. Secret values only as `{ secret: ... }` references. @default none */
  readonly env?: Readonly<Record<string, EnvValue>>;
  /** ConfigMaps whose every key becomes an env var. @default none */
  readonly envFromConfigMaps?: readonly string[];
  /** Liveness: restart when this fails (slow, tolerant). */
  readonly liveness: HttpProbe;
  /** Readiness: take out of the Service when this fails (fast). */
  readonly readiness: HttpProbe;
  /** How long start-up may take before liveness applies. @default 60 */
  readonly startupSeconds?: number;
  /** @default 100m / 500m CPU, 128Mi / 256Mi memory */
  readonly resources?: WorkloadResources;
  /** Fixed replica count; leave unset when an autoscaler owns it. @default 1 unless `autoscaled` */
  readonly replicas?: number;
  /** An HPA or ScaledObject owns the replica count: `replicas` is not rendered. @default false */
  readonly autoscaled?: boolean;
  /** Writable directories (the root FS is read-only). @default [{ path: '/tmp' }] */
  readonly writablePaths?: readonly WritablePath[];
  /** UID/GID the process runs as. @default 10001 */
  readonly runAsUser?: number;
  /** SIGTERM → SIGKILL budget. @default 30 */
  readonly terminationGracePeriodSeconds?: number;
  /** Seconds the pod keeps serving after removal from endpoints, before SIGTERM. @default 5 */
  readonly preStopSleepSeconds?: number;
  /** Spread replicas over zones (best effort) and nodes (strict). @default true */
  readonly spread?: boolean;
  /** Pod template annotations, e.g. checksums of referenced ConfigMaps/Secrets. @default none */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** @default none */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** @default none */
  readonly tolerations?: readonly Toleration[];
  /** Extra pod labels (also used by NetworkPolicy peers). @default none */
  readonly podLabels?: Readonly<Record<string, string>>;
  /** Catalog concerns carried by every object of this workload. @default none */
  readonly concerns?: readonly string[];
  /** Further ports (gRPC, metrics), as container ports and, unless excluded, Service ports. @default none */
  readonly extraPorts?: readonly ExtraPort[];
  /** ConfigMaps/Secrets mounted read-only as files (config files, key material). @default none */
  readonly files?: readonly FileMount[];
  /**
   * The application contract this workload is checked against (`<service>/<workload>`, see
   * services/contract.ts): rendered as the `stackbook.io/contract` annotation. @default none
   */
  readonly contract?: string;
}

const DEFAULT_RESOURCES: WorkloadResources = { cpuRequest: '100m', cpuLimit: '500m', memoryRequest: '128Mi', memoryLimit: '256Mi' };

function q(v: string): k8s.Quantity {
  return k8s.Quantity.fromString(v);
}

/** A byte quantity (`256Mi`, `1G`) in MiB, rounded up. */
function mebibytes(id: string, prop: string, v: string): number {
  const bytes = byteValue(v);
  if (bytes === undefined) throw new ComponentError('Workload', id, prop, 'must be a byte quantity such as 256Mi', v);
  return Math.ceil(bytes / 2 ** 20);
}

function envVar(name: string, v: EnvValue): k8s.EnvVar {
  if (typeof v === 'string') return literalEnv(name, v);
  if ('secret' in v) return { name, valueFrom: { secretKeyRef: { name: v.secret.name, key: v.secret.key } } };
  if ('configMap' in v) return { name, valueFrom: { configMapKeyRef: { name: v.configMap.name, key: v.configMap.key } } };
  return { name, valueFrom: { fieldRef: { fieldPath: v.field } } };
}

function fileVolumeName(f: FileMount, i: number): string {
  return `${f.secret ? 'secret' : 'config'}-${i}-${(f.secret ?? f.configMap!).toLowerCase()}`.slice(0, 63).replace(/-+$/, '');
}

function volumeName(path: string): string {
  const n = path.replace(/^\/+/, '').replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/-+$/, '');
  return n.length === 0 ? 'root' : n.slice(0, 63);
}

export class Workload extends Construct {
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
  readonly selector: Record<string, string>;
  /** A typed KubeDeployment's props rendered onto a plain ApiObject, so JSON patches survive. */
  readonly deployment: ApiObject;
  readonly service: k8s.KubeService;
  readonly serviceAccount: k8s.KubeServiceAccount;

  constructor(scope: Construct, id: string, props: WorkloadProps) {
    super(scope, id);
    const C = 'Workload';
    const replicas = props.replicas ?? 1;
    if (!Number.isInteger(props.port) || props.port < 1 || props.port > 65535) throw new ComponentError(C, props.name, 'port', 'must be 1–65535', props.port);
    if (props.autoscaled && props.replicas !== undefined) {
      throw new ComponentError(C, props.name, 'replicas', 'must be unset when autoscaled (the autoscaler owns it)', props.replicas);
    }
    if (!Number.isInteger(replicas) || replicas < 1) throw new ComponentError(C, props.name, 'replicas', 'must be an integer ≥ 1', replicas);
    const runAsUser = props.runAsUser ?? 10001;
    if (!Number.isInteger(runAsUser) || runAsUser < 1) throw new ComponentError(C, props.name, 'runAsUser', 'must be a non-root UID (≥ 1)', runAsUser);
    for (const [key, value] of Object.entries(props.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new ComponentError(C, props.name, `env.${key}`, 'is not a valid variable name');
      if (typeof value === 'string' && SECRET_NAME.test(key)) {
        throw new ComponentError(C, props.name, `env.${key}`, 'looks like a secret: reference a Secret key instead of a literal');
      }
    }
    const grace = props.terminationGracePeriodSeconds ?? 30;
    const preStop = props.preStopSleepSeconds ?? 5;
    if (preStop >= grace) {
      throw new ComponentError(C, props.name, 'preStopSleepSeconds', `must be shorter than terminationGracePeriodSeconds (${grace})`, preStop);
    }
    const startupSeconds = props.startupSeconds ?? 60;
    const res = props.resources ?? DEFAULT_RESOURCES;
    const writable = props.writablePaths ?? [{ path: '/tmp' }];
    const ephemeralRequest = res.ephemeralStorageRequest ?? '64Mi';
    const ephemeralLimit =
      res.ephemeralStorageLimit ??
      `${256 + writable.filter((w) => !w.claimName).reduce((sum, w) => sum + mebibytes(id, 'writablePaths.sizeLimit', w.sizeLimit ?? '256Mi'), 0)}Mi`;
    if (mebibytes(id, 'resources.ephemeralStorageRequest', ephemeralRequest) > mebibytes(id, 'resources.ephemeralStorageLimit', ephemeralLimit)) {
      throw new ComponentError('Workload', id, 'resources.ephemeralStorageRequest', `must be ≤ ephemeralStorageLimit (${ephemeralLimit})`, ephemeralRequest);
    }
    const ports = [{ name: 'http', port: props.port, service: true }, ...(props.extraPorts ?? []).map((p) => ({ ...p, service: p.service ?? true }))];
    for (const p of props.extraPorts ?? []) {
      if (!/^[a-z]([-a-z0-9]{0,13}[a-z0-9])?$/.test(p.name)) throw new ComponentError(C, props.name, 'extraPorts.name', 'must be a port name (lowercase, ≤ 15 characters)', p.name);
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new ComponentError(C, props.name, 'extraPorts.port', 'must be 1–65535', p.port);
    }
    for (const [i, p] of ports.entries()) {
      const dup = ports.findIndex((o) => o.name === p.name || o.port === p.port);
      if (dup !== i) throw new ComponentError(C, props.name, 'extraPorts', `repeats port ${ports[dup]!.name}/${ports[dup]!.port}`, p);
    }
    const files = props.files ?? [];
    for (const f of files) {
      if (!f.path.startsWith('/')) throw new ComponentError(C, props.name, 'files.path', 'must be absolute', f.path);
      if ((f.configMap === undefined) === (f.secret === undefined)) throw new ComponentError(C, props.name, 'files', 'needs exactly one of configMap and secret', f);
    }
    const seen = new Map<string, string>();
    for (const w of writable) {
      if (!w.path.startsWith('/')) throw new ComponentError(C, props.name, 'writablePaths', 'must be absolute paths', w.path);
      if (seen.has(w.path)) throw new ComponentError(C, props.name, 'writablePaths', 'has a duplicate path', w.path);
      // Volumes are named after their path: `/a-b` and `/a/b` (or `/tmp` and `/tmp/`) would collide.
      const other = [...seen].find(([, v]) => v === volumeName(w.path));
      if (other) throw new ComponentError(C, props.name, 'writablePaths', `has two paths that map to volume "${other[1]}" (${other[0]})`, w.path);
      seen.set(w.path, volumeName(w.path));
    }

    this.name = props.name;
    this.namespace = props.namespace;
    this.port = props.port;
    this.selector = selectorLabels(props.name);
    const labels = { ...this.selector, ...props.podLabels };
    const concerns = ['X-1', ...(props.concerns ?? [])];

    this.serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: props.name, namespace: props.namespace, labels: this.selector },
      automountServiceAccountToken: false,
    });

    const probe = (p: HttpProbe, o: Partial<k8s.Probe>): k8s.Probe => ({
      httpGet: { path: p.path, port: k8s.IntOrString.fromNumber(p.port ?? props.port), scheme: 'HTTP' },
      ...o,
    });
    const env = Object.keys(props.env ?? {})
      .sort()
      .map((k) => envVar(k, props.env![k]!));
    const extended = Object.fromEntries(Object.entries(res.extended ?? {}).map(([k, v]) => [k, q(v)]));

    const spread: k8s.TopologySpreadConstraint[] = (props.spread ?? true)
      ? [
          { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: this.selector } },
          { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: this.selector } },
        ]
      : [];

    const deploymentProps: k8s.KubeDeploymentProps = {
      metadata: { name: props.name, namespace: props.namespace, labels },
      spec: {
        ...(props.autoscaled ? {} : { replicas }),
        revisionHistoryLimit: 5,
        selector: { matchLabels: this.selector },
        // Never below capacity during a rollout: surge one, take none away.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: {
          metadata: {
            labels,
            ...(props.podAnnotations && Object.keys(props.podAnnotations).length > 0 ? { annotations: { ...props.podAnnotations } } : {}),
          },
          spec: {
            serviceAccountName: props.name,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: grace,
            securityContext: {
              runAsNonRoot: true,
              runAsUser,
              runAsGroup: runAsUser,
              fsGroup: runAsUser,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            ...(spread.length > 0 ? { topologySpreadConstraints: spread } : {}),
            ...(props.nodeSelector ? { nodeSelector: { ...props.nodeSelector } } : {}),
            ...(props.tolerations ? { tolerations: props.tolerations.map((t) => ({ ...t })) } : {}),
            containers: [
              {
                name: props.name,
                image: props.image,
                // A digest names one content: pull it once. A bare tag can move: check the registry on every start.
                imagePullPolicy: imagePullPolicy(props.image),
                ...(props.command ? { command: [...props.command] } : {}),
                ...(props.args ? { args: [...props.args] } : {}),
                ports: ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
                ...(env.length > 0 ? { env } : {}),
                ...(props.envFromConfigMaps && props.envFromConfigMaps.length > 0
                  ? { envFrom: props.envFromConfigMaps.map((name) => ({ configMapRef: { name } })) }
                  : {}),
                resources: {
                  requests: { cpu: q(res.cpuRequest), memory: q(res.memoryRequest), 'ephemeral-storage': q(ephemeralRequest), ...extended },
                  limits: { cpu: q(res.cpuLimit), memory: q(res.memoryLimit), 'ephemeral-storage': q(ephemeralLimit), ...extended },
                },
                securityContext: restrictedContainerSecurity(),
                startupProbe: probe(props.readiness, { periodSeconds: 5, failureThreshold: Math.max(1, Math.ceil(startupSeconds / 5)), timeoutSeconds: 2 }),
                livenessProbe: probe(props.liveness, { periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 }),
                readinessProbe: probe(props.readiness, { periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2, successThreshold: 1 }),
                volumeMounts: [
                  ...writable.map((w) => ({ name: volumeName(w.path), mountPath: w.path })),
                  ...files.map((f, i) => ({ name: fileVolumeName(f, i), mountPath: f.path, readOnly: true, ...(f.key ? { subPath: f.key } : {}) })),
                ],
              },
            ],
            volumes: [
              ...writable.map((w) =>
                w.claimName
                  ? { name: volumeName(w.path), persistentVolumeClaim: { claimName: w.claimName } }
                  : { name: volumeName(w.path), emptyDir: { sizeLimit: q(w.sizeLimit ?? '256Mi') } },
              ),
              ...files.map((f, i) =>
                f.secret
                  ? { name: fileVolumeName(f, i), secret: { secretName: f.secret, defaultMode: f.mode ?? 0o440 } }
                  : { name: fileVolumeName(f, i), configMap: { name: f.configMap!, defaultMode: f.mode ?? 0o444 } },
              ),
            ],
          },
        },
      },
    };
    this.deployment = new ApiObject(this, 'Deployment', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      ...k8s.toJson_KubeDeploymentProps(deploymentProps),
    } as ConstructorParameters<typeof ApiObject>[2]);

    // `preStop.sleep` (Kubernetes ≥ 1.30) needs no shell in the image; the 1.27 typings lack it.
    this.deployment.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/lifecycle', { preStop: { sleep: { seconds: preStop } } }));

    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: props.name, namespace: props.namespace, labels: this.selector },
      spec: {
        type: 'ClusterIP',
        selector: this.selector,
        ports: ports.filter((p) => p.service).map((p) => ({ name: p.name, port: p.port, targetPort: k8s.IntOrString.fromString(p.name), protocol: 'TCP' })),
      },
    });
    if (props.contract) this.deployment.metadata.addAnnotation(CONTRACT_ANNOTATION, props.contract);
    trace([this.serviceAccount, this.deployment, this.service], ...concerns);
  }
}

/**
 * MongoDB (AION-2 data service) on the hardened StatefulSet base, or external.
 *
 * - Standalone `mongod` with `--auth`: the official image's entrypoint creates the root user on
 *   the first start from `MONGO_INITDB_ROOT_USERNAME`/`_PASSWORD` (Secret references).
 *   A replica set (keyFile, `rs.initiate`) is not implemented: `replicas > 1` is a
 *   ComponentError; use an external (managed) MongoDB for HA.
 * - Data on a PVC (`/data/db`); `/data/configdb` and `/tmp` are emptyDirs (the entrypoint
 *   writes its temporary init files there), the root FS stays read-only.
 * - Probes: liveness is a TCP check on 27017 (restart only a wedged mongod), readiness runs
 *   `db.adminCommand("ping")` with mongosh (unauthenticated command: no credential in the probe).
 * - Consumers get a `MongoConnection`: the URI (with credentials) from a Secret key.
 * - Alerts (with `runbookUrl`, PrometheusRule `<name>`; the component ships its own): the image has
 *   no Prometheus endpoint and no exporter runs beside it, so they read what the cluster already
 *   exports about the member: kube-state-metrics (`kube_statefulset_status_replicas_ready`,
 *   `kube_pod_container_status_restarts_total`) and the kubelet's volume stats of its data claim
 *   (`kubelet_volume_stats_{available,capacity}_bytes`). MongoDB-internal signals (replication,
 *   WiredTiger cache, connections) need an exporter: not yet.
 */
import { Construct } from 'constructs';
import { ComponentError } from './meta.js';
import { PrometheusRules, storeAlertRules, type AlertRule } from './monitoring.js';
import { ExternalStore, StatefulStore, type ClientRef, type ExternalStoreProps, type Endpoint, type SecretKeyRef } from './stateful.js';
import type { WorkloadResources } from './workload.js';
import type { ImageRef } from '../kube/image.js';

/** mongo 8.0.12, the official Docker library image: 8.0 is MongoDB's current major line (supported into 2029), ships mongosh for the probe and the TTL job, runs as UID 999. */
export const MONGODB_IMAGE: ImageRef = { repository: 'docker.io/library/mongo', tag: '8.0.12' };
export const MONGODB_PORT = 27017;

export interface MongoConnection {
  /** Secret key holding `mongodb://<user>:<password>@<host>:27017/?authSource=admin` (or `mongodb+srv://`). */
  readonly uriSecret: SecretKeyRef;
  readonly endpoint: Endpoint;
}

export interface MongoDbProps {
  /** @default mongodb */
  readonly name?: string;
  readonly namespace: string;
  /** Resolved image reference of MONGODB_IMAGE. */
  readonly image: string;
  /** Secret keys of the root user, created on first start. */
  readonly rootUsername: SecretKeyRef;
  readonly rootPassword: SecretKeyRef;
  /** Secret key with the client URI handed to consumers. */
  readonly uriSecret: SecretKeyRef;
  readonly clients: readonly ClientRef[];
  /** Must be 1 (standalone). @default 1 */
  readonly replicas?: number;
  /** @default 10Gi */
  readonly storageSize?: string;
  /** @default the cluster default */
  readonly storageClassName?: string;
  /** @default 250m/1 CPU, 1Gi/1Gi memory */
  readonly resources?: WorkloadResources;
  /** WiredTiger cache in GiB; keep it ≤ half the memory limit. @default 0.25 */
  readonly cacheSizeGb?: number;
  /** Catalog concerns on every object (e.g. AION-2). @default none */
  readonly concerns?: readonly string[];
  /** Runbook URL of the alerts (`mongoDbAlerts`, PrometheusRule `<name>`). @default none: no alerts */
  readonly runbookUrl?: string;
  /** `key=value` selecting the PrometheusRule into Prometheus. @default release=prometheus */
  readonly prometheusSelector?: string;
}

/**
 * MongoDB alerts from kube-state-metrics and the kubelet (see the file header): no ready member for
 * 5 minutes (critical: every reader and writer fails); the mongod container restarting (more than 2
 * restarts in 15 minutes: crash loop, OOM kill, a failing liveness check); the data volume under 10 %
 * free (warning: WiredTiger stops writing when the disk is full).
 */
export function mongoDbAlerts(name: string, namespace: string, runbookUrl: string, concerns: readonly string[] = []): AlertRule[] {
  const sts = `namespace="${namespace}",statefulset="${name}"`;
  const pvc = `namespace="${namespace}",persistentvolumeclaim=~"data-${name}-[0-9]+"`;
  return [
    {
      alert: 'MongoDbDown',
      expr: `(max(kube_statefulset_status_replicas_ready{${sts}}) or vector(0)) < 1`,
      for: '5m',
      severity: 'critical',
      summary: `MongoDB ${namespace}/${name} has no ready member`,
      description: `No member of StatefulSet ${namespace}/${name} passes its readiness check (mongosh ping), or kube-state-metrics reports none: the control plane cannot read or write its documents. Check the pod, its events and its PVC.`,
      runbookUrl,
      concerns,
    },
    {
      alert: 'MongoDbRestarting',
      expr: `sum(increase(kube_pod_container_status_restarts_total{namespace="${namespace}",pod=~"${name}-[0-9]+",container="mongod"}[15m])) > 2`,
      for: '1m',
      severity: 'warning',
      summary: `MongoDB ${namespace}/${name} keeps restarting`,
      description: `mongod restarted more than twice in 15 minutes: an OOM kill (WiredTiger cache above half the memory limit), a failing liveness check or a crash at start. Look at the previous container's log and the pod's last state.`,
      runbookUrl,
      concerns,
    },
    {
      alert: 'MongoDbVolumeFilling',
      expr: `min(kubelet_volume_stats_available_bytes{${pvc}} / kubelet_volume_stats_capacity_bytes{${pvc}}) < 0.10`,
      for: '15m',
      severity: 'warning',
      summary: `MongoDB ${namespace}/${name}: data volume under 10 % free`,
      description: `The data claim of ${namespace}/${name} has less than 10 % free space; WiredTiger stops accepting writes when it is full. Expand the claim (storageSize) or drop expired data (the TTL job).`,
      runbookUrl,
      concerns,
    },
  ];
}

/** Where the root credentials are mounted (read-only files). */
export const MONGO_SECRETS_DIR = '/run/secrets/mongodb';

export class MongoDb extends Construct {
  readonly store: StatefulStore;
  /** With `runbookUrl`. */
  readonly rules?: PrometheusRules;
  private readonly uriSecret: SecretKeyRef;
  constructor(scope: Construct, id: string, props: MongoDbProps) {
    super(scope, id);
    const C = 'MongoDb';
    const name = props.name ?? 'mongodb';
    const replicas = props.replicas ?? 1;
    if (replicas !== 1) throw new ComponentError(C, name, 'replicas', 'must be 1: a replica set (keyFile, rs.initiate) is not implemented; use an external MongoDB for HA', replicas);
    const cache = props.cacheSizeGb ?? 0.25;
    if (!(cache >= 0.25 && cache <= 1024)) throw new ComponentError(C, name, 'cacheSizeGb', 'must be 0.25–1024', cache);
    this.uriSecret = props.uriSecret;
    this.store = new StatefulStore(
      this,
      'Store',
      {
        name,
        namespace: props.namespace,
        runAsUser: 999,
        clients: props.clients,
        terminationGracePeriodSeconds: 60,
        emptyDirs: [{ name: 'configdb', sizeLimit: '16Mi' }, { name: 'tmp', sizeLimit: '64Mi' }],
        secrets: [
          {
            name: 'root',
            items: [
              { secret: props.rootUsername.name, key: props.rootUsername.key, path: 'root-username' },
              { secret: props.rootPassword.name, key: props.rootPassword.key, path: 'root-password' },
            ],
          },
        ],
        volumeClaims: [{ name: 'data', size: props.storageSize ?? '10Gi', ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}) }],
        container: {
          name: 'mongod',
          image: props.image,
          args: ['mongod', '--bind_ip_all', '--port', String(MONGODB_PORT), '--wiredTigerCacheSizeGB', String(cache)],
          // Issue 14 item 17: the root credentials as files. The image's entrypoint reads
          // MONGO_INITDB_ROOT_{USERNAME,PASSWORD}_FILE (docker-library/mongo docker-entrypoint.sh `file_env`).
          env: {
            HOME: '/tmp',
            MONGO_INITDB_ROOT_USERNAME_FILE: `${MONGO_SECRETS_DIR}/root-username`,
            MONGO_INITDB_ROOT_PASSWORD_FILE: `${MONGO_SECRETS_DIR}/root-password`,
          },
          ports: [{ name: 'mongodb', port: MONGODB_PORT }],
          liveness: { tcp: { port: MONGODB_PORT } },
          readiness: { exec: ['mongosh', '--quiet', '--norc', '--port', String(MONGODB_PORT), '--eval', 'db.adminCommand("ping").ok'] },
          startupSeconds: 300,
          resources: props.resources ?? { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi' },
          mounts: [
            { volume: 'data', path: '/data/db' },
            { volume: 'configdb', path: '/data/configdb' },
            { volume: 'tmp', path: '/tmp' },
            { volume: 'root', path: MONGO_SECRETS_DIR, readOnly: true },
          ],
        },
        concerns: props.concerns ?? [],
      },
      C,
    );
    const concerns = props.concerns ?? [];
    this.rules = storeAlertRules(this, C, { ...props, name, concerns }, (runbookUrl) => mongoDbAlerts(name, props.namespace, runbookUrl, concerns));
  }

  connection(): MongoConnection {
    return { uriSecret: this.uriSecret, endpoint: this.store.endpoint() };
  }
}

export interface ExternalMongoDbProps extends ExternalStoreProps {
  /** @default mongodb */
  readonly name?: string;
  /** @default 27017 */
  readonly port?: number;
  readonly uriSecret: SecretKeyRef;
}

export class ExternalMongoDb extends ExternalStore<ExternalMongoDbProps> {
  constructor(scope: Construct, id: string, props: ExternalMongoDbProps) {
    super(scope, id, props, { component: 'ExternalMongoDb', name: 'mongodb', port: MONGODB_PORT });
  }

  connection(): MongoConnection {
    return { uriSecret: this.props.uriSecret, endpoint: this.external.endpoint };
  }
}

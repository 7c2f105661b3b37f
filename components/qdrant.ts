/**
 * Qdrant vector database (AION-2 data service) on the hardened StatefulSet base, or external.
 *
 * - The upstream `-unprivileged` image (UID 1000): the plain image runs as root.
 * - API key (issue 14 item 17): the Secret key is mounted read-only as a file; an init container
 *   writes `service.api_key` into a YAML file in a memory emptyDir, which Qdrant merges through
 *   `--config-path` (qdrant v1.15.4 @f0b084e src/main.rs:114, src/settings.rs:274: merged after
 *   the image's config files, before `QDRANT__*` variables). No environment variable holds it.
 *   `/livez` and `/readyz` answer without it (Qdrant ≥ 1.5), so the probes carry no credential.
 * - Storage and snapshots on one PVC (`/qdrant/storage`, snapshots under it); the init marker
 *   file goes to an emptyDir via `QDRANT_INIT_FILE_PATH`, so the root FS stays read-only.
 * - Metrics (issue 14 store alerts): Qdrant serves `/metrics` on its HTTP port (src/common/metrics.rs
 *   @f0b084e: `app_status_recovery_mode`, `rest_responses_total{method,endpoint,status}`, …) but
 *   not on the API key whitelist (src/actix/mod.rs:88–93: `/`, `/healthz`, `/readyz`, `/livez`):
 *   the ServiceMonitor sends the API key as a bearer token (src/common/auth/mod.rs:80 accepts
 *   `Authorization: Bearer`), from the same Secret. Prometheus is admitted on 6333.
 * - Single node: Qdrant's distributed mode (Raft, `--bootstrap`) is not implemented;
 *   `replicas > 1` is a ComponentError.
 */
import { Construct } from 'constructs';
import { ComponentError } from './meta.js';
import { PrometheusRules, ServiceMonitor, storeAlertRules, type AlertRule } from './monitoring.js';
import { ExternalStore, StatefulStore, secretRenderInit, type ClientRef, type ExternalStoreProps, type Endpoint, type SecretKeyRef } from './stateful.js';
import type { WorkloadResources } from './workload.js';
import type { ImageRef } from '../kube/image.js';

/** qdrant v1.15.4-unprivileged, the upstream image from the Qdrant team: the non-root variant (UID 1000), so no policy exception is needed. */
export const QDRANT_IMAGE: ImageRef = { repository: 'docker.io/qdrant/qdrant', tag: 'v1.15.4-unprivileged' };
export const QDRANT_HTTP_PORT = 6333;
/** Where the API key Secret key is mounted read-only. */
export const QDRANT_API_KEY_FILE = '/run/secrets/qdrant/api-key';
/** The config file the init container renders (memory emptyDir), passed as `--config-path`. */
export const QDRANT_AUTH_CONFIG = '/run/qdrant-auth/config.yaml';
/**
 * The init container's shell: `service: {api_key: "<key>"}` from `QDRANT_API_KEY_FILE`, `\\` and
 * `"` escaped for a YAML double-quoted scalar, mode 0600.
 */
export const QDRANT_AUTH_SCRIPT = [
  'set -eu',
  'umask 077',
  'escaped=$(sed \'s/[\\\\"]/\\\\&/g\' "$QDRANT_API_KEY_FILE")',
  `printf 'service:\\n  api_key: "%s"\\n' "$escaped" > ${QDRANT_AUTH_CONFIG}`,
].join('\n');
export const QDRANT_GRPC_PORT = 6334;

export interface QdrantConnection {
  /** `http://<host>:6333` (not a secret). */
  readonly url: string;
  /** Secret key with the API key (sent as the `api-key` header). */
  readonly apiKeySecret: SecretKeyRef;
  /** HTTP endpoint; `grpc` the gRPC one. */
  readonly endpoint: Endpoint;
  readonly grpc: Endpoint;
}

/**
 * Qdrant alerts (the component ships its own), on `up` of the ServiceMonitor's job (the Service
 * name) and the metrics above: down; started in recovery mode (killed during initialisation: only
 * collection deletes are allowed, tools/entrypoint.sh); more than 5 % of REST responses 5xx.
 */
export function qdrantAlerts(name: string, namespace: string, runbookUrl: string, concerns: readonly string[] = []): AlertRule[] {
  const sel = `job="${name}",namespace="${namespace}"`;
  return [
    {
      alert: 'QdrantDown',
      expr: `(max(up{${sel}}) or vector(0)) == 0`,
      for: '5m',
      severity: 'critical',
      summary: `Qdrant ${namespace}/${name} is down`,
      description: `Prometheus cannot scrape Qdrant ${namespace}/${name} (or no target exists, or the API key it sends is rejected): vector search fails. Check the pod, its PVC and its events.`,
      runbookUrl,
      concerns,
    },
    {
      alert: 'QdrantRecoveryMode',
      expr: `max(app_status_recovery_mode{${sel}}) == 1`,
      for: '1m',
      severity: 'critical',
      summary: `Qdrant ${namespace}/${name} runs in recovery mode`,
      description: `Qdrant was killed during initialisation (the init marker is missing) and restarted in recovery mode: only collection deletes are allowed. Find the collection that fails to load in the log, delete or restore it from a snapshot, then restart the pod.`,
      runbookUrl,
      concerns,
    },
    {
      alert: 'QdrantRestErrors',
      expr: `sum(rate(rest_responses_total{${sel},status=~"5.."}[5m])) / sum(rate(rest_responses_total{${sel}}[5m])) > 0.05`,
      for: '10m',
      severity: 'warning',
      summary: `Qdrant ${namespace}/${name}: more than 5 % of REST responses are server errors`,
      description: `Look at the Qdrant log for the failing endpoints (rest_responses_total by endpoint and status): out of memory, a full disk, or a corrupted segment.`,
      runbookUrl,
      concerns,
    },
  ];
}

export interface QdrantProps {
  /** @default qdrant */
  readonly name?: string;
  readonly namespace: string;
  readonly image: string;
  readonly apiKeySecret: SecretKeyRef;
  readonly clients: readonly ClientRef[];
  /** Where Prometheus runs (admitted on the HTTP port, which serves /metrics). @default monitoring */
  readonly monitoringNamespace?: string;
  /** `key=value` selecting the ServiceMonitor and PrometheusRule into Prometheus. @default release=prometheus */
  readonly prometheusSelector?: string;
  /** Runbook URL of the alerts (`qdrantAlerts`, PrometheusRule `<name>`). @default none: scraped, no alerts */
  readonly runbookUrl?: string;
  /** Must be 1. @default 1 */
  readonly replicas?: number;
  /** @default 10Gi */
  readonly storageSize?: string;
  /** @default the cluster default */
  readonly storageClassName?: string;
  /** @default 250m/1 CPU, 1Gi/1Gi memory */
  readonly resources?: WorkloadResources;
  /** @default none */
  readonly concerns?: readonly string[];
}

export class Qdrant extends Construct {
  readonly store: StatefulStore;
  readonly serviceMonitor: ServiceMonitor;
  readonly rules?: PrometheusRules;
  private readonly apiKeySecret: SecretKeyRef;
  constructor(scope: Construct, id: string, props: QdrantProps) {
    super(scope, id);
    const C = 'Qdrant';
    const name = props.name ?? 'qdrant';
    const replicas = props.replicas ?? 1;
    if (replicas !== 1) throw new ComponentError(C, name, 'replicas', 'must be 1: distributed mode is not implemented; use an external Qdrant for HA', replicas);
    this.apiKeySecret = props.apiKeySecret;
    this.store = new StatefulStore(
      this,
      'Store',
      {
        name,
        namespace: props.namespace,
        runAsUser: 1000,
        clients: props.clients,
        metrics: { namespace: props.monitoringNamespace ?? 'monitoring', port: 'http' },
        terminationGracePeriodSeconds: 60,
        emptyDirs: [{ name: 'init', sizeLimit: '1Mi' }, { name: 'tmp', sizeLimit: '256Mi' }, { name: 'auth', sizeLimit: '1Mi', medium: 'Memory' }],
        secrets: [{ name: 'api-key', items: [{ secret: props.apiKeySecret.name, key: props.apiKeySecret.key, path: 'api-key' }] }],
        initContainers: [
          secretRenderInit({ image: props.image, script: QDRANT_AUTH_SCRIPT, env: { QDRANT_API_KEY_FILE }, outDir: '/run/qdrant-auth', secretVolume: 'api-key', secretDir: '/run/secrets/qdrant' }),
        ],
        volumeClaims: [{ name: 'storage', size: props.storageSize ?? '10Gi', ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}) }],
        container: {
          name: 'qdrant',
          image: props.image,
          // The image's CMD (Dockerfile: APP=/qdrant, CMD ./entrypoint.sh, which passes its arguments to ./qdrant) with the rendered config.
          command: ['/qdrant/entrypoint.sh', '--config-path', QDRANT_AUTH_CONFIG],
          env: {
            QDRANT__SERVICE__HTTP_PORT: String(QDRANT_HTTP_PORT),
            QDRANT__SERVICE__GRPC_PORT: String(QDRANT_GRPC_PORT),
            QDRANT__STORAGE__STORAGE_PATH: '/qdrant/storage',
            QDRANT__STORAGE__SNAPSHOTS_PATH: '/qdrant/storage/snapshots',
            QDRANT__TELEMETRY_DISABLED: 'true',
            QDRANT_INIT_FILE_PATH: '/qdrant/init/.qdrant-initialized',
          },
          ports: [
            { name: 'http', port: QDRANT_HTTP_PORT },
            { name: 'grpc', port: QDRANT_GRPC_PORT },
          ],
          liveness: { http: { path: '/livez', port: QDRANT_HTTP_PORT } },
          readiness: { http: { path: '/readyz', port: QDRANT_HTTP_PORT } },
          startupSeconds: 300,
          resources: props.resources ?? { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi' },
          mounts: [
            { volume: 'storage', path: '/qdrant/storage' },
            { volume: 'init', path: '/qdrant/init' },
            { volume: 'auth', path: '/run/qdrant-auth', readOnly: true },
            { volume: 'tmp', path: '/tmp' },
          ],
        },
        concerns: props.concerns ?? [],
      },
      C,
    );
    const concerns = props.concerns ?? [];
    this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
      name,
      namespace: props.namespace,
      selector: this.store.serviceSelector, // the client Service only: the headless one has the same port (one target per Pod)
      port: 'http',
      bearerToken: { secretName: props.apiKeySecret.name, key: props.apiKeySecret.key },
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns: ['X-8', ...concerns],
    });
    this.rules = storeAlertRules(this, C, { ...props, name, concerns }, (runbookUrl) => qdrantAlerts(name, props.namespace, runbookUrl, concerns));
  }

  connection(): QdrantConnection {
    return { url: `http://${this.store.host}:${QDRANT_HTTP_PORT}`, apiKeySecret: this.apiKeySecret, endpoint: this.store.endpoint('http'), grpc: this.store.endpoint('grpc') };
  }
}

export interface ExternalQdrantProps extends ExternalStoreProps {
  /** @default qdrant */
  readonly name?: string;
  /** @default 6333 */
  readonly port?: number;
  /** @default false (http) */
  readonly tls?: boolean;
  readonly apiKeySecret: SecretKeyRef;
}

/** External Qdrant over HTTP only (the gRPC port is not opened). */
export class ExternalQdrant extends ExternalStore<ExternalQdrantProps> {
  constructor(scope: Construct, id: string, props: ExternalQdrantProps) {
    super(scope, id, props, { component: 'ExternalQdrant', name: 'qdrant', port: QDRANT_HTTP_PORT });
  }

  connection(): QdrantConnection {
    const e = this.external.endpoint;
    return { url: `${this.props.tls ? 'https' : 'http'}://${e.host}:${e.port}`, apiKeySecret: this.props.apiKeySecret, endpoint: e, grpc: e };
  }
}

/**
 * MinIO object storage (AION-2 data service; AION-13 for the multipart clean-up) on the
 * hardened StatefulSet base, or any external S3-compatible endpoint.
 *
 * - Image: MinIO's community edition became source-only in October 2025 (the security release
 *   RELEASE.2025-10-15T17-29-55Z shipped without an image), the Docker Hub `minio/*`
 *   repositories were later removed, and the project was archived. `quay.io/minio/minio` is
 *   MinIO's own registry and still serves the last published release, so that is the default
 *   here; it will never get fixes. Production stacks should point `repository`/`digest` at an
 *   image built from a pinned source tag into the mirror registry (stack config), or use an
 *   external S3 service. `MINIO_IMAGE`/`MC_IMAGE` only name the fallback.
 * - Single drive, single node (`minio server /data`). Distributed mode (erasure sets across 4+
 *   pods) is not implemented: `replicas > 1` is a ComponentError.
 * - Root credentials from Secret keys (`MINIO_ROOT_USER`, `MINIO_ROOT_PASSWORD`).
 * - Incomplete multipart uploads (AION-13): MinIO ignores `AbortIncompleteMultipartUpload` in a
 *   lifecycle (it drops the element on import); the server aborts uploads older than
 *   `MINIO_API_STALE_UPLOADS_EXPIRY` instead, set here from `abortIncompleteUploadsAfterHours`
 *   (@default 72). The lifecycle Job still sends the element, for external S3 targets.
 * - Probes: liveness `/minio/health/live`, readiness `/minio/health/ready`.
 */
import { Construct } from 'constructs';
import { ComponentError } from './meta.js';
import { PrometheusRules, ServiceMonitor, type AlertRule } from './monitoring.js';
import { ExternalStore, StatefulStore, type ClientRef, type ExternalStoreProps, type Endpoint, type SecretKeyRef } from './stateful.js';
import type { WorkloadResources } from './workload.js';
import type { ImageRef } from '../kube/image.js';

/** The last community image MinIO published (September 2025), from MinIO's own quay.io registry; see the file comment. */
export const MINIO_IMAGE: ImageRef = { repository: 'quay.io/minio/minio', tag: 'RELEASE.2025-09-07T16-13-09Z' };
/** The MinIO client for lifecycle Jobs, same registry and era as MINIO_IMAGE. */
export const MC_IMAGE: ImageRef = { repository: 'quay.io/minio/mc', tag: 'RELEASE.2025-08-13T08-35-41Z' };
export const MINIO_PORT = 9000;
/** Where the root credentials are mounted (read-only files). */
export const MINIO_SECRETS_DIR = '/run/secrets/minio';

export interface MinioConnection {
  /** `http(s)://<host>:<port>` (not a secret). */
  readonly url: string;
  readonly accessKeySecret: SecretKeyRef;
  readonly secretKeySecret: SecretKeyRef;
  readonly endpoint: Endpoint;
}

export interface MinioProps {
  /** @default minio */
  readonly name?: string;
  readonly namespace: string;
  readonly image: string;
  /** Secret keys of the root user (also what the lifecycle Job uses). */
  readonly rootUser: SecretKeyRef;
  readonly rootPassword: SecretKeyRef;
  readonly clients: readonly ClientRef[];
  /** Must be 1. @default 1 */
  readonly replicas?: number;
  /** @default 20Gi */
  readonly storageSize?: string;
  /** @default the cluster default */
  readonly storageClassName?: string;
  /** Abort multipart uploads older than this (AION-13), 24–720 h. @default 72 */
  readonly abortIncompleteUploadsAfterHours?: number;
  /** @default 250m/1 CPU, 512Mi/1Gi memory */
  readonly resources?: WorkloadResources;
  /** @default none */
  readonly concerns?: readonly string[];
  /** Where Prometheus runs (allowed in on 9000 for the metrics paths). @default monitoring */
  readonly monitoringNamespace?: string;
  /** Label selecting the ServiceMonitors and rules into Prometheus. @default release=prometheus */
  readonly prometheusSelector?: string;
  /** Runbook URL of the alerts (`MinioDown`, `MinioCapacityLow`); without it no alerts are rendered. @default none */
  readonly runbookUrl?: string;
}

/**
 * MinIO's own Prometheus metrics (v2; no exporter): `/minio/v2/metrics/cluster` (S3 requests,
 * errors, capacity, ILM: `minio_s3_requests_total`, `minio_cluster_capacity_usable_*`,
 * `minio_node_ilm_expiry_pending_tasks`) and `/minio/v2/metrics/bucket` (`minio_bucket_usage_*`),
 * minio cmd/metrics-router.go. `MINIO_PROMETHEUS_AUTH_TYPE=public` serves them without a token;
 * the NetworkPolicy admits only the monitoring namespace besides the clients.
 */
export const MINIO_METRICS_PATHS = ['/minio/v2/metrics/cluster', '/minio/v2/metrics/bucket'] as const;

/** The MinIO alerts (kube-prometheus mixin style: the component ships them) for the Service `name` in `namespace`. */
export function minioAlerts(name: string, namespace: string, runbookUrl: string): AlertRule[] {
  const sel = `job="${name}",namespace="${namespace}"`;
  return [
    {
      alert: 'MinioDown',
      expr: `(max(up{${sel}}) or on() vector(0)) == 0`,
      for: '5m',
      severity: 'critical',
      summary: `MinIO ${namespace}/${name} is down or not scraped`,
      description: 'No MinIO target answers its metrics scrape: the object store (and every backup written to it) is unavailable, or Prometheus lost the target.',
      runbookUrl,
      labels: { namespace },
    },
    {
      alert: 'MinioCapacityLow',
      expr: `sum(minio_cluster_capacity_usable_free_bytes{${sel}}) / sum(minio_cluster_capacity_usable_total_bytes{${sel}}) < 0.1`,
      for: '15m',
      severity: 'warning',
      summary: `MinIO ${namespace}/${name} has less than 10 % usable capacity left`,
      description: 'When the drive is full MinIO refuses writes (uploads and backups fail). Check retention and the lifecycle rules, or grow the volume.',
      runbookUrl,
      labels: { namespace },
    },
  ];
}

export class Minio extends Construct {
  readonly serviceMonitors: readonly ServiceMonitor[];
  readonly rules?: PrometheusRules;
  readonly store: StatefulStore;
  private readonly props: MinioProps;
  constructor(scope: Construct, id: string, props: MinioProps) {
    super(scope, id);
    const C = 'Minio';
    const name = props.name ?? 'minio';
    const replicas = props.replicas ?? 1;
    if (replicas !== 1) throw new ComponentError(C, name, 'replicas', 'must be 1: distributed (erasure-coded) mode is not implemented; use an external S3 service for HA', replicas);
    const abortHours = props.abortIncompleteUploadsAfterHours ?? 72;
    if (!Number.isInteger(abortHours) || abortHours < 24 || abortHours > 720) {
      throw new ComponentError(C, name, 'abortIncompleteUploadsAfterHours', 'must be an integer 24–720', abortHours);
    }
    this.props = props;
    this.store = new StatefulStore(
      this,
      'Store',
      {
        name,
        namespace: props.namespace,
        runAsUser: 1000,
        clients: props.clients,
        metrics: { namespace: props.monitoringNamespace ?? 'monitoring', port: 's3' },
        terminationGracePeriodSeconds: 60,
        emptyDirs: [{ name: 'tmp', sizeLimit: '256Mi' }],
        secrets: [
          {
            name: 'root',
            items: [
              { secret: props.rootUser.name, key: props.rootUser.key, path: 'root-user' },
              { secret: props.rootPassword.name, key: props.rootPassword.key, path: 'root-password' },
            ],
          },
        ],
        volumeClaims: [{ name: 'data', size: props.storageSize ?? '20Gi', ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}) }],
        container: {
          name: 'minio',
          image: props.image,
          command: ['minio', 'server', '/data', '--address', `:${MINIO_PORT}`, '--console-address', ':9001', '--certs-dir', '/tmp/certs'],
          env: {
            HOME: '/tmp',
            // Issue 14 item 17: root credentials as files. minio reads MINIO_ROOT_USER_FILE /
            // MINIO_ROOT_PASSWORD_FILE (cmd/common-main.go loadEnvVarsFromFiles, readFromSecret: an
            // absolute path is read as is; the value is trimmed).
            MINIO_ROOT_USER_FILE: `${MINIO_SECRETS_DIR}/root-user`,
            MINIO_ROOT_PASSWORD_FILE: `${MINIO_SECRETS_DIR}/root-password`,
            MINIO_API_STALE_UPLOADS_EXPIRY: `${abortHours}h`,
            MINIO_API_STALE_UPLOADS_CLEANUP_INTERVAL: '6h',
            MINIO_BROWSER: 'off',
            // The metrics paths without a token: only Prometheus' namespace is let in besides the clients.
            MINIO_PROMETHEUS_AUTH_TYPE: 'public',
            MINIO_UPDATE: 'off',
          },
          ports: [{ name: 's3', port: MINIO_PORT }],
          liveness: { http: { path: '/minio/health/live', port: MINIO_PORT } },
          readiness: { http: { path: '/minio/health/ready', port: MINIO_PORT } },
          startupSeconds: 120,
          resources: props.resources ?? { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '512Mi', memoryLimit: '1Gi' },
          mounts: [
            { volume: 'data', path: '/data' },
            { volume: 'tmp', path: '/tmp' },
            { volume: 'root', path: MINIO_SECRETS_DIR, readOnly: true },
          ],
        },
        concerns: props.concerns ?? [],
      },
      C,
    );
    const concerns = ['X-8', ...(props.concerns ?? [])];
    this.serviceMonitors = MINIO_METRICS_PATHS.map(
      (path) =>
        new ServiceMonitor(this, `ServiceMonitor-${path.split('/').pop()}`, {
          name: `${name}-${path.split('/').pop()}`,
          namespace: props.namespace,
          selector: this.store.selector,
          port: 's3',
          path,
          ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
          concerns,
        }),
    );
    if (props.runbookUrl !== undefined) {
      this.rules = new PrometheusRules(this, 'Rules', {
        name,
        namespace: props.namespace,
        rules: minioAlerts(name, props.namespace, props.runbookUrl),
        ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
        concerns,
      });
    }
  }

  connection(): MinioConnection {
    return { url: `http://${this.store.host}:${MINIO_PORT}`, accessKeySecret: this.props.rootUser, secretKeySecret: this.props.rootPassword, endpoint: this.store.endpoint() };
  }
}

export interface ExternalMinioProps extends ExternalStoreProps {
  /** @default minio */
  readonly name?: string;
  /** @default 443 */
  readonly port?: number;
  /** @default true (https) */
  readonly tls?: boolean;
  readonly accessKeySecret: SecretKeyRef;
  readonly secretKeySecret: SecretKeyRef;
}

/** External MinIO or any S3-compatible service. */
export class ExternalMinio extends ExternalStore<ExternalMinioProps> {
  constructor(scope: Construct, id: string, props: ExternalMinioProps) {
    super(scope, id, props, { component: 'ExternalMinio', name: 'minio', port: 443 });
  }

  connection(): MinioConnection {
    const e = this.external.endpoint;
    return { url: `${(this.props.tls ?? true) ? 'https' : 'http'}://${e.host}:${e.port}`, accessKeySecret: this.props.accessKeySecret, secretKeySecret: this.props.secretKeySecret, endpoint: e };
  }
}

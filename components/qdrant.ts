/**
 * Qdrant vector database (AION-2 data service) on the hardened StatefulSet base, or external.
 *
 * - The upstream `-unprivileged` image (UID 1000): the plain image runs as root.
 * - API key from a Secret (`QDRANT__SERVICE__API_KEY`); `/livez` and `/readyz` answer without
 *   it (Qdrant ≥ 1.5), so the probes carry no credential.
 * - Storage and snapshots on one PVC (`/qdrant/storage`, snapshots under it); the init marker
 *   file goes to an emptyDir via `QDRANT_INIT_FILE_PATH`, so the root FS stays read-only.
 * - Single node: Qdrant's distributed mode (Raft, `--bootstrap`) is not implemented;
 *   `replicas > 1` is a ComponentError.
 */
import { Construct } from 'constructs';
import { ComponentError } from './meta.js';
import { ExternalStore, StatefulStore, type ClientRef, type ExternalStoreProps, type Endpoint, type SecretKeyRef } from './stateful.js';
import type { WorkloadResources } from './workload.js';
import type { ImageRef } from '../kube/image.js';

/** qdrant v1.15.4-unprivileged, the upstream image from the Qdrant team: the non-root variant (UID 1000), so no policy exception is needed. */
export const QDRANT_IMAGE: ImageRef = { repository: 'docker.io/qdrant/qdrant', tag: 'v1.15.4-unprivileged' };
export const QDRANT_HTTP_PORT = 6333;
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

export interface QdrantProps {
  /** @default qdrant */
  readonly name?: string;
  readonly namespace: string;
  readonly image: string;
  readonly apiKeySecret: SecretKeyRef;
  readonly clients: readonly ClientRef[];
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
        terminationGracePeriodSeconds: 60,
        emptyDirs: [{ name: 'init', sizeLimit: '1Mi' }, { name: 'tmp', sizeLimit: '256Mi' }],
        volumeClaims: [{ name: 'storage', size: props.storageSize ?? '10Gi', ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}) }],
        container: {
          name: 'qdrant',
          image: props.image,
          env: {
            QDRANT__SERVICE__API_KEY: { secret: { name: props.apiKeySecret.name, key: props.apiKeySecret.key } },
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
            { volume: 'tmp', path: '/tmp' },
          ],
        },
        concerns: props.concerns ?? [],
      },
      C,
    );
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

/**
 * AION data plane (runbook 004: "Deploy data services", Backups, Redis & Kafka recovery, MinIO
 * lifecycle, ClickHouse TTL, Retention). Built by services/aion.ts. Work in progress.
 */
import type { Chart } from 'cdk8s';
import type { Rule } from '../components/network-policy.js';
import type { EnvValue } from '../components/workload.js';
import type { BuildContext } from './types.js';

/** The AION workloads that use the data services, by name (their `app.kubernetes.io/name` label). */
export interface AionClients {
  readonly gateway: string;
  readonly controlPlane: string;
  readonly modules: readonly string[];
}

/** What each AION workload gets from the data plane. */
export interface AionDataPlane {
  /** Env vars (connection URLs from Secrets, DB indexes, TTLs, topic names) per workload kind. */
  readonly env: {
    readonly gateway: Readonly<Record<string, EnvValue>>;
    readonly controlPlane: Readonly<Record<string, EnvValue>>;
    readonly modules: Readonly<Record<string, EnvValue>>;
  };
  /** Egress rules each workload kind needs to reach its stores. */
  readonly egress: {
    readonly gateway: readonly Rule[];
    readonly controlPlane: readonly Rule[];
    readonly modules: readonly Rule[];
  };
  /** Pod-template annotations (credential rotation versions) per workload kind. */
  readonly podAnnotations: {
    readonly gateway: Readonly<Record<string, string>>;
    readonly controlPlane: Readonly<Record<string, string>>;
    readonly modules: Readonly<Record<string, string>>;
  };
}

export function buildAionData(_chart: Chart, _ctx: BuildContext, _clients: AionClients): AionDataPlane {
  const none = { gateway: {}, controlPlane: {}, modules: {} };
  return { env: none, egress: { gateway: [], controlPlane: [], modules: [] }, podAnnotations: none };
}

/**
 * Application contracts: what an application really reads and exposes, taken from its upstream
 * code at a named commit, with a citation per entry. The runbooks summarise; the code is the truth
 * for interfaces. Each service has one contract file beside its module (`services/<svc>.contract.ts`),
 * the service renders from it, and the mandatory policy `app-contract` (policies/contract.ts)
 * checks every stack against it:
 * - every env var a container sets is one the app reads (or is marked `runbookOnly` with a reason);
 * - every `required` env var and config file is provided;
 * - every command/flag is one the binary accepts;
 * - container ports and probe paths/ports are ones the app serves;
 * - every metric (and label) an alert, scaler or dashboard of the service uses is one the app exposes.
 *
 * A workload opts in with the annotation `stackbook.io/contract: <service>/<workload>` (Workload's
 * `contract` prop); PrometheusRules and ScaledObjects of the app carry the same annotation with the
 * service name alone (`stackbook.io/contract: ope`).
 */

/** Where an entry was read: repository, commit, file and line (or a line range, `120-134`). */
export interface Citation {
  readonly file: string;
  readonly line?: number | string;
  /** @default the contract's `upstream.commit` */
  readonly commit?: string;
  /** What the line says, in a few words, when the file alone is not enough. @default none */
  readonly note?: string;
}

export interface EnvEntry {
  /** The app fails or misbehaves without it. @default false */
  readonly required?: boolean;
  /** The app's default when unset. @default none */
  readonly default?: string;
  readonly meaning: string;
  /** Where the app reads it. Absent only for `runbookOnly` entries. */
  readonly cite?: Citation;
  /**
   * The app does not read this variable, but we set it anyway (e.g. the runbook names it as an
   * operator-facing knob, or a sidecar reads it): the reason, which `check` reports.
   */
  readonly runbookOnly?: string;
  /** What the runbook said about this interface, when it disagrees with the code. @default none */
  readonly runbookSays?: string;
}

export interface FlagEntry {
  readonly meaning: string;
  readonly cite: Citation;
}

export interface CommandContract {
  /** Accepted `command` arrays' first element (e.g. `uvicorn`, `/usr/local/bin/oubliette`). */
  readonly entrypoints: readonly string[];
  /**
   * Flags the process accepts (`--workers`, `-dir`), looked up after stripping `=value`.
   * An arg starting with `-` that is not here is a violation. @default none accepted
   */
  readonly flags?: Readonly<Record<string, FlagEntry>>;
  readonly cite: Citation;
  readonly runbookSays?: string;
}

export interface ProbeEntry {
  readonly path: string;
  readonly port: number;
  /**
   * The Host header the app needs to answer 200 (e.g. a TrustedHost list): the kubelet sends the
   * pod IP. @default none needed
   */
  readonly hostHeader?: string;
  readonly cite: Citation;
}

export interface FileEntry {
  /** Absolute path in the container. */
  readonly path: string;
  readonly format: string;
  /** Top-level sections or keys the app reads. @default none listed */
  readonly sections?: readonly string[];
  /** The app exits or refuses to serve without it. @default false */
  readonly required?: boolean;
  readonly cite: Citation;
}

export interface WritablePathEntry {
  readonly path: string;
  readonly why: string;
  readonly cite: Citation;
}

export interface MetricEntry {
  /** prometheus_client naming: a counter `x` is exposed as `x_total`, a histogram as `x_bucket`/`x_sum`/`x_count`. */
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly labels: readonly string[];
  /** Histogram buckets' upper bounds, when a rule compares a quantile with a value. @default unknown */
  readonly buckets?: readonly number[];
  readonly cite: Citation;
}

export interface WorkloadContract {
  readonly command?: CommandContract;
  /** Ports the process listens on, by name (`http`, `grpc`, `metrics`). */
  readonly ports: Readonly<Record<string, { readonly port: number; readonly cite: Citation }>>;
  readonly probes?: readonly ProbeEntry[];
  readonly env?: Readonly<Record<string, EnvEntry>>;
  readonly files?: readonly FileEntry[];
  readonly writablePaths?: readonly WritablePathEntry[];
  /** The UID the image runs as / the app expects. @default not checked */
  readonly uid?: { readonly value: number; readonly cite: Citation };
  /** Secrets and the keys the app reads from them (as env or files). @default none */
  readonly secrets?: readonly { readonly what: string; readonly as: string; readonly cite: Citation }[];
}

export interface AppContract {
  /** Key under `stackbook:services` (`ope`, `oub`, …). */
  readonly service: string;
  readonly upstream: {
    readonly repo: string;
    /** The commit the contract was read at (the code). */
    readonly commit: string;
    /** The commit the runbook was taken from, when different. @default none */
    readonly runbookCommit?: string;
    /** Versions, layout changes at newer commits, and which one the stacks deploy. */
    readonly notes?: string;
  };
  /** By workload name (the Deployment/StatefulSet name, e.g. `ope`, `aion-gateway`). */
  readonly workloads: Readonly<Record<string, WorkloadContract>>;
  /**
   * How the client library names series: `python` (prometheus_client: counter `x` -> `x_total`,
   * histograms also `_created`) or `exact` (client_golang, prom-client: as registered).
   * @default python
   */
  readonly metricNaming?: 'python' | 'exact';
  /** Every metric family the app exposes, by name as registered in the code. */
  readonly metrics: Readonly<Record<string, MetricEntry>>;
  /**
   * Metrics the runbook names that the code does not expose: no alert or scaler may use them. Each
   * says which app change would enable it (reported by `check` and in PREREQUISITES.md).
   */
  readonly missingMetrics?: Readonly<Record<string, { readonly usedFor: string; readonly appChange: string }>>;
  /** Assumptions still relied on (read but unverifiable here). @default none */
  readonly assumptions?: readonly string[];
}

/** Annotation that links a rendered object to its contract: `<service>/<workload>` or `<service>` (kube/annotations.ts). */
export { CONTRACT_ANNOTATION } from '../kube/annotations.js';

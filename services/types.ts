import type { Construct } from 'constructs';
import type { PlatformImageName } from '../components/images.js';
import type { EnvValue } from '../components/workload.js';
import type { ImageRef, Stack } from '../stacks/schema.js';

/** A Secret that must exist for a workload; its value never enters a bundle. */
export interface SecretRequirement {
  readonly name: string;
  readonly namespace: string;
  readonly keys: readonly string[];
  /**
   * - `pulumi`: created by the Pulumi program (random value, or a Pulumi config secret), secret in state;
   * - `vault`: synchronised by external-secrets from Vault;
   * - `existing`: created out of band by the operator.
   */
  readonly source: 'pulumi' | 'vault' | 'existing';
  /** Workloads that read it. */
  readonly consumers: readonly string[];
  /**
   * For `pulumi`: per key, generate a random value of this length, read this `stackbook:` config
   * secret, or build it from other keys (`{ template: 'redis://:{password}@redis.ns.svc:6379' }`,
   * each `{key}` URL-encoded).
   */
  readonly pulumi?: Readonly<Record<string, { readonly randomLength: number } | { readonly configKey: string } | { readonly template: string }>>;
  /**
   * For `vault`: the Vault path including the KV mount (e.g. `secret/omertaos/hooks`), the Vault
   * property per key (@default the key's name) and the refresh interval (@default 1h).
   */
  readonly vault?: {
    readonly path: string;
    readonly properties?: Readonly<Record<string, string>>;
    readonly refreshInterval?: string;
  };
  /** Rotation counter: consumers' pods roll when it changes (`stackbook:secretSources.<name>.version`). @default 1 */
  readonly version?: number;
  /** Catalog concerns traced on what the bundle carries for it (the ExternalSecret), e.g. AION-11. @default none */
  readonly concerns?: readonly string[];
}

/** What a service gets back for a declared Secret: the resolved requirement and how to consume it. */
export interface SecretHandle {
  /** The requirement after the stack's `secretSources` override (source, vault path, version). */
  readonly requirement: SecretRequirement;
  /** Pod-template annotations for the consumers (`rotation.stackbook.io/secret-<name>: "<version>"`). */
  readonly annotations: Readonly<Record<string, string>>;
  /** An env var reading one declared key. */
  env(key: string): EnvValue;
}

/** An image a stack deploys: where it comes from and what the manifests reference. */
export interface ImageUse {
  readonly source: string;
  readonly reference: string;
  readonly digest?: string;
}

export interface BuildContext {
  readonly stack: Stack;
  /** Resolve an image reference (digest-pinned; relocated to the mirror when air-gapped). */
  image(ref: ImageRef): string;
  /**
   * Resolve a platform image (Redis, an exporter, a data store, a backup tool) by name: the
   * default in components/images.ts, overridden by `stackbook:images.<name>` (repository, tag,
   * digest). Where digests are required a missing one is a config error at render.
   */
  platformImage(name: PlatformImageName): string;
  /** The environment's ClusterIssuer. */
  readonly clusterIssuer: string;
  /**
   * Declare a Secret the stack needs, with the source the service prefers; `stackbook:secretSources`
   * may override source, vault details and rotation version per stack. Consumers put
   * `handle.annotations` on their pod template and read keys with `handle.env(key)`.
   */
  requireSecret(req: SecretRequirement): SecretHandle;
  /** `<base>/<service>#<anchor>` for alert runbook links. */
  runbookUrl(service: string, anchor: string): string;
}

/** One runbook = one module. */
export interface ServiceModule {
  /** Key under `stackbook:services`. */
  readonly key: 'osc' | 'ows' | 'oub' | 'ope' | 'aion';
  /** Concern ID prefix in ../shared/runbooks/CONCERNS.md. */
  readonly prefix: 'OSC' | 'OWS' | 'OUB' | 'OPE' | 'AION';
  /** Runbook file name in ../shared/runbooks. */
  readonly runbook: string;
  /** *(app)* concerns: what the deployment provides for them (a line in the coverage report). */
  readonly appConcerns: Readonly<Record<string, string>>;
  /**
   * Concerns that cannot be deployed until the application changes (its upstream code lacks what
   * the runbook assumes): the evidence and the app change. `coverage` reports them as BLOCKED, never
   * as covered. @default none
   */
  readonly blockedConcerns?: Readonly<Record<string, string>>;
  /** Render the service into `scope`; called only when the service is enabled. */
  build(scope: Construct, ctx: BuildContext): void;
}

/**
 * Secrets: one abstraction, three sources. A workload reads a Secret by key; where the Secret comes
 * from is the stack's choice, and no value ever enters a bundle.
 *
 * | source     | who creates the Secret                                   | what the bundle carries          |
 * |------------|----------------------------------------------------------|----------------------------------|
 * | `pulumi`   | the Pulumi program (RandomPassword or a config secret)   | nothing (an entry in secrets.json) |
 * | `vault`    | external-secrets, from Vault through a ClusterSecretStore | an `ExternalSecret` (`external-secrets.io/v1`) |
 * | `existing` | the operator, out of band                                | nothing (an entry in secrets.json) |
 *
 * Rotation (OUB-15, AION-11): every Secret has a rotation `version` (a counter in stack config,
 * default 1). Consumers carry the pod-template annotation `rotation.stackbook.io/secret-<name>:
 * "<version>"`, so bumping the version rolls exactly the pods that read the Secret. Never a hash of
 * a value: the bundle must not depend on (or leak anything about) a secret value, and synth never
 * sees one. Per source:
 * - `pulumi`: the version is a `keepers` entry of each RandomPassword, so a bump also generates new
 *   random values; config-secret values change with `pulumi config set --secret` + a bump.
 * - `vault`: write the new value to Vault; external-secrets refreshes the Secret every
 *   `refreshInterval`. The bump changes the ExternalSecret's annotations (the controller reconciles
 *   on every change of the object, so it syncs at once) and rolls the consumers.
 * - `existing`: update the Secret, then bump the version.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { ComponentError, trace } from './meta.js';
import type { EnvValue } from './workload.js';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../kube/names.js';

export type SecretSourceKind = 'pulumi' | 'vault' | 'existing';
export const SECRET_SOURCES: readonly SecretSourceKind[] = ['pulumi', 'vault', 'existing'];

/** Prefix of the rotation annotations (pod templates, ExternalSecrets, Pulumi-owned Secrets). */
export const ROTATION_PREFIX = 'rotation.stackbook.io/';
/** Annotation carrying a Secret's own rotation version (on its ExternalSecret / Pulumi Secret). */
export const ROTATION_VERSION_ANNOTATION = `${ROTATION_PREFIX}version`;

/** Secret data keys (the API server's rule). */
export const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
/** A Vault path `mount/path...`: no leading/trailing slash, no empty or dot segments. */
export const VAULT_PATH = /^(?!\.{1,2}(\/|$))[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/(?!\.{1,2}(\/|$))[A-Za-z0-9_-][A-Za-z0-9_.-]*)+$/;
/** A Go duration made of hours, minutes and seconds, e.g. `1h`, `15m`, `1h30m`. */
export const DURATION = /^(\d+h)?(\d+m)?(\d+s)?$/;
/** Longest Secret name whose rotation annotation key (`secret-<name>`) stays a 63-character name. */
export const MAX_ROTATED_NAME = 63 - 'secret-'.length;

function positiveDuration(v: string): boolean {
  return v !== '' && DURATION.test(v) && /[1-9]/.test(v);
}

/** The pod-template annotation key for one Secret. */
export function rotationKey(secretName: string): string {
  return `${ROTATION_PREFIX}secret-${secretName}`;
}

/**
 * Pod-template annotations for the Secrets a workload reads: `rotation.stackbook.io/secret-<name>:
 * "<version>"`, keys sorted. Deterministic and free of secret values: only names and counters.
 */
export function rotationAnnotations(secrets: readonly { readonly name: string; readonly version?: number }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of [...secrets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const version = s.version ?? 1;
    if (!DNS_SUBDOMAIN.test(s.name) || s.name.length > MAX_ROTATED_NAME) {
      throw new ComponentError('rotationAnnotations', s.name, 'name', `must be a DNS name of at most ${MAX_ROTATED_NAME} characters`, s.name);
    }
    if (!Number.isInteger(version) || version < 1) throw new ComponentError('rotationAnnotations', s.name, 'version', 'must be an integer ≥ 1', version);
    const key = rotationKey(s.name);
    if (key in out) throw new ComponentError('rotationAnnotations', s.name, 'name', 'is listed twice');
    out[key] = String(version);
  }
  return out;
}

export interface VaultSource {
  /** Name of the ClusterSecretStore that reaches Vault. */
  readonly store: string;
  /** Vault path including the KV mount, e.g. `secret/omertaos/hooks` (external-secrets strips the mount and adds `data/` for KV v2). */
  readonly path: string;
  /** Vault property (field) per Secret key. @default each key reads the property of the same name */
  readonly properties?: Readonly<Record<string, string>>;
  /** How often external-secrets re-reads Vault (rotation latency). @default 1h */
  readonly refreshInterval?: string;
}

export interface ManagedSecretProps {
  /** Name of the Kubernetes Secret the workloads read. */
  readonly name: string;
  readonly namespace: string;
  /** The keys that must exist in it. */
  readonly keys: readonly string[];
  /** Who creates it: Pulumi, external-secrets from Vault, or the operator. */
  readonly source: SecretSourceKind;
  /** Required with source `vault`, refused otherwise. */
  readonly vault?: VaultSource;
  /** Rotation counter: bump it to roll every consumer. @default 1 */
  readonly version?: number;
  /** Catalog concerns carried by the ExternalSecret (e.g. AION-11). @default none */
  readonly concerns?: readonly string[];
}

/**
 * One Secret a stack needs. Renders what belongs in the bundle: for `vault` an `ExternalSecret`
 * (target Secret owned by it, one `data` entry per key), for `pulumi` and `existing` nothing.
 * Consumers take `annotations` (rotation) and `env(key)` (a `secretKeyRef`).
 */
export class ManagedSecret extends Construct {
  readonly name: string;
  readonly namespace: string;
  readonly keys: readonly string[];
  readonly source: SecretSourceKind;
  readonly version: number;
  /** The ExternalSecret, for source `vault`. */
  readonly externalSecret?: ApiObject;

  constructor(scope: Construct, id: string, props: ManagedSecretProps) {
    super(scope, id);
    const C = 'ManagedSecret';
    const n = props.name;
    if (!DNS_SUBDOMAIN.test(n) || n.length > MAX_ROTATED_NAME) throw new ComponentError(C, n, 'name', `must be a DNS name of at most ${MAX_ROTATED_NAME} characters`, n);
    if (!DNS_LABEL.test(props.namespace)) throw new ComponentError(C, n, 'namespace', 'must be a DNS label', props.namespace);
    if (!SECRET_SOURCES.includes(props.source)) throw new ComponentError(C, n, 'source', `must be one of ${SECRET_SOURCES.join(', ')}`, props.source);
    if (props.keys.length === 0) throw new ComponentError(C, n, 'keys', 'must name at least one key', props.keys);
    const seen = new Set<string>();
    for (const k of props.keys) {
      if (!SECRET_KEY.test(k) || k.length > 253) throw new ComponentError(C, n, 'keys', 'must be Secret keys ([-._a-zA-Z0-9])', k);
      if (seen.has(k)) throw new ComponentError(C, n, 'keys', 'has a duplicate key', k);
      seen.add(k);
    }
    const version = props.version ?? 1;
    if (!Number.isInteger(version) || version < 1) throw new ComponentError(C, n, 'version', 'must be an integer ≥ 1', version);
    if (props.source !== 'vault' && props.vault !== undefined) {
      throw new ComponentError(C, n, 'vault', `is only for source vault (source is ${props.source})`, props.vault.path);
    }
    this.name = n;
    this.namespace = props.namespace;
    this.keys = [...props.keys].sort();
    this.source = props.source;
    this.version = version;
    if (props.source !== 'vault') return;

    const v = props.vault;
    if (v === undefined) throw new ComponentError(C, n, 'vault', 'is required with source vault (store and path)');
    if (!DNS_SUBDOMAIN.test(v.store)) throw new ComponentError(C, n, 'vault.store', 'must name a ClusterSecretStore', v.store);
    if (!VAULT_PATH.test(v.path)) throw new ComponentError(C, n, 'vault.path', 'must be a Vault path such as secret/omertaos/hooks (mount/path, no leading or trailing slash)', v.path);
    const refreshInterval = v.refreshInterval ?? '1h';
    if (!positiveDuration(refreshInterval)) throw new ComponentError(C, n, 'vault.refreshInterval', 'must be a positive duration such as 1h or 15m', refreshInterval);
    const properties = v.properties ?? {};
    for (const [k, p] of Object.entries(properties)) {
      if (!seen.has(k)) throw new ComponentError(C, n, `vault.properties.${k}`, `is not one of the keys (${this.keys.join(', ')})`, p);
      if (p.trim() === '') throw new ComponentError(C, n, `vault.properties.${k}`, 'must name a Vault property', p);
    }
    this.externalSecret = new ApiObject(this, 'ExternalSecret', {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ExternalSecret',
      metadata: { name: n, namespace: props.namespace, annotations: { [ROTATION_VERSION_ANNOTATION]: String(version) } },
      spec: {
        refreshInterval,
        secretStoreRef: { kind: 'ClusterSecretStore', name: v.store },
        // Owner: the Secret is garbage-collected with its ExternalSecret; Retain: a value deleted
        // in Vault does not delete the Secret the pods are running with.
        target: { name: n, creationPolicy: 'Owner', deletionPolicy: 'Retain' },
        data: this.keys.map((k) => ({ secretKey: k, remoteRef: { key: v.path, property: properties[k] ?? k } })),
      },
    });
    if (props.concerns && props.concerns.length > 0) trace(this.externalSecret, ...props.concerns);
  }

  /** The pod-template annotation that rolls consumers when the version changes. */
  get annotations(): Record<string, string> {
    return rotationAnnotations([{ name: this.name, version: this.version }]);
  }

  /** An env var reading one key of this Secret. */
  env(key: string): EnvValue {
    if (!this.keys.includes(key)) throw new ComponentError('ManagedSecret', this.name, 'env', `reads an undeclared key (declared: ${this.keys.join(', ')})`, key);
    return { secret: { name: this.name, key } };
  }
}

export interface VaultStoreProps {
  /** ClusterSecretStore name. @default vault */
  readonly name?: string;
  /** Vault address, e.g. `https://vault.corp.internal:8200`. https only. */
  readonly server: string;
  /** KV secrets engine mount. @default secret */
  readonly mountPath?: string;
  /** KV engine version. @default v2 */
  readonly kvVersion?: 'v1' | 'v2';
  /** Vault Enterprise namespace. @default none */
  readonly vaultNamespace?: string;
  /** Kubernetes auth method. */
  readonly auth: {
    /** Vault role bound to the service account. */
    readonly role: string;
    /** Where the Kubernetes auth method is mounted. @default kubernetes */
    readonly mountPath?: string;
    /** ServiceAccount whose token logs in. @default the external-secrets controller's own */
    readonly serviceAccount?: { readonly name: string; readonly namespace: string; readonly audiences?: readonly string[] };
  };
  /** CA bundle that signs the Vault server certificate. @default the controller's trust store */
  readonly ca?: { readonly kind: 'ConfigMap' | 'Secret'; readonly name: string; readonly namespace: string; readonly key: string };
  /** The only namespaces whose ExternalSecrets may use this store (least privilege). */
  readonly namespaces: readonly string[];
  /** @default none */
  readonly concerns?: readonly string[];
}

/** A ClusterSecretStore for Vault (KV, Kubernetes auth), restricted to the namespaces that need it. */
export class VaultSecretStore extends Construct {
  readonly name: string;
  readonly object: ApiObject;
  constructor(scope: Construct, id: string, props: VaultStoreProps) {
    super(scope, id);
    const C = 'VaultSecretStore';
    const name = props.name ?? 'vault';
    if (!DNS_SUBDOMAIN.test(name)) throw new ComponentError(C, name, 'name', 'must be a DNS name', name);
    let url: URL | undefined;
    try {
      url = new URL(props.server);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.protocol !== 'https:' || url.username !== '' || url.password !== '') {
      throw new ComponentError(C, name, 'server', 'must be an https:// URL without credentials', props.server);
    }
    const mountPath = props.mountPath ?? 'secret';
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/.test(mountPath)) {
      throw new ComponentError(C, name, 'mountPath', 'must be a Vault mount path such as secret', mountPath);
    }
    const kvVersion = props.kvVersion ?? 'v2';
    if (kvVersion !== 'v1' && kvVersion !== 'v2') throw new ComponentError(C, name, 'kvVersion', 'must be v1 or v2', kvVersion);
    if (props.auth.role.trim() === '') throw new ComponentError(C, name, 'auth.role', 'must name a Vault role', props.auth.role);
    const authMount = props.auth.mountPath ?? 'kubernetes';
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_./-]*$/.test(authMount)) throw new ComponentError(C, name, 'auth.mountPath', 'must be a Vault auth mount path', authMount);
    const sa = props.auth.serviceAccount;
    if (sa && (!DNS_SUBDOMAIN.test(sa.name) || !DNS_LABEL.test(sa.namespace))) {
      throw new ComponentError(C, name, 'auth.serviceAccount', 'must name a ServiceAccount and its namespace', `${sa.namespace}/${sa.name}`);
    }
    const ca = props.ca;
    if (ca) {
      if (ca.kind !== 'ConfigMap' && ca.kind !== 'Secret') throw new ComponentError(C, name, 'ca.kind', 'must be ConfigMap or Secret', ca.kind);
      if (!DNS_SUBDOMAIN.test(ca.name) || !DNS_LABEL.test(ca.namespace)) throw new ComponentError(C, name, 'ca', 'must name the object and its namespace', `${ca.namespace}/${ca.name}`);
      if (!SECRET_KEY.test(ca.key)) throw new ComponentError(C, name, 'ca.key', 'must be a data key', ca.key);
    }
    if (props.namespaces.length === 0) throw new ComponentError(C, name, 'namespaces', 'must list the namespaces allowed to use the store', props.namespaces);
    for (const ns of props.namespaces) if (!DNS_LABEL.test(ns)) throw new ComponentError(C, name, 'namespaces', 'must be DNS labels', ns);

    this.name = name;
    this.object = new ApiObject(this, 'Resource', {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ClusterSecretStore',
      metadata: { name },
      spec: {
        // Without conditions every namespace could read Vault through this store.
        conditions: [{ namespaces: [...new Set(props.namespaces)].sort() }],
        provider: {
          vault: {
            server: props.server,
            path: mountPath,
            version: kvVersion,
            ...(props.vaultNamespace ? { namespace: props.vaultNamespace } : {}),
            ...(ca ? { caProvider: { type: ca.kind, name: ca.name, namespace: ca.namespace, key: ca.key } } : {}),
            auth: {
              kubernetes: {
                mountPath: authMount,
                role: props.auth.role,
                ...(sa
                  ? {
                      serviceAccountRef: {
                        name: sa.name,
                        namespace: sa.namespace,
                        ...(sa.audiences && sa.audiences.length > 0 ? { audiences: [...sa.audiences] } : {}),
                      },
                    }
                  : {}),
              },
            },
          },
        },
      },
    });
    if (props.concerns && props.concerns.length > 0) trace(this.object, ...props.concerns);
  }
}

/** What `secrets.json` lists for one Secret: where it comes from and who reads it, never a value. */
export interface SecretListing {
  readonly name: string;
  readonly namespace: string;
  readonly keys: string[];
  readonly source: SecretSourceKind;
  readonly consumers: string[];
  readonly version: number;
  readonly vault?: { readonly path: string; readonly properties: Record<string, string> };
}

/** The `secrets.json` entry of a requirement (keys sorted; vault path and key → property map for vault). */
export function secretListing(req: {
  readonly name: string;
  readonly namespace: string;
  readonly keys: readonly string[];
  readonly source: SecretSourceKind;
  readonly consumers: readonly string[];
  readonly version?: number;
  readonly vault?: { readonly path: string; readonly properties?: Readonly<Record<string, string>> };
}): SecretListing {
  const keys = [...req.keys].sort();
  return {
    name: req.name,
    namespace: req.namespace,
    keys,
    source: req.source,
    consumers: [...req.consumers].sort(),
    version: req.version ?? 1,
    ...(req.source === 'vault' && req.vault
      ? { vault: { path: req.vault.path, properties: Object.fromEntries(keys.map((k) => [k, req.vault!.properties?.[k] ?? k])) } }
      : {}),
  };
}

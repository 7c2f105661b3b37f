/**
 * Cosign signature admission (X-7; AION-4, OSC-16): a sigstore policy-controller
 * `ClusterImagePolicy` (policy.sigstore.dev/v1beta1) that admits an image into an opted-in
 * namespace (label `policy.sigstore.dev/include: "true"`) only when a cosign signature made by one
 * of the configured keys verifies.
 *
 * Offline by construction: every authority is a `key` authority with the PEM public key inline
 * (`key.data`) and NO `ctlog`, `keyless` or `rfc3161timestamp` block. policy-controller then sets
 * `SkipTlogVerify` (no Rekor lookup), needs no Fulcio roots and no TUF metadata for this policy
 * (pkg/webhook/validator.go `checkOptsFromAuthority`); the signature itself is read from the
 * registry (the mirror, in an air-gapped cluster) next to the image. Sign with
 * `cosign sign --key ... --tlog-upload=false` accordingly.
 *
 * An image passes when ANY one authority verifies it (policy-controller semantics), so a key
 * rotation lists the old and the new key until every image is re-signed.
 */
import { createPublicKey } from 'node:crypto';
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { ComponentError, trace } from './meta.js';
import { DNS_LABEL } from '../kube/names.js';

/** Namespace label that makes policy-controller's admission webhooks look at a namespace. */
export const IMAGE_POLICY_INCLUDE_LABEL = 'policy.sigstore.dev/include';
/**
 * Construct-context key (set on the cdk8s App before any chart is added, by synth/render.ts):
 * `true` when the stack renders a ClusterImagePolicy, so Namespaces opt in by default.
 */
export const IMAGE_POLICY_CONTEXT = 'stackbook.io/image-policy';

/**
 * Images an operator injects into pods of opted-in namespaces, which no rendered object names
 * (policy-controller still admits every pod there against the policies):
 * - `cloudnative-pg`: the operator's own image, run as the `bootstrap-controller` init container of
 *   every instance pod (CloudNativePG v1.30.0, the version of ../shared/crds/cloudnative-pg);
 * - `strimzi-operator`: the entity operator pod's topic and user operators (Strimzi 1.2.0,
 *   `STRIMZI_DEFAULT_TOPIC_OPERATOR_IMAGE` / `STRIMZI_DEFAULT_USER_OPERATOR_IMAGE` of the cluster operator);
 * - `cert-manager-acmesolver`: the HTTP-01 solver pod, created in the Certificate's namespace
 *   (cert-manager v1.21.1; flag `--acme-http01-solver-image`, cert-manager cmd/controller/app/options/options.go:106,
 *   default quay.io/jetstack/cert-manager-acmesolver, internal/apis/config/controller/v1alpha1/defaults.go:94 at 2d0d7f7f).
 */
export const OPERATOR_IMAGES = {
  'cloudnative-pg': { repository: 'ghcr.io/cloudnative-pg/cloudnative-pg', tag: '1.30.0' },
  'strimzi-operator': { repository: 'quay.io/strimzi/operator', tag: '1.2.0' },
  'cert-manager-acmesolver': { repository: 'quay.io/jetstack/cert-manager-acmesolver', tag: 'v1.21.1' },
} as const;
export type OperatorImageName = keyof typeof OPERATOR_IMAGES;

/** ClusterImagePolicy annotation: the operator-injected image references the policy covers (comma-separated). */
export const OPERATOR_IMAGES_ANNOTATION = 'stackbook.io/operator-images';

/** Each glob's compiled form (the policy check asks for the same few globs for every image); null: not a valid glob. */
const compiledGlobs = new Map<string, RegExp | null>();
function globRegExp(glob: string): RegExp | null {
  let re = compiledGlobs.get(glob);
  if (re === undefined) {
    let g = glob === '*/*' ? 'index.docker.io/*/*' : glob === '*' ? 'index.docker.io/library/*' : glob;
    if (!/^[a-zA-Z0-9\-_:/*.@]+$/.test(g)) re = null;
    else {
      g = g.replace(/\./g, '\\.').replace(/\*\*/g, '#').replace(/\*/g, '[^/]*').replace(/#/g, '.*');
      re = new RegExp(`^${g}$`);
    }
    if (compiledGlobs.size >= 10_000) compiledGlobs.clear(); // a long-lived process judging many stacks
    compiledGlobs.set(glob, re);
  }
  return re;
}

/**
 * policy-controller's glob match (pkg/apis/glob/glob.go `Compile`/`Match`, v0.13.1 = ccbb37f3):
 * `*` is any run of characters but `/`, `**` any run at all, anchored at both ends; the glob is tried
 * against go-containerregistry's fully-qualified name (`index.docker.io/library/redis:8@sha256:…`)
 * and then against the reference as written. A bare `*` / `*` + `/*` mean Docker Hub, as there.
 */
export function globMatches(glob: string, reference: string): boolean {
  const re = globRegExp(glob);
  if (re === null) return false;
  const at = reference.indexOf('@');
  const base = at < 0 ? reference : reference.slice(0, at);
  const slash = base.lastIndexOf('/');
  const colon = base.lastIndexOf(':');
  const tag = colon > slash ? base.slice(colon) : at < 0 ? ':latest' : '';
  const qualified = `${canonicalRepository(reference)}${at < 0 ? tag : reference.slice(at)}`;
  return re.test(qualified) || re.test(reference);
}

/** A cosign verification key. */
export interface SigningKey {
  /** Authority name (DNS label), e.g. `release-2025`. Unique within the policy. */
  readonly name: string;
  /** PKIX PEM public key (`-----BEGIN PUBLIC KEY-----`), as printed by `cosign public-key`. */
  readonly publicKey: string;
}

export interface ImagePolicyProps {
  /** ClusterImagePolicy name (cluster-scoped). */
  readonly name: string;
  /**
   * `enforce` rejects an unsigned or wrongly signed image; `warn` admits it with a warning.
   * @default 'enforce'
   */
  readonly mode?: 'enforce' | 'warn';
  /** Keys whose signatures are accepted (any one suffices). At least one. */
  readonly keys: readonly SigningKey[];
  /**
   * policy-controller globs of the images that must be signed (`*` = any characters but `/`,
   * `**` = anything). See `imageGlobs` to derive them from image references. At least one.
   */
  readonly images: readonly string[];
  /**
   * Operator-injected image references the policy must admit (see OPERATOR_IMAGES): recorded in the
   * annotation `stackbook.io/operator-images` so the `image-policy-satisfiable` rule and
   * PREREQUISITES.md see them; `images` must match them (checked by that rule). @default none
   */
  readonly operatorImages?: readonly string[];
  /** Catalog concerns carried besides X-7 (e.g. AION-4, OSC-16). @default none */
  readonly concerns?: readonly string[];
}

/** policy-controller's own check (pkg/apis/glob): only these characters are a valid glob. */
const GLOB = /^[a-zA-Z0-9\-_:/*.]+$/;
const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----\n(?:[A-Za-z0-9+/=]{1,76}\n)+-----END PUBLIC KEY-----$/;
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
/** Curves cosign and policy-controller verify with (sigstore `signature.LoadVerifier`). */
const CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * Check a PEM public key and return it normalised (LF line ends, one trailing newline).
 * A private key is refused WITHOUT echoing it; anything else shows only its first line.
 */
export function checkPublicKey(component: string, id: string, prop: string, pem: string): string {
  if (PRIVATE_KEY.test(pem)) {
    throw new ComponentError(component, id, prop, 'is a PRIVATE key: it must never be in config or a bundle; give the public key (`cosign public-key --key <key>`)');
  }
  const text = pem.replace(/\r\n/g, '\n').trim();
  const firstLine = text.split('\n')[0] ?? '';
  if (!PEM_PUBLIC_KEY.test(text)) {
    throw new ComponentError(component, id, prop, 'must be a PEM public key: "-----BEGIN PUBLIC KEY-----", base64 lines, "-----END PUBLIC KEY-----" (first line shown)', firstLine);
  }
  let details: { type?: string; curve?: string; bits?: number };
  try {
    const k = createPublicKey(text);
    details = { type: k.asymmetricKeyType, curve: k.asymmetricKeyDetails?.namedCurve, bits: k.asymmetricKeyDetails?.modulusLength };
  } catch {
    throw new ComponentError(component, id, prop, 'has the PEM shape but does not decode to a public key', firstLine);
  }
  const ok =
    (details.type === 'ec' && CURVES.has(details.curve ?? '')) ||
    (details.type === 'rsa' && (details.bits ?? 0) >= 2048) ||
    details.type === 'ed25519';
  if (!ok) {
    const what = details.type === 'ec' ? `ec ${details.curve}` : details.type === 'rsa' ? `rsa ${details.bits}` : String(details.type);
    throw new ComponentError(component, id, prop, 'must be an ECDSA P-256/P-384/P-521, RSA ≥ 2048 or Ed25519 key (what cosign signs with)', what);
  }
  return `${text}\n`;
}

/**
 * The canonical repository policy-controller matches against: go-containerregistry's
 * fully-qualified name (`postgres` -> `index.docker.io/library/postgres`, `docker.io/x/y` ->
 * `index.docker.io/x/y`), without tag or digest.
 */
export function canonicalRepository(reference: string): string {
  let repo = reference.split('@')[0]!;
  const slash = repo.lastIndexOf('/');
  const colon = repo.lastIndexOf(':');
  if (colon > slash) repo = repo.slice(0, colon);
  const parts = repo.split('/');
  const first = parts[0]!;
  const hasRegistry = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) return `index.docker.io/${parts.length === 1 ? `library/${repo}` : repo}`;
  if (first === 'docker.io') return `index.docker.io/${parts.length === 2 ? `library/${parts[1]}` : parts.slice(1).join('/')}`;
  return repo;
}

/**
 * Globs covering exactly the repositories of the given image references, any tag or digest:
 * `<canonical repository>*` (`*` never crosses a `/`; it may also match a sibling repository
 * with the same prefix, which then also needs a signature: stricter, never looser). Sorted, unique.
 */
export function imageGlobs(references: Iterable<string>): string[] {
  return [...new Set([...references].map((r) => `${canonicalRepository(r)}*`))].sort();
}

/** A ClusterImagePolicy verifying cosign signatures with inline public keys, offline. */
export class ImagePolicy extends Construct {
  readonly object: ApiObject;
  readonly mode: 'enforce' | 'warn';
  constructor(scope: Construct, id: string, props: ImagePolicyProps) {
    super(scope, id);
    const C = 'ImagePolicy';
    if (!DNS_LABEL.test(props.name)) throw new ComponentError(C, props.name, 'name', 'must be a DNS label', props.name);
    const mode = props.mode ?? 'enforce';
    if (mode !== 'enforce' && mode !== 'warn') throw new ComponentError(C, props.name, 'mode', 'must be "enforce" or "warn"', mode);
    if (props.keys.length === 0) throw new ComponentError(C, props.name, 'keys', 'must name at least one public key (no key: nothing could ever verify)');
    const names = new Set<string>();
    const authorities = props.keys.map((k, i) => {
      if (!DNS_LABEL.test(k.name)) throw new ComponentError(C, props.name, `keys[${i}].name`, 'must be a DNS label', k.name);
      if (names.has(k.name)) throw new ComponentError(C, props.name, `keys[${i}].name`, 'is duplicated', k.name);
      names.add(k.name);
      // No ctlog / keyless / rfc3161timestamp: verification needs neither Rekor, Fulcio nor TUF.
      return { name: k.name, key: { data: checkPublicKey(C, props.name, `keys[${i}].publicKey`, k.publicKey), hashAlgorithm: 'sha256' } };
    });
    if (props.images.length === 0) throw new ComponentError(C, props.name, 'images', 'must list at least one glob');
    for (const g of props.images) {
      if (!GLOB.test(g)) throw new ComponentError(C, props.name, 'images', 'must be policy-controller globs (letters, digits, - _ : / * .)', g);
    }
    // Coverage of these by `images` is judged by the image-policy-satisfiable policy (configured globs may miss them).
    const injected = [...new Set(props.operatorImages ?? [])].sort();
    this.mode = mode;
    this.object = new ApiObject(this, 'Resource', {
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: props.name, ...(injected.length > 0 ? { annotations: { [OPERATOR_IMAGES_ANNOTATION]: injected.join(',') } } : {}) },
      spec: {
        mode,
        images: [...new Set(props.images)].sort().map((glob) => ({ glob })),
        authorities: authorities.sort((a, b) => (a.name < b.name ? -1 : 1)),
      },
    });
    trace(this.object, 'X-7', ...(props.concerns ?? []));
  }
}

/**
 * A rendered stack as a bundle directory (X-12), for every stack:
 *
 *   01-cluster.yaml … 05-monitoring.yaml   the objects, one file per apply phase, in apply order
 *   kustomization.yaml                      the same files as a Kustomize base (`kubectl apply -k`, Argo CD, Flux)
 *   apply.sh                                verify, check CRDs, apply in order with waits (mode 0755)
 *   PREREQUISITES.md                        operators/CRDs, capabilities, Secrets, images, keys, how to apply
 *   secrets.json                            every Secret that must exist (names, keys — never values)
 *   images.txt                              `<source> <mirror> <digest>` per image, scriptable
 *   cosign-<policy>-<authority>.pub         public keys of the rendered ClusterImagePolicies
 *   SHA256SUMS                              over every file above (`sha256sum -c SHA256SUMS`)
 *   SHA256SUMS.sig                          optional: ECDSA/RSA-SHA256 signature of SHA256SUMS (cosign sign-blob format;
 *                                           key: a cosign key with $COSIGN_PASSWORD, or an unencrypted PEM)
 *
 * Written atomically: everything goes to a temporary sibling first and is swapped in with renames,
 * so a failure at any point leaves the previous `dist/<env>` exactly as it was.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { COSIGN_PASSWORD_ENV, KeyError, parseSigningKey, signBlob } from './cosign-key.js';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as yaml from 'js-yaml';
import { manifestYaml } from './yaml.js';
import { PHASES, phaseOf, type Manifest, type Rendered } from '../synth/render.js';
import { renderedImages } from '../synth/airgap.js';
import { OPERATOR_IMAGES_ANNOTATION } from '../components/image-policy.js';
import {
  apiUses,
  applicationChanges,
  clusterCapabilities,
  cosignKeys,
  groupVersion,
  operatorNeeds,
  requiredCrds,
  requiredRuntimeClasses,
  requiredSecrets,
  resourceRef,
  type CosignKey,
  type SecretNeed,
} from './prerequisites.js';

/** The objects as one YAML stream: each `yaml.dump(o, MANIFEST_DUMP_OPTIONS)` (written faster: bundle/yaml.ts), separated by `---`. */
export function toYaml(objects: readonly Manifest[]): string {
  return objects.map((o) => manifestYaml(o)).join('---\n');
}

export interface BundleFile {
  readonly path: string;
  readonly content: string;
  /** File mode; `apply.sh` is 0755. @default 0644 */
  readonly mode?: number;
}

export interface BundleOptions {
  /**
   * Private key that signs SHA256SUMS into SHA256SUMS.sig (EC or RSA; see `loadSigningKey`).
   * @default none: no signature file
   */
  readonly signingKey?: KeyObject;
}

/** Env var naming a PEM private key file: when set, `synth` signs every bundle's SHA256SUMS. */
export const SIGNING_KEY_ENV = 'STACKBOOK_BUNDLE_SIGNING_KEY';

/** A bundle that cannot be produced as asked (e.g. an unusable signing key): exit code 2. */
export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleError';
  }
}

/** The phase files, in apply order (only phases with objects). */
export function phaseFiles(r: Pick<Rendered, 'objects'>): Array<{ path: string; phase: (typeof PHASES)[number]; objects: Manifest[] }> {
  const out: Array<{ path: string; phase: (typeof PHASES)[number]; objects: Manifest[] }> = [];
  PHASES.forEach((phase, i) => {
    const objects = r.objects.filter((o) => phaseOf(o) === phase);
    if (objects.length > 0) out.push({ path: `${String(i + 1).padStart(2, '0')}-${phase}.yaml`, phase, objects });
  });
  return out;
}

/** `name[:tag][@digest]` → parts (the tag only when the last `:` is after the last `/`). */
export function splitImage(ref: string): { name: string; tag?: string; digest?: string } {
  const at = ref.indexOf('@');
  const digest = at < 0 ? undefined : ref.slice(at + 1);
  const rest = at < 0 ? ref : ref.slice(0, at);
  const colon = rest.lastIndexOf(':');
  const tagged = colon > rest.lastIndexOf('/');
  const name = tagged ? rest.slice(0, colon) : rest;
  const tag = tagged ? rest.slice(colon + 1) : undefined;
  return { name, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

export interface ImageLine {
  /** Where to pull from: `repo@digest` (immutable) when pinned, else `repo:tag`. */
  readonly source: string;
  /** Where to push to: `<mirror>/<repo>:<tag>`; the manifests reference it `@<digest>`. */
  readonly mirror: string;
  /** `sha256:…`, or `-` when the image is not pinned (never in an air-gapped bundle). */
  readonly digest: string;
  /** The exact reference the manifests use. */
  readonly reference: string;
}

/**
 * One line per image of the stack (and any image an object renders without registering it), plus
 * the images operators inject into the stack's namespaces (the `stackbook.io/operator-images`
 * annotation of its ClusterImagePolicies: CNPG's bootstrap controller, Strimzi's entity operators,
 * cert-manager's acmesolver) so they are mirrored and carried too; sorted.
 */
export function imageLines(r: Pick<Rendered, 'objects' | 'images'> & { readonly stack?: Pick<Rendered['stack'], 'cluster'> }): ImageLine[] {
  const lines = new Map<string, ImageLine>();
  const line = (source: string, reference: string): ImageLine => {
    const s = splitImage(source);
    const m = splitImage(reference);
    const digest = m.digest ?? s.digest;
    return {
      source: digest ? `${s.name}@${digest}` : `${s.name}${s.tag ? `:${s.tag}` : ''}`,
      mirror: `${m.name}${m.tag ? `:${m.tag}` : ''}`,
      digest: digest ?? '-',
      reference,
    };
  };
  for (const i of r.images) lines.set(i.reference, line(i.source, i.reference));
  for (const i of renderedImages(r.objects)) if (i.image && !lines.has(i.image)) lines.set(i.image, line(i.image, i.image));
  const registry = r.stack?.cluster.registry;
  for (const o of r.objects) {
    if (o.kind !== 'ClusterImagePolicy') continue;
    for (const ref of (o.metadata.annotations?.[OPERATOR_IMAGES_ANNOTATION] ?? '').split(',').filter(Boolean)) {
      if (lines.has(ref)) continue;
      // relocated as resolveImage does: <registry>/<original repository>
      lines.set(ref, line(registry && ref.startsWith(`${registry}/`) ? ref.slice(registry.length + 1) : ref, ref));
    }
  }
  return [...lines.values()].sort((a, b) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0));
}

function imagesTxt(r: Rendered, lines: readonly ImageLine[]): string {
  const mirror = r.stack.cluster.airgapped && r.stack.cluster.registry;
  const header = [
    `# Images of stackbook bundle "${r.stack.environment}", one per line: <source> <mirror> <digest>`,
    mirror
      ? `# Copy each <source> (pulled by digest) to <mirror> (the private registry ${r.stack.cluster.registry}) before applying;`
      : '# No mirror is configured for this stack: <mirror> is the reference as rendered;',
    '# the manifests reference <mirror>@<digest>. Lines starting with # are comments. Usage:',
    "#   grep -v '^#' images.txt | while read -r src dst digest; do",
    '#     skopeo copy --all --preserve-digests "docker://$src" "docker://$dst"   # or: oras cp -r "$src" "$dst"',
    '#   done',
    '# Check a copy: skopeo inspect --format "{{.Digest}}" "docker://$dst" prints <digest>.',
  ];
  return `${[...header, ...lines.map((l) => `${l.source} ${l.mirror} ${l.digest}`)].join('\n')}\n`;
}

function secretsJson(secrets: readonly SecretNeed[]): string {
  return `${JSON.stringify(
    secrets.map((s) => ({
      name: s.name,
      namespace: s.namespace,
      keys: s.keys,
      source: s.source,
      consumers: s.consumers,
      ...(s.version !== undefined ? { version: s.version } : {}),
      ...(s.vault ? { vault: s.vault } : {}),
    })),
    null,
    2,
  )}\n`;
}

function kustomization(r: Rendered, files: readonly string[]): string {
  return [
    `# Bundle "${r.stack.environment}" as a Kustomize base: kubectl apply -k ., or point Argo CD / Flux at this directory.`,
    '# fifo keeps the bundle\'s apply order (kustomize would otherwise re-sort by kind).',
    yaml.dump({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', sortOptions: { order: 'fifo' }, resources: files }, { lineWidth: -1 }),
  ].join('\n');
}

/** A word safe inside single quotes in sh (names are DNS labels; refuse anything else). */
function shWord(s: string): string {
  if (!/^[A-Za-z0-9._\/=:@-]+$/.test(s)) throw new BundleError(`refusing to put ${JSON.stringify(s)} into apply.sh`);
  return `'${s}'`;
}

const ROLLOUT_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'];

function applyScript(r: Rendered, phases: ReturnType<typeof phaseFiles>): string {
  const crds = requiredCrds(r.objects);
  const runtimeClasses = requiredRuntimeClasses(r.objects).map((c) => c.name);
  const issuers = r.objects.filter((o) => o.kind === 'ClusterIssuer' && groupVersion(o.apiVersion).group === 'cert-manager.io');
  const caIssuers = new Set(issuers.filter((o) => (o.spec as Record<string, unknown> | undefined)?.ca !== undefined).map((o) => o.metadata.name));
  const caCerts = r.objects.filter((o) => {
    const ref = (o.spec as { issuerRef?: { kind?: string; name?: string } } | undefined)?.issuerRef;
    return o.kind === 'Certificate' && ref?.kind === 'ClusterIssuer' && ref.name !== undefined && caIssuers.has(ref.name);
  });
  const rollouts = r.objects.filter((o) => ROLLOUT_KINDS.includes(o.kind));
  const nsArg = (o: Manifest) => (o.metadata.namespace ? ` --namespace=${shWord(o.metadata.namespace)}` : '');
  const env = r.stack.environment;
  const inventory = phases.flatMap((f) => f.objects.map((o) => `${resourceRef(o)} ${o.metadata.namespace ?? '-'}`));
  for (const line of inventory) shWord(line.replace(' ', '/'));
  const body: string[] = [];
  for (const f of phases) {
    body.push(`apply_file ${shWord(f.path)}`);
    if (f.phase === 'cluster') {
      for (const o of issuers) {
        body.push(`wait_for ${shWord(`ClusterIssuer/${o.metadata.name}`)} wait --for=condition=Ready --timeout="$timeout" ${shWord(resourceRef(o))}`);
      }
    }
    if (f.phase === 'workloads') {
      for (const o of rollouts) {
        body.push(`wait_for ${shWord(`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)} rollout status${nsArg(o)} --timeout="$timeout" ${shWord(`${o.kind.toLowerCase()}/${o.metadata.name}`)}`);
      }
      for (const o of caCerts) {
        body.push(`wait_for ${shWord(`Certificate/${o.metadata.namespace}/${o.metadata.name}`)} wait --for=condition=Ready${nsArg(o)} --timeout="$timeout" ${shWord(resourceRef(o))}`);
      }
    }
  }
  return `#!/usr/bin/env bash
# Generated by stackbook for bundle "${r.stack.environment}"; SHA256SUMS covers this file, do not edit.
#
# Applies the bundle in order and stops at the first error:
#   1. verifies every file against SHA256SUMS (and SHA256SUMS.sig with --verify-key),
#   2. checks that the CRDs the bundle uses are installed and Established, and that the
#      RuntimeClasses its pods name exist (see PREREQUISITES.md),
#   3. kubectl apply --server-side --field-manager=stackbook, file by file:
#      ${phases.map((f) => f.path).join(', ')};
#      after the cluster phase it waits for ClusterIssuers to be Ready, after the workloads for
#      their rollouts (and for certificates from a private CA), before the monitoring phase.
usage() {
  cat <<'USAGE'
usage: ./apply.sh [--context NAME] [--kubeconfig FILE] [--timeout DURATION] [--dry-run] [--verify-key PUBLIC.pem]
                  [--no-prune] [--inventory-namespace NS]
  --context, --kubeconfig  passed to every kubectl call (KUBECONFIG is honoured as usual)
  --timeout                per wait (CRDs, ClusterIssuers, rollouts, certificates), default 300s
  --dry-run                kubectl apply --dry-run=server, no waits; namespaced objects fail server
                           dry-run while their Namespace does not exist yet (apply 01-cluster.yaml first)
  --verify-key             also verify SHA256SUMS.sig with this PEM public key (openssl)
  --no-prune               do not delete the objects an earlier bundle of this stack created that this
                           one no longer has (by default they are deleted after everything applied;
                           with --dry-run they are listed)
  --inventory-namespace    where the inventory ConfigMap stackbook-inventory-${env} lives, default kube-system
  KUBECTL                  the kubectl to run (default: kubectl on PATH)
USAGE
}
set -euo pipefail

die() { echo "apply.sh: $*" >&2; exit 1; }
step() { echo "apply.sh: $*" >&2; }

kubectl_bin="\${KUBECTL:-kubectl}"
kube_args=()
dry_run=0
timeout=300s
verify_key=""
prune=1
inventory_ns=kube-system
while [ $# -gt 0 ]; do
  case "$1" in
    --context|--kubeconfig|--timeout|--verify-key|--inventory-namespace)
      [ $# -ge 2 ] || { echo "apply.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in
        --timeout) timeout="$2" ;;
        --verify-key) verify_key="$2" ;;
        --inventory-namespace) inventory_ns="$2" ;;
        *) kube_args+=("$1=$2") ;;
      esac
      shift 2 ;;
    --context=*|--kubeconfig=*) kube_args+=("$1"); shift ;;
    --timeout=*) timeout="\${1#*=}"; shift ;;
    --verify-key=*) verify_key="\${1#*=}"; shift ;;
    --dry-run) dry_run=1; shift ;;
    --no-prune) prune=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "apply.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")"
k() { "$kubectl_bin" \${kube_args[@]+"\${kube_args[@]}"} "$@"; }

step "verifying SHA256SUMS"
if command -v sha256sum >/dev/null 2>&1; then
  sha256sum -c --quiet SHA256SUMS >&2 || die "SHA256SUMS does not verify: the bundle was changed or is incomplete; nothing applied"
else
  shasum -a 256 -c --quiet SHA256SUMS >&2 || die "SHA256SUMS does not verify: the bundle was changed or is incomplete; nothing applied"
fi
if [ -n "$verify_key" ]; then
  [ -f SHA256SUMS.sig ] || die "--verify-key given but the bundle has no SHA256SUMS.sig; nothing applied"
  sig="$(mktemp)"
  trap 'rm -f "$sig"' EXIT
  openssl base64 -d -A -in SHA256SUMS.sig -out "$sig" || die "SHA256SUMS.sig is not base64; nothing applied"
  openssl dgst -sha256 -verify "$verify_key" -signature "$sig" SHA256SUMS >/dev/null || die "SHA256SUMS.sig does not verify with $verify_key; nothing applied"
fi
${crds.length > 0
    ? `
step "checking CRDs (PREREQUISITES.md): ${crds.join(' ')}"
k wait --for=condition=Established --timeout="$timeout" ${crds.map((c) => shWord(`crd/${c}`)).join(' ')} \\
  || die "required CRDs are missing or not Established (install the operators in PREREQUISITES.md); nothing applied"
`
    : ''}${runtimeClasses.length > 0
    ? `
step "checking RuntimeClasses (PREREQUISITES.md): ${runtimeClasses.join(' ')}"
k get ${runtimeClasses.map((c) => shWord(`runtimeclass.node.k8s.io/${c}`)).join(' ')} >/dev/null \\
  || die "required RuntimeClasses are missing (install their runtime, see PREREQUISITES.md); nothing applied"
`
    : ''}
apply_file() {
  step "applying $1"
  if [ "$dry_run" = 1 ]; then
    k apply --server-side --field-manager=stackbook --dry-run=server -f "$1" || die "kubectl apply failed on $1; the files after it were not applied"
  else
    k apply --server-side --field-manager=stackbook -f "$1" || die "kubectl apply failed on $1; the files after it were not applied"
  fi
}

wait_for() {
  local what="$1"
  shift
  if [ "$dry_run" = 1 ]; then return 0; fi
  step "waiting for $what"
  k "$@" || die "$what is not ready after $timeout (its operator and Secrets: PREREQUISITES.md); the files after it were not applied"
}

${body.join('\n')}

# Prune (issue 16): the inventory ConfigMap records the objects this stack's last applied bundle
# had, one "<resource>/<name> <namespace or ->" per line. Those it had and this bundle has not are
# deleted (newest phase first), only if they still carry stackbook.io/environment=${env}; then the
# inventory is replaced by this bundle's list. --dry-run lists them; --no-prune skips this.
INVENTORY_NAME=${shWord(`stackbook-inventory-${env}`)}
inventory() {
  cat <<'INVENTORY'
${inventory.join('\n')}
INVENTORY
}
prune_stale() {
  local prev stale line res ns nsarg owner n=0
  prev="$(k get configmap --namespace="$inventory_ns" "$INVENTORY_NAME" --ignore-not-found -o 'jsonpath={.data.objects}')" \
    || die "cannot read the inventory configmap $inventory_ns/$INVENTORY_NAME; nothing pruned"
  stale="$(printf '%s\n' "$prev" | awk 'NR == FNR { cur[$0] = 1; next } NF && !($0 in cur)' <(inventory) - | awk '{ l[NR] = $0 } END { for (i = NR; i > 0; i--) print l[i] }')"
  if [ -z "$stale" ]; then
    step "prune: nothing to delete (inventory $inventory_ns/$INVENTORY_NAME)"
  fi
  while IFS=' ' read -r res ns; do
    [ -n "$res" ] || continue
    nsarg=()
    [ "$ns" = - ] || nsarg=(--namespace="$ns")
    if [ "$dry_run" = 1 ]; then
      step "prune: would delete $res\${nsarg[0]:+ (\${ns})} (in the previous bundle, not in this one)"
      continue
    fi
    owner="$(k get "\${nsarg[@]}" "$res" --ignore-not-found -o 'jsonpath={.metadata.labels.stackbook\\.io/environment}')" \
      || die "prune: cannot read $res; nothing more deleted"
    if [ "$owner" != ${shWord(env)} ]; then
      step "prune: skipping $res\${nsarg[0]:+ (\${ns})}: gone, or no longer labelled stackbook.io/environment=${env}"
      continue
    fi
    step "prune: deleting $res\${nsarg[0]:+ (\${ns})} (in the previous bundle, not in this one)"
    k delete "\${nsarg[@]}" --ignore-not-found --wait=false "$res" || die "prune: deleting $res failed; the inventory was not updated (re-run to retry)"
    n=$((n + 1))
  done <<<"$stale"
  [ "$dry_run" = 1 ] && return 0
  local manifest
  manifest="$(cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: $INVENTORY_NAME
  namespace: $inventory_ns
  labels:
    app.kubernetes.io/managed-by: stackbook
    stackbook.io/environment: ${env}
data:
  objects: |
YAML
  )"$'\n'"$(inventory | sed 's/^/    /')"
  k apply --server-side --field-manager=stackbook -f - <<<"$manifest" >/dev/null || die "cannot write the inventory $inventory_ns/$INVENTORY_NAME ($n stale objects were deleted)"
  step "prune: $n deleted; inventory $inventory_ns/$INVENTORY_NAME lists ${r.objects.length} objects"
}
if [ "$prune" = 1 ]; then prune_stale; fi

if [ "$dry_run" = 1 ]; then
  step "done: ${r.objects.length} objects from ${phases.length} files checked by server dry-run (nothing persisted)"
else
  step "done: ${r.objects.length} objects from ${phases.length} files applied"
fi
`;
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function prerequisitesMd(r: Rendered, a: {
  phases: ReturnType<typeof phaseFiles>;
  secrets: readonly SecretNeed[];
  images: readonly ImageLine[];
  keys: readonly CosignKey[];
  signingKey?: KeyObject;
}): string {
  const c = r.stack.cluster;
  const env = r.stack.environment;
  const out: string[] = [];
  out.push(`# Bundle \`${env}\`: prerequisites and how to apply`, '');
  out.push(
    `Generated by \`stackbook synth ${env}\` (tier ${r.stack.tier}${c.airgapped ? `, air-gapped: every image from the mirror \`${c.registry}\`` : ''}); do not edit: SHA256SUMS covers this file.`,
    '',
  );

  out.push('## 1. Verify the bundle', '', '```sh', 'sha256sum -c SHA256SUMS        # every file of the bundle; apply.sh does this first');
  if (a.signingKey) {
    const fp = createHash('sha256').update(createPublicKey(a.signingKey).export({ type: 'spki', format: 'der' })).digest('hex');
    out.push(
      'cosign verify-blob --key bundle.pub --signature SHA256SUMS.sig --insecure-ignore-tlog SHA256SUMS',
      '# or: openssl base64 -d -A -in SHA256SUMS.sig -out /tmp/sig && openssl dgst -sha256 -verify bundle.pub -signature /tmp/sig SHA256SUMS',
      '```',
      '',
      `SHA256SUMS.sig is signed by the key whose public half has the SHA-256 fingerprint (of its DER SubjectPublicKeyInfo) \`${fp}\`; obtain \`bundle.pub\` out of band, never from this directory.`,
    );
  } else {
    out.push('```', '', `No signing key was configured (\`${SIGNING_KEY_ENV}\`): this bundle has no SHA256SUMS.sig.`);
  }
  out.push('');

  out.push('## 2. Operators and CRDs', '');
  const ops = operatorNeeds(r.objects);
  if (ops.length === 0) out.push('None: the bundle renders only built-in Kubernetes kinds.');
  else {
    out.push('Install these (their images mirrored too) before applying; `apply.sh` checks the CRDs are Established.', '');
    out.push('| operator | CRDs tested at | API group | kinds (versions rendered) | CRDs |', '|---|---|---|---|---|');
    for (const o of ops) {
      const project = o.project ? ` (${o.project})` : '';
      out.push(
        `| ${mdCell(o.operator)}${project} | ${o.tested} | \`${o.group}\` | ${o.uses.map((u) => `${u.kind} (${u.versions.join(', ')})`).join(', ')} | ${o.uses.map((u) => `\`${u.crd}\``).join(', ')} |`,
      );
    }
  }
  const builtin = apiUses(r.objects).filter((u) => !u.crd);
  out.push('', `Built-in APIs rendered: ${builtin.map((u) => `${u.kind} (\`${u.group ? `${u.group}/` : ''}${u.versions.join(', ')}\`)`).join(', ')}.`, '');

  out.push('## 3. Cluster capabilities', '');
  for (const line of clusterCapabilities(r)) out.push(`- ${line}`);
  out.push('');
  const appChanges = applicationChanges(r.objects);
  if (appChanges.length > 0) {
    out.push('### Application changes the runbooks assume', '');
    out.push('Metrics the runbooks name that the application code does not expose (services/<svc>.contract.ts `missingMetrics`): no alert, scaler or dashboard uses them until the application changes.', '');
    for (const line of appChanges) out.push(`- ${line}`);
    out.push('');
  }
  const runtimeClasses = requiredRuntimeClasses(r.objects);
  if (runtimeClasses.length > 0) {
    out.push('### RuntimeClasses', '');
    out.push('Not rendered by the bundle: installed with their container runtime (sysbox creates `sysbox-runc`); `apply.sh` checks they exist. Without one the API server refuses every Pod of its consumers.', '');
    out.push('| RuntimeClass | used by |', '|---|---|');
    for (const c of runtimeClasses) out.push(`| \`${c.name}\` | ${mdCell(c.consumers.join(', '))} |`);
    out.push('');
  }

  out.push('## 4. Secrets that must exist', '');
  if (a.secrets.length === 0) out.push('None.');
  else {
    out.push('Names and keys only (also in `secrets.json`); values never enter the bundle.', '');
    out.push('| namespace | name | keys | source | consumers |', '|---|---|---|---|---|');
    for (const s of a.secrets) {
      out.push(`| \`${s.namespace}\` | \`${s.name}\` | ${s.keys.map((k) => `\`${k}\``).join(', ') || '(any)'} | ${s.source} | ${mdCell(s.consumers.join(', '))} |`);
    }
    if (a.secrets.some((s) => s.namespace === 'cert-manager')) {
      out.push('', "Secrets in `cert-manager` belong to a CA ClusterIssuer: put them in cert-manager's cluster resource namespace if it is not the default.");
    }
  }
  out.push('');

  out.push('## 5. Images to mirror', '');
  if (a.images.length === 0) out.push('None.');
  else {
    out.push('`images.txt` has one line per image, `<source> <mirror> <digest>`; the manifests reference `<mirror>@<digest>`.', '');
    out.push('| source | mirror | digest |', '|---|---|---|');
    for (const l of a.images) out.push(`| \`${l.source}\` | \`${l.mirror}\` | \`${l.digest}\` |`);
    out.push(
      '',
      '```sh',
      "grep -v '^#' images.txt | while read -r src dst digest; do",
      '  skopeo copy --all --preserve-digests "docker://$src" "docker://$dst"',
      '  # or: oras cp -r "$src" "$dst"   (-r also copies referrers such as signatures)',
      'done',
      '```',
    );
    if (a.keys.length > 0) {
      out.push('', 'The ClusterImagePolicies verify signatures in the cluster: copy them with the images (`cosign copy "$src" "${dst%:*}"`, or `oras cp -r`).');
    }
  }
  out.push('');

  out.push('## 6. Image signature keys (cosign)', '');
  if (a.keys.length === 0) out.push('No ClusterImagePolicy in this bundle: no cosign public keys are needed.');
  else {
    out.push('| file | ClusterImagePolicy | authority |', '|---|---|---|');
    for (const k of a.keys) out.push(`| \`${k.file}\` | \`${k.policy}\` | \`${k.authority}\` |`);
    out.push('', 'Check a mirrored image with: `cosign verify --key <file> --insecure-ignore-tlog <mirror>@<digest>`.');
  }
  out.push('');

  out.push('## 7. Apply', '');
  out.push('```sh', './apply.sh --context <cluster>            # verify, check CRDs, apply in order, wait; --dry-run, --timeout, --verify-key', 'kubectl apply --server-side -k .           # or: the same files as a Kustomize base (Argo CD, Flux)', '```', '');
  out.push('| order | file | objects |', '|---|---|---|');
  a.phases.forEach((f, i) => {
    const kinds = new Map<string, number>();
    for (const o of f.objects) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
    out.push(`| ${i + 1} | \`${f.path}\` | ${[...kinds.entries()].map(([k, n]) => `${k} ${n}`).join(', ')} |`);
  });
  out.push('');
  return out.join('\n');
}

/**
 * Parse a signing key file: a cosign key (`cosign generate-key-pair`, encrypted; the password from
 * $COSIGN_PASSWORD) or an unencrypted PEM (PKCS#8 or SEC1/PKCS#1); EC or RSA (bundle/cosign-key.ts).
 */
export function loadSigningKey(
  path: string,
  password: string | undefined = process.env[COSIGN_PASSWORD_ENV],
  label = `${SIGNING_KEY_ENV}=${path}`,
): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BundleError(`${label}: cannot read the signing key (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return parseSigningKey(pem, label, password);
  } catch (e) {
    if (e instanceof KeyError) throw new BundleError(e.message);
    throw e;
  }
}

/** The files of a bundle, in apply order, as strings (pure given the key: used by synth, diff and tests). */
export function bundleFiles(r: Rendered, opts: BundleOptions = {}): BundleFile[] {
  const phases = phaseFiles(r);
  const secrets = requiredSecrets(r);
  const images = imageLines(r);
  const keys = cosignKeys(r.objects);
  const files: BundleFile[] = phases.map((f) => ({ path: f.path, content: toYaml(f.objects) }));
  files.push({ path: 'kustomization.yaml', content: kustomization(r, phases.map((f) => f.path)) });
  files.push({ path: 'apply.sh', content: applyScript(r, phases), mode: 0o755 });
  files.push({
    path: 'PREREQUISITES.md',
    content: prerequisitesMd(r, { phases, secrets, images, keys, ...(opts.signingKey ? { signingKey: opts.signingKey } : {}) }),
  });
  files.push({ path: 'secrets.json', content: secretsJson(secrets) });
  files.push({ path: 'images.txt', content: imagesTxt(r, images) });
  for (const k of keys) files.push({ path: k.file, content: k.pem });
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new BundleError(`two bundle files named ${f.path}`);
    seen.add(f.path);
  }
  const sums = `${files.map((f) => `${createHash('sha256').update(f.content).digest('hex')}  ${f.path}`).join('\n')}\n`;
  files.push({ path: 'SHA256SUMS', content: sums });
  if (opts.signingKey) files.push({ path: 'SHA256SUMS.sig', content: `${signBlob(Buffer.from(sums), opts.signingKey)}\n` });
  return files;
}

/** Hook for tests that prove atomicity: called after each file is written to the temp dir. */
export type WriteHook = (file: string) => void;

export function writeBundle(outDir: string, files: readonly BundleFile[], hook?: WriteHook): void {
  const parent = dirname(outDir);
  mkdirSync(parent, { recursive: true });
  const name = basename(outDir);
  const tmp = join(parent, `.${name}.tmp-${process.pid}`);
  const old = join(parent, `.${name}.old-${process.pid}`);
  // Only a directory (a previous bundle) is ever replaced: a file in its place is someone's data.
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new BundleError(`${outDir} exists and is not a bundle directory: move it away first`);
  // Recover from an earlier run killed between its two renames: the previous bundle is still
  // beside it as `.<name>.old-<pid>`. Put it back first, so a failure now leaves it in place.
  if (!existsSync(outDir)) {
    const orphan = readdirSync(parent)
      .filter((f) => f.startsWith(`.${name}.old-`) && /^\d+$/.test(f.slice(`.${name}.old-`.length)))
      .map((f) => join(parent, f))
      .filter((f) => statSync(f).isDirectory())
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (orphan) renameSync(orphan, outDir);
  }
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    for (const f of files) {
      const path = join(tmp, f.path);
      writeFileSync(path, f.content);
      chmodSync(path, f.mode ?? 0o644); // exact, whatever the umask
      hook?.(f.path);
    }
    if (existsSync(outDir)) renameSync(outDir, old);
    try {
      renameSync(tmp, outDir);
    } catch (e) {
      if (existsSync(old)) renameSync(old, outDir);
      throw e;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

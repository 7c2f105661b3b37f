/**
 * The artifact commands (issue 16), kept out of cli/main.ts (which only dispatches):
 *
 *   stackbook bundle <env...>|--all [--out dist] [--key cosign.key] [--with-images [--from <host>]]
 *   stackbook verify <artifact> --key cosign.pub [--out <dir>]
 *   stackbook images push <artifact> --key cosign.pub [--registry <host[:port]>]
 *
 * Images are copied with skopeo (Debian `skopeo`; $STACKBOOK_SKOPEO names another binary) as one OCI
 * archive per image, `--preserve-digests`, plus the image's cosign signature (`<repo>:sha256-<hex>.sig`,
 * cosign's tag convention) when the source has one. `--from <host[/path]>` pulls each source as
 * `<host>/<original repository>@<digest>` instead (a pull-through cache or staging registry that
 * holds the public images under their original names; the tier's stand-in for the public side). $STACKBOOK_REGISTRY_INSECURE=1 adds
 * `--src-tls-verify=false`/`--dest-tls-verify=false` (plain-HTTP registries on loopback, the tier).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ArtifactError, artifactMembers, artifactName, imageMemberPath, parseImagesTxt, verifyArtifact, writeArtifact } from './artifact.js';
import { BundleError, imageLines, loadSigningKey, SIGNING_KEY_ENV, splitImage } from './bundle.js';
import { COSIGN_PASSWORD_ENV } from './cosign-key.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

export { ArtifactError };

/** `sha256-<hex>.sig`: the tag cosign stores an image's signature under (cosign pkg/oci/remote). */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

function skopeo(args: readonly string[]): { ok: boolean; out: string; err: string } {
  const bin = process.env.STACKBOOK_SKOPEO ?? 'skopeo';
  const r = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new ArtifactError(`cannot run ${bin} (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}): install skopeo or set STACKBOOK_SKOPEO`);
  return { ok: r.status === 0, out: r.stdout, err: (r.stderr || '').trim().split('\n').pop() ?? '' };
}

const insecure = (flag: 'src' | 'dest'): string[] => (process.env.STACKBOOK_REGISTRY_INSECURE === '1' ? [`--${flag}-tls-verify=false`] : []);

/** The manifest digest of a reference as skopeo sees it (no platform resolution: --raw). */
function digestOf(ref: string): string | undefined {
  const tls = process.env.STACKBOOK_REGISTRY_INSECURE === '1' && ref.startsWith('docker://') ? ['--tls-verify=false'] : [];
  const r = skopeo(['inspect', ...tls, '--raw', ref]);
  if (!r.ok) return undefined;
  return `sha256:${createHash('sha256').update(r.out).digest('hex')}`;
}

/** `stackbook bundle`: render, judge and write one artifact per stack; all computed before any is written. */
export async function bundleCommand(
  root: string,
  envs: readonly string[],
  opts: { out?: string; keyPath?: string; withImages?: boolean; from?: string },
  io: Io,
): Promise<number> {
  const { loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { evaluate, blocking, formatViolation } = await import('../policies/manifest-rules.js');
  const { airgapProblems, formatAirgapProblem } = await import('../synth/airgap.js');
  const stacks = loadStacks(root, envs);
  let failed = false;
  let refused = false;
  const rendered = [];
  for (const [env, stack] of stacks) {
    const r = render(stack);
    const vs = evaluate(r.objects);
    for (const v of blocking(vs)) io.err(`${env}: ${formatViolation(v)}\n`);
    if (blocking(vs).length > 0) failed = true;
    if (r.stack.cluster.airgapped) {
      for (const p of airgapProblems(r)) {
        io.err(`${env}: air-gap: ${formatAirgapProblem(p)}\n`);
        refused = true;
      }
    }
    rendered.push({ env, r });
  }
  if (refused) {
    io.err('bundle: air-gapped bundle refused (images must come from the mirror by digest; no public hosts): nothing written\n');
    return 2;
  }
  if (failed) {
    io.err('bundle: mandatory policy violations: nothing written\n');
    return 1;
  }
  const keyPath = opts.keyPath ?? process.env[SIGNING_KEY_ENV];
  const signingKey = keyPath
    ? loadSigningKey(resolve(root, keyPath), process.env[COSIGN_PASSWORD_ENV], opts.keyPath ? `--key ${keyPath}` : `${SIGNING_KEY_ENV}=${keyPath}`)
    : undefined;
  const outDir = resolve(root, opts.out ?? 'dist');
  const work = opts.withImages ? mkdtempSync(join(tmpdir(), 'stackbook-images-')) : undefined;
  try {
    const planned = rendered.map(({ env, r }) => {
      const images = new Map<string, string>();
      const sigs = new Map<string, string>();
      if (work) {
        for (const l of imageLines(r)) {
          if (l.digest === '-') throw new ArtifactError(`${env}: ${l.reference} is not pinned by digest: --with-images carries pinned images only`);
          if (images.has(l.digest)) continue;
          const file = join(work, `${l.digest.slice(7)}.tar`);
          const source = opts.from ? `${opts.from.replace(/\/+$/, '')}/${l.source}` : l.source;
          const src = `docker://${source}`;
          const c = skopeo(['copy', '--quiet', '--all', '--preserve-digests', ...insecure('src'), src, `oci-archive:${file}`]);
          if (!c.ok) throw new ArtifactError(`${env}: cannot fetch ${source}: ${c.err}; nothing written`);
          const got = digestOf(`oci-archive:${file}`);
          if (got !== l.digest) throw new ArtifactError(`${env}: ${source} arrived as ${got ?? 'unreadable'}, not ${l.digest}; nothing written`);
          images.set(l.digest, file);
          const { name } = splitImage(source);
          const sigFile = join(work, `${l.digest.slice(7)}.sig.tar`);
          const s = skopeo(['copy', '--quiet', '--preserve-digests', ...insecure('src'), `docker://${name}:${signatureTag(l.digest)}`, `oci-archive:${sigFile}`]);
          if (s.ok) sigs.set(l.digest, sigFile);
          else io.err(`${env}: ${source}: no cosign signature at the source (${name}:${signatureTag(l.digest)}); carried unsigned\n`);
        }
      }
      const members = artifactMembers(r, { ...(signingKey ? { signingKey } : {}), images, signatures: sigs });
      return { env, r, members };
    });
    for (const { env, members } of planned) {
      const file = join(outDir, artifactName(env));
      const sha = writeArtifact(file, env, members);
      const nImages = members.filter((m) => m.path.startsWith('images/') && !m.path.endsWith('.sig.tar')).length;
      io.out(
        `${env}: ${file} (${members.length - 1 - (signingKey ? 1 : 0)} files${nImages ? `, ${nImages} images` : ''}, ${statSync(file).size} bytes, sha256 ${sha}${signingKey ? ', signed' : ', UNSIGNED'})\n`,
      );
    }
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
  return 0;
}

function readKey(path: string | undefined, what: string): string {
  if (!path) throw new ArtifactError(`${what} needs --key <cosign.pub>`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ArtifactError(`--key ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** `stackbook verify <artifact> --key <pub> [--out dir]`. */
export function verifyCommand(file: string, opts: { keyPath?: string; out?: string }, io: Io): number {
  const pem = readKey(opts.keyPath, 'verify');
  const v = verifyArtifact(file, { publicKeyPem: pem, keyName: opts.keyPath!, ...(opts.out ? { extractTo: opts.out } : {}) });
  io.out(`${file}: OK: stack ${v.env}, signature verified with ${opts.keyPath}, ${v.files.length} files match SHA256SUMS${opts.out ? `; unpacked into ${opts.out}` : ''}\n`);
  return 0;
}

/**
 * `stackbook images push <artifact> --key <pub> [--registry <host>]`: verifies the artifact, checks
 * every image of images.txt is carried and that --registry is the mirror the manifests reference,
 * then copies each image (and its signature) into the mirror by digest and reads the digest back.
 * Nothing is pushed when any check fails.
 */
export function imagesPushCommand(file: string, opts: { keyPath?: string; registry?: string }, io: Io): number {
  const pem = readKey(opts.keyPath, 'images push');
  const dir = mkdtempSync(join(tmpdir(), 'stackbook-push-'));
  try {
    const out = join(dir, 'bundle');
    const v = verifyArtifact(file, { publicKeyPem: pem, keyName: opts.keyPath!, extractTo: out });
    const lines = parseImagesTxt(readFileSync(join(out, 'images.txt'), 'utf8'));
    const carried = new Set(v.files.map((f) => f.path));
    const problems: string[] = [];
    for (const l of lines) {
      if (!/^sha256:[a-f0-9]{64}$/.test(l.digest)) problems.push(`${l.mirror}: not pinned by digest`);
      else if (!carried.has(imageMemberPath(l.digest))) problems.push(`${l.mirror}@${l.digest}: not in the artifact (bundle it with --with-images)`);
      const host = l.mirror.split('/')[0];
      if (opts.registry && host !== opts.registry) problems.push(`${l.mirror}: the manifests reference registry ${host}, not --registry ${opts.registry}`);
    }
    if (problems.length > 0) throw new ArtifactError(`${file}: nothing pushed: ${problems.join('; ')}`);
    let n = 0;
    for (const l of lines) {
      const archive = join(out, imageMemberPath(l.digest));
      const dest = `docker://${l.mirror}`;
      const c = skopeo(['copy', '--quiet', '--all', '--preserve-digests', ...insecure('dest'), `oci-archive:${archive}`, dest]);
      if (!c.ok) throw new ArtifactError(`${file}: push of ${l.mirror} failed after ${n} of ${lines.length} images: ${c.err}`);
      const name = splitImage(l.mirror).name;
      const got = digestOf(`docker://${name}@${l.digest}`);
      if (got !== l.digest) throw new ArtifactError(`${file}: ${name}@${l.digest} is not readable back from the mirror (got ${got ?? 'nothing'})`);
      const sig = join(out, imageMemberPath(l.digest).replace(/\.tar$/, '.sig.tar'));
      let signedNote = 'no signature carried';
      if (carried.has(imageMemberPath(l.digest).replace(/\.tar$/, '.sig.tar'))) {
        const s = skopeo(['copy', '--quiet', '--preserve-digests', ...insecure('dest'), `oci-archive:${sig}`, `docker://${name}:${signatureTag(l.digest)}`]);
        if (!s.ok) throw new ArtifactError(`${file}: push of the signature of ${name}@${l.digest} failed: ${s.err}`);
        signedNote = `signature ${signatureTag(l.digest)}`;
      }
      n++;
      io.out(`${name}@${l.digest}: pushed (${signedNote})\n`);
    }
    io.out(`${file}: ${n} images pushed to the mirror by digest\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export { BundleError };

/**
 * One artifact per stack for the air gap (issue 16): `stackbook bundle <env>` writes
 * `<out>/stackbook-<env>.tar`, `stackbook verify <artifact> --key <pub>` checks it before anything is
 * unpacked.
 *
 * Format: a plain (uncompressed) POSIX ustar archive, not an OCI image layout and not gzip:
 *   - every site has `tar`; no oras/skopeo is needed to open it, and `tar -xf` gives the bundle
 *     directory `apply.sh` already works on (its `sha256sum -c SHA256SUMS` passes unchanged);
 *   - byte-for-byte deterministic without depending on a compressor's version (gzip/zlib output
 *     may change between releases); the carried image archives are compressed layers already.
 * Members, all regular files under `stackbook-<env>/`, mode 0644 (apply.sh 0755), uid/gid 0, no
 * user names, mtime 0, in this order:
 *   SHA256SUMS, SHA256SUMS.sig (when signed), the bundle files in bundle order (bundle/bundle.ts),
 *   then `images/<digest hex>.tar`: one OCI archive per image (`--with-images`), each followed by
 *   `images/<digest hex>.sig.tar`, its cosign signature image, when the source had one.
 * SHA256SUMS lists every member after the signature, so `verify` can check the signature first
 * and then each member as it streams past, and refuses a member that is not listed, a listed one
 * that is missing, a duplicate, a link, or a path leaving the directory.
 * Keys: only the public keys of the ClusterImagePolicies are carried; any member holding a private
 * key is refused at write time (the signing key pair never enters the artifact).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bundleFiles, imageLines, BundleError, type BundleFile, type ImageLine } from './bundle.js';
import { KeyError, parsePublicKey, signBlob, verifyBlob } from './cosign-key.js';
import type { Rendered } from '../synth/render.js';

/** A bad artifact or a refused operation on one: one line, exit 1. */
export class ArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactError';
  }
}

export const artifactName = (env: string): string => `stackbook-${env}.tar`;
export const artifactDir = (env: string): string => `stackbook-${env}`;

/** A member's content: in memory, or a file streamed from disk (image archives). */
export interface ArtifactMember {
  readonly path: string;
  readonly mode: number;
  readonly content?: Buffer;
  readonly file?: string;
}

/** `images/<hex>.tar` for a `sha256:<hex>` digest. */
export function imageMemberPath(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new ArtifactError(`image digest ${JSON.stringify(digest)} is not sha256:<64 hex>: only pinned images can be carried`);
  return `images/${m[1]}.tar`;
}

const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * The members of a stack's artifact: the bundle files (without their own SHA256SUMS), the image
 * archives, and SHA256SUMS (+ .sig) over all of them, first.
 */
export function artifactMembers(
  r: Rendered,
  opts: { signingKey?: KeyObject; images?: ReadonlyMap<string, string>; signatures?: ReadonlyMap<string, string> } = {},
): ArtifactMember[] {
  const files: BundleFile[] = bundleFiles(r, opts.signingKey ? { signingKey: opts.signingKey } : {}).filter(
    (f) => f.path !== 'SHA256SUMS' && f.path !== 'SHA256SUMS.sig',
  );
  const members: ArtifactMember[] = files.map((f) => ({ path: f.path, mode: f.mode ?? 0o644, content: Buffer.from(f.content) }));
  for (const m of members) {
    if (PRIVATE_KEY.test(m.content!.toString('latin1'))) throw new BundleError(`refusing to put a private key into the artifact (${m.path})`);
  }
  for (const [digest, file] of [...(opts.images ?? new Map<string, string>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    members.push({ path: imageMemberPath(digest), mode: 0o644, file });
    const sig = opts.signatures?.get(digest);
    if (sig) members.push({ path: imageMemberPath(digest).replace(/\.tar$/, '.sig.tar'), mode: 0o644, file: sig });
  }
  const sums = Buffer.from(`${members.map((m) => `${hashMember(m)}  ${m.path}`).join('\n')}\n`);
  const head: ArtifactMember[] = [{ path: 'SHA256SUMS', mode: 0o644, content: sums }];
  if (opts.signingKey) head.push({ path: 'SHA256SUMS.sig', mode: 0o644, content: Buffer.from(`${signBlob(sums, opts.signingKey)}\n`) });
  return [...head, ...members];
}

function hashMember(m: ArtifactMember): string {
  if (m.content) return createHash('sha256').update(m.content).digest('hex');
  const h = createHash('sha256');
  streamFile(m.file!, (chunk) => h.update(chunk));
  return h.digest('hex');
}

function streamFile(file: string, each: (chunk: Buffer) => void): void {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      each(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- ustar

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function tarHeader(name: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100 || !/^[A-Za-z0-9._\/-]+$/.test(name)) throw new BundleError(`artifact member name ${JSON.stringify(name)} is not a short portable path`);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime: 0, deterministic
  h.fill(' ', 148, 156); // checksum field counts as spaces
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\u000000', 257, 'latin1'); // magic "ustar\0", version "00"
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** Writes the artifact atomically (temp file + rename); returns its SHA-256. */
export function writeArtifact(file: string, env: string, members: readonly ArtifactMember[]): string {
  mkdirSync(dirname(file), { recursive: true });
  if (statSafe(file)?.isDirectory()) throw new BundleError(`${file} is a directory`);
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}`);
  const h = createHash('sha256');
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const put = (b: Buffer) => {
      writeSync(fd, b);
      h.update(b);
    };
    for (const m of members) {
      const size = m.content ? m.content.length : statSync(m.file!).size;
      put(tarHeader(`${artifactDir(env)}/${m.path}`, size, m.mode));
      if (m.content) put(m.content);
      else streamFile(m.file!, put);
      if (size % BLOCK) put(Buffer.alloc(BLOCK - (size % BLOCK)));
    }
    put(Buffer.alloc(2 * BLOCK));
    closeSync(fd);
    chmodSync(tmp, 0o644);
    renameSync(tmp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  return h.digest('hex');
}

function statSafe(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- verify

interface TarEntry {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  readonly mode: number;
}

/** Reads an archive sequentially: each member's header, then its content in chunks. */
class TarReader {
  private readonly fd: number;
  private pos = 0;
  private readonly total: number;
  constructor(private readonly file: string) {
    try {
      this.fd = openSync(file, 'r');
      this.total = statSync(file).size;
    } catch (e) {
      throw new ArtifactError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  close(): void {
    closeSync(this.fd);
  }
  private read(n: number): Buffer {
    const b = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const k = readSync(this.fd, b, got, n - got, this.pos + got);
      if (k === 0) throw new ArtifactError(`${this.file}: truncated at byte ${this.pos + got} (not a complete artifact)`);
      got += k;
    }
    this.pos += n;
    return b;
  }
  /** The next member's header; undefined at the end-of-archive blocks. */
  next(): TarEntry | undefined {
    if (this.pos === this.total) throw new ArtifactError(`${this.file}: truncated (no end-of-archive marker)`);
    const h = this.read(BLOCK);
    if (h.every((b) => b === 0)) return undefined;
    const field = (o: number, n: number) => h.subarray(o, o + n).toString('latin1').replace(/\0.*$/s, '');
    const num = (o: number, n: number) => {
      const s = field(o, n).trim();
      if (!/^[0-7]+$/.test(s)) throw new ArtifactError(`${this.file}: corrupt tar header at byte ${this.pos - BLOCK}`);
      return parseInt(s, 8);
    };
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (num(148, 8) !== sum) throw new ArtifactError(`${this.file}: corrupt tar header at byte ${this.pos - BLOCK} (checksum)`);
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    return { name, size: num(124, 12), type: field(156, 1) || '0', mode: num(100, 8) };
  }
  content(size: number, each: (chunk: Buffer) => void): void {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, 1 << 20);
      each(this.read(n));
      left -= n;
    }
    if (size % BLOCK) this.read(BLOCK - (size % BLOCK));
  }
  contentBuffer(size: number, limit: number, what: string): Buffer {
    if (size > limit) throw new ArtifactError(`${this.file}: ${what} is ${size} bytes, more than ${limit}`);
    const parts: Buffer[] = [];
    this.content(size, (c) => parts.push(Buffer.from(c)));
    return Buffer.concat(parts);
  }
}

export interface VerifiedArtifact {
  readonly env: string;
  readonly signed: boolean;
  /** Member paths (relative to the stack directory) with their SHA-256, in SHA256SUMS order. */
  readonly files: ReadonlyArray<{ path: string; sha256: string }>;
}

function parseSums(text: string, file: string): Map<string, string> {
  const sums = new Map<string, string>();
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new ArtifactError(`${file}: SHA256SUMS does not end with a newline`);
  for (const [i, line] of lines.entries()) {
    const m = /^([a-f0-9]{64}) {2}(\S+)$/.exec(line);
    if (!m) throw new ArtifactError(`${file}: SHA256SUMS line ${i + 1} is not "<sha256>  <path>"`);
    const path = m[2]!;
    if (path.startsWith('/') || path.split('/').some((s) => s === '..' || s === '.' || s === '') || path === 'SHA256SUMS' || path === 'SHA256SUMS.sig') {
      throw new ArtifactError(`${file}: SHA256SUMS line ${i + 1} names an unsafe path ${JSON.stringify(path)}`);
    }
    if (sums.has(path)) throw new ArtifactError(`${file}: SHA256SUMS lists ${path} twice`);
    sums.set(path, m[1]!);
  }
  return sums;
}

/**
 * Verifies an artifact without unpacking it: the signature of SHA256SUMS with `publicKeyPem` (when
 * given; an unsigned artifact is then refused), then every member against SHA256SUMS. With
 * `extractTo`, the members are written there as they are read (a temp dir renamed into place only
 * when everything verified: a bad artifact leaves nothing).
 */
export function verifyArtifact(file: string, opts: { publicKeyPem?: string; keyName?: string; extractTo?: string } = {}): VerifiedArtifact {
  let key: KeyObject | undefined;
  if (opts.publicKeyPem !== undefined) {
    try {
      key = parsePublicKey(opts.publicKeyPem, opts.keyName ?? 'key');
    } catch (e) {
      if (e instanceof KeyError) throw new ArtifactError(e.message);
      throw e;
    }
  }
  const tar = new TarReader(file);
  const tmp = opts.extractTo ? join(dirname(opts.extractTo), `.${basename(opts.extractTo)}.tmp-${process.pid}`) : undefined;
  try {
    const first = tar.next();
    const m = first && /^stackbook-([a-z0-9-]+)\/SHA256SUMS$/.exec(first.name);
    if (!first || !m || first.type !== '0') throw new ArtifactError(`${file}: not a stackbook artifact (its first member must be stackbook-<env>/SHA256SUMS)`);
    const env = m[1]!;
    const dir = `${artifactDir(env)}/`;
    const sumsBytes = tar.contentBuffer(first.size, 16 << 20, 'SHA256SUMS');
    let entry = tar.next();
    let signed = false;
    let sigBytes: Buffer | undefined;
    if (entry?.name === `${dir}SHA256SUMS.sig` && entry.type === '0') {
      sigBytes = tar.contentBuffer(entry.size, 64 << 10, 'SHA256SUMS.sig');
      const sig = sigBytes.toString('latin1');
      signed = true;
      if (key && !verifyBlob(sumsBytes, sig, key)) {
        throw new ArtifactError(`${file}: signature does not verify with ${opts.keyName ?? 'the key'} (wrong key, or SHA256SUMS was changed)`);
      }
      entry = tar.next();
    }
    if (key && !signed) throw new ArtifactError(`${file}: not signed (no SHA256SUMS.sig), but --key was given`);
    const sums = parseSums(sumsBytes.toString('utf8'), file);
    if (tmp) {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      writeFileIn(tmp, 'SHA256SUMS', sumsBytes, 0o644);
      if (sigBytes) writeFileIn(tmp, 'SHA256SUMS.sig', sigBytes, 0o644);
    }
    const seen = new Set<string>();
    for (; entry; entry = tar.next()) {
      if (!entry.name.startsWith(dir)) throw new ArtifactError(`${file}: unexpected member ${entry.name} (outside ${dir})`);
      const path = entry.name.slice(dir.length);
      if (entry.type !== '0') throw new ArtifactError(`${file}: ${path} is not a regular file (tar type ${entry.type})`);
      const want = sums.get(path);
      if (want === undefined) throw new ArtifactError(`${file}: extra file ${path} (not in SHA256SUMS)`);
      if (seen.has(path)) throw new ArtifactError(`${file}: ${path} appears twice`);
      seen.add(path);
      const h = createHash('sha256');
      const fd = tmp ? openTmp(tmp, path) : undefined;
      try {
        tar.content(entry.size, (c) => {
          h.update(c);
          if (fd !== undefined) writeSync(fd, c);
        });
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      if (h.digest('hex') !== want) throw new ArtifactError(`${file}: ${path} does not match SHA256SUMS (changed or corrupted)`);
      if (tmp) chmodSync(join(tmp, path), entry.mode & 0o111 ? 0o755 : 0o644);
    }
    const missing = [...sums.keys()].filter((p) => !seen.has(p));
    if (missing.length > 0) throw new ArtifactError(`${file}: missing ${missing.join(', ')} (listed in SHA256SUMS)`);
    if (tmp && opts.extractTo) {
      if (statSafe(opts.extractTo)) throw new ArtifactError(`${opts.extractTo} exists: unpack into a new directory`);
      renameSync(tmp, opts.extractTo);
    }
    return { env, signed, files: [...sums].map(([path, sha256]) => ({ path, sha256 })) };
  } finally {
    tar.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

function writeFileIn(dir: string, path: string, content: Buffer, mode: number): void {
  const fd = openTmp(dir, path);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  chmodSync(join(dir, path), mode);
}

function openTmp(dir: string, path: string): number {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  return openSync(join(dir, path), 'wx', 0o600);
}

/** images.txt lines of an unpacked or in-memory artifact, with the member carrying each image. */
export function carriedImages(lines: readonly ImageLine[]): Array<ImageLine & { member: string }> {
  return lines.filter((l) => l.digest !== '-').map((l) => ({ ...l, member: imageMemberPath(l.digest) }));
}

/** Parses images.txt (`<source> <mirror> <digest>` per line, # comments). */
export function parseImagesTxt(text: string): Array<{ source: string; mirror: string; digest: string }> {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => {
      const [source = '', mirror = '', digest = ''] = l.trim().split(/\s+/);
      return { source, mirror, digest };
    });
}

export { imageLines };
export const readText = (p: string): string => readFileSync(p, 'utf8');

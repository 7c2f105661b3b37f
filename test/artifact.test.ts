/**
 * Issue 16: the air-gap artifact. GNU tar and sha256sum act on what `bundle` writes; `verify`
 * refuses a tampered byte, a missing file, an extra file, a wrong key, an unsigned artifact and a
 * truncated one, each with one line and a non-zero exit, before anything is unpacked.
 * cosign interoperability: fixtures made by the real cosign v2.6.5 (test/fixtures/cosign/README.md).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArtifactError, artifactMembers, verifyArtifact, writeArtifact, type ArtifactMember } from '../bundle/artifact.js';
import { BundleError, bundleFiles, imageLines, loadSigningKey } from '../bundle/bundle.js';
import { parsePublicKey, verifyBlob } from '../bundle/cosign-key.js';
import { ROOT, renderEnv, SHARED } from './helpers.js';

const TMP = mkdtempSync(join(tmpdir(), 'stackbook-artifact-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let n = 0;
const tmpFile = (label: string) => join(TMP, `${label}-${++n}.tar`);

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
const PUB = publicKey.export({ type: 'spki', format: 'pem' }) as string;
const OTHER_PUB = other.export({ type: 'spki', format: 'pem' }) as string;
writeFileSync(join(TMP, 'good.pub'), PUB);
writeFileSync(join(TMP, 'other.pub'), OTHER_PUB);

const r = renderEnv('airgap');
const signedMembers = artifactMembers(r, { signingKey: privateKey });
function signedArtifact(members: readonly ArtifactMember[] = signedMembers): string {
  const f = tmpFile('signed');
  writeArtifact(f, 'airgap', members);
  return f;
}

const fails = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ArtifactError);
    return (e as Error).message;
  }
  throw new Error('expected an ArtifactError');
};

describe('issue 16: stackbook bundle writes one deterministic tar per stack', () => {
  it('the same input gives the same bytes; GNU tar lists it and sha256sum -c passes after tar -x', () => {
    const a = tmpFile('a');
    const b = tmpFile('b');
    const sa = writeArtifact(a, 'airgap', artifactMembers(r));
    writeArtifact(b, 'airgap', artifactMembers(renderEnv('airgap')));
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(createHash('sha256').update(readFileSync(a)).digest('hex')).toBe(sa);
    const listing = execFileSync('tar', ['-tvf', a], { encoding: 'utf8' }).trim().split('\n');
    expect(listing[0]).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 stackbook-airgap\/SHA256SUMS$/);
    expect(listing.find((l) => l.endsWith('/apply.sh'))).toMatch(/^-rwxr-xr-x /);
    const names = listing.map((l) => l.split(' ').pop());
    expect(names).toEqual(['SHA256SUMS', ...bundleFiles(r).map((f) => f.path).filter((p) => p !== 'SHA256SUMS')].map((p) => `stackbook-airgap/${p}`));
    const x = join(TMP, 'x');
    mkdirSync(x);
    execFileSync('tar', ['-xf', a, '-C', x]);
    expect(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: join(x, 'stackbook-airgap'), encoding: 'utf8' }).status).toBe(0);
  });

  it('SHA256SUMS of the artifact is the bundle directory SHA256SUMS (same files, same order)', () => {
    const dirSums = bundleFiles(r).find((f) => f.path === 'SHA256SUMS')!.content;
    expect(artifactMembers(r)[0]!.content!.toString()).toBe(dirSums);
  });

  it('never carries a private key: a policy whose key is a private PEM is refused', () => {
    const bad = structuredClone(r);
    const pol = bad.objects.find((o) => o.kind === 'ClusterImagePolicy')!;
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const json = JSON.stringify(pol).replace(/-----BEGIN PUBLIC KEY-----[^"]*-----END PUBLIC KEY-----\\n/, pem.replace(/\n/g, '\\n'));
    Object.assign(pol, JSON.parse(json));
    expect(() => artifactMembers(bad)).toThrow(BundleError);
    expect(() => artifactMembers(bad)).toThrow(/refusing to put a private key into the artifact \(01-cluster\.yaml\)$/);
  });
});

describe('issue 16: stackbook verify, before unpacking', () => {
  it('a good signed artifact verifies and unpacks; the unpacked dir passes sha256sum -c and has the signature', () => {
    const f = signedArtifact();
    const out = join(TMP, 'unpacked');
    const v = verifyArtifact(f, { publicKeyPem: PUB, extractTo: out });
    expect(v).toMatchObject({ env: 'airgap', signed: true });
    expect(v.files.length).toBe(signedMembers.length - 2);
    expect(readdirSync(out)).toContain('SHA256SUMS.sig');
    expect(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: out }).status).toBe(0);
  });

  it('a tampered byte in any member: that member named, nothing unpacked', () => {
    const f = signedArtifact();
    const bytes = readFileSync(f);
    const at = bytes.indexOf('kind: Deployment');
    bytes[at] = 'K'.charCodeAt(0);
    writeFileSync(f, bytes);
    const out = join(TMP, 'never');
    expect(fails(() => verifyArtifact(f, { publicKeyPem: PUB, extractTo: out }))).toMatch(/: 04-workloads\.yaml does not match SHA256SUMS \(changed or corrupted\)$/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(TMP).filter((d) => d.startsWith('.never'))).toEqual([]);
  });

  it('a changed SHA256SUMS (even re-hashed to match a changed file) breaks the signature', () => {
    const changed = signedMembers.map((m) => (m.path === 'images.txt' ? { ...m, content: Buffer.from(`${m.content}# x\n`) } : m));
    const sums = Buffer.from(
      changed
        .slice(2)
        .map((m) => `${createHash('sha256').update(m.content!).digest('hex')}  ${m.path}`)
        .join('\n') + '\n',
    );
    const f = signedArtifact([{ ...changed[0]!, content: sums }, ...changed.slice(1)]);
    expect(fails(() => verifyArtifact(f, { publicKeyPem: PUB }))).toMatch(/signature does not verify with the key \(wrong key, or SHA256SUMS was changed\)$/);
  });

  it('a missing file, an extra file, a duplicate, a wrong key, no signature, a truncated file', () => {
    const missing = signedArtifact(signedMembers.filter((m) => m.path !== 'secrets.json'));
    expect(fails(() => verifyArtifact(missing, { publicKeyPem: PUB }))).toMatch(/: missing secrets\.json \(listed in SHA256SUMS\)$/);
    const extra = signedArtifact([...signedMembers, { path: 'evil.sh', mode: 0o755, content: Buffer.from('rm -rf /\n') }]);
    expect(fails(() => verifyArtifact(extra, { publicKeyPem: PUB }))).toMatch(/: extra file evil\.sh \(not in SHA256SUMS\)$/);
    const dup = signedArtifact([...signedMembers, signedMembers[3]!]);
    expect(fails(() => verifyArtifact(dup, { publicKeyPem: PUB }))).toMatch(/appears twice$/);
    expect(fails(() => verifyArtifact(signedArtifact(), { publicKeyPem: OTHER_PUB, keyName: 'other.pub' }))).toMatch(/signature does not verify with other\.pub/);
    const unsigned = tmpFile('unsigned');
    writeArtifact(unsigned, 'airgap', artifactMembers(r));
    expect(fails(() => verifyArtifact(unsigned, { publicKeyPem: PUB }))).toMatch(/not signed \(no SHA256SUMS\.sig\), but --key was given$/);
    const cut = signedArtifact();
    writeFileSync(cut, readFileSync(cut).subarray(0, 100_000));
    expect(fails(() => verifyArtifact(cut, { publicKeyPem: PUB }))).toMatch(/truncated/);
    const notOurs = tmpFile('plain');
    execFileSync('tar', ['-cf', notOurs, '-C', ROOT, 'package.json']);
    expect(fails(() => verifyArtifact(notOurs, { publicKeyPem: PUB }))).toMatch(/not a stackbook artifact/);
  });

  it('the CLI: one line on stderr and exit 1 for a wrong key; exit 0 and one OK line for the right one', () => {
    const f = signedArtifact();
    const run = (key: string) => spawnSync(process.execPath, [join(ROOT, 'bin/stackbook.js'), 'verify', f, '--key', key], { encoding: 'utf8' });
    const bad = run(join(TMP, 'other.pub'));
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('signature does not verify with');
    const good = run(join(TMP, 'good.pub'));
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/^.*: OK: stack airgap, signature verified with .*good\.pub, \d+ files match SHA256SUMS\n$/);
  });
});

describe('issue 16: operators and the images they inject', () => {
  it('images.txt carries every operator-injected image of the ClusterImagePolicies, pulled from upstream by digest', () => {
    const lines = imageLines(r);
    const injected = r.objects
      .filter((o) => o.kind === 'ClusterImagePolicy')
      .flatMap((o) => (o.metadata.annotations?.['stackbook.io/operator-images'] ?? '').split(',').filter(Boolean));
    expect(injected.length).toBeGreaterThan(0);
    for (const ref of injected) {
      const l = lines.find((x) => x.reference === ref);
      expect(l, ref).toBeDefined();
      expect(`${l!.mirror.replace(/:[^:/]+$/, '')}@${l!.digest}`).toBe(ref.replace(/:[^:/@]+@/, '@'));
      expect(l!.source.startsWith(r.stack.cluster.registry!)).toBe(false);
      expect(l!.source).toMatch(/^(ghcr\.io|quay\.io)\/.+@sha256:[a-f0-9]{64}$/);
    }
  });

  it('PREREQUISITES.md names, per operator, the release whose CRDs the fixtures come from (shared/crds/README.md)', () => {
    const readme = readFileSync(join(SHARED, 'crds', 'README.md'), 'utf8');
    const tagOf = new Map<string, string>();
    for (const m of readme.matchAll(/^\| `[^`]+\/([^`/]+)\.yaml` \| \[[^\]]+\]\([^)]+\) \| `([^`]+)` \(`([0-9a-f]+)`\) \|/gm)) {
      const group = m[1]!.slice(m[1]!.indexOf('.') + 1);
      tagOf.set(group, `${m[2]} (${m[3]})`);
    }
    const md = bundleFiles(r).find((f) => f.path === 'PREREQUISITES.md')!.content;
    const section = md.slice(md.indexOf('## 2. Operators'), md.indexOf('## 3.'));
    const rows = section.split('\n').filter((l) => /^\| .* \| `[a-z.-]+\.[a-z]+` \|/.test(l));
    expect(rows.length).toBe(8);
    for (const row of rows) {
      const cells = row.split(' | ');
      const group = cells[2]!.replace(/`/g, '');
      // the Barman Cloud plugin has no CRD in ../shared/crds: its schema is hand-checked (test/crd-hand-checked.ts)
      if (tagOf.has(group)) expect(cells[1], group).toBe(tagOf.get(group));
      else expect(cells[1], group).toMatch(/^hand-checked schema \(plugin-barman-cloud [0-9a-f]+; no CRD in \.\.\/shared\/crds\)$/);
    }
    expect(rows.filter((r) => r.includes('hand-checked'))).toHaveLength(1);
  });
});

describe('issue 16: cosign key files and signatures (fixtures made by cosign v2.6.5)', () => {
  const FIX = join(ROOT, 'test/fixtures/cosign');
  const pub = parsePublicKey(readFileSync(join(FIX, 'cosign.pub'), 'utf8'), 'cosign.pub');

  it('an encrypted cosign key decrypts with COSIGN_PASSWORD to the key whose public half is cosign.pub', () => {
    const key = loadSigningKey(join(FIX, 'cosign.key'), 'stackbook-test-only');
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(readFileSync(join(FIX, 'cosign.pub'), 'utf8'));
  });

  it('a wrong or missing password is one clear BundleError naming the file', () => {
    expect(() => loadSigningKey(join(FIX, 'cosign.key'), 'wrong')).toThrow(/cosign\.key: wrong COSIGN_PASSWORD \(the key does not decrypt\)$/);
    expect(() => loadSigningKey(join(FIX, 'cosign.key'), undefined)).toThrow(/cosign\.key: an encrypted cosign key; set COSIGN_PASSWORD/);
  });

  it("cosign sign-blob's signature verifies with stackbook's verifier; a changed blob does not", () => {
    const sig = readFileSync(join(FIX, 'blob.txt.cosign.sig'), 'utf8');
    expect(verifyBlob(readFileSync(join(FIX, 'blob.txt')), sig, pub)).toBe(true);
    expect(verifyBlob(Buffer.from(`${readFileSync(join(FIX, 'blob.txt'), 'utf8')} `), sig, pub)).toBe(false);
  });

  it('an artifact signed with the cosign key verifies with cosign.pub, and with no other key', () => {
    const f = tmpFile('cosign');
    writeArtifact(f, 'airgap', artifactMembers(r, { signingKey: loadSigningKey(join(FIX, 'cosign.key'), 'stackbook-test-only') }));
    expect(verifyArtifact(f, { publicKeyPem: readFileSync(join(FIX, 'cosign.pub'), 'utf8') }).signed).toBe(true);
    expect(fails(() => verifyArtifact(f, { publicKeyPem: PUB }))).toMatch(/signature does not verify/);
  });

  it('verify refuses a private key given as --key, without echoing it', () => {
    const msg = fails(() => verifyArtifact(signedArtifact(), { publicKeyPem: readFileSync(join(FIX, 'cosign.key'), 'utf8'), keyName: 'cosign.key' }));
    expect(msg).toBe('cosign.key: a private key; give the public key (cosign.pub)');
  });
});

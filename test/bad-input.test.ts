/**
 * Bad input and bad surroundings (issue 7): broken stack files, hostile environment names, an
 * unreadable stack, an unwritable output, and a failure injected while writing at EVERY file of
 * every stack's bundle. Each must end with a clear message (exit 2, no stack trace) and leave the
 * previous `dist/<env>` byte-for-byte intact (the whole output tree is hashed before and after).
 *
 * Extends test/cli.test.ts (one invalid-YAML child run, an unknown name, failures after file 1, n/2
 * and n, a failed swap) and test/config.test.ts (loader messages for empty/invalid files).
 * Runs as root where chmod cannot make a file unreadable: a directory where a file is expected,
 * and a file where a directory is expected, fail the same way for everybody.
 */
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { bundleFiles, writeBundle } from '../bundle/bundle.js';
import { ENVS, renderEnv, ROOT } from './helpers.js';

/** Makes the n-th file write into a bundle's temp directory fail like a full disk. */
const diskFull = vi.hoisted(() => ({ at: 0, seen: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const writeFileSync: typeof real.writeFileSync = (file, data, options) => {
    if (diskFull.at > 0 && /\.tmp-\d+[/\\]/.test(String(file)) && ++diskFull.seen === diskFull.at) {
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${String(file)}'`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    }
    return real.writeFileSync(file, data, options);
  };
  return { ...real, writeFileSync, default: { ...real, writeFileSync } };
});

/** The CLI runs here many times over the same stacks: each distinct stack is rendered once (test/render-inject.ts). */
vi.mock('../synth/render.js', async (orig) => (await import('./render-inject.js')).renderOncePerStack(orig));

const TMP = mkdtempSync(join(tmpdir(), 'stackbook-bad-input-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
afterEach(() => {
  diskFull.at = 0;
  diskFull.seen = 0;
  vi.restoreAllMocks();
});

let n = 0;
/** Made once per file: copies of the real stacks and a good `synth --all` of them (no test runs in it). */
let template: string | undefined;
/**
 * A project root with copies of the real stacks, and a previous good synth of every stack in `dist/`.
 * The synth runs once (~0.5 s of CPU, in the template); each project is a byte-for-byte copy of
 * that tree (modes included), which is what the synth would have written again.
 */
async function project(label: string): Promise<string> {
  if (!template) {
    const t = join(TMP, 'template');
    mkdirSync(t, { recursive: true });
    cpSync(join(ROOT, 'stacks'), join(t, 'stacks'), { recursive: true, filter: (src) => !src.endsWith('.ts') });
    const first = await cli(['synth', '--all'], t);
    expect(first.code, first.stderr).toBe(0);
    template = t;
  }
  const root = join(TMP, `${label}-${++n}`);
  cpSync(template, root, { recursive: true });
  expect(treeHash(root)).toBe(treeHash(template));
  return root;
}

/** The CLI in process; exit code and everything it printed. */
async function cli(argv: string[], root: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr') => (chunk: string | Uint8Array) => {
    out[stream] += String(chunk);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture('stdout'));
  vi.spyOn(process.stderr, 'write').mockImplementation(capture('stderr'));
  try {
    const code = await main(argv, root);
    return { code, ...out };
  } finally {
    vi.restoreAllMocks();
  }
}

/** One hash over a whole tree: every entry's path, type, mode and bytes (hidden temp dirs included). */
function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      h.update(`${relative(dir, p)}\0${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'}\0${(st.mode & 0o7777).toString(8)}\0`);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) h.update(readlinkSync(p));
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const STACK_TRACE = /^\s+at /m;

/** Exit 2, every line naming where, no stack trace, nothing on stdout. */
function expectCleanFailure(r: { code: number; stdout: string; stderr: string }, linePrefix: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).not.toMatch(STACK_TRACE);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length).toBeGreaterThan(0);
  expect(lines[0]).toMatch(linePrefix);
  // Then: more lines of the same kind, the usage text after a usage error, or which bundles were written.
  const usage = lines.indexOf('usage:');
  for (const l of lines.slice(1, usage < 0 ? undefined : usage)) expect(l).toMatch(new RegExp(`${linePrefix.source}|^stackbook: written: `));
}

// ----------------------------------------------------------------------------- broken stack files

/** Billion laughs: ten levels of nine aliases each (~3.9·10⁹ strings once expanded). */
const ALIAS_BOMB = [
  'config:',
  '  stackbook:environment: dev',
  '  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ...Array.from({ length: 9 }, (_, i) => `  x${i + 1}: &a${i + 1} [*a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}]`),
  '  stackbook:clusterr: *a9',
  '  stackbook:services: { ope: { resources: *a9 } }',
].join('\n');

const BROKEN: Array<[string, (good: string) => string | Buffer]> = [
  ['an empty file', () => ''],
  ['only blanks and comments', () => '\n   \n# TODO\n'],
  ['an unclosed flow sequence', (g) => g.replace('stackbook:tier: development', 'stackbook:tier: [development')],
  ['a tab in the indentation', (g) => g.replace('\n  stackbook:tier:', '\n\tstackbook:tier:')],
  ['a duplicated key', (g) => `${g}  stackbook:tier: production\n`],
  ['two YAML documents', (g) => `${g}---\nconfig: {}\n`],
  ['a top-level list', () => '- config\n- stackbook:tier\n'],
  ['a top-level scalar', () => 'just text\n'],
  ['config: null', () => 'config:\n'],
  ['config as a list', () => 'config:\n  - stackbook:tier: development\n'],
  ['binary garbage', () => Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x00, 0x0a, 0x80, 0x81])],
  // cut inside the cluster block, mid-line: where a proportional cut lands depends on how long the
  // services section is (60 % once fell between two service blocks and left a valid, smaller stack)
  ['truncated mid-file', (g) => g.slice(0, g.indexOf('\n', g.indexOf('stackbook:cluster:') + 20) - 3)],
  ['a YAML alias bomb', () => ALIAS_BOMB],
];

describe('a broken stack file: exit 2, one clear message, previous bundles untouched', () => {
  it.each(BROKEN)('%s', async (_name, breakIt) => {
    const root = await project('broken');
    const file = join(root, 'stacks', 'Pulumi.dev.yaml');
    const broken = breakIt(readFileSync(file, 'utf8'));
    writeFileSync(file, broken);
    // a truncated file may still be a valid (if incomplete) stack: then the loader says what is missing
    const before = treeHash(join(root, 'dist'));
    const started = Date.now();
    const r = await cli(['synth', '--all'], root);
    expect(Date.now() - started).toBeLessThan(10_000);
    expectCleanFailure(r, /^stacks\/Pulumi\.dev\.yaml: /);
    expect(r.stderr.length).toBeLessThan(4000);
    expect(treeHash(join(root, 'dist'))).toBe(before);
  });

  it('a stack file with CRLF line endings and a BOM is read like any other', async () => {
    const root = await project('crlf');
    const file = join(root, 'stacks', 'Pulumi.dev.yaml');
    const good = readFileSync(file, 'utf8');
    const expected = readFileSync(join(root, 'dist', 'dev', '01-cluster.yaml'));
    writeFileSync(file, `\uFEFF${good.replace(/\n/g, '\r\n')}`);
    const r = await cli(['synth', 'dev'], root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, 'dist', 'dev', '01-cluster.yaml')).equals(expected)).toBe(true);
  });
});

// ----------------------------------------------------------------------------- environment names

describe('hostile environment names: exit 2, nothing written', () => {
  const NAMES = ['../stacks/Pulumi.dev', 'dev/../prod', 'PROD', 'prod.yaml', 'Pulumi.prod', ' ', '', 'prod;rm -rf /', 'stacks'];

  it.each(NAMES.map((x) => [JSON.stringify(x), x]))('%s', async (_label, name) => {
    const root = await project('envname');
    const before = treeHash(root);
    const r = await cli(['synth', name], root);
    expectCleanFailure(r, /^stacks\/Pulumi\..*\.yaml: unknown environment /s);
    expect(r.stderr).toContain('(known: airgap, dev, prod, staging)');
    expect(treeHash(root)).toBe(before);
  });

  it('a name with a newline or control characters is quoted, so the error stays one line', async () => {
    const root = await project('envname-newline');
    const r = await cli(['synth', 'dev\nstacks/Pulumi.prod.yaml: all good\u001b[0m'], root);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('unknown environment "dev\\nstacks/Pulumi.prod.yaml: all good\\u001b[0m"');
  });

  it('a name that looks like an option is a usage error', async () => {
    const root = await project('option');
    const before = treeHash(root);
    const r = await cli(['synth', '--prod'], root);
    expectCleanFailure(r, /^stackbook: unknown option --prod$/);
    expect(treeHash(root)).toBe(before);
  });
});

// ----------------------------------------------------------------------------- unreadable input, unwritable output

/** True when chmod 000 really stops this process from reading (not when running as root). */
function chmodBites(dir: string): boolean {
  const probe = join(dir, 'probe');
  writeFileSync(probe, 'x');
  chmodSync(probe, 0o000);
  try {
    readFileSync(probe);
    return false;
  } catch {
    return true;
  } finally {
    chmodSync(probe, 0o644);
    rmSync(probe);
  }
}

describe('unreadable stacks and unwritable output', () => {
  it('an unreadable stack file: exit 2 naming the file and the reason', async () => {
    const root = await project('unreadable');
    const file = join(root, 'stacks', 'Pulumi.prod.yaml');
    const bites = chmodBites(root);
    if (bites) chmodSync(file, 0o000);
    else {
      // as root: a directory where the stack file should be cannot be read either
      rmSync(file);
      mkdirSync(file);
    }
    const before = treeHash(join(root, 'dist'));
    const r = await cli(['synth', '--all'], root);
    if (bites) chmodSync(file, 0o644);
    expectCleanFailure(r, /^stacks\/Pulumi\.prod\.yaml: cannot read: (EACCES|EISDIR)$/);
    expect(treeHash(join(root, 'dist'))).toBe(before);
  });

  it('an output path that is a file: exit 2 naming it, the file untouched', async () => {
    const root = await project('out-file');
    writeFileSync(join(root, 'not-a-dir'), 'operator notes\n');
    const r = await cli(['synth', 'dev', '--out', 'not-a-dir'], root);
    expectCleanFailure(r, /^stackbook: cannot write .*not-a-dir.*: (EEXIST|ENOTDIR)\b/);
    expect(readFileSync(join(root, 'not-a-dir'), 'utf8')).toBe('operator notes\n');
  });

  it('a file where dist/<env> should be is not replaced (it is not a bundle)', async () => {
    const root = await project('env-file');
    rmSync(join(root, 'dist', 'prod'), { recursive: true });
    writeFileSync(join(root, 'dist', 'prod'), 'not a bundle\n');
    const before = treeHash(join(root, 'dist'));
    const r = await cli(['synth', 'prod'], root);
    expectCleanFailure(r, /^stackbook: /);
    expect(r.stderr).toContain(join(root, 'dist', 'prod'));
    expect(treeHash(join(root, 'dist'))).toBe(before);
  });

  it('an unwritable output directory (chmod, or /sys for root): exit 2, previous bundles untouched', async () => {
    const root = await project('readonly');
    const dist = join(root, 'dist');
    const before = treeHash(dist);
    let r: Awaited<ReturnType<typeof cli>>;
    if (chmodBites(root)) {
      chmodSync(dist, 0o555);
      try {
        r = await cli(['synth', '--all'], root);
      } finally {
        chmodSync(dist, 0o755);
      }
    } else {
      // sysfs refuses new directories even to root (EPERM, or EROFS in a container). Not /proc:
      // Node's recursive mkdir loops forever there.
      r = await cli(['synth', '--all', '--out', '/sys/stackbook-cannot-write-here'], root);
    }
    expectCleanFailure(r, /^stackbook: cannot write /);
    expect(treeHash(dist)).toBe(before);
  });
});

// ----------------------------------------------------------------------------- failure injected mid-write

describe('a failure in the middle of writing leaves the previous bundle byte-for-byte intact', () => {
  it.each(ENVS)('%s: writeBundle fails after each file in turn (every index)', (env) => {
    const parent = join(TMP, `hook-${env}`);
    const out = join(parent, env);
    // the previous bundle is another stack's, so that every file differs
    writeBundle(out, bundleFiles(renderEnv(env === 'dev' ? 'prod' : 'dev')));
    writeFileSync(join(out, 'operator-notes.txt'), 'kept\n');
    const before = treeHash(parent);
    const files = bundleFiles(renderEnv(env));
    for (let failAt = 1; failAt <= files.length; failAt++) {
      let written = 0;
      expect(() =>
        writeBundle(out, files, () => {
          if (++written === failAt) throw new Error(`injected failure after file ${failAt}`);
        }),
      ).toThrow(`injected failure after file ${failAt}`);
      expect(treeHash(parent), `failure after file ${failAt} of ${files.length}`).toBe(before);
    }
  });

  it.each(ENVS)('%s: `stackbook synth` hitting a full disk at each file in turn: exit 2, previous bundle intact', async (env) => {
    const root = await project(`enospc-${env}`);
    const dist = join(root, 'dist');
    const before = treeHash(dist);
    const count = readdirSync(join(dist, env)).length;
    expect(count).toBeGreaterThan(3);
    for (let at = 1; at <= count; at++) {
      diskFull.at = at;
      diskFull.seen = 0;
      const r = await cli(['synth', env], root);
      expect(diskFull.seen, `the bundle has ${count} files`).toBeGreaterThanOrEqual(at);
      expectCleanFailure(r, /^stackbook: cannot write /);
      expect(r.stderr).toContain('ENOSPC');
      expect(treeHash(dist), `disk full at file ${at} of ${count}`).toBe(before);
    }
  });

  it('--all: a failure in a later stack leaves that stack\'s previous bundle intact and says which were written', async () => {
    const root = await project('enospc-all');
    const dist = join(root, 'dist');
    const prodBefore = treeHash(join(dist, 'prod'));
    const perEnv = readdirSync(join(dist, 'airgap')).length + readdirSync(join(dist, 'dev')).length;
    diskFull.at = perEnv + 2; // airgap and dev written, then prod fails at its second file
    const r = await cli(['synth', '--all'], root);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(STACK_TRACE);
    expect(r.stderr).toMatch(/^stackbook: cannot write .*prod.*ENOSPC/m);
    expect(r.stderr).toMatch(/written: airgap, dev; not written: prod, staging/);
    expect(treeHash(join(dist, 'prod'))).toBe(prodBefore);
    expect(readdirSync(dist).sort()).toEqual([...ENVS].sort());
  });
});

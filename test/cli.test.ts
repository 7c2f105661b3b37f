/**
 * The `stackbook` CLI: synth/check/coverage through `main` (in process, output captured), plus
 * one child-process test of the built command for exit codes and stderr without stack traces.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { evaluate, formatViolation } from '../policies/manifest-rules.js';
import { bundleFiles, writeBundle } from '../bundle/bundle.js';
import { PHASES } from '../synth/render.js';
import { ENVS, renderEnv, ROOT, SHARED } from './helpers.js';

/**
 * lets one test make `render` produce a violating object, as a buggy component would. The
 * CLI runs here many times over the same four stacks: each distinct stack is rendered once
 * (test/render-inject.ts), every caller gets its own copy.
 */
const sabotage = vi.hoisted(() => ({ on: false }));
vi.mock('../synth/render.js', async (importOriginal) => {
  const real = await (await import('./render-inject.js')).renderOncePerStack(importOriginal);
  return {
    ...real,
    render: (stack: Parameters<typeof real.render>[0]) => {
      const r = real.render(stack);
      if (!sabotage.on) return r;
      const objects = structuredClone(r.objects) as unknown as Array<Record<string, any>>;
      // OPE's Deployment, by namespace and name (other services' Deployments come first)
      const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.namespace === 'ope' && o.metadata.name === 'ope')!;
      d.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false;
      return { ...r, objects };
    },
  };
});

/** Atomicity: lets one test fail the final swap of the new bundle into place. */
const failSwap = vi.hoisted(() => ({ on: false }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const renameSync: typeof real.renameSync = (from, to) => {
    if (failSwap.on && /\.tmp-\d+$/.test(String(from))) throw Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' });
    return real.renameSync(from, to);
  };
  return { ...real, renameSync, default: { ...real, renameSync } };
});

const TMP = mkdtempSync(join(tmpdir(), 'stackbook-cli-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
afterEach(() => {
  sabotage.on = false;
  failSwap.on = false;
  vi.restoreAllMocks();
});

let n = 0;
function tmpDir(label: string): string {
  const d = join(TMP, `${label}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Run the CLI in process; returns the exit code and what it printed. */
async function run(argv: string[], root = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(argv, root);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

/** Every file under a directory, relative path -> bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function expectSameFiles(a: Map<string, Buffer>, b: Map<string, Buffer>) {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, v] of a) expect(b.get(k)!.equals(v), k).toBe(true);
}

const NO_STACK_TRACE = /^\s+at .+\(?.*:\d+:\d+\)?$/m;

/** A project root with the real stacks, for runs that must not touch the real one. */
function projectCopy(label: string): string {
  const root = tmpDir(label);
  cpSync(join(ROOT, 'stacks'), join(root, 'stacks'), { recursive: true, filter: (src) => !src.endsWith('.ts') });
  return root;
}

describe('stackbook synth', () => {
  it('--all writes one bundle per stack into --out, in apply order, with checksums', async () => {
    const out = tmpDir('synth');
    const r = await run(['synth', '--all', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([...ENVS].sort());
    // one table row per stack (issue 17: was one 600-character line each), then where they went
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['env', 'objects', 'files', 'warnings', 'exceptions', 'seconds']);
    expect(lines.at(-1)).toBe(`-> ${out}/<env>/ (secrets.json: Secrets to create; stackbook check: exceptions)`);
    for (const env of ENVS) {
      const row = lines.find((l) => l.split(/\s+/)[0] === env)!.split(/\s+/);
      expect(row[1], env).toBe(String(renderEnv(env).objects.length));
      expect(row[2], env).toBe(String(readdirSync(join(out, env)).length));
      // excepted violations are counted, not printed (stderr is empty above); `check` lists them
      const excepted = evaluate(renderEnv(env).objects).filter((v) => v.exceptedBecause !== undefined).length;
      expect(row.slice(3, 5), env).toEqual(['0', String(excepted)]);
      const files = readdirSync(join(out, env)).sort();
      const phaseFiles = files.filter((f) => /^\d\d-/.test(f));
      // numbered in the order the phases must be applied
      expect(phaseFiles).toEqual(PHASES.map((p, i) => `${String(i + 1).padStart(2, '0')}-${p}.yaml`));
      expect(files).toEqual(expect.arrayContaining(['SHA256SUMS', 'images.txt', 'secrets.json']));
    }
    // nothing but the bundles: no temp or backup directories left beside them
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('is deterministic: two synths give byte-identical bundles', async () => {
    const a = tmpDir('det-a');
    const b = tmpDir('det-b');
    expect((await run(['synth', '--all', '--out', a])).code).toBe(0);
    expect((await run(['synth', '--all', '--out', b])).code).toBe(0);
    expectSameFiles(snapshot(a), snapshot(b));
  });

  it('SHA256SUMS verifies with sha256sum -c and covers every other file', async () => {
    const out = tmpDir('sums');
    expect((await run(['synth', '--all', '--out', out])).code).toBe(0);
    for (const env of ENVS) {
      const dir = join(out, env);
      const listed = readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/\s+/)[1]);
      expect(listed.sort(), env).toEqual(readdirSync(dir).filter((f) => f !== 'SHA256SUMS').sort());
      const verified = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
      expect(verified.trim().split('\n').every((l) => l.endsWith(': OK')), env).toBe(true);
      // and a tampered file fails the check
      writeFileSync(join(dir, 'images.txt'), 'tampered\n');
      const bad = spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
      expect(bad.status, env).not.toBe(0);
    }
  });

  it('an unknown environment: exit 2, a clear one-line message, no stack trace, nothing written', async () => {
    const out = tmpDir('unknown');
    const r = await run(['synth', 'nope', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('stacks/Pulumi.nope.yaml: unknown environment "nope" (known: airgap, dev, prod, staging)\n');
    expect(r.stderr).not.toMatch(NO_STACK_TRACE);
    expect(readdirSync(out)).toEqual([]);
  });

  it('usage errors exit 2 with the usage text', async () => {
    for (const argv of [['synth'], ['frobnicate'], ['synth', '--all', 'dev'], ['synth', '--all', '--out'], ['check', '--bogus']]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(/^stackbook: .+\nusage:/);
    }
  });

  it('a broken stack: exit 2, every error of every stack listed, nothing written, the previous bundles untouched', async () => {
    const root = projectCopy('broken');
    const prod = join(root, 'stacks', 'Pulumi.prod.yaml');
    writeFileSync(
      prod,
      readFileSync(prod, 'utf8')
        .replace('workers: 1', 'workers: 6')
        .replace('threadQueueMax: 16', 'threadQueueMax: 500')
        .replace('ingressClass: alb', 'ingressClass: traefik'),
    );
    const dev = join(root, 'stacks', 'Pulumi.dev.yaml');
    writeFileSync(dev, readFileSync(dev, 'utf8').replace('stackbook:tier: development', 'stackbook:tier: dev'));
    // into a fresh directory: nothing at all is written
    const fresh = join(root, 'fresh');
    expect((await run(['synth', '--all', '--out', fresh], root)).code).toBe(2);
    expect(existsSync(fresh)).toBe(false);
    // over a previous good synth (from the real stacks): it stays as it was
    const out = join(root, 'dist');
    expect((await run(['synth', '--all', '--out', out])).code).toBe(0);
    const before = snapshot(out);

    const r = await run(['synth', '--all', '--out', out], root);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^stacks\/Pulumi\.dev\.yaml: config\.stackbook:tier: must be one of .* \(got "dev"\)$/),
        expect.stringMatching(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.ope\.workers: .*1–4.* \(got 6\)$/),
        expect.stringMatching(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:cluster\.ingressClass: must be one of .* \(got "traefik"\)$/),
        expect.stringMatching(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.ope\.threadQueueMax: .* \(got 500\)$/),
      ]),
    );
    expect(r.stderr).not.toMatch(NO_STACK_TRACE);
    expectSameFiles(before, snapshot(out));
  });

  it('X-13: policies run at synth: a violating object fails it (exit 1) and nothing is written', async () => {
    const out = tmpDir('policy');
    sabotage.on = true;
    const r = await run(['synth', 'dev', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dev: Deployment ope\/ope: \[pod-security-restricted\] container ope has a writable root filesystem/m);
    // only the blocking violation is printed; the stack's reasoned exceptions are not
    expect(r.stderr.split('\n').filter((l) => l.startsWith('dev: '))).toEqual([expect.stringMatching(/^dev: Deployment ope\/ope: .* \[mandatory\]$/)]);
    expect(r.stderr).toContain('nothing written');
    expect(readdirSync(out)).toEqual([]);
    const c = await run(['check', 'dev']);
    expect(c.code).toBe(1);
    expect(c.stdout).toMatch(/^dev: \d+ objects, 1 blocking/m);
  });
});

describe('writeBundle is atomic', () => {
  const files = () => bundleFiles(renderEnv('prod'));

  it('a failure in the middle of writing leaves the previous bundle byte-for-byte intact, and no temp files', () => {
    const parent = tmpDir('atomic');
    const out = join(parent, 'prod');
    writeBundle(out, bundleFiles(renderEnv('dev')));
    writeFileSync(join(out, 'operator-notes.txt'), 'previous bundle marker\n');
    const before = snapshot(out);
    const list = files();
    expect(list.length).toBeGreaterThan(3);
    for (const failAt of [1, Math.floor(list.length / 2), list.length]) {
      let written = 0;
      expect(() =>
        writeBundle(out, list, () => {
          written++;
          if (written === failAt) throw new Error(`disk full after ${failAt} files`);
        }),
      ).toThrow(`disk full after ${failAt} files`);
      expect(written).toBe(failAt);
      expectSameFiles(before, snapshot(out));
      expect(readdirSync(parent)).toEqual(['prod']);
    }
  });

  it('a failure swapping the new bundle in restores the previous one byte-for-byte', () => {
    const parent = tmpDir('swap-fail');
    const out = join(parent, 'prod');
    writeBundle(out, bundleFiles(renderEnv('dev')));
    const before = snapshot(out);
    failSwap.on = true;
    expect(() => writeBundle(out, files())).toThrow('EXDEV');
    failSwap.on = false;
    expectSameFiles(before, snapshot(out));
    expect(readdirSync(parent)).toEqual(['prod']);
  });

  it('a run killed between its two renames is recovered: the next run puts the previous bundle back first', () => {
    const parent = tmpDir('killed');
    const out = join(parent, 'prod');
    writeBundle(out, bundleFiles(renderEnv('dev')));
    const before = snapshot(out);
    // What a SIGKILL after `rename(out, old)` leaves behind (another pid's old copy, no bundle).
    renameSync(out, join(parent, '.prod.old-4242'));
    let written = 0;
    expect(() =>
      writeBundle(out, files(), () => {
        if (++written === 2) throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expectSameFiles(before, snapshot(out));
    expect(readdirSync(parent)).toEqual(['prod']);
    writeBundle(out, files());
    expect(readdirSync(parent)).toEqual(['prod']);
  });

  it('the new bundle is written beside the old one, then swapped in whole', () => {
    const parent = tmpDir('swap');
    const out = join(parent, 'prod');
    writeBundle(out, bundleFiles(renderEnv('dev')));
    writeFileSync(join(out, 'stale.yaml'), 'from an older synth\n');
    const seen: string[][] = [];
    writeBundle(out, files(), () => seen.push(readdirSync(parent).sort()));
    // while writing, the previous bundle stayed in place next to a hidden temp dir
    for (const s of seen) {
      expect(s).toContain('prod');
      expect(s.filter((f) => f !== 'prod')).toEqual([expect.stringMatching(/^\.prod\.tmp-\d+$/)]);
    }
    expect(readdirSync(parent)).toEqual(['prod']);
    const now = snapshot(out);
    expect(now.has('stale.yaml')).toBe(false);
    expectSameFiles(new Map(files().map((f) => [f.path, Buffer.from(f.content)])), now);
  });

  it('accepts an output path with a trailing slash', () => {
    const parent = tmpDir('slash');
    writeBundle(`${join(parent, 'prod')}/`, files());
    expect(readdirSync(parent)).toEqual(['prod']);
    expect(readdirSync(join(parent, 'prod'))).toContain('SHA256SUMS');
  });
});

describe('stackbook check and coverage', () => {
  it('check exits 0 on the real stacks, with no blocking violation', async () => {
    const r = await run(['check', '--all']);
    expect(r.code).toBe(0);
    for (const env of ENVS) {
      const lines = r.stdout.split('\n').filter((l) => l.startsWith(`${env}: `));
      const summary = lines.filter((l) => /^\S+: \d+ objects, /.test(l));
      expect(summary, env).toEqual([expect.stringMatching(new RegExp(`^${env}: \\d+ objects, 0 blocking, \\d+ excepted/advisory$`))]);
      // it lists every non-blocking violation the policies report, and each is a reasoned exception
      // (OUB-10: the Oubliette runtime sidecar and its namespace) — the stacks have no advisories
      const listed = lines.filter((l) => !summary.includes(l));
      expect(listed, env).toHaveLength(Number(/(\d+) excepted\/advisory$/.exec(summary[0]!)![1]));
      expect(listed, env).toEqual(evaluate(renderEnv(env).objects).map((v) => `${env}: ${formatViolation(v)}`));
      for (const l of listed) {
        expect(l).toMatch(new RegExp(`^${env}: (Namespace oub|Deployment oub/oubliette): \\[pod-security-restricted\\] .* \\[excepted \\(OUB-10: .{20,}\\)\\]$`));
      }
    }
  });

  it('issue 14: check warns once per stack that still carries EXAMPLE values (stderr, exit 0); --strict fails (exit 1); a stack without them passes --strict', async () => {
    const r = await run(['check', '--all']);
    expect(r.code).toBe(0);
    for (const env of ENVS) {
      const marked = readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8')
        .split('\n')
        .flatMap((l, i) => (/\bEXAMPLE\b/.test(l) ? [i + 1] : []));
      expect(marked.length, env).toBeGreaterThan(0);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith(`${env}: warning: `));
      expect(warnings, env).toEqual([expect.stringContaining(`stacks/Pulumi.${env}.yaml still carries EXAMPLE values (marked on lines ${marked.join(', ')})`)]);
    }
    const strict = await run(['check', '--all', '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(`check --strict: ${ENVS.length} stacks still carry EXAMPLE values`);
    // Replaced values (the marker removed) in one stack: no warning for it, --strict passes for it.
    const root = projectCopy('examples');
    const dev = join(root, 'stacks', 'Pulumi.dev.yaml');
    writeFileSync(dev, readFileSync(dev, 'utf8').split('EXAMPLE').join('own'));
    const clean = await run(['check', 'dev', '--strict'], root);
    expect(clean.stderr).not.toMatch(/EXAMPLE/);
    expect(clean.code).toBe(0);
    expect((await run(['check', 'prod', '--strict'], root)).code).toBe(1);
  });

  it('coverage --json lists every OPE concern of the catalog with the objects and tests that carry it', async () => {
    const catalog = readFileSync(join(SHARED, 'runbooks', 'CONCERNS.md'), 'utf8');
    const opeIds = [...catalog.matchAll(/^- (OPE-\d+) /gm)].map((m) => m[1]!);
    expect(opeIds).toHaveLength(9);
    const r = await run(['coverage', '--json']);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout) as { ok: boolean; rows: Array<{ id: string; status: string; objects: string[]; tests: string[]; note?: string }> };
    expect([0, 1]).toContain(r.code);
    expect(r.code === 0).toBe(report.ok);
    const rows = new Map(report.rows.map((row) => [row.id, row]));
    for (const id of opeIds) {
      const row = rows.get(id);
      expect(row, id).toBeDefined();
      expect(row!.status, id).toBe('covered');
      expect(row!.objects.length + (row!.note ? 1 : 0), id).toBeGreaterThan(0);
      expect(row!.tests, id).toContain('test/ope.test.ts');
    }
    // and the human-readable form of the same report
    const text = await run(['coverage']);
    for (const id of opeIds) expect(text.stdout).toMatch(new RegExp(`^ok\\s+${id}\\s`, 'm'));
  });

  it('coverage with a missing catalog: exit 2 and a clear message', async () => {
    const r = await run(['coverage', '--catalog', join(TMP, 'missing.md')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.md: cannot read the concerns catalog/);
  });
});

describe('the built command (child process)', () => {
  const SOURCE_DIRS = ['cli', 'stacks', 'components', 'services', 'policies', 'synth'];

  function staleOutputs(): string[] {
    const stale: string[] = [];
    for (const dir of SOURCE_DIRS) {
      for (const f of readdirSync(join(ROOT, dir)).filter((x) => x.endsWith('.ts'))) {
        const js = join(ROOT, 'build', dir, f.replace(/\.ts$/, '.js'));
        if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(ROOT, dir, f)).mtimeMs) stale.push(`${dir}/${f}`);
      }
    }
    return stale;
  }

  beforeAll(() => {
    if (staleOutputs().length === 0) return;
    // Emits even if an unrelated part of the project (pulumi/) does not type-check right now.
    spawnSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, encoding: 'utf8' });
    const still = staleOutputs();
    if (still.length > 0) throw new Error(`build/ is stale after tsc: ${still.join(', ')}`);
  }, 120_000);

  it('exit codes: 0 on success, 2 on an unknown environment or a broken stack, never a stack trace', async () => {
    const root = projectCopy('child');
    const bin = join(ROOT, 'bin', 'stackbook.js');
    const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });

    const ok = cli('synth', '--all', '--out', 'out');
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    // same bytes as the in-process synth: deterministic across processes
    const inProcess = tmpDir('in-process');
    expect((await run(['synth', '--all', '--out', inProcess])).code).toBe(0);
    expectSameFiles(snapshot(inProcess), snapshot(join(root, 'out')));

    // (`check --all` exiting 0 is "check exits 0 on the real stacks" below, in process: the bin
    // hands every command's return to process.exitCode alike, which the children here show.)

    const unknown = cli('synth', 'nope', '--out', 'out2');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown environment "nope"');
    expect(unknown.stderr).not.toMatch(NO_STACK_TRACE);

    writeFileSync(join(root, 'stacks', 'Pulumi.staging.yaml'), 'config:\n  stackbook:tier: [oops\n');
    const broken = cli('synth', '--all', '--out', 'out2');
    expect(broken.status).toBe(2);
    expect(broken.stderr.trim()).toMatch(/^stacks\/Pulumi\.staging\.yaml: not valid YAML: .*$/);
    expect(broken.stderr).not.toMatch(NO_STACK_TRACE);
    expect(existsSync(join(root, 'out2'))).toBe(false);

    const usage = cli('bogus');
    expect(usage.status).toBe(2);
  });
});

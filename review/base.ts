/**
 * `stackbook diff` (X-11): synthesize a base git revision with that revision's own code and
 * stacks, render the working tree (uncommitted changes included), and diff the two.
 *
 * The base is exported with `git archive` (read-only: no worktree, no index, no refs touched)
 * into a temporary directory, which is always removed, also on failure or Ctrl-C. It reuses this
 * project's `node_modules` through a symlink when the base's `package-lock.json` is identical;
 * otherwise it runs `npm ci --ignore-scripts` there (slower, and said so on stderr). The base's
 * own CLI then runs `synth` through tsx, and its bundle files are read back. A base whose code is
 * the working tree's (only stack files differ: `codeMatchesWorkingTree`) has just its stack files
 * exported and rendered in this process: what its own code would render.
 *
 * The result is cached per environment under the base's tree hash (`git rev-parse <commit>:<dir>`:
 * the revision's code, stacks and lockfile, which alone determine what it renders), in
 * `STACKBOOK_DIFF_CACHE` (default `node_modules/.cache/stackbook-diff`): the next diff against the
 * same base reads it back instead of exporting and synthesizing again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rendered } from '../synth/render.js';
import {
  buildReport,
  formatMarkdown,
  formatText,
  hasChanges,
  parseBundle,
  toJson,
  type DiffReport,
  type Obj,
} from './diff.js';

/** A diff that cannot be computed: bad ref, not a git repository, base fails to synthesize (exit 2). */
export class DiffError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiffError';
  }
}

const STACK_FILE = /^Pulumi\.([a-z0-9][-a-z0-9]*)\.yaml$/;

function stacksIn(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'stacks'))
      .map((n) => STACK_FILE.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .sort();
  } catch {
    return [];
  }
}

function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000) {
  // The base bundle is only read back, never shipped: no signing key (its path would not resolve there).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'STACKBOOK_BUNDLE_SIGNING_KEY'));
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 });
  return { ok: r.status === 0 && !r.error, status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

/** The last lines of a child's stderr, for an error message. */
function tail(s: string, lines = 12): string {
  const all = s.trim().split('\n');
  return all.slice(-lines).map((l) => `  ${l}`).join('\n');
}

export interface BaseSynthesis {
  /** The commit the ref resolved to. */
  readonly commit: string;
  /** Environments that have a stack in the base revision. */
  readonly known: readonly string[];
  /** The synthesized objects of the requested environments the base has. */
  readonly envs: ReadonlyMap<string, readonly Obj[]>;
}

/** Resolve a ref to a commit of the repository holding `root`. */
export function resolveRef(root: string, ref: string): string {
  if (ref.startsWith('-')) throw new DiffError(`"${ref}" is not a git revision`);
  const inside = run('git', ['rev-parse', '--is-inside-work-tree'], root);
  if (!inside.ok) throw new DiffError(`${root} is not in a git repository: nothing to compare with`);
  const c = run('git', ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], root);
  if (!c.ok) throw new DiffError(`unknown git revision "${ref}" (fetch it first, e.g. git fetch origin)`);
  return c.stdout.trim();
}

/**
 * Synthesize `wanted` environments (all of the base's when undefined) of a git revision with its
 * own code. Environments the base has no stack for are left out of `envs`. The work runs in a
 * child process, so that the caller can render the working tree meanwhile (`diffAgainst`):
 * `started` is called once the child runs (not at all on a cache hit).
 */
export async function synthesizeBase(
  root: string,
  ref: string,
  wanted: readonly string[] | undefined,
  log: (line: string) => void,
  progress: (line: string) => void = () => {},
  started: () => Promise<void> | void = () => {},
): Promise<BaseSynthesis> {
  const commit = resolveRef(root, ref);
  const short = `${ref} (${commit.slice(0, 12)})`;
  const prefix = run('git', ['rev-parse', '--show-prefix'], root).stdout.trim().replace(/\/$/, '');
  const tree = run('git', ['rev-parse', '--verify', '--quiet', `${commit}:${prefix}`], root).stdout.trim();
  const cache = tree ? baseCache(root, tree) : undefined;
  const hit = cache?.read(wanted);
  if (hit) {
    progress(`${short}: rendered objects from the cache (tree ${tree.slice(0, 12)})`);
    await started();
    return { commit, ...hit };
  }
  const t0 = Date.now();
  const sameCode = codeMatchesWorkingTree(root, commit);
  progress(sameCode ? `${short} has the working tree's code (only stack files differ): rendering its stacks here` : `exporting and synthesizing ${short} with its own code`);
  const result = sameCode ? await synthesizeStacksOnly(root, commit, short, prefix, wanted, started) : await synthesizeBaseUncached(root, commit, short, prefix, wanted, log, started);
  cache?.write(result.known, result.envs);
  progress(`${short} synthesized in ${((Date.now() - t0) / 1000).toFixed(1)} s${cache ? ' (cached for the next diff)' : ''}`);
  return result;
}

/**
 * Whether the base revision's code is the working tree's: every tracked file under this directory
 * but the stack files (`stacks/Pulumi.<env>.yaml`) identical (`git diff --quiet <commit>`, which
 * also sees uncommitted and deleted files; an untracked file changes nothing unless a tracked one
 * that imports it changed too). Then the base's stacks render with this process's code, exactly as
 * its own code would render them: no export of the code, no dependencies, no child process (a
 * stack-only pull request, the common case). Anything git cannot tell takes the child.
 */
export function codeMatchesWorkingTree(root: string, commit: string): boolean {
  return run('git', ['diff', '--quiet', '--no-ext-diff', commit, '--', '.', ':(exclude,glob)stacks/Pulumi.*.yaml'], root).ok;
}

/**
 * `git archive` of the revision (this directory of it; only `paths` when given) unpacked into `src`
 * (created), read-only for the repository. Returns git's verdict; an archive that cannot be unpacked
 * is a DiffError.
 */
function exportRevision(root: string, commit: string, prefix: string, short: string, tmp: string, src: string, paths: readonly string[]): { ok: boolean; stderr: string } {
  mkdirSync(src);
  const tar = join(tmp, 'base.tar');
  const archive = run('git', ['archive', '--format=tar', '-o', tar, prefix ? `${commit}:${prefix}` : commit, ...(paths.length > 0 ? ['--', ...paths] : [])], root);
  if (!archive.ok) return archive;
  const untar = run('tar', ['-x', '-f', tar, '-C', src], tmp);
  if (!untar.ok) throw new DiffError(`cannot unpack ${short}:\n${tail(untar.stderr)}`);
  rmSync(tar);
  return archive;
}

/** The base's stack files rendered here (`codeMatchesWorkingTree`); its config errors read like its synth's. */
async function synthesizeStacksOnly(
  root: string,
  commit: string,
  short: string,
  prefix: string,
  wanted: readonly string[] | undefined,
  started: () => Promise<void> | void,
): Promise<BaseSynthesis> {
  // The working tree first, as with the child: its config error (the likelier one) is the one shown.
  await started();
  const tmp = mkdtempSync(join(tmpdir(), 'stackbook-base-'));
  try {
    const src = join(tmp, 'src');
    // a revision without stacks/ has no stack: git archive refuses the path, nothing to unpack
    exportRevision(root, commit, prefix, short, tmp, src, ['stacks']);
    const known = stacksIn(src);
    const envs = wanted ? wanted.filter((e) => known.includes(e)) : known;
    if (envs.length === 0) return { commit, known, envs: new Map() };
    const { ConfigError } = await import('../stacks/load.js');
    try {
      return { commit, known, envs: (await headObjects(src, envs)).envs };
    } catch (e) {
      // what the base's own synth prints before it exits 2
      if (e instanceof ConfigError) throw new DiffError(`${short} could not be synthesized (its synth exited 2):\n${tail(e.message)}`);
      throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Per-environment objects of one base tree, as JSON files; unreadable entries are misses. */
function baseCache(root: string, tree: string) {
  const dir = join(process.env.STACKBOOK_DIFF_CACHE ?? join(root, 'node_modules', '.cache', 'stackbook-diff'), tree);
  const knownFile = join(dir, 'known.json');
  return {
    read(wanted: readonly string[] | undefined): { known: string[]; envs: Map<string, Obj[]> } | undefined {
      try {
        const known = JSON.parse(readFileSync(knownFile, 'utf8')) as string[];
        const envs = (wanted ?? known).filter((e) => known.includes(e));
        if (envs.some((e) => !existsSync(join(dir, `${e}.json`)))) return undefined;
        const out = new Map<string, Obj[]>();
        for (const env of envs) out.set(env, JSON.parse(readFileSync(join(dir, `${env}.json`), 'utf8')) as Obj[]);
        return { known, envs: out };
      } catch {
        return undefined;
      }
    },
    write(known: readonly string[], envs: ReadonlyMap<string, readonly Obj[]>): void {
      try {
        mkdirSync(dir, { recursive: true });
        // each file whole or absent (write aside, rename): a killed run leaves no half entry
        const put = (file: string, text: string) => {
          writeFileSync(`${file}.tmp`, text);
          renameSync(`${file}.tmp`, file);
        };
        for (const [env, objs] of envs) put(join(dir, `${env}.json`), JSON.stringify(objs));
        put(knownFile, JSON.stringify(known));
      } catch {
        /* a cache that cannot be written only costs time */
      }
    },
  };
}

/**
 * The child that renders the base: its own `headObjects(root, envs)` (review/base.ts, synth/base.ts before the move; the objects
 * its bundle would hold, written as JSON: no policies, no bundle files, no YAML to parse back);
 * a revision without it, or whose call fails otherwise than on its configuration, is synthesized
 * through its CLI (`main(argv, root)`, its entry point since the first CLI) and its bundle read back.
 */
const DRIVER = `
import { writeFileSync } from 'node:fs';
const [src, out, ...envs] = process.argv.slice(2);
let base;
for (const at of ['/review/base.ts', '/synth/base.ts']) {
  try { base = await import(src + at); break; } catch { base = undefined; }
}
if (typeof base?.headObjects === 'function') {
  try {
    const r = await base.headObjects(src, envs);
    writeFileSync(out + '/objects.json', JSON.stringify(Object.fromEntries(r.envs)));
    process.exit(0);
  } catch (e) {
    if (e?.name === 'ConfigError') { process.stderr.write(e.message + '\\n'); process.exit(2); }
  }
}
const cli = await import(src + '/cli/main.ts');
if (typeof cli.main !== 'function') { process.stderr.write('cli/main.ts exports no main()\\n'); process.exit(2); }
process.exitCode = await cli.main(['synth', ...envs, '--out', out + '/dist'], src);
`;

/** A child process, awaited; killed after `timeoutMs`. */
function runAsync(cmd: string, args: readonly string[], cwd: string, timeoutMs: number): { done: Promise<{ ok: boolean; status: number | null; stdout: string; stderr: string }>; kill: () => void } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'STACKBOOK_BUNDLE_SIGNING_KEY'));
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ ok: boolean; status: number | null; stdout: string; stderr: string }>((res) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      res({ ok: false, status: null, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      res({ ok: status === 0, status, stdout, stderr });
    });
  });
  return { done, kill: () => child.kill('SIGTERM') };
}

async function synthesizeBaseUncached(
  root: string,
  commit: string,
  short: string,
  prefix: string,
  wanted: readonly string[] | undefined,
  log: (line: string) => void,
  started: () => Promise<void> | void,
): Promise<BaseSynthesis> {
  const tmp = mkdtempSync(join(tmpdir(), 'stackbook-base-'));
  const src = join(tmp, 'src');
  let kill = () => {};
  const cleanup = () => {
    try {
      if (lstatSync(join(src, 'node_modules')).isSymbolicLink()) unlinkSync(join(src, 'node_modules'));
    } catch {
      /* no link */
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    kill();
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const archive = exportRevision(root, commit, prefix, short, tmp, src, []);
    if (!archive.ok) throw new DiffError(`cannot export ${short}${prefix ? ` (does ${prefix}/ exist there?)` : ''}:\n${tail(archive.stderr)}`);
    if (!existsSync(join(src, 'cli', 'main.ts'))) throw new DiffError(`${short} predates the stackbook CLI (no cli/main.ts): it cannot be synthesized`);
    const known = stacksIn(src);
    const envs = wanted ? wanted.filter((e) => known.includes(e)) : known;
    if (envs.length === 0) {
      await started();
      return { commit, known, envs: new Map() };
    }

    installDependencies(root, src, short, log);
    const driver = join(tmp, 'synth-base.mjs');
    writeFileSync(driver, DRIVER);
    const out = join(tmp, 'out');
    mkdirSync(out);
    const child = runAsync(process.execPath, ['--import', 'tsx', driver, src, out, ...envs], src, 300_000);
    kill = child.kill;
    try {
      await started(); // the working tree renders meanwhile
    } catch (e) {
      child.kill();
      await child.done;
      throw e;
    }
    const synth = await child.done;
    if (!synth.ok) {
      throw new DiffError(`${short} could not be synthesized (its synth exited ${synth.status ?? 'on a signal'}):\n${tail(synth.stderr || synth.stdout)}`);
    }
    const objects = new Map<string, Obj[]>();
    if (existsSync(join(out, 'objects.json'))) {
      const got = JSON.parse(readFileSync(join(out, 'objects.json'), 'utf8')) as Record<string, Obj[]>;
      for (const env of envs) {
        if (!got[env]) throw new DiffError(`${short}: rendered no objects for ${env}`);
        objects.set(env, got[env]);
      }
    } else {
      for (const env of envs) {
        const dir = join(out, 'dist', env);
        if (!existsSync(dir)) throw new DiffError(`${short}: synth wrote no bundle for ${env}`);
        objects.set(env, parseBundle(readdirSync(dir).map((path) => ({ path, content: readFileSync(join(dir, path), 'utf8') }))));
      }
    }
    return { commit, known, envs: objects };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cleanup();
  }
}

function installDependencies(root: string, src: string, short: string, log: (line: string) => void): void {
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);
  const mine = read(join(root, 'package-lock.json'));
  const theirs = read(join(src, 'package-lock.json'));
  // Whatever the revision itself holds there (a committed symlink, say) is not its installed dependencies.
  rmSync(join(src, 'node_modules'), { recursive: true, force: true });
  if (mine !== undefined && mine === theirs && existsSync(join(root, 'node_modules'))) {
    symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'), 'dir');
    return;
  }
  log(`stackbook diff: the dependencies of ${short} differ from the working tree's: installing them (npm ci --ignore-scripts, slower)`);
  const ci = run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], src, 900_000);
  if (!ci.ok) throw new DiffError(`cannot install the dependencies of ${short} (npm ci exited ${ci.status ?? 'on a signal'}):\n${tail(ci.stderr)}`);
}

/**
 * The objects a bundle's phase files hold, in file order, as plain data: what `parseBundle` reads
 * back from `bundleFiles`, without writing and re-parsing the YAML (a JSON round trip: the
 * rendered objects are JSON values; test/diff-speed.test.ts holds the two equal for every stack).
 */
export function bundleObjects(objects: Pick<Rendered, 'objects'>, phaseFiles: (r: Pick<Rendered, 'objects'>) => Array<{ objects: readonly unknown[] }>): Obj[] {
  return phaseFiles(objects).flatMap((f) => JSON.parse(JSON.stringify(f.objects)) as Obj[]);
}

/** The working tree's objects per environment, as `synth` would write them into the bundle. */
export async function headObjects(root: string, wanted: readonly string[] | undefined, progress: (line: string) => void = () => {}): Promise<{ known: string[]; envs: Map<string, Obj[]> }> {
  const { knownEnvironments, loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { phaseFiles } = await import('../bundle/bundle.js');
  const known = knownEnvironments(root);
  const envs = wanted ? wanted.filter((e) => known.includes(e)) : known;
  const stacks = loadStacks(root, envs); // every config error of every stack at once (exit 2)
  const out = new Map<string, Obj[]>();
  for (const [env, stack] of stacks) {
    progress(`rendering ${env} (working tree)`);
    out.set(env, bundleObjects(render(stack), phaseFiles));
  }
  return { known, envs: out };
}

export type DiffFormat = 'text' | 'markdown' | 'json';

export interface DiffOptions {
  /** The git revision to compare the working tree with. */
  readonly base: string;
  /** Environments to compare. @default every environment of the base or the working tree */
  readonly envs?: readonly string[];
  /** @default 'text' */
  readonly format?: DiffFormat;
  /** Exit 1 when anything changed (like `git diff --exit-code`). @default false */
  readonly exitCode?: boolean;
  /** Markdown size limit. @default MARKDOWN_MAX_CHARS */
  readonly maxChars?: number;
}

/** Compute the report (no output). */
export async function diffAgainst(root: string, opts: DiffOptions, log: (line: string) => void, progress: (line: string) => void = () => {}): Promise<DiffReport> {
  for (const e of opts.envs ?? []) if (!/^[a-z0-9][-a-z0-9]*$/.test(e)) throw new DiffError(`"${e}" is not an environment name`);
  // The base renders in a child process while the working tree renders here (two cores: the
  // cold diff costs about the slower of the two, not their sum). A config error of the working
  // tree (the likelier one) stops the child.
  let head: Awaited<ReturnType<typeof headObjects>> | undefined;
  const base = await synthesizeBase(root, opts.base, opts.envs, log, progress, async () => {
    head = await headObjects(root, opts.envs, progress);
    progress('waiting for the base');
  });
  const rendered = head as Awaited<ReturnType<typeof headObjects>> | undefined;
  if (!rendered) throw new DiffError('internal: the working tree was not rendered');
  const unknown = (opts.envs ?? []).filter((e) => !rendered.known.includes(e) && !base.known.includes(e));
  if (unknown.length > 0) {
    const all = [...new Set([...rendered.known, ...base.known])].sort();
    throw new DiffError(`unknown environment ${unknown.map((e) => `"${e}"`).join(', ')} (known: ${all.join(', ') || 'none'})`);
  }
  return buildReport({ ref: opts.base, commit: base.commit }, 'working tree', base.envs, rendered.envs);
}

/** `stackbook diff`: print the report; exit 0 (or 1 with `exitCode` when something changed). */
export async function runDiff(root: string, opts: DiffOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  // progress only on a terminal: quiet when piped (CI logs, the PR workflow)
  const progress = process.stderr.isTTY ? (line: string) => io.err(`stackbook diff: ${line}\n`) : () => {};
  const report = await diffAgainst(root, opts, (line) => io.err(`${line}\n`), progress);
  const format = opts.format ?? 'text';
  if (format === 'json') io.out(`${JSON.stringify(toJson(report), null, 2)}\n`);
  else if (format === 'markdown') io.out(formatMarkdown(report, { ...(opts.maxChars ? { maxChars: opts.maxChars } : {}), command: `npx stackbook diff --base ${opts.base}` }));
  else io.out(formatText(report));
  return opts.exitCode && hasChanges(report) ? 1 : 0;
}

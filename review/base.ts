/**
 * `stackbook diff` (X-11): synthesize a base git revision with that revision's own code and
 * stacks, render the working tree (uncommitted changes included), and diff the two.
 *
 * The base is exported with `git archive` (read-only: no worktree, no index, no refs touched)
 * into a temporary directory, which is always removed, also on failure or Ctrl-C. It reuses this
 * project's `node_modules` through a symlink when the base's `package-lock.json` is identical;
 * otherwise it runs `npm ci --ignore-scripts` there (slower, and said so on stderr). The base's
 * own CLI then runs `synth` through tsx, and its bundle files are read back.
 *
 * The result is cached per environment under the base's tree hash (`git rev-parse <commit>:<dir>`:
 * the revision's code, stacks and lockfile, which alone determine what it renders), in
 * `STACKBOOK_DIFF_CACHE` (default `node_modules/.cache/stackbook-diff`): the next diff against the
 * same base reads it back instead of exporting and synthesizing again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
 * own CLI. Environments the base has no stack for are left out of `envs`.
 */
export function synthesizeBase(root: string, ref: string, wanted: readonly string[] | undefined, log: (line: string) => void, progress: (line: string) => void = () => {}): BaseSynthesis {
  const commit = resolveRef(root, ref);
  const short = `${ref} (${commit.slice(0, 12)})`;
  const prefix = run('git', ['rev-parse', '--show-prefix'], root).stdout.trim().replace(/\/$/, '');
  const tree = run('git', ['rev-parse', '--verify', '--quiet', `${commit}:${prefix}`], root).stdout.trim();
  const cache = tree ? baseCache(root, tree) : undefined;
  const hit = cache?.read(wanted);
  if (hit) {
    progress(`stackbook diff: ${short}: rendered objects from the cache (tree ${tree.slice(0, 12)})`);
    return { commit, ...hit };
  }
  progress(`stackbook diff: exporting and synthesizing ${short} with its own code…`);
  const started = Date.now();
  const result = synthesizeBaseUncached(root, commit, short, prefix, wanted, log);
  cache?.write(result.known, result.envs);
  progress(`stackbook diff: ${short} synthesized in ${((Date.now() - started) / 1000).toFixed(1)} s${cache ? ' (cached for the next diff)' : ''}`);
  return result;
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

function synthesizeBaseUncached(root: string, commit: string, short: string, prefix: string, wanted: readonly string[] | undefined, log: (line: string) => void): BaseSynthesis {
  const tmp = mkdtempSync(join(tmpdir(), 'stackbook-base-'));
  const src = join(tmp, 'src');
  const cleanup = () => {
    try {
      if (lstatSync(join(src, 'node_modules')).isSymbolicLink()) unlinkSync(join(src, 'node_modules'));
    } catch {
      /* no link */
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const tar = join(tmp, 'base.tar');
    const archive = run('git', ['archive', '--format=tar', '-o', tar, prefix ? `${commit}:${prefix}` : commit], root);
    if (!archive.ok) throw new DiffError(`cannot export ${short}${prefix ? ` (does ${prefix}/ exist there?)` : ''}:\n${tail(archive.stderr)}`);
    mkdirSync(src);
    const untar = run('tar', ['-x', '-f', tar, '-C', src], tmp);
    if (!untar.ok) throw new DiffError(`cannot unpack ${short}:\n${tail(untar.stderr)}`);
    rmSync(tar);
    if (!existsSync(join(src, 'cli', 'main.ts'))) throw new DiffError(`${short} predates the stackbook CLI (no cli/main.ts): it cannot be synthesized`);
    const known = stacksIn(src);
    const envs = wanted ? wanted.filter((e) => known.includes(e)) : known;
    if (envs.length === 0) return { commit, known, envs: new Map() };

    installDependencies(root, src, short, log);
    // The base's own CLI, run from source: `main(argv, root)` has been its entry point since the first CLI.
    const driver = join(tmp, 'synth-base.mjs');
    writeFileSync(
      driver,
      [
        `const cli = await import(${JSON.stringify(join(src, 'cli', 'main.ts'))});`,
        `if (typeof cli.main !== 'function') { process.stderr.write('cli/main.ts exports no main()\\n'); process.exit(2); }`,
        `process.exitCode = await cli.main(process.argv.slice(2), process.cwd());`,
      ].join('\n'),
    );
    const out = join(tmp, 'dist');
    const synth = run(process.execPath, ['--import', 'tsx', driver, 'synth', ...envs, '--out', out], src, 300_000);
    if (!synth.ok) {
      throw new DiffError(`${short} could not be synthesized (its synth exited ${synth.status ?? 'on a signal'}):\n${tail(synth.stderr || synth.stdout)}`);
    }
    const objects = new Map<string, Obj[]>();
    for (const env of envs) {
      const dir = join(out, env);
      if (!existsSync(dir)) throw new DiffError(`${short}: synth wrote no bundle for ${env}`);
      objects.set(env, parseBundle(readdirSync(dir).map((path) => ({ path, content: readFileSync(join(dir, path), 'utf8') }))));
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

/** The working tree's objects per environment, through the same render and bundle path as `synth`. */
export async function headObjects(root: string, wanted: readonly string[] | undefined): Promise<{ known: string[]; envs: Map<string, Obj[]> }> {
  const { knownEnvironments, loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { bundleFiles } = await import('../bundle/bundle.js');
  const known = knownEnvironments(root);
  const envs = wanted ? wanted.filter((e) => known.includes(e)) : known;
  const stacks = loadStacks(root, envs); // every config error of every stack at once (exit 2)
  const out = new Map<string, Obj[]>();
  for (const [env, stack] of stacks) out.set(env, parseBundle(bundleFiles(render(stack))));
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
  // The working tree first: its config errors are the likelier ones, and cheaper to find.
  const head = await headObjects(root, opts.envs);
  const base = synthesizeBase(root, opts.base, opts.envs, log, progress);
  const unknown = (opts.envs ?? []).filter((e) => !head.known.includes(e) && !base.known.includes(e));
  if (unknown.length > 0) {
    const all = [...new Set([...head.known, ...base.known])].sort();
    throw new DiffError(`unknown environment ${unknown.map((e) => `"${e}"`).join(', ')} (known: ${all.join(', ') || 'none'})`);
  }
  return buildReport({ ref: opts.base, commit: base.commit }, 'working tree', base.envs, head.envs);
}

/** `stackbook diff`: print the report; exit 0 (or 1 with `exitCode` when something changed). */
export async function runDiff(root: string, opts: DiffOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  // progress only on a terminal: quiet when piped (CI logs, the PR workflow)
  const progress = process.stderr.isTTY ? (line: string) => io.err(`${line}\n`) : () => {};
  const report = await diffAgainst(root, opts, (line) => io.err(`${line}\n`), progress);
  const format = opts.format ?? 'text';
  if (format === 'json') io.out(`${JSON.stringify(toJson(report), null, 2)}\n`);
  else if (format === 'markdown') io.out(formatMarkdown(report, { ...(opts.maxChars ? { maxChars: opts.maxChars } : {}), command: `npx stackbook diff --base ${opts.base}` }));
  else io.out(formatText(report));
  return opts.exitCode && hasChanges(report) ? 1 : 0;
}

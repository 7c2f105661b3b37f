/**
 * Issue 17, item 6: the CLI behaves as users expect. The real command (`bin/stackbook.js`, the
 * built CLI) runs as a child process for each command's `--help`, `--version`, `--out dir`, an
 * unknown option and an unknown command, and progress on a terminal only (a real pseudo-terminal
 * from util-linux `script`); `--out=dir` with the short `synth --all` table (streams not a
 * terminal, as when piped), the other spellings of a page (`-h`, `help <command>`) and the other
 * usage errors run the same `main` in process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { ENVS, ROOT } from './helpers.js';

const BIN = join(ROOT, 'bin', 'stackbook.js');
const TMP = mkdtempSync(join(tmpdir(), 'stackbook-cli-conv-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/**
 * The same command in process (cli/main.ts, what bin/stackbook.js runs): for the pages and errors
 * of a command whose real child process is run by `cli` in this file too (each command's --help,
 * an unknown command, synth --all), so that each child process proves something only it can.
 */
async function inProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr') => (chunk: string | Uint8Array) => ((out[stream] += String(chunk)), true);
  vi.spyOn(process.stdout, 'write').mockImplementation(capture('stdout'));
  vi.spyOn(process.stderr, 'write').mockImplementation(capture('stderr'));
  try {
    return { code: await main(args, ROOT), ...out };
  } finally {
    vi.restoreAllMocks();
  }
}

/**
 * Every command with the flags the project's own invocations use (README, docs, .ci/run,
 * .github/workflows, tools/*.mjs, the tests): the compatibility list, written out here rather than
 * read from the CLI's table so that a flag dropped from the CLI fails this test.
 */
const COMPAT: Record<string, readonly string[]> = {
  synth: ['--all', '--out'],
  check: ['--all', '--strict'],
  coverage: ['--json', '--catalog'],
  diff: ['--base', '--env', '--format', '--exit-code'],
  report: ['--write-readme', '--html'],
  bundle: ['--all', '--out', '--key', '--with-images', '--from'],
  verify: ['--key', '--out'],
  images: ['--key', '--registry'],
};

describe('stackbook --help, --version, <command> --help', () => {
  it('--version prints the version of package.json', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = cli('--version');
    expect(r).toEqual({ code: 0, stdout: `stackbook ${pkg.version}\n`, stderr: '' });
  });

  it('--help lists every command (and no help or usage line is wider than 160 characters)', async () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of Object.keys(COMPAT)) expect(r.stdout, c).toMatch(new RegExp(`^  stackbook ${c} `, 'm'));
    expect(r.stdout).toMatch(/exit codes: 0 ok, 1 .*, 2 usage or configuration error/);
    for (const l of r.stdout.split('\n')) expect(l.length, l).toBeLessThanOrEqual(160);
    // `help` and no command at all are the same page
    expect((await inProcess('help')).stdout).toBe(r.stdout);
    expect((await inProcess()).stdout).toBe(r.stdout);
  });

  it.each(Object.entries(COMPAT))('%s --help: usage, every option (with its defaults), examples, exit codes', async (command, flags) => {
    const r = cli(command, '--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const sections = r.stdout.split('\n').filter((l) => /^[a-z ]+:$/.test(l));
    expect(sections).toEqual(['usage:', 'options:', 'examples:', 'exit codes:']);
    expect(r.stdout).toMatch(new RegExp(`^usage:\\n  stackbook ${command} `));
    for (const f of [...flags, '--help']) expect(r.stdout, `${command} ${f}`).toMatch(new RegExp(`^  ${f}\\b`, 'm'));
    expect(r.stdout).toMatch(/^examples:\n  stackbook /m);
    expect(r.stdout).toMatch(/^exit codes:\n  0  ok\n(  [12]  .+\n)+$/m);
    // -h and `stackbook help <command>` are the same page
    expect((await inProcess(command, '-h')).stdout).toBe(r.stdout);
    expect((await inProcess('help', command)).stdout).toBe(r.stdout);
  });

  it('the documented defaults are the ones the commands use (synth --out, coverage --catalog, diff --format)', async () => {
    expect((await inProcess('synth', '--help')).stdout).toMatch(/^  --out <dir> .*\(default: dist\)$/m);
    expect((await inProcess('coverage', '--help')).stdout).toMatch(/^  --catalog <file> .*\(default: \.\.\/shared\/runbooks\/CONCERNS\.md\)$/m);
    expect((await inProcess('diff', '--help')).stdout).toMatch(/^  --format text\|markdown\|json .*\(default: text\)$/m);
  });
});

describe('usage errors: one line naming the problem, the command\'s usage, exit 2', () => {
  it.each([
    [['synth', '--bogus'], 'unknown option --bogus', 'synth'],
    [['synth', '--bogus=1', 'dev'], 'unknown option --bogus', 'synth'],
    [['check', '--all', '--stict'], 'unknown option --stict', 'check'],
    [['diff', '--base'], '--base needs a value', 'diff'],
    [['synth', '--all', '--out'], '--out needs a value', 'synth'],
    [['synth', '--all=yes'], '--all takes no value', 'synth'],
    [['coverage', 'prod'], 'coverage takes no environment (got prod)', 'coverage'],
  ].map(([argv, message, command], i) => [argv, message, command, i === 0] as const))('%j', async (argv, message, command, child) => {
    // the first as a child process (exit status and streams as users see them), the rest in process
    const r = child ? cli(...argv) : await inProcess(...argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`stackbook: ${message}`);
    expect(lines[1]).toBe('usage:');
    expect(lines[2]).toMatch(new RegExp(`^  stackbook ${command} `));
    expect(lines.at(-1)).toBe(`stackbook ${command} --help: options, defaults, examples, exit codes`);
    // the command's usage only, not the whole command list (was 20 lines of every command)
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('an unknown command names it and lists the commands', () => {
    const r = cli('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('stackbook: unknown command "frobnicate"');
    expect(r.stderr).toContain('(commands: synth, check, coverage, diff, report, bundle, verify, images)');
  });
});

describe('synth --all: --out=dir and --out dir, a short table, progress on a terminal only', () => {
  const piped = join(TMP, 'piped');
  const tty = join(TMP, 'tty');
  let pipedRun: Awaited<ReturnType<typeof inProcess>>;
  let ttyOut: string;
  let ttyCode: number | null;

  beforeAll(async () => {
    // `--out=dir` in process, its streams not a terminal (as when piped); the real command on a
    // real terminal below, the one thing only a child process can show
    pipedRun = await inProcess('synth', '--all', `--out=${piped}`);
    // a real pseudo-terminal: util-linux `script` runs the command with stdout and stderr on a pty
    const command = [process.execPath, BIN, 'synth', '--all', '--out', tty].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } });
    ttyOut = r.stdout;
    ttyCode = r.status;
  }, 180_000);

  it('piped: the table on stdout, nothing on stderr (no progress)', () => {
    expect(pipedRun.stderr).toBe('');
    expect(pipedRun.code).toBe(0);
    expect(pipedRun.stdout).not.toMatch(/\r|\x1b/);
  });

  it('the table: env | objects | files | warnings | exceptions | seconds, one short row per stack', () => {
    const lines = pipedRun.stdout.trimEnd().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['env', 'objects', 'files', 'warnings', 'exceptions', 'seconds']);
    expect(lines.slice(1, -1).map((l) => l.split(/\s+/)[0])).toEqual([...ENVS].sort());
    for (const env of ENVS) {
      const row = lines.find((l) => l.startsWith(`${env} `))!;
      const [, objects, files, warnings, , seconds] = row.split(/\s+/);
      // counted from what was written (the numbered phase files hold the objects), not from the code that printed it
      const written = readdirSync(join(piped, env));
      const docs = written.filter((f) => /^\d\d-.*\.yaml$/.test(f)).flatMap((f) => yaml.loadAll(readFileSync(join(piped, env, f), 'utf8')).filter((d) => d != null));
      expect(Number(objects), env).toBe(docs.length);
      expect(Number(files), env).toBe(written.length);
      expect(warnings, env).toBe('0');
      expect(Number(seconds), env).toBeGreaterThan(0);
    }
    expect(lines.at(-1)).toBe(`-> ${piped}/<env>/ (secrets.json: Secrets to create; stackbook check: exceptions)`);
    // was four lines of ~600 characters
    for (const l of lines.slice(0, -1)) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(lines.at(-1)!.replace(piped, '').length).toBeLessThanOrEqual(80);
  });

  it('on a terminal: a progress line naming each stack, erased before the table; the same bundles as --out=dir', () => {
    expect(ttyCode).toBe(0);
    for (const env of ENVS) expect(ttyOut).toContain(`stackbook: rendering and checking ${env} (`);
    // the status line is erased (CR + erase line) before the table is printed
    const table = ttyOut.slice(ttyOut.lastIndexOf('\x1b[2K') + 4);
    expect(table.replace(/\r/g, '').split('\n')[0]!.split(/\s+/)).toEqual(['env', 'objects', 'files', 'warnings', 'exceptions', 'seconds']);
    // `--out dir` and `--out=dir` wrote the same bytes
    for (const env of ENVS) {
      const files = readdirSync(join(piped, env)).sort();
      expect(readdirSync(join(tty, env)).sort(), env).toEqual(files);
      for (const f of files) expect(readFileSync(join(tty, env, f)).equals(readFileSync(join(piped, env, f))), `${env}/${f}`).toBe(true);
    }
  });
});

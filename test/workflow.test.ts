/**
 * the pull-request workflow `.github/workflows/pr.yml` stays valid: structure, every command
 * it runs exists, npm/npx targets exist, actions are pinned, and the pieces that make the diff
 * comment work (full history, the marker the CLI prints, comment permissions, a Pulumi job that
 * only runs with credentials) are in place.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { MARKDOWN_MARKER } from '../review/diff.js';
import { ROOT } from './helpers.js';

type J = Record<string, any>;
const FILE = join(ROOT, '.github', 'workflows', 'pr.yml');
const wf = yaml.load(readFileSync(FILE, 'utf8')) as J;
const jobs = Object.entries(wf.jobs as Record<string, J>);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

/**
 * Commands that are not on this machine but exist where the workflow runs, each with the reason.
 * `installedBy`: the command must come from an earlier step of the same job using that action.
 */
const ALLOWED: Record<string, { readonly why: string; readonly installedBy?: string }> = {
  sudo: { why: 'preinstalled on GitHub-hosted ubuntu runners (and absent from this container)' },
  pulumi: { why: 'installed by pulumi/actions (no command: installs the CLI only)', installedBy: 'pulumi/actions@' },
};

/** Shell words that are syntax, not commands. */
const SHELL_SYNTAX = new Set(['if', 'then', 'else', 'elif', 'fi', 'for', 'while', 'until', 'do', 'done', 'case', 'esac', 'in', '{', '}', '!', '[[', ']]']);

/**
 * The simple commands of a `run:` script, as word lists: split on unquoted newlines, `;`, `&&`,
 * `||`, `|`, `(`, `)`; quotes respected (a quoted `;` or `|` is not a separator); comments dropped.
 */
function simpleCommands(script: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length > 0) commands.push(words);
    words = [];
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') word += script[++i] ?? '';
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && script[i + 1] === '\n') i++;
    else if (c === '\\') {
      word += script[++i] ?? '';
      inWord = true;
    } else if (c === '#' && !inWord) {
      while (i < script.length && script[i] !== '\n') i++;
      endCommand();
    } else if (c === '$' && script[i + 1] === '(') {
      // a command substitution stays inside the current word
      let depth = 0;
      for (; i < script.length; i++) {
        word += script[i];
        if (script[i] === '(') depth++;
        else if (script[i] === ')' && --depth === 0) break;
      }
      inWord = true;
    } else if (c === '&' && (script[i - 1] === '>' || script[i + 1] === '>')) {
      word += c; // a redirection (2>&1, &>file), not a separator
      inWord = true;
    } else if (c === '\n' || c === ';' || c === '|' || c === '&' || c === '(' || c === ')') endCommand();
    else if (c === ' ' || c === '\t') endWord();
    else {
      word += c;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

/** The words a command line invokes: its first word (after VAR=value), and what sudo/env run. */
function invoked(words: readonly string[]): string[] {
  // `for NAME in WORDS` / `case WORD in` name variables and values, not commands
  if (words[0] === 'for' || words[0] === 'case') return [];
  const rest = words.filter((w, i) => !(i === 0 && SHELL_SYNTAX.has(w)));
  let i = 0;
  while (i < rest.length && (SHELL_SYNTAX.has(rest[i]!) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[i]!))) i++;
  const first = rest[i];
  if (first === undefined || first.startsWith('>') || /^\d?>/.test(first)) return [];
  if (first === 'sudo' || first === 'env') {
    let j = i + 1;
    while (j < rest.length && (rest[j]!.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[j]!))) j++;
    return rest[j] === undefined ? [first] : [first, rest[j]!];
  }
  return [first];
}

function existsHere(cmd: string): boolean {
  return spawnSync('bash', ['-c', 'type -t -- "$1" >/dev/null', 'type', cmd]).status === 0;
}

interface RunStep {
  readonly job: string;
  readonly index: number;
  readonly commands: string[][];
  readonly earlierUses: string[];
}

const runSteps: RunStep[] = jobs.flatMap(([job, j]) =>
  (j.steps as J[]).flatMap((s, index) =>
    typeof s.run === 'string'
      ? [{ job, index, commands: simpleCommands(s.run), earlierUses: (j.steps as J[]).slice(0, index).map((e) => String(e.uses ?? '')) }]
      : [],
  ),
);

async function stackbookCommands(): Promise<string[]> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    expect(await main(['--help'], ROOT)).toBe(0);
  } finally {
    vi.restoreAllMocks();
  }
  return [...out.matchAll(/^\s+stackbook (\w+)/gm)].map((m) => m[1]!);
}

describe('the shell splitter used by these tests', () => {
  it('splits on separators outside quotes only, keeps $(...) in a word, drops comments', () => {
    expect(simpleCommands(`a "x;y" && b 'p|q' | c # d; e\nf $(g h) \\\n  i; FOO=1 j\nk >/dev/null 2>&1 &`)).toEqual([
      ['a', 'x;y'],
      ['b', 'p|q'],
      ['c'],
      ['f', '$(g h)', 'i'],
      ['FOO=1', 'j'],
      ['k', '>/dev/null', '2>&1'],
    ]);
    expect(invoked(['sudo', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install'])).toEqual(['sudo', 'apt-get']);
    expect(invoked(['if', '!', 'command', '-v', 'x'])).toEqual(['command']);
    expect(invoked(['for', 'stack', 'in', '$(ls stacks)'])).toEqual([]);
  });

  it('notices a command that does not exist', () => {
    expect(existsHere('no-such-command-stackbook')).toBe(false);
    expect(existsHere('git')).toBe(true);
    expect(existsHere('echo')).toBe(true);
  });
});

describe('.github/workflows/pr.yml', () => {
  it('is a pull_request workflow with jobs made of steps that each run or use exactly one thing', () => {
    expect(wf.on).toHaveProperty('pull_request');
    expect(jobs.length).toBeGreaterThanOrEqual(2);
    for (const [name, j] of jobs) {
      expect(typeof j['runs-on'], name).toBe('string');
      expect(Array.isArray(j.steps) && j.steps.length > 0, name).toBe(true);
      for (const s of j.steps as J[]) expect(('run' in s ? 1 : 0) + ('uses' in s ? 1 : 0), `${name}: ${JSON.stringify(s)}`).toBe(1);
      for (const need of [j.needs ?? []].flat()) expect(Object.keys(wf.jobs), name).toContain(need);
    }
  });

  it('pins every action to at least a major version (or a commit)', () => {
    const uses = jobs.flatMap(([, j]) => (j.steps as J[]).filter((s) => s.uses).map((s) => String(s.uses)));
    expect(uses.length).toBeGreaterThan(0);
    for (const u of uses) expect(u, u).toMatch(/^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
  });

  it('every command it runs exists here, or is allowlisted with a reason and installed by an earlier step', () => {
    const seen = new Set<string>();
    for (const step of runSteps) {
      for (const words of step.commands) {
        for (const cmd of invoked(words)) {
          seen.add(cmd);
          const allowed = ALLOWED[cmd];
          if (allowed?.installedBy) {
            expect(step.earlierUses.some((u) => u.startsWith(allowed.installedBy!)), `${step.job}[${step.index}]: ${cmd} needs ${allowed.installedBy}`).toBe(true);
          } else if (!allowed) expect(existsHere(cmd), `${step.job}[${step.index}]: "${cmd}" (${words.join(' ')})`).toBe(true);
        }
      }
    }
    // the splitter found the commands that matter (so this test cannot pass on an empty parse)
    for (const cmd of ['npm', 'npx', 'apt-get', 'promtool', 'pulumi']) expect([...seen]).toContain(cmd);
    // and the allowlist carries no stale entries
    for (const cmd of Object.keys(ALLOWED)) expect([...seen], cmd).toContain(cmd);
  });

  it('every npm script and npx binary it calls exists, and every stackbook command is one the CLI has', async () => {
    const cli = await stackbookCommands();
    expect(cli).toEqual(expect.arrayContaining(['synth', 'check', 'diff']));
    const calls = runSteps.flatMap((s) => s.commands).filter((w) => w[0] === 'npm' || w[0] === 'npx');
    expect(calls.length).toBeGreaterThan(0);
    for (const w of calls) {
      if (w[0] === 'npm') {
        const sub = w[1]!;
        if (sub === 'run' || sub === 'run-script') expect(Object.keys(pkg.scripts), w.join(' ')).toContain(w[2]);
        else if (sub === 'test' || sub === 'start') expect(Object.keys(pkg.scripts), w.join(' ')).toContain(sub);
        else expect(['ci', 'install'], w.join(' ')).toContain(sub);
      } else {
        const bin = w.slice(1).find((x) => !x.startsWith('-'))!;
        const local = bin in pkg.bin || existsSync(join(ROOT, 'node_modules', '.bin', bin));
        expect(local, `npx ${bin} must be this package's bin or installed (no download)`).toBe(true);
        if (bin === 'stackbook') expect(cli, w.join(' ')).toContain(w[w.indexOf(bin) + 1]);
      }
    }
  });

  it('diffs against the base branch with full history and posts one comment found by the CLI marker', () => {
    const [, job] = jobs.find(([, j]) => (j.steps as J[]).some((s) => /stackbook diff/.test(String(s.run ?? ''))))!;
    const steps = job.steps as J[];
    const checkout = steps.find((s) => String(s.uses).startsWith('actions/checkout@'))!;
    expect(checkout.with['fetch-depth']).toBe(0);
    const node = steps.find((s) => String(s.uses).startsWith('actions/setup-node@'))!;
    expect(String(node.with['node-version'])).toBe('20');
    expect(node.with.cache).toBe('npm');
    const runs = steps.map((s) => String(s.run ?? '')).join('\n');
    // install before test before diff
    const order = ['apt-get install', 'npm ci', 'npm test', 'npx stackbook diff'].map((c) => runs.indexOf(c));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const diffStep = steps.find((s) => /npx stackbook diff/.test(String(s.run ?? '')))!;
    expect(diffStep.run).toMatch(/--base "origin\/\$\{BASE_REF\}" --format markdown/);
    expect(diffStep.env.BASE_REF).toBe('${{ github.base_ref }}');
    const comment = steps.find((s) => String(s.uses).startsWith('actions/github-script@'))!;
    expect(comment.with.script).toContain(`'${MARKDOWN_MARKER}'`);
    expect(comment.with.script).toMatch(/updateComment/);
    expect(comment.with.script).toMatch(/createComment/);
    expect(job.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    expect(wf.permissions).toEqual({ contents: 'read' });
  });

  it('runs pulumi preview --diff per stack only when Pulumi credentials are configured', () => {
    const [name, job] = jobs.find(([, j]) => (j.steps as J[]).some((s) => /pulumi preview/.test(String(s.run ?? ''))))!;
    expect(String(job.if)).toMatch(/needs\.[\w-]+\.outputs\.configured == 'true'/);
    const gate = wf.jobs[[job.needs].flat()[0]] as J;
    expect(JSON.stringify(gate.steps)).toContain('secrets.PULUMI_ACCESS_TOKEN');
    expect(JSON.stringify(gate.steps)).toContain('secrets.PULUMI_BACKEND_URL');
    // the matrix is derived from stacks/: the gate's own script, run here, lists every stack file
    const gateName = [job.needs].flat()[0] as string;
    expect(job.strategy.matrix.stack, name).toBe(`\${{ fromJSON(needs.${gateName}.outputs.stacks) }}`);
    const step = (gate.steps as J[]).find((s) => s.id === 'stacks')!;
    expect(gate.outputs.stacks).toBe('${{ steps.stacks.outputs.stacks }}');
    const out = join(mkdtempSync(join(tmpdir(), 'stackbook-wf-')), 'github-output');
    const run = spawnSync('bash', ['-e', '-c', String(step.run)], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GITHUB_OUTPUT: out } });
    expect(run.status, run.stderr).toBe(0);
    const stacks = (JSON.parse(readFileSync(out, 'utf8').replace(/^stacks=/, '')) as string[]).sort();
    const files = spawnSync('ls', [join(ROOT, 'stacks')], { encoding: 'utf8' }).stdout.match(/^Pulumi\.([a-z0-9-]+)\.yaml$/gm)!;
    expect(stacks, name).toEqual(files.map((f) => f.replace(/^Pulumi\.|\.yaml$/g, '')).sort());
    expect(stacks).toEqual(expect.arrayContaining(['airgap', 'dev', 'prod', 'staging']));
    expect(JSON.stringify(job.steps)).toMatch(/pulumi preview --diff --stack/);
  });
});

describe('the PR comment links the HTML report of every stack (issue 17)', () => {
  const [, job] = jobs.find(([, j]) => (j.steps as J[]).some((s) => /stackbook diff/.test(String(s.run ?? ''))))!;
  const steps = job.steps as J[];
  const stackFiles = () => (spawnSync('ls', [join(ROOT, 'stacks')], { encoding: 'utf8' }).stdout.match(/^Pulumi\.([a-z0-9-]+)\.yaml$/gm) ?? []).map((f) => f.replace(/^Pulumi\.|\.yaml$/g, '')).sort();
  const bash = (script: string, env: Record<string, string>) => spawnSync('bash', ['-e', '-c', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });

  it('writes one page per stack, uploads them as one artifact, then links it in the comment file before the comment is posted', () => {
    const reportStep = steps.findIndex((s) => /stackbook\.js report --all --html "[^"]*\{env\}/.test(String(s.run ?? '')));
    const upload = steps.findIndex((s) => String(s.uses).startsWith('actions/upload-artifact@') && String(s.with?.path).includes('reports'));
    const link = steps.findIndex((s) => s.id === 'link-reports');
    const post = steps.findIndex((s) => String(s.uses).startsWith('actions/github-script@'));
    expect([reportStep, upload, link, post].every((i) => i >= 0)).toBe(true);
    expect([reportStep, upload, link, post]).toEqual([reportStep, upload, link, post].sort((a, b) => a - b));
    // each runs even when the tests failed (like the diff)
    for (const i of [reportStep, upload, link]) expect(String(steps[i]!.if)).toContain('!cancelled()');
    expect(steps[link]!.env.REPORTS_URL).toBe(`\${{ steps.${steps[upload]!.id}.outputs.artifact-url }}`);
    expect(steps[link]!.env.RUN_URL).toBe('${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}');
  });

  it('the workflow\'s scripts, run here: a page per stack from stacks/, then a link to the artifact in diff.md', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'stackbook-wf-reports-'));
    const env = { RUNNER_TEMP: tmp, GITHUB_STEP_SUMMARY: join(tmp, 'summary.md') };
    const reportStep = steps.find((s) => /stackbook\.js report/.test(String(s.run ?? '')))!;
    const r = bash(String(reportStep.run), env);
    expect(r.status, r.stderr).toBe(0);
    const pages = spawnSync('ls', [join(tmp, 'reports')], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(pages).toEqual(stackFiles().map((s) => `report-${s}.html`));
    for (const p of pages) {
      const html = readFileSync(join(tmp, 'reports', p), 'utf8');
      expect(html, p).toMatch(/^<!DOCTYPE html>/i);
      expect(html, p).toContain('<svg');
    }
    // the diff step wrote the comment; the link step appends to it
    const linkStep = steps.find((s) => s.id === 'link-reports')!;
    const diffMd = join(tmp, 'diff.md');
    spawnSync('bash', ['-c', `printf '%s\\n' '${MARKDOWN_MARKER}' '### stackbook diff' > "${diffMd}"`]);
    const run = 'https://github.com/o/r/actions/runs/42';
    const withUrl = bash(String(linkStep.run), { ...env, RUN_URL: run, REPORTS_URL: 'https://github.com/o/r/actions/runs/42/artifacts/7' });
    expect(withUrl.status, withUrl.stderr).toBe(0);
    const md = readFileSync(diffMd, 'utf8');
    expect(md.startsWith(`${MARKDOWN_MARKER}\n### stackbook diff\n`)).toBe(true);
    const line = md.trimEnd().split('\n').at(-1)!;
    expect(line).toContain('[stackbook-reports](https://github.com/o/r/actions/runs/42/artifacts/7)');
    for (const s of stackFiles()) expect(line).toContain(`\`${s}\``);
    expect(readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8')).toContain(line);
    // no artifact URL (an upload that gave none): the run's artifacts
    const withoutUrl = bash(String(linkStep.run), { ...env, RUN_URL: run, REPORTS_URL: '' });
    expect(withoutUrl.status, withoutUrl.stderr).toBe(0);
    expect(readFileSync(diffMd, 'utf8').trimEnd().split('\n').at(-1)).toContain(`[stackbook-reports](${run}#artifacts)`);
  }, 180_000);
});

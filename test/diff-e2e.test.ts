/**
 * X-11 end to end, as a new user would: a git repository holding this project (committed as it is
 * now, node_modules linked), a value changed in `stacks/Pulumi.prod.yaml`, `stackbook diff --base
 * HEAD` showing exactly that change and flagging it; plus the failure modes (bad ref, a base that
 * predates the CLI or does not synthesize) exiting 2 and never leaving a temp directory behind.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { JSON_SCHEMA_ID, MARKDOWN_MARKER } from '../review/diff.js';
import { codeMatchesWorkingTree } from '../review/base.js';
import { ROOT } from './helpers.js';

/**
 * The working tree side of each diff renders in this process: each distinct stack once per file
 * (test/render-inject.ts; `render` is a function of the stack, and a test that edits a stack file
 * gets that stack rendered). The base side is a child process running the base's own code, untouched.
 */
vi.mock('../synth/render.js', async (orig) => (await import('./render-inject.js')).renderOncePerStack(orig));

type J = Record<string, any>;
const TMP = mkdtempSync(join(tmpdir(), 'stackbook-diff-e2e-'));
const REPO = join(TMP, 'project');
const PROD = join(REPO, 'stacks', 'Pulumi.prod.yaml');
let pristineProd = '';
let head = '';
// the base cache (review/base.ts) of this test's repository, not the project's node_modules
const CACHE = join(TMP, 'cache');
process.env.STACKBOOK_DIFF_CACHE = CACHE;
// The base's temp directories (os.tmpdir(), which reads TMPDIR at each call) in a directory of this
// test's own: "nothing left behind" then sees only this test's diffs, not those of another process
// on the machine (another checkout's diff or bench, whose stackbook-base-* dirs failed this test).
const OWN_TMP = join(TMP, 'tmp');
mkdirSync(OWN_TMP);
process.env.TMPDIR = OWN_TMP;

function git(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  return execFileSync('git', ['-c', 'user.name=stackbook test', '-c', 'user.email=test@stackbook.invalid', '-c', 'commit.gpgsign=false', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: opts.env ?? process.env,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

/** A commit on top of HEAD with some files replaced (or removed, null), made without touching HEAD, index or files. */
function commitWith(files: Record<string, string | null>): string {
  const env = { ...process.env, GIT_INDEX_FILE: join(TMP, `index-${Object.keys(files).join('-').replace(/\W/g, '_')}`) };
  git(['read-tree', 'HEAD'], { env });
  for (const [path, content] of Object.entries(files)) {
    if (content === null) git(['update-index', '--force-remove', path], { env });
    else git(['update-index', '--add', '--cacheinfo', `100644,${git(['hash-object', '-w', '--stdin'], { input: content }).trim()},${path}`], { env });
  }
  const tree = git(['write-tree'], { env }).trim();
  return git(['commit-tree', tree, '-p', 'HEAD', '-m', 'test base'], { env }).trim();
}

beforeAll(() => {
  // The project as it is in this working tree (tracked and new files; ignored ones like dist/ left out).
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0')
    // a node_modules that is a symlink (a git worktree sharing another's) is listed as untracked: `node_modules/` in .gitignore does not match a symlink
    .filter((f) => f && f !== 'node_modules');
  for (const f of files) {
    try {
      mkdirSync(dirname(join(REPO, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(REPO, f));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // deleted in the working tree
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(REPO, 'node_modules'), 'dir');
  git(['init', '-q', '-b', 'main']);
  writeFileSync(join(REPO, '.git', 'info', 'exclude'), '/node_modules\n'); // a symlink is not matched by `node_modules/`
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'project as of this test run']);
  head = git(['rev-parse', 'HEAD']).trim();
  pristineProd = readFileSync(PROD, 'utf8');
}, 60_000);

afterAll(() => rmSync(TMP, { recursive: true, force: true }));

beforeEach(() => {
  writeFileSync(PROD, pristineProd);
  rmSync(join(REPO, 'stacks', 'Pulumi.qa.yaml'), { force: true });
});

const baseDirs = () => new Set(readdirSync(tmpdir()).filter((d) => d.startsWith('stackbook-base-')));

/** `stackbook <argv>` in the test repository (in process), with what it printed; checks no temp dir is left. */
async function stackbook(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const before = baseDirs();
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  let code: number;
  try {
    code = await main(argv, REPO);
  } finally {
    vi.restoreAllMocks();
  }
  expect([...baseDirs()].filter((d) => !before.has(d)), 'temporary base directories left behind').toEqual([]);
  return { code, stdout, stderr };
}

/** Replace the first `from` inside OPE's block (`services.ope`) of the prod stack: other services share the same keys. */
function editProdOpe(from: string, to: string): void {
  const text = readFileSync(PROD, 'utf8');
  const start = text.search(/^ {4}ope:\n/m);
  expect(start, 'stacks/Pulumi.prod.yaml has services.ope').toBeGreaterThan(0);
  const body = text.indexOf('\n', start) + 1;
  const next = text.slice(body).search(/^ {0,4}\S/m); // the next key at the services level or above
  const end = next < 0 ? text.length : body + next;
  const block = text.slice(start, end);
  expect(block, `services.ope in stacks/Pulumi.prod.yaml contains "${from}"`).toContain(from);
  writeFileSync(PROD, text.slice(0, start) + block.replace(from, to) + text.slice(end));
}

describe('stackbook diff --base HEAD, as a new user would run it', () => {
  it('nothing changed: exit 0 and no output at all', async () => {
    const r = await stackbook('diff', '--base', 'HEAD');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  }, 120_000);

  it('prod minReplicas 3→2 and memory limit 1Gi→2Gi: exactly those two changes, the HPA one flagged', async () => {
    editProdOpe('minReplicas: 3', 'minReplicas: 2');
    editProdOpe('memoryLimit: 1Gi', 'memoryLimit: 2Gi');
    const r = await stackbook('diff', '--base', 'HEAD');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `stackbook diff: HEAD (${head.slice(0, 12)}) → working tree`,
        '',
        'Risk flags (2):',
        '  ! hpa-min-lowered  prod  HorizontalPodAutoscaler ope/ope: minReplicas 3 → 2',
        '  ! pods-restart     prod  Deployment ope/ope: every pod restarts (rolling): spec.containers[name=ope].resources.limits.memory',
        '',
        'prod: 2 changed',
        '  ~ Deployment ope/ope  [pods-restart]',
        '      spec.template.spec.containers[name=ope].resources.limits.memory: 1Gi → 2Gi',
        '  ~ HorizontalPodAutoscaler ope/ope  [hpa-min-lowered]',
        '      spec.minReplicas: 3 → 2',
        '',
        'unchanged: airgap, dev, staging',
        '',
      ].join('\n'),
    );

    // the same, for machines and for the pull-request comment; --exit-code reports that something changed
    const json = await stackbook('diff', '--base', 'HEAD', '--env', 'prod', '--format', 'json', '--exit-code');
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as J;
    expect(doc).toMatchObject({ schema: JSON_SCHEMA_ID, base: { ref: 'HEAD', commit: head }, changed: true });
    expect(doc.environments.map((e: J) => e.env)).toEqual(['prod']);
    expect(doc.environments[0].objects.map((o: J) => [o.id, o.changes])).toEqual([
      ['Deployment ope/ope', [{ path: 'spec.template.spec.containers[name=ope].resources.limits.memory', op: 'changed', old: '1Gi', new: '2Gi' }]],
      ['HorizontalPodAutoscaler ope/ope', [{ path: 'spec.minReplicas', op: 'changed', old: 3, new: 2 }]],
    ]);
    expect(doc.risks.map((x: J) => x.id)).toEqual(['hpa-min-lowered', 'pods-restart']);

    const md = await stackbook('diff', '--base', 'HEAD', '--format', 'markdown');
    expect(md.code).toBe(0);
    expect(md.stdout.startsWith(`${MARKDOWN_MARKER}\n`)).toBe(true);
    expect(md.stdout).toContain('| `hpa-min-lowered` | prod | `HorizontalPodAutoscaler ope/ope` | minReplicas 3 → 2 |');
    expect(md.stdout).toContain('| prod | 0 | 0 | 2 | 2 |');
  }, 120_000);

  it('an equal quantity written differently (1Gi → 1024Mi) is not a change: quiet, exit 0 even with --exit-code', async () => {
    editProdOpe('memoryLimit: 1Gi', 'memoryLimit: 1024Mi');
    const r = await stackbook('diff', '--base', 'HEAD', '--exit-code');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  }, 120_000);

  it('an environment only in the working tree is shown as new, every object added', async () => {
    const dev = readFileSync(join(REPO, 'stacks', 'Pulumi.dev.yaml'), 'utf8');
    expect(dev).toContain('stackbook:environment: dev');
    writeFileSync(join(REPO, 'stacks', 'Pulumi.qa.yaml'), dev.replace('stackbook:environment: dev', 'stackbook:environment: qa'));
    const r = await stackbook('diff', '--base', 'HEAD', '--env', 'qa', '--format', 'json');
    expect(r.code).toBe(0);
    const env = (JSON.parse(r.stdout) as J).environments[0];
    expect(env).toMatchObject({ env: 'qa', note: 'base-missing', removed: 0, changed: 0 });
    expect(env.added).toBeGreaterThan(5);
    expect(env.objects.every((o: J) => o.op === 'added')).toBe(true);
    // one summary line by kind, no flags (issue 17: a new environment is not hundreds of flags)
    expect(env.summaries).toEqual([{ scope: 'environment', name: 'qa', op: 'added', kinds: expect.objectContaining({ Deployment: expect.any(Number) }) }]);
    const text = await stackbook('diff', '--base', 'HEAD', '--env', 'qa');
    expect(text.stdout).not.toContain('Risk flags');
    expect(text.stdout.trim().split('\n').slice(2)).toEqual([`qa (new environment): ${env.added} added`, expect.stringMatching(new RegExp(`^  \\+ new environment: ${env.added} objects \\(`))]);
  }, 120_000);

  it('the base is rendered once per tree: the next diff reads its objects from the cache', async () => {
    const tree = git(['rev-parse', 'HEAD:']).trim();
    await stackbook('diff', '--base', 'HEAD', '--env', 'prod');
    const cached = join(CACHE, tree, 'prod.json');
    const objs = JSON.parse(readFileSync(cached, 'utf8')) as J[];
    expect(objs.length).toBeGreaterThan(100);
    // Proof that it is read back: an edit to the cached base shows up as a change of the working tree.
    const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'ope')!;
    hpa.spec.maxReplicas = 99;
    writeFileSync(cached, JSON.stringify(objs));
    const r = await stackbook('diff', '--base', 'HEAD', '--env', 'prod');
    expect(r.stdout).toContain('spec.maxReplicas: 99 → ');
    rmSync(join(CACHE, tree), { recursive: true, force: true });
  }, 120_000);
});

describe('how the base is rendered (issue 17, speed)', () => {
  it('three ways, the same diff: stacks only (same code, rendered here), its own headObjects (JSON) and, for a revision without it, its CLI synth', async () => {
    expect(pristineProd).toContain('minReplicas: 3');
    const prod = pristineProd.replace('minReplicas: 3', 'minReplicas: 2');
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const stacksOnly = commitWith({ 'stacks/Pulumi.prod.yaml': prod });
    // any other file changed: the base's own code runs in a child
    const fast = commitWith({ 'stacks/Pulumi.prod.yaml': prod, 'README.md': `${readme}\nchanged\n` });
    const baseTs = readFileSync(join(REPO, 'review', 'base.ts'), 'utf8');
    expect(baseTs).toContain('export async function headObjects(');
    const legacy = commitWith({ 'stacks/Pulumi.prod.yaml': prod, 'review/base.ts': baseTs.replace('export async function headObjects(', 'async function notExported(') });
    expect([stacksOnly, fast, legacy].map((c) => codeMatchesWorkingTree(REPO, c))).toEqual([true, false, false]);
    const runs = [];
    for (const c of [stacksOnly, fast, legacy]) runs.push(await stackbook('diff', '--base', c, '--env', 'prod'));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual([[0, ''], [0, ''], [0, '']]);
    expect(runs[0]!.stdout).toMatch(/minReplicas: 2 → 3/);
    const body = (s: string) => s.split('\n').slice(1).join('\n'); // the first line names the commit
    expect(body(runs[1]!.stdout)).toBe(body(runs[0]!.stdout));
    expect(body(runs[2]!.stdout)).toBe(body(runs[0]!.stdout));
  }, 240_000);

  it('the base has the same code only when every tracked file but the stack files is the working tree\'s, uncommitted changes included', () => {
    expect(codeMatchesWorkingTree(REPO, head)).toBe(true);
    const ope = join(REPO, 'services', 'ope.ts');
    const text = readFileSync(ope, 'utf8');
    try {
      writeFileSync(ope, `${text}\n// an uncommitted edit\n`);
      expect(codeMatchesWorkingTree(REPO, head)).toBe(false);
    } finally {
      writeFileSync(ope, text);
    }
    expect(codeMatchesWorkingTree(REPO, head)).toBe(true);
    // a stack file edited in the working tree is not code
    writeFileSync(PROD, `${pristineProd}\n# edited\n`);
    expect(codeMatchesWorkingTree(REPO, head)).toBe(true);
    // a deleted tracked file is
    expect(codeMatchesWorkingTree(REPO, commitWith({ 'docs/extra.md': 'x\n' }))).toBe(false);
  });
});

describe('stackbook diff failures: exit 2, one clear message, nothing left behind', () => {
  it('an unknown ref', async () => {
    const r = await stackbook('diff', '--base', 'no-such-branch');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('stackbook diff: unknown git revision "no-such-branch" (fetch it first, e.g. git fetch origin)\n');
  });

  it('a base that predates the CLI', async () => {
    const old = commitWith({ 'cli/main.ts': null });
    const r = await stackbook('diff', '--base', old);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`stackbook diff: ${old} (${old.slice(0, 12)}) predates the stackbook CLI (no cli/main.ts): it cannot be synthesized\n`);
  });

  it('a base whose stacks do not synthesize: its own error is shown', async () => {
    expect(pristineProd).toContain('workers: 1\n');
    const broken = commitWith({ 'stacks/Pulumi.prod.yaml': pristineProd.replace('workers: 1\n', 'workers: 6\n') });
    const r = await stackbook('diff', '--base', broken);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^stackbook diff: ${broken} \\(${broken.slice(0, 12)}\\) could not be synthesized \\(its synth exited 2\\):\\n`));
    expect(r.stderr).toMatch(/stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.ope\.workers: .*\(got 6\)/);
  }, 120_000);

  it('usage: no --base, a bad --format, an unknown environment', async () => {
    const noBase = await stackbook('diff');
    expect(noBase.code).toBe(2);
    expect(noBase.stderr).toMatch(/^stackbook: diff needs --base <git-ref>\nusage:/);
    const format = await stackbook('diff', '--base', 'HEAD', '--format', 'html');
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/^stackbook: --format must be text, markdown or json \(got "html"\)/);
    const env = await stackbook('diff', '--base', 'HEAD', '--env', 'mars');
    expect(env.code).toBe(2);
    expect(env.stderr).toBe('stackbook diff: unknown environment "mars" (known: airgap, dev, prod, staging)\n');
  }, 120_000);
});

#!/usr/bin/env node
// checkov (PyPI `checkov`, framework kubernetes) over every synthesized bundle, as an independent
// checker beside kube-score (issue 14). Declared exceptions reach checkov as `checkov.io/skip<N>`
// annotations generated from the project's `exception.stackbook.io/*` declarations
// (policies/checkov.ts); any other failed check fails this run. The only other accepted findings are
// the OPEN ones in tools/checkov-open.yaml: known, unfixed problems with the change that closes
// each; an open entry that no longer matches anything fails the run too (stale), so a fix must
// remove it.
//
//   node tools/checkov.mjs [--out <dir>] [env...]      (default: every stack)
//
// checkov is found as $CHECKOV, on PATH, or in ~/.cache/stackbook-checkov/bin (where .ci/run
// installs it: python3 -m venv + pip install checkov). No network: BC_SKIP_MAPPING and
// --skip-download keep it from fetching the Prisma Cloud mappings.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function findCheckov() {
  const candidates = [process.env.CHECKOV, ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'checkov')), join(homedir(), '.cache', 'stackbook-checkov', 'bin', 'checkov')];
  return candidates.find((c) => c && existsSync(c));
}

/** `*` in a pattern matches anything but "."; patterns look like checkov's `Kind.namespace.name`. */
function matches(pattern, resource) {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*')}$`);
  return re.test(resource);
}

export function parseOpen(doc) {
  const list = doc?.open;
  if (!Array.isArray(list)) throw new Error('tools/checkov-open.yaml: top-level "open" must be a list');
  return list.map((e, i) => {
    for (const k of ['check', 'object', 'fix']) if (typeof e?.[k] !== 'string' || e[k].trim() === '') throw new Error(`open[${i}].${k}: required`);
    return { check: e.check, object: e.object, fix: e.fix.trim(), stacks: e.stacks };
  });
}

function runCheckov(bin, dir) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(bin, ['-d', dir, '--framework', 'kubernetes', '--quiet', '--compact', '--skip-download', '-o', 'json'], {
      env: { ...process.env, BC_SKIP_MAPPING: 'TRUE', CHECKOV_RUN_SCA_PACKAGE_SCAN_V2: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', () => {
      try {
        const parsed = JSON.parse(out);
        resolveRun(Array.isArray(parsed) ? parsed.find((r) => r.check_type === 'kubernetes') : parsed);
      } catch {
        reject(new Error(`checkov gave no JSON for ${dir}:\n${err.slice(-2000)}`));
      }
    });
  });
}

async function main(argv) {
  let out;
  const envs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i];
    else envs.push(argv[i]);
  }
  const bin = findCheckov();
  if (!bin) {
    console.error('checkov: not found ($CHECKOV, PATH, ~/.cache/stackbook-checkov/bin): install it with `python3 -m venv ~/.cache/stackbook-checkov && ~/.cache/stackbook-checkov/bin/pip install checkov` (.ci/run does)');
    return 2;
  }
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8', env: { ...process.env, BC_SKIP_MAPPING: 'TRUE' } }).stdout.trim();
  const dist = out ?? mkdtempSync(join(tmpdir(), 'stackbook-checkov-'));
  const t0 = performance.now();
  const synth = spawnSync(process.execPath, [join(ROOT, 'bin', 'stackbook.js'), 'synth', ...(envs.length > 0 ? envs : ['--all']), '--out', dist], { cwd: ROOT, encoding: 'utf8' });
  if (synth.status !== 0) {
    console.error(`checkov: synth failed:\n${synth.stderr}`);
    return 2;
  }
  // the bundles synth wrote (one directory per stack), not its console output: that is for people
  // and changed shape once already (a table), which left this gate checking nothing
  const stacks = envs.length > 0 ? envs : readdirSync(dist, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(dist, d.name, 'SHA256SUMS'))).map((d) => d.name).sort();
  if (stacks.length === 0) {
    console.error(`checkov: synth wrote no bundle into ${dist}: nothing to check`);
    return 2;
  }
  const open = parseOpen(yaml.load(readFileSync(join(ROOT, 'tools', 'checkov-open.yaml'), 'utf8')));
  const used = new Set();
  const failures = [];
  const lines = [];
  // Two at a time: the machine has two cores.
  const results = [];
  for (let i = 0; i < stacks.length; i += 2) results.push(...(await Promise.all(stacks.slice(i, i + 2).map((s) => runCheckov(bin, join(dist, s)).then((r) => [s, r])))));
  for (const [stack, r] of results) {
    const failed = r?.results?.failed_checks ?? [];
    const skipped = Array.from({ length: r?.summary?.skipped ?? 0 });
    let accepted = 0;
    for (const f of failed) {
      const k = open.findIndex((e) => e.check === f.check_id && matches(e.object, f.resource) && (!e.stacks || e.stacks.includes(stack)));
      if (k >= 0) {
        used.add(k);
        accepted++;
      } else failures.push(`${stack}: ${f.check_id} ${f.resource}: ${f.check_name} (declare a reasoned exception.stackbook.io/* on the object, or fix it)`);
    }
    lines.push(`checkov ${stack}: ${r.summary.passed} passed, ${failed.length} failed (${accepted} open in tools/checkov-open.yaml), ${skipped.length} skipped by declared exceptions, ${r.summary.resource_count} resources`);
  }
  open.forEach((e, i) => {
    const applies = !e.stacks || e.stacks.some((s) => stacks.includes(s));
    if (applies && !used.has(i)) failures.push(`stale entry in tools/checkov-open.yaml: ${e.check} ${e.object} matched no finding (it is fixed: remove it)`);
  });
  for (const l of lines) console.log(l);
  console.log(`checkov ${version}: ${stacks.length} bundles in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (!out) rmSync(dist, { recursive: true, force: true });
  if (failures.length > 0) {
    console.error(failures.join('\n'));
    return 1;
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}

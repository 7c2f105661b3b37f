#!/usr/bin/env node
// Benchmarks (not timed tests): medians over fresh processes.
//   node bench/run.js [--runs N] [--tests] [--no-pulumi] [--only pulumi] [--stack <env>]... [--parallel N]
//   --parallel N: each pulumi run also times `up --parallel N` beside the default (the target figure).
//   --only pulumi: only `synth <env>` and the real-engine pulumi preview/up (one stack: 20 min at a
//   load of 30 on 2 cores, estimated 5 min on a quiet machine); --stack limits the stacks.
//   node bench/run.js --diff [--runs N]   (only synth --all vs diff --base HEAD cold and warm)
// Measures CLI start-up (`stackbook --help`), `synth <env>` per stack and `synth --all`,
// peak RSS of synth --all, and a floor: parsing and re-serialising the same YAML with js-yaml
// in a fresh node process; scaling over a synthetic fleet of 1, 10, 100 and 1,000 services
// (bench/fleet.js); `pulumi preview` and `pulumi up` per stack on the real engine (median of 3,
// tools/test-cluster.mjs --bench; BLOCKED without the tools/build.sh cache, skipped with
// --no-pulumi); with --tests, the wall and CPU time of `npm test` and its test and expect-call counts (test/setup/stats.ts). Prints tables and writes
// dist/bench-results.json (ignored by git:
// a benchmark run leaves the working tree clean).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const cli = join(root, 'bin', 'stackbook.js');
const WITH_TESTS = process.argv.includes('--tests');
const FLEET = [1, 10, 100, 1000];
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg > 0 ? process.argv[onlyArg + 1] : undefined;
if (ONLY !== undefined && ONLY !== 'pulumi') throw new Error(`--only: unknown part "${ONLY}" (known: pulumi)`);
const STACKS = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--stack' ? [a] : []));
// Targets of issue 13, on 2 cores: pulumi preview and pulumi up of one stack, real engine, median of 3.
const PULUMI_TARGETS = { previewS: 10, upS: 45 };

function timeOnce(args, cwd = root) {
  // /usr/bin/time is not always there: measure wall time here, peak RSS via node's own report.
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function bench(name, args) {
  const times = [];
  for (let i = 0; i < RUNS; i++) times.push(timeOnce(args).ms);
  return { name, medianMs: Math.round(median(times)), minMs: Math.round(Math.min(...times)), runs: RUNS };
}

/**
 * `pulumi preview` and `pulumi up` per stack on the real engine (tools/test-cluster.mjs --bench:
 * median of 3 per stack, on a test cluster with kwok Nodes), beside synth of the same stack, with a
 * pass/fail per target. Needs the tools/build.sh cache, else BLOCKED.
 */
// --parallel N: each run also times `up --parallel N`, printed beside the default (the target figure).
const parallelArg = process.argv.indexOf('--parallel');
const PARALLEL = parallelArg > 0 ? process.argv[parallelArg + 1] : undefined;
function pulumiBenchOf(envs) {
  const env = PARALLEL ? { ...process.env, STACKBOOK_BENCH_PARALLEL: PARALLEL } : process.env;
  const r = spawnSync(process.execPath, [join(root, 'tools', 'test-cluster.mjs'), '--bench', ...envs], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    return { blocked: `tools/test-cluster.mjs --bench gave no result (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}` };
  }
}

function pulumiTableOf(pulumiBench, synthOf) {
  if (!pulumiBench) return '';
  if (pulumiBench.blocked) return `pulumi: BLOCKED: ${pulumiBench.blocked}\n`;
  const verdict = (x, target) => (x <= target ? 'pass' : 'FAIL');
  return [
    `pulumi (real engine, median of 3 runs; targets on 2 cores: preview <= ${PULUMI_TARGETS.previewS} s, up <= ${PULUMI_TARGETS.upS} s):`,
    'stack      synth ms   preview s  target   up s     target   runs (preview | up, s)',
    ...pulumiBench.bench.map((b) =>
      b.error
        ? `${b.stack.padEnd(8)} FAILED: ${b.error}`
        : `${b.stack.padEnd(8)} ${String(synthOf(b.stack)).padStart(10)} ${b.previewS.toFixed(1).padStart(10)}  ${verdict(b.previewS, PULUMI_TARGETS.previewS).padEnd(6)} ${b.upS.toFixed(1).padStart(6)}   ${verdict(b.upS, PULUMI_TARGETS.upS).padEnd(6)}   ${b.times.preview.map((x) => x.toFixed(1)).join(' ')} | ${b.times.up.map((x) => x.toFixed(1)).join(' ')}${b.times.previewCpu ? `; CPU s ${b.times.previewCpu.map((x) => x.toFixed(1)).join(' ')} | ${b.times.upCpu.map((x) => x.toFixed(1)).join(' ')}; load ${b.times.load.map((x) => x.toFixed(1)).join(' ')}` : ''}${b.upParallelS !== undefined ? `\n         recommendation, not the target figure: up --parallel ${b.times.parallel} median ${b.upParallelS.toFixed(1)} s (runs ${b.times.upParallel.map((x) => x.toFixed(1)).join(' ')}; CPU s ${b.times.upParallelCpu.map((x) => x.toFixed(1)).join(' ')})` : ''}`,
    ),
    `load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} (the figures are wall seconds; compare runs under the same load)`,
  ].join('\n') + '\n';
}

// `--diff`: only synth --all and `diff --base HEAD` cold and warm, interleaved run by run (synth,
// cold, warm) so that a loaded machine's drift hits all three alike; prints the load average.
if (process.argv.includes('--diff')) {
  const out = mkdtempSync(join(tmpdir(), 'stackbook-bench-'));
  const cache = mkdtempSync(join(tmpdir(), 'stackbook-bench-diffcache-'));
  const env = { ...process.env, STACKBOOK_DIFF_CACHE: cache };
  const times = { synth: [], cold: [], warm: [] };
  const load = [];
  try {
    const once = (args, e = process.env) => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: e });
      if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    for (let i = 0; i < RUNS; i++) {
      load.push(loadavg()[0]);
      times.synth.push(once([cli, 'synth', '--all', '--out', out]));
      rmSync(cache, { recursive: true, force: true });
      times.cold.push(once([cli, 'diff', '--base', 'HEAD'], env));
      times.warm.push(once([cli, 'diff', '--base', 'HEAD'], env));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(median(v))]));
  console.log(
    `synth --all ${m.synth} ms, diff --base HEAD cold ${m.cold} ms (${(m.cold / m.synth).toFixed(2)}x, target <= 3), warm ${m.warm} ms (${(m.warm / m.synth).toFixed(2)}x, target <= 1.5)\n` +
      `medians of ${RUNS} interleaved runs; all runs (ms): ${JSON.stringify(Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map(Math.round)])))}\n` +
      `load average (1 min) at each run: ${load.map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores`,
  );
  process.exit(0);
}

const out = mkdtempSync(join(tmpdir(), 'stackbook-bench-'));
try {
  const allEnvs = readdirSync(join(root, 'stacks')).map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter(Boolean).sort();
  for (const s of STACKS) if (!allEnvs.includes(s)) throw new Error(`--stack ${s}: unknown (known: ${allEnvs.join(', ')})`);
  const envs = STACKS.length > 0 ? STACKS : allEnvs;
  if (ONLY === 'pulumi') {
    const t0 = process.hrtime.bigint();
    const synth = envs.map((env) => bench(`synth ${env}`, [cli, 'synth', env, '--out', out]));
    const pulumiBench = pulumiBenchOf(envs);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`${pulumiTableOf(pulumiBench, (env) => synth.find((x) => x.name === `synth ${env}`)?.medianMs)}bench --only pulumi: ${wallS.toFixed(0)} s wall; machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
    mkdirSync(join(root, 'dist'), { recursive: true });
    writeFileSync(
      join(root, 'dist', 'bench-pulumi.json'),
      `${JSON.stringify({ date: new Date().toISOString(), machine: { cores: cpus().length, model: cpus()[0]?.model, node: process.version }, loadavg: loadavg(), wallS: Math.round(wallS), synth, pulumi: { targets: PULUMI_TARGETS, ...pulumiBench } }, null, 2)}\n`,
    );
    process.exitCode = pulumiBench.bench?.some((b) => b.error) ? 1 : 0;
  } else {
  const results = [];
  results.push(bench('cli start-up (--help)', [cli, '--help']));
  for (const env of envs) results.push(bench(`synth ${env}`, [cli, 'synth', env, '--out', out]));
  const all = bench('synth --all', [cli, 'synth', '--all', '--out', out]);
  results.push(all);

  // Peak memory and object count of synth --all, from inside a child that reports them.
  const probe = spawnSync(
    process.execPath,
    ['-e', `const {main}=await import(${JSON.stringify(join(root, 'build/cli/main.js'))});const w=process.stdout.write.bind(process.stdout);let n=0;process.stdout.write=(s)=>{for(const m of String(s).matchAll(/^\\S+ +(\\d+) +\\d+ +\\d+ +\\d+ +[\\d.]+$/gm))n+=Number(m[1]);return true};await main(['synth','--all','--out',${JSON.stringify(out)}],${JSON.stringify(root)});process.stdout.write=w;console.log(JSON.stringify({objects:n,maxRssMiB:Math.round(process.resourceUsage().maxRSS/1024)}))`, '--input-type=module'],
    { encoding: 'utf8' },
  );
  const probeLine = probe.stdout.trim().split('\n').pop();
  const { objects, maxRssMiB } = JSON.parse(probeLine);

  // Floor: parse + re-serialise the bundles' YAML in a fresh process.
  const yamlFiles = envs.flatMap((env) => readdirSync(join(out, env)).filter((f) => f.endsWith('.yaml')).map((f) => join(out, env, f)));
  const floorScript = join(out, 'floor.mjs');
  writeFileSync(
    floorScript,
    `import * as yaml from ${JSON.stringify(join(root, 'node_modules/js-yaml/dist/js-yaml.mjs'))};import {readFileSync} from 'node:fs';for (const f of ${JSON.stringify(yamlFiles)}) { const docs = yaml.loadAll(readFileSync(f,'utf8')); docs.map(d=>yaml.dump(d,{sortKeys:true})).join('---\\n'); }`,
  );
  const floor = bench('floor: node + js-yaml parse/dump of the same YAML', [floorScript]);
  results.push(floor);

  // `stackbook diff --base HEAD` (issue 17 targets: warm within 1.5x of synth --all, cold within
  // 3x): cold = the base cache emptied before each run (export + the base's own synth), warm = the
  // base read back from the cache (review/base.ts). Needs git.
  function timeDiff(cold) {
    const cache = mkdtempSync(join(tmpdir(), 'stackbook-bench-diffcache-'));
    const times = [];
    try {
      if (!cold) spawnSync(process.execPath, [cli, 'diff', '--base', 'HEAD'], { cwd: root, env: { ...process.env, STACKBOOK_DIFF_CACHE: cache } });
      for (let i = 0; i < RUNS; i++) {
        if (cold) rmSync(cache, { recursive: true, force: true });
        const t0 = process.hrtime.bigint();
        const r = spawnSync(process.execPath, [cli, 'diff', '--base', 'HEAD'], { cwd: root, encoding: 'utf8', env: { ...process.env, STACKBOOK_DIFF_CACHE: cache } });
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 0) throw new Error(`diff --base HEAD failed (${r.status}): ${r.stderr}`);
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
    return { name: `diff --base HEAD (${cold ? 'cold' : 'warm'})`, medianMs: Math.round(median(times)), minMs: Math.round(Math.min(...times)), runs: RUNS };
  }
  const diffCold = timeDiff(true);
  const diffWarm = timeDiff(false);
  results.push(diffCold, diffWarm);

  // Scaling: a synthetic fleet of N services in one stack, each size in fresh processes.
  const fleet = [];
  for (const n of FLEET) {
    const runs = [];
    for (let i = 0; i < Math.min(RUNS, n >= 1000 ? 3 : RUNS); i++) {
      runs.push(JSON.parse(timeOnce(['--expose-gc', join(root, 'bench', 'fleet.js'), String(n)]).stdout.trim().split('\n').pop()));
    }
    const ms = median(runs.map((r) => r.totalMs));
    const mib = median(runs.map((r) => r.peakAboveBaselineMiB));
    const objects = runs[0].objects;
    fleet.push({ services: n, objects, medianMs: Math.round(ms), usPerObject: Math.round((ms * 1000) / objects), peakMiB: Math.round(mib), kibPerObject: Math.round((mib * 1024) / objects) });
  }
  // Linear means the cost per object does not grow with the fleet: compare the two largest sizes
  // (the small ones are dominated by fixed costs, which only makes the per-object figure fall).
  const [prev, last] = fleet.slice(-2);
  const timeGrowth = last.usPerObject / prev.usPerObject;
  const memGrowth = last.kibPerObject / Math.max(1, prev.kibPerObject);
  const linear = timeGrowth <= 1.5 && memGrowth <= 1.5;

  // Pulumi on the real engine, beside synth of the same stack (pulumiBenchOf above).
  const pulumiBench = process.argv.includes('--no-pulumi') ? undefined : pulumiBenchOf(envs);
  const pulumiTable = pulumiTableOf(pulumiBench, (env) => results.find((x) => x.name === `synth ${env}`)?.medianMs);

  let npmTest;
  if (WITH_TESTS) {
    // Same assertions, less time: per-file tests, expect calls and CPU from test/setup/stats.ts;
    // the CPU of the whole run (vitest and every child it waited for) from /proc/self/stat; the load
    // average at the start, since a loaded machine stretches wall time, not CPU time.
    const statsFile = join(out, 'test-stats.jsonl');
    const childCpuMs = () => {
      try {
        const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
        return (Number(f[13]) + Number(f[14])) * 10; // cutime + cstime, 10 ms ticks
      } catch {
        return NaN;
      }
    };
    const load = loadavg()[0];
    const cpu0 = childCpuMs();
    const t0 = process.hrtime.bigint();
    const r = spawnSync('npm', ['test'], { cwd: root, encoding: 'utf8', env: { ...process.env, STACKBOOK_TEST_STATS: statsFile } });
    const files = (() => {
      try {
        return readFileSync(statsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      } catch {
        return [];
      }
    })();
    const wallMs = Math.round(Number(process.hrtime.bigint() - t0) / 1e6);
    npmTest = {
      wallMs,
      cpuS: Math.round((childCpuMs() - cpu0) / 100) / 10,
      loadAtStart: Math.round(load * 10) / 10,
      // the wall time in units of the floor measured in the same run: the host's own speed moves
      // both (by a third, some hours), the suite's cost shows in this ratio
      floorRatio: Math.round(wallMs / floor.medianMs),
      tests: files.reduce((n, f) => n + f.tests, 0),
      assertions: files.reduce((n, f) => n + f.assertions, 0),
      status: r.status,
      summary: (r.stdout.match(/\d+ passed, \d+ failed, \d+ skipped/) ?? ['?'])[0],
      // the ten files that cost most CPU (a long file at the tail keeps one core busy alone)
      topFiles: [...files].sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 10).map((f) => ({ file: f.file, tests: f.tests, assertions: f.assertions, cpuS: Math.round(f.cpuMs / 100) / 10, wallS: Math.round(f.wallMs / 100) / 10 })),
    };
  }

  const table = results.map((r) => `${r.name.padEnd(52)} ${String(r.medianMs).padStart(6)} ms (min ${r.minMs})`).join('\n');
  const fleetTable = [
    'services  objects   median ms   µs/object   peak MiB   KiB/object',
    ...fleet.map((f) => `${String(f.services).padStart(8)} ${String(f.objects).padStart(8)} ${String(f.medianMs).padStart(11)} ${String(f.usPerObject).padStart(11)} ${String(f.peakMiB).padStart(10)} ${String(f.kibPerObject).padStart(12)}`),
    `per-object growth ${prev.services} -> ${last.services} services: time x${timeGrowth.toFixed(2)}, memory x${memGrowth.toFixed(2)}: ${linear ? 'linear' : 'SUPER-LINEAR'}`,
  ].join('\n');
  const ratio = (all.medianMs / floor.medianMs).toFixed(2);
  const objectsPerSecond = Math.round(objects / (all.medianMs / 1000));
  const summary = `synth --all: ${objects} objects, ${objectsPerSecond} objects/s, peak RSS ${maxRssMiB} MiB, ${ratio}x the floor\n` +
    `diff --base HEAD: warm ${(diffWarm.medianMs / all.medianMs).toFixed(2)}x synth --all (target <= 1.5), cold ${(diffCold.medianMs / all.medianMs).toFixed(2)}x (target <= 3)`;
  console.log(`${table}\n${summary}\n\nfleet (bench/fleet.js: N copies of OPE in one prod stack, render + serialise):\n${fleetTable}\n${pulumiTable}${npmTest ? `npm test: ${npmTest.wallMs} ms wall (${npmTest.floorRatio}x the floor), ${npmTest.cpuS} s CPU, load ${npmTest.loadAtStart} at start (${npmTest.summary}; ${npmTest.tests} tests ran, ${npmTest.assertions} expect calls; exit ${npmTest.status})\n${npmTest.topFiles.map((f) => `  ${f.file.padEnd(44)} ${String(f.cpuS).padStart(6)} s CPU ${String(f.wallS).padStart(6)} s wall ${String(f.tests).padStart(4)} tests ${String(f.assertions).padStart(6)} expects`).join('\n')}\n` : ''}machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(
    join(root, 'dist', 'bench-results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), machine: { cores: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version }, results, synthAll: { objects, objectsPerSecond, maxRssMiB, ratioToFloor: Number(ratio) }, fleet, fleetGrowth: { time: Number(timeGrowth.toFixed(2)), memory: Number(memGrowth.toFixed(2)), linear }, pulumi: pulumiBench ? { targets: PULUMI_TARGETS, ...pulumiBench } : undefined, npmTest }, null, 2)}\n`,
  );
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}

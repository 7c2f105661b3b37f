#!/usr/bin/env node
// Benchmarks (not timed tests): medians over fresh processes.
//   node bench/run.js [--runs N]
// Measures CLI start-up (`stackbook --help`), `synth <env>` per stack and `synth --all`,
// peak RSS of synth --all, and a floor: parsing and re-serialising the same YAML with js-yaml
// in a fresh node process. Prints a table and writes bench/results.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const cli = join(root, 'bin', 'stackbook.js');

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

const out = mkdtempSync(join(tmpdir(), 'stackbook-bench-'));
try {
  const envs = readdirSync(join(root, 'stacks')).map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter(Boolean).sort();
  const results = [];
  results.push(bench('cli start-up (--help)', [cli, '--help']));
  for (const env of envs) results.push(bench(`synth ${env}`, [cli, 'synth', env, '--out', out]));
  const all = bench('synth --all', [cli, 'synth', '--all', '--out', out]);
  results.push(all);

  // Peak memory and object count of synth --all, from inside a child that reports them.
  const probe = spawnSync(
    process.execPath,
    ['-e', `const {main}=await import(${JSON.stringify(join(root, 'build/cli/main.js'))});const w=process.stdout.write.bind(process.stdout);let n=0;process.stdout.write=(s)=>{for(const m of String(s).matchAll(/: (\\d+) objects/g))n+=Number(m[1]);return true};await main(['synth','--all','--out',${JSON.stringify(out)}],${JSON.stringify(root)});process.stdout.write=w;console.log(JSON.stringify({objects:n,maxRssMiB:Math.round(process.resourceUsage().maxRSS/1024)}))`, '--input-type=module'],
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

  const table = results.map((r) => `${r.name.padEnd(52)} ${String(r.medianMs).padStart(6)} ms (min ${r.minMs})`).join('\n');
  const ratio = (all.medianMs / floor.medianMs).toFixed(2);
  const objectsPerSecond = Math.round(objects / (all.medianMs / 1000));
  const summary = `synth --all: ${objects} objects, ${objectsPerSecond} objects/s, peak RSS ${maxRssMiB} MiB, ${ratio}x the floor`;
  console.log(`${table}\n${summary}\nmachine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  writeFileSync(
    join(root, 'bench', 'results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), machine: { cores: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version }, results, synthAll: { objects, objectsPerSecond, maxRssMiB, ratioToFloor: Number(ratio) } }, null, 2)}\n`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}

#!/usr/bin/env node
/**
 * The import graph between the project's top folders (issue 18): prints every edge `from -> to`
 * (with how many files carry it), and fails (exit 1) on an edge that goes against LAYERS below or
 * on a cycle between folders. Read by `test/architecture.test.ts`, so every change is checked.
 *
 * Reads the sources as text (relative `import`/`export ... from`, `import('...')`, `import '...'`).
 * Folder edges count type-only imports too (a type edge is an edge of the design); file cycles
 * count only imports that remain at run time. No dependencies.
 *
 * Usage: node tools/imports.mjs [--files]   (--files: list the file-level imports behind each edge)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The floors, lowest first. A folder may import its own floor's folders' code only when they are
 * the same folder, and any folder on a lower floor. docs/architecture.md explains each floor.
 */
export const LAYERS = [
  ['kube'], // ground floor: Kubernetes vocabulary, imports nothing of ours
  ['stacks', 'components'], // per-environment config (schema, loading, config-time rules); cdk8s constructs, one concern each
  ['services'], // one module per runbook: config -> components; the application contracts
  ['policies'], // pure rules over rendered manifests (the app-contract rule reads services' contracts)
  ['synth'], // the render pipeline: stack -> objects -> policies -> air-gap check
  ['bundle', 'reports'], // bundle writer (prerequisites, artifact); coverage and failure budget
  ['review', 'pulumi'], // diff engine, git base, connectivity, HTML report; the Pulumi program
  ['cli'], // the command line
  ['tools', 'test', 'bench', 'bin'], // outside the package: may import anything above
];

const SOURCE = /\.(ts|mts|mjs|js)$/;
const SKIP = new Set(['node_modules', 'build', 'dist', '.git']);

function floorOf(folder) {
  return LAYERS.findIndex((f) => f.includes(folder));
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) yield* walk(p);
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) yield p;
  }
}

const SPEC = [
  /(?:^|[\s;])(?:import|export)\s[^;'"]*?\sfrom\s*['"]([^'"]+)['"]/g,
  /(?:^|[\s;])import\s*['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
];

/** Comments out of the way, so an `import` in prose is not an edge. Strings are kept. */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** `import type …`, `export type …`, or braces holding only `type X` names: gone at run time. */
function isTypeOnly(statement) {
  const s = statement.trim();
  if (/^(import|export)\s+type\s/.test(s)) return true;
  const braces = /^import\s*\{([^}]*)\}\s*from/.exec(s);
  if (!braces) return false;
  const names = braces[1].split(',').map((n) => n.trim()).filter(Boolean);
  return names.length > 0 && names.every((n) => n.startsWith('type '));
}

export function importEdges(root = ROOT) {
  const files = [];
  for (const top of readdirSync(root)) {
    if (SKIP.has(top) || top.startsWith('.')) continue;
    const p = join(root, top);
    if (statSync(p).isDirectory() && floorOf(top) >= 0) files.push(...walk(p));
  }
  const edges = new Map(); // "from -> to" -> Set of "file -> file"
  const fileEdges = new Map(); // file -> Set of files it imports (every folder, own one included)
  for (const file of files) {
    const text = stripComments(readFileSync(file, 'utf8'));
    const from = relative(root, file).split(sep)[0];
    for (const re of SPEC) {
      for (const m of text.matchAll(re)) {
        const spec = m[1];
        const typeOnly = isTypeOnly(m[0]);
        if (!spec.startsWith('.')) continue;
        const target = relative(root, resolve(dirname(file), spec));
        const to = target.split(sep)[0];
        const src = relative(root, file);
        const dst = target.replace(/\.js$/, existsSync(join(root, target.replace(/\.js$/, '.ts'))) ? '.ts' : '.js');
        if (!typeOnly) {
          if (!fileEdges.has(src)) fileEdges.set(src, new Set());
          fileEdges.get(src).add(dst);
        }
        if (to === from || to.startsWith('..') || floorOf(to) < 0) continue;
        const key = `${from} -> ${to}`;
        if (!edges.has(key)) edges.set(key, new Set());
        edges.get(key).add(`${relative(root, file)} -> ${target}`);
      }
    }
  }
  edges.files = fileEdges;
  return edges;
}

/** Edges that go up (to a higher floor) or sideways (another folder on the same floor). */
export function upwardEdges(edges) {
  return [...edges.keys()].filter((k) => {
    const [from, to] = k.split(' -> ');
    const a = floorOf(from);
    const b = floorOf(to);
    return b > a || (b === a && a !== LAYERS.length - 1);
  });
}

/** Cycles between folders (strongly connected components with more than one folder). */
export function folderCycles(edges) {
  const adj = new Map();
  for (const k of edges.keys()) {
    const [a, b] = k.split(' -> ');
    if (!adj.has(a)) adj.set(a, []);
    if (!adj.has(b)) adj.set(b, []);
    adj.get(a).push(b);
  }
  return cyclesOf(adj);
}

/**
 * Cycles between files of the package (test/, tools/, bench/ left out) through imports that remain
 * at run time: a cycle of type-only imports loads nothing, so it cannot leave a module half-initialised.
 */
export function fileCycles(edges) {
  const adj = new Map();
  const outside = (f) => /^(test|tools|bench|bin)\//.test(f);
  for (const [a, bs] of edges.files) {
    if (outside(a)) continue;
    if (!adj.has(a)) adj.set(a, []);
    for (const b of bs) {
      if (outside(b)) continue;
      if (!adj.has(b)) adj.set(b, []);
      adj.get(a).push(b);
    }
  }
  return cyclesOf(adj);
}

/** Strongly connected components of more than one node (Tarjan). */
function cyclesOf(adj) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of adj.get(v)) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...adj.keys()].sort()) if (!idx.has(v)) strong(v);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const edges = importEdges();
  const showFiles = process.argv.includes('--files');
  for (const k of [...edges.keys()].sort()) {
    console.log(`${k} (${edges.get(k).size})`);
    if (showFiles) for (const f of [...edges.get(k)].sort()) console.log(`    ${f}`);
  }
  const up = upwardEdges(edges);
  const cycles = folderCycles(edges);
  const files = fileCycles(edges);
  for (const k of up) console.log(`UPWARD: ${k}: ${[...edges.get(k)].sort().join('; ')}`);
  for (const c of cycles) console.log(`CYCLE: ${c.join(' <-> ')}`);
  for (const c of files) console.log(`FILE CYCLE: ${c.join(' <-> ')}`);
  if (up.length || cycles.length || files.length) process.exit(1);
}

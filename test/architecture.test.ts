/**
 * Issue 18: the house. The import graph between the top folders has no cycle and no edge that
 * goes up a floor (tools/imports.mjs LAYERS, docs/architecture.md), and no two files of the
 * package import each other at run time. Read from the sources, so every change is checked.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs tool without type declarations
import { fileCycles, folderCycles, importEdges, LAYERS, upwardEdges } from '../tools/imports.mjs';

type Edges = Map<string, Set<string>> & { files: Map<string, Set<string>> };
const edges = importEdges() as Edges;

describe('the import graph of this tree', () => {
  it('has no edge up a floor or sideways', () => {
    expect(upwardEdges(edges).map((k: string) => `${k}: ${[...edges.get(k)!].join('; ')}`)).toEqual([]);
  });

  it('has no cycle between folders', () => {
    expect(folderCycles(edges)).toEqual([]);
  });

  it('has no run-time import cycle between files', () => {
    expect(fileCycles(edges)).toEqual([]);
  });

  it('keeps the ground floor free of our own imports: kube/ imports no other folder', () => {
    expect([...edges.keys()].filter((k) => k.startsWith('kube -> '))).toEqual([]);
    expect(LAYERS[0]).toEqual(['kube']);
  });

  it('knows every top folder that holds sources (a new folder needs a floor)', () => {
    const folders = new Set([...edges.keys()].flatMap((k) => k.split(' -> ')));
    for (const f of folders) expect(LAYERS.flat()).toContain(f);
    for (const f of ['kube', 'stacks', 'components', 'services', 'policies', 'synth', 'bundle', 'review', 'reports', 'pulumi', 'cli']) {
      expect(folders).toContain(f);
    }
  });
});

describe('the checker itself', () => {
  const root = mkdtempSync(join(tmpdir(), 'stackbook-imports-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('kube/a.ts', "export const A = 1;\n");
  write('components/b.ts', "import { A } from '../kube/a.js';\nimport type { S } from '../stacks/s.js';\nexport const B = A;\n");
  write('stacks/s.ts', "import { B } from '../components/b.js';\nexport type S = typeof B;\n");
  write('stacks/x.ts', "import { Y } from './y.js';\nexport const X = 1;\n// import { Z } from '../cli/z.js';\n");
  write('stacks/y.ts', "import { X } from './x.js';\nexport const Y = 2;\n");
  write('stacks/t.ts', "import type { U } from './u.js';\nexport type T = 1;\n");
  write('stacks/u.ts', "import { type T } from './t.js';\nexport type U = 2;\n");
  write('services/m.ts', "const later = await import('../synth/r.js');\nexport const M = later;\n");
  write('synth/r.ts', "export const R = 1;\n");
  const fake = importEdges(root) as Edges;

  it('finds sideways and upward edges, type-only ones included, and not those in comments', () => {
    expect(upwardEdges(fake).sort()).toEqual(['components -> stacks', 'services -> synth', 'stacks -> components']);
    expect(fake.has('stacks -> cli')).toBe(false);
  });

  it('finds a cycle between folders', () => {
    expect(folderCycles(fake)).toEqual([['components', 'stacks']]);
  });

  it('finds a run-time file cycle, but not one of type-only imports', () => {
    expect(fileCycles(fake)).toEqual([['stacks/x.ts', 'stacks/y.ts']]);
  });
});

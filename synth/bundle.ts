/**
 * Writes a rendered stack as a bundle directory, atomically: everything is written to a
 * temporary sibling first and swapped in with renames, so a failure at any point leaves the
 * previous `dist/<env>` exactly as it was.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as yaml from 'js-yaml';
import { PHASES, phaseOf, type Manifest, type Rendered } from './render.js';

export function toYaml(objects: readonly Manifest[]): string {
  return objects.map((o) => yaml.dump(o, { sortKeys: true, noRefs: true, lineWidth: -1})).join('---\n');
}

export interface BundleFile {
  readonly path: string;
  readonly content: string;
}

/** The files of a bundle, in apply order, as strings (pure: used by synth, diff and tests). */
export function bundleFiles(r: Rendered): BundleFile[] {
  const files: BundleFile[] = [];
  PHASES.forEach((phase, i) => {
    const objs = r.objects.filter((o) => phaseOf(o) === phase);
    if (objs.length > 0) files.push({ path: `${String(i + 1).padStart(2, '0')}-${phase}.yaml`, content: toYaml(objs) });
  });
  files.push({
    path: 'secrets.json',
    content: `${JSON.stringify(
      r.secrets.map((s) => ({ name: s.name, namespace: s.namespace, keys: [...s.keys].sort(), source: s.source, consumers: [...s.consumers].sort() })),
      null,
      2,
    )}\n`,
  });
  files.push({
    path: 'images.txt',
    content:
      r.images.map((i) => `${i.source} ${i.reference}${i.digest ? ` ${i.digest}` : ''}`).join('\n') + (r.images.length > 0 ? '\n' : ''),
  });
  const sums = files.map((f) => `${createHash('sha256').update(f.content).digest('hex')}  ${f.path}`).join('\n');
  files.push({ path: 'SHA256SUMS', content: `${sums}\n` });
  return files;
}

/** Hook for tests that prove atomicity: called after each file is written to the temp dir. */
export type WriteHook = (file: string) => void;

export function writeBundle(outDir: string, files: readonly BundleFile[], hook?: WriteHook): void {
  const parent = dirname(outDir);
  mkdirSync(parent, { recursive: true });
  const name = basename(outDir);
  const tmp = join(parent, `.${name}.tmp-${process.pid}`);
  const old = join(parent, `.${name}.old-${process.pid}`);
  // Recover from an interrupted earlier swap: the previous bundle is still beside it.
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    for (const f of files) {
      writeFileSync(join(tmp, f.path), f.content);
      hook?.(f.path);
    }
    if (existsSync(outDir)) renameSync(outDir, old);
    try {
      renameSync(tmp, outDir);
    } catch (e) {
      if (existsSync(old)) renameSync(old, outDir);
      throw e;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

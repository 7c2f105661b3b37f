/** Shared test helpers: load and render the project's real stacks. */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadStackFile } from '../stacks/load.js';
import { knownEnvironments } from '../synth/stacks.js';
import { render, type Rendered, type Manifest } from '../synth/render.js';
import type { Stack } from '../stacks/schema.js';
import { deepFreeze } from './freeze.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = join(ROOT, '..', 'shared');
export function loadEnv(env: string): Stack {
  return loadStackFile(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), `stacks/Pulumi.${env}.yaml`);
}

const TIER_ORDER = { development: 0, staging: 1, production: 2 } as const;
/**
 * Every stack of the project (`stacks/Pulumi.<env>.yaml`), so a new environment is tested without
 * editing a test: by tier (development, staging, production), air-gapped stacks last, then by name
 * (dev, staging, prod, airgap today).
 */
export const ENVS: readonly string[] = knownEnvironments(ROOT)
  .map((env) => ({ env, stack: loadEnv(env) }))
  .sort((a, b) => TIER_ORDER[a.stack.tier] - TIER_ORDER[b.stack.tier] || Number(a.stack.cluster.airgapped) - Number(b.stack.cluster.airgapped) || (a.env < b.env ? -1 : 1))
  .map((x) => x.env);
export type Env = string;


const cache = new Map<string, Rendered>();
/**
 * Render a real stack (cached per test worker: files that share a worker, see vitest.config.ts,
 * share it). The result is deep-frozen, so a test that mutates it fails at once instead of
 * changing what later tests see: take a `structuredClone` to modify it.
 */
export function renderEnv(env: string): Rendered {
  let r = cache.get(env);
  if (!r) {
    r = deepFreeze(render(loadEnv(env)));
    cache.set(env, r);
  }
  return r;
}

export function find(objects: readonly Manifest[], kind: string, name: string, namespace?: string): Manifest {
  const o = objects.find((m) => m.kind === kind && m.metadata.name === name && (namespace === undefined || m.metadata.namespace === namespace));
  if (!o) throw new Error(`no ${kind} ${namespace ?? '*'}/${name} among ${objects.length} objects`);
  return o;
}

/** The catalog concern IDs an object carries. */
export function concernsOf(o: Manifest): string[] {
  return (o.metadata.annotations?.['stackbook.io/concerns'] ?? '').split(',').filter(Boolean);
}

/**
 * Storage sizes that config rules (stacks/) check before rendering and components check while
 * rendering: one function each, so both report the same problem in the same words.
 */
import { parseBytes } from './quantity.js';

/** Volume size of a persistent Redis, as a multiple of `maxmemory` (AOF rewrite: old + new files + increments). */
export const AOF_STORAGE_FACTOR = 3;

/** The PVC size a persistent Redis with `maxmemory` bytes needs at least, and the default: whole Gi, ≥ 1Gi. */
export function aofStorageSize(maxmemory: number): { minBytes: number; defaultSize: string } {
  const minBytes = AOF_STORAGE_FACTOR * maxmemory;
  return { minBytes, defaultSize: `${Math.max(1, Math.ceil(minBytes / 1024 ** 3))}Gi` };
}

/**
 * Why `storageSize` cannot hold a persistent Redis with this memory limit (maxmemory = limit ×
 * ratio), or undefined: for stack rules, which find it before rendering.
 */
export function redisStorageProblem(memoryLimit: string, storageSize: string, ratio = 0.75): string | undefined {
  const limit = parseBytes(memoryLimit);
  const size = parseBytes(storageSize);
  if (limit === undefined || size === undefined) return undefined;
  const maxmemory = Math.floor(limit * ratio);
  const { minBytes, defaultSize } = aofStorageSize(maxmemory);
  if (size >= minBytes) return undefined;
  return `must be at least ${AOF_STORAGE_FACTOR} × maxmemory (${Math.ceil(minBytes / 1024 ** 2)}Mi for maxmemory ${Math.floor(maxmemory / 1024 ** 2)}Mi): an AOF rewrite writes a second copy of the dataset beside the old one; use ${defaultSize} or lower the memory limit`;
}

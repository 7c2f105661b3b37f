/**
 * A `render` that appends extra objects, as a new (buggy) component would (each distinct stack
 * rendered once, as `renderOncePerStack`): for test files that
 * check what the pipeline does with such objects (test/airgap.test.ts, test/pulumi-pipeline.test.ts).
 * Use it as the factory of a module mock, importing this file inside the factory (vi.mock is
 * hoisted above the file's imports; a dynamic import inside the factory is left in place):
 *
 *   vi.mock('../synth/render.js', async (orig) => (await import('./render-inject.js')).renderInjecting(orig));
 *
 * and set `injected.objects` in a test (cleared by `afterEach` in the test file).
 */
import type { Manifest, Rendered } from '../synth/render.js';
import { deepFreeze } from './freeze.js';

type RenderModule = typeof import('../synth/render.js');

/** Objects the next renders append (deep-copied per render, so a test can reuse them). */
export const injected = { objects: [] as unknown[] };

export async function renderInjecting(importOriginal: () => Promise<unknown>): Promise<RenderModule> {
  // each distinct stack rendered once (below); the injected objects appended to that render
  const once = await renderOncePerStack(importOriginal);
  return {
    ...once,
    render: (...args: Parameters<RenderModule['render']>) => {
      const r = once.render(...args);
      return injected.objects.length === 0 ? r : { ...r, objects: [...r.objects, ...(structuredClone(injected.objects) as Manifest[])] };
    },
  };
}

/**
 * A `render` that renders each distinct stack once per test file (keyed by the stack's JSON) and
 * hands every caller the same deep-frozen result: for files that run the CLI in process many times
 * over the same stack (test/bad-input.test.ts fails a write at every file of a bundle in turn;
 * cli.test.ts, diff-e2e.test.ts). The pipeline only reads what `render` returns, and frozen, a
 * write anywhere in it would throw (ES modules are strict) instead of leaking into the next caller:
 * no copy per call (a `structuredClone` of a whole stack per call was ~2 s of CPU in bad-input
 * alone). `render` is a function of the stack and the service list; a call with its own service
 * list is not cached.
 */
export async function renderOncePerStack(importOriginal: () => Promise<unknown>): Promise<RenderModule> {
  const real = (await importOriginal()) as RenderModule;
  const cache = new Map<string, Omit<Rendered, 'stack'>>();
  return {
    ...real,
    render: (...args: Parameters<RenderModule['render']>) => {
      if (args.length > 1) return real.render(...args);
      const [stack] = args;
      const key = JSON.stringify(stack);
      let hit = cache.get(key);
      if (!hit) {
        const { stack: _, ...rest } = real.render(stack);
        cache.set(key, (hit = deepFreeze(rest)));
        renderCalls.real++;
      } else renderCalls.cached++;
      return { stack, ...hit };
    },
  };
}
/** How many renders `renderOncePerStack` ran and how many it answered from its cache. */
export const renderCalls = { real: 0, cached: 0 };

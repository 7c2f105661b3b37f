/**
 * A `render` that appends extra objects, as a new (buggy) component would: for test files that
 * check what the pipeline does with such objects (test/airgap.test.ts, test/pulumi-pipeline.test.ts).
 * Use it as the factory of a module mock, importing this file inside the factory (vi.mock is
 * hoisted above the file's imports; a dynamic import inside the factory is left in place):
 *
 *   vi.mock('../synth/render.js', async (orig) => (await import('./render-inject.js')).renderInjecting(orig));
 *
 * and set `injected.objects` in a test (cleared by `afterEach` in the test file).
 */
import type { Manifest } from '../synth/render.js';

type RenderModule = typeof import('../synth/render.js');

/** Objects the next renders append (deep-copied per render, so a test can reuse them). */
export const injected = { objects: [] as unknown[] };

export async function renderInjecting(importOriginal: () => Promise<unknown>): Promise<RenderModule> {
  const real = (await importOriginal()) as RenderModule;
  return {
    ...real,
    render: (...args: Parameters<RenderModule['render']>) => {
      const r = real.render(...args);
      return injected.objects.length === 0 ? r : { ...r, objects: [...r.objects, ...(structuredClone(injected.objects) as Manifest[])] };
    },
  };
}

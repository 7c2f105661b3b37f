/** Freeze `v` and everything reachable from it (plain data: objects and arrays). A module of its own: test/render-inject.ts runs inside `vi.mock` factories of synth/render.js and must not import test/helpers.ts (which imports that module). */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

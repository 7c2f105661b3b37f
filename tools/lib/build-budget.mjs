// Time budget of the controllers tier's builds (tools/test-controllers.mjs, docs/controllers.md):
// CI has 90 minutes in all; on an empty tool cache the controllers' cold builds alone exceed what is
// left, so they are built in order of value and a target whose measured cold build does not fit the
// time left is skipped and reported NOT BUILT with the reason.

/**
 * Seconds the builds may take: `STACKBOOK_CONTROLLERS_BUILD_BUDGET` if set, else what is left before
 * `STACKBOOK_CI_DEADLINE` (epoch seconds) once the tier's own run (`reserve`) is set aside, else
 * unlimited.
 */
export function buildBudget(env, nowSeconds, reserve) {
  if (env.STACKBOOK_CONTROLLERS_BUILD_BUDGET) return Number(env.STACKBOOK_CONTROLLERS_BUILD_BUDGET);
  if (env.STACKBOOK_CI_DEADLINE) return Number(env.STACKBOOK_CI_DEADLINE) - nowSeconds - reserve;
  return Infinity;
}

/** Whether a target whose cold build takes `cold` seconds may start with `left` seconds left. */
export function decide(target, cold, left, budget) {
  if (cold <= left) return { build: true };
  return { build: false, reason: `cold build ~${cold} s does not fit the ${Math.max(0, Math.floor(left))} s left of the build budget (${Number.isFinite(budget) ? budget : '∞'} s)` };
}

/** What an empty cache would build within `budget`, every build taking its measured cold time. */
export function planCold(order, budget) {
  let left = budget;
  const built = [];
  const skipped = [];
  for (const { target, cold } of order) {
    const d = decide(target, cold, left, budget);
    if (d.build) {
      built.push(target);
      left -= cold;
    } else skipped.push({ target, reason: d.reason });
  }
  return { built, skipped, left };
}

/**
 * The controllers tier's build targets (tools/build.sh) in order of value per minute of cold build,
 * with the cold build time measured on 2026-12-07 (2 cores shared with other builds, load 15-30):
 * the estimate a target must fit before it is started. Cached targets cost nothing.
 */
export const CONTROLLER_BUILDS = [
  { target: 'prometheus-operator', cold: 533 }, // config generation, 4 stacks
  { target: 'pebble', cold: 32 }, // ACME server for staging
  { target: 'cert-manager', cold: 715 }, // v1.11.5 controller 692 s + acmesolver 23 s, 3 stacks
  { target: 'prometheus', cold: 1985 }, // Kubernetes SD, 4 stacks (every SD compiled in)
  { target: 'external-secrets', cold: 1191 }, // 3 stacks (Vault stand-in without vault)
  { target: 'keda', cold: 1523 }, // 4 stacks (fetches its go toolchain)
  { target: 'vault', cold: 2400 }, // replaces the Vault stand-in
];

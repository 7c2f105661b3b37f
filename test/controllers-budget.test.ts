/**
 * The controllers tier's build budget (tools/lib/build-budget.mjs): on an empty tool cache CI must
 * still end within its 90 minutes, so the tier builds in order of value and skips (NOT BUILT, with
 * the reason) what does not fit the time left before the deadline .ci/run passes.
 */
import { describe, expect, it } from 'vitest';
import { CONTROLLER_BUILDS, buildBudget, decide, planCold } from '../tools/lib/build-budget.mjs';

describe('controllers build budget', () => {
  it('no deadline: unlimited; an explicit budget wins over the deadline', () => {
    expect(buildBudget({}, 1000, 1200)).toBe(Infinity);
    expect(buildBudget({ STACKBOOK_CI_DEADLINE: '9000', STACKBOOK_CONTROLLERS_BUILD_BUDGET: '60' }, 1000, 1200)).toBe(60);
  });

  it('the deadline minus now minus the run reserve', () => {
    // .ci/run started at t=0: deadline 5400 s; at t=3000 with a 1200 s run reserve, 1200 s are left
    expect(buildBudget({ STACKBOOK_CI_DEADLINE: '5400' }, 3000, 1200)).toBe(1200);
    expect(buildBudget({ STACKBOOK_CI_DEADLINE: '5400' }, 5000, 1200)).toBeLessThan(0);
  });

  it('a build that does not fit is skipped with the figures in its reason', () => {
    expect(decide('keda', 1523, 1523, 3000)).toEqual({ build: true });
    const d = decide('keda', 1523, 1522.5, 3000);
    expect(d.build).toBe(false);
    expect(d.reason).toBe('cold build ~1523 s does not fit the 1522 s left of the build budget (3000 s)');
  });

  it('cold cache, 20 min of build budget: the cheap high-value targets, the rest NOT BUILT', () => {
    // 120 + 10 + 715 = 845 s of 1200; then 355 s left, less than any other cold build
    const plan = planCold(CONTROLLER_BUILDS, 1200);
    expect(plan.built).toEqual(['prometheus-operator', 'pebble', 'cert-manager']);
    expect(plan.skipped.map((s) => s.target)).toEqual(['prometheus', 'external-secrets', 'keda', 'vault']);
    expect(plan.skipped.every((s) => /does not fit the \d+ s left/.test(s.reason))).toBe(true);
  });

  it('no budget: everything, in order of value (Vault, which only replaces a stand-in, last)', () => {
    const plan = planCold(CONTROLLER_BUILDS, Infinity);
    expect(plan.skipped).toEqual([]);
    expect(plan.built.at(-1)).toBe('vault');
    expect(plan.built.slice(0, 3)).toEqual(['prometheus-operator', 'pebble', 'cert-manager']);
  });
});

/**
 * One build budget for every Go tier of CI (issue 13, tools/lib/build-budget.mjs, `tools/build.sh ci`):
 * on an empty tool cache the builds alone take longer than CI may, so targets are built in order of
 * value only while their cold build (and the run of the tier they complete) fits before the
 * deadline; a tier left without its tools is reported NOT BUILT, never failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CI_TARGETS, CI_TIERS, cacheProbe, ciOrder, parseVersions, planCi, tierReport } from '../tools/lib/build-budget.mjs';

// hand-made figures, so every expected value below is worked out by hand, not taken from the table
const targets = { a: { cold: 100, bins: () => [] }, b: { cold: 200, bins: () => [] }, c: { cold: 300, bins: () => [] }, d: { cold: 50, bins: () => [] } };
const tiers = [
  { tier: 'one', needs: ['a'], optional: [], run: 50 },
  { tier: 'two', needs: ['b', 'c'], optional: ['d'], run: 100 },
];
const none = () => false;
const only = (...t: string[]) => (x: string) => t.includes(x);

describe('planCi: one budget for every tier', () => {
  it('time for everything: every tier built and run, the optional target too', () => {
    const p = planCi({ tiers, targets, cached: none, left: 1000 });
    expect(p.build).toEqual(['a', 'b', 'c', 'd']);
    expect([...p.tiers.values()].every((t) => t.runs)).toBe(true);
    expect(p.left).toBe(1000 - 150 - 600 - 50);
  });

  it('cold, 400 s: the first tier (100 + run 50), then what is left goes to the next tier\'s builds for the next run', () => {
    const p = planCi({ tiers, targets, cached: none, left: 400 });
    expect(p.tiers.get('one')).toEqual({ runs: true });
    expect(p.tiers.get('two')?.runs).toBe(false);
    expect(p.tiers.get('two')?.reason).toBe('cold build ~500 s (b 200 s, c 300 s) + its run ~100 s do not fit the 250 s left before the CI deadline');
    expect(p.build).toEqual(['a', 'b']);
    // c would complete tier two, so its run counts too
    expect(p.skipped.get('c')).toBe('cold build ~300 s + the run of two ~100 s it completes does not fit the 50 s left before the CI deadline');
  });

  it('the next run, b cached: tier two now fits (c 300 + run 100 of the 430 s left after tier one\'s run), d does not', () => {
    const p = planCi({ tiers, targets, cached: only('a', 'b'), left: 480 });
    expect(p.tiers.get('two')).toEqual({ runs: true });
    expect(p.build).toEqual(['c']);
    expect(p.skipped.get('d')).toBe('cold build ~50 s does not fit the 30 s left before the CI deadline');
  });

  it('cached tiers reserve their run first, even when the deadline has passed: nothing is built', () => {
    const p = planCi({ tiers, targets, cached: only('a'), left: -5 });
    expect(p.tiers.get('one')).toEqual({ runs: true });
    expect(p.build).toEqual([]);
    expect(p.tiers.get('two')?.runs).toBe(false);
  });

  it('a target that failed this run is not planned again and its tier says so', () => {
    const p = planCi({ tiers, targets, cached: only('a'), left: 10000, failed: new Set(['b']) });
    expect(p.tiers.get('two')).toEqual({ runs: false, reason: 'b failed to build' });
    expect(p.build).toEqual([]);
  });

  it('a tier of less value is not built while one of more value is incomplete, else its run, reserved on every later run, would starve the big builds', () => {
    // big: x1 300 + x2 300 + run 50 never fits 450 at once; small: y 10 + run 200
    const t2 = { x1: { cold: 300, bins: () => [] }, x2: { cold: 300, bins: () => [] }, y: { cold: 10, bins: () => [] } };
    const tiers2 = [
      { tier: 'big', needs: ['x1', 'x2'], optional: [], run: 50 },
      { tier: 'small', needs: ['y'], optional: [], run: 200 },
    ];
    const have = new Set<string>();
    const runs: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const p = planCi({ tiers: tiers2, targets: t2, cached: (t: string) => have.has(t), left: 450 });
      runs.push(p.build);
      if (i === 0) expect(p.skipped.get('y')).toBe('the big tier (of more value) is built first');
      p.build.forEach((t: string) => have.add(t));
    }
    // run 1: x1 only; run 2: x2 completes big (300 + 50), small does not fit the 100 s left; run 3: y (10 + 200 of 400)
    expect(runs).toEqual([['x1'], ['x2'], ['y']]);
    expect(have).toEqual(new Set(['x1', 'x2', 'y']));
  });

  it('no deadline: everything', () => {
    const p = planCi({ cached: none, left: Infinity });
    expect(p.skipped.size).toBe(0);
    expect(new Set(p.build)).toEqual(new Set(CI_TIERS.flatMap((t) => [...t.needs, ...t.optional])));
  });

  it('re-planned before each build with a fake clock: a build slower than its estimate makes the later one skip instead of overrunning', () => {
    // what tools/build.sh ci does: before each target, plan again with the time now
    const deadline = 1000;
    let now = 0;
    const have = new Set<string>();
    const actual: Record<string, number> = { a: 400, b: 200, c: 300, d: 50 }; // a takes 4x its estimate
    const cached = (t: string) => have.has(t);
    const done: string[] = [];
    for (const t of ciOrder(planCi({ tiers, targets, cached, left: deadline - now }), cached, tiers)) {
      if (cached(t) || !planCi({ tiers, targets, cached, left: deadline - now }).build.includes(t)) continue;
      now += actual[t];
      have.add(t);
      done.push(t);
    }
    // at t=400: tier two (500 + run 100) + tier one's run 50 do not fit 600: b (200) still fits as an investment, c does not
    expect(done).toEqual(['a', 'b']);
    expect(now).toBeLessThanOrEqual(deadline);
    expect(tierReport(cached, new Map([['c', 'x']]), tiers)).toEqual([
      { tier: 'one', runs: true },
      { tier: 'two', runs: false, reason: 'c: x' },
    ]);
  });
});

describe('tierReport', () => {
  it('a tier runs only with every need cached; missing optional targets are named with their reason', () => {
    const r = tierReport(only('a', 'b', 'c'), new Map([['d', 'cold build ~50 s does not fit the 10 s left before the CI deadline']]), tiers);
    expect(r[1]).toEqual({ tier: 'two', runs: true, partial: 'd: cold build ~50 s does not fit the 10 s left before the CI deadline' });
    expect(tierReport(only('c'), new Map(), tiers)[1]).toEqual({ tier: 'two', runs: false, reason: 'b: not in the tool cache' });
  });
});

describe("CI's real tables", () => {
  const versions = parseVersions(readFileSync(join(__dirname, '..', 'tools', 'versions.env'), 'utf8'));
  it('every target a tier names has a cold figure and binaries whose paths use pinned versions', () => {
    for (const t of CI_TIERS.flatMap((x) => [...x.needs, ...x.optional])) {
      expect(CI_TARGETS[t], t).toBeDefined();
      expect(CI_TARGETS[t].cold, t).toBeGreaterThan(0);
      for (const b of CI_TARGETS[t].bins(versions)) expect(b, t).toMatch(/^[a-z-]+-v\d[^/]*\/bin\/[a-z-]+$/);
    }
  });
  it('cacheProbe: a target is cached only when all its binaries exist', () => {
    const p = cacheProbe('/c', versions, (f: string) => f === `/c/ggcr-${versions.GGCR_VERSION}/bin/crane`);
    expect(p('supply-chain')).toBe(false);
    const q = cacheProbe('/c', versions, (f: string) => /\/(cosign|ggcr)-/.test(f));
    expect(q('supply-chain')).toBe(true);
  });
});

describe('tools/build.sh ci with a tiny budget on an empty scratch cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stackbook-ci-budget.'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('builds nothing that does not fit, reports every tier NOT BUILT, exits 0; cached targets still run', () => {
    const versions = parseVersions(readFileSync(join(__dirname, '..', 'tools', 'versions.env'), 'utf8'));
    const cache = join(dir, 'tools');
    // etcd and the supply-chain tools "cached": fake executables where build.sh and the plan look
    for (const b of [...CI_TARGETS.etcd.bins(versions), ...CI_TARGETS['supply-chain'].bins(versions)]) {
      mkdirSync(dirname(join(cache, b)), { recursive: true });
      writeFileSync(join(cache, b), '#!/bin/sh\necho fake\n');
      chmodSync(join(cache, b), 0o755);
    }
    const tiersFile = join(dir, 'tiers.tsv');
    const r = spawnSync('bash', [join(__dirname, '..', 'tools', 'build.sh'), 'ci'], {
      encoding: 'utf8',
      env: {
        ...process.env,
        STACKBOOK_TOOLS_CACHE: cache,
        STACKBOOK_PULUMI_HOME: join(dir, 'pulumi-home'),
        STACKBOOK_BUILD_TIERS: tiersFile,
        // tiny: less than the smallest cold figure, so no build can be started (20 s did fit kube-score's)
        STACKBOOK_CI_DEADLINE: String(Math.floor(Date.now() / 1000) + Math.min(10, ...Object.values(CI_TARGETS).map((t) => t.cold - 1))),
        // no Go work may happen: no module downloads, an empty build cache
        GOPROXY: 'off',
        GOCACHE: join(dir, 'gocache'),
        GOMODCACHE: join(dir, 'gomod'),
      },
    });
    expect(r.status, r.stderr).toBe(0);
    const tiersOut = readFileSync(tiersFile, 'utf8').trim().split('\n').map((l) => l.split('\t'));
    expect(tiersOut.map((l) => [l[0], l[1]])).toEqual(CI_TIERS.map((t) => [t.tier, 'NOT BUILT']));
    expect(tiersOut.find((l) => l[0] === 'cluster')?.[2]).toMatch(/^apiserver: cold build ~\d+ s does not fit the 1?\d s left before the CI deadline \(also missing: kwok, pulumi, kube-provider, checkers\)$/);
    expect(tiersOut.find((l) => l[0] === 'backups')?.[2]).toBe('s3: the cluster tier (of more value) is built first');
    expect(r.stderr).toMatch(/\[build\] kube-provider: BLOCKED — NOT BUILT: cold build ~\d+ s does not fit the \d+ s left/);
    expect(r.stderr).toMatch(/etcd\s+ok/);
    expect(r.stderr).toMatch(/supply-chain\s+ok/);
    expect(r.stderr).not.toMatch(/building/);
    // nothing but the two fake targets in the cache
    expect(execFileSync('ls', [cache], { encoding: 'utf8' }).split('\n').filter((n) => n && n !== 'src').sort()).toEqual(
      [`cosign-${versions.COSIGN_VERSION}`, `etcd-${versions.ETCD_VERSION}`, `ggcr-${versions.GGCR_VERSION}`].sort(),
    );
  });
});

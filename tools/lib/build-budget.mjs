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
  { target: 'prometheus-operator', cold: 120 }, // config generation, 4 stacks; 95 s in the cold CI of 2026-12-07 (after the cluster/supply-chain builds; 533 s loaded before)
  { target: 'pebble', cold: 10 }, // ACME server for staging; 5 s in that cold CI (32 s loaded before)
  { target: 'cert-manager', cold: 715 }, // v1.11.5 controller 692 s + acmesolver 23 s, 3 stacks
  { target: 'prometheus', cold: 1985 }, // Kubernetes SD, 4 stacks (every SD compiled in)
  { target: 'external-secrets', cold: 1191 }, // 3 stacks (Vault stand-in without vault)
  { target: 'keda', cold: 1523 }, // 4 stacks (fetches its go toolchain)
  { target: 'vault', cold: 2400 }, // replaces the Vault stand-in
];

// ------------------------------------------------------------------ every tier (issue 13: cold CI)
// .ci/run builds every tier's tools with one budget (`tools/build.sh ci`, STACKBOOK_CI_DEADLINE =
// its start + 75 min): before each build this plan is made again with the clock and the cache as
// they are, and a target is started only if the plan still builds it. A tier whose tools are not
// all in the cache afterwards is not run and is reported `BLOCKED — NOT BUILT: <reason>`.

/**
 * Cold build of each tools/build.sh target (wall seconds on the shared 2-core machine, empty Go
 * caches) and the binaries that make it cached (paths under the tool cache, from versions.env).
 * Measured 2026-12-07 on empty scratch caches in .ci/run's order (docs/ci.md). CI has the machine
 * to itself, so the figure is the build's CPU seconds over the 1.7 cores a Go build used on the quiet
 * machine (1.51-1.88 measured), or its quiet wall time where that was measured and larger;
 * policy-controller, s3 and the controllers: earlier (loaded, partly warm) or estimated figures. A figure too low cannot make CI overrun: every build is stopped at the time the
 * builds may use; it only wastes that build. Too high only skips a build that would have fitted.
 */
/** A controller's cold figure: CONTROLLER_BUILDS is its one source (the controllers tier reads it too). */
const controllerCold = (target) => {
  const b = CONTROLLER_BUILDS.find((x) => x.target === target);
  if (!b) throw new Error(`no cold figure for ${target} in CONTROLLER_BUILDS`);
  return b.cold;
};
export const CI_TARGETS = {
  // measured 2026-12-07 on empty scratch caches at nice 19, load 3-16: 1297 s wall, 605 CPU s
  apiserver: { cold: 360, bins: (v) => ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((b) => `kubernetes-${v.KUBERNETES_VERSION}/bin/${b}`) },
  etcd: { cold: 30, bins: (v) => [`etcd-${v.ETCD_VERSION}/bin/etcd`] },
  kwok: { cold: 90, bins: (v) => [`kwok-${v.KWOK_VERSION}/bin/kwok`] },
  // measured 2026-12-07 like the apiserver, load 12-20: 1832 s wall (CLI 1777 s, language host 55 s), 469 CPU s
  pulumi: {
    cold: 280,
    bins: (v) => [`pulumi-${v.PULUMI_VERSION}/bin/pulumi`, `pulumi-${v.PULUMI_VERSION}/bin/pulumi-resource-pulumi-nodejs`, `pulumi-language-nodejs-${v.PULUMI_LANGUAGE_NODEJS_SDK_VERSION}/bin/pulumi-language-nodejs`],
  },
  'kube-provider': { cold: 600, bins: (v) => [`pulumi-kubernetes-${v.PULUMI_KUBERNETES_MODULE_VERSION}/bin/pulumi-resource-kubernetes`] },
  // kube-score only: kube-linter is refused by the module proxy (build.sh reports it UNAVAILABLE)
  checkers: { cold: 20, bins: (v) => [`kube-score-${v.KUBE_SCORE_VERSION}/bin/kube-score`] },
  'supply-chain': { cold: 160, bins: (v) => [`cosign-${v.COSIGN_VERSION}/bin/cosign`, `ggcr-${v.GGCR_VERSION}/bin/crane`, `ggcr-${v.GGCR_VERSION}/bin/registry`] },
  // measured in the cold CI of 2026-12-07 (empty caches, machine to itself, after the cluster and
  // supply-chain builds as CI orders them): 169 s; versitygw 64 s + mc 36 s (900 s estimates before)
  'policy-controller': { cold: 200, bins: (v) => [`policy-controller-${v.POLICY_CONTROLLER_VERSION}/bin/policy-controller-webhook`, `policy-controller-${v.POLICY_CONTROLLER_VERSION}/bin/policy-tester`] },
  s3: { cold: 120, bins: (v) => [`versitygw-${v.VERSITYGW_VERSION}/bin/versitygw`, `mc-${v.MC_MODULE_VERSION}/bin/mc`] },
  'prometheus-operator': { cold: controllerCold('prometheus-operator'), bins: (v) => [`prometheus-operator-${v.PROMETHEUS_OPERATOR_VERSION}/bin/operator`] },
  pebble: { cold: controllerCold('pebble'), bins: (v) => [`pebble-${v.PEBBLE_VERSION}/bin/pebble`] },
  // the fallback release: the pinned one's cmd/controller module is not served (tools/build.sh)
  'cert-manager': { cold: controllerCold('cert-manager'), bins: (v) => [`cert-manager-${v.CERT_MANAGER_FALLBACK_VERSION}/bin/controller`, `acmesolver-${v.CERT_MANAGER_FALLBACK_VERSION}/bin/acmesolver`] },
  prometheus: { cold: controllerCold('prometheus'), bins: (v) => [`prometheus-${v.PROMETHEUS_VERSION}/bin/prometheus`, `prometheus-${v.PROMETHEUS_VERSION}/bin/promtool`] },
  'external-secrets': { cold: controllerCold('external-secrets'), bins: (v) => [`external-secrets-${v.EXTERNAL_SECRETS_VERSION}/bin/external-secrets`] },
  keda: { cold: controllerCold('keda'), bins: (v) => [`keda-${v.KEDA_VERSION}/bin/operator`] },
};

/**
 * The tiers .ci/run runs after the builds, in order of value: the cluster tier first (the real
 * `pulumi up` of every stack, what issue 13 asks of CI; also the largest cold builds, which would
 * never fit once the cheaper tiers' runs are reserved), then supply chain, backups, controllers
 * (which runs with stand-ins and BLOCKED rows for what is missing). `needs`: every target
 * must be cached or the tier is not run; `optional`: built when they fit once the tier runs (the
 * controllers tier reports each missing controller BLOCKED itself). `run`: the tier's own run with
 * a warm cache, reserved before the deadline (docs/ci.md). Vault is not in CI's plan: no release
 * builds from the proxy's modules (tools/build.sh build_vault), the tier uses its stand-in.
 */
export const CI_TIERS = [
  { tier: 'cluster', needs: ['apiserver', 'etcd', 'kwok', 'pulumi', 'kube-provider', 'checkers'], optional: [], run: 900 },
  { tier: 'supply-chain', needs: ['apiserver', 'etcd', 'kwok', 'supply-chain', 'policy-controller'], optional: [], run: 240 },
  // runs measured in the cold CI of 2026-12-07: cluster 736 s, supply-chain 108 s, backups 258 s,
  // controllers 147 s (with prometheus-operator and pebble); reserved with room for a slower run
  { tier: 'backups', needs: ['s3'], optional: [], run: 420 },
  { tier: 'controllers', needs: ['apiserver', 'etcd', 'kwok', 'prometheus-operator', 'pebble'], optional: ['cert-manager', 'prometheus', 'external-secrets', 'keda'], run: 300 },
];

/**
 * The plan for `left` seconds before the deadline (Infinity without one), given which targets are
 * cached (`cached(target)`) and, optionally, which ones failed this run (`failed`, never planned).
 * 1. tiers whose needs are all cached run: their run time is reserved first;
 * 2. in order of value, a tier whose missing needs (cold builds) plus its run fit what is left is
 *    built and run, then its optional targets that fit;
 * 3. the first tier that does not fit gets what is left for its missing needs, each only if its
 *    cold build fits (so the next run, on a warmer cache, gets further); nothing of lower value is
 *    built in this run (else the cheaper tiers, once cached, reserve their runs every time and the
 *    expensive tier's builds never fit: docs/ci.md).
 * Returns the targets to build in order, every skipped target with its reason, and per tier
 * whether it runs (else the reason), plus the seconds left unplanned.
 */
export function planCi({ tiers = CI_TIERS, targets = CI_TARGETS, cached, left, failed = new Set() }) {
  const build = [];
  const planned = new Set();
  const skipped = new Map();
  const tierPlan = new Map();
  const have = (t) => cached(t) || planned.has(t);
  const fmt = (s) => (Number.isFinite(s) ? `${Math.max(0, Math.floor(s))} s` : 'unlimited time');
  for (const t of tiers) if (t.needs.every(cached)) {
    tierPlan.set(t.tier, { runs: true });
    left -= t.run;
  }
  const take = (target) => {
    build.push(target);
    planned.add(target);
    skipped.delete(target);
    left -= targets[target].cold;
  };
  const skip = (n, reason) => {
    if (!skipped.has(n)) skipped.set(n, reason);
  };
  let blockedBy; // the first tier, in order of value, that does not fit: nothing of lower value is built
  for (const t of tiers) {
    if (!tierPlan.has(t.tier)) {
      const missing = t.needs.filter((n) => !have(n));
      const bad = missing.filter((n) => failed.has(n));
      const cold = missing.reduce((s, n) => s + targets[n].cold, 0);
      if (bad.length) tierPlan.set(t.tier, { runs: false, reason: `${bad.join(', ')} failed to build` });
      else if (!blockedBy && cold + t.run <= left) {
        missing.forEach(take);
        left -= t.run;
        tierPlan.set(t.tier, { runs: true });
      } else if (blockedBy) {
        tierPlan.set(t.tier, { runs: false, reason: `the ${blockedBy} tier (of more value) is built first` });
        for (const n of missing) skip(n, `the ${blockedBy} tier (of more value) is built first`);
        continue;
      } else {
        tierPlan.set(t.tier, {
          runs: false,
          reason: `cold build ~${cold} s (${missing.map((n) => `${n} ${targets[n].cold} s`).join(', ')}) + its run ~${t.run} s do not fit the ${fmt(left)} left before the CI deadline`,
        });
        blockedBy = t.tier;
        // what is left goes to its builds (the next run, on this cache, gets further); a build that
        // would complete a tier makes that tier run too (.ci/run runs every tier whose tools exist)
        for (const n of missing) {
          if (have(n) || failed.has(n)) continue;
          const completes = tiers.filter((x) => !tierPlan.get(x.tier)?.runs && x.needs.includes(n) && x.needs.every((m) => m === n || have(m)));
          const run = completes.reduce((s, x) => s + x.run, 0);
          if (targets[n].cold + run <= left) {
            take(n);
            left -= run;
            for (const x of completes) tierPlan.set(x.tier, { runs: true });
          } else skip(n, `cold build ~${targets[n].cold} s${run ? ` + the run of ${completes.map((x) => x.tier).join(', ')} ~${run} s it completes` : ''} does not fit the ${fmt(left)} left before the CI deadline`);
        }
        continue;
      }
    }
    if (!tierPlan.get(t.tier).runs) continue;
    for (const o of t.optional) {
      if (have(o) || failed.has(o)) continue;
      if (!blockedBy && targets[o].cold <= left) take(o);
      else skip(o, blockedBy ? `the ${blockedBy} tier (of more value) is built first` : `cold build ~${targets[o].cold} s does not fit the ${fmt(left)} left before the CI deadline`);
    }
  }
  return { build, skipped, tiers: tierPlan, left };
}

/** versions.env as an object (KEY=value lines, comments dropped). */
export function parseVersions(text) {
  const v = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S*)/.exec(line);
    if (m) v[m[1]] = m[2];
  }
  return v;
}

/** `cached(target)` for a tool cache directory: every binary of the target is there. */
export function cacheProbe(cacheDir, versions, exists, targets = CI_TARGETS) {
  return (t) => targets[t].bins(versions).every((b) => exists(`${cacheDir}/${b}`));
}

/** Seconds before `STACKBOOK_CI_DEADLINE` (epoch seconds), Infinity without it. */
export function secondsLeft(env, nowSeconds) {
  return env.STACKBOOK_CI_DEADLINE ? Number(env.STACKBOOK_CI_DEADLINE) - nowSeconds : Infinity;
}

/** The order `tools/build.sh ci` walks: cached targets first (cheap; plugin registration), then the plan's builds, then the rest (reported). */
export function ciOrder(plan, cached, tiers = CI_TIERS) {
  const all = [...new Set(tiers.flatMap((t) => [...t.needs, ...t.optional]))];
  return [...new Set([...all.filter(cached), ...plan.build, ...all])];
}

/** Seconds the builds may use: what is left once the run of every tier the plan runs is reserved. */
export function buildWindow(plan, secondsBefore, tiers = CI_TIERS) {
  return secondsBefore - tiers.filter((t) => plan.tiers.get(t.tier).runs).reduce((s, t) => s + t.run, 0);
}

/**
 * After the builds: per tier, `RUN` (every need cached) or `NOT BUILT` with the reason recorded
 * when its first missing target was skipped, stopped or failed (`reasons`: target -> reason), and
 * for a tier that runs, its optional targets that are missing.
 */
export function tierReport(cached, reasons, tiers = CI_TIERS) {
  const why = (t) => reasons.get(t) ?? 'not in the tool cache';
  return tiers.map((t) => {
    const missing = t.needs.filter((n) => !cached(n));
    if (missing.length) return { tier: t.tier, runs: false, reason: `${missing[0]}: ${why(missing[0])}${missing.length > 1 ? ` (also missing: ${missing.slice(1).join(', ')})` : ''}` };
    const opt = t.optional.filter((o) => !cached(o));
    return { tier: t.tier, runs: true, ...(opt.length ? { partial: opt.map((o) => `${o}: ${why(o)}`).join('; ') } : {}) };
  });
}

// CLI for tools/build.sh (`ci` target): node build-budget.mjs order|gate <target>|report <reasons-file>
// Reads STACKBOOK_TOOLS_CACHE, STACKBOOK_CI_DEADLINE and STACKBOOK_BUILD_FAILED (space-separated
// targets that failed this run) from the environment.
async function cli(argv) {
  const { readFileSync, existsSync, accessSync, constants } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const env = process.env;
  const versions = parseVersions(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'versions.env'), 'utf8'));
  const cache = env.STACKBOOK_TOOLS_CACHE || join(env.HOME || '/root', '.cache/stackbook-tools');
  const executable = (f) => {
    try {
      accessSync(f, constants.X_OK);
      return existsSync(f);
    } catch {
      return false;
    }
  };
  const cached = cacheProbe(cache, versions, executable);
  const failed = new Set((env.STACKBOOK_BUILD_FAILED || '').split(/\s+/).filter(Boolean));
  const before = secondsLeft(env, Math.floor(Date.now() / 1000));
  const plan = planCi({ cached, left: before, failed });
  const [cmd, arg] = argv;
  if (cmd === 'order') return console.log(ciOrder(plan, cached).join(' '));
  if (cmd === 'gate') {
    if (!CI_TARGETS[arg]) throw new Error(`unknown target ${arg}`);
    if (cached(arg)) return console.log('cached');
    if (plan.build.includes(arg)) return console.log(`build ${Number.isFinite(before) ? Math.max(1, Math.floor(buildWindow(plan, before))) : 0}`);
    return console.log(`skip ${plan.skipped.get(arg) ?? `its tier does not run: ${[...plan.tiers].filter(([t, p]) => !p.runs && [...CI_TIERS.find((x) => x.tier === t).needs, ...CI_TIERS.find((x) => x.tier === t).optional].includes(arg)).map(([t, p]) => `${t}: ${p.reason}`).join('; ') || 'not planned'}`}`);
  }
  if (cmd === 'report') {
    const reasons = new Map();
    if (arg && existsSync(arg)) for (const l of readFileSync(arg, 'utf8').split('\n')) {
      const i = l.indexOf('\t');
      if (i > 0) reasons.set(l.slice(0, i), l.slice(i + 1));
    }
    for (const r of tierReport(cached, reasons)) console.log([r.tier, r.runs ? 'RUN' : 'NOT BUILT', r.reason ?? r.partial ?? ''].join('\t'));
    return;
  }
  throw new Error('usage: build-budget.mjs order | gate <target> | report [reasons-file]');
}

if (process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href) await cli(process.argv.slice(2));

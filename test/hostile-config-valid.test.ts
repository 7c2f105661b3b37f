/**
 * Hostile stack configs (issue 7), the valid half: generated valid configs, each a real stack with
 * its ingress, domain and OPE settings drawn while respecting every cross-field rule, are accepted
 * through both front doors (the same typed Stack), render, pass the mandatory policies, and every
 * rendered object is a valid Kubernetes object. The invalid half, and what both share:
 * test/hostile-config.test.ts, test/hostile-config.ts. Reproducible: fixed seed (STACKBOOK_FC_SEED).
 *
 * Coverage, not volume, for the renders (a render and its checks cost ~100 ms): TARGETS names what
 * the rendered configs must reach between them (each environment with each ingress kind, OPE off,
 * each latency setting, OIDC on and off, both ends of every numeric range, ...); they are packed
 * into as few configs as can hold them, fast-check draws every other knob of each (per config its
 * own seed, so a failure shrinks the drawn knobs and keeps the target), and the test asserts and
 * prints which config covers which target: 19 renders reach all 86. The 150 random renders this
 * replaced reached 75 of them (measured with the fixed seed and the same generators: never either
 * end of the queue, a 64 MiB body, a 1m CPU request, three ALB subnets of one width, the shortest or
 * longest names). The property that needs no render (both front doors give the same Stack) keeps
 * its 150 random draws, at ~5 ms each.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { blocking, evaluate } from '../policies/manifest-rules.js';
import { parseStack, rawFromStackFile } from '../stacks/load.js';
import type { Stack } from '../stacks/schema.js';
import { render } from '../synth/render.js';
import { ENVS } from './helpers.js';
import { BASES, clone, SEED, yamlOf, type Raw } from './hostile-config.js';
import { invalidManifests } from './schema.js';

const DOOR_RUNS = 150;

const summary: string[] = [];
afterAll(() => console.log(`hostile-config (seed ${SEED}):\n${summary.join('\n')}`));

// ----------------------------------------------------------------------------- valid configs

const dnsLabelArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/);
const domainArb = fc.array(dnsLabelArb, { minLength: 2, maxLength: 4 }).map((ls) => ls.join('.'));
/** ALB subnets: /20 or narrower, away from the real stacks' API server endpoints (10.x.0.16/28), as stacks/rules.ts requires. */
const albSubnetArb = fc.tuple(fc.integer({ min: 11, max: 223 }), fc.nat({ max: 255 }), fc.integer({ min: 20, max: 28 })).map(([a, b, p]) => `${a}.${b}.0.0/${p}`);
const EXAMPLE_ACM_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f3c2a9e-5b1d-4c7e-9a8f-2d6e4b1c7a90';
const RESERVED_NAMESPACES = ['kube-system', 'default', 'ingress-nginx', 'monitoring', 'cert-manager'];

const INGRESS_KINDS = ['nginx-public-acme', 'nginx-internal-ca', 'alb-internal', 'alb-public'] as const;
const RATE_UNITS = ['second', 'minute', 'hour', 'day'] as const;

interface ValidKnobs {
  env: string;
  /** Ignored by the air-gapped stack, which stays air-gapped (private CA, internal exposure). */
  ingress: (typeof INGRESS_KINDS)[number];
  /** Used with an ALB ingress only. */
  albCidrs: string[];
  ingressClassName: string | undefined;
  domain: string;
  namespace: string;
  host: string;
  enabled: boolean;
  workers: number;
  threads: number;
  latencySensitive: boolean | undefined;
  /** threadQueueMax; where latency-sensitive, 1 + (queue - 1) % 32 (1..32, the most the rule allows). */
  queue: number;
  rateN: number;
  rateUnit: (typeof RATE_UNITS)[number];
  maxBodyBytes: number;
  oidc: boolean;
  min: number;
  spread: number;
  cpu: number;
  cpuRequestM: number;
  cpuLimitExtraM: number;
  memRequestMi: number;
  memLimitExtraMi: number;
}

/** The range of each numeric knob: the arbitraries draw from it, the targets take both ends. */
const RANGES = {
  workers: [1, 4], threads: [1, 256], queue: [1, 100_000], rateN: [1, 100_000], maxBodyBytes: [1024, 64 * 1024 * 1024],
  min: [1, 50], spread: [0, 100], cpu: [1, 100], cpuRequestM: [1, 8000], cpuLimitExtraM: [0, 8000], memRequestMi: [16, 16_384], memLimitExtraMi: [0, 16_384],
} as const satisfies Partial<Record<keyof ValidKnobs, readonly [number, number]>>;
const int = (k: keyof typeof RANGES) => fc.integer({ min: RANGES[k][0], max: RANGES[k][1] });

const knobsArb: fc.Arbitrary<ValidKnobs> = fc.record({
  env: fc.constantFrom(...ENVS),
  ingress: fc.constantFrom(...INGRESS_KINDS),
  albCidrs: fc.array(albSubnetArb, { minLength: 1, maxLength: 3 }),
  ingressClassName: fc.option(dnsLabelArb, { nil: undefined }),
  domain: domainArb,
  namespace: dnsLabelArb.filter((n) => !RESERVED_NAMESPACES.includes(n)),
  host: dnsLabelArb,
  enabled: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  workers: int('workers'),
  threads: int('threads'),
  latencySensitive: fc.option(fc.boolean(), { nil: undefined }),
  queue: int('queue'),
  rateN: int('rateN'),
  rateUnit: fc.constantFrom(...RATE_UNITS),
  maxBodyBytes: int('maxBodyBytes'),
  oidc: fc.boolean(),
  min: int('min'),
  spread: int('spread'),
  cpu: int('cpu'),
  cpuRequestM: int('cpuRequestM'),
  cpuLimitExtraM: int('cpuLimitExtraM'),
  memRequestMi: int('memRequestMi'),
  memLimitExtraMi: int('memLimitExtraMi'),
});

const baseOf = (env: string) => BASES.find((b) => b.env === env && b.label.endsWith('as written'))!;

/**
 * A valid stack from the knobs, starting from a real stack (its tier, its other services and
 * settings kept): every cross-field rule is respected by construction. The air-gapped stack stays
 * air-gapped (private CA, internal exposure); the others vary their ingress.
 */
function validStack(k: ValidKnobs): Raw {
  const raw = clone(baseOf(k.env).raw);
  const c: Raw = raw.cluster;
  c.domain = k.domain;
  delete c.ingressClassName;
  if (k.ingressClassName) c.ingressClassName = k.ingressClassName;
  if (!c.airgapped) {
    delete c.loadBalancerCidrs;
    c.ingressClass = 'nginx';
    if (k.ingress === 'nginx-public-acme') {
      Object.assign(c, { exposure: 'public', issuer: { kind: 'acme', email: 'platform@example.com' } });
      // where admission enforces, the HTTP-01 solver image cert-manager injects is pinned (issue 14 item 1)
      if (c.signing && raw.tier === 'production') c.signing.operatorImages = { ...c.signing.operatorImages, 'cert-manager-acmesolver': { digest: `sha256:${'a'.repeat(64)}` } };
    } else if (k.ingress === 'nginx-internal-ca') Object.assign(c, { exposure: 'internal', issuer: { kind: 'ca', secretName: 'stackbook-intermediate-ca' } });
    else {
      // An ALB serves ACM certificates only (issue 14 item 2).
      Object.assign(c, {
        ingressClass: 'alb',
        loadBalancerCidrs: k.albCidrs,
        exposure: k.ingress === 'alb-internal' ? 'internal' : 'public',
        issuer: { kind: 'acm', certificateArns: [EXAMPLE_ACM_ARN] },
      });
    }
  }
  const ope: Raw | undefined = raw.services?.ope;
  if (!ope) return raw;
  const latencySensitive = k.latencySensitive ?? raw.tier === 'production';
  delete ope.latencySensitive;
  delete ope.oidc;
  Object.assign(ope, {
    enabled: k.enabled,
    namespace: k.namespace,
    host: k.host,
    workers: k.workers,
    // more than one worker needs an image with multiprocess metrics (stacks/rules.ts)
    ...(k.workers > 1 ? { multiprocessMetrics: true } : {}),
    threads: k.threads,
    threadQueueMax: latencySensitive ? 1 + ((k.queue - 1) % 32) : k.queue,
    ...(k.latencySensitive !== undefined ? { latencySensitive: k.latencySensitive } : {}),
    rateLimitDefault: `${k.rateN}/${k.rateUnit}`,
    maxBodyBytes: k.maxBodyBytes,
    ...(k.oidc || raw.tier === 'production'
      ? {
          oidc: {
            issuer: `https://login.${k.domain}/realms/ope`,
            audience: 'ope-api',
            jwksUrl: `https://login.${k.domain}/realms/ope/certs`,
            egressCidrs: ['198.51.100.20/32'],
          },
        }
      : {}),
    autoscaling: { minReplicas: k.min, maxReplicas: k.min + k.spread, cpuUtilization: k.cpu },
    resources: {
      cpuRequest: `${k.cpuRequestM}m`,
      cpuLimit: `${k.cpuRequestM + k.cpuLimitExtraM}m`,
      memoryRequest: `${k.memRequestMi}Mi`,
      memoryLimit: `${k.memRequestMi + k.memLimitExtraMi}Mi`,
    },
  });
  return raw;
}

/** Both front doors: the Pulumi program's raw values and the stack file's text give the same typed Stack. */
function parsedBothWays(raw: Raw, env: string) {
  const file = `stacks/Pulumi.${env}.yaml`;
  // Strict deep equality, and the same JSON text, so the same key order: a stronger property than
  // both rendering fine. `render` is a function of the typed Stack alone, so rendering and checking
  // that one Stack covers both doors.
  const stack = parseStack(raw, file);
  const viaFile = parseStack(rawFromStackFile(yamlOf(raw), file).raw, file);
  expect(viaFile).toStrictEqual(stack);
  expect(JSON.stringify(viaFile)).toBe(JSON.stringify(stack));
  return stack;
}

// ----------------------------------------------------------------------------- what the renders must cover

/**
 * One thing some rendered config must show: knobs it fixes (the rest are drawn); where a knob is
 * fixed relative to its draw (names, subnets), what must then hold of the knobs; and, where
 * validStack decides what a knob does (the air-gapped stack keeps its ingress, production always
 * has OIDC, latency-sensitivity caps the queue), what the accepted Stack must show.
 */
interface Target {
  readonly name: string;
  readonly fix: { readonly [K in keyof ValidKnobs]?: ValidKnobs[K] | ((drawn: ValidKnobs) => ValidKnobs[K]) };
  readonly holds?: (k: ValidKnobs) => boolean;
  readonly seen?: (s: Stack) => boolean;
}

const tierOf = (env: string) => baseOf(env).raw.tier as string;
const airgapped = (env: string) => baseOf(env).raw.cluster.airgapped === true;
/** A label of exactly `n` (2..22) characters made from a drawn one: still a DNS label. */
const labelOfLength = (l: string, n: number) => l[0]! + `${l.slice(1, -1)}${'x'.repeat(n)}`.slice(0, n - 2) + l[l.length - 1]!;
const labels = (d: string) => d.split('.');
const INGRESS_SEEN: Record<ValidKnobs['ingress'], (s: Stack) => boolean> = {
  'nginx-public-acme': (s) => s.cluster.ingressClass === 'nginx' && s.cluster.exposure === 'public' && s.cluster.issuer.kind === 'acme',
  'nginx-internal-ca': (s) => s.cluster.ingressClass === 'nginx' && s.cluster.exposure === 'internal' && s.cluster.issuer.kind === 'ca',
  'alb-internal': (s) => s.cluster.ingressClass === 'alb' && s.cluster.exposure === 'internal' && s.cluster.issuer.kind === 'acm',
  'alb-public': (s) => s.cluster.ingressClass === 'alb' && s.cluster.exposure === 'public' && s.cluster.issuer.kind === 'acm',
};
const ope = (s: Stack) => s.services.ope!;
const latencySensitive = (s: Stack) => ope(s).latencySensitive ?? s.tier === 'production';

/** Every target but one renders OPE: an OPE knob means nothing with OPE off, and the ingress kinds are seen on OPE's Ingress too. */
const on = { enabled: true } as const;
const TARGETS: Target[] = [
  // per environment (each a tier; the air-gapped one keeps its own ingress, an internal CA one)
  ...ENVS.flatMap((env): Target[] => {
    // the air-gapped stack's knobs say what it keeps (an internal CA ingress), so no ALB target lands there
    const e = airgapped(env) ? { env, ingress: 'nginx-internal-ca' as const } : { env };
    return [
      ...(airgapped(env) ? (['nginx-internal-ca'] as const) : INGRESS_KINDS).map((ingress) => ({ name: `${env}: ingress ${ingress}`, fix: { ...on, ...e, ingress }, seen: INGRESS_SEEN[ingress] })),
      { name: `${env}: OPE disabled`, fix: { ...e, enabled: false }, seen: (s) => !ope(s).enabled },
      { name: `${env}: ingressClassName unset`, fix: { ...on, ...e, ingressClassName: undefined } },
      { name: `${env}: ingressClassName set`, fix: { ...on, ...e, ingressClassName: (d) => d.ingressClassName ?? 'custom-class' }, holds: (k) => k.ingressClassName !== undefined },
      ...[true, false, undefined].map((ls) => ({ name: `${env}: latencySensitive ${ls ?? 'unset'}`, fix: { ...on, ...e, latencySensitive: ls } })),
      { name: `${env}: OIDC on`, fix: { ...on, ...e, oidc: true }, seen: (s) => ope(s).oidc !== undefined },
      // production always has OIDC (validStack adds it): off is a development/staging setting
      ...(tierOf(env) === 'production' ? [] : [{ name: `${env}: OIDC off`, fix: { ...on, ...e, oidc: false }, seen: (s: Stack) => ope(s).oidc === undefined }]),
      { name: `${env}: 1 worker`, fix: { ...on, ...e, workers: 1 } },
      { name: `${env}: ${RANGES.workers[1]} workers (multiprocess metrics)`, fix: { ...on, ...e, workers: RANGES.workers[1] }, seen: (s) => ope(s).multiprocessMetrics },
    ];
  }),
  // both ends of every numeric range (the queue's: 1 and 100,000; where latency-sensitive, 1 and 32)
  ...Object.entries(RANGES).filter(([knob]) => knob !== 'workers' && knob !== 'queue').flatMap(([knob, [lo, hi]]) =>
    [lo, hi].map((v) => ({ name: `${knob} = ${v}`, fix: { ...on, [knob]: v } }))),
  ...RANGES.queue.map((queue) => ({ name: `threadQueueMax = ${queue}, not latency-sensitive`, fix: { ...on, latencySensitive: false, queue }, seen: (s: Stack) => ope(s).threadQueueMax === queue })),
  ...[1, 32].map((queue) => ({ name: `threadQueueMax = ${queue}, latency-sensitive`, fix: { ...on, latencySensitive: true, queue }, seen: (s: Stack) => latencySensitive(s) && ope(s).threadQueueMax === queue })),
  { name: 'minReplicas = maxReplicas', fix: { ...on, spread: 0 } },
  ...RATE_UNITS.map((rateUnit) => ({ name: `rate limit per ${rateUnit}`, fix: { ...on, rateUnit } })),
  // an ALB's subnets: one and three, /20 and /28 (the widest and narrowest allowed)
  ...([[1, 20, 'alb-internal'], [1, 28, 'alb-public'], [3, 20, 'alb-public'], [3, 28, 'alb-internal']] as const).map(([n, p, ingress]): Target => ({
    name: `${ingress} with ${n} subnet(s), /${p}`,
    fix: { ...on, ingress, albCidrs: (d) => Array.from({ length: n }, (_, i) => (d.albCidrs[i] ?? d.albCidrs[0]!).replace(/\/\d+$/, `/${p}`)) },
    seen: (s) => s.cluster.ingressClass === 'alb' && s.cluster.loadBalancerCidrs?.length === n && s.cluster.loadBalancerCidrs.every((c) => c.endsWith(`/${p}`)) && INGRESS_SEEN[ingress](s),
  })),
  // the shortest and longest names the generators make
  {
    name: 'shortest names (2-label domain of 2-character labels, 2-character host and namespace)',
    fix: { ...on, domain: (d) => labels(d.domain).slice(0, 2).map((l) => labelOfLength(l, 2)).join('.'), host: (d) => labelOfLength(d.host, 2), namespace: (d) => labelOfLength(d.namespace, 2) },
    holds: (k) => labels(k.domain).length === 2 && [...labels(k.domain), k.host, k.namespace].every((l) => l.length === 2),
  },
  {
    name: 'longest names (4-label domain of 22-character labels, 22-character host and namespace)',
    fix: {
      ...on,
      domain: (d) => [0, 1, 2, 3].map((i) => labelOfLength(labels(d.domain)[i] ?? `l${i}`, 22)).join('.'),
      host: (d) => labelOfLength(d.host, 22),
      namespace: (d) => labelOfLength(d.namespace, 22),
    },
    holds: (k) => labels(k.domain).length === 4 && [...labels(k.domain), k.host, k.namespace].every((l) => l.length === 22),
  },
];

type Fix = Target['fix'];
const fixedKeys = (f: Fix) => Object.keys(f) as (keyof ValidKnobs)[];
/** Two sets of fixed knobs fit one config when they agree on every knob both fix (a function agrees with nothing). */
const fits = (a: Fix, b: Fix) => fixedKeys(b).every((key) => !(key in a) || (typeof a[key] !== 'function' && Object.is(a[key], b[key])));

/**
 * The configs to render: TARGETS packed first-fit into as few configs as hold them. Those naming an
 * environment first (they make the configs); the others are spread over the configs round-robin,
 * so that the ends of the ranges meet different environments and one another.
 */
function plan(): Array<{ fix: Fix; targets: Target[] }> {
  const configs: Array<{ fix: Fix; targets: Target[] }> = [];
  const place = (t: Target, start: number) => {
    for (let j = 0; j < configs.length; j++) {
      const c = configs[(start + j) % configs.length]!;
      if (fits(c.fix, t.fix)) {
        c.fix = { ...c.fix, ...t.fix };
        c.targets.push(t);
        return;
      }
    }
    configs.push({ fix: { ...t.fix }, targets: [t] });
  };
  for (const t of TARGETS.filter((t) => 'env' in t.fix)) place(t, 0);
  TARGETS.filter((t) => !('env' in t.fix)).forEach((t, i) => place(t, i * 5));
  return configs;
}

function applyFix(drawn: ValidKnobs, fix: Fix): ValidKnobs {
  const k: Record<string, unknown> = { ...drawn };
  for (const key of fixedKeys(fix)) {
    const v = fix[key];
    k[key] = typeof v === 'function' ? (v as (d: ValidKnobs) => unknown)(drawn) : v;
  }
  return k as unknown as ValidKnobs;
}
const covers = (t: Target, k: ValidKnobs, s: Stack) =>
  fixedKeys(t.fix).every((key) => typeof t.fix[key] === 'function' || Object.is(k[key], t.fix[key])) && (t.holds?.(k) ?? true) && (t.seen?.(s) ?? true);

// ----------------------------------------------------------------------------- the properties

describe('valid configs', () => {
  it(`${DOOR_RUNS} generated valid configs are accepted through both front doors as the same typed Stack`, () => {
    let n = 0;
    fc.assert(
      fc.property(knobsArb, (k) => {
        parsedBothWays(validStack(k), k.env);
        n++;
      }),
      { seed: SEED, numRuns: DOOR_RUNS, endOnFailure: true },
    );
    expect(n).toBe(DOOR_RUNS);
    summary.push(`  ${n} random valid configs accepted through both front doors (same Stack)`);
  });

  it('generated valid configs covering every target are accepted, render, pass the mandatory policies and are valid Kubernetes objects', () => {
    const configs = plan();
    // each config's environment is fixed, not drawn: what lands on which one does not depend on the seed
    expect(configs.filter((c) => !('env' in c.fix))).toEqual([]);
    const rendered = new Map<string, number>(); // the Stack's JSON -> objects rendered: each distinct Stack renders once
    const coveredBy = new Map<string, number[]>();
    configs.forEach((c, i) => {
      fc.assert(
        fc.property(knobsArb, (drawn) => {
          const k = applyFix(drawn, c.fix);
          const stack = parsedBothWays(validStack(k), k.env);
          const key = JSON.stringify(stack);
          if (!rendered.has(key)) {
            const r = render(stack);
            expect(blocking(evaluate(r.objects)).map((v) => `${v.object}: [${v.rule}] ${v.message}`)).toEqual([]);
            expect(invalidManifests(r.objects)).toEqual({});
            expect(r.objects.length).toBeGreaterThan(0);
            rendered.set(key, r.objects.length);
          }
          // what this config reaches, checked on its knobs as built and on the Stack accepted (not on the plan)
          for (const t of TARGETS) if (covers(t, k, stack)) coveredBy.set(t.name, [...(coveredBy.get(t.name) ?? []), i]);
        }),
        // each config its own seed: a failure shrinks the drawn knobs, the fixed ones stay
        { seed: SEED + i, numRuns: 1 },
      );
    });
    const missed = TARGETS.map((t) => t.name).filter((name) => !coveredBy.has(name));
    expect(missed).toEqual([]);
    summary.push(
      `  ${configs.length} configs rendered (${rendered.size} distinct Stacks), 0 blocking, 0 invalid objects; ${TARGETS.length} targets, each covered by config(s):`,
      ...TARGETS.map((t) => `    ${t.name}: ${coveredBy.get(t.name)!.join(', ')}`),
    );
  }, 120_000); // ~25 full renders and every policy: ~3-5 s idle, more on a loaded machine
});

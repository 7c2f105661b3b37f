/**
 * Hostile stack configs (issue 7), the valid half: generated valid configs, each a real stack with
 * its ingress, domain and OPE settings drawn at random while respecting every cross-field rule, are
 * accepted through both front doors (the same typed Stack), render, pass the mandatory policies,
 * and every rendered object is a valid Kubernetes object. The invalid half, and what both share:
 * test/hostile-config.test.ts, test/hostile-config.ts. Reproducible: fixed seed (STACKBOOK_FC_SEED).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { blocking, evaluate } from '../policies/manifest-rules.js';
import { parseStack, rawFromStackFile } from '../stacks/load.js';
import { render } from '../synth/render.js';
import { ENVS } from './helpers.js';
import { BASES, clone, SEED, yamlOf, type Raw } from './hostile-config.js';
import { invalidManifests } from './schema.js';

const VALID_RUNS = 150;

let accepted = 0;
afterAll(() => console.log(`hostile-config (seed ${SEED}): ${accepted} generated valid configs accepted, rendered, 0 blocking`));

// ----------------------------------------------------------------------------- valid configs

const dnsLabelArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/);
const domainArb = fc.array(dnsLabelArb, { minLength: 2, maxLength: 4 }).map((ls) => ls.join('.'));
/** ALB subnets: /20 or narrower, away from the real stacks' API server endpoints (10.x.0.16/28), as stacks/rules.ts requires. */
const albSubnetArb = fc.tuple(fc.integer({ min: 11, max: 223 }), fc.nat({ max: 255 }), fc.integer({ min: 20, max: 28 })).map(([a, b, p]) => `${a}.${b}.0.0/${p}`);
const EXAMPLE_ACM_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f3c2a9e-5b1d-4c7e-9a8f-2d6e4b1c7a90';

interface ValidKnobs {
  env: string;
  ingress: { kind: 'nginx-public-acme' } | { kind: 'nginx-internal-ca' } | { kind: 'alb'; cidrs: string[]; internal: boolean; acme: boolean };
  ingressClassName: string | undefined;
  domain: string;
  namespace: string;
  host: string;
  enabled: boolean;
  workers: number;
  threads: number;
  latencySensitive: boolean | undefined;
  queue: number;
  rate: string;
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

const knobsArb: fc.Arbitrary<ValidKnobs> = fc.record({
  env: fc.constantFrom(...ENVS),
  ingress: fc.oneof(
    fc.constant({ kind: 'nginx-public-acme' as const }),
    fc.constant({ kind: 'nginx-internal-ca' as const }),
    fc.record({ kind: fc.constant('alb' as const), cidrs: fc.array(albSubnetArb, { minLength: 1, maxLength: 3 }), internal: fc.boolean(), acme: fc.boolean() }),
  ),
  ingressClassName: fc.option(dnsLabelArb, { nil: undefined }),
  domain: domainArb,
  namespace: dnsLabelArb.filter((n) => !['kube-system', 'default', 'ingress-nginx', 'monitoring', 'cert-manager'].includes(n)),
  host: dnsLabelArb,
  enabled: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  workers: fc.integer({ min: 1, max: 4 }),
  threads: fc.integer({ min: 1, max: 256 }),
  latencySensitive: fc.option(fc.boolean(), { nil: undefined }),
  queue: fc.integer({ min: 1, max: 100_000 }),
  rate: fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('second', 'minute', 'hour', 'day')).map(([n, u]) => `${n}/${u}`),
  maxBodyBytes: fc.integer({ min: 1024, max: 64 * 1024 * 1024 }),
  oidc: fc.boolean(),
  min: fc.integer({ min: 1, max: 50 }),
  spread: fc.integer({ min: 0, max: 100 }),
  cpu: fc.integer({ min: 1, max: 100 }),
  cpuRequestM: fc.integer({ min: 1, max: 8000 }),
  cpuLimitExtraM: fc.integer({ min: 0, max: 8000 }),
  memRequestMi: fc.integer({ min: 16, max: 16_384 }),
  memLimitExtraMi: fc.integer({ min: 0, max: 16_384 }),
});

/**
 * A valid stack from the knobs, starting from a real stack (its tier, its other services and
 * settings kept): every cross-field rule is respected by construction. The air-gapped stack stays
 * air-gapped (private CA, internal exposure); the others vary their ingress.
 */
function validStack(k: ValidKnobs): Raw {
  const raw = clone(BASES.find((b) => b.env === k.env && b.label.endsWith('as written'))!.raw);
  const c: Raw = raw.cluster;
  c.domain = k.domain;
  delete c.ingressClassName;
  if (k.ingressClassName) c.ingressClassName = k.ingressClassName;
  if (!c.airgapped) {
    delete c.loadBalancerCidrs;
    c.ingressClass = 'nginx';
    if (k.ingress.kind === 'nginx-public-acme') {
      Object.assign(c, { exposure: 'public', issuer: { kind: 'acme', email: 'platform@example.com' } });
      // where admission enforces, the HTTP-01 solver image cert-manager injects is pinned (issue 14 item 1)
      if (c.signing && raw.tier === 'production') c.signing.operatorImages = { ...c.signing.operatorImages, 'cert-manager-acmesolver': { digest: `sha256:${'a'.repeat(64)}` } };
    } else if (k.ingress.kind === 'nginx-internal-ca') Object.assign(c, { exposure: 'internal', issuer: { kind: 'ca', secretName: 'stackbook-intermediate-ca' } });
    else {
      // An ALB serves ACM certificates only (issue 14 item 2), whatever the knob says about ACME.
      Object.assign(c, {
        ingressClass: 'alb',
        loadBalancerCidrs: k.ingress.cidrs,
        exposure: k.ingress.internal ? 'internal' : 'public',
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
    threadQueueMax: latencySensitive ? 1 + (k.queue % 32) : k.queue,
    ...(k.latencySensitive !== undefined ? { latencySensitive: k.latencySensitive } : {}),
    rateLimitDefault: k.rate,
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

describe('valid configs', () => {
  it(`${VALID_RUNS} generated valid configs are accepted, render, pass the mandatory policies and are valid Kubernetes objects`, () => {
    let n = 0;
    fc.assert(
      fc.property(knobsArb, (k) => {
        const raw = validStack(k);
        const file = `stacks/Pulumi.${k.env}.yaml`;
        // Both front doors must yield the same typed Stack (strict deep equality, and the same JSON
        // text, so the same key order: a stronger property than both rendering fine). `render` is a
        // function of the typed Stack alone, so rendering and checking that one Stack covers both.
        const stack = parseStack(raw, file);
        const viaFile = parseStack(rawFromStackFile(yamlOf(raw), file).raw, file);
        expect(viaFile).toStrictEqual(stack);
        expect(JSON.stringify(viaFile)).toBe(JSON.stringify(stack));
        const r = render(stack);
        expect(blocking(evaluate(r.objects)).map((v) => `${v.object}: [${v.rule}] ${v.message}`)).toEqual([]);
        expect(invalidManifests(r.objects)).toEqual({});
        expect(r.objects.length).toBeGreaterThan(0);
        accepted++;
        n++;
      }),
      { seed: SEED, numRuns: VALID_RUNS, endOnFailure: true },
    );
    expect(n).toBe(VALID_RUNS);
  }, 240_000); // 150 full renders and every policy: ~30-60 s idle, more on a loaded machine (timing is the bench's job, not this test's)
});


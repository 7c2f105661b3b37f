/**
 * Stack schema and cross-field rules of the OSC service (Oscillink, runbook
 * `000_4eed07ff97eda6d9.txt`; what each knob becomes is in services/osc.ts).
 * Imported by ./schema.ts (the `services.osc` block) and ./config-rules.ts.
 *
 * Env names are the app's own (Oscillink `cloud/app`, licensed container README): rate limits
 * `OSCILLINK_RATE_*` / `OSCILLINK_IP_RATE_*` / `OSCILLINK_EPRL_<ENDPOINT>_*`, JWKS
 * `OSCILLINK_JWKS_URL` / `_TTL` / `OSCILLINK_JWKS_OFFLINE_GRACE`, key store
 * `OSCILLINK_KEYSTORE_BACKEND` (`memory` = the runbook's "env" mode, or `firestore`).
 */
import { z } from 'zod';
import { autoscaling, dnsLabel, hostname, httpsUrl, imageRef, ipv4Cidr, port, resources } from './primitives.js';
import { autoscalingRange, hostLengthRule, imageDigestRule, type RuleProblem, type StackParts } from './rule-helpers.js';

/** The app's own port in the licensed container. @default 8000 */
export const OSC_DEFAULT_PORT = 8000;
/** Port of the metrics-auth sidecar (OSC-4); the app may not use it. */
export const OSC_METRICS_PORT = 9091;
/** OSC-7: CPU targets outside this band are refused (see `oscRules`). */
export const OSC_CPU_RANGE = { min: 50, max: 80 } as const;

/**
 * The `OSCILLINK_FEAT_<NAME>` overlays the app reads (one per key of its tier feature map,
 * cloud/app/features.py:14-40, 63-65 at aef213d; services/osc.contract.ts).
 */
export const OSC_FEATURE_NAMES = ['DIFFUSION_GATES', 'ASYNC_JOBS', 'SIGNED_USAGE', 'PRIORITY_QUEUE'] as const;
/** The endpoints with `OSCILLINK_EPRL_<ENDPOINT>_LIMIT/_WINDOW` (cloud/app/main.py:1521, 1575 at aef213d). */
export const OSC_EPRL_NAMES = ['CLI_START', 'CLI_POLL'] as const;

/** Why a path may not be published through the Ingress, or undefined when it may. */
export function publicPathProblem(p: string): string | undefined {
  if (p === '/') return 'must not be "/": a Prefix rule for "/" routes /admin and /metrics too (OSC-3, OSC-4)';
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(p)) return 'must be an absolute path such as /v1 (segments of letters, digits, . _ ~ -; no trailing slash)';
  const segments = p.split('/').slice(1);
  if (segments.some((s) => s === '.' || s === '..')) return 'must not contain . or .. segments';
  const first = segments[0]!.toLowerCase();
  if (first === 'admin') return 'must not publish /admin: admin endpoints are never reachable through the ingress (OSC-3)';
  if (first === 'metrics') return 'must not publish /metrics: metrics are scraped inside the cluster only (OSC-4)';
  return undefined;
}

const publicPath = z.string().superRefine((p, ctx) => {
  const problem = publicPathProblem(p);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** A rate limit: `limit` requests per `windowSeconds`. */
const rateLimit = z.strictObject({
  limit: z.int().min(1).max(1_000_000),
  /** @default 60 */
  windowSeconds: z.int().min(1).max(86_400).default(60),
});

/** An external HTTPS endpoint the app calls, and where it is (NetworkPolicy cannot name hosts). */
const endpoint = {
  /** Addresses of the endpoint; required with `egress.mode: strict`, unused behind a proxy. @default none */
  egressCidrs: z.array(ipv4Cidr).min(1).optional(),
};

/** An http(s) proxy URL without credentials (a password in a URL would land in a ConfigMap). */
const proxyUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).superRefine((u, ctx) => {
  const url = new URL(u);
  if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'must not carry credentials (user:password@): they would land in a ConfigMap' });
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') ctx.addIssue({ code: 'custom', message: 'must be a bare proxy URL such as http://proxy.corp.internal:3128' });
});

export const oscService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default osc */
  namespace: dnsLabel.default('osc'),
  /** Public host is `<host>.<cluster.domain>`. @default osc */
  host: dnsLabel.default('osc'),
  image: imageRef,
  /** OSC-1: the port the app listens on. @default 8000 */
  port: port.default(OSC_DEFAULT_PORT),
  /** OSC-2: the licence. */
  license: z
    .strictObject({
      /** `OSCILLINK_LICENSE_REQUIRED`: readiness fails on an expired or missing licence. @default true in production tier, else false */
      required: z.boolean().optional(),
      /** Why a production stack runs without requiring a licence (acknowledges it; else `required: false` in production is an error). @default none */
      waiver: z.string().min(10, { error: 'must give a reason a reviewer can judge (≥ 10 characters)' }).optional(),
      /** `OSCILLINK_LICENSE_ID` of the usage-flush sidecar (required with `usage`: the flusher sends nothing without it). @default none */
      id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, { error: 'must be a licence identifier (letters, digits, . _ : -)' }).optional(),
    })
    .default({}),
  /** OSC-17: where licence signatures are verified. Required when the licence is required. @default none (the app's built-in URL, no egress) */
  jwks: z
    .strictObject({
      /** `OSCILLINK_JWKS_URL` */
      url: httpsUrl,
      /** `OSCILLINK_JWKS_TTL`, seconds. @default 3600 */
      ttlSeconds: z.int().min(60).max(86_400).default(3600),
      /** `OSCILLINK_JWKS_OFFLINE_GRACE`: how long cached keys stay valid while the URL is unreachable, seconds. @default 86400 */
      offlineGraceSeconds: z.int().min(0).max(2_592_000).default(86_400),
      ...endpoint,
    })
    .optional(),
  /**
   * OSC-5: usage reporting: the app appends to `OSCILLINK_USAGE_LOG` (an emptyDir) and the
   * usage-flush sidecar posts it here. @default none (no usage log, no reporting, no egress)
   */
  usage: z
    .strictObject({
      /** `OSCILLINK_USAGE_FLUSH_URL` of the usage-flush sidecar. */
      flushUrl: httpsUrl,
      ...endpoint,
    })
    .optional(),
  /** OSC-4: `OSCILLINK_METRICS_PROTECTED`; Prometheus then authenticates through the metrics-auth sidecar. @default true */
  metricsProtected: z.boolean().default(true),
  /**
   * OSC-3/OSC-4/OSC-15: path prefixes published through the Ingress. Never `/`, `/admin…` or `/metrics…`.
   * @default ['/v1', '/health', '/license/status']
   */
  publicPaths: z.array(publicPath).min(1).default(['/v1', '/health', '/license/status']),
  /** OSC-15: `mesh` renders no Ingress (only the ClusterIP Service, reached from `mesh.namespace`). @default cluster.exposure */
  exposure: z.enum(['public', 'internal', 'mesh']).optional(),
  /** OSC-15: the mesh ingress gateway allowed in when `exposure: mesh`. @default none */
  mesh: z.strictObject({ namespace: dnsLabel }).optional(),
  /** OSC-14: `strict` opens egress to each endpoint's CIDRs; `proxy` sends HTTP(S) through a proxy and opens only the proxy. @default strict */
  egress: z
    .discriminatedUnion('mode', [
      z.strictObject({ mode: z.literal('strict') }),
      z.strictObject({
        mode: z.literal('proxy'),
        /** `HTTP_PROXY` and `HTTPS_PROXY`, e.g. `http://proxy.corp.internal:3128`. */
        url: proxyUrl,
        /** Addresses of the proxy. */
        cidrs: z.array(ipv4Cidr).min(1),
        /** Extra `NO_PROXY` entries (cluster-internal names and the Redis host are always there). @default none */
        noProxy: z.array(z.string().regex(/^\.?[a-z0-9]([-a-z0-9.]*[a-z0-9])?(\/\d{1,2})?$/, { error: 'must be a host, .domain or CIDR' })).default([]),
      }),
    ])
    .default({ mode: 'strict' }),
  /** OSC-6: access logs. */
  logging: z
    .strictObject({
      /** `OSCILLINK_JSON_LOGS`. @default true */
      json: z.boolean().default(true),
      /** `OSCILLINK_LOG_SAMPLE`: share of requests logged. @default 1.0 */
      sample: z
        .number({ error: 'must be a number within [0.0, 1.0]' })
        .min(0, { error: 'must be within [0.0, 1.0] (the share of requests logged)' })
        .max(1, { error: 'must be within [0.0, 1.0] (the share of requests logged)' })
        .default(1),
    })
    .default({ json: true, sample: 1 }),
  /** OSC-8: per-key bundle cache. */
  cache: z
    .strictObject({
      /** `OSCILLINK_CACHE_ENABLE`. @default true */
      enabled: z.boolean().default(true),
      /** `OSCILLINK_CACHE_TTL`, seconds. @default 300 */
      ttlSeconds: z.int().min(1).max(86_400).default(300),
      /** `OSCILLINK_CACHE_CAP`, entries per API key. @default 128 */
      cap: z.int().min(1).max(100_000).default(128),
    })
    .default({ enabled: true, ttlSeconds: 300, cap: 128 }),
  /**
   * OSC-9: rate limits; each unset one is off. The licence's entitlements are not applied (the
   * image entrypoint that sources them is not run): set here the limits the licence grants.
   */
  rateLimits: z
    .strictObject({
      /** `OSCILLINK_RATE_LIMIT` / `OSCILLINK_RATE_WINDOW` (`X-RateLimit-*`). @default off */
      global: rateLimit.optional(),
      /** `OSCILLINK_IP_RATE_LIMIT` / `OSCILLINK_IP_RATE_WINDOW` (`X-IPLimit-*`). @default off */
      perIp: rateLimit.optional(),
      /** `OSCILLINK_TRUST_XFF`: take the client IP from `X-Forwarded-For` (only pods behind the ingress can be reached, see OSC-5). @default false */
      trustForwardedFor: z.boolean().default(false),
      /** `OSCILLINK_EPRL_<ENDPOINT>_LIMIT` / `_WINDOW`: `CLI_START`, `CLI_POLL` (the only ones the app reads). @default none */
      endpoints: z.partialRecord(z.enum(OSC_EPRL_NAMES), rateLimit).default({}),
    })
    .default({ trustForwardedFor: false, endpoints: {} }),
  /** OSC-10: per-key quota and monthly cap; unset = off (the licence's entitlements are not applied, see rateLimits). */
  quota: z
    .strictObject({
      /** `OSCILLINK_KEY_NODE_UNITS_LIMIT`: node×dim units per key per window. @default off */
      nodeUnitsLimit: z.int().min(1).max(1_000_000_000_000).optional(),
      /** `OSCILLINK_KEY_NODE_UNITS_WINDOW`, seconds (rendered with the limit). @default 3600 */
      nodeUnitsWindowSeconds: z.int().min(1).max(2_678_400).default(3600),
      /** `OSCILLINK_MONTHLY_CAP`: monthly units. @default off */
      monthlyCap: z.int().min(1).max(1_000_000_000_000).optional(),
    })
    .default({ nodeUnitsWindowSeconds: 3600 }),
  /** OSC-11: `OSCILLINK_FEAT_<NAME>` = 1 / 0, overriding the key's tier; only the features the app has. @default none */
  features: z.partialRecord(z.enum(OSC_FEATURE_NAMES), z.boolean()).default({}),
  /** OSC-18: API keys from the `osc-api-keys` Secret (`env`) or from Firestore. @default env */
  keyStore: z
    .discriminatedUnion('mode', [
      z.strictObject({ mode: z.literal('env') }),
      z.strictObject({
        mode: z.literal('firestore'),
        /** `GOOGLE_CLOUD_PROJECT`. */
        projectId: z.string().regex(/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/, { error: 'must be a Google Cloud project ID' }),
        /** `OSCILLINK_FIRESTORE_COLLECTION`. @default oscillink_api_keys */
        collection: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, { error: 'must be a Firestore collection ID' }).default('oscillink_api_keys'),
        ...endpoint,
      }),
    ])
    .default({ mode: 'env' }),
  /** OSC-12: shared state and CLI sessions in Redis, in-cluster (components/redis.ts) or external. @default in-cluster */
  redis: z
    .discriminatedUnion('mode', [
      z.strictObject({
        mode: z.literal('in-cluster'),
        /** Redis members (> 1 = replication with Sentinel). @default 3 in production tier, else 1 */
        replicas: z.int().min(1).max(7).optional(),
        /** AOF on a PVC. @default off in development, on otherwise */
        persistence: z.boolean().optional(),
        /** @default the Redis component's (100m/500m, 256Mi/256Mi) */
        resources: resources.optional(),
      }),
      z.strictObject({
        mode: z.literal('external'),
        /** Host in the URL (the `url` key of the `osc-redis` Secret holds the full URL). */
        host: hostname,
        /** @default 6379 */
        port: port.default(6379),
        cidrs: z.array(ipv4Cidr).min(1),
      }),
    ])
    .default({ mode: 'in-cluster' }),
  /** OSC-12: `OSCILLINK_CLI_TTL`, seconds. @default 900 */
  cliTtlSeconds: z.int().min(60).max(86_400).default(900),
  /** OSC-7: HPA. @default 2–6 replicas at 65 % CPU */
  autoscaling: autoscaling.default({ minReplicas: 2, maxReplicas: 6, cpuUtilization: 65 }),
  /** @default 500m/2 CPU, 512Mi/2Gi (the vendor's Helm values) */
  resources: resources.default({ cpuRequest: '500m', cpuLimit: '2', memoryRequest: '512Mi', memoryLimit: '2Gi' }),
});
export type OscService = z.infer<typeof oscService>;

/** OSC-2: the licence is required unless configured otherwise; on by default in production. */
export function oscLicenseRequired(svc: Pick<OscService, 'license'>, tier: 'development' | 'staging' | 'production'): boolean {
  return svc.license.required ?? tier === 'production';
}

/** OSC-12: Redis members: as configured, else 3 in production (Sentinel majority), else 1. */
export function oscRedisReplicas(svc: Pick<OscService, 'redis'>, tier: 'development' | 'staging' | 'production'): number {
  return svc.redis.mode === 'in-cluster' ? (svc.redis.replicas ?? (tier === 'production' ? 3 : 1)) : 0;
}

/** Cross-field rules of `services.osc`. */
export function oscRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.osc;
  if (svc === undefined || !svc.enabled) return [];
  const { tier, cluster } = p;
  const base = ['services', 'osc'] as const;
  const out: RuleProblem[] = [...autoscalingRange(svc.autoscaling, [...base, 'autoscaling']), ...imageDigestRule(p, svc.image, [...base, 'image'])];
  out.push(...hostLengthRule(p, svc.host, [...base, 'host']));

  // OSC-7: the runbook's 60–70 % start; 50–80 % leaves room to refine with real traffic. Below 50 %
  // half of every requested core idles; above 80 % the pods saturate before new ones are Ready.
  const cpu = svc.autoscaling.cpuUtilization;
  if (cpu < OSC_CPU_RANGE.min || cpu > OSC_CPU_RANGE.max) {
    out.push({
      path: [...base, 'autoscaling', 'cpuUtilization'],
      message: `must be ${OSC_CPU_RANGE.min}–${OSC_CPU_RANGE.max} % (runbook: target 60–70 % CPU, refined with real traffic)`,
    });
  }
  if (tier !== undefined && tier !== 'development' && svc.autoscaling.minReplicas < 2) {
    out.push({ path: [...base, 'autoscaling', 'minReplicas'], message: `must be ≥ 2 in ${tier} stacks (runbook: start at 2–6 replicas)` });
  }
  if (svc.port === OSC_METRICS_PORT) {
    out.push({ path: [...base, 'port'], message: `must not be ${OSC_METRICS_PORT}: the metrics-auth sidecar listens there` });
  }

  // OSC-2: a production licence requirement is only waived explicitly.
  if (tier !== undefined) {
    const required = oscLicenseRequired(svc, tier);
    if (tier === 'production' && svc.license.required === false && svc.license.waiver === undefined) {
      out.push({
        path: [...base, 'license', 'required'],
        message: 'must be true in production (readiness fails on an expired or missing licence); set license.waiver to a reason to run unlicensed',
      });
    }
    // OSC-17: the licence is verified against the JWKS: without it a required licence never validates.
    if (required && svc.jwks === undefined) {
      out.push({ path: [...base, 'jwks', 'url'], message: 'required when the licence is required (license.required, default on in production): the licence JWT is verified against it' });
    }
    // OSC-12: the production Redis fails over (Sentinel needs a majority of three).
    const replicas = oscRedisReplicas(svc, tier);
    if (tier === 'production' && svc.redis.mode === 'in-cluster' && replicas < 3) {
      out.push({ path: [...base, 'redis', 'replicas'], message: 'must be ≥ 3 in production: a single Redis is a single point of failure (Sentinel fails over with a majority of three)' });
    }
  }

  // OSC-5: tools/usage_flush.py:105-107 sends nothing without the licence id.
  if (svc.usage !== undefined && svc.license.id === undefined) {
    out.push({ path: [...base, 'license', 'id'], message: 'required with usage: the usage-flush sidecar sends nothing without OSCILLINK_LICENSE_ID' });
  }

  // OSC-5/OSC-14: strict egress names every endpoint's addresses.
  if (svc.egress.mode === 'strict') {
    const endpoints: Array<[string, { egressCidrs?: readonly string[] } | undefined]> = [
      ['jwks', svc.jwks],
      ['usage', svc.usage],
      ['keyStore', svc.keyStore.mode === 'firestore' ? svc.keyStore : undefined],
    ];
    for (const [key, e] of endpoints) {
      if (e !== undefined && e.egressCidrs === undefined) {
        out.push({ path: [...base, key, 'egressCidrs'], message: 'required with egress.mode strict: NetworkPolicies open egress to addresses, not host names' });
      }
    }
  }

  // OSC-15: exposure.
  const exposure = svc.exposure ?? cluster?.exposure;
  if (exposure === 'mesh' && svc.mesh === undefined) {
    out.push({ path: [...base, 'mesh', 'namespace'], message: 'required with exposure mesh: the namespace of the mesh ingress gateway allowed in' });
  }
  if (svc.exposure === 'internal' && cluster !== undefined && cluster.issuer.kind === 'acme') {
    out.push({ path: [...base, 'exposure'], message: 'internal needs a private CA: ACME HTTP-01 cannot reach an internal ingress (cluster.issuer.kind: ca)' });
  }

  // OSC-18: Firestore is a public Google API.
  if (cluster?.airgapped && svc.keyStore.mode === 'firestore') {
    out.push({ path: [...base, 'keyStore', 'mode'], message: 'firestore is a public Google API, unreachable from an air-gapped cluster: use env' });
  }
  return out;
}

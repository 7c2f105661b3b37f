/**
 * Oscillink (licensed API) — runbook `000_4eed07ff97eda6d9.txt` (concerns OSC-1 … OSC-19).
 * Settings: stacks/osc-config.ts (`stackbook:services.osc`); env names are the app's own.
 *
 * | runbook section                       | where it lands                                                                  |
 * |---------------------------------------|---------------------------------------------------------------------------------|
 * | Readiness and health                  | liveness `GET /health`, readiness `GET /license/status`, startup `/health` (OSC-1) |
 * | … `OSCILLINK_LICENSE_REQUIRED`        | ConfigMap `osc-settings`, on in production (waiver rule); the app runs `uvicorn` (not the image entrypoint: services/osc.contract.ts); init container `license-verify` checks the licence JWT (Secret `osc-license`, read-only) once per start, failure tolerated, so readiness goes 503 instead of a crash loop (OSC-2) |
 * | Admin endpoints, `X-Admin-Secret`     | `OSCILLINK_ADMIN_SECRET` from Secret `osc-admin` (Pulumi random); Ingress publishes only `publicPaths`, never `/admin` (OSC-3) |
 * | Metrics `OSCILLINK_METRICS_PROTECTED` | ConfigMap; metrics-auth sidecar (HAProxy: Prometheus' bearer token → `X-Admin-Secret`, GET /metrics only) + Service `osc-metrics` + ServiceMonitor with the Secret; `/metrics` never in the Ingress (OSC-4) |
 * | NetworkPolicy (service port, JWKS/usage, DNS) | default deny + DNS; AllowList `osc`: in from the ingress controller (or mesh gateway) on the port and Prometheus on the metrics port; out to Redis and the JWKS/usage/Firestore CIDRs or the proxy (OSC-5) |
 * | JSON logs, `OSCILLINK_LOG_SAMPLE`     | ConfigMap, sample validated [0.0, 1.0] (OSC-6)                                  |
 * | Request IDs; no request bodies        | app (OSC-19): nothing to deploy; JSON logs carry the request id                 |
 * | HPA 2–6, 60–70 % CPU                  | HPA + PDB, 2–6 at 65 % by default, CPU 50–80 % and min ≥ 2 outside dev validated (OSC-7) |
 * | Cache                                 | ConfigMap `OSCILLINK_CACHE_*` (OSC-8)                                           |
 * | Rate limits (global/per-IP/endpoint)  | ConfigMap `OSCILLINK_RATE_*`, `OSCILLINK_IP_RATE_*`, `OSCILLINK_EPRL_*` (OSC-9)  |
 * | Quotas and caps                       | ConfigMap `OSCILLINK_KEY_NODE_UNITS_*`, `OSCILLINK_MONTHLY_CAP` (OSC-10)         |
 * | Feature flags `OSCILLINK_FEAT_*`      | ConfigMap from the typed `features` map (OSC-11)                                |
 * | Redis                                 | in-cluster `Redis` `redis` (replicas from config, 3 in production) or `ExternalRedis`; URL from Secret `osc-redis`; `OSCILLINK_STATE_BACKEND`, `OSCILLINK_CLI_SESSIONS_BACKEND`, `OSCILLINK_CLI_TTL` (OSC-12, X-5) |
 * | TLS: cert-manager, nginx/ALB          | TlsIngress (Certificate from the stack's issuer; class and annotations per cluster; ALB health check on the readiness path) (OSC-13) |
 * | Proxies and private clusters          | `egress.mode`: strict (CIDRs per endpoint) or proxy (`HTTP(S)_PROXY`, `NO_PROXY`, egress only to the proxy) (OSC-14) |
 * | Mesh / egress gateway                 | `exposure: mesh`: no Ingress, the mesh gateway namespace allowed in; `internal`: internal class/scheme (OSC-15) |
 * | Supply chain                          | digest required (stack rule), namespace opted in to cosign admission (OSC-16)   |
 * | Troubleshooting: key store, JWKS      | `OSCILLINK_KEYSTORE_BACKEND` memory (keys from Secret `osc-api-keys`) or firestore (credentials Secret, egress) (OSC-18); `OSCILLINK_JWKS_*` on `license-verify` + egress (OSC-17); usage: app `OSCILLINK_USAGE_LOG` + `usage-flush` sidecar (OSC-5) |
 * | Admin introspection                   | reachable only inside the cluster (kubectl port-forward), never through the Ingress (OSC-3) |
 */
import { Chart, JsonPatch } from 'cdk8s';
import type { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { Namespace } from '../components/namespace.js';
import { Workload, type EnvValue } from '../components/workload.js';
import { Autoscaling } from '../components/autoscaling.js';
import { AllowList, DefaultDeny, type Rule } from '../components/network-policy.js';
import { TlsIngress } from '../components/tls-ingress.js';
import { ConfigMap } from '../components/config-map.js';
import { ServiceMonitor } from '../components/monitoring.js';
import { egressTo } from '../components/stateful.js';
import { imagePullPolicy, restrictedContainerSecurity, trace } from '../components/meta.js';
import { OSC_METRICS_PORT, oscLicenseRequired, oscRedisReplicas, type OscService } from '../stacks/osc-config.js';
import type { Stack } from '../stacks/schema.js';
import type { BuildContext, ServiceModule } from './types.js';
import { ingressPeers, serviceRedis } from './common.js';

/** Where the licence JWT is mounted (`OSCILLINK_LICENSE_PATH`). */
export const OSC_LICENSE_DIR = '/etc/oscillink/license';
export const OSC_LICENSE_FILE = 'oscillink.lic';
/** Firestore credentials: the Google ADC file in `CLOUDSDK_CONFIG` (a path, so no `*_CREDENTIALS` literal is needed). */
export const OSC_GCLOUD_DIR = '/etc/oscillink/gcloud';
const HAPROXY_DIR = '/usr/local/etc/haproxy';
/** Shared by the license-verify init container (writes) and the app (reads): entitlements JSON, JWKS cache. */
export const OSC_RUN_DIR = '/run';
/** The app's usage JSONL (`OSCILLINK_USAGE_LOG`), tailed by the usage-flush sidecar. */
export const OSC_USAGE_DIR = '/var/lib/oscillink/usage';
export const OSC_USAGE_LOG = `${OSC_USAGE_DIR}/usage.jsonl`;
/** The image's licence tooling (cloud/Dockerfile.licensed:23-24). */
const VERIFY_PY = '/app/tools/license_verify.py';
const FLUSH_PY = '/app/tools/usage_flush.py';

/**
 * OSC-2, OSC-17: the licence check of the image's entrypoint (cloud/entrypoint.sh:17), run once
 * per pod start by the `license-verify` init container. A missing, expired or unverifiable
 * licence is logged and tolerated: no entitlements file is written, and the app's
 * `/license/status` (readiness) answers 503 where the licence is required. The entrypoint instead
 * exits 90/92, which made every restarted pod crash-loop.
 */
export const OSC_LICENSE_VERIFY_SCRIPT =
  `python ${VERIFY_PY} --license "$OSCILLINK_LICENSE_PATH" --jwks "$OSCILLINK_JWKS_URL"` +
  ` || echo "license-verify: licence not verified (exit $?): /license/status reports it; readiness follows OSCILLINK_LICENSE_REQUIRED" >&2`;

/** The app process: the entrypoint's last line (cloud/entrypoint.sh:32) without the entitlements it sources. */
export function oscCommand(port: number): { command: string[]; args: string[] } {
  return { command: ['uvicorn', 'cloud.app.main:app'], args: ['--host', '0.0.0.0', '--port', String(port)] };
}

/** Env entries sorted by name (deterministic output). */
function envList(vars: Record<string, string>): Array<{ name: string; value: string }> {
  return Object.keys(vars)
    .sort()
    .map((name) => ({ name, value: vars[name]! }));
}

/** Environment of the license-verify init container: licence path, JWKS (else the image's default URL), proxy. */
export function oscLicenseVerifyEnv(cfg: OscService, ns: string): Record<string, string> {
  return {
    OSCILLINK_LICENSE_PATH: `${OSC_LICENSE_DIR}/${OSC_LICENSE_FILE}`,
    ...(cfg.jwks
      ? { OSCILLINK_JWKS_URL: cfg.jwks.url, OSCILLINK_JWKS_TTL: String(cfg.jwks.ttlSeconds), OSCILLINK_JWKS_OFFLINE_GRACE: String(cfg.jwks.offlineGraceSeconds) }
      : {}),
    ...proxyEnv(cfg, ns),
  };
}

/** Environment of the usage-flush sidecar (tools/usage_flush.py:103-107 needs all three). */
export function oscUsageFlushEnv(cfg: OscService, ns: string): Record<string, string> {
  if (!cfg.usage || cfg.license.id === undefined) return {};
  return { OSCILLINK_USAGE_LOG: OSC_USAGE_LOG, OSCILLINK_USAGE_FLUSH_URL: cfg.usage.flushUrl, OSCILLINK_LICENSE_ID: cfg.license.id, ...proxyEnv(cfg, ns) };
}

function proxyEnv(cfg: OscService, ns: string): Record<string, string> {
  return cfg.egress.mode === 'proxy' ? { HTTP_PROXY: cfg.egress.url, HTTPS_PROXY: cfg.egress.url, NO_PROXY: oscNoProxy(cfg, ns) } : {};
}

const SIDE_RESOURCES = {
  requests: { cpu: '10m', memory: '32Mi', 'ephemeral-storage': '8Mi' },
  limits: { cpu: '200m', memory: '128Mi', 'ephemeral-storage': '32Mi' },
};

/** Secret names and keys the service declares. */
export const OSC_SECRETS = {
  license: { name: 'osc-license', key: OSC_LICENSE_FILE },
  admin: { name: 'osc-admin', key: 'admin-secret' },
  redis: { name: 'osc-redis', password: 'password', url: 'url' },
  apiKeys: { name: 'osc-api-keys', key: 'api-keys' },
  firestore: { name: 'osc-firestore', key: 'application_default_credentials.json' },
} as const;

/**
 * OSC-4: HAProxy config of the metrics-auth sidecar. ServiceMonitors cannot send a custom header,
 * the app only accepts `X-Admin-Secret`: the sidecar answers GET /metrics only, requires a bearer
 * token and forwards it as `X-Admin-Secret` to the app on localhost, which checks it (403 when
 * wrong). It holds no secret itself and logs nothing.
 */
export function metricsAuthConfig(appPort: number): string {
  return [
    '# Rendered by stackbook (services/osc.ts): Prometheus bearer token -> X-Admin-Secret, GET /metrics only.',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 15s',
    '  timeout server 15s',
    'frontend metrics',
    `  bind :${OSC_METRICS_PORT}`,
    '  http-request return status 200 content-type text/plain string ok if { path /healthz }',
    '  http-request deny deny_status 404 unless METH_GET { path /metrics }',
    '  http-request deny deny_status 401 unless { req.hdr(authorization) -m reg -i ^Bearer[[:space:]]+[^[:space:]]+$ }',
    '  http-request set-header X-Admin-Secret %[req.hdr(authorization),regsub(^[Bb][Ee][Aa][Rr][Ee][Rr][[:space:]]+,)]',
    '  http-request del-header Authorization',
    '  default_backend app',
    'backend app',
    `  server app 127.0.0.1:${appPort}`,
    '',
  ].join('\n');
}

/** OSC-14: `NO_PROXY`: loopback, cluster-internal names, the Redis host and the configured extras. */
export function oscNoProxy(cfg: OscService, ns: string): string {
  const redisHost = cfg.redis.mode === 'external' ? cfg.redis.host : `redis.${ns}.svc`;
  const extra = cfg.egress.mode === 'proxy' ? cfg.egress.noProxy : [];
  return [...new Set(['localhost', '127.0.0.1', '.svc', '.cluster.local', redisHost, ...extra])].join(',');
}

/** The port of an https URL (443 unless it names one). */
function urlPort(url: string): number {
  const u = new URL(url);
  return u.port === '' ? (u.protocol === 'http:' ? 80 : 443) : Number(u.port);
}

/** Every non-secret setting of the app (the ConfigMap `osc-settings`) and the concerns it implements. */
export function oscSettings(cfg: OscService, stack: Pick<Stack, 'tier'>, ns: string): { data: Record<string, string>; concerns: string[] } {
  const flag = (b: boolean) => (b ? '1' : '0');
  const data: Record<string, string> = {
    // OSC-2 (the licence file and JWKS are read by the license-verify init container, not the app)
    OSCILLINK_LICENSE_REQUIRED: flag(oscLicenseRequired(cfg, stack.tier)),
    // OSC-4
    OSCILLINK_METRICS_PROTECTED: flag(cfg.metricsProtected),
    // OSC-6
    OSCILLINK_JSON_LOGS: flag(cfg.logging.json),
    OSCILLINK_LOG_SAMPLE: String(cfg.logging.sample),
    // OSC-8
    OSCILLINK_CACHE_ENABLE: flag(cfg.cache.enabled),
    OSCILLINK_CACHE_TTL: String(cfg.cache.ttlSeconds),
    OSCILLINK_CACHE_CAP: String(cfg.cache.cap),
    // OSC-9
    OSCILLINK_TRUST_XFF: flag(cfg.rateLimits.trustForwardedFor),
    // OSC-12
    OSCILLINK_STATE_BACKEND: 'redis',
    OSCILLINK_CLI_SESSIONS_BACKEND: 'redis',
    OSCILLINK_CLI_TTL: String(cfg.cliTtlSeconds),
    // OSC-18
    OSCILLINK_KEYSTORE_BACKEND: cfg.keyStore.mode === 'firestore' ? 'firestore' : 'memory',
  };
  const concerns = ['OSC-2', 'OSC-4', 'OSC-6', 'OSC-8', 'OSC-9', 'OSC-12', 'OSC-18'];
  const rl = cfg.rateLimits;
  if (rl.global) Object.assign(data, { OSCILLINK_RATE_LIMIT: String(rl.global.limit), OSCILLINK_RATE_WINDOW: String(rl.global.windowSeconds) });
  if (rl.perIp) Object.assign(data, { OSCILLINK_IP_RATE_LIMIT: String(rl.perIp.limit), OSCILLINK_IP_RATE_WINDOW: String(rl.perIp.windowSeconds) });
  for (const [endpoint, l] of Object.entries(rl.endpoints)) {
    data[`OSCILLINK_EPRL_${endpoint}_LIMIT`] = String(l.limit);
    data[`OSCILLINK_EPRL_${endpoint}_WINDOW`] = String(l.windowSeconds);
  }
  const q = cfg.quota;
  if (q.nodeUnitsLimit !== undefined) {
    Object.assign(data, { OSCILLINK_KEY_NODE_UNITS_LIMIT: String(q.nodeUnitsLimit), OSCILLINK_KEY_NODE_UNITS_WINDOW: String(q.nodeUnitsWindowSeconds) });
  }
  if (q.monthlyCap !== undefined) data.OSCILLINK_MONTHLY_CAP = String(q.monthlyCap);
  if (q.nodeUnitsLimit !== undefined || q.monthlyCap !== undefined) concerns.push('OSC-10');
  for (const [name, on] of Object.entries(cfg.features)) data[`OSCILLINK_FEAT_${name}`] = flag(on);
  if (Object.keys(cfg.features).length > 0) concerns.push('OSC-11');
  // OSC-5: the app logs usage only with OSCILLINK_USAGE_LOG; the usage-flush sidecar posts it.
  if (cfg.usage) data.OSCILLINK_USAGE_LOG = OSC_USAGE_LOG;
  if (cfg.keyStore.mode === 'firestore') {
    Object.assign(data, { OSCILLINK_FIRESTORE_COLLECTION: cfg.keyStore.collection, GOOGLE_CLOUD_PROJECT: cfg.keyStore.projectId, CLOUDSDK_CONFIG: OSC_GCLOUD_DIR });
  }
  if (cfg.egress.mode === 'proxy') {
    Object.assign(data, proxyEnv(cfg, ns));
    concerns.push('OSC-14');
  }
  return { data, concerns };
}

export const osc: ServiceModule = {
  key: 'osc',
  prefix: 'OSC',
  runbook: '000_4eed07ff97eda6d9.txt',
  appConcerns: {
    'OSC-18':
      'The app reads its API keys from OSCILLINK_API_KEYS (memory key store, Secret osc-api-keys) or Firestore; the deployment selects the mode (OSCILLINK_KEYSTORE_BACKEND) and provides the Secret, the Firestore credentials and the egress.',
    'OSC-19':
      'Request IDs and the absence of request-body logging are app behaviour (its JSON access log carries the request id, path, latency and status, never bodies); the deployment turns JSON logs on (OSCILLINK_JSON_LOGS) and publishes no debug or admin path.',
  },
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.osc!;
    const stack = ctx.stack;
    const cluster = stack.cluster;
    const ns = cfg.namespace;
    const port = cfg.port;
    const name = 'osc';
    const exposure = cfg.exposure ?? cluster.exposure;
    const licenseRequired = oscLicenseRequired(cfg, stack.tier);
    const chart = new Chart(scope, 'osc', { disableResourceNameHashes: true });

    const namespace = new Namespace(chart, 'Namespace', { name: ns });
    if (cluster.signing !== undefined) trace(namespace.object, 'OSC-16');
    new DefaultDeny(chart, 'DefaultDeny', { namespace: ns, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel, concerns: ['OSC-5'] });

    // ---- Secrets (never values: references only)
    const license = ctx.requireSecret({
      name: OSC_SECRETS.license.name,
      namespace: ns,
      keys: [OSC_SECRETS.license.key],
      source: 'existing',
      consumers: [name],
      concerns: ['OSC-2'],
    });
    const admin = ctx.requireSecret({
      name: OSC_SECRETS.admin.name,
      namespace: ns,
      keys: [OSC_SECRETS.admin.key],
      source: 'pulumi',
      consumers: cfg.metricsProtected ? [name, 'prometheus'] : [name],
      pulumi: { [OSC_SECRETS.admin.key]: { randomLength: 48 } },
      concerns: ['OSC-3'],
    });
    const keys =
      cfg.keyStore.mode === 'env'
        ? ctx.requireSecret({ name: OSC_SECRETS.apiKeys.name, namespace: ns, keys: [OSC_SECRETS.apiKeys.key], source: 'existing', consumers: [name], concerns: ['OSC-18'] })
        : ctx.requireSecret({ name: OSC_SECRETS.firestore.name, namespace: ns, keys: [OSC_SECRETS.firestore.key], source: 'existing', consumers: [name], concerns: ['OSC-18'] });

    // ---- Redis (OSC-12, X-5)
    const { source: redis, secret: redisSecret } = serviceRedis(chart, ctx, {
      config: cfg.redis.mode === 'in-cluster' ? { ...cfg.redis, replicas: oscRedisReplicas(cfg, stack.tier) } : cfg.redis,
      namespace: ns,
      name: 'redis',
      secretName: OSC_SECRETS.redis.name,
      clients: [name],
      service: 'osc',
      urlPath: '/0',
      secretConcerns: ['OSC-12'],
      concerns: cfg.redis.mode === 'external' ? ['OSC-5', 'OSC-12'] : ['OSC-12'],
    });
    const redisConn = redis.connection(0);

    // ---- Settings (no secrets)
    const s = oscSettings(cfg, stack, ns);
    const settings = new ConfigMap(chart, 'Settings', { name: 'osc-settings', namespace: ns, data: s.data, concerns: s.concerns });
    const metricsAuth = cfg.metricsProtected
      ? new ConfigMap(chart, 'MetricsAuth', { name: 'osc-metrics-auth', namespace: ns, data: { 'haproxy.cfg': metricsAuthConfig(port) }, concerns: ['OSC-4'] })
      : undefined;

    const env: Record<string, EnvValue> = {
      OSCILLINK_ADMIN_SECRET: admin.env(OSC_SECRETS.admin.key),
      OSCILLINK_REDIS_URL: redisSecret.env(OSC_SECRETS.redis.url),
      ...(cfg.keyStore.mode === 'env' ? { OSCILLINK_API_KEYS: keys.env(OSC_SECRETS.apiKeys.key) } : {}),
    };
    const app = new Workload(chart, 'Api', {
      name,
      namespace: ns,
      image: ctx.image(cfg.image),
      port,
      ...oscCommand(port),
      contract: 'osc/osc',
      env,
      envFromConfigMaps: [settings.name],
      liveness: { path: '/health' },
      readiness: { path: '/license/status' },
      resources: cfg.resources,
      autoscaled: true,
      // /run: the license-verify init container writes the entitlements the app reads there.
      writablePaths: [
        { path: OSC_RUN_DIR, sizeLimit: '16Mi' },
        { path: '/tmp', sizeLimit: '256Mi' },
        ...(cfg.usage ? [{ path: OSC_USAGE_DIR, sizeLimit: '1Gi' }] : []),
      ],
      podAnnotations: {
        ...settings.annotation,
        ...metricsAuth?.annotation,
        ...license.annotations,
        ...admin.annotations,
        ...redisSecret.annotations,
        ...keys.annotations,
      },
      concerns: [],
    });
    const deployment = app.deployment;
    // Start-up waits for the process (/health), not the licence: an expired licence keeps pods
    // running and unready (readiness) instead of restarting them in a loop.
    deployment.addJsonPatch(JsonPatch.replace('/spec/template/spec/containers/0/startupProbe/httpGet/path', '/health'));
    // OSC-2: the licence JWT as a read-only file for license-verify; optional where the licence is not required (the app runs unlicensed).
    const secretVolumes: Array<{ volume: string; secret: string; key: string; dir: string; optional: boolean }> = [
      { volume: 'license', secret: OSC_SECRETS.license.name, key: OSC_SECRETS.license.key, dir: OSC_LICENSE_DIR, optional: !licenseRequired },
      ...(cfg.keyStore.mode === 'firestore'
        ? [{ volume: 'gcloud', secret: OSC_SECRETS.firestore.name, key: OSC_SECRETS.firestore.key, dir: OSC_GCLOUD_DIR, optional: false }]
        : []),
    ];
    for (const v of secretVolumes) {
      deployment.addJsonPatch(
        JsonPatch.add('/spec/template/spec/volumes/-', {
          name: v.volume,
          secret: { secretName: v.secret, items: [{ key: v.key, path: v.key }], defaultMode: 0o440, optional: v.optional },
        }),
      );
      // the licence is read only by the license-verify init container, never by the app
      if (v.volume !== 'license') deployment.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/volumeMounts/-', { name: v.volume, mountPath: v.dir, readOnly: true }));
    }
    // OSC-2, OSC-17: the licence is verified once per pod start, its failure tolerated (see OSC_LICENSE_VERIFY_SCRIPT).
    // OSC-5: usage reporting: the app appends to OSCILLINK_USAGE_LOG, the image's flusher posts it;
    // a native sidecar (restartPolicy Always) started after the verification, restarted when it exits.
    const image = ctx.image(cfg.image);
    const flushEnv = oscUsageFlushEnv(cfg, ns);
    deployment.addJsonPatch(
      JsonPatch.add('/spec/template/spec/initContainers', [
        {
          name: 'license-verify',
          image,
          imagePullPolicy: imagePullPolicy(image),
          command: ['sh', '-c', OSC_LICENSE_VERIFY_SCRIPT],
          env: envList(oscLicenseVerifyEnv(cfg, ns)),
          resources: SIDE_RESOURCES,
          securityContext: restrictedContainerSecurity(),
          volumeMounts: [
            { name: 'run', mountPath: OSC_RUN_DIR },
            { name: 'license', mountPath: OSC_LICENSE_DIR, readOnly: true },
          ],
        },
        ...(Object.keys(flushEnv).length > 0
          ? [
              {
                name: 'usage-flush',
                image,
                imagePullPolicy: imagePullPolicy(image),
                restartPolicy: 'Always',
                command: ['python', FLUSH_PY],
                env: envList(flushEnv),
                resources: SIDE_RESOURCES,
                securityContext: restrictedContainerSecurity(),
                volumeMounts: [{ name: 'var-lib-oscillink-usage', mountPath: OSC_USAGE_DIR, readOnly: true }],
              },
            ]
          : []),
      ]),
    );
    trace(deployment, 'OSC-1', 'OSC-2', 'OSC-3', 'OSC-4', 'OSC-12', 'OSC-16', 'OSC-18', ...(cfg.jwks ? ['OSC-17'] : []), ...(cfg.usage ? ['OSC-5'] : []));
    trace(app.service, 'OSC-1');

    // ---- OSC-4: metrics-auth sidecar, its Service and the authenticated ServiceMonitor
    let metricsSelector: Record<string, string> = app.selector;
    let metricsPortName = 'http';
    if (metricsAuth) {
      deployment.addJsonPatch(
        JsonPatch.add('/spec/template/spec/containers/-', {
          name: 'metrics-auth',
          image: ctx.platformImage('haproxy'),
          imagePullPolicy: imagePullPolicy(ctx.platformImage('haproxy')),
          command: ['haproxy', '-W', '-db', '-f', `${HAPROXY_DIR}/haproxy.cfg`],
          ports: [{ name: 'metrics', containerPort: OSC_METRICS_PORT, protocol: 'TCP' }],
          resources: {
            requests: { cpu: '10m', memory: '16Mi', 'ephemeral-storage': '8Mi' },
            limits: { cpu: '100m', memory: '64Mi', 'ephemeral-storage': '32Mi' },
          },
          securityContext: restrictedContainerSecurity(),
          livenessProbe: { tcpSocket: { port: OSC_METRICS_PORT }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
          readinessProbe: { httpGet: { path: '/healthz', port: OSC_METRICS_PORT, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 2 },
          volumeMounts: [{ name: 'metrics-auth', mountPath: HAPROXY_DIR, readOnly: true }],
        }),
        JsonPatch.add('/spec/template/spec/volumes/-', { name: 'metrics-auth', configMap: { name: metricsAuth.name, defaultMode: 0o444 } }),
      );
      metricsSelector = { ...app.selector, 'app.kubernetes.io/component': 'metrics' };
      metricsPortName = 'metrics';
      const svc = new k8s.KubeService(chart, 'MetricsService', {
        metadata: { name: 'osc-metrics', namespace: ns, labels: metricsSelector },
        spec: {
          type: 'ClusterIP',
          selector: app.selector,
          ports: [{ name: 'metrics', port: OSC_METRICS_PORT, targetPort: k8s.IntOrString.fromString('metrics'), protocol: 'TCP' }],
        },
      });
      trace(svc, 'OSC-4');
    }
    new ServiceMonitor(chart, 'Metrics', {
      name,
      namespace: ns,
      selector: metricsSelector,
      port: metricsPortName,
      prometheusSelector: cluster.prometheusSelector,
      ...(cfg.metricsProtected ? { bearerToken: { secretName: OSC_SECRETS.admin.name, key: OSC_SECRETS.admin.key } } : {}),
      concerns: ['OSC-4'],
    });

    // ---- OSC-7: HPA + PDB
    new Autoscaling(chart, 'Autoscaling', {
      target: { name: app.name, namespace: ns, selector: app.selector },
      ...cfg.autoscaling,
      concerns: ['OSC-7'],
    });

    // ---- OSC-5, OSC-14, OSC-15, OSC-17: who may talk to the pods, and where they may go
    const ingress: Rule[] = [
      exposure === 'mesh' ? { peers: [{ namespace: cfg.mesh!.namespace }], ports: [{ port }] } : { peers: ingressPeers(cluster), ports: [{ port }] },
      { peers: [{ namespace: cluster.monitoringNamespace }], ports: [{ port: cfg.metricsProtected ? OSC_METRICS_PORT : port }] },
    ];
    const egress: Rule[] = cfg.redis.mode === 'in-cluster' ? [egressTo(redisConn.endpoint)] : [];
    const npConcerns = ['OSC-5', 'OSC-12', 'OSC-14'];
    if (cfg.egress.mode === 'proxy') {
      egress.push({ peers: cfg.egress.cidrs.map((cidr) => ({ cidr })), ports: [{ port: urlPort(cfg.egress.url) }] });
    } else {
      const direct: Array<[string | undefined, readonly string[] | undefined, string]> = [
        [cfg.jwks?.url, cfg.jwks?.egressCidrs, 'OSC-17'],
        [cfg.usage?.flushUrl, cfg.usage?.egressCidrs, 'OSC-5'],
        ...(cfg.keyStore.mode === 'firestore' ? [['https://firestore.googleapis.com', cfg.keyStore.egressCidrs, 'OSC-18'] as [string, readonly string[] | undefined, string]] : []),
      ];
      for (const [url, cidrs, concern] of direct) {
        if (url === undefined || cidrs === undefined) continue;
        egress.push({ peers: cidrs.map((cidr) => ({ cidr })), ports: [{ port: urlPort(url) }] });
        npConcerns.push(concern);
      }
    }
    if (cfg.jwks && cfg.egress.mode === 'proxy') npConcerns.push('OSC-17');
    if (exposure === 'mesh') npConcerns.push('OSC-15');
    const allow = new AllowList(chart, 'AllowList', { name, namespace: ns, pods: app.selector, ingress, ...(egress.length > 0 ? { egress } : {}) });
    trace(allow.policy, ...npConcerns);

    // ---- OSC-3, OSC-4, OSC-13, OSC-15: the Ingress publishes only the public prefixes (none with a mesh)
    if (exposure === 'mesh') {
      trace(app.service, 'OSC-15');
      return;
    }
    new TlsIngress(chart, 'Ingress', {
      name,
      namespace: ns,
      host: `${cfg.host}.${cluster.domain}`,
      serviceName: app.name,
      servicePort: port,
      ingressClass: cluster.ingressClass,
      // The cluster's class name is for its own exposure; another exposure takes the convention.
      ...(cluster.ingressClassName && exposure === cluster.exposure ? { className: cluster.ingressClassName } : {}),
      exposure,
      clusterIssuer: ctx.clusterIssuer,
      paths: [...cfg.publicPaths].sort(),
      concerns: ['OSC-3', 'OSC-4', 'OSC-13', ...(exposure === 'internal' ? ['OSC-15'] : [])],
    });
  },
};

/**
 * OpenWorld Specialty Chemicals (dashboard + WebSockets) — runbook `001_8ef09203eb418336.txt`
 * (concerns OWS-1 … OWS-15).
 *
 * | runbook section                                   | where it lands                                                                  |
 * |---------------------------------------------------|---------------------------------------------------------------------------------|
 * | Deployment: non-root, read-only root FS, volumes  | Workload defaults; `/app/artifacts` + `/app/logs` emptyDirs, `/app/reports` PVC `ows-reports` (OWS-1) |
 * | Docker run `-p 8000:8000`                         | `python3 -m uvicorn --factory …dashboard:build_app --port 8000` (the image's CLI CMD cannot import), Service `ows` on 8000, Ingress backend (OWS-2) |
 * | `OW_SC_API_TOKEN`                                 | Secret `ows-api-token` (Pulumi random, or vault/existing per stack) (OWS-3, OWS-13) |
 * | `OW_SC_METRICS_PROTECT`, `OW_SC_METRICS_TOKEN`    | ConfigMap flag, Secret `ows-metrics-token`, ServiceMonitor Bearer auth (OWS-4)  |
 * | Rate limits                                       | ConfigMap `ows-settings` `OW_SC_RL_PER_SEC`, `OW_SC_WS_*` (OWS-5)                |
 * | CSV limits                                        | ConfigMap `OW_SC_MAX_CSV_*`; nginx `proxy-body-size` follows (OWS-6)            |
 * | Logging `LOG_FORMAT`, `LOG_LEVEL`                 | ConfigMap `ows-logging`: uvicorn `--log-config` with the app's formatter and the level (the app reads neither variable on this path); validated enums (OWS-7) |
 * | Health & Readiness `/livez`, `/readyz`            | liveness `/livez`, readiness + startup `/readyz` (`/health` is not probed) (OWS-8) |
 * | Metrics `/metrics`, `ws_*`                        | ServiceMonitor + monitoring ingress rule; PrometheusRule `ows` (OWS-9)          |
 * | Scaling: Redis fan-out, `OW_SC_REDIS_*`           | Redis (in-cluster or external), Secret `ows-redis` key `url`, channel in ConfigMap; >1 process without Redis is a config error (OWS-10) |
 * | Scaling: horizontal, uvicorn workers per CPU      | HPA + PDB; one uvicorn process per pod (more exit 1 at 98a9718, see the contract) (OWS-11) |
 * | Security: HTTPS, HSTS                             | TlsIngress: redirect, HSTS, WebSocket timeouts (OWS-12)                         |
 * | Security: tokens in a secret manager              | every token is a Secret reference; the stack picks pulumi/vault/existing (OWS-13) |
 * | Distroless image                                  | `variant: distroless` + `distrolessImage`; nothing runs a shell (OWS-14)        |
 * | Offload CPU-bound chemistry to worker processes   | not rendered: the app has no worker program at any commit; `worker` is a config error (OWS-15) |
 *
 * The interfaces (command, flags, env, probes, writable paths, metrics) come from the application
 * contract `services/ows.contract.ts` (upstream 98a9718, each entry cited); the `app-contract` policy
 * checks every stack against it.
 */
import { Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { Namespace } from '../components/namespace.js';
import { Workload, type EnvValue, type WritablePath } from '../components/workload.js';
import { Autoscaling } from '../components/autoscaling.js';
import { AllowList, DefaultDeny, type Rule } from '../components/network-policy.js';
import { TlsIngress } from '../components/tls-ingress.js';
import { ConfigMap } from '../components/config-map.js';
import { PrometheusRules, ServiceMonitor, type AlertRule } from '../components/monitoring.js';
import { egressTo } from '../components/stateful.js';
import { trace } from '../components/meta.js';
import type { OwsService } from '../stacks/ows-config.js';
import type { BuildContext, ServiceModule } from './types.js';
import { ingressPeers, serviceRedis } from './common.js';
import { OWS_APP_FACTORY, OWS_CONTRACT_PORT, OWS_LOG_CLASSES, OWS_LOG_CONFIG_PATH, OWS_MESSAGE_SIZE_BUCKETS } from './ows.contract.js';

export const OWS_PORT = OWS_CONTRACT_PORT;

/**
 * OWS-2, OWS-7, OWS-11: the API's command line. uvicorn imports the app factory itself: the image's
 * CMD (`cli dashboard`) fails to import at 98a9718 (`reports/` never committed), and the CLI would
 * overwrite `LOG_FORMAT` anyway. One process (no `--workers`, no `WEB_CONCURRENCY`): the metrics
 * registry is per process. `--host 0.0.0.0`: uvicorn's default 127.0.0.1 is unreachable in a pod.
 */
export const OWS_COMMAND = ['python3', '-m', 'uvicorn'] as const;
export const OWS_ARGS = ['--factory', OWS_APP_FACTORY, '--host', '0.0.0.0', '--port', String(OWS_PORT), '--log-config', OWS_LOG_CONFIG_PATH] as const;

/**
 * OWS-7: the logging dictConfig uvicorn applies before importing the app (`--log-config`): the
 * format (the app's JSONFormatter, or its text format) and the level for uvicorn's and the root
 * logger. The app's request log (`HTTP GET /x -> 200`) carries X-Request-ID as `corr_id`.
 */
export function owsLogConfig(format: 'text' | 'json', level: string): string {
  // StreamHandler's default stream, stderr (the kubelet collects both; `ext://sys.stdout` reads as a host to the air-gap check).
  const handler = { class: 'logging.StreamHandler', formatter: format, filters: ['correlation'] };
  const logger = { handlers: ['default'], level, propagate: false };
  return `${JSON.stringify(
    {
      version: 1,
      disable_existing_loggers: false,
      filters: { correlation: { '()': OWS_LOG_CLASSES.correlation } },
      formatters: format === 'json' ? { json: { '()': OWS_LOG_CLASSES.json } } : { text: { format: OWS_LOG_CLASSES.textFormat } },
      handlers: { default: handler },
      loggers: { uvicorn: logger, 'uvicorn.error': logger, 'uvicorn.access': logger },
      root: { handlers: ['default'], level },
    },
    null,
    2,
  )}
`;
}

/** The largest finite `ws_message_size_bytes` bucket: histogram_quantile never returns more. */
export const OWS_TOP_SIZE_BUCKET = Math.max(...OWS_MESSAGE_SIZE_BUCKETS.filter((b) => Number.isFinite(b)));
const MiB = 1024 * 1024;

/** Names of what the service renders, for tests and other services. */
export const OWS_NAMES = {
  api: 'ows',
  settings: 'ows-settings',
  logging: 'ows-logging',
  reports: 'ows-reports',
  apiToken: 'ows-api-token',
  metricsToken: 'ows-metrics-token',
  redisSecret: 'ows-redis',
  redis: 'redis',
} as const;

/** OWS-6: nginx's request body limit for the CSV upload: the CSV plus 1 MiB of multipart framing, in MiB. */
export function owsBodySize(maxCsvBytes: number): string {
  return `${Math.ceil(maxCsvBytes / MiB) + 1}m`;
}

/** OWS-9: alerts on the `ws_*` metrics of the API pods (scraped with `job` = the Service name). */
export function owsAlerts(cfg: Pick<OwsService, 'namespace' | 'alerts' | 'rateLimits'>, runbook: (anchor: string) => string): AlertRule[] {
  const sel = `job="${OWS_NAMES.api}",namespace="${cfg.namespace}"`;
  const a = cfg.alerts;
  const nearConnections = Math.floor(a.maxConnectionsPerPod * 0.8);
  const nearBytes = Math.floor(cfg.rateLimits.wsMaxMessageBytes * 0.8);
  return [
    {
      alert: 'OWSWebSocketErrors',
      expr: `sum(rate(ws_errors_total{${sel}}[5m])) > ${a.wsErrorsPerSecond}`,
      for: '10m',
      severity: 'warning',
      summary: `OWS WebSockets fail more than ${a.wsErrorsPerSecond} times per second`,
      description:
        'ws_errors_total is rising: check the JSON logs by X-Request-ID, rejected tokens (OW_SC_API_TOKEN), oversized or rate-limited messages, and Redis fan-out.',
      runbookUrl: runbook('owswebsocketerrors'),
      concerns: ['OWS-9'],
    },
    {
      alert: 'OWSWebSocketConnectionsNearLimit',
      expr: `max(sum by (pod) (ws_active_connections{${sel}})) > ${nearConnections}`,
      for: '10m',
      severity: 'warning',
      summary: `An OWS pod holds more than ${nearConnections} WebSocket connections (80 % of ${a.maxConnectionsPerPod})`,
      description: 'ws_active_connections per pod is near what a pod is sized for: check the HPA range (autoscaling.maxReplicas) and the CPU limit.',
      runbookUrl: runbook('owswebsocketconnectionsnearlimit'),
      concerns: ['OWS-9', 'OWS-11'],
    },
    {
      alert: 'OWSWebSocketConnectionsLost',
      expr: `(sum(ws_active_connections{${sel}}) or vector(0)) == 0 and on() sum(max_over_time(ws_active_connections{${sel}}[15m])) >= ${a.lostConnectionsMinimum}`,
      for: '2m',
      severity: 'critical',
      summary: 'OWS has lost every WebSocket client',
      description: `No WebSocket connection is left after at least ${a.lostConnectionsMinimum} within 15 minutes: check the pods, /readyz, the ingress timeouts and the certificate.`,
      runbookUrl: runbook('owswebsocketconnectionslost'),
      concerns: ['OWS-9'],
    },
    // The app's histogram stops at OWS_TOP_SIZE_BUCKET: a p99 above it is never reported. Within
    // range, compare the p99; beyond it, the nearest the app can tell is "more than 1 % of the
    // messages are above the top bucket" (a p99 above it), which fires earlier than 80 %.
    nearBytes < OWS_TOP_SIZE_BUCKET
      ? {
          alert: 'OWSWebSocketMessagesNearSizeLimit',
          expr: `histogram_quantile(0.99, sum by (le) (rate(ws_message_size_bytes_bucket{${sel}}[5m]))) > ${nearBytes}`,
          for: '15m',
          severity: 'warning',
          summary: `OWS p99 WebSocket message size is above ${nearBytes} bytes (80 % of OW_SC_WS_MAX_MESSAGE_BYTES)`,
          description: 'Clients send messages close to OW_SC_WS_MAX_MESSAGE_BYTES and will soon be rejected: raise rateLimits.wsMaxMessageBytes or fix the client.',
          runbookUrl: runbook('owswebsocketmessagesnearsizelimit'),
          concerns: ['OWS-5', 'OWS-9'],
        }
      : {
          alert: 'OWSWebSocketMessagesNearSizeLimit',
          // prometheus_client writes le="8192.0" (and Prometheus 3 normalises to that form): match both spellings.
          expr: `sum(rate(ws_message_size_bytes_bucket{${sel},le=~"${OWS_TOP_SIZE_BUCKET}(.0)?"}[5m])) / sum(rate(ws_message_size_bytes_count{${sel}}[5m])) < 0.99`,
          for: '15m',
          severity: 'warning',
          summary: `OWS p99 WebSocket message size is above ${OWS_TOP_SIZE_BUCKET} bytes, the app's largest size bucket (OW_SC_WS_MAX_MESSAGE_BYTES is ${cfg.rateLimits.wsMaxMessageBytes})`,
          description: `More than 1 % of the messages are larger than ${OWS_TOP_SIZE_BUCKET} bytes; the app's histogram cannot tell how close they come to OW_SC_WS_MAX_MESSAGE_BYTES (app change: buckets up to the limit at dashboard/__init__.py:143).`,
          runbookUrl: runbook('owswebsocketmessagesnearsizelimit'),
          concerns: ['OWS-5', 'OWS-9'],
        },
  ];
}

export const ows: ServiceModule = {
  key: 'ows',
  prefix: 'OWS',
  runbook: '001_8ef09203eb418336.txt',
  appConcerns: {},
  blockedConcerns: {
    'OWS-15':
      'not deployable: llamasearchai/OpenWorld-SpecialtyChemicals has no worker program at any commit (98a9718 newest); services.ows.worker is refused until the app ships a job consumer entrypoint',
  },
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.ows!;
    const cluster = ctx.stack.cluster;
    const ns = cfg.namespace;
    const chart = new Chart(scope, 'ows', { disableResourceNameHashes: true });
    const clients = [{ name: OWS_NAMES.api }];

    new Namespace(chart, 'Namespace', { name: ns });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: ns, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });

    // OWS-3, OWS-4, OWS-13: tokens are Secret references; the stack decides where they come from.
    const apiToken = ctx.requireSecret({
      name: OWS_NAMES.apiToken,
      namespace: ns,
      keys: ['token'],
      source: 'pulumi',
      consumers: [OWS_NAMES.api],
      pulumi: { token: { randomLength: 48 } },
      concerns: ['OWS-3', 'OWS-13'],
    });
    const metricsToken = cfg.metricsProtect
      ? ctx.requireSecret({
          name: OWS_NAMES.metricsToken,
          namespace: ns,
          keys: ['token'],
          source: 'pulumi',
          consumers: [OWS_NAMES.api, 'prometheus'],
          pulumi: { token: { randomLength: 48 } },
          concerns: ['OWS-4', 'OWS-13'],
        })
      : undefined;

    // OWS-10: Redis for cross-instance (and cross-process) WebSocket fan-out.
    // OWS-10: fan-out through Redis (in-cluster or external); without it the service runs one replica.
    const redis = cfg.redis
      ? serviceRedis(chart, ctx, {
          config: cfg.redis,
          namespace: ns,
          name: OWS_NAMES.redis,
          secretName: OWS_NAMES.redisSecret,
          clients: clients.map((c) => c.name),
          service: 'ows',
          urlPath: '/0',
          secretConcerns: ['OWS-10'],
          concerns: ['OWS-10'],
        })
      : undefined;
    const redisUrl = redis?.secret;
    // The external mode renders the clients' egress policies itself.
    const redisEgress: Rule[] = redis && cfg.redis?.mode === 'in-cluster' ? [egressTo(redis.source.connection(0).endpoint)] : [];

    // OWS-4, OWS-5, OWS-6, OWS-7, OWS-10: non-secret settings; pods roll when they change.
    const settings = new ConfigMap(chart, 'Settings', {
      name: OWS_NAMES.settings,
      namespace: ns,
      data: {
        OW_SC_RL_PER_SEC: String(cfg.rateLimits.httpPerSecond),
        OW_SC_WS_MSGS_PER_SEC: String(cfg.rateLimits.wsMessagesPerSecond),
        OW_SC_WS_MAX_MESSAGE_BYTES: String(cfg.rateLimits.wsMaxMessageBytes),
        OW_SC_MAX_CSV_BYTES: String(cfg.csv.maxBytes),
        OW_SC_MAX_CSV_ROWS: String(cfg.csv.maxRows),
        OW_SC_METRICS_PROTECT: cfg.metricsProtect ? '1' : '0',
        ...(redisUrl ? { OW_SC_REDIS_CHANNEL: cfg.redisChannel } : {}),
      },
      concerns: ['OWS-4', 'OWS-5', 'OWS-6', ...(redisUrl ? ['OWS-10'] : [])],
    });
    // OWS-7: format and level as a logging config file for uvicorn (the app reads no LOG_* variable on this path).
    const logging = new ConfigMap(chart, 'Logging', {
      name: OWS_NAMES.logging,
      namespace: ns,
      data: { 'log-config.json': owsLogConfig(cfg.logging.format, cfg.logging.level) },
      concerns: ['OWS-7'],
    });

    // OWS-14: one image per variant; nothing below runs a shell (HTTP probes, preStop `sleep` action).
    const image = ctx.image(cfg.variant === 'distroless' ? cfg.distrolessImage! : cfg.image);
    const redisEnv: Record<string, EnvValue> = redisUrl ? { OW_SC_REDIS_URL: redisUrl.env('url') } : {};
    const scratch = (extra: readonly WritablePath[]): WritablePath[] => [
      { path: '/app/artifacts', sizeLimit: cfg.volumes.artifactsSizeLimit },
      { path: '/app/logs', sizeLimit: cfg.volumes.logsSizeLimit },
      ...extra,
      { path: '/tmp', sizeLimit: '256Mi' },
    ];

    // OWS-1: the reports survive pods; every API pod mounts the same claim (ReadWriteMany when > 1, rule).
    const reports = new k8s.KubePersistentVolumeClaim(chart, 'Reports', {
      metadata: { name: OWS_NAMES.reports, namespace: ns, labels: { 'app.kubernetes.io/name': OWS_NAMES.api } },
      spec: {
        accessModes: [cfg.volumes.reports.accessMode],
        resources: { requests: { storage: k8s.Quantity.fromString(cfg.volumes.reports.size) } },
        ...(cfg.volumes.reports.storageClassName ? { storageClassName: cfg.volumes.reports.storageClassName } : {}),
      },
    });
    trace(reports, 'OWS-1');

    const apiScaled = cfg.autoscaling.maxReplicas > 1;
    // OWS-11: one uvicorn process per pod, scaled by replicas. WEB_CONCURRENCY is never set: the CLI
    // hands uvicorn an app object, and uvicorn 0.30.6 exits 1 for more than one worker (contract).
    const app = new Workload(chart, 'Api', {
      name: OWS_NAMES.api,
      namespace: ns,
      image,
      port: OWS_PORT,
      command: [...OWS_COMMAND],
      args: [...OWS_ARGS],
      contract: 'ows/ows',
      files: [{ path: OWS_LOG_CONFIG_PATH.slice(0, OWS_LOG_CONFIG_PATH.lastIndexOf('/')), configMap: OWS_NAMES.logging }],
      env: {
        OW_SC_API_TOKEN: apiToken.env('token'),
        ...(metricsToken ? { OW_SC_METRICS_TOKEN: metricsToken.env('token') } : {}),
        ...redisEnv,
      },
      envFromConfigMaps: [settings.name],
      liveness: { path: '/livez' },
      readiness: { path: '/readyz' },
      resources: cfg.resources,
      ...(apiScaled ? { autoscaled: true } : { replicas: 1 }),
      writablePaths: scratch([{ path: '/app/reports', claimName: OWS_NAMES.reports }]),
      // A ReadWriteOnce volume attaches to one node: a surge pod forced onto another node by the strict
      // node spread would never start (Multi-Attach). Single replica (rule), so nothing to spread.
      spread: cfg.volumes.reports.accessMode === 'ReadWriteMany',
      podAnnotations: { ...settings.annotation, ...logging.annotation, ...apiToken.annotations, ...metricsToken?.annotations, ...redisUrl?.annotations },
    });
    trace(
      app.deployment,
      'OWS-1', 'OWS-2', 'OWS-3', 'OWS-5', 'OWS-6', 'OWS-7', 'OWS-8', 'OWS-11', 'OWS-13', 'OWS-14',
      ...(metricsToken ? ['OWS-4'] : []),
      ...(redisUrl ? ['OWS-10'] : []),
    );
    trace(app.service, 'OWS-2');

    if (apiScaled) {
      new Autoscaling(chart, 'Autoscaling', {
        target: { name: app.name, namespace: ns, selector: app.selector },
        ...cfg.autoscaling,
        concerns: ['OWS-11'],
      });
    }

    const allow = new AllowList(chart, 'AllowList', {
      name: OWS_NAMES.api,
      namespace: ns,
      pods: app.selector,
      ingress: [
        { peers: ingressPeers(cluster), ports: [{ port: OWS_PORT }] },
        { peers: [{ namespace: cluster.monitoringNamespace }], ports: [{ port: OWS_PORT }] },
      ],
      ...(redisEgress.length > 0 ? { egress: redisEgress } : {}),
    });
    trace(allow.policy, 'OWS-2', 'OWS-9', ...(redisEgress.length > 0 ? ['OWS-10'] : []));

    // OWS-12: HTTPS only (redirect, HSTS); idle WebSockets outlive the default 60 s proxy timeouts.
    new TlsIngress(chart, 'Ingress', {
      name: OWS_NAMES.api,
      namespace: ns,
      host: `${cfg.host}.${cluster.domain}`,
      serviceName: app.name,
      servicePort: OWS_PORT,
      ingressClass: cluster.ingressClass,
      ...(cluster.ingressClassName ? { className: cluster.ingressClassName } : {}),
      exposure: cluster.exposure,
      clusterIssuer: ctx.clusterIssuer,
      timeoutSeconds: cfg.wsTimeoutSeconds,
      // OWS-6: nginx refuses bodies over 1m by default; the ALB has no such limit.
      ...(cluster.ingressClass === 'nginx' ? { annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': owsBodySize(cfg.csv.maxBytes) } } : {}),
      concerns: ['OWS-2', 'OWS-6', 'OWS-12'],
    });

    // OWS-9 (OWS-4): Prometheus scrapes /metrics, with the metrics token as Bearer when protected.
    new ServiceMonitor(chart, 'Metrics', {
      name: OWS_NAMES.api,
      namespace: ns,
      selector: app.selector,
      ...(metricsToken ? { bearerToken: { secretName: OWS_NAMES.metricsToken, key: 'token' } } : {}),
      prometheusSelector: cluster.prometheusSelector,
      concerns: ['OWS-9', ...(metricsToken ? ['OWS-4'] : [])],
    });
    new PrometheusRules(chart, 'Alerts', {
      name: 'ows',
      namespace: ns,
      rules: owsAlerts(cfg, (a) => ctx.runbookUrl('ows', a)),
      prometheusSelector: cluster.prometheusSelector,
      contract: 'ows',
    });
    // OWS-15: no worker Deployment: the app has no worker program (stacks/ows-config.ts refuses `worker`).
  },
};

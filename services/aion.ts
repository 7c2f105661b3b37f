/**
 * AION / OmertaOS — runbook `004_dada5245eb69c1ad.txt` (concerns AION-1 … AION-18). The application
 * side (gateway, control plane, module hosts) is here; the data plane is services/aion-data.ts
 * (`buildAionData`, AION-2, 5, 6, 9, 10, 13, 14, 18), called from `build` below.
 *
 * | runbook section / line                                   | where it lands                                                        |
 * |----------------------------------------------------------|-----------------------------------------------------------------------|
 * | Bootstrapping 1: cluster with GPU and CPU pools           | `nodePools` (nodeSelector + tolerations), GPU hosts request `nvidia.com/gpu` (AION-1) |
 * | Bootstrapping 2: data services                            | services/aion-data.ts (AION-2)                                        |
 * | Bootstrapping 3: control plane and gateway manifests      | Deployments + Services `aion-gateway`, `aion-control-plane`, `aion-module-<name>` (AION-3) |
 * | Bootstrapping 4: TLS certificates, Cosign public keys     | TlsIngress + Certificate; namespace opted in to the stack's ClusterImagePolicy, digests required (AION-4) |
 * | Health checks: gateway, control, modules `/healthz`       | startup/liveness/readiness `GET /healthz` on every Deployment (AION-3) |
 * | Health checks: Kafka topics                               | services/aion-data.ts KafkaTopics (AION-5)                            |
 * | Incident: gateway 429 / Redis availability                | Router dashboard 429 panel (AION-17); Redis HA + alerts in aion-data (AION-6) |
 * | Incident: task latency spike, `aion.metrics.runtime`      | Router dashboard (p95, task latency, topic throughput) (AION-17)      |
 * | Incident: policy regression, `/v1/router/policy/reload`   | app endpoint; Router dashboard reload panel (AION-17)                 |
 * | Incident: module failure (logs, cosign, roll back)        | per-module Deployment; cosign admission (AION-4); rollback (AION-12)  |
 * | Approvals: `kernel.admin`, audit to `kernel.proposals`    | control plane env `AION_KERNEL_PROPOSALS_TOPIC`, `AION_KERNEL_APPROVER_ROLE` (AION-7, app) |
 * | Approvals: webhook HMAC keys in Vault `secret/omertaos/hooks` | Secret `aion-hooks` from Vault (ExternalSecret), `AION_WEBHOOK_HMAC_KEY` (AION-8, AION-15) |
 * | Approvals: rollback, Kernel dashboard `k_rollbacks_total` | Kernel dashboard panel + alert `AIONKernelRollbacks` (AION-17, AION-7) |
 * | Approvals: cosign enforcement in production               | ClusterImagePolicy enforce (stack rule: signing + digests) (AION-4)   |
 * | Backups                                                   | services/aion-data.ts (AION-10)                                       |
 * | Key rotation 1–3: API keys, JWT signing keys              | Secrets `aion-gateway-api-keys`, `aion-jwt-signing-keys`; rotation annotations roll pods (AION-11) |
 * | Key rotation 4: cosign key pair                           | `cluster.signing.keys` (list old and new while re-signing) (AION-4)   |
 * | Rollback: control policies / modules / DAGs               | `release` label + change-cause, `revisionHistoryLimit` 5 (`kubectl rollout undo`), re-synth of the previous tag (AION-12) |
 * | Webhook operations: outbound retries, failures panel      | `AION_WEBHOOK_MAX_RETRIES=5`, egress `webhookEgressCidrs`, alert `AIONWebhookFailures`, Webhooks dashboard (AION-8, AION-17) |
 * | Webhook operations: inbound headers, idempotency keys     | app (headers, RBAC); Redis DB 3 / 24 h in aion-data (AION-9)          |
 * | Memory operations (ingest, profiles, status)              | app API on the gateway; storage in aion-data (AION-2)                 |
 * | Memory operations: lifecycle; MinIO lifecycle             | services/aion-data.ts (AION-13); Object Storage dashboard (AION-17)   |
 * | Redis & Kafka recovery                                    | services/aion-data.ts (AION-6, AION-18)                               |
 * | ClickHouse TTL, Retention                                 | services/aion-data.ts (AION-14)                                       |
 * | Secret rotation: Vault, synchronised to Kubernetes        | ExternalSecrets via `cluster.vault` (AION-15)                         |
 * | Scaling: gateway CPU + latency; control p95 + queue; pools | KEDA ScaledObjects + PDBs; module pools by node selectors (AION-16)  |
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { Namespace } from '../components/namespace.js';
import { Workload, type EnvValue, type Toleration } from '../components/workload.js';
import { AllowList, DefaultDeny, type Rule } from '../components/network-policy.js';
import { TlsIngress } from '../components/tls-ingress.js';
import { ConfigMap } from '../components/config-map.js';
import { PrometheusRules, ServiceMonitor, type AlertRule } from '../components/monitoring.js';
import { ScaledObject, labelMatchers, p95LatencyTrigger, queueDepthTrigger } from '../components/keda.js';
import { quantityValue, trace } from '../components/meta.js';
import type { AionService, NodePool } from '../stacks/aion.js';
import { buildAionData } from './aion-data.js';
import type { BuildContext, SecretHandle, ServiceModule } from './types.js';
import { ingressPeers } from './common.js';

export const GATEWAY = 'aion-gateway';
export const CONTROL_PLANE = 'aion-control-plane';
export const moduleName = (name: string): string => `aion-module-${name}`;
export const PORTS = { gateway: 8080, controlPlane: 8000, module: 9000 } as const;
/** AION-7: the audit topic of kernel proposal approvals (runbook). */
export const KERNEL_PROPOSALS_TOPIC = 'kernel.proposals';
/** AION-8: where the webhook HMAC verification keys live (runbook). */
export const HOOKS_VAULT_PATH = 'secret/omertaos/hooks';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const VERSION_LABEL = 'app.kubernetes.io/version';
export const RELEASE_ANNOTATION = 'stackbook.io/release';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
/** Histograms and gauges the AION processes export (scaling triggers, dashboards). */
export const METRICS = {
  gatewayLatency: 'aion_gateway_request_duration_seconds',
  controlLatency: 'aion_control_request_duration_seconds',
  controlQueue: 'aion_control_queue_depth',
  taskLatency: 'aion_task_duration_seconds',
  proposals: 'aion_kernel_proposals_total',
  policyReloads: 'aion_router_policy_reloads_total',
} as const;

// ----------------------------------------------------------------------------------- alerts (AION-8)

/** The PrometheusRule `aion`: webhook failures (AION-8) and kernel rollbacks (AION-7). */
export function aionAlerts(namespace: string, runbook: (anchor: string) => string): AlertRule[] {
  const sel = labelMatchers({ namespace });
  return [
    {
      alert: 'AIONWebhookFailures',
      expr: `sum(increase(webhook_failures_total${sel}[15m])) > 0`,
      for: '5m',
      severity: 'critical',
      summary: 'AION webhooks are failing',
      description:
        'webhook_failures_total is rising: outbound deliveries failed after 5 retries, or inbound webhooks failed HMAC verification. A failed verification is a security incident: check x-omerta-signature / x-tenant-id on /v1/hooks/approval and the keys in Vault secret/omertaos/hooks (Grafana "AION / Webhooks").',
      runbookUrl: runbook('webhook-operations'),
      concerns: ['AION-8'],
    },
    {
      alert: 'AIONKernelRollbacks',
      expr: `sum(increase(k_rollbacks_total${sel}[15m])) > 0`,
      for: '5m',
      severity: 'warning',
      summary: 'AION kernel changes are being rolled back',
      description:
        'k_rollbacks_total increased: a kernel proposal was rolled back (/v1/kernel/proposals/{id}/rollback). Confirm completion on the Grafana "AION / Kernel" dashboard and review the audit trail in Kafka kernel.proposals.',
      runbookUrl: runbook('approvals-guardrails'),
      concerns: ['AION-7'],
    },
  ];
}

// ------------------------------------------------------------------------------- dashboards (AION-17)

export interface PanelSpec {
  readonly title: string;
  /** PromQL, one target per expression. */
  readonly exprs: readonly string[];
  /** Grafana unit. @default short */
  readonly unit?: string;
  /** @default none */
  readonly legend?: string;
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

/** A Grafana dashboard model (schema 39): a datasource variable, two panels per row, PromQL targets. */
export function dashboardJson(d: DashboardSpec): string {
  const ds = { type: 'prometheus', uid: '${datasource}' };
  return `${JSON.stringify(
    {
      uid: d.uid,
      title: d.title,
      tags: ['aion', 'stackbook'],
      editable: false,
      schemaVersion: 39,
      version: 1,
      timezone: 'utc',
      refresh: '30s',
      time: { from: 'now-6h', to: 'now' },
      templating: { list: [{ name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus' }] },
      panels: d.panels.map((p, i) => ({
        id: i + 1,
        type: 'timeseries',
        title: p.title,
        datasource: ds,
        gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
        fieldConfig: { defaults: { unit: p.unit ?? 'short' }, overrides: [] },
        targets: p.exprs.map((expr, j) => ({ refId: String.fromCharCode(65 + j), datasource: ds, expr, ...(p.legend ? { legendFormat: p.legend } : {}) })),
      })),
    },
    null,
    2,
  )}\n`;
}

/** AION-17: the runbook's dashboards: Router, Kernel (`k_rollbacks_total`), Object Storage, webhook failures. */
export function aionDashboards(namespace: string): DashboardSpec[] {
  const ns = labelMatchers({ namespace }).slice(1, -1);
  const rate = (m: string, extra = '', w = '5m') => `rate(${m}{${ns}${extra}}[${w}])`;
  const p95 = (h: string, by = 'le') => `histogram_quantile(0.95, sum by (${by}) (${rate(`${h}_bucket`)}))`;
  return [
    {
      uid: 'aion-router',
      title: 'AION / Router',
      panels: [
        { title: 'Gateway requests per second by status', exprs: [`sum by (code) (${rate(`${METRICS.gatewayLatency}_count`)})`], unit: 'reqps', legend: '{{code}}' },
        { title: 'Gateway p95 request latency', exprs: [p95(METRICS.gatewayLatency)], unit: 's' },
        { title: 'Rate-limited requests (429)', exprs: [`sum(${rate(`${METRICS.gatewayLatency}_count`, ',code="429"')})`], unit: 'reqps' },
        { title: 'Task p95 latency by module', exprs: [p95(METRICS.taskLatency, 'le, module')], unit: 's', legend: '{{module}}' },
        { title: 'aion.metrics.runtime topic: messages in per second', exprs: ['sum(rate(kafka_topic_partition_current_offset{topic="aion.metrics.runtime"}[5m]))'], unit: 'short' },
        { title: 'Router policy reloads (/v1/router/policy/reload)', exprs: [`sum(increase(${METRICS.policyReloads}{${ns}}[1h]))`] },
        { title: 'Gateway replicas available', exprs: [`sum(kube_deployment_status_replicas_available{${ns},deployment="${GATEWAY}"})`] },
      ],
    },
    {
      uid: 'aion-kernel',
      title: 'AION / Kernel',
      panels: [
        { title: 'k_rollbacks_total: kernel rollbacks per hour', exprs: [`sum(increase(k_rollbacks_total{${ns}}[1h]))`] },
        { title: 'Kernel proposals by outcome (audited to kernel.proposals)', exprs: [`sum by (outcome) (${rate(METRICS.proposals)})`], unit: 'ops', legend: '{{outcome}}' },
        { title: 'Control plane p95 latency', exprs: [p95(METRICS.controlLatency)], unit: 's' },
        { title: 'Control plane queue depth', exprs: [`sum(${METRICS.controlQueue}{${ns}})`] },
        { title: 'Consumer lag of group control-plane', exprs: ['sum by (topic) (kafka_consumergroup_lag{consumergroup="control-plane"})'], legend: '{{topic}}' },
        { title: 'Control plane replicas available', exprs: [`sum(kube_deployment_status_replicas_available{${ns},deployment="${CONTROL_PLANE}"})`] },
      ],
    },
    {
      uid: 'aion-object-storage',
      title: 'AION / Object Storage',
      panels: [
        {
          title: 'Multipart uploads started, completed and aborted (stale uploads aborted after 72 h)',
          exprs: ['sum by (api) (rate(minio_s3_requests_total{api=~"newmultipartupload|completemultipartupload|abortmultipartupload"}[1h]))'],
          unit: 'ops',
          legend: '{{api}}',
        },
        {
          title: 'Multipart uploads left open over the last 72 h (clean-up check)',
          exprs: ['sum(increase(minio_s3_requests_total{api="newmultipartupload"}[72h])) - sum(increase(minio_s3_requests_total{api=~"completemultipartupload|abortmultipartupload"}[72h]))'],
        },
        { title: 'Lifecycle (memory-retention) expiry tasks pending', exprs: ['sum(minio_node_ilm_expiry_pending_tasks)'] },
        { title: 'Bucket usage', exprs: ['sum by (bucket) (minio_bucket_usage_total_bytes)'], unit: 'bytes', legend: '{{bucket}}' },
        { title: 'S3 errors per second', exprs: ['sum(rate(minio_s3_requests_errors_total[5m]))'], unit: 'reqps' },
      ],
    },
    {
      uid: 'aion-webhooks',
      title: 'AION / Webhooks',
      panels: [
        { title: 'webhook_failures_total: failures per 5 minutes', exprs: [`sum(increase(webhook_failures_total{${ns}}[5m]))`] },
        { title: 'Webhook failures by pod', exprs: [`sum by (pod) (increase(webhook_failures_total{${ns}}[5m]))`], legend: '{{pod}}' },
        { title: 'Inbound approval webhooks (/v1/hooks/approval) by status', exprs: [`sum by (code) (${rate(`${METRICS.gatewayLatency}_count`, ',route="/v1/hooks/approval"')})`], unit: 'reqps', legend: '{{code}}' },
      ],
    },
  ];
}

// ------------------------------------------------------------------------------------------ helpers

function poolScheduling(pool: NodePool): { nodeSelector?: Record<string, string>; tolerations?: Toleration[] } {
  return {
    ...(Object.keys(pool.nodeSelector).length > 0 ? { nodeSelector: { ...pool.nodeSelector } } : {}),
    ...(pool.tolerations.length > 0 ? { tolerations: pool.tolerations.map((t) => ({ ...t })) } : {}),
  };
}

/** Own env plus the data plane's; a name both define is a wiring bug, never silently overridden. */
function mergeEnv(workload: string, own: Record<string, EnvValue>, data: Readonly<Record<string, EnvValue>>): Record<string, EnvValue> {
  for (const k of Object.keys(data)) {
    if (k in own) throw new Error(`AION ${workload}: env ${k} is set by both services/aion.ts and the data plane (services/aion-data.ts)`);
  }
  return { ...own, ...data };
}

const rotation = (...handles: SecretHandle[]): Record<string, string> => Object.assign({}, ...handles.map((h) => h.annotations));

/** AION-16: CPU cores one gateway replica should use: the CPU request × the utilisation target. */
export function cpuTargetCores(cpuRequest: string, utilization: number): number {
  const cores = quantityValue(cpuRequest);
  if (cores === undefined || cores <= 0) throw new Error(`AION gateway: resources.cpuRequest ${JSON.stringify(cpuRequest)} is not a CPU quantity`);
  return Math.round(cores * utilization * 10) / 1000;
}

// ------------------------------------------------------------------------------------------- module

export const aion: ServiceModule = {
  key: 'aion',
  prefix: 'AION',
  runbook: '004_dada5245eb69c1ad.txt',
  appConcerns: {
    'AION-7':
      'The control plane validates kernel.admin (AION_KERNEL_APPROVER_ROLE) on /v1/kernel/proposals/{id}/approve and writes the audit record to Kafka; the deployment provides AION_KERNEL_PROPOSALS_TOPIC=kernel.proposals, the Kafka bootstrap and credentials and the egress to the brokers (services/aion-data.ts), and the alert AIONKernelRollbacks.',
  },
  build(scope: Construct, ctx: BuildContext): void {
    const cfg: AionService = ctx.stack.services.aion!;
    const cluster = ctx.stack.cluster;
    const ns = cfg.namespace;
    const chart = new Chart(scope, 'aion', { disableResourceNameHashes: true });
    const signed = cluster.signing !== undefined;

    // AION-4: the namespace opts in to the stack's ClusterImagePolicy (enforce in production/air-gapped).
    new Namespace(chart, 'Namespace', { name: ns, ...(signed ? { concerns: ['AION-4'] } : {}) });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: ns, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });

    const modules = cfg.modules.map((m) => ({ ...m, workload: moduleName(m.name) }));
    const data = buildAionData(chart, ctx, { gateway: GATEWAY, controlPlane: CONTROL_PLANE, modules: modules.map((m) => m.workload) });

    // AION-8, AION-11, AION-15: keys from Vault (Pulumi randoms where a stack overrides the source, e.g. dev).
    const hooks = ctx.requireSecret({
      name: 'aion-hooks',
      namespace: ns,
      keys: ['hmac-key'],
      source: 'vault',
      vault: { path: HOOKS_VAULT_PATH },
      pulumi: { 'hmac-key': { randomLength: 64 } },
      consumers: [GATEWAY, CONTROL_PLANE],
      concerns: ['AION-8', 'AION-15'],
    });
    const apiKeys = ctx.requireSecret({
      name: 'aion-gateway-api-keys',
      namespace: ns,
      keys: ['api-keys'],
      source: 'vault',
      vault: { path: 'secret/omertaos/gateway' },
      pulumi: { 'api-keys': { randomLength: 48 } },
      consumers: [GATEWAY],
      concerns: ['AION-11', 'AION-15'],
    });
    // Vault holds an asymmetric pair; a Pulumi-made Secret (development) is one shared HS256 secret.
    const jwt = ctx.requireSecret({
      name: 'aion-jwt-signing-keys',
      namespace: ns,
      keys: ['signing-key', 'verification-key'],
      source: 'vault',
      vault: { path: 'secret/omertaos/jwt' },
      pulumi: { 'signing-key': { randomLength: 64 }, 'verification-key': { template: '{signing-key}' } },
      consumers: [GATEWAY, CONTROL_PLANE],
      concerns: ['AION-11', 'AION-15'],
    });

    const release = cfg.release;
    const common: Record<string, EnvValue> = { AION_ENVIRONMENT: ctx.stack.environment, AION_RELEASE: release };
    const moduleHosts = modules.map((m) => `${m.name}=http://${m.workload}.${ns}.svc:${PORTS.module}`).join(',');
    const cpuPool = poolScheduling(cfg.nodePools.cpu);
    const labels = (component: string) => ({ [COMPONENT_LABEL]: component, [VERSION_LABEL]: release });
    const releaseMarks = (w: Workload) => {
      // AION-12: each rollout revision names its release (`kubectl rollout history` shows it).
      w.deployment.metadata.addAnnotation(RELEASE_ANNOTATION, release);
      w.deployment.metadata.addAnnotation(CHANGE_CAUSE_ANNOTATION, `AION release ${release}`);
      trace(w.deployment, 'AION-12', ...(signed ? ['AION-4'] : []));
    };

    // ------------------------------------------------------------------ gateway (AION-3, 8, 11, 16)
    const gateway = new Workload(chart, 'Gateway', {
      name: GATEWAY,
      namespace: ns,
      image: ctx.image(cfg.gateway.image),
      port: PORTS.gateway,
      env: mergeEnv(GATEWAY, {
        ...common,
        AION_CONTROL_PLANE_URL: `http://${CONTROL_PLANE}.${ns}.svc:${PORTS.controlPlane}`,
        AION_MODULE_HOSTS: moduleHosts,
        AION_GATEWAY_API_KEYS: apiKeys.env('api-keys'),
        AION_JWT_PUBLIC_KEY: jwt.env('verification-key'),
        AION_WEBHOOK_HMAC_KEY: hooks.env('hmac-key'),
      }, data.env.gateway),
      liveness: { path: '/healthz' },
      readiness: { path: '/healthz' },
      resources: cfg.gateway.resources,
      autoscaled: true,
      ...cpuPool,
      podLabels: labels('gateway'),
      podAnnotations: { ...rotation(apiKeys, jwt, hooks), ...data.podAnnotations.gateway },
      concerns: ['AION-3'],
    });
    trace(gateway.deployment, 'AION-8', 'AION-11');
    releaseMarks(gateway);

    // -------------------------------------------------------------- control plane (AION-3, 7, 8, 11)
    const control = new Workload(chart, 'ControlPlane', {
      name: CONTROL_PLANE,
      namespace: ns,
      image: ctx.image(cfg.controlPlane.image),
      port: PORTS.controlPlane,
      env: mergeEnv(CONTROL_PLANE, {
        ...common,
        AION_KERNEL_PROPOSALS_TOPIC: KERNEL_PROPOSALS_TOPIC,
        AION_KERNEL_APPROVER_ROLE: 'kernel.admin',
        AION_WEBHOOK_MAX_RETRIES: '5',
        AION_MODULE_HOSTS: moduleHosts,
        AION_JWT_SIGNING_KEY: jwt.env('signing-key'),
        AION_WEBHOOK_HMAC_KEY: hooks.env('hmac-key'),
      }, data.env.controlPlane),
      liveness: { path: '/healthz' },
      readiness: { path: '/healthz' },
      resources: cfg.controlPlane.resources,
      autoscaled: true,
      ...cpuPool,
      podLabels: labels('control-plane'),
      podAnnotations: { ...rotation(jwt, hooks), ...data.podAnnotations.controlPlane },
      concerns: ['AION-3'],
    });
    trace(control.deployment, 'AION-7', 'AION-8', 'AION-11');
    releaseMarks(control);

    // ----------------------------------------------------------------- module hosts (AION-1, 3, 16)
    const moduleSelector = { [COMPONENT_LABEL]: 'module-host' };
    for (const m of modules) {
      const gpu = m.pool === 'gpu';
      const w = new Workload(chart, `Module-${m.name}`, {
        name: m.workload,
        namespace: ns,
        image: ctx.image(m.image),
        port: PORTS.module,
        env: mergeEnv(m.workload, { ...common, AION_MODULE_NAME: m.name, AION_MODULE_POOL: m.pool }, data.env.modules),
        liveness: { path: '/healthz' },
        readiness: { path: '/healthz' },
        startupSeconds: gpu ? 300 : 60,
        resources: { ...m.resources, ...(gpu ? { extended: { 'nvidia.com/gpu': String(m.gpus ?? 1) } } : {}) },
        replicas: m.replicas,
        ...poolScheduling(gpu ? cfg.nodePools.gpu : cfg.nodePools.cpu),
        writablePaths: [{ path: '/tmp', sizeLimit: '1Gi' }],
        podLabels: { ...labels('module-host'), 'aion.omertaos.io/pool': m.pool },
        podAnnotations: { ...data.podAnnotations.modules },
        concerns: ['AION-1', 'AION-3', 'AION-16'],
      });
      releaseMarks(w);
      // Voluntary evictions take one pod at a time and never block a drain.
      const pdb = new k8s.KubePodDisruptionBudget(chart, `Module-${m.name}-Pdb`, {
        metadata: { name: m.workload, namespace: ns },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...w.selector } } },
      });
      trace(pdb, 'X-2', 'AION-16');
      new ServiceMonitor(chart, `Module-${m.name}-Metrics`, {
        name: m.workload,
        namespace: ns,
        selector: w.selector,
        prometheusSelector: cluster.prometheusSelector,
        concerns: ['AION-3'],
      });
    }

    // -------------------------------------------------------------------------- scaling (AION-16)
    const prometheus = cfg.prometheusUrl ?? `http://prometheus-operated.${cluster.monitoringNamespace}.svc:9090`;
    const ga = cfg.gateway.autoscaling;
    new ScaledObject(chart, 'GatewayScaling', {
      target: { name: gateway.name, namespace: ns, selector: gateway.selector },
      minReplicas: ga.minReplicas,
      maxReplicas: ga.maxReplicas,
      triggers: [
        {
          // CPU from cAdvisor through Prometheus (`AverageValue`: cores per replica), so one
          // ScaledObject carries both signals; KEDA's own cpu scaler is not in components/keda.ts.
          name: 'cpu',
          serverAddress: prometheus,
          query: `sum(rate(container_cpu_usage_seconds_total${labelMatchers({ namespace: ns, container: GATEWAY })}[2m]))`,
          threshold: cpuTargetCores(cfg.gateway.resources.cpuRequest, ga.cpuUtilization),
          metricType: 'AverageValue',
        },
        p95LatencyTrigger({ serverAddress: prometheus, histogram: METRICS.gatewayLatency, selector: { namespace: ns, service: GATEWAY }, targetSeconds: ga.p95LatencySeconds }),
      ],
      concerns: ['AION-16'],
    });
    const ca = cfg.controlPlane.autoscaling;
    new ScaledObject(chart, 'ControlPlaneScaling', {
      target: { name: control.name, namespace: ns, selector: control.selector },
      minReplicas: ca.minReplicas,
      maxReplicas: ca.maxReplicas,
      triggers: [
        p95LatencyTrigger({ serverAddress: prometheus, histogram: METRICS.controlLatency, selector: { namespace: ns, service: CONTROL_PLANE }, targetSeconds: ca.p95LatencySeconds }),
        queueDepthTrigger({ serverAddress: prometheus, metric: METRICS.controlQueue, selector: { namespace: ns }, itemsPerReplica: ca.queueItemsPerReplica }),
      ],
      concerns: ['AION-16'],
    });

    // -------------------------------------------------------------------- network (AION-3, X-3)
    const monitoring: Rule = { peers: [{ namespace: cluster.monitoringNamespace }], ports: [{ port: PORTS.gateway }] };
    const toModules: Rule = { peers: [{ pods: moduleSelector }], ports: [{ port: PORTS.module }] };
    const gwPolicy = new AllowList(chart, 'GatewayPolicy', {
      name: GATEWAY,
      namespace: ns,
      pods: gateway.selector,
      ingress: [{ peers: ingressPeers(cluster), ports: [{ port: PORTS.gateway }] }, monitoring],
      egress: [{ peers: [{ pods: control.selector }], ports: [{ port: PORTS.controlPlane }] }, toModules, ...data.egress.gateway],
    });
    const cpPolicy = new AllowList(chart, 'ControlPlanePolicy', {
      name: CONTROL_PLANE,
      namespace: ns,
      pods: control.selector,
      ingress: [
        { peers: [{ pods: gateway.selector }], ports: [{ port: PORTS.controlPlane }] },
        { peers: [{ namespace: cluster.monitoringNamespace }], ports: [{ port: PORTS.controlPlane }] },
      ],
      egress: [
        toModules,
        ...(cfg.controlPlane.webhookEgressCidrs.length > 0 ? [{ peers: cfg.controlPlane.webhookEgressCidrs.map((cidr) => ({ cidr })), ports: [{ port: 443 }] }] : []),
        ...data.egress.controlPlane,
      ],
    });
    const modPolicy = new AllowList(chart, 'ModulePolicy', {
      name: 'aion-module-hosts',
      namespace: ns,
      pods: moduleSelector,
      ingress: [
        { peers: [{ pods: gateway.selector }, { pods: control.selector }], ports: [{ port: PORTS.module }] },
        { peers: [{ namespace: cluster.monitoringNamespace }], ports: [{ port: PORTS.module }] },
      ],
      ...(data.egress.modules.length > 0 ? { egress: [...data.egress.modules] } : {}),
    });
    trace([gwPolicy.policy, cpPolicy.policy, modPolicy.policy], 'AION-3');
    trace(cpPolicy.policy, 'AION-8');

    // ---------------------------------------------------------------- TLS ingress (AION-3, AION-4)
    new TlsIngress(chart, 'Ingress', {
      name: GATEWAY,
      namespace: ns,
      host: `${cfg.gateway.host}.${cluster.domain}`,
      serviceName: gateway.name,
      servicePort: PORTS.gateway,
      ingressClass: cluster.ingressClass,
      ...(cluster.ingressClassName ? { className: cluster.ingressClassName } : {}),
      exposure: cluster.exposure,
      clusterIssuer: ctx.clusterIssuer,
      concerns: ['AION-3', 'AION-4'],
    });

    // ------------------------------------------------------------- monitoring (AION-8, AION-17)
    for (const w of [gateway, control]) {
      new ServiceMonitor(chart, `${w.node.id}Metrics`, {
        name: w.name,
        namespace: ns,
        selector: w.selector,
        prometheusSelector: cluster.prometheusSelector,
        concerns: ['AION-8', 'AION-16'],
      });
    }
    new PrometheusRules(chart, 'Alerts', {
      name: 'aion',
      namespace: ns,
      rules: aionAlerts(ns, (a) => ctx.runbookUrl('aion', a)),
      prometheusSelector: cluster.prometheusSelector,
    });
    const dashboardsNs = cfg.dashboardsNamespace ?? ns;
    for (const d of aionDashboards(ns)) {
      const cm = new ConfigMap(chart, `Dashboard-${d.uid}`, {
        name: `${d.uid}-dashboard`,
        namespace: dashboardsNs,
        data: { [`${d.uid}.json`]: dashboardJson(d) },
        concerns: ['AION-17'],
      });
      cm.object.metadata.addLabel('grafana_dashboard', '1');
      cm.object.metadata.addAnnotation('grafana_folder', 'AION');
    }
  },
};

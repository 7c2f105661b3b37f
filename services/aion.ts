/**
 * AION / OmertaOS — runbook `004_dada5245eb69c1ad.txt` (concerns AION-1 … AION-18). The application
 * side (gateway, control plane, module hosts) is here, rendered from its application contract with
 * OMERTAOS 947c840 (services/aion.contract.ts, docs/aion-contract.md): where the table below names a
 * metric, env var or probe the code lacks, the contract says what was rendered instead; the data plane is services/aion-data.ts
 * (`buildAionData`, AION-2, 5, 6, 9, 10, 13, 14, 18), called from `build` below.
 *
 * | runbook section / line                                   | where it lands                                                        |
 * |----------------------------------------------------------|-----------------------------------------------------------------------|
 * | Bootstrapping 1: cluster with GPU and CPU pools           | `nodePools` (nodeSelector + tolerations), GPU hosts request `nvidia.com/gpu` (AION-1) |
 * | Bootstrapping 2: data services                            | services/aion-data.ts (AION-2)                                        |
 * | Bootstrapping 3: control plane and gateway manifests      | Deployments + Services `aion-gateway`, `aion-control-plane`, `aion-module-<name>` (AION-3) |
 * | Bootstrapping 4: TLS certificates, Cosign public keys     | TlsIngress + Certificate; namespace opted in to the stack's ClusterImagePolicy, digests required (AION-4) |
 * | Health checks: gateway, control, modules `/healthz`       | `GET /healthz` probes (control plane, modules); TCP on the auth-guarded gateway (AION-3) |
 * | Health checks: Kafka topics                               | services/aion-data.ts KafkaTopics (AION-5)                            |
 * | Incident: gateway 429 / Redis availability                | Redis HA + alerts in aion-data (AION-6); no 429 metric in the app |
 * | Incident: task latency spike, `aion.metrics.runtime`      | Router dashboard (topic throughput; no latency metric in the app) (AION-17) |
 * | Incident: policy regression, `/v1/router/policy/reload`   | app endpoint (control/app/main.py:116)                                |
 * | Incident: module failure (logs, cosign, roll back)        | per-module Deployment; cosign admission (AION-4); rollback (AION-12)  |
 * | Approvals: `kernel.admin`, audit to `kernel.proposals`    | topic `kernel.proposals` (aion-data); not in the code at 947c840 (AION-7, app) |
 * | Approvals: webhook HMAC keys in Vault `secret/omertaos/hooks` | Secret `aion-hooks` from Vault (ExternalSecret); no webhook code reads it at 947c840 (AION-8, AION-15) |
 * | Approvals: rollback, Kernel dashboard `k_rollbacks_total` | needs `k_rollbacks_total` (contract missingMetrics) (AION-17, AION-7) |
 * | Approvals: cosign enforcement in production               | ClusterImagePolicy enforce (stack rule: signing + digests) (AION-4)   |
 * | Backups                                                   | services/aion-data.ts (AION-10)                                       |
 * | Key rotation 1–3: API keys, JWT signing keys              | Secrets `aion-gateway-api-keys`, `aion-jwt-signing-keys`; rotation annotations roll pods (AION-11) |
 * | Key rotation 4: cosign key pair                           | `cluster.signing.keys` (list old and new while re-signing) (AION-4)   |
 * | Rollback: control policies / modules / DAGs               | `release` label + change-cause, `revisionHistoryLimit` 5 (`kubectl rollout undo`), re-synth of the previous tag (AION-12) |
 * | Webhook operations: outbound retries, failures panel      | egress `webhookEgressCidrs`; `webhook_failures_total` missing (contract) (AION-8, AION-17) |
 * | Webhook operations: inbound headers, idempotency keys     | app (headers, RBAC); Redis URL DB 3, `AION_IDEMPOTENCY_TTL` 24 h in aion-data (AION-9) |
 * | Memory operations (ingest, profiles, status)              | app API on the gateway; storage in aion-data (AION-2)                 |
 * | Memory operations: lifecycle; MinIO lifecycle             | services/aion-data.ts (AION-13); Object Storage dashboard (AION-17)   |
 * | Redis & Kafka recovery                                    | services/aion-data.ts (AION-6, AION-18)                               |
 * | ClickHouse TTL, Retention                                 | services/aion-data.ts (AION-14)                                       |
 * | Secret rotation: Vault, synchronised to Kubernetes        | ExternalSecrets via `cluster.vault` (AION-15)                         |
 * | Scaling: gateway CPU + latency; control p95 + queue; pools | KEDA `cpu` ScaledObjects + PDBs (no latency/queue metric); module pools (AION-16) |
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { Namespace } from '../components/namespace.js';
import { Workload, type EnvValue, type Toleration } from '../components/workload.js';
import { AllowList, DefaultDeny, type Rule } from '../components/network-policy.js';
import { TlsIngress } from '../components/tls-ingress.js';
import { ConfigMap } from '../components/config-map.js';
import { ServiceMonitor } from '../components/monitoring.js';
import { ScaledObject, cpuTrigger, labelMatchers } from '../components/keda.js';
import { restrictedContainerSecurity, trace } from '../components/meta.js';
import { JsonPatch } from 'cdk8s';
import type { AionService, NodePool } from '../stacks/aion-config.js';
import { buildAionData } from './aion-data.js';
import type { BuildContext, SecretHandle, ServiceModule } from './types.js';
import { ingressPeers } from './common.js';
import { AION_MEMORY_PATH, AION_PORTS, aionContract } from './aion.contract.js';
import { CONTRACT_ANNOTATION } from './contract.js';

export const GATEWAY = 'aion-gateway';
export const CONTROL_PLANE = 'aion-control-plane';
export const moduleName = (name: string): string => `aion-module-${name}`;
/** The app's ports (services/aion.contract.ts); module hosts: the stack's module images (see the contract's assumptions). */
export const PORTS = { gateway: AION_PORTS.gateway, controlPlane: AION_PORTS.controlHttp, controlGrpc: AION_PORTS.controlGrpc, module: 9000 } as const;
/** The control plane's gRPC server, a second container of the control-plane pod (`python -m app.grpc_server`). */
export const CONTROL_GRPC_CONTAINER = 'aion-control-grpc';
/** AION-7: the audit topic of kernel proposal approvals (runbook). */
export const KERNEL_PROPOSALS_TOPIC = 'kernel.proposals';
/** AION-8: where the webhook HMAC verification keys live (runbook). */
export const HOOKS_VAULT_PATH = 'secret/omertaos/hooks';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const VERSION_LABEL = 'app.kubernetes.io/version';
export const RELEASE_ANNOTATION = 'stackbook.io/release';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
/**
 * Metrics the runbook's scaling, alerts and dashboards assume. None exists in the code the stacks
 * deploy (services/aion.contract.ts `missingMetrics`, with the app change that would add each), so
 * nothing renders a query on them: the autoscalers use CPU and the dashboards platform metrics.
 */
export const METRICS = {
  gatewayLatency: 'aion_gateway_request_duration_seconds',
  controlLatency: 'aion_control_request_duration_seconds',
  controlQueue: 'aion_control_queue_depth',
  taskLatency: 'aion_task_duration_seconds',
  proposals: 'aion_kernel_proposals_total',
  policyReloads: 'aion_router_policy_reloads_total',
} as const;

// ----------------------------------------------------------------------------------- alerts (AION-8)

/**
 * The runbook's alerts (AION-7 `k_rollbacks_total`, AION-8 `webhook_failures_total`) need metrics
 * the application does not expose (services/aion.contract.ts `missingMetrics`): no PrometheusRule
 * is rendered for them. The gateway and control plane availability is watched from
 * kube-state-metrics on the dashboards.
 */
export const MISSING_ALERTS = ['AIONWebhookFailures', 'AIONKernelRollbacks'] as const;

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

/**
 * AION-17: the runbook's dashboards, on the metrics that exist: Kafka (exporter), MinIO and
 * kube-state-metrics. Panels on application metrics (request rate and latency, task latency,
 * policy reloads, proposals, `k_rollbacks_total`, `webhook_failures_total`) wait for the app to
 * expose them (services/aion.contract.ts `missingMetrics`); the Webhooks dashboard had no other panel.
 */
export function aionDashboards(namespace: string): DashboardSpec[] {
  const ns = labelMatchers({ namespace }).slice(1, -1);
  return [
    {
      uid: 'aion-router',
      title: 'AION / Router',
      panels: [
        { title: 'aion.metrics.runtime topic: messages in per second', exprs: ['sum(rate(kafka_topic_partition_current_offset{topic="aion.metrics.runtime"}[5m]))'], unit: 'short' },
        { title: 'Gateway replicas available', exprs: [`sum(kube_deployment_status_replicas_available{${ns},deployment="${GATEWAY}"})`] },
        { title: 'Gateway CPU (cores)', exprs: [`sum(rate(container_cpu_usage_seconds_total{${ns},container="${GATEWAY}"}[5m]))`], unit: 'short' },
      ],
    },
    {
      uid: 'aion-kernel',
      title: 'AION / Kernel',
      panels: [
        { title: 'Consumer lag of group control-plane', exprs: ['sum by (topic) (kafka_consumergroup_lag{consumergroup="control-plane"})'], legend: '{{topic}}' },
        { title: 'Control plane replicas available', exprs: [`sum(kube_deployment_status_replicas_available{${ns},deployment="${CONTROL_PLANE}"})`] },
        { title: 'Control plane container restarts', exprs: [`sum by (container) (increase(kube_pod_container_status_restarts_total{${ns},container=~"${CONTROL_PLANE}|${CONTROL_GRPC_CONTAINER}"}[1h]))`], legend: '{{container}}' },
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

/** Probe timings of the TCP probes (the Workload component's HTTP probe timings, 60 s to start). */
const tcpProbeTimings = {
  startupProbe: { periodSeconds: 5, failureThreshold: 12, timeoutSeconds: 2 },
  livenessProbe: { periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
  readinessProbe: { periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2, successThreshold: 1 },
} as const;

const rotation = (...handles: SecretHandle[]): Record<string, string> => Object.assign({}, ...handles.map((h) => h.annotations));

// ------------------------------------------------------------------------------------------- module

export const aion: ServiceModule = {
  key: 'aion',
  prefix: 'AION',
  runbook: '004_dada5245eb69c1ad.txt',
  appConcerns: {
    'AION-7':
      'Kernel proposals, their kernel.admin approval and the kernel.proposals audit record are runbook features the deployed code (OMERTAOS 947c840) does not implement: the deployment provides the kernel.proposals topic and the egress to the brokers (services/aion-data.ts); the alert AIONKernelRollbacks waits for k_rollbacks_total (services/aion.contract.ts missingMetrics).',
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
      // Nothing reads the HMAC key at 947c840 (no webhook code): kept in Vault and synchronised, mounted nowhere.
      consumers: [],
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
      // The gateway verifies with the public key (RS256, gateway/src/auth/index.ts:39); nothing signs in-cluster at 947c840.
      consumers: [GATEWAY],
      concerns: ['AION-11', 'AION-15'],
    });

    const release = cfg.release;
    // Module images are the stack's (see the contract's assumptions); the gateway and control plane read no AION_ENVIRONMENT/AION_RELEASE.
    const common: Record<string, EnvValue> = { AION_ENVIRONMENT: ctx.stack.environment, AION_RELEASE: release };
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
      // Every name is one the gateway reads (services/aion.contract.ts, gateway/src/config.ts at 947c840).
      env: mergeEnv(GATEWAY, {
        // 8080 at 947c840, 3000 at HEAD unless set: always set (config.ts:55).
        AION_GATEWAY_PORT: String(PORTS.gateway),
        // gRPC to the control plane (default control:50051 does not resolve here).
        AION_CONTROL_GRPC: `${CONTROL_PLANE}.${ns}.svc:${PORTS.controlGrpc}`,
        // The image sets NODE_ENV=production, which makes the gRPC client TLS with AION_TLS_KEY/CERT
        // files (server/grpc.ts:30-37); the control plane's gRPC server has only an insecure port
        // (grpc_server.py:65): production mode could never reach it. Plain gRPC inside the namespace,
        // behind the control plane's NetworkPolicy (gateway pods only).
        NODE_ENV: 'development',
        // The app's only interface for these at 947c840 is env (config.ts:28, 60): the API keys and
        // the JWT *public* key stay env vars from Secret references (issue 14 item 17 exception).
        AION_GATEWAY_API_KEYS: apiKeys.env('api-keys'),
        AION_JWT_PUBLIC_KEY: jwt.env('verification-key'),
      }, data.env.gateway),
      liveness: { path: '/healthz' },
      readiness: { path: '/healthz' },
      resources: cfg.gateway.resources,
      autoscaled: true,
      ...cpuPool,
      podLabels: labels('gateway'),
      podAnnotations: { ...rotation(apiKeys, jwt), ...data.podAnnotations.gateway },
      contract: `aion/${GATEWAY}`,
      concerns: ['AION-3'],
    });
    trace(gateway.deployment, 'AION-11');
    // Every gateway route, /healthz included, needs an API key or JWT (a global preHandler with
    // required roles, gateway/src/server.ts:92 at 947c840): the kubelet's GET /healthz gets 401.
    // The probes check that the port accepts connections instead.
    for (const [kind, o] of Object.entries(tcpProbeTimings)) {
      gateway.deployment.addJsonPatch(JsonPatch.replace(`/spec/template/spec/containers/0/${kind}`, { tcpSocket: { port: PORTS.gateway }, ...o }));
    }
    releaseMarks(gateway);

    // -------------------------------------------------------------- control plane (AION-3, 7, 8, 11)
    const control = new Workload(chart, 'ControlPlane', {
      name: CONTROL_PLANE,
      namespace: ns,
      image: ctx.image(cfg.controlPlane.image),
      port: PORTS.controlPlane,
      // pydantic-settings with env_prefix AION_CONTROL_ (control/app/config.py:27): the data plane's
      // URLs under those names (services/aion-data.ts), and the memory store on a volume: it is
      // created at import (routes/memory.py:101, 256) and /app is read-only.
      env: mergeEnv(CONTROL_PLANE, { AION_CONTROL_MEMORY_STORAGE_PATH: AION_MEMORY_PATH }, data.env.controlPlane),
      extraPorts: [{ name: 'grpc', port: PORTS.controlGrpc }],
      writablePaths: [{ path: AION_MEMORY_PATH, sizeLimit: '1Gi' }, { path: '/tmp' }],
      liveness: { path: '/healthz' },
      readiness: { path: '/healthz' },
      resources: cfg.controlPlane.resources,
      autoscaled: true,
      ...cpuPool,
      podLabels: labels('control-plane'),
      podAnnotations: { ...data.podAnnotations.controlPlane },
      contract: `aion/${CONTROL_PLANE}`,
      concerns: ['AION-3'],
    });
    trace(control.deployment, 'AION-7');
    releaseMarks(control);
    // The gRPC server the gateway calls is its own process (`python -m app.grpc_server`,
    // grpc_server.py:69-77), which the image's CMD (uvicorn) never starts: a second container of the
    // pod, same image and settings, on 50051 (declared on the pod's first container, `grpc`).
    const controlJson = control.deployment.toJson() as { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    const first = controlJson.spec.template.spec.containers[0]!;
    const tcp = { tcpSocket: { port: PORTS.controlGrpc } };
    // tasks_pb2_grpc.py:6 imports `aion.v1.tasks_pb2` absolutely: app/grpc must be on the path.
    const grpcEnv = [...((first.env as unknown[] | undefined) ?? []), { name: 'PYTHONPATH', value: '/app/app/grpc' }];
    control.deployment.addJsonPatch(
      JsonPatch.add('/spec/template/spec/containers/-', {
        name: CONTROL_GRPC_CONTAINER,
        image: first.image,
        imagePullPolicy: first.imagePullPolicy,
        command: ['python', '-m', 'app.grpc_server'],
        env: grpcEnv,
        resources: first.resources,
        securityContext: restrictedContainerSecurity(),
        startupProbe: { ...tcp, ...tcpProbeTimings.startupProbe },
        livenessProbe: { ...tcp, ...tcpProbeTimings.livenessProbe },
        readinessProbe: { ...tcp, ...tcpProbeTimings.readinessProbe },
        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      }),
    );

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
        // Not under the contract: upstream has no module server (services/aion.contract.ts assumptions).
        liveness: { path: '/healthz' },
        readiness: { path: '/healthz' },
        startupSeconds: gpu ? 300 : 60,
        resources: { ...m.resources, ...(gpu ? { extended: { 'nvidia.com/gpu': String(m.gpus ?? 1) } } : {}) },
        replicas: m.replicas,
        ...poolScheduling(gpu ? cfg.nodePools.gpu : cfg.nodePools.cpu),
        writablePaths: [{ path: '/tmp', sizeLimit: '1Gi' }],
        ...(data.files.modules.length > 0 ? { files: data.files.modules } : {}),
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
    // The app exposes no metric (services/aion.contract.ts missingMetrics): the runbook's latency
    // and queue-depth triggers fall back to KEDA's CPU scaler, one ScaledObject per workload.
    for (const [id, workload, scaling] of [
      ['GatewayScaling', gateway, cfg.gateway.autoscaling],
      ['ControlPlaneScaling', control, cfg.controlPlane.autoscaling],
    ] as const) {
      new ScaledObject(chart, id, {
        target: { name: workload.name, namespace: ns, selector: workload.selector },
        minReplicas: scaling.minReplicas,
        maxReplicas: scaling.maxReplicas,
        triggers: [cpuTrigger(scaling.cpuUtilization)],
        contract: 'aion',
        concerns: ['AION-16'],
      });
    }

    // -------------------------------------------------------------------- network (AION-3, X-3)
    const toModules: Rule = { peers: [{ pods: moduleSelector }], ports: [{ port: PORTS.module }] };
    const gwPolicy = new AllowList(chart, 'GatewayPolicy', {
      name: GATEWAY,
      namespace: ns,
      pods: gateway.selector,
      // No Prometheus rule: the gateway serves no /metrics (services/aion.contract.ts).
      ingress: [{ peers: ingressPeers(cluster), ports: [{ port: PORTS.gateway }] }],
      // The gateway calls the control plane over gRPC only (AION_CONTROL_GRPC).
      egress: [{ peers: [{ pods: control.selector }], ports: [{ port: PORTS.controlGrpc }] }, toModules, ...data.egress.gateway],
    });
    const cpPolicy = new AllowList(chart, 'ControlPlanePolicy', {
      name: CONTROL_PLANE,
      namespace: ns,
      pods: control.selector,
      ingress: [{ peers: [{ pods: gateway.selector }], ports: [{ port: PORTS.controlPlane }, { port: PORTS.controlGrpc }] }],
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
      // ALB target health: the gateway has no unauthenticated HTTP endpoint (GET /healthz answers 401
      // without credentials: services/aion.contract.ts), so its probes are TCP; the ALB can only
      // check over HTTP, and a 401 from /healthz proves the server is up and routing.
      ...(cluster.ingressClass === 'alb' ? { healthCheckPath: '/healthz', annotations: { 'alb.ingress.kubernetes.io/success-codes': '200,401' } } : {}),
      concerns: ['AION-3', 'AION-4'],
    });

    // ------------------------------------------------------------- monitoring (AION-8, AION-17)
    // No ServiceMonitor or PrometheusRule for the gateway and control plane: they serve no /metrics
    // (a scrape would only ever fail) and the runbook's alerts need metrics they lack (MISSING_ALERTS).
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

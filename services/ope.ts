/**
 * Options Pricing Engine — runbook `003_3ee24e5d76c48128.txt` (concerns OPE-1 … OPE-9).
 *
 * | runbook section                 | where it lands                                                    |
 * |---------------------------------|-------------------------------------------------------------------|
 * | Service topology (uvicorn 2–4)  | Deployment command, one worker unless multiprocess metrics (OPE-1) |
 * | Background workers, queue       | ConfigMap `OPE_THREADS`, `OPE_THREAD_QUEUE_MAX` (OPE-2, OPE-8)    |
 * | Startup checklist: OIDC         | ConfigMap `OIDC_*`, required in production, egress (OPE-3)       |
 * | Health probes `/healthz`        | liveness/readiness probes; `OPE_ENVIRONMENT`, `OPE_ALLOWED_HOSTS` (OPE-4) |
 * | Metrics `/metrics`              | ServiceMonitor + monitoring ingress rule; blocked at the Ingress (OPE-5) |
 * | Alert response (5 alerts)       | PrometheusRule `ope` on upstream rules.yml thresholds + queue backlog (OPE-6) |
 * | Scaling guidance: horizontal    | HPA + PDB, stateless (OPE-7)                                      |
 * | Queue tuning                    | per-environment `threadQueueMax`, ≤ 32 when latency-sensitive (OPE-8) |
 * | Token rotation (JWKS)           | app; the deployment keeps JWKS egress open, no redeploy (OPE-9)   |
 *
 * Env names, ports, probes and metrics come from the app's code (services/ope.contract.ts), not the
 * runbook: the workload and the alerts carry `stackbook.io/contract` and `app-contract` checks them.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Namespace } from '../components/namespace.js';
import { Workload } from '../components/workload.js';
import { Autoscaling } from '../components/autoscaling.js';
import { AllowList, DefaultDeny } from '../components/network-policy.js';
import { TlsIngress } from '../components/tls-ingress.js';
import { ConfigMap } from '../components/config-map.js';
import { PrometheusRules, ServiceMonitor, type AlertRule } from '../components/monitoring.js';
import { trace } from '../components/meta.js';
import type { BuildContext, ServiceModule } from './types.js';
import { ingressPeers } from './common.js';
import { opeContract } from './ope.contract.js';

const PORT = opeContract.workloads.ope!.ports.http!.port;
/** prometheus_client's multiprocess directory, only with more than one worker (issue 14 #10). */
export const OPE_MULTIPROC_DIR = '/var/run/prometheus-multiproc';

/** `OPE_ENVIRONMENT` by tier: values every upstream version accepts (6e82acc refuses others). */
export function opeEnvironment(tier: 'development' | 'staging' | 'production'): string {
  return tier;
}

/**
 * `OPE_ALLOWED_HOSTS` (TrustedHostMiddleware, no wildcards in production): the public host, the
 * Service names, and the pod IP the kubelet and Prometheus send as Host, expanded by Kubernetes
 * from `K8S_POD_IP` (defined earlier in the sorted env list).
 */
export function opeAllowedHosts(publicHost: string, namespace: string): string {
  return [publicHost, `ope.${namespace}.svc`, `ope.${namespace}.svc.cluster.local`, '$(K8S_POD_IP)'].join(',');
}

/**
 * OPE-6: the runbook's five alerts, on the metrics and labels the app exposes
 * (services/ope.contract.ts), with the thresholds of upstream `monitoring/prometheus/rules.yml`
 * where it has the alert, plus its queue-backlog alert. `critical` pages.
 */
export function opeAlerts(runbook: (anchor: string) => string): AlertRule[] {
  return [
    {
      // rules.yml:4-7: ope_request_errors_total (5xx only, fastapi_app.py:230-231) over ope_request_total > 2 % for 10m
      alert: 'OPEHighHttpErrorRate',
      expr: 'sum(rate(ope_request_errors_total[5m])) / clamp_min(sum(rate(ope_request_total[5m])), 1e-9) > 0.02',
      for: '10m',
      severity: 'critical',
      summary: 'OPE is answering more than 2 % of requests with 5xx',
      description: 'Check the FastAPI JSON logs by request_id, upstream dependencies (the OIDC issuer) and ope_auth_failures_total{reason="jwt_error"}.',
      runbookUrl: runbook('opehighhttperrorrate'),
      concerns: ['OPE-6'],
    },
    {
      // rules.yml:16-23: the slowest route's p95 above 750 ms for 10m
      alert: 'OPEHighLatencyP95',
      expr: 'max(histogram_quantile(0.95, sum by (route, le) (rate(ope_request_latency_seconds_bucket[5m])))) > 0.75',
      for: '10m',
      severity: 'warning',
      summary: 'OPE p95 request latency of a route is above 750 ms',
      description: 'Examine ope_request_latency_seconds per route and ope_model_latency_seconds; raise OPE_THREADS or scale out if CPU is saturated.',
      runbookUrl: runbook('opehighlatencyp95'),
      concerns: ['OPE-6'],
    },
    {
      alert: 'OPEThreadPoolRejections',
      expr: 'sum(rate(ope_threadpool_saturation_total[5m])) > 0',
      for: '5m',
      severity: 'critical',
      summary: 'OPE thread pool is rejecting pricing work',
      description: 'ope_threadpool_saturation_total is increasing: check ope_threadpool_queue_depth and ope_threadpool_queue_wait_seconds; plan capacity.',
      runbookUrl: runbook('opethreadpoolrejections'),
      concerns: ['OPE-6'],
    },
    {
      alert: 'OPERateLimitSpike',
      expr: 'sum(rate(ope_rate_limit_rejections_total[5m])) > 1',
      for: '10m',
      severity: 'warning',
      summary: 'OPE is rate-limiting more than one request per second',
      description: 'An abusive client or a misconfigured integration; consider RATE_LIMIT_DEFAULT with the consumers.',
      runbookUrl: runbook('operatelimitspike'),
      concerns: ['OPE-6'],
    },
    {
      alert: 'OPEPayloadRejections',
      expr: 'sum(rate(ope_payload_too_large_total[5m])) > 0.2',
      for: '10m',
      severity: 'warning',
      summary: 'OPE is rejecting oversized payloads',
      description: 'ope_payload_too_large_total is rising: a client exceeds MAX_BODY_BYTES; coordinate with the consumer before raising it.',
      runbookUrl: runbook('opepayloadrejections'),
      concerns: ['OPE-6'],
    },
    {
      // rules.yml:45-47 has this alert (not the runbook) as max_over_time(...[10m]) > 0 for 10m, which
      // fires 10 minutes after a single non-empty sample; its description ("queued for more than 10
      // minutes") is what min_over_time says: some pod's queue was never empty for 10 minutes, for 5 more
      alert: 'OPEPersistentQueueBacklog',
      expr: 'max(min_over_time(ope_threadpool_queue_depth[10m])) > 0',
      for: '5m',
      severity: 'warning',
      summary: 'OPE pricing queue has not emptied for 15 minutes',
      description: 'ope_threadpool_queue_depth stays above zero: investigate slow pricing models (ope_model_latency_seconds) or add replicas.',
      runbookUrl: runbook('opethreadpoolrejections'),
      concerns: ['OPE-6'],
    },
  ];
}

export const ope: ServiceModule = {
  key: 'ope',
  prefix: 'OPE',
  runbook: '003_3ee24e5d76c48128.txt',
  appConcerns: {
    'OPE-9': 'JWKS rotation is handled by the app (5-minute cache, old and new kid accepted); the deployment provides OIDC_JWKS_URL and keeps egress to the issuer open, so no redeploy is needed.',
  },
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.ope!;
    const cluster = ctx.stack.cluster;
    const ns = cfg.namespace;
    const chart = new Chart(scope, 'ope', { disableResourceNameHashes: true });

    new Namespace(chart, 'Namespace', { name: ns });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: ns, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });

    const publicHost = `${cfg.host}.${cluster.domain}`;
    const multiproc = cfg.workers > 1 && cfg.multiprocessMetrics;
    const env: Record<string, string> = {
      OPE_ENVIRONMENT: opeEnvironment(ctx.stack.tier),
      OPE_THREADS: String(cfg.threads),
      OPE_THREAD_QUEUE_MAX: String(cfg.threadQueueMax),
      RATE_LIMIT_DEFAULT: cfg.rateLimitDefault,
      MAX_BODY_BYTES: String(cfg.maxBodyBytes),
      ...(cfg.oidc ? { OIDC_ISSUER: cfg.oidc.issuer, OIDC_AUDIENCE: cfg.oidc.audience, OIDC_JWKS_URL: cfg.oidc.jwksUrl } : {}),
    };
    const settings = new ConfigMap(chart, 'Settings', {
      name: 'ope-settings',
      namespace: ns,
      data: env,
      concerns: ['OPE-2', 'OPE-4', 'OPE-8', ...(cfg.oidc ? ['OPE-3', 'OPE-9'] : [])],
    });

    const app = new Workload(chart, 'Api', {
      name: 'ope',
      namespace: ns,
      image: ctx.image(cfg.image),
      port: PORT,
      command: ['uvicorn'],
      args: ['options_engine.api.fastapi_app:app', '--host', '0.0.0.0', '--port', String(PORT), '--workers', String(cfg.workers)],
      env: {
        K8S_POD_IP: { field: 'status.podIP' },
        OPE_ALLOWED_HOSTS: opeAllowedHosts(publicHost, ns),
        ...(multiproc ? { PROMETHEUS_MULTIPROC_DIR: OPE_MULTIPROC_DIR } : {}),
      },
      envFromConfigMaps: [settings.name],
      contract: 'ope/ope',
      liveness: { path: '/healthz' },
      readiness: { path: '/healthz' },
      resources: cfg.resources,
      autoscaled: true,
      writablePaths: [{ path: '/tmp', sizeLimit: '256Mi' }, ...(multiproc ? [{ path: OPE_MULTIPROC_DIR, sizeLimit: '64Mi' }] : [])],
      podAnnotations: settings.annotation,
      concerns: [],
    });
    trace(app.deployment, 'OPE-1', 'OPE-2', 'OPE-4', 'OPE-8');
    trace(app.service, 'OPE-1');

    new Autoscaling(chart, 'Autoscaling', {
      target: { name: app.name, namespace: ns, selector: app.selector },
      ...cfg.autoscaling,
      concerns: ['OPE-7'],
    });

    const allow = new AllowList(chart, 'AllowList', {
      name: 'ope',
      namespace: ns,
      pods: app.selector,
      ingress: [
        { peers: ingressPeers(cluster), ports: [{ port: PORT }] },
        { peers: [{ namespace: cluster.monitoringNamespace }], ports: [{ port: PORT }] },
      ],
      ...(cfg.oidc ? { egress: [{ peers: cfg.oidc.egressCidrs.map((cidr) => ({ cidr })), ports: [{ port: 443 }] }] } : {}),
    });
    trace(allow.policy, 'OPE-5', ...(cfg.oidc ? ['OPE-3', 'OPE-9'] : []));

    new TlsIngress(chart, 'Ingress', {
      name: 'ope',
      namespace: ns,
      host: publicHost,
      serviceName: app.name,
      servicePort: PORT,
      // OPE-5 / issue 14 #14: the app serves /metrics on its only port (fastapi_app.py:236): not public
      blockedPaths: ['/metrics'],
      ingressClass: cluster.ingressClass,
      ...(cluster.ingressClassName ? { className: cluster.ingressClassName } : {}),
      exposure: cluster.exposure,
      clusterIssuer: ctx.clusterIssuer,
      concerns: ['OPE-1'],
    });

    new ServiceMonitor(chart, 'Metrics', {
      name: 'ope',
      namespace: ns,
      selector: app.selector,
      prometheusSelector: cluster.prometheusSelector,
      concerns: ['OPE-5'],
    });
    new PrometheusRules(chart, 'Alerts', {
      name: 'ope',
      namespace: ns,
      rules: opeAlerts((a) => ctx.runbookUrl('ope', a)),
      prometheusSelector: cluster.prometheusSelector,
      contract: 'ope',
    });
  },
};

/**
 * Options Pricing Engine (runbook 003_3ee24e5d76c48128.txt): one test per catalog concern
 * OPE-1 … OPE-9 on the rendered real stacks, each also checking the trace annotation, plus the
 * cross-cutting concerns the OPE stacks assert. Expected values come from the runbook text and
 * from the stack files themselves (read here with a plain YAML parser, not the loader).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as yaml from 'js-yaml';
import { parseStack, rawFromStackFile } from '../stacks/load.js';
import { render, type Manifest } from '../synth/render.js';
import { clusterCapabilities } from '../bundle/prerequisites.js';
import { concernsOf, ENVS, find, loadEnv, renderEnv, ROOT, SHARED } from './helpers.js';
import { appContractRule } from '../policies/contract.js';
import { CONTRACTS } from '../services/contracts.js';
import { CONTRACT_ANNOTATION } from '../services/contract.js';
import { OPE_MULTIPROC_DIR } from '../services/ope.js';

type J = Record<string, any>;

const RUNBOOK = readFileSync(join(SHARED, 'runbooks', '003_3ee24e5d76c48128.txt'), 'utf8');
const OIDC_ENVS = ['staging', 'prod', 'airgap'] as const;

/** The `stackbook:` values of a stack file, read independently of the loader. */
function cfg(env: string): J {
  const doc = yaml.load(readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8')) as { config: J };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^stackbook:/, ''), v]));
}

const objs = (env: string) => renderEnv(env).objects;
const deployment = (env: string) => find(objs(env), 'Deployment', 'ope', 'ope') as J;
const container = (env: string) => deployment(env).spec.template.spec.containers[0] as J;
const settings = (env: string) => find(objs(env), 'ConfigMap', 'ope-settings', 'ope') as J;
const policy = (env: string) => find(objs(env), 'NetworkPolicy', 'ope', 'ope') as J;
const service = (env: string) => find(objs(env), 'Service', 'ope', 'ope') as J;

/** The environment of the container, resolved through envFrom ConfigMaps and literal env. */
function containerEnv(env: string): Record<string, string> {
  const c = container(env);
  const out: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const cm = find(objs(env), 'ConfigMap', from.configMapRef.name, 'ope') as J;
    Object.assign(out, cm.data);
  }
  for (const e of c.env ?? []) if (typeof e.value === 'string') out[e.name] = e.value;
  return out;
}

/** Render a copy of a real stack with a change. */
function renderWith(env: string, change: (r: J) => void) {
  const text = readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8');
  const { raw } = rawFromStackFile(text, `stacks/Pulumi.${env}.yaml`);
  change(raw as J);
  return render(parseStack(raw, `stacks/Pulumi.${env}.yaml`)).objects;
}

function expectTrace(o: Manifest | J, id: string) {
  expect(concernsOf(o as Manifest), `${o.kind} ${o.metadata.name} traces ${id}`).toContain(id);
}

describe('OPE — Options Pricing Engine', () => {
  it('OPE-1: runs the runbook\'s uvicorn command on port 8000 with one worker per pod (upstream 6e82acc)', () => {
    const startup = /`(uvicorn options_engine\.api\.fastapi_app:app --host 0\.0\.0\.0 --port 8000)`/.exec(RUNBOOK);
    expect(startup).not.toBeNull();
    const expected = startup![1]!;
    for (const env of ENVS) {
      const c = container(env);
      const argv = [...(c.command ?? []), ...(c.args ?? [])];
      // one process per pod: /metrics and the rate limiter are per process (services/ope.contract.ts)
      expect(cfg(env).services.ope.workers ?? 1, env).toBe(1);
      expect(argv.join(' '), env).toBe(`${expected} --workers 1`);
      expect(containerEnv(env).PROMETHEUS_MULTIPROC_DIR, env).toBeUndefined();
      expect(c.ports, env).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
      expect(service(env).spec.ports, env).toEqual([expect.objectContaining({ name: 'http', port: 8000, targetPort: 'http' })]);
      const ing = find(objs(env), 'Ingress', 'ope', 'ope') as J;
      expect(ing.spec.rules[0].http.paths.find((x: J) => x.path === '/').backend.service, env).toEqual({ name: 'ope', port: { number: 8000 } });
      expectTrace(deployment(env), 'OPE-1');
      expectTrace(service(env), 'OPE-1');
    }
    // and the worker count is validated to 1–4
    const r = rawFromStackFile(readFileSync(join(ROOT, 'stacks', 'Pulumi.dev.yaml'), 'utf8'), 'stacks/Pulumi.dev.yaml').raw as J;
    r.services.ope.workers = 5;
    expect(() => parseStack(r, 'stacks/Pulumi.dev.yaml')).toThrow(/services\.ope\.workers: .*1–4.*\(got 5\)/);
  });

  it('issue 14 #10: several workers need multiprocess metrics: refused without, an emptyDir PROMETHEUS_MULTIPROC_DIR with', () => {
    const r = rawFromStackFile(readFileSync(join(ROOT, 'stacks', 'Pulumi.prod.yaml'), 'utf8'), 'stacks/Pulumi.prod.yaml').raw as J;
    r.services.ope.workers = 4;
    expect(() => parseStack(r, 'stacks/Pulumi.prod.yaml')).toThrow(/services\.ope\.workers: 4 workers need an image whose \/metrics aggregates them .*MultiProcessCollector/);
    const objects = renderWith('prod', (x) => {
      x.services.ope.workers = 4;
      x.services.ope.multiprocessMetrics = true;
    });
    const d = find(objects, 'Deployment', 'ope', 'ope') as J;
    const c = d.spec.template.spec.containers[0];
    expect(c.args.slice(-2)).toEqual(['--workers', '4']);
    expect(c.env).toEqual(expect.arrayContaining([{ name: 'PROMETHEUS_MULTIPROC_DIR', value: OPE_MULTIPROC_DIR }]));
    const mount = c.volumeMounts.find((m: J) => m.mountPath === OPE_MULTIPROC_DIR);
    expect(mount?.readOnly ?? false).toBe(false);
    expect(d.spec.template.spec.volumes.find((v: J) => v.name === mount.name).emptyDir).toBeDefined();
    // and the contract accepts it (prometheus_client reads the variable)
    expect(appContractRule(CONTRACTS).check(objects.filter((o) => o.metadata.namespace === 'ope') as never)).toEqual([]);
  });

  it('OPE-2: OPE_THREADS, OPE_THREAD_QUEUE_MAX, RATE_LIMIT_DEFAULT and MAX_BODY_BYTES reach the app from config', () => {
    for (const env of ENVS) {
      const ope = cfg(env).services.ope;
      const e = containerEnv(env);
      expect(e.OPE_THREADS, env).toBe(String(ope.threads));
      expect(e.OPE_THREAD_QUEUE_MAX, env).toBe(String(ope.threadQueueMax));
      expect(e.RATE_LIMIT_DEFAULT, env).toMatch(/^\d+\/(second|minute|hour|day)$/);
      expect(Number(e.MAX_BODY_BYTES), env).toBeGreaterThan(0);
      expect(Number.isInteger(Number(e.MAX_BODY_BYTES)), env).toBe(true);
      expectTrace(settings(env), 'OPE-2');
      expectTrace(deployment(env), 'OPE-2');
    }
    // configured values pass through, and a change rolls the pods
    const changed = renderWith('dev', (r) => {
      r.services.ope.rateLimitDefault = '7/second';
      r.services.ope.maxBodyBytes = 4096;
    });
    const cm = find(changed, 'ConfigMap', 'ope-settings', 'ope') as J;
    expect(cm.data).toMatchObject({ RATE_LIMIT_DEFAULT: '7/second', MAX_BODY_BYTES: '4096' });
    const before = deployment('dev').spec.template.metadata.annotations;
    const after = (find(changed, 'Deployment', 'ope', 'ope') as J).spec.template.metadata.annotations;
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(after).not.toEqual(before);
  });

  it('OPE-3: OIDC issuer/audience/JWKS URL required in production, passed to the app, egress only to the issuer on 443', () => {
    for (const env of OIDC_ENVS) {
      const oidc = cfg(env).services.ope.oidc;
      const e = containerEnv(env);
      expect(e.OIDC_ISSUER, env).toBe(oidc.issuer);
      expect(e.OIDC_AUDIENCE, env).toBe(oidc.audience);
      expect(e.OIDC_JWKS_URL, env).toBe(oidc.jwksUrl);
      const egress: J[] = policy(env).spec.egress;
      expect(policy(env).spec.policyTypes, env).toContain('Egress');
      expect(egress.flatMap((r) => r.to.map((p: J) => p.ipBlock?.cidr)).sort(), env).toEqual([...oidc.egressCidrs].sort());
      for (const r of egress) {
        expect(r.ports, env).toEqual([{ port: 443, protocol: 'TCP' }]);
        for (const p of r.to) expect(Object.keys(p), env).toEqual(['ipBlock']);
      }
      expectTrace(settings(env), 'OPE-3');
      expectTrace(policy(env), 'OPE-3');
    }
    // production without OIDC is a clear configuration error
    const r = rawFromStackFile(readFileSync(join(ROOT, 'stacks', 'Pulumi.prod.yaml'), 'utf8'), 'stacks/Pulumi.prod.yaml').raw as J;
    delete r.services.ope.oidc;
    expect(() => parseStack(r, 'stacks/Pulumi.prod.yaml')).toThrow(
      'stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.issuer: required in production',
    );
    // without OIDC (dev) nothing but DNS may leave the pods
    expect(cfg('dev').services.ope.oidc).toBeUndefined();
    expect(policy('dev').spec.egress).toBeUndefined();
    expect(containerEnv('dev').OIDC_ISSUER).toBeUndefined();
  });

  it('OPE-4: liveness and readiness GET /healthz on the app port; the environment name is passed to the app', () => {
    expect(RUNBOOK).toMatch(/\*\*Liveness\/readiness:\*\* `GET \/healthz`/);
    for (const env of ENVS) {
      const c = container(env);
      for (const probe of ['livenessProbe', 'readinessProbe'] as const) {
        expect(c[probe].httpGet, `${env} ${probe}`).toMatchObject({ path: '/healthz', port: 8000 });
      }
      // the app reads OPE_ENVIRONMENT (config.py:169 at fbe159d), never ENVIRONMENT; production must say "production"
      const e = containerEnv(env);
      expect(e.ENVIRONMENT, env).toBeUndefined();
      expect(e.OPE_ENVIRONMENT, env).toBe(cfg(env).tier);
      expect(['development', 'staging', 'production'], env).toContain(e.OPE_ENVIRONMENT);
      expectTrace(deployment(env), 'OPE-4');
      expectTrace(settings(env), 'OPE-4');
    }
  });

  it('OPE-4: OPE_ALLOWED_HOSTS lets the Ingress host, the Service names and the pod IP (kubelet, Prometheus) through TrustedHostMiddleware', () => {
    for (const env of ENVS) {
      const c = container(env);
      const names: string[] = c.env.map((e: J) => e.name);
      const hosts = c.env.find((e: J) => e.name === 'OPE_ALLOWED_HOSTS');
      expect(hosts?.value, env).toBeDefined();
      const list = String(hosts.value).split(',');
      const ing = find(objs(env), 'Ingress', 'ope', 'ope') as J;
      expect(list, env).toContain(ing.spec.rules[0].host);
      expect(list, env).toContain('ope.ope.svc');
      // the kubelet and Prometheus send Host: <pod IP>:8000; Kubernetes expands $(VAR) only from a variable defined earlier
      expect(list, env).toContain('$(K8S_POD_IP)');
      const ip = c.env.find((e: J) => e.name === 'K8S_POD_IP');
      expect(ip?.valueFrom, env).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
      expect(names.indexOf('K8S_POD_IP'), env).toBeLessThan(names.indexOf('OPE_ALLOWED_HOSTS'));
      // no wildcard: 6e82acc refuses them in staging/production
      for (const h of list) expect(h, env).not.toContain('*');
      // the probes send no Host header of their own: the pod IP is allowed
      for (const probe of ['livenessProbe', 'readinessProbe'] as const) expect(c[probe].httpGet.httpHeaders, env).toBeUndefined();
    }
  });

  it('issue 19: the OPE workload and alerts carry the app contract and the app-contract rule passes on every stack', () => {
    const rule = appContractRule(CONTRACTS);
    for (const env of ENVS) {
      const ns = objs(env).filter((o) => o.metadata.namespace === 'ope');
      expect(deployment(env).metadata.annotations[CONTRACT_ANNOTATION], env).toBe('ope/ope');
      expect((find(objs(env), 'PrometheusRule', 'ope', 'ope') as J).metadata.annotations[CONTRACT_ANNOTATION], env).toBe('ope');
      expect(rule.check(ns as never).map((f) => `${f.object.kind} ${f.object.metadata.name}: ${f.message}`), env).toEqual([]);
    }
    // what the service used to render is refused: ENVIRONMENT is not read, `status` is not a label
    const old = JSON.parse(JSON.stringify(objs('prod').filter((o) => o.metadata.namespace === 'ope'))) as J[];
    const d = old.find((o) => o.kind === 'Deployment')!;
    d.spec.template.spec.containers[0].env = [{ name: 'ENVIRONMENT', value: 'prod' }];
    const pr = old.find((o) => o.kind === 'PrometheusRule')!;
    pr.spec.groups[0].rules[0].expr = 'sum(rate(ope_request_total{status=~"5.."}[5m])) / sum(rate(ope_request_total[5m])) > 0.05';
    const messages = rule.check(old as never).map((f) => f.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/sets env ENVIRONMENT, which .* never reads/),
        expect.stringMatching(/does not set env OPE_ALLOWED_HOSTS, which .* requires/),
        expect.stringMatching(/filters ope_request_total on label "status", which the app does not set/),
      ]),
    );
  });

  it('issue 14 #14: /metrics is not reachable through the public Ingress (nginx denies it, ALB answers 404)', () => {
    for (const env of ENVS) {
      const ing = find(objs(env), 'Ingress', 'ope', 'ope') as J;
      const cls = cfg(env).cluster.ingressClass;
      const host = ing.spec.rules[0].host;
      if (cls === 'alb') {
        const [first] = ing.spec.rules[0].http.paths;
        expect(first, env).toMatchObject({ path: '/metrics', pathType: 'Prefix', backend: { service: { port: { name: 'use-annotation' } } } });
        const action = JSON.parse(ing.metadata.annotations[`alb.ingress.kubernetes.io/actions.${first.backend.service.name}`]);
        expect(action, env).toMatchObject({ type: 'fixed-response', fixedResponseConfig: { statusCode: '404' } });
      } else {
        const blocked = find(objs(env), 'Ingress', 'ope-blocked', 'ope') as J;
        expect(blocked.spec.ingressClassName, env).toBe(ing.spec.ingressClassName);
        expect(blocked.spec.rules, env).toEqual([
          { host, http: { paths: [{ path: '/metrics', pathType: 'Prefix', backend: { service: { name: 'ope', port: { number: 8000 } } } }] } },
        ]);
        expect(blocked.metadata.annotations['nginx.ingress.kubernetes.io/denylist-source-range'], env).toBe('0.0.0.0/0,::/0');
        expect(blocked.spec.tls, env).toEqual(ing.spec.tls);
      }
      // PREREQUISITES.md names the controller feature the block relies on
      const needs = clusterCapabilities(renderEnv(env)).filter((l) => l.includes('without it') || l.includes('without them'));
      expect(needs.join('\n'), env).toContain(cls === 'alb' ? 'Ingress ope/ope;' : 'Ingress ope/ope-blocked');
    }
  });

  it('OPE-5: Prometheus scrapes /metrics on the app port, and the monitoring namespace is allowed in', () => {
    for (const env of ENVS) {
      const sm = find(objs(env), 'ServiceMonitor', 'ope', 'ope') as J;
      const ep = sm.spec.endpoints[0];
      expect(ep.path, env).toBe('/metrics');
      // the endpoint's named port is the Service port that carries 8000
      const svcPort = service(env).spec.ports.find((p: J) => p.name === ep.port);
      expect(svcPort?.port, env).toBe(8000);
      // a ServiceMonitor selects Services by their labels, within its namespaceSelector
      const svcLabels = service(env).metadata.labels as Record<string, string>;
      expect(Object.keys(sm.spec.selector.matchLabels).length, env).toBeGreaterThan(0);
      for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svcLabels[k], `${env} ${k}`).toBe(v);
      expect(sm.spec.namespaceSelector.matchNames, env).toEqual([service(env).metadata.namespace]);
      const [selKey, selValue] = String(cfg(env).cluster.prometheusSelector ?? 'release=prometheus').split('=');
      expect(sm.metadata.labels[selKey!], env).toBe(selValue);
      const monitoringNs = cfg(env).cluster.monitoringNamespace ?? 'monitoring';
      const fromMonitoring = (policy(env).spec.ingress as J[]).filter((r) =>
        r.from.some((p: J) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === monitoringNs),
      );
      expect(fromMonitoring, env).toHaveLength(1);
      expect(fromMonitoring[0]!.ports, env).toEqual([{ port: 8000, protocol: 'TCP' }]);
      expectTrace(sm, 'OPE-5');
      expectTrace(policy(env), 'OPE-5');
    }
  });

  it('OPE-6: the runbook\'s five alerts plus upstream\'s queue backlog, on the app\'s metrics, critical ones to the pager', () => {
    const named = [...RUNBOOK.matchAll(/`(OPE[A-Za-z0-9]+)`/g)].map((m) => m[1]!);
    expect(new Set(named)).toEqual(new Set(['OPEHighHttpErrorRate', 'OPEHighLatencyP95', 'OPEThreadPoolRejections', 'OPERateLimitSpike', 'OPEPayloadRejections']));
    // the metric each alert section of the runbook tells the responder to look at
    const metric: Record<string, RegExp> = {
      OPEHighHttpErrorRate: /\bope_request_total\b/,
      OPEHighLatencyP95: /\bope_request_latency_seconds/,
      OPEThreadPoolRejections: /\bope_threadpool_(saturation_total|queue_depth|queue_wait_seconds)/,
      OPERateLimitSpike: /\bope_rate_limit_rejections_total\b/,
      OPEPayloadRejections: /\bope_payload_too_large_total\b/,
      OPEPersistentQueueBacklog: /\bope_threadpool_queue_depth\b/,
    };
    for (const env of ENVS) {
      const pr = find(objs(env), 'PrometheusRule', 'ope', 'ope') as J;
      const rules: J[] = pr.spec.groups.flatMap((g: J) => g.rules);
      expect(rules.map((r) => r.alert).sort(), env).toEqual([...new Set(named), 'OPEPersistentQueueBacklog'].sort());
      // the error ratio counts the app's 5xx counter (upstream rules.yml), never a `status` label
      expect(rules.find((r) => r.alert === 'OPEHighHttpErrorRate')!.expr, env).toMatch(/ope_request_errors_total/);
      for (const r of rules) expect(r.expr, `${env} ${r.alert}`).not.toMatch(/\bstatus\s*=/);
      for (const r of rules) {
        expect(r.expr, `${env} ${r.alert}`).toMatch(metric[r.alert]!);
        expect(['critical', 'warning'], `${env} ${r.alert}`).toContain(r.labels.severity);
        expect(r.annotations.runbook_url, `${env} ${r.alert}`).toMatch(/^https?:\/\//);
        expect(r.annotations.summary, `${env} ${r.alert}`).toBeTruthy();
      }
      // a burst of 5xx is an SLO breach: it pages
      expect(rules.find((r) => r.alert === 'OPEHighHttpErrorRate')!.labels.severity, env).toBe('critical');
      expectTrace(pr, 'OPE-6');
    }
  });

  it('OPE-7: stateless horizontal scaling with an HPA and a PDB, at each stack\'s configured range', () => {
    for (const env of ENVS) {
      const a = cfg(env).services.ope.autoscaling;
      const hpa = find(objs(env), 'HorizontalPodAutoscaler', 'ope', 'ope') as J;
      const pdb = find(objs(env), 'PodDisruptionBudget', 'ope', 'ope') as J;
      expect(hpa.spec.scaleTargetRef, env).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'ope' });
      expect([hpa.spec.minReplicas, hpa.spec.maxReplicas], env).toEqual([a.minReplicas, a.maxReplicas]);
      expect(hpa.spec.metrics[0].resource.target.averageUtilization, env).toBe(a.cpuUtilization);
      expect(deployment(env).spec.replicas, env).toBeUndefined();
      expect(pdb.spec.maxUnavailable, env).toBe(1);
      expect(pdb.spec.selector.matchLabels, env).toEqual(deployment(env).spec.selector.matchLabels);
      // no shared state: nothing persistent, nothing stateful in OPE's namespace (other services' stores live in theirs)
      for (const v of deployment(env).spec.template.spec.volumes ?? []) expect(v.persistentVolumeClaim, env).toBeUndefined();
      const opeNs = objs(env).filter((o) => o.metadata.namespace === 'ope');
      expect(opeNs.length, env).toBeGreaterThan(0);
      expect(opeNs.filter((o) => o.kind === 'StatefulSet' || o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name), env).toEqual([]);
      expectTrace(hpa, 'OPE-7');
      expectTrace(pdb, 'OPE-7');
    }
  });

  it('OPE-8: latency-sensitive environments run a smaller thread queue (prod smaller than dev)', () => {
    const queue = (env: string) => Number(containerEnv(env).OPE_THREAD_QUEUE_MAX);
    for (const env of ENVS) expect(queue(env), env).toBe(cfg(env).services.ope.threadQueueMax);
    expect(queue('prod')).toBeLessThan(queue('dev'));
    expect(queue('airgap')).toBeLessThan(queue('dev'));
    expect(queue('staging')).toBeLessThan(queue('dev'));
    for (const env of ENVS) {
      expectTrace(settings(env), 'OPE-8');
      expectTrace(deployment(env), 'OPE-8');
    }
    // a long queue in production is refused, not rendered
    const r = rawFromStackFile(readFileSync(join(ROOT, 'stacks', 'Pulumi.prod.yaml'), 'utf8'), 'stacks/Pulumi.prod.yaml').raw as J;
    r.services.ope.threadQueueMax = cfg('dev').services.ope.threadQueueMax;
    expect(() => parseStack(r, 'stacks/Pulumi.prod.yaml')).toThrow(/services\.ope\.threadQueueMax: .*latency-sensitive/);
  });

  it('OPE-9: JWKS rotation needs no redeploy: the JWKS URL is passed and egress to it stays open', () => {
    expect(RUNBOOK).toMatch(/OIDC signing keys are delivered via JWKS/);
    for (const env of OIDC_ENVS) {
      const oidc = cfg(env).services.ope.oidc;
      expect(containerEnv(env).OIDC_JWKS_URL, env).toBe(oidc.jwksUrl);
      expect(oidc.jwksUrl, env).toMatch(/^https:\/\//);
      const open = (policy(env).spec.egress as J[]).filter((r) => r.ports.some((p: J) => p.port === 443));
      expect(open.flatMap((r) => r.to.map((p: J) => p.ipBlock.cidr)).sort(), env).toEqual([...oidc.egressCidrs].sort());
      // keys are fetched at run time: no key material in any rendered object
      expect(JSON.stringify(objs(env)), env).not.toMatch(/"(kid|x5c|n|e)":/);
      expectTrace(settings(env), 'OPE-9');
      expectTrace(policy(env), 'OPE-9');
    }
  });
});

describe('cross-cutting concerns on the OPE stacks', () => {
  /** Every pod-running object of every service in the stack. */
  const pods = (env: string) => objs(env).filter((o) => ['Deployment', 'StatefulSet', 'Job', 'CronJob', 'DaemonSet'].includes(o.kind)) as J[];
  /** The pod template (a CronJob's is in its job template). */
  const template = (o: J): J => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template);
  const containersOf = (pod: J): J[] => [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
  const refOf = (o: J) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

  /**
   * The only deliberate relaxations of Pod Security "restricted" (OUB-10), as policies/rules.ts
   * honours them: the annotation `exception.stackbook.io/pod-security-restricted: <reason>` on the
   * object. Oubliette's container-runtime sidecar `runtime` and its dedicated namespace; nothing else.
   */
  const PSR_EXCEPTION = 'exception.stackbook.io/pod-security-restricted';
  const RELAXED: Record<string, readonly string[]> = { 'Namespace oub': [], 'Deployment oub/oubliette': ['runtime'] };
  function exceptionOf(o: J, env: string): string | undefined {
    const reason: string | undefined = o.metadata.annotations?.[PSR_EXCEPTION];
    if (reason !== undefined) {
      expect(Object.keys(RELAXED), `${env}: ${refOf(o)} relaxes Pod Security`).toContain(refOf(o));
      expect(reason, `${env}: ${refOf(o)} gives a reason`).toMatch(/^OUB-10: \S.{20,}/);
    }
    return reason;
  }

  it('X-1: every pod in every stack is hardened and every namespace enforces restricted', () => {
    for (const env of ENVS) {
      expect(pods(env).length, env).toBeGreaterThan(0);
      for (const d of pods(env)) {
        const at = `${env} ${refOf(d)}`;
        const pod = template(d).spec;
        // pod-level hardening is never relaxed, exception or not
        expect(pod.automountServiceAccountToken, at).toBe(false);
        expect(pod.securityContext.runAsNonRoot, at).toBe(true);
        expect(pod.securityContext.seccompProfile.type, at).toBe('RuntimeDefault');
        const relaxed: string[] = [];
        for (const c of containersOf(pod)) {
          for (const k of ['requests', 'limits']) expect(Object.keys(c.resources?.[k] ?? {}).sort(), `${at} ${c.name}`).toEqual(expect.arrayContaining(['cpu', 'memory']));
          const sc: J = c.securityContext ?? {};
          const hardened =
            sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false && sc.privileged !== true && sc.runAsUser !== 0 &&
            JSON.stringify(sc.capabilities?.drop) === '["ALL"]' && (sc.capabilities?.add ?? []).length === 0;
          if (!hardened) relaxed.push(c.name);
        }
        const reason = exceptionOf(d, env);
        if (relaxed.length > 0) {
          expect(reason, `${at}: containers ${relaxed.join(', ')} are not hardened and the object carries no reasoned exception`).toBeDefined();
          expect(RELAXED[refOf(d)], `${at}: only the listed containers may be relaxed`).toEqual(expect.arrayContaining(relaxed));
        }
        // an exception relaxes a sidecar, never the whole pod: the main containers stay hardened
        expect(pod.containers.filter((c: J) => relaxed.includes(c.name)).map((c: J) => c.name), at).toEqual([]);
        expectTrace(d, 'X-1');
      }
      for (const ns of objs(env).filter((o) => o.kind === 'Namespace')) {
        const at = `${env} ${refOf(ns)}`;
        const labels = ns.metadata.labels ?? {};
        if (labels['pod-security.kubernetes.io/enforce'] !== 'restricted') {
          expect(exceptionOf(ns, env), `${at} does not enforce restricted and carries no reasoned exception`).toBeDefined();
          expect(['baseline', 'privileged'], at).toContain(labels['pod-security.kubernetes.io/enforce']);
          // a relaxed namespace still warns and audits at restricted
          expect(labels['pod-security.kubernetes.io/warn'], at).toBe('restricted');
          expect(labels['pod-security.kubernetes.io/audit'], at).toBe('restricted');
        }
        expectTrace(ns, 'X-1');
      }
    }
  });

  it('X-2: HPA ranges are 1 ≤ min ≤ max with targets in 1–100, and each PDB leaves the minimum drainable', () => {
    for (const env of ENVS) {
      for (const hpa of objs(env).filter((o) => o.kind === 'HorizontalPodAutoscaler') as J[]) {
        expect(hpa.spec.minReplicas, env).toBeGreaterThanOrEqual(1);
        expect(hpa.spec.minReplicas, env).toBeLessThanOrEqual(hpa.spec.maxReplicas);
        for (const m of hpa.spec.metrics) {
          const u = m.resource?.target?.averageUtilization;
          if (u !== undefined) expect(u >= 1 && u <= 100, env).toBe(true);
        }
        const pdb = find(objs(env), 'PodDisruptionBudget', hpa.metadata.name, hpa.metadata.namespace) as J;
        expect(pdb.spec.minAvailable, env).toBeUndefined();
        expect(pdb.spec.maxUnavailable, env).toBeGreaterThanOrEqual(1);
        expectTrace(hpa, 'X-2');
        expectTrace(pdb, 'X-2');
      }
    }
  });

  it('X-3: every namespace has default deny + DNS, every pod an allow-list, and no rule opens to the world', () => {
    for (const env of ENVS) {
      const policies = objs(env).filter((o) => o.kind === 'NetworkPolicy') as J[];
      for (const ns of objs(env).filter((o) => o.kind === 'Namespace')) {
        const mine = policies.filter((p) => p.metadata.namespace === ns.metadata.name);
        const deny = mine.find((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress && !p.spec.egress);
        expect(deny?.spec.policyTypes, `${env} ${ns.metadata.name}`).toEqual(expect.arrayContaining(['Ingress', 'Egress']));
        const dns = mine.find((p) => (p.spec.egress ?? []).some((r: J) => r.ports?.some((x: J) => x.port === 53)));
        expect(dns, `${env} ${ns.metadata.name} DNS`).toBeDefined();
        expectTrace(deny!, 'X-3');
        expectTrace(dns!, 'X-3');
      }
      for (const d of pods(env)) {
        const labels = template(d).metadata.labels;
        const allow = policies.find(
          (p) => p.metadata.namespace === d.metadata.namespace && Object.keys(p.spec.podSelector.matchLabels ?? {}).length > 0 &&
            Object.entries(p.spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v),
        );
        expect(allow, `${env} ${refOf(d)}`).toBeDefined();
        expectTrace(allow!, 'X-3');
      }
      for (const p of policies) {
        for (const r of [...(p.spec.ingress ?? []).map((x: J) => x.from), ...(p.spec.egress ?? []).map((x: J) => x.to)]) {
          expect(r?.length, env).toBeGreaterThan(0);
          for (const peer of r) expect(peer.ipBlock?.cidr === '0.0.0.0/0' && !peer.ipBlock.except, env).toBe(false);
        }
      }
    }
  });

  it('X-4: every Ingress host has a Certificate from the stack\'s issuer: ACME when public, a private CA when air-gapped', () => {
    for (const env of ENVS) {
      const issuers = objs(env).filter((o) => o.kind === 'ClusterIssuer') as J[];
      if (cfg(env).cluster.issuer.kind === 'acm') {
        // an ALB serves ACM certificates (issue 14 item 2): no issuer, no Certificate; every Ingress names the ARN
        expect(issuers, env).toEqual([]);
        for (const ing of objs(env).filter((o) => o.kind === 'Ingress') as J[]) expect(ing.metadata.annotations['alb.ingress.kubernetes.io/certificate-arn'], env).toMatch(/^arn:aws:acm:/);
        continue;
      }
      expect(issuers, env).toHaveLength(1);
      const issuer = issuers[0]!;
      const c = cfg(env).cluster;
      if (c.airgapped || c.exposure === 'internal') {
        expect(issuer.spec.ca?.secretName, env).toBe(c.issuer.secretName);
        expect(issuer.spec.acme, env).toBeUndefined();
      } else {
        expect(issuer.spec.acme?.email, env).toBe(c.issuer.email);
        expect(issuer.spec.ca, env).toBeUndefined();
      }
      expectTrace(issuer, 'X-4');
      for (const ing of objs(env).filter((o) => o.kind === 'Ingress') as J[]) {
        for (const rule of ing.spec.rules) {
          const tls = ing.spec.tls.find((t: J) => t.hosts.includes(rule.host));
          expect(tls, `${env} ${rule.host}`).toBeDefined();
          const cert = objs(env).find((o) => o.kind === 'Certificate' && o.metadata.namespace === ing.metadata.namespace && (o as J).spec.secretName === tls.secretName) as J;
          expect(cert?.spec.dnsNames, env).toContain(rule.host);
          expect(cert.spec.issuerRef, env).toMatchObject({ kind: 'ClusterIssuer', name: issuer.metadata.name });
          expectTrace(cert, 'X-4');
        }
        expect(ing.metadata.annotations['stackbook.io/hsts'], env).toMatch(/max-age=\d+/);
        expectTrace(ing, 'X-4');
      }
    }
  });

  it('X-9: the four stacks load and differ sensibly (dev cheap, prod HA, airgap internal + private CA + mirrored images)', () => {
    const stacks = Object.fromEntries(ENVS.map((env) => [env, loadEnv(env)]));
    expect(Object.keys(stacks).sort()).toEqual(['airgap', 'dev', 'prod', 'staging']);
    const hpa = (env: string) => find(objs(env), 'HorizontalPodAutoscaler', 'ope', 'ope') as J;
    const cpuRequestMilli = (env: string) => {
      const v = String(container(env).resources.requests.cpu);
      return v.endsWith('m') ? Number(v.slice(0, -1)) : Number(v) * 1000;
    };
    // dev is cheap
    expect(stacks.dev!.tier).toBe('development');
    expect(hpa('dev').spec.maxReplicas).toBeLessThan(hpa('prod').spec.maxReplicas);
    expect(cpuRequestMilli('dev')).toBeLessThan(cpuRequestMilli('prod'));
    expect((find(objs('dev'), 'ClusterIssuer', 'stackbook-dev-acme') as J).spec.acme.server).toMatch(/staging/);
    // prod is highly available and strict
    expect(stacks.prod!.tier).toBe('production');
    expect(hpa('prod').spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(deployment('prod').spec.template.spec.topologySpreadConstraints.map((t: J) => t.topologyKey)).toContain('topology.kubernetes.io/zone');
    expect(container('prod').image).toMatch(/@sha256:[a-f0-9]{64}$/);
    // staging is production-like, smaller
    expect(hpa('staging').spec.maxReplicas).toBeLessThan(hpa('prod').spec.maxReplicas);
    expect(container('staging').image).toMatch(/@sha256:[a-f0-9]{64}$/);
    // airgap: internal only, private CA, every image from the mirror by digest
    const air = cfg('airgap').cluster;
    const airIngress = find(objs('airgap'), 'Ingress', 'ope', 'ope') as J;
    expect(airIngress.spec.ingressClassName).toMatch(/internal/);
    expect(airIngress.spec.ingressClassName).not.toBe((find(objs('dev'), 'Ingress', 'ope', 'ope') as J).spec.ingressClassName);
    expect(objs('airgap').find((o) => o.kind === 'ClusterIssuer')!.spec).toEqual({ ca: { secretName: air.issuer.secretName } });
    for (const d of pods('airgap')) {
      for (const c of containersOf(template(d).spec)) {
        expect(c.image.startsWith(`${air.registry}/`), `${refOf(d)} ${c.name}`).toBe(true);
        expect(c.image, `${refOf(d)} ${c.name}`).toMatch(/@sha256:[a-f0-9]{64}$/);
      }
    }
    // every image is an upstream one, relocated under the mirror by digest
    const images = renderEnv('airgap').images;
    expect(images.length).toBeGreaterThan(0);
    for (const i of images) {
      expect(i.source.startsWith(`${air.registry}/`), i.source).toBe(false);
      expect(i.source, i.source).toMatch(/@sha256:[a-f0-9]{64}$/);
      expect(i.reference, i.source).toBe(`${air.registry}/${i.source}`);
    }
    // only the air-gapped stack relocates images
    expect(container('prod').image.startsWith('ghcr.io/')).toBe(true);
  });
});

/**
 * Oscillink (runbook 000_4eed07ff97eda6d9.txt): one test per catalog concern OSC-1 … OSC-19 on the
 * rendered real stacks, each also checking the trace annotation, plus the variants (proxy, mesh,
 * external Redis, Firestore) on modified copies of them and every validation error with its path
 * and value. The stacks are rendered with the OSC block only (the other services' blocks are left
 * out, so this file judges OSC alone); expected values come from the runbook text and from the
 * stack files themselves (read with a plain YAML parser, not the loader).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as yaml from 'js-yaml';
import { ConfigError, parseStack, rawFromStackFile } from '../stacks/load.js';
import { render, type Manifest, type Rendered } from '../synth/render.js';
import { blocking, evaluate, looksSecret } from '../policies/manifest-rules.js';
import { airgapProblems, formatAirgapProblem } from '../synth/airgap.js';
import { osc, metricsAuthConfig } from '../services/osc.js';
import { OSC_METRICS_PORT } from '../stacks/osc-config.js';
import { CONTRACTS } from '../services/contracts.js';
import { workloadProblems } from '../policies/contract.js';
import { concernsOf, ENVS, find, renderEnv, ROOT, SHARED } from './helpers.js';
import { invalidManifests } from './schema.js';
import { coverageProblems, findPromtool, PROMTOOL_MISSING, readUnitTests, ruleSets, unitTestFileOf, alertsOf } from './promtool.js';

type J = Record<string, any>;

const RUNBOOK = readFileSync(join(SHARED, 'runbooks', '000_4eed07ff97eda6d9.txt'), 'utf8');
const HA_ENVS = ['staging', 'prod', 'airgap'] as const;
const NS = 'osc';

/** The `stackbook:` values of a stack file, read independently of the loader. */
function cfg(env: string): J {
  const doc = yaml.load(readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8')) as { config: J };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^stackbook:/, ''), v]));
}
const oscCfg = (env: string): J => cfg(env).services.osc;

/** A real stack with only the OSC service (and only OSC's secret sources), optionally changed. */
function rawOsc(env: string, change?: (r: J) => void): J {
  const file = `stacks/Pulumi.${env}.yaml`;
  const raw = rawFromStackFile(readFileSync(join(ROOT, file), 'utf8'), file).raw as J;
  raw.services = { osc: raw.services.osc };
  raw.secretSources = Object.fromEntries(Object.entries(raw.secretSources ?? {}).filter(([k]) => k.startsWith('osc-')));
  change?.(raw);
  return raw;
}
const parse = (env: string, change?: (r: J) => void) => parseStack(rawOsc(env, change), `stacks/Pulumi.${env}.yaml`);
const cache = new Map<string, Rendered>();
function rendered(env: string): Rendered {
  let r = cache.get(env);
  if (!r) cache.set(env, (r = render(parse(env))));
  return r;
}
const objs = (env: string) => rendered(env).objects;
const renderWith = (env: string, change: (r: J) => void) => render(parse(env, change)).objects;

/** The ConfigError lines of a changed stack (fails when it is accepted). */
function configErrors(env: string, change: (r: J) => void): string {
  try {
    render(parse(env, change));
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a configuration error, but the stack was accepted');
}

const deployment = (o: readonly Manifest[]) => find(o, 'Deployment', 'osc', NS) as J;
const containers = (o: readonly Manifest[]): J[] => deployment(o).spec.template.spec.containers;
const app = (o: readonly Manifest[]) => containers(o).find((c) => c.name === 'osc')!;
const settings = (o: readonly Manifest[]) => find(o, 'ConfigMap', 'osc-settings', NS) as J;
const policy = (o: readonly Manifest[]) => find(o, 'NetworkPolicy', 'osc', NS) as J;
const ingress = (o: readonly Manifest[]) => o.find((m) => m.kind === 'Ingress' && m.metadata.namespace === NS) as J | undefined;
const envOf = (o: readonly Manifest[]): Record<string, string> => settings(o).data;
const secretEnv = (o: readonly Manifest[], name: string) => (app(o).env as J[]).find((e) => e.name === name);

function expectTrace(o: Manifest | J, id: string) {
  expect(concernsOf(o as Manifest), `${o.kind} ${o.metadata.name} traces ${id}`).toContain(id);
}

/** Every (cidr or namespace) peer and port of the NetworkPolicy's egress rules, sorted. */
function egressOf(o: readonly Manifest[]): string[] {
  return ((policy(o).spec.egress ?? []) as J[])
    .flatMap((r) =>
      (r.to as J[]).map((p) => {
        const who = p.ipBlock?.cidr ?? `${p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']}/${Object.values(p.podSelector?.matchLabels ?? {}).join(',')}`;
        return `${who}:${(r.ports as J[]).map((x) => x.port).join(',')}`;
      }),
    )
    .sort();
}

describe('OSC — Oscillink', () => {
  it('OSC-1: liveness GET /health, readiness GET /license/status on the app port; start-up waits for /health', () => {
    expect(RUNBOOK).toMatch(/Liveness: GET \/health/);
    expect(RUNBOOK).toMatch(/Readiness: GET \/license\/status/);
    for (const env of ENVS) {
      const o = objs(env);
      const c = app(o);
      expect(c.livenessProbe.httpGet, env).toMatchObject({ path: '/health', port: 8000 });
      expect(c.readinessProbe.httpGet, env).toMatchObject({ path: '/license/status', port: 8000 });
      expect(c.startupProbe.httpGet, env).toMatchObject({ path: '/health', port: 8000 });
      expect(c.ports, env).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
      expect((find(o, 'Service', 'osc', NS) as J).spec.ports, env).toEqual([expect.objectContaining({ port: 8000, targetPort: 'http' })]);
      expectTrace(deployment(o), 'OSC-1');
      expectTrace(find(o, 'Service', 'osc', NS), 'OSC-1');
    }
    // the port is configurable, and probes, Service, Ingress and NetworkPolicy follow it
    const o = renderWith('dev', (r) => (r.services.osc.port = 8080));
    expect(app(o).readinessProbe.httpGet.port).toBe(8080);
    // the app listens where uvicorn's --port says (cloud/entrypoint.sh:32); it never reads PORT
    expect(app(o).args).toEqual(['--host', '0.0.0.0', '--port', '8080']);
    expect(envOf(o).PORT).toBeUndefined();
    expect(ingress(o)!.spec.rules[0].http.paths[0].backend.service.port.number).toBe(8080);
    expect(policy(o).spec.ingress[0].ports).toEqual([{ port: 8080, protocol: 'TCP' }]);
    expect(configErrors('dev', (r) => (r.services.osc.port = OSC_METRICS_PORT))).toContain(
      `config.stackbook:services.osc.port: must not be ${OSC_METRICS_PORT}: the metrics-auth sidecar listens there (got ${OSC_METRICS_PORT})`,
    );
  });

  it('OSC-2: OSCILLINK_LICENSE_REQUIRED is on in production (and staging), off in dev; the licence JWT is a read-only Secret file', () => {
    const expected: Record<string, string> = { dev: '0', staging: '1', prod: '1', airgap: '1' };
    for (const env of ENVS) {
      const o = objs(env);
      expect(envOf(o).OSCILLINK_LICENSE_REQUIRED, env).toBe(expected[env]);
      const vol = (deployment(o).spec.template.spec.volumes as J[]).find((v) => v.name === 'license')!;
      expect(vol.secret, env).toEqual({ secretName: 'osc-license', items: [{ key: 'oscillink.lic', path: 'oscillink.lic' }], defaultMode: 0o440, optional: expected[env] === '0' });
      // only the init container mounts it: the app never reads the licence (services/osc.contract.ts)
      expect((app(o).volumeMounts as J[]).find((m) => m.name === 'license'), env).toBeUndefined();
      // the licence file is read by the license-verify init container (tools/license_verify.py), not the app
      const verify = (deployment(o).spec.template.spec.initContainers as J[]).find((c) => c.name === 'license-verify')!;
      expect(verify.env, env).toContainEqual({ name: 'OSCILLINK_LICENSE_PATH', value: '/etc/oscillink/license/oscillink.lic' });
      expect(verify.volumeMounts, env).toContainEqual({ name: 'license', mountPath: '/etc/oscillink/license', readOnly: true });
      expect(envOf(o).OSCILLINK_LICENSE_PATH, env).toBeUndefined();
      expect(rendered(env).secrets.find((s) => s.name === 'osc-license'), env).toMatchObject({ namespace: NS, keys: ['oscillink.lic'], source: 'existing', consumers: ['osc'] });
      expectTrace(settings(o), 'OSC-2');
      expectTrace(deployment(o), 'OSC-2');
    }
    // the default follows the tier: prod's block does not set it
    expect(oscCfg('prod').license?.required).toBeUndefined();
    // off in production is refused unless waived with a reason
    expect(configErrors('prod', (r) => (r.services.osc.license.required = false))).toContain(
      'config.stackbook:services.osc.license.required: must be true in production (readiness fails on an expired or missing licence); set license.waiver to a reason to run unlicensed (got false)',
    );
    const waived = renderWith('prod', (r) => Object.assign(r.services.osc.license, { required: false, waiver: 'evaluation cluster, licence pending with the vendor' }));
    expect(envOf(waived).OSCILLINK_LICENSE_REQUIRED).toBe('0');
    // the licence id reaches the usage flusher (tools/usage_flush.py:105); the JWT itself never appears
    const flush = (deployment(objs('prod')).spec.template.spec.initContainers as J[]).find((c) => c.name === 'usage-flush')!;
    expect(flush.env).toContainEqual({ name: 'OSCILLINK_LICENSE_ID', value: oscCfg('prod').license.id });
  });

  it('OSC-3: OSCILLINK_ADMIN_SECRET comes from a Pulumi-generated Secret, and no Ingress publishes /admin', () => {
    for (const env of ENVS) {
      const o = objs(env);
      expect(secretEnv(o, 'OSCILLINK_ADMIN_SECRET'), env).toEqual({ name: 'OSCILLINK_ADMIN_SECRET', valueFrom: { secretKeyRef: { name: 'osc-admin', key: 'admin-secret' } } });
      expect(rendered(env).secrets.find((s) => s.name === 'osc-admin'), env).toMatchObject({ source: 'pulumi', pulumi: { 'admin-secret': { randomLength: 48 } } });
      expect(envOf(o).OSCILLINK_ADMIN_SECRET, env).toBeUndefined();
      const paths = (ingress(o)!.spec.rules as J[]).flatMap((r) => r.http.paths.map((p: J) => p.path));
      expect(paths.sort(), env).toEqual([...(oscCfg(env).publicPaths ?? ['/v1', '/health', '/license/status'])].sort());
      for (const p of paths) {
        expect(p, env).not.toBe('/');
        expect(p, env).not.toMatch(/^\/admin/i);
      }
      expectTrace(deployment(o), 'OSC-3');
      expectTrace(ingress(o)!, 'OSC-3');
    }
    // the public prefixes are validated: never /admin, never /, never a dot segment
    expect(configErrors('dev', (r) => (r.services.osc.publicPaths = ['/v1', '/admin/introspect']))).toContain(
      'config.stackbook:services.osc.publicPaths[1]: must not publish /admin: admin endpoints are never reachable through the ingress (OSC-3) (got "/admin/introspect")',
    );
    expect(configErrors('dev', (r) => (r.services.osc.publicPaths = ['/']))).toContain('config.stackbook:services.osc.publicPaths[0]: must not be "/"');
    expect(configErrors('dev', (r) => (r.services.osc.publicPaths = ['/v1/../admin']))).toContain('must not contain . or .. segments (got "/v1/../admin")');
    expect(configErrors('dev', (r) => (r.services.osc.publicPaths = ['/ADMIN']))).toContain('(got "/ADMIN")');
    const custom = renderWith('dev', (r) => (r.services.osc.publicPaths = ['/v1']));
    expect(ingress(custom)!.spec.rules[0].http.paths.map((p: J) => p.path)).toEqual(['/v1']);
  });

  it('OSC-4: with OSCILLINK_METRICS_PROTECTED the scrape authenticates through the metrics-auth sidecar; /metrics is never public', () => {
    expect(RUNBOOK).toMatch(/OSCILLINK_METRICS_PROTECTED=1` to require admin header for GET \/metrics/);
    for (const env of ENVS) {
      const o = objs(env);
      expect(envOf(o).OSCILLINK_METRICS_PROTECTED, env).toBe('1');
      const sm = find(o, 'ServiceMonitor', 'osc', NS) as J;
      expect(sm.spec.endpoints, env).toEqual([
        { port: 'metrics', path: '/metrics', interval: '30s', scheme: 'http', authorization: { type: 'Bearer', credentials: { name: 'osc-admin', key: 'admin-secret' } } },
      ]);
      // the ServiceMonitor selects exactly the metrics Service, whose port reaches the sidecar
      const svc = find(o, 'Service', 'osc-metrics', NS) as J;
      for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k], env).toBe(v);
      expect(sm.spec.selector.matchLabels['app.kubernetes.io/component'], 'the app Service is not scraped directly').toBe('metrics');
      expect(svc.spec.ports, env).toEqual([{ name: 'metrics', port: OSC_METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }]);
      const sidecar = containers(o).find((c) => c.name === 'metrics-auth')!;
      expect(sidecar.ports, env).toEqual([{ name: 'metrics', containerPort: OSC_METRICS_PORT, protocol: 'TCP' }]);
      expect(sidecar.env, 'the sidecar holds no secret').toBeUndefined();
      expect(sidecar.image, env).toMatch(/haproxy/);
      // Prometheus may reach the sidecar port, nothing else from the monitoring namespace
      const fromMonitoring = (policy(o).spec.ingress as J[]).filter((r) => r.from.some((p: J) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring'));
      expect(fromMonitoring.map((r) => r.ports), env).toEqual([[{ port: OSC_METRICS_PORT, protocol: 'TCP' }]]);
      for (const p of (ingress(o)!.spec.rules as J[]).flatMap((r) => r.http.paths.map((x: J) => x.path))) expect(p, env).not.toMatch(/^\/metrics/i);
      for (const x of [settings(o), sm, svc, deployment(o), ingress(o)!]) expectTrace(x, 'OSC-4');
    }
    // the sidecar answers GET /metrics only, demands a bearer token and hands it to the app as X-Admin-Secret
    const conf = find(objs('prod'), 'ConfigMap', 'osc-metrics-auth', NS) as J;
    expect(conf.data['haproxy.cfg']).toBe(metricsAuthConfig(8000));
    const lines = metricsAuthConfig(8000).split('\n').map((l) => l.trim());
    expect(lines).toContain('http-request deny deny_status 404 unless METH_GET { path /metrics }');
    expect(lines).toContain('http-request deny deny_status 401 unless { req.hdr(authorization) -m reg -i ^Bearer[[:space:]]+[^[:space:]]+$ }');
    expect(lines.some((l) => l.startsWith('http-request set-header X-Admin-Secret %[req.hdr(authorization),regsub('))).toBe(true);
    expect(lines).toContain('http-request del-header Authorization');
    expect(lines).toContain('server app 127.0.0.1:8000');
    expect(lines.indexOf('http-request deny deny_status 404 unless METH_GET { path /metrics }')).toBeLessThan(lines.indexOf('default_backend app'));
    // the pods roll when the sidecar config changes
    expect(deployment(objs('prod')).spec.template.metadata.annotations['checksum.stackbook.io/configmap-osc-metrics-auth']).toMatch(/^[a-f0-9]{64}$/);
    // off: a plain scrape of the app port, no sidecar, no token
    const off = renderWith('prod', (r) => (r.services.osc.metricsProtected = false));
    expect(envOf(off).OSCILLINK_METRICS_PROTECTED).toBe('0');
    expect((find(off, 'ServiceMonitor', 'osc', NS) as J).spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s', scheme: 'http' }]);
    expect(containers(off).map((c) => c.name)).toEqual(['osc']);
    expect(off.some((m) => m.metadata.name === 'osc-metrics-auth' || m.metadata.name === 'osc-metrics')).toBe(false);
  });

  it('OSC-5: ingress only to the service port from the ingress controller and monitoring; egress only to DNS, Redis and the JWKS/usage endpoints', () => {
    for (const env of ENVS) {
      const o = objs(env);
      const c = cfg(env).cluster;
      const np = policy(o);
      expect(np.spec.podSelector, env).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'osc' } });
      expect(np.spec.policyTypes, env).toEqual(['Ingress', 'Egress']);
      const [fromIngress, fromMonitoring, ...more] = np.spec.ingress as J[];
      expect(more, env).toEqual([]);
      const peers = c.ingressClass === 'alb' ? c.loadBalancerCidrs.map((cidr: string) => ({ ipBlock: { cidr } })) : [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.ingressNamespace ?? 'ingress-nginx' } } }];
      expect(fromIngress, env).toEqual({ from: peers, ports: [{ port: 8000, protocol: 'TCP' }] });
      expect(fromMonitoring.from, env).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.monitoringNamespace ?? 'monitoring' } } }]);
      const s = oscCfg(env);
      const endpoints = [...new Set([...(s.jwks?.egressCidrs ?? []), ...(s.usage?.egressCidrs ?? [])])].map((cidr) => `${cidr}:443`);
      const wanted = [`${NS}/redis:6379`, ...endpoints];
      expect([...new Set(egressOf(o))].sort(), env).toEqual(wanted.sort());
      // default deny for the namespace, DNS only
      expect((find(o, 'NetworkPolicy', 'default-deny', NS) as J).spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      expect((find(o, 'NetworkPolicy', 'allow-dns', NS) as J).spec.egress[0].ports.map((p: J) => p.port)).toEqual([53, 53]);
      for (const name of ['osc', 'default-deny', 'allow-dns']) expectTrace(find(o, 'NetworkPolicy', name, NS), 'OSC-5');
    }
  });

  it('OSC-6: JSON access logs with OSCILLINK_LOG_SAMPLE from config, validated in [0.0, 1.0]', () => {
    expect(RUNBOOK).toMatch(/`OSCILLINK_LOG_SAMPLE` in \[0\.0,1\.0\]/);
    for (const env of ENVS) {
      const e = envOf(objs(env));
      expect(e.OSCILLINK_JSON_LOGS, env).toBe('1');
      expect(e.OSCILLINK_LOG_SAMPLE, env).toBe(String(oscCfg(env).logging?.sample ?? 1));
      expectTrace(settings(objs(env)), 'OSC-6');
    }
    expect(envOf(objs('prod')).OSCILLINK_LOG_SAMPLE).toBe('0.2');
    for (const bad of [1.5, -0.1]) {
      expect(configErrors('dev', (r) => (r.services.osc.logging = { sample: bad }))).toContain(
        `config.stackbook:services.osc.logging.sample: must be within [0.0, 1.0] (the share of requests logged) (got ${bad})`,
      );
    }
    expect(envOf(renderWith('dev', (r) => (r.services.osc.logging = { json: false, sample: 0 })))).toMatchObject({ OSCILLINK_JSON_LOGS: '0', OSCILLINK_LOG_SAMPLE: '0' });
  });

  it('OSC-7: HPA 2–6 at 65 % CPU by default, per-environment overrides within 50–80 % and ≥ 2 replicas outside dev, plus a PDB', () => {
    expect(RUNBOOK).toMatch(/HPA: start 2–6 replicas; target 60–70% CPU/);
    for (const env of ENVS) {
      const o = objs(env);
      const hpa = find(o, 'HorizontalPodAutoscaler', 'osc', NS) as J;
      const a = oscCfg(env).autoscaling;
      expect([hpa.spec.minReplicas, hpa.spec.maxReplicas], env).toEqual([a.minReplicas, a.maxReplicas]);
      expect(hpa.spec.metrics[0].resource.target.averageUtilization, env).toBe(a.cpuUtilization);
      expect(hpa.spec.scaleTargetRef, env).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'osc' });
      expect(deployment(o).spec.replicas, 'the HPA owns replicas').toBeUndefined();
      const pdb = find(o, 'PodDisruptionBudget', 'osc', NS) as J;
      expect(pdb.spec.maxUnavailable, env).toBe(1);
      expectTrace(hpa, 'OSC-7');
      expectTrace(pdb, 'OSC-7');
      if (env !== 'dev') expect(a.minReplicas, env).toBeGreaterThanOrEqual(2);
    }
    // the default when a stack does not say
    const d = parse('prod', (r) => delete r.services.osc.autoscaling).services.osc!.autoscaling;
    expect(d).toEqual({ minReplicas: 2, maxReplicas: 6, cpuUtilization: 65 });
    // bounds, with the stack path and the value
    expect(configErrors('prod', (r) => (r.services.osc.autoscaling.cpuUtilization = 90))).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:services.osc.autoscaling.cpuUtilization: must be 50–80 % (runbook: target 60–70 % CPU, refined with real traffic) (got 90)',
    );
    expect(configErrors('dev', (r) => (r.services.osc.autoscaling.cpuUtilization = 40))).toContain('autoscaling.cpuUtilization: must be 50–80 %');
    expect(configErrors('prod', (r) => (r.services.osc.autoscaling.minReplicas = 1))).toContain(
      'config.stackbook:services.osc.autoscaling.minReplicas: must be ≥ 2 in production stacks (runbook: start at 2–6 replicas) (got 1)',
    );
    expect(configErrors('staging', (r) => Object.assign(r.services.osc.autoscaling, { minReplicas: 5, maxReplicas: 3 }))).toContain(
      'config.stackbook:services.osc.autoscaling.minReplicas: must be ≤ maxReplicas (3) (got 5)',
    );
    const tuned = renderWith('dev', (r) => (r.services.osc.autoscaling = { minReplicas: 1, maxReplicas: 3, cpuUtilization: 80 }));
    expect((find(tuned, 'HorizontalPodAutoscaler', 'osc', NS) as J).spec.metrics[0].resource.target.averageUtilization).toBe(80);
  });

  it('OSC-8: the per-key cache is on with the app\'s TTL and capacity unless configured', () => {
    for (const env of ENVS) {
      expect(envOf(objs(env)), env).toMatchObject({ OSCILLINK_CACHE_ENABLE: '1', OSCILLINK_CACHE_TTL: '300', OSCILLINK_CACHE_CAP: '128' });
      expectTrace(settings(objs(env)), 'OSC-8');
    }
    const o = renderWith('dev', (r) => (r.services.osc.cache = { enabled: false, ttlSeconds: 60, cap: 16 }));
    expect(envOf(o)).toMatchObject({ OSCILLINK_CACHE_ENABLE: '0', OSCILLINK_CACHE_TTL: '60', OSCILLINK_CACHE_CAP: '16' });
    expect(configErrors('dev', (r) => (r.services.osc.cache = { cap: 0 }))).toContain('config.stackbook:services.osc.cache.cap: must be ≥ 1 (got 0)');
  });

  it('OSC-9: global, per-IP and per-endpoint rate limits reach the app under its own variable names', () => {
    const prod = oscCfg('prod').rateLimits;
    const e = envOf(objs('prod'));
    expect(e).toMatchObject({
      OSCILLINK_RATE_LIMIT: String(prod.global.limit),
      OSCILLINK_RATE_WINDOW: String(prod.global.windowSeconds),
      OSCILLINK_EPRL_CLI_START_LIMIT: String(prod.endpoints.CLI_START.limit),
      OSCILLINK_EPRL_CLI_START_WINDOW: '60',
      OSCILLINK_EPRL_CLI_POLL_LIMIT: String(prod.endpoints.CLI_POLL.limit),
      OSCILLINK_TRUST_XFF: '0',
    });
    expect(e.OSCILLINK_IP_RATE_LIMIT, 'per-IP is off unless configured').toBeUndefined();
    // unset limits are off (the licence's entitlements are not sourced): dev renders none
    expect(Object.keys(envOf(objs('dev'))).filter((k) => /RATE|EPRL/.test(k))).toEqual([]);
    const o = renderWith('dev', (r) => (r.services.osc.rateLimits = { perIp: { limit: 30, windowSeconds: 10 }, trustForwardedFor: true, endpoints: { CLI_POLL: { limit: 5 } } }));
    expect(envOf(o)).toMatchObject({ OSCILLINK_IP_RATE_LIMIT: '30', OSCILLINK_IP_RATE_WINDOW: '10', OSCILLINK_TRUST_XFF: '1', OSCILLINK_EPRL_CLI_POLL_LIMIT: '5' });
    expectTrace(settings(o), 'OSC-9');
    // only the endpoints the app reads (cloud/app/main.py:1521, 1575): anything else is a config error, not a dead variable
    expect(configErrors('dev', (r) => (r.services.osc.rateLimits = { endpoints: { 'cli-start': { limit: 1 } } }))).toContain('config.stackbook:services.osc.rateLimits.endpoints.cli-start');
    expect(configErrors('dev', (r) => (r.services.osc.rateLimits = { endpoints: { SETTLE: { limit: 1 } } }))).toContain('config.stackbook:services.osc.rateLimits.endpoints.SETTLE');
    expect(configErrors('dev', (r) => (r.services.osc.rateLimits = { global: { limit: 0 } }))).toContain('config.stackbook:services.osc.rateLimits.global.limit: must be ≥ 1 (got 0)');
  });

  it('OSC-10: per-key node-unit quota and monthly cap, when configured', () => {
    const q = oscCfg('prod').quota;
    const prod = objs('prod');
    expect(envOf(prod)).toMatchObject({ OSCILLINK_KEY_NODE_UNITS_LIMIT: String(q.nodeUnitsLimit), OSCILLINK_KEY_NODE_UNITS_WINDOW: String(q.nodeUnitsWindowSeconds) });
    expectTrace(settings(prod), 'OSC-10');
    expect(Object.keys(envOf(objs('dev'))).filter((k) => /NODE_UNITS|MONTHLY/.test(k)), 'left to the licence by default').toEqual([]);
    expect(concernsOf(settings(objs('dev')) as Manifest)).not.toContain('OSC-10');
    const o = renderWith('dev', (r) => (r.services.osc.quota = { nodeUnitsLimit: 1000, monthlyCap: 5000000 }));
    expect(envOf(o)).toMatchObject({ OSCILLINK_KEY_NODE_UNITS_LIMIT: '1000', OSCILLINK_KEY_NODE_UNITS_WINDOW: '3600', OSCILLINK_MONTHLY_CAP: '5000000' });
    expect(configErrors('dev', (r) => (r.services.osc.quota = { monthlyCap: -1 }))).toContain('config.stackbook:services.osc.quota.monthlyCap: must be ≥ 1 (got -1)');
  });

  it('OSC-11: OSCILLINK_FEAT_* come from a typed map of the features the app has', () => {
    expect(RUNBOOK).toMatch(/OSCILLINK_FEAT_DIFFUSION_GATES=1/);
    for (const env of ENVS) {
      expect(envOf(objs(env)).OSCILLINK_FEAT_DIFFUSION_GATES, env).toBe('1');
      expectTrace(settings(objs(env)), 'OSC-11');
    }
    const o = renderWith('dev', (r) => (r.services.osc.features = { DIFFUSION_GATES: false, PRIORITY_QUEUE: true }));
    expect(Object.entries(envOf(o)).filter(([k]) => k.startsWith('OSCILLINK_FEAT_')).sort()).toEqual([
      ['OSCILLINK_FEAT_DIFFUSION_GATES', '0'],
      ['OSCILLINK_FEAT_PRIORITY_QUEUE', '1'],
    ]);
    // the app overlays only the keys of its tier map (cloud/app/features.py:63-65): ADAPTIVE_PROFILES is no feature
    expect(configErrors('dev', (r) => (r.services.osc.features = { ADAPTIVE_PROFILES: true }))).toContain('config.stackbook:services.osc.features.ADAPTIVE_PROFILES');
    expect(configErrors('dev', (r) => (r.services.osc.features = { diffusionGates: true }))).toContain('config.stackbook:services.osc.features.diffusionGates');
    expect(configErrors('dev', (r) => (r.services.osc.features = { DIFFUSION_GATES: 'yes' }))).toContain('config.stackbook:services.osc.features.DIFFUSION_GATES: must be boolean (got "yes")');
  });

  it('OSC-12: Redis state and CLI sessions, the URL from a Secret; the Redis runs replicated in production', () => {
    for (const env of ENVS) {
      const o = objs(env);
      expect(envOf(o), env).toMatchObject({ OSCILLINK_STATE_BACKEND: 'redis', OSCILLINK_CLI_SESSIONS_BACKEND: 'redis', OSCILLINK_CLI_TTL: '900' });
      expect(secretEnv(o, 'OSCILLINK_REDIS_URL'), env).toEqual({ name: 'OSCILLINK_REDIS_URL', valueFrom: { secretKeyRef: { name: 'osc-redis', key: 'url' } } });
      expect(rendered(env).secrets.find((s) => s.name === 'osc-redis'), env).toMatchObject({
        source: 'pulumi',
        keys: ['password', 'url'],
        pulumi: { password: { randomLength: 32 }, url: { template: 'redis://:{password}@redis.osc.svc:6379/0' } },
      });
      const replicas: number = oscCfg(env).redis.replicas;
      const sts = find(o, 'StatefulSet', replicas > 1 ? 'redis-node' : 'redis', NS) as J;
      expect(sts.spec.replicas, env).toBe(replicas);
      if (replicas > 1) {
        // Sentinel members behind HAProxy: the client Service `redis` (the URL's host) reaches the primary only
        const proxy = find(o, 'Deployment', 'redis', NS) as J;
        expect(proxy.spec.template.spec.containers.map((c: J) => c.image).join(' '), env).toMatch(/haproxy/);
        expect((find(o, 'Service', 'redis', NS) as J).spec.ports.map((p: J) => p.port), env).toEqual([6379]);
        expectTrace(proxy, 'OSC-12');
      }
      expect(egressOf(o), env).toContain(`${NS}/redis:6379`);
      expectTrace(settings(o), 'OSC-12');
      expectTrace(sts, 'OSC-12');
      expectTrace(sts, 'X-5');
    }
    for (const env of HA_ENVS) expect(oscCfg(env).redis.replicas, env).toBeGreaterThanOrEqual(3);
    expect(configErrors('prod', (r) => (r.services.osc.redis = { mode: 'in-cluster', replicas: 1 }))).toContain(
      'config.stackbook:services.osc.redis.replicas: must be ≥ 3 in production: a single Redis is a single point of failure (Sentinel fails over with a majority of three) (got 1)',
    );
    // the production default is replicated
    expect(configErrors('prod', (r) => (r.services.osc.redis = { mode: 'in-cluster', replicas: 2 }))).toContain('(got 2)');
    const ttl = renderWith('dev', (r) => (r.services.osc.cliTtlSeconds = 1800));
    expect(envOf(ttl).OSCILLINK_CLI_TTL).toBe('1800');
    // external Redis: egress policy to its CIDRs, URL Secret from the operator, no StatefulSet
    const ext = render(parse('prod', (r) => (r.services.osc.redis = { mode: 'external', host: 'redis.corp.internal', port: 6380, cidrs: ['10.30.0.5/32'] })));
    expect(ext.objects.some((m) => m.kind === 'StatefulSet')).toBe(false);
    const np = find(ext.objects, 'NetworkPolicy', 'redis-egress-osc', NS) as J;
    expect(np.spec.egress).toEqual([{ to: [{ ipBlock: { cidr: '10.30.0.5/32' } }], ports: [{ port: 6380, protocol: 'TCP' }] }]);
    expect(ext.secrets.find((s) => s.name === 'osc-redis')).toMatchObject({ source: 'existing', keys: ['url'] });
    expect(secretEnv(ext.objects, 'OSCILLINK_REDIS_URL').valueFrom.secretKeyRef).toEqual({ name: 'osc-redis', key: 'url' });
    expectTrace(np, 'OSC-12');
  });

  it('OSC-13: TLS through cert-manager; Ingress class and annotations for nginx or the AWS ALB per cluster', () => {
    for (const env of ENVS) {
      const o = objs(env);
      const c = cfg(env).cluster;
      const ing = ingress(o)!;
      const host = `osc.${c.domain}`;
      const a = ing.metadata.annotations;
      if (c.ingressClass === 'alb') {
        // the ALB serves an ACM certificate, never a cert-manager Secret (issue 14 item 2)
        expect(ing.spec.tls, env).toEqual([{ hosts: [host] }]);
        expect(o.some((x) => x.kind === 'Certificate' && x.metadata.namespace === NS), env).toBe(false);
        expect(ing.spec.ingressClassName, env).toBe('alb');
        expect(a['alb.ingress.kubernetes.io/scheme'], env).toBe(c.exposure === 'public' ? 'internet-facing' : 'internal');
        // the ALB health-checks the pods itself: on their readiness path, not / (404)
        expect(a['alb.ingress.kubernetes.io/healthcheck-path'], env).toBe('/license/status');
      } else {
        expect(ing.spec.tls, env).toEqual([{ hosts: [host], secretName: 'osc-tls' }]);
        const cert = find(o, 'Certificate', 'osc', NS) as J;
        expect(cert.spec.dnsNames, env).toEqual([host]);
        expect(cert.spec.issuerRef.name, env).toBe(`stackbook-${env}-${c.issuer.kind}`);
        expect(ing.spec.ingressClassName, env).toBe(c.exposure === 'internal' ? 'nginx-internal' : 'nginx');
        expect(a['nginx.ingress.kubernetes.io/force-ssl-redirect'], env).toBe('true');
        expect(Object.keys(a).filter((k) => /snippet/.test(k)), 'no configuration snippets').toEqual([]);
      }
      expectTrace(ing, 'OSC-13');
      if (c.ingressClass !== 'alb') expectTrace(find(o, 'Certificate', 'osc', NS) as J, 'OSC-13');
    }
    expect(cfg('prod').cluster.ingressClass).toBe('alb');
  });

  it('OSC-14: private clusters: strict egress to each endpoint, or everything through a proxy with NO_PROXY for the cluster', () => {
    // strict (the default): the endpoints' CIDRs, no proxy variables
    const strict = objs('prod');
    expect(envOf(strict).HTTPS_PROXY).toBeUndefined();
    expectTrace(policy(strict), 'OSC-14');
    expect(configErrors('prod', (r) => delete r.services.osc.jwks.egressCidrs)).toContain(
      'config.stackbook:services.osc.jwks.egressCidrs: required with egress.mode strict: NetworkPolicies open egress to addresses, not host names',
    );
    // proxy: HTTP(S)_PROXY, NO_PROXY with the cluster names and Redis, egress only to the proxy (and Redis)
    const proxied = renderWith('prod', (r) => {
      r.services.osc.egress = { mode: 'proxy', url: 'http://proxy.corp.internal:3128', cidrs: ['10.0.0.10/32'], noProxy: ['.corp.internal'] };
    });
    const e = envOf(proxied);
    expect(e.HTTP_PROXY).toBe('http://proxy.corp.internal:3128');
    expect(e.HTTPS_PROXY).toBe('http://proxy.corp.internal:3128');
    expect(e.NO_PROXY!.split(',')).toEqual(['localhost', '127.0.0.1', '.svc', '.cluster.local', 'redis.osc.svc', '.corp.internal']);
    expect(egressOf(proxied)).toEqual(['10.0.0.10/32:3128', `${NS}/redis:6379`]);
    expectTrace(settings(proxied), 'OSC-14');
    expectTrace(policy(proxied), 'OSC-14');
    // the external Redis host bypasses the proxy too
    const ext = renderWith('prod', (r) => {
      r.services.osc.egress = { mode: 'proxy', url: 'http://proxy.corp.internal:3128', cidrs: ['10.0.0.10/32'] };
      r.services.osc.redis = { mode: 'external', host: 'cache.corp.internal', cidrs: ['10.30.0.5/32'] };
    });
    expect(envOf(ext).NO_PROXY!.split(',')).toContain('cache.corp.internal');
    // a proxy URL never carries credentials (they would land in the ConfigMap)
    expect(configErrors('prod', (r) => (r.services.osc.egress = { mode: 'proxy', url: 'http://u:p@proxy.corp.internal:3128', cidrs: ['10.0.0.10/32'] }))).toContain(
      'config.stackbook:services.osc.egress.url: must not carry credentials (user:password@): they would land in a ConfigMap',
    );
  });

  it('OSC-15: behind a mesh no Ingress at all, only the ClusterIP Service reached from the gateway; internal exposure uses the internal class', () => {
    const mesh = renderWith('prod', (r) => {
      r.services.osc.exposure = 'mesh';
      r.services.osc.mesh = { namespace: 'istio-system' };
    });
    expect(mesh.filter((m) => m.metadata.namespace === NS && (m.kind === 'Ingress' || m.kind === 'Certificate'))).toEqual([]);
    expect((find(mesh, 'Service', 'osc', NS) as J).spec.type).toBe('ClusterIP');
    expect(policy(mesh).spec.ingress[0]).toEqual({ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } } }], ports: [{ port: 8000, protocol: 'TCP' }] });
    expectTrace(policy(mesh), 'OSC-15');
    expectTrace(find(mesh, 'Service', 'osc', NS), 'OSC-15');
    expect(configErrors('prod', (r) => (r.services.osc.exposure = 'mesh'))).toContain(
      'config.stackbook:services.osc.mesh.namespace: required with exposure mesh: the namespace of the mesh ingress gateway allowed in',
    );
    // the air-gapped stack is internal: internal class, traced
    expect(cfg('airgap').cluster.exposure).toBe('internal');
    const air = ingress(objs('airgap'))!;
    expect(air.spec.ingressClassName).toBe('nginx-internal');
    expectTrace(air, 'OSC-15');
    // internal on a public ALB cluster: internal scheme
    // (an ACM certificate serves an internal ALB too: no private CA needed there)
    const internal = renderWith('prod', (r) => {
      r.services.osc.exposure = 'internal';
    });
    expect(ingress(internal)!.metadata.annotations['alb.ingress.kubernetes.io/scheme']).toBe('internal');
    expect(configErrors('staging', (r) => (r.services.osc.exposure = 'internal'))).toContain('config.stackbook:services.osc.exposure: internal needs a private CA');
  });

  it('OSC-16: the image is pinned by digest where required, and the namespace is opted in to cosign admission', () => {
    for (const env of HA_ENVS) {
      const o = objs(env);
      const digest = oscCfg(env).image.digest;
      expect(digest, env).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(app(o).image, env).toMatch(new RegExp(`@${digest}$`));
      expect(app(o).imagePullPolicy, env).toBe('IfNotPresent');
      expectTrace(deployment(o), 'OSC-16');
      expect(configErrors(env, (r) => delete r.services.osc.image.digest), env).toContain(`config.stackbook:services.osc.image.digest: required in`);
    }
    expect(app(objs('airgap')).image).toMatch(/^registry\.corp\.internal:5000\/mirror\/ghcr\.io\/acme\/oscillink:/);
    for (const env of ENVS) {
      const nsObj = find(objs(env), 'Namespace', NS) as J;
      expect(nsObj.metadata.labels['policy.sigstore.dev/include'], env).toBe('true');
      expectTrace(nsObj, 'OSC-16');
    }
  });

  it('OSC-17: JWKS URL, TTL and offline grace reach the licence verification, egress to the JWKS host is open, and a required licence needs them', () => {
    for (const env of ENVS) {
      const j = oscCfg(env).jwks;
      const o = objs(env);
      // read by tools/license_verify.py (init container), never by the app
      const verify = (deployment(o).spec.template.spec.initContainers as J[]).find((c) => c.name === 'license-verify')!;
      expect(verify.env, env).toEqual(
        expect.arrayContaining([
          { name: 'OSCILLINK_JWKS_URL', value: j.url },
          { name: 'OSCILLINK_JWKS_TTL', value: String(j.ttlSeconds ?? 3600) },
          { name: 'OSCILLINK_JWKS_OFFLINE_GRACE', value: String(j.offlineGraceSeconds ?? 86400) },
        ]),
      );
      expect(Object.keys(envOf(o)).filter((k) => k.startsWith('OSCILLINK_JWKS')), env).toEqual([]);
      for (const cidr of j.egressCidrs) expect(egressOf(o), env).toContain(`${cidr}:443`);
      expectTrace(deployment(o), 'OSC-17');
      expectTrace(policy(o), 'OSC-17');
    }
    expect(new URL(oscCfg('airgap').jwks.url).hostname).toMatch(/\.corp\.internal$/);
    // a non-default port is the one opened
    const port = renderWith('dev', (r) => (r.services.osc.jwks = { url: 'https://jwks.corp.internal:8443/keys', egressCidrs: ['10.9.9.9/32'] }));
    expect(egressOf(port)).toContain('10.9.9.9/32:8443');
    expect(configErrors('prod', (r) => delete r.services.osc.jwks)).toContain(
      'config.stackbook:services.osc.jwks.url: required when the licence is required (license.required, default on in production): the licence JWT is verified against it',
    );
    expect(configErrors('dev', (r) => (r.services.osc.jwks.ttlSeconds = 10))).toContain('config.stackbook:services.osc.jwks.ttlSeconds: must be ≥ 60 (got 10)');
    expect(configErrors('dev', (r) => (r.services.osc.jwks.url = 'http://license.oscillink.com/jwks'))).toContain('config.stackbook:services.osc.jwks.url: must be an https:// URL');
  });

  it('OSC-18: API key store mode: env (keys from a Secret) or Firestore (credentials Secret, egress)', () => {
    for (const env of ENVS) {
      const o = objs(env);
      expect(envOf(o).OSCILLINK_KEYSTORE_BACKEND, env).toBe('memory');
      expect(secretEnv(o, 'OSCILLINK_API_KEYS'), env).toEqual({ name: 'OSCILLINK_API_KEYS', valueFrom: { secretKeyRef: { name: 'osc-api-keys', key: 'api-keys' } } });
      expectTrace(settings(o), 'OSC-18');
      expectTrace(deployment(o), 'OSC-18');
    }
    const fs = render(
      parse('prod', (r) => (r.services.osc.keyStore = { mode: 'firestore', projectId: 'acme-oscillink', egressCidrs: ['199.36.153.8/30'] })),
    );
    expect(envOf(fs.objects)).toMatchObject({
      OSCILLINK_KEYSTORE_BACKEND: 'firestore',
      OSCILLINK_FIRESTORE_COLLECTION: 'oscillink_api_keys',
      GOOGLE_CLOUD_PROJECT: 'acme-oscillink',
      CLOUDSDK_CONFIG: '/etc/oscillink/gcloud',
    });
    expect(secretEnv(fs.objects, 'OSCILLINK_API_KEYS')).toBeUndefined();
    const vol = (deployment(fs.objects).spec.template.spec.volumes as J[]).find((v) => v.name === 'gcloud')!;
    expect(vol.secret).toMatchObject({ secretName: 'osc-firestore', items: [{ key: 'application_default_credentials.json', path: 'application_default_credentials.json' }], optional: false });
    expect((app(fs.objects).volumeMounts as J[]).find((m) => m.name === 'gcloud')).toEqual({ name: 'gcloud', mountPath: '/etc/oscillink/gcloud', readOnly: true });
    expect(fs.secrets.find((s) => s.name === 'osc-firestore')).toMatchObject({ source: 'existing' });
    expect(egressOf(fs.objects)).toContain('199.36.153.8/30:443');
    expectTrace(policy(fs.objects), 'OSC-18');
    expect(configErrors('airgap', (r) => (r.services.osc.keyStore = { mode: 'firestore', projectId: 'acme-oscillink', egressCidrs: ['10.1.1.1/32'] }))).toContain(
      'config.stackbook:services.osc.keyStore.mode: firestore is a public Google API, unreachable from an air-gapped cluster: use env',
    );
    expect(configErrors('dev', (r) => (r.services.osc.keyStore = { mode: 'vault' }))).toContain('config.stackbook:services.osc.keyStore.mode: must be one of "env", "firestore"');
    expect(osc.appConcerns['OSC-18']).toMatch(/OSCILLINK_KEYSTORE_BACKEND/);
  });

  it('OSC-19: request IDs and no request bodies are app behaviour: JSON access logs are on everywhere and no debug path is published', () => {
    expect(RUNBOOK).toMatch(/Avoid logging request bodies/);
    expect(osc.appConcerns['OSC-19']).toMatch(/request id/);
    for (const env of ENVS) {
      const o = objs(env);
      expect(envOf(o).OSCILLINK_JSON_LOGS, env).toBe('1');
      expect(Object.keys(envOf(o)).filter((k) => /BODY|DEBUG/.test(k)), env).toEqual([]);
    }
  });
});

describe('OSC — security and policies', () => {
  it('X-1 X-3: every stack passes the mandatory policies; every OSC container is hardened with requests and limits', () => {
    for (const env of ENVS) {
      const o = objs(env);
      expect(blocking(evaluate(o)).map((v) => `${v.object}: [${v.rule}] ${v.message}`), env).toEqual([]);
      for (const c of containers(o)) {
        expect(c.securityContext, `${env} ${c.name}`).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        for (const k of ['requests', 'limits']) expect(Object.keys(c.resources[k]), `${env} ${c.name} ${k}`).toEqual(expect.arrayContaining(['cpu', 'memory']));
        expect(JSON.stringify(c.livenessProbe), `${env} ${c.name}`).not.toBe(JSON.stringify(c.readinessProbe));
      }
      expect(deployment(o).spec.template.spec.automountServiceAccountToken, env).toBe(false);
    }
  });

  it('OSC-3: no secret value in any OSC object: env secrets are references, ConfigMaps hold nothing secret-looking', () => {
    for (const env of ENVS) {
      const o = objs(env).filter((m) => m.metadata.namespace === NS);
      expect(o.filter((m) => m.kind === 'Secret'), env).toEqual([]);
      for (const e of app(o).env as J[]) expect(e.value, `${env} ${e.name}`).toBeUndefined();
      for (const cm of o.filter((m) => m.kind === 'ConfigMap') as J[]) {
        for (const [k, v] of Object.entries(cm.data as Record<string, string>)) expect(looksSecret(k, v), `${env} ${cm.metadata.name} ${k}`).toBe(false);
      }
      // what must exist is declared, never valued
      expect(rendered(env).secrets.filter((s) => s.namespace === NS).map((s) => s.name).sort(), env).toEqual(['osc-admin', 'osc-api-keys', 'osc-license', 'osc-redis']);
    }
  });

  it('X-12: every OSC object is a valid Kubernetes object, and the air-gapped bundle references nothing public', () => {
    for (const env of ENVS) expect(invalidManifests(objs(env).filter((m) => m.metadata.namespace === NS)), env).toEqual({});
    expect(airgapProblems(rendered('airgap')).map(formatAirgapProblem)).toEqual([]);
    // a public JWKS host in the air-gapped stack is caught
    const bad = render(parse('airgap', (r) => (r.services.osc.jwks.url = 'https://license.oscillink.com/.well-known/jwks.json')));
    expect(airgapProblems(bad).map(formatAirgapProblem).join('\n')).toContain('license.oscillink.com');
  });

  it('rendering is deterministic', () => {
    expect(JSON.stringify(render(parse('prod')).objects)).toBe(JSON.stringify(objs('prod')));
  });
});

describe('OSC — Redis alerts (X-8, OSC-12)', () => {
  it('OSC-12 X-8: the PrometheusRule osc/redis passes its promtool cases (each set is one the full stacks render: test/alerts.test.ts runs it), with a FIRING and a QUIET case per alert', () => {
    expect(findPromtool(), PROMTOOL_MISSING).toBeDefined();
    const sets = ruleSets(ENVS.map((e) => rendered(e))).filter((s) => s.namespace === NS);
    // one Redis rule set everywhere, plus the replication alerts where Redis is replicated
    expect([...new Set(sets.map((s) => s.name))].sort()).toEqual(['redis', 'redis-replication']);
    for (const set of sets) {
      const file = unitTestFileOf(set);
      expect(file).toMatch(new RegExp(`osc\\.${set.name}\\.test\\.yaml$`));
      const { doc } = readUnitTests(file);
      expect(coverageProblems(alertsOf(set.groups).map((a) => a.alert), doc)).toEqual([]);
    }
    // promtool itself: each set is, for the same stacks, one the full stacks render, and
    // test/alerts.test.ts "OPE-6 X-8: promtool test rules passes for every PrometheusRule of every
    // stack" unit-tests every set of every stack against the same unitTestFileOf file; asserting
    // the identity here replaces running promtool a second time on the same files.
    const key = (s: { name: string; namespace: string; runbookBaseUrl: string; groups: unknown }) => JSON.stringify([s.namespace, s.name, s.runbookBaseUrl, s.groups]);
    const full = new Map(ruleSets(ENVS.map((e) => renderEnv(e))).map((s) => [key(s), s.stacks] as const));
    for (const set of sets) expect(full.get(key(set)), `${set.name} (${set.stacks.join(', ')}) as the full stacks render it`).toEqual(set.stacks);
  });
});

/**
 * Issue 19: the OSC pod runs what Oscillink (Maverick0351a/Oscillink@aef213d) really reads. The
 * contract is services/osc.contract.ts; the app-contract rule acts on the rendered stacks, and a
 * real `sh` runs the licence check exactly as rendered.
 */
describe('OSC — application contract (issue 19)', () => {
  const initOf = (o: readonly Manifest[], name: string) => ((deployment(o).spec.template.spec.initContainers ?? []) as J[]).find((c) => c.name === name);
  const contractFindings = (o: readonly Manifest[]) =>
    evaluate(o)
      .filter((v) => v.rule === 'app-contract')
      .map((v) => `${v.object}: ${v.message}`);

  it('the app-contract rule passes for all four stacks, for the app, its init container and its sidecar', () => {
    for (const env of ENVS) {
      const o = objs(env);
      expect(deployment(o).metadata.annotations['stackbook.io/contract'], env).toBe('osc/osc');
      expect(contractFindings(o), env).toEqual([]);
      // the init container and the sidecar against their contract workloads, with the same rule function
      const pod = deployment(o).spec.template.spec as J;
      for (const name of ['license-verify', 'usage-flush']) {
        const c = initOf(o, name);
        if (!c) continue;
        const w = CONTRACTS.osc!.workloads[name]!;
        expect(workloadProblems(CONTRACTS.osc!, name, w, { ...pod, containers: [c] }, o, NS), `${env} ${name}`).toEqual([]);
      }
    }
    // the variants: Firestore key store, proxy egress (proxy vars reach the app, license-verify and usage-flush)
    const v = renderWith('prod', (r) => {
      r.services.osc.keyStore = { mode: 'firestore', projectId: 'acme-oscillink' };
      r.services.osc.egress = { mode: 'proxy', url: 'http://proxy.corp.internal:3128', cidrs: ['10.0.0.10/32'] };
    });
    expect(contractFindings(v)).toEqual([]);
    const vpod = deployment(v).spec.template.spec as J;
    for (const name of ['license-verify', 'usage-flush']) {
      const c = initOf(v, name)!;
      expect((c.env as J[]).map((e) => e.name), name).toEqual(expect.arrayContaining(['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY']));
      expect(workloadProblems(CONTRACTS.osc!, name, CONTRACTS.osc!.workloads[name]!, { ...vpod, containers: [c] }, v, NS), name).toEqual([]);
    }
  });

  it('the rule catches what the app does not read: the image entrypoint, OSCILLINK_TELEMETRY, a port and probe it does not serve', () => {
    const o = render(parse('prod')).objects as J[];
    const c = app(o as Manifest[]);
    c.command = ['/app/entrypoint.sh'];
    c.args = ['--workers', '2'];
    c.env = [...c.env, { name: 'OSCILLINK_TELEMETRY', value: 'minimal' }, { name: 'PORT', value: '8000' }];
    c.ports = [{ name: 'http', containerPort: 9000, protocol: 'TCP' }];
    c.readinessProbe.httpGet.path = '/ready';
    const found = contractFindings(o as Manifest[]).join('\n');
    expect(found).toContain('runs "/app/entrypoint.sh", not an entrypoint of Maverick0351a/Oscillink@aef213d');
    expect(found).toContain('passes --workers, a flag Maverick0351a/Oscillink@aef213d does not accept');
    expect(found).toContain('sets env OSCILLINK_TELEMETRY, which Maverick0351a/Oscillink@aef213d never reads');
    expect(found).toContain('sets env PORT, which Maverick0351a/Oscillink@aef213d never reads');
    expect(found).toContain('declares port 9000');
    expect(found).toContain('readinessProbe GET /ready');
    // every entry of the contract cites a file and line
    for (const [wname, w] of Object.entries(CONTRACTS.osc!.workloads)) {
      for (const [k, e] of Object.entries(w.env ?? {})) expect(e.cite?.line ?? e.runbookOnly, `${wname} ${k}`).toBeDefined();
    }
    for (const [k, m] of Object.entries(CONTRACTS.osc!.metrics)) expect(m.cite.line, k).toBeDefined();
  });

  it('the app runs uvicorn with the env we set: nothing sources the licence entitlements over OSCILLINK_API_KEYS and our limits', () => {
    for (const env of ENVS) {
      const o = objs(env);
      expect(app(o).command, env).toEqual(['uvicorn', 'cloud.app.main:app']);
      expect(app(o).args, env).toEqual(['--host', '0.0.0.0', '--port', '8000']);
      const pod = deployment(o).spec.template.spec as J;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers] as J[]) {
        const argv = JSON.stringify([...(c.command ?? []), ...(c.args ?? [])]);
        expect(argv, `${env} ${c.name}`).not.toMatch(/entrypoint\.sh|oscillink_entitlements\.env|\bsource\b|set -a/);
      }
      expect(secretEnv(o, 'OSCILLINK_API_KEYS'), env).toBeDefined();
    }
  });

  it('a missing or expired licence leaves the pod running and unready: the rendered license-verify command exits 0 whatever the verifier returns', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'stackbook-osc-verify-'));
    try {
      // a stand-in for the image's python: records its argv, exits with FAKE_RC (92 = the entrypoint's expired-licence code)
      writeFileSync(join(tmp, 'python'), '#!/bin/sh\necho "$@" > "$ARGV_OUT"\necho "Token expired (exp)" >&2\nexit "$FAKE_RC"\n', { mode: 0o755 });
      for (const env of ENVS) {
        const o = objs(env);
        const c = initOf(o, 'license-verify')!;
        expect(c, env).toBeDefined();
        const vars = Object.fromEntries((c.env as J[]).map((e) => [e.name, e.value]));
        for (const rc of ['0', '1', '92']) {
          const out = join(tmp, `argv-${env}-${rc}`);
          const r = spawnSync(c.command[0], c.command.slice(1), { env: { ...vars, PATH: `${tmp}:/usr/bin:/bin`, FAKE_RC: rc, ARGV_OUT: out }, encoding: 'utf8' });
          expect(r.status, `${env} verifier exit ${rc}: ${r.stderr}`).toBe(0);
          expect(readFileSync(out, 'utf8').trim()).toBe(`/app/tools/license_verify.py --license /etc/oscillink/license/oscillink.lic --jwks ${oscCfg(env).jwks.url}`);
          if (rc !== '0') expect(r.stderr).toContain(`licence not verified (exit ${rc})`);
        }
        // readiness is the app's /license/status; the init container shares /run with the app
        expect(app(o).readinessProbe.httpGet.path).toBe('/license/status');
        expect(app(o).volumeMounts, env).toContainEqual({ name: 'run', mountPath: '/run' });
        expect(c.volumeMounts, env).toContainEqual({ name: 'run', mountPath: '/run' });
        expect((deployment(o).spec.template.spec.volumes as J[]).find((v) => v.name === 'run').emptyDir, env).toBeDefined();
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('OSC-5: usage is logged (OSCILLINK_USAGE_LOG on a writable emptyDir) and flushed by the usage-flush sidecar with the licence id', () => {
    for (const env of ENVS) {
      const o = objs(env);
      const u = oscCfg(env).usage;
      const flush = initOf(o, 'usage-flush');
      if (!u) {
        expect(envOf(o).OSCILLINK_USAGE_LOG, env).toBeUndefined();
        expect(flush, env).toBeUndefined();
        continue;
      }
      expect(envOf(o).OSCILLINK_USAGE_LOG, env).toBe('/var/lib/oscillink/usage/usage.jsonl');
      expect(app(o).volumeMounts, env).toContainEqual({ name: 'var-lib-oscillink-usage', mountPath: '/var/lib/oscillink/usage' });
      expect(flush!.restartPolicy, env).toBe('Always');
      expect(flush!.command, env).toEqual(['python', '/app/tools/usage_flush.py']);
      expect(flush!.env, env).toEqual([
        { name: 'OSCILLINK_LICENSE_ID', value: oscCfg(env).license.id },
        { name: 'OSCILLINK_USAGE_FLUSH_URL', value: u.flushUrl },
        { name: 'OSCILLINK_USAGE_LOG', value: '/var/lib/oscillink/usage/usage.jsonl' },
      ]);
      expect(flush!.volumeMounts, env).toEqual([{ name: 'var-lib-oscillink-usage', mountPath: '/var/lib/oscillink/usage', readOnly: true }]);
      expect(envOf(o).OSCILLINK_USAGE_FLUSH_URL, env).toBeUndefined();
      expect(envOf(o).OSCILLINK_TELEMETRY, env).toBeUndefined();
    }
    expect(oscCfg('dev').usage).toBeUndefined();
    expect(oscCfg('prod').usage).toBeDefined();
    expect(configErrors('prod', (r) => delete r.services.osc.license.id)).toContain(
      'config.stackbook:services.osc.license.id: required with usage: the usage-flush sidecar sends nothing without OSCILLINK_LICENSE_ID',
    );
  });
});

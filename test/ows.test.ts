/**
 * OpenWorld Specialty Chemicals (runbook 001_8ef09203eb418336.txt): one test (or more) per catalog
 * concern OWS-1 … OWS-15 on the rendered real stacks, each also checking the trace annotation, plus
 * the configuration errors the OWS rules raise (file, path and value). Expected values come from the
 * runbook text and from the stack files themselves (read with a plain YAML parser, not the loader).
 *
 * The stacks are rendered with the OWS block only (the other services' blocks and Secret sources
 * removed), so these tests judge this service alone; test/alerts.test.ts, failure-tolerance and the
 * policy tests run the whole stacks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as yaml from 'js-yaml';
import { parseStack, rawFromStackFile } from '../stacks/load.js';
import { render, type Rendered } from '../synth/render.js';
import { blocking, evaluate } from '../policies/manifest-rules.js';
import { airgapProblems } from '../synth/airgap.js';
import { redisHaProblems, toleranceProblems, workloadsOf } from '../reports/failure-budget.js';
import { owsAlerts, owsBodySize, owsLogConfig, OWS_NAMES, OWS_TOP_SIZE_BUCKET } from '../services/ows.js';
import { owsContract } from '../services/ows.contract.js';
import { metricProblems } from '../policies/contract.js';
import { TlsIngress } from '../components/tls-ingress.js';
import { alertsOf, coverageProblems, prepareUnitTest, promtool, promtoolWorkspace, readUnitTests, ruleSetOf, unitTestFile, type RuleGroup } from './promtool.js';
import { invalidManifests } from './schema.js';
import { concernsOf, ENVS, ROOT, SHARED } from './helpers.js';
import { errorOf, newChart } from './components/util.js';

type J = Record<string, any>;

const RUNBOOK = readFileSync(join(SHARED, 'runbooks', '001_8ef09203eb418336.txt'), 'utf8');
const NS = 'ows';
const HA_ENVS = ['staging', 'prod', 'airgap'] as const;
const NGINX_ENVS = ['dev', 'staging', 'airgap'] as const;
const MiB = 1024 * 1024;

const fileOf = (env: string) => `stacks/Pulumi.${env}.yaml`;

/** The `stackbook:` values of a stack file, read independently of the loader. */
function cfg(env: string): J {
  const doc = yaml.load(readFileSync(join(ROOT, fileOf(env)), 'utf8')) as { config: J };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^stackbook:/, ''), v]));
}
const owsCfg = (env: string): J => cfg(env).services.ows;

/** The raw stack as both front doors see it, with only the OWS service (and its Secret sources). */
function rawOf(env: string): J {
  const { raw } = rawFromStackFile(readFileSync(join(ROOT, fileOf(env)), 'utf8'), fileOf(env)) as { raw: J };
  raw.services = { ows: raw.services.ows };
  raw.secretSources = Object.fromEntries(Object.entries(raw.secretSources ?? {}).filter(([k]) => k.startsWith('ows')));
  return raw;
}

const cache = new Map<string, Rendered>();
/** Render a stack (OWS only), optionally changed first. */
function rendered(env: string, change?: (raw: J) => void): Rendered {
  if (!change && cache.has(env)) return cache.get(env)!;
  const raw = rawOf(env);
  change?.(raw);
  const r = render(parseStack(raw, fileOf(env)));
  if (!change) cache.set(env, r);
  return r;
}
const objs = (env: string, change?: (raw: J) => void): J[] => rendered(env, change).objects as J[];

/** The ConfigError text a changed stack is refused with (fails when it is accepted). */
function configError(env: string, change: (raw: J) => void): string {
  const raw = rawOf(env);
  change(raw);
  return errorOf(() => parseStack(raw, fileOf(env))).message;
}

function get(objects: readonly J[], kind: string, name: string): J {
  const o = objects.find((m) => m.kind === kind && m.metadata.name === name && (m.metadata.namespace ?? NS) === NS);
  if (!o) throw new Error(`no ${kind} ${NS}/${name} among ${objects.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`);
  return o;
}
const deployment = (env: string, name = OWS_NAMES.api, change?: (raw: J) => void) => get(objs(env, change), 'Deployment', name);
const podOf = (d: J): J => d.spec.template.spec;
const containerOf = (d: J): J => podOf(d).containers[0];
const settings = (env: string, change?: (raw: J) => void) => get(objs(env, change), 'ConfigMap', OWS_NAMES.settings).data as Record<string, string>;
const envVar = (c: J, name: string): J | undefined => (c.env ?? []).find((e: J) => e.name === name);

function expectTrace(o: J, id: string) {
  expect(concernsOf(o as never), `${o.kind} ${o.metadata.name} traces ${id}`).toContain(id);
}

describe('OWS — OpenWorld Specialty Chemicals', () => {
  it('OWS-1: non-root, read-only root FS, hardened pods; /app/artifacts and /app/logs are size-limited emptyDirs, /app/reports the PVC ows-reports', () => {
    expect(RUNBOOK).toMatch(/-v \$\(pwd\)\/reports:\/app\/reports/);
    for (const env of ENVS) {
      const o = owsCfg(env);
      for (const name of [OWS_NAMES.api]) {
        const d = deployment(env, name);
        const pod = podOf(d);
        const c = containerOf(d);
        expect(pod.securityContext, `${env} ${name}`).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        expect(pod.securityContext.runAsUser, `${env} ${name}`).toBeGreaterThan(0);
        expect(pod.automountServiceAccountToken, `${env} ${name}`).toBe(false);
        expect(c.securityContext, `${env} ${name}`).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          privileged: false,
          capabilities: { drop: ['ALL'] },
        });
        const mounts = Object.fromEntries(c.volumeMounts.map((m: J) => [m.mountPath, m.name]));
        const volumes = Object.fromEntries(pod.volumes.map((v: J) => [v.name, v]));
        // Scratch volumes are per pod and bounded (an unbounded emptyDir can fill the node's disk).
        expect(volumes[mounts['/app/artifacts']].emptyDir, `${env} ${name}`).toEqual({ sizeLimit: o.volumes?.artifactsSizeLimit ?? '1Gi' });
        expect(volumes[mounts['/app/logs']].emptyDir, `${env} ${name}`).toEqual({ sizeLimit: o.volumes?.logsSizeLimit ?? '512Mi' });
        expect(volumes[mounts['/tmp']].emptyDir, `${env} ${name}`).toEqual({ sizeLimit: '256Mi' });
        expect(c.resources.limits['ephemeral-storage'], `${env} ${name}`).toBeDefined();
        expectTrace(d, 'OWS-1');
      }
      // The reports survive pods: the API mounts the claim.
      const api = deployment(env);
      const reportsVolume = podOf(api).volumes.find((v: J) => v.name === containerOf(api).volumeMounts.find((m: J) => m.mountPath === '/app/reports').name);
      expect(reportsVolume.persistentVolumeClaim, env).toEqual({ claimName: OWS_NAMES.reports });
      const pvc = get(objs(env), 'PersistentVolumeClaim', OWS_NAMES.reports);
      expect(pvc.spec.accessModes, env).toEqual([o.volumes.reports.accessMode]);
      expect(pvc.spec.resources.requests.storage, env).toBe(o.volumes.reports.size);
      expect(pvc.spec.storageClassName, env).toBe(o.volumes.reports.storageClassName);
      expectTrace(pvc, 'OWS-1');
    }
    // defaults: 1Gi artifacts, 512Mi logs, a 5Gi ReadWriteOnce claim on the default StorageClass
    const d = objs('dev', (r) => delete r.services.ows.volumes);
    const pvc = get(d, 'PersistentVolumeClaim', OWS_NAMES.reports);
    expect(pvc.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } } });
    const vols = podOf(get(d, 'Deployment', OWS_NAMES.api)).volumes;
    expect(vols.find((v: J) => v.name === 'app-artifacts').emptyDir).toEqual({ sizeLimit: '1Gi' });
    expect(vols.find((v: J) => v.name === 'app-logs').emptyDir).toEqual({ sizeLimit: '512Mi' });
  });

  it('OWS-1: a ReadWriteOnce reports volume allows one API replica only (config error), and its pod is not spread away from the volume', () => {
    expect(configError('staging', (r) => (r.services.ows.volumes.reports.accessMode = 'ReadWriteOnce'))).toBe(
      'stacks/Pulumi.staging.yaml: config.stackbook:services.ows.volumes.reports.accessMode: must be ReadWriteMany when the API runs more than one replica (autoscaling up to 4): every pod mounts the reports volume (got "ReadWriteOnce")',
    );
    // dev: one replica on ReadWriteOnce; a surge pod forced onto another node could never attach the volume.
    expect(owsCfg('dev').volumes.reports.accessMode).toBe('ReadWriteOnce');
    expect(podOf(deployment('dev')).topologySpreadConstraints).toBeUndefined();
    for (const env of HA_ENVS) {
      expect(owsCfg(env).volumes.reports.accessMode, env).toBe('ReadWriteMany');
      expect(podOf(deployment(env)).topologySpreadConstraints.map((t: J) => t.topologyKey), env).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    }
  });

  it('OWS-2: Service ows on port 8000 to the container port 8000, the Ingress backend', () => {
    expect(RUNBOOK).toMatch(/-p 8000:8000/);
    for (const env of ENVS) {
      const svc = get(objs(env), 'Service', OWS_NAMES.api);
      expect(svc.spec.ports, env).toEqual([{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }]);
      expect(svc.spec.selector, env).toEqual(deployment(env).spec.selector.matchLabels);
      expect(containerOf(deployment(env)).ports, env).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
      expect(get(objs(env), 'Ingress', OWS_NAMES.api).spec.rules[0].http.paths[0].backend.service, env).toEqual({ name: 'ows', port: { number: 8000 } });
      expectTrace(svc, 'OWS-2');
      expectTrace(deployment(env), 'OWS-2');
    }
  });

  it('OWS-3 OWS-13: OW_SC_API_TOKEN is a reference to the Secret ows-api-token (a Pulumi random value by default), never a literal', () => {
    expect(RUNBOOK).toMatch(/`OW_SC_API_TOKEN` to require `Authorization: Bearer <token>`/);
    for (const env of ENVS) {
      const c = containerOf(deployment(env));
      expect(envVar(c, 'OW_SC_API_TOKEN'), env).toEqual({ name: 'OW_SC_API_TOKEN', valueFrom: { secretKeyRef: { name: 'ows-api-token', key: 'token' } } });
      const req = rendered(env).secrets.find((s) => s.name === 'ows-api-token')!;
      expect(req, env).toMatchObject({ namespace: NS, keys: ['token'], source: 'pulumi', pulumi: { token: { randomLength: 48 } }, version: 1 });
      // rotation: bumping the version rolls the API pods
      expect(deployment(env).spec.template.metadata.annotations['rotation.stackbook.io/secret-ows-api-token'], env).toBe('1');
      // no object carries a token value: no Secret with data, no secret-looking literal anywhere
      expect(objs(env).filter((o) => o.kind === 'Secret'), env).toEqual([]);
      const secretRules = evaluate(objs(env) as never).filter((v) => ['no-secret-literal', 'no-secret-data'].includes(v.rule));
      expect(secretRules, env).toEqual([]);
      expectTrace(deployment(env), 'OWS-3');
      expectTrace(deployment(env), 'OWS-13');
    }
  });

  it('OWS-13 OWS-3: a stack takes the tokens from Vault or from an existing Secret instead (a secret manager), still by reference', () => {
    const vault = rendered('staging', (r) => {
      r.cluster.vault = { server: 'https://vault.corp.internal:8200', auth: { role: 'stackbook' }, ca: { kind: 'ConfigMap', name: 'corp-ca', namespace: 'external-secrets', key: 'ca.crt' } };
      r.secretSources = { 'ows-api-token': { source: 'vault', path: 'secret/ows/api', version: 2 }, 'ows-metrics-token': { source: 'existing' } };
    });
    const es = (vault.objects as J[]).find((o) => o.kind === 'ExternalSecret' && o.metadata.name === 'ows-api-token')!;
    expect(es.metadata.namespace).toBe(NS);
    expect(JSON.stringify(es.spec)).toContain('secret/ows/api');
    expectTrace(es, 'OWS-13');
    expectTrace(es, 'OWS-3');
    expect(vault.secrets.find((s) => s.name === 'ows-metrics-token')).toMatchObject({ source: 'existing' });
    const d = get(vault.objects as J[], 'Deployment', OWS_NAMES.api);
    expect(envVar(containerOf(d), 'OW_SC_API_TOKEN')!.valueFrom.secretKeyRef).toEqual({ name: 'ows-api-token', key: 'token' });
    expect(d.spec.template.metadata.annotations['rotation.stackbook.io/secret-ows-api-token']).toBe('2');
  });

  it('OWS-4: OW_SC_METRICS_PROTECT=1 by default, OW_SC_METRICS_TOKEN from its own Secret, and the ServiceMonitor scrapes with it as Bearer', () => {
    expect(RUNBOOK).toMatch(/`OW_SC_METRICS_PROTECT=1` to protect `\/metrics`\. Use `OW_SC_METRICS_TOKEN` to set a separate token/);
    for (const env of ENVS) {
      expect(owsCfg(env).metricsProtect, env).toBeUndefined(); // the default, on
      expect(settings(env).OW_SC_METRICS_PROTECT, env).toBe('1');
      const c = containerOf(deployment(env));
      expect(envVar(c, 'OW_SC_METRICS_TOKEN')!.valueFrom.secretKeyRef, env).toEqual({ name: 'ows-metrics-token', key: 'token' });
      const sm = get(objs(env), 'ServiceMonitor', OWS_NAMES.api);
      expect(sm.spec.endpoints[0].authorization, env).toEqual({ type: 'Bearer', credentials: { name: 'ows-metrics-token', key: 'token' } });
      // Prometheus runs elsewhere, but reads the credentials from the ServiceMonitor's own namespace.
      const req = rendered(env).secrets.find((s) => s.name === 'ows-metrics-token')!;
      expect(req.namespace, env).toBe(sm.metadata.namespace);
      expect(req, env).toMatchObject({ keys: ['token'], source: 'pulumi', pulumi: { token: { randomLength: 48 } } });
      expectTrace(sm, 'OWS-4');
      expectTrace(deployment(env), 'OWS-4');
      expect(invalidManifests([sm]), env).toEqual({});
    }
    // off: the flag says so, no token, an unauthenticated scrape
    const off = objs('dev', (r) => (r.services.ows.metricsProtect = false));
    expect(get(off, 'ConfigMap', OWS_NAMES.settings).data.OW_SC_METRICS_PROTECT).toBe('0');
    expect(envVar(containerOf(get(off, 'Deployment', OWS_NAMES.api)), 'OW_SC_METRICS_TOKEN')).toBeUndefined();
    expect(get(off, 'ServiceMonitor', OWS_NAMES.api).spec.endpoints[0].authorization).toBeUndefined();
    expect(rendered('dev', (r) => (r.services.ows.metricsProtect = false)).secrets.map((s) => s.name)).toEqual(['ows-api-token']);
  });

  it('OWS-5: OW_SC_RL_PER_SEC, OW_SC_WS_MSGS_PER_SEC, OW_SC_WS_MAX_MESSAGE_BYTES in the ConfigMap, typed with defaults and ranges; a change rolls the pods', () => {
    for (const env of ENVS) {
      const d = settings(env);
      // no stack overrides them: the defaults
      expect(owsCfg(env).rateLimits, env).toBeUndefined();
      // the app's own defaults (dashboard/__init__.py:64, 311, 310), cited by the contract
      expect([d.OW_SC_RL_PER_SEC, d.OW_SC_WS_MSGS_PER_SEC, d.OW_SC_WS_MAX_MESSAGE_BYTES], env).toEqual(['10', '20', '8192']);
      const appEnv = owsContract.workloads.ows!.env!;
      expect([appEnv.OW_SC_RL_PER_SEC!.default, appEnv.OW_SC_WS_MSGS_PER_SEC!.default, appEnv.OW_SC_WS_MAX_MESSAGE_BYTES!.default], env).toEqual(['10', '20', '8192']);
      expect(containerOf(deployment(env)).envFrom, env).toEqual([{ configMapRef: { name: OWS_NAMES.settings } }]);
      expectTrace(get(objs(env), 'ConfigMap', OWS_NAMES.settings), 'OWS-5');
      expectTrace(deployment(env), 'OWS-5');
    }
    const change = (r: J) => (r.services.ows.rateLimits = { httpPerSecond: 7, wsMessagesPerSecond: 3, wsMaxMessageBytes: 4096 });
    expect(settings('dev', change)).toMatchObject({ OW_SC_RL_PER_SEC: '7', OW_SC_WS_MSGS_PER_SEC: '3', OW_SC_WS_MAX_MESSAGE_BYTES: '4096' });
    const before = deployment('dev').spec.template.metadata.annotations['checksum.stackbook.io/configmap-ows-settings'];
    const after = deployment('dev', OWS_NAMES.api, change).spec.template.metadata.annotations['checksum.stackbook.io/configmap-ows-settings'];
    expect(after).toMatch(/^[0-9a-f]{64}$/);
    expect(after).not.toBe(before);
    expect(configError('dev', (r) => (r.services.ows.rateLimits = { wsMaxMessageBytes: 512 }))).toBe(
      'stacks/Pulumi.dev.yaml: config.stackbook:services.ows.rateLimits.wsMaxMessageBytes: must be ≥ 1024 (got 512)',
    );
    expect(configError('dev', (r) => (r.services.ows.rateLimits = { httpPerSecond: 0 }))).toMatch(/services\.ows\.rateLimits\.httpPerSecond: must be ≥ 1 \(got 0\)$/);
  });

  it('OWS-6: OW_SC_MAX_CSV_BYTES and OW_SC_MAX_CSV_ROWS with defaults and ranges; nginx accepts an upload of that size', () => {
    for (const env of ENVS) {
      expect(settings(env), env).toMatchObject({ OW_SC_MAX_CSV_BYTES: String(10 * MiB), OW_SC_MAX_CSV_ROWS: '100000' });
      expectTrace(get(objs(env), 'ConfigMap', OWS_NAMES.settings), 'OWS-6');
    }
    // ingress-nginx refuses request bodies over 1m by default: the limit follows the CSV limit
    expect(owsBodySize(10 * MiB)).toBe('11m');
    expect(owsBodySize(1024)).toBe('2m');
    for (const env of NGINX_ENVS) {
      const ing = get(objs(env), 'Ingress', OWS_NAMES.api);
      expect(ing.metadata.annotations['nginx.ingress.kubernetes.io/proxy-body-size'], env).toBe('11m');
      expectTrace(ing, 'OWS-6');
    }
    const bigger = get(objs('dev', (r) => (r.services.ows.csv = { maxBytes: 100 * MiB, maxRows: 5 })), 'Ingress', OWS_NAMES.api);
    expect(bigger.metadata.annotations['nginx.ingress.kubernetes.io/proxy-body-size']).toBe('101m');
    expect(settings('dev', (r) => (r.services.ows.csv = { maxBytes: 100 * MiB, maxRows: 5 }))).toMatchObject({ OW_SC_MAX_CSV_BYTES: String(100 * MiB), OW_SC_MAX_CSV_ROWS: '5' });
    // the ALB has no body limit: no nginx annotation there
    expect(Object.keys(get(objs('prod'), 'Ingress', OWS_NAMES.api).metadata.annotations).filter((k) => k.startsWith('nginx.'))).toEqual([]);
    expect(configError('dev', (r) => (r.services.ows.csv = { maxRows: 0 }))).toBe('stacks/Pulumi.dev.yaml: config.stackbook:services.ows.csv.maxRows: must be ≥ 1 (got 0)');
  });

  it('OWS-7: the log format (text|json) and level reach the app as uvicorn --log-config, validated; json and INFO by default; no LOG_* variable (the app reads none on this path)', () => {
    const logConfig = (env: string, change?: (raw: J) => void): J => {
      const cm = get(objs(env, change), 'ConfigMap', OWS_NAMES.logging);
      expectTrace(cm, 'OWS-7');
      return JSON.parse(cm.data['log-config.json']);
    };
    const shape = (lc: J) => ({
      formatters: Object.keys(lc.formatters),
      handler: lc.handlers.default.formatter,
      levels: [lc.root.level, lc.loggers.uvicorn.level, lc.loggers['uvicorn.error'].level, lc.loggers['uvicorn.access'].level],
    });
    expect(owsCfg('dev').logging).toEqual({ format: 'text', level: 'DEBUG' });
    expect(shape(logConfig('dev'))).toEqual({ formatters: ['text'], handler: 'text', levels: ['DEBUG', 'DEBUG', 'DEBUG', 'DEBUG'] });
    for (const env of HA_ENVS) {
      expect(owsCfg(env).logging, env).toBeUndefined();
      const lc = logConfig(env);
      expect(shape(lc), env).toEqual({ formatters: ['json'], handler: 'json', levels: ['INFO', 'INFO', 'INFO', 'INFO'] });
      // the app's own formatter and the filter that puts X-Request-ID in corr_id
      expect(lc.formatters.json, env).toEqual({ '()': 'openworld_specialty_chemicals.logging.JSONFormatter' });
      expect(lc.filters.correlation, env).toEqual({ '()': 'openworld_specialty_chemicals.logging.CorrelationFilter' });
    }
    for (const env of ENVS) {
      const d = deployment(env);
      const c = containerOf(d);
      // the CLI overwrote LOG_FORMAT from its --log-format (cli.py:108); uvicorn --factory reads neither variable
      expect({ ...settings(env), ...Object.fromEntries((c.env ?? []).map((e: J) => [e.name, e])) }, env).not.toHaveProperty('LOG_FORMAT');
      expect({ ...settings(env), ...Object.fromEntries((c.env ?? []).map((e: J) => [e.name, e])) }, env).not.toHaveProperty('LOG_LEVEL');
      const at = c.args.indexOf('--log-config');
      expect(c.args[at + 1], env).toBe('/etc/ows/log-config.json');
      const mount = c.volumeMounts.find((m: J) => m.mountPath === '/etc/ows');
      expect(mount?.readOnly, env).toBe(true);
      expect(podOf(d).volumes.find((v: J) => v.name === mount.name).configMap.name, env).toBe(OWS_NAMES.logging);
      // a change rolls the pods
      expect(d.spec.template.metadata.annotations['checksum.stackbook.io/configmap-ows-logging'], env).toMatch(/^[0-9a-f]{64}$/);
      expectTrace(d, 'OWS-7');
    }
    // the file is exactly what owsLogConfig renders, and the air-gap check finds no host in it
    expect(get(objs('dev'), 'ConfigMap', OWS_NAMES.logging).data['log-config.json']).toBe(owsLogConfig('text', 'DEBUG'));
    expect(owsLogConfig('json', 'INFO')).not.toContain('ext://');
    expect(configError('dev', (r) => (r.services.ows.logging = { format: 'xml' }))).toBe(
      'stacks/Pulumi.dev.yaml: config.stackbook:services.ows.logging.format: must be one of "text", "json" (got "xml")',
    );
    expect(configError('dev', (r) => (r.services.ows.logging = { level: 'verbose' }))).toMatch(/services\.ows\.logging\.level: must be one of "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" \(got "verbose"\)$/);
  });

  it('OWS-8: liveness GET /livez, readiness (and start-up) GET /readyz on 8000, never /health', () => {
    expect(RUNBOOK).toMatch(/`\/livez`: liveness probe/);
    expect(RUNBOOK).toMatch(/`\/readyz`: readiness probe/);
    for (const env of ENVS) {
      const c = containerOf(deployment(env));
      expect(c.livenessProbe.httpGet, env).toEqual({ path: '/livez', port: 8000, scheme: 'HTTP' });
      expect(c.readinessProbe.httpGet, env).toEqual({ path: '/readyz', port: 8000, scheme: 'HTTP' });
      expect(c.startupProbe.httpGet, env).toEqual({ path: '/readyz', port: 8000, scheme: 'HTTP' });
      expect(JSON.stringify(c), env).not.toContain('/health');
      expectTrace(deployment(env), 'OWS-8');
    }
  });

  it('OWS-9: /metrics scraped on the Service port 8000, Prometheus allowed in; PrometheusRule ows alerts on ws_* errors and connections', () => {
    const metricNames = [...RUNBOOK.matchAll(/`(ws_[a-z_]+)`/g)].map((m) => m[1]!);
    expect(metricNames).toEqual(expect.arrayContaining(['ws_active_connections', 'ws_connections_total', 'ws_errors_total', 'ws_message_size_bytes']));
    for (const env of ENVS) {
      const c = cfg(env);
      const sm = get(objs(env), 'ServiceMonitor', OWS_NAMES.api);
      expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
      expect(sm.spec.selector.matchLabels, env).toEqual({ 'app.kubernetes.io/name': 'ows' });
      expect(get(objs(env), 'Service', OWS_NAMES.api).metadata.labels, env).toMatchObject(sm.spec.selector.matchLabels);
      expect(sm.spec.namespaceSelector.matchNames, env).toEqual([NS]);
      const np = get(objs(env), 'NetworkPolicy', OWS_NAMES.api);
      const monitoring = c.cluster.monitoringNamespace ?? 'monitoring';
      const fromMonitoring = np.spec.ingress.filter((r: J) => r.from.some((p: J) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === monitoring));
      expect(fromMonitoring.map((r: J) => r.ports), env).toEqual([[{ port: 8000, protocol: 'TCP' }]]);
      const pr = get(objs(env), 'PrometheusRule', 'ows');
      const rules = alertsOf((pr.spec as { groups: RuleGroup[] }).groups);
      expect(rules.map((r) => r.alert), env).toEqual(['OWSWebSocketErrors', 'OWSWebSocketConnectionsNearLimit', 'OWSWebSocketConnectionsLost', 'OWSWebSocketMessagesNearSizeLimit']);
      for (const r of rules) {
        expect(r.expr, `${env} ${r.alert}`).toMatch(/\bws_(errors_total|active_connections|message_size_bytes_bucket)\{job="ows",namespace="ows"\}/);
        expect(['critical', 'warning'], `${env} ${r.alert}`).toContain(r.labels?.severity);
        expect(r.annotations?.runbook_url, `${env} ${r.alert}`).toBe(`${(c.cluster.runbookBaseUrl ?? 'https://stackbook.example.com/runbooks').replace(/\/+$/, '')}/ows#${r.alert.toLowerCase()}`);
        expect(r.annotations?.summary && r.annotations.description, `${env} ${r.alert}`).toBeTruthy();
      }
      // thresholds follow the configuration (defaults here), and losing every client pages
      const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
      expect(byName.OWSWebSocketErrors!.expr, env).toMatch(/> 0\.1$/);
      expect(byName.OWSWebSocketConnectionsNearLimit!.expr, env).toMatch(/> 800$/);
      // 80 % of the app's default 8192, below its top bucket: the p99 can get there
      expect(byName.OWSWebSocketMessagesNearSizeLimit!.expr, env).toMatch(/> 6553$/);
      expect(byName.OWSWebSocketConnectionsLost!.labels?.severity, env).toBe('critical');
      expectTrace(pr, 'OWS-9');
      expectTrace(sm, 'OWS-9');
      expectTrace(np, 'OWS-9');
    }
    const custom = owsAlerts({ namespace: 'chem', rateLimits: { httpPerSecond: 1, wsMessagesPerSecond: 1, wsMaxMessageBytes: 10_000 }, alerts: { wsErrorsPerSecond: 2, maxConnectionsPerPod: 500, lostConnectionsMinimum: 9 } }, (a) => `https://r.example/ows#${a}`);
    expect(custom.map((a) => a.expr.replace(/\{[^}]*\}/g, '{}'))).toEqual([
      'sum(rate(ws_errors_total{}[5m])) > 2',
      'max(sum by (pod) (ws_active_connections{})) > 400',
      '(sum(ws_active_connections{}) or vector(0)) == 0 and on() sum(max_over_time(ws_active_connections{}[15m])) >= 9',
      'histogram_quantile(0.99, sum by (le) (rate(ws_message_size_bytes_bucket{}[5m]))) > 8000',
    ]);
    expect(custom[0]!.expr).toContain('{job="ows",namespace="chem"}');
    // a limit whose 80 % is at or above the app's top bucket (8192): the p99 can never get there, so the
    // alert asks the one thing the histogram can tell: more than 1 % of the messages above 8192 bytes
    const big = owsAlerts({ namespace: 'ows', rateLimits: { httpPerSecond: 1, wsMessagesPerSecond: 1, wsMaxMessageBytes: 65_536 }, alerts: { wsErrorsPerSecond: 2, maxConnectionsPerPod: 500, lostConnectionsMinimum: 9 } }, (a) => a);
    expect(OWS_TOP_SIZE_BUCKET).toBe(8192);
    expect(big[3]!.expr).toBe(
      'sum(rate(ws_message_size_bytes_bucket{job="ows",namespace="ows",le=~"8192(.0)?"}[5m])) / sum(rate(ws_message_size_bytes_count{job="ows",namespace="ows"}[5m])) < 0.99',
    );
    expect(big[3]!.summary).toContain('above 8192 bytes');
    for (const a of [...custom, ...big]) expect(metricProblems(owsContract, a.expr), a.alert).toEqual([]);
    // every alert has a FIRING and a QUIET promtool case (test/alerts/ows.test.yaml, run by test/alerts.test.ts)
    expect(coverageProblems(custom.map((a) => a.alert), readUnitTests(unitTestFile('ows')).doc)).toEqual([]);
  });

  it('OWS-10: OW_SC_REDIS_URL from the Secret ows-redis (password random, URL templated), OW_SC_REDIS_CHANNEL owsc:effluent, egress to Redis only', () => {
    expect(RUNBOOK).toMatch(/`OW_SC_REDIS_CHANNEL` \(default `owsc:effluent`\)/);
    for (const env of HA_ENVS) {
      expect(owsCfg(env).redis.mode, env).toBe('in-cluster');
      const r = rendered(env);
      const req = r.secrets.find((s) => s.name === 'ows-redis')!;
      expect(req, env).toMatchObject({
        namespace: NS,
        keys: ['password', 'url'],
        source: 'pulumi',
        pulumi: { password: { randomLength: 32 }, url: { template: 'redis://:{password}@redis.ows.svc:6379/0' } },
      });
      for (const name of [OWS_NAMES.api]) {
        const d = deployment(env, name);
        expect(envVar(containerOf(d), 'OW_SC_REDIS_URL')!.valueFrom.secretKeyRef, `${env} ${name}`).toEqual({ name: 'ows-redis', key: 'url' });
        expect(d.spec.template.metadata.annotations['rotation.stackbook.io/secret-ows-redis'], `${env} ${name}`).toBe('1');
        expectTrace(d, 'OWS-10');
      }
      expect(settings(env).OW_SC_REDIS_CHANNEL, env).toBe('owsc:effluent');
      // the API may reach the Redis pods on 6379 (and nothing else); Redis admits the API
      const np = get(r.objects as J[], 'NetworkPolicy', OWS_NAMES.api);
      expect(np.spec.egress, env).toEqual([
        { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } }], ports: [{ port: 6379, protocol: 'TCP' }] },
      ]);
      const redisPolicy = get(r.objects as J[], 'NetworkPolicy', 'redis');
      const clients = redisPolicy.spec.ingress.flatMap((i: J) => i.from.map((p: J) => p.podSelector?.matchLabels?.['app.kubernetes.io/name'])).filter(Boolean);
      expect(clients, env).toEqual(expect.arrayContaining(['ows']));
      expect(clients, env).not.toContain('ows-worker');
      expectTrace(np, 'OWS-10');
      expectTrace(get(r.objects as J[], 'ConfigMap', OWS_NAMES.settings), 'OWS-10');
    }
    // dev runs one process: no Redis, no URL, no channel
    expect(owsCfg('dev').redis).toBeUndefined();
    expect(envVar(containerOf(deployment('dev')), 'OW_SC_REDIS_URL')).toBeUndefined();
    expect(settings('dev').OW_SC_REDIS_CHANNEL).toBeUndefined();
    expect(objs('dev').filter((o) => o.kind === 'StatefulSet')).toEqual([]);
    // the channel is configurable and validated
    expect(settings('staging', (r) => (r.services.ows.redisChannel = 'chem:feed')).OW_SC_REDIS_CHANNEL).toBe('chem:feed');
    expect(configError('staging', (r) => (r.services.ows.redisChannel = 'has space'))).toMatch(/services\.ows\.redisChannel: must be a Redis channel name .* \(got "has space"\)$/);
  });

  it('OWS-10: more than one replica without Redis is a configuration error naming the file, path and value', () => {
    expect(RUNBOOK).toMatch(/broadcasting is per-instance/);
    const lines = configError('dev', (r) => {
      r.services.ows.autoscaling = { minReplicas: 1, maxReplicas: 3, cpuUtilization: 70 };
      r.services.ows.volumes.reports.accessMode = 'ReadWriteMany';
    }).split('\n');
    expect(lines).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:services.ows.autoscaling.maxReplicas: more than one replica needs services.ows.redis: WebSocket broadcasts are per instance, so clients of other replicas would miss them (configure redis, or set maxReplicas: 1) (got 3)',
    ]);
    expect(configError('staging', (r) => delete r.services.ows.redis)).toMatch(
      /^stacks\/Pulumi\.staging\.yaml: config\.stackbook:services\.ows\.autoscaling\.maxReplicas: more than one replica needs services\.ows\.redis.* \(got 4\)$/m,
    );
    // one replica with one worker needs none
    expect(() => rendered('dev', (r) => (r.services.ows.workers = 1))).not.toThrow();
  });

  it('OWS-10: an external Redis: the URL from an existing Secret, egress from the API to its addresses only', () => {
    const r = rendered('staging', (raw) => (raw.services.ows.redis = { mode: 'external', host: 'redis.corp.internal', cidrs: ['10.30.0.0/24'] }));
    const o = r.objects as J[];
    expect(o.filter((x) => x.kind === 'StatefulSet')).toEqual([]);
    expect(r.secrets.find((s) => s.name === 'ows-redis')).toMatchObject({ keys: ['url'], source: 'existing', consumers: ['ows'] });
    for (const client of [OWS_NAMES.api]) {
      const p = get(o, 'NetworkPolicy', `redis-egress-${client}`);
      expect(p.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': client });
      expect(p.spec.egress).toEqual([{ to: [{ ipBlock: { cidr: '10.30.0.0/24' } }], ports: [{ port: 6379, protocol: 'TCP' }] }]);
      expectTrace(p, 'OWS-10');
      expect(envVar(containerOf(get(o, 'Deployment', client)), 'OW_SC_REDIS_URL')!.valueFrom.secretKeyRef).toEqual({ name: 'ows-redis', key: 'url' });
    }
    expect(blocking(evaluate(o as never))).toEqual([]);
  });

  it('OWS-10: production runs Redis replicated (an odd count ≥ 3); a single or even count is a configuration error', () => {
    for (const env of ['prod', 'airgap'] as const) {
      expect(owsCfg(env).redis.replicas, env).toBe(3);
      expect(redisHaProblems(objs(env) as never), env).toEqual([]);
    }
    expect(configError('prod', (r) => (r.services.ows.redis.replicas = 1))).toMatch(
      /^stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.ows\.redis\.replicas: must be ≥ 3 in production: .* \(got 1\)$/,
    );
    expect(configError('staging', (r) => (r.services.ows.redis.replicas = 2))).toMatch(
      /^stacks\/Pulumi\.staging\.yaml: config\.stackbook:services\.ows\.redis\.replicas: must be odd \(1, 3, 5 or 7\).* \(got 2\)$/,
    );
  });

  it('OWS-11: HPA + PDB from the configured range; one uvicorn process per pod (no WEB_CONCURRENCY, no --workers)', () => {
    expect(RUNBOOK).toMatch(/Tune `uvicorn` workers based on CPU/);
    // The runbook's "workers per CPU" does not hold for this app: its metrics registry is per process
    // (dashboard/__init__.py:108, no MultiProcessCollector), so N workers would each report a part.
    expect(owsContract.workloads.ows!.env!.WEB_CONCURRENCY!.runbookSays).toMatch(/uvicorn/);
    for (const env of ENVS) {
      const o = owsCfg(env);
      const c = containerOf(deployment(env));
      expect(o.workers, env).toBeUndefined();
      expect(envVar(c, 'WEB_CONCURRENCY'), env).toBeUndefined();
      expect(envVar(c, 'PROMETHEUS_MULTIPROC_DIR'), env).toBeUndefined();
      expect(c.args.filter((a: string) => a.startsWith('--workers')), env).toEqual([]);
      expect(c.resources.limits.cpu, env).toBe(o.resources.cpuLimit);
      expectTrace(deployment(env), 'OWS-11');
    }
    for (const env of HA_ENVS) {
      const a = owsCfg(env).autoscaling;
      const hpa = get(objs(env), 'HorizontalPodAutoscaler', OWS_NAMES.api);
      expect(hpa.spec, env).toMatchObject({
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ows' },
        minReplicas: a.minReplicas,
        maxReplicas: a.maxReplicas,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.cpuUtilization } } }],
      });
      expect(a.minReplicas, env).toBeGreaterThanOrEqual(2);
      expect(deployment(env).spec.replicas, env).toBeUndefined();
      const pdb = get(objs(env), 'PodDisruptionBudget', OWS_NAMES.api);
      expect(pdb.spec, env).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'ows' } } });
      expectTrace(hpa, 'OWS-11');
      expectTrace(pdb, 'OWS-11');
      const view = workloadsOf(objs(env) as never).find((v) => v.workload.metadata.name === 'ows' && v.workload.kind === 'Deployment')!;
      expect(toleranceProblems(objs(env) as never, view), env).toEqual([]);
    }
    // dev: a fixed single replica, no HPA; the default range is 1–1
    expect(deployment('dev').spec.replicas).toBe(1);
    expect(objs('dev').filter((o) => o.kind === 'HorizontalPodAutoscaler')).toEqual([]);
    expect(deployment('dev', OWS_NAMES.api, (r) => delete r.services.ows.autoscaling).spec.replicas).toBe(1);
    expect(configError('staging', (r) => (r.services.ows.autoscaling.minReplicas = 9))).toMatch(/services\.ows\.autoscaling\.minReplicas: must be ≤ maxReplicas \(4\) \(got 9\)$/);
  });

  it('OWS-12: HTTPS only: TLS at the ingress with a Certificate, HTTP redirected, HSTS, WebSocket timeouts of an hour', () => {
    expect(RUNBOOK).toMatch(/Always use HTTPS/);
    for (const env of ENVS) {
      const c = cfg(env);
      const ing = get(objs(env), 'Ingress', OWS_NAMES.api);
      const host = `ows.${c.cluster.domain}`;
      expect(ing.spec.rules.map((r: J) => r.host), env).toEqual([host]);
      if (c.cluster.ingressClass === 'alb') {
        // the ALB serves an ACM certificate, never a cert-manager Secret (issue 14 item 2)
        expect(ing.spec.tls, env).toEqual([{ hosts: [host] }]);
        expect(ing.metadata.annotations['alb.ingress.kubernetes.io/certificate-arn'], env).toMatch(/^arn:aws:acm:/);
      } else {
        expect(ing.spec.tls, env).toEqual([{ hosts: [host], secretName: 'ows-tls' }]);
        const cert = get(objs(env), 'Certificate', OWS_NAMES.api);
        expect(cert.spec.dnsNames, env).toEqual([host]);
        expect(cert.spec.secretName, env).toBe('ows-tls');
      }
      const a = ing.metadata.annotations as Record<string, string>;
      expect(a['stackbook.io/hsts'], env).toBe('max-age=31536000; includeSubDomains');
      if (c.cluster.ingressClass === 'nginx') {
        expect(a, env).toMatchObject({
          'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true',
          'nginx.ingress.kubernetes.io/ssl-redirect': 'true',
          'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
          'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
        });
      } else {
        expect(a, env).toMatchObject({
          'alb.ingress.kubernetes.io/ssl-redirect': '443',
          'alb.ingress.kubernetes.io/load-balancer-attributes': 'idle_timeout.timeout_seconds=3600',
          'alb.ingress.kubernetes.io/listener-attributes.HTTPS-443': 'routing.http.response.strict_transport_security.header_value=max-age=31536000; includeSubDomains',
        });
      }
      expectTrace(ing, 'OWS-12');
      if (c.cluster.ingressClass !== 'alb') expectTrace(get(objs(env), 'Certificate', OWS_NAMES.api), 'OWS-12');
    }
    expect(get(objs('dev', (r) => (r.services.ows.wsTimeoutSeconds = 900)), 'Ingress', OWS_NAMES.api).metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('900');
    expect(configError('dev', (r) => (r.services.ows.wsTimeoutSeconds = 30))).toBe('stacks/Pulumi.dev.yaml: config.stackbook:services.ows.wsTimeoutSeconds: must be ≥ 60 (got 30)');
    // the extra annotations can never undo the HTTPS redirect or HSTS
    const chart = newChart();
    const e = errorOf(
      () =>
        new TlsIngress(chart, 'I', {
          name: 'web', namespace: 'apps', host: 'web.example.com', serviceName: 'web', servicePort: 80, ingressClass: 'nginx', exposure: 'public', clusterIssuer: 'ca',
          annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' },
        }),
    );
    expect(e.message).toBe('TlsIngress "web": annotations.nginx.ingress.kubernetes.io/ssl-redirect is set by the component (HTTPS redirect, HSTS, timeouts) and cannot be overridden (got "false")');
  });

  it('OWS-14: the distroless variant is selectable (its own image); nothing in the pods runs a shell', () => {
    expect(RUNBOOK).toMatch(/Dockerfile\.distroless/);
    for (const env of ENVS) {
      const o = owsCfg(env);
      const variant = o.variant ?? 'standard';
      const ref = variant === 'distroless' ? o.distrolessImage : o.image;
      const registry = cfg(env).cluster.airgapped ? `${cfg(env).cluster.registry}/` : '';
      const expected = `${registry}${ref.repository}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`;
      for (const name of [OWS_NAMES.api]) {
        const d = deployment(env, name);
        const c = containerOf(d);
        expect(c.image, `${env} ${name}`).toBe(expected);
        const argv = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
        expect(argv, `${env} ${name}`).not.toMatch(/(^|\/)(sh|bash|ash)( |$)/);
        for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe']) expect(c[p].exec, `${env} ${name} ${p}`).toBeUndefined();
        expect(c.lifecycle.preStop, `${env} ${name}`).toEqual({ sleep: { seconds: 5 } });
        expectTrace(d, 'OWS-14');
      }
    }
    expect(owsCfg('prod').variant).toBe('distroless');
    expect(containerOf(deployment('prod')).image).toContain(':0.9.4-distroless@sha256:');
    expect(containerOf(deployment('staging')).image).toMatch(/:0\.9\.4@sha256:/);
    // switching: the distroless image is required
    expect(configError('staging', (r) => (r.services.ows.variant = 'distroless'))).toBe(
      'stacks/Pulumi.staging.yaml: config.stackbook:services.ows.distrolessImage: required when variant is distroless (Dockerfile.distroless builds a separate image)',
    );
    expect(configError('prod', (r) => delete r.services.ows.distrolessImage.digest)).toMatch(/services\.ows\.distrolessImage\.digest: required in production stacks/);
    expect(configError('dev', (r) => (r.services.ows.variant = 'slim'))).toMatch(/services\.ows\.variant: must be one of "standard", "distroless" \(got "slim"\)$/);
  });

  it('OWS-15: no worker Deployment: the app has no worker program at any commit, and a `worker` block is a configuration error saying so', () => {
    expect(RUNBOOK).toMatch(/offload CPU-bound chemistry processing to worker processes/);
    for (const env of ENVS) {
      expect(owsCfg(env).worker, env).toBeUndefined();
      expect(objs(env).filter((x) => JSON.stringify(x.metadata).includes('ows-worker')), env).toEqual([]);
      expect(objs(env).filter((x) => x.kind === 'Deployment').map((x) => x.metadata.name), env).not.toContain('ows-worker');
    }
    // the contract names no worker workload, and says why
    expect(Object.keys(owsContract.workloads)).toEqual(['ows']);
    expect(owsContract.upstream.notes).toMatch(/openworld_specialty_chemicals\.worker` \(our former `ows-worker`\) exists at no commit/);
    expect(configError('staging', (r) => (r.services.ows.worker = { command: ['python3', '-m', 'openworld_specialty_chemicals.worker'] }))).toBe(
      'stacks/Pulumi.staging.yaml: config.stackbook:services.ows.worker.enabled: OWS has no worker program at any commit (98a9718 newest): a worker Deployment would crash-loop; remove the block until the app ships a job consumer entrypoint (OWS-15, services/ows.contract.ts)',
    );
    // a disabled block is accepted and renders nothing
    expect(objs('staging', (r) => (r.services.ows.worker = { enabled: false, command: ['x'] })).filter((x) => JSON.stringify(x.metadata).includes('ows-worker'))).toEqual([]);
  });
});

describe('OWS application contract (issue 19: services/ows.contract.ts, upstream 98a9718)', () => {
  const contractFindings = (objects: readonly J[]) => evaluate(objects as never).filter((v) => v.rule === 'app-contract').map((v) => `${v.object}: ${v.message}`);

  it('OWS-2: the API runs uvicorn on the app factory (the image CMD, `cli dashboard`, fails to import at 98a9718), on 0.0.0.0:8000, checked by the contract', () => {
    expect(owsContract.upstream.commit).toMatch(/^98a9718/);
    expect(owsContract.workloads.ows!.command!.runbookSays).toMatch(/reports\/` is in \.gitignore/);
    for (const env of ENVS) {
      const d = deployment(env);
      const c = containerOf(d);
      expect(d.metadata.annotations['stackbook.io/contract'], env).toBe('ows/ows');
      expect(c.command, env).toEqual(['python3', '-m', 'uvicorn']);
      expect(c.args, env).toEqual(['--factory', 'openworld_specialty_chemicals.dashboard:build_app', '--host', '0.0.0.0', '--port', '8000', '--log-config', '/etc/ows/log-config.json']);
      expect(c.ports.map((p: J) => p.containerPort), env).toEqual([8000]);
      expect(contractFindings(objs(env)), env).toEqual([]);
    }
  });

  it('the contract rule refuses what the service used to render: the CLI entrypoint, LOG_FORMAT-less flags it does not know, a probe elsewhere', () => {
    const base = deployment('prod');
    const withContainer = (change: (c: J) => void): J => {
      const d = JSON.parse(JSON.stringify(base));
      change(d.spec.template.spec.containers[0]);
      return d;
    };
    const others = objs('prod').filter((o) => o !== base);
    const findings = (d: J) => contractFindings([...others, d]);
    expect(findings(base)).toEqual([]);
    expect(findings(withContainer((c) => (c.command = ['/usr/local/bin/uvicorn'])))).toEqual([
      'Deployment ows/ows: runs "/usr/local/bin/uvicorn", not an entrypoint of llamasearchai/OpenWorld-SpecialtyChemicals@98a9718 (python3)',
    ]);
    expect(findings(withContainer((c) => c.args.push('--log-format', 'json')))).toEqual([
      'Deployment ows/ows: passes --log-format, a flag llamasearchai/OpenWorld-SpecialtyChemicals@98a9718 does not accept',
    ]);
    expect(findings(withContainer((c) => c.env.push({ name: 'OW_SC_WORKER_QUEUE', value: 'x' })))).toEqual([
      'Deployment ows/ows: sets env OW_SC_WORKER_QUEUE, which llamasearchai/OpenWorld-SpecialtyChemicals@98a9718 never reads',
    ]);
    expect(findings(withContainer((c) => (c.livenessProbe.httpGet.path = '/healthz')))).toEqual([
      'Deployment ows/ows: livenessProbe GET /healthz on port 8000: not a health endpoint of llamasearchai/OpenWorld-SpecialtyChemicals@98a9718 (/livez:8000, /readyz:8000, /health:8000)',
    ]);
  });

  it('OWS-9: the alerts use only metrics the app exposes, and the former p99 > 52428 (above the top bucket 8192) is refused as never firing', () => {
    for (const env of ENVS) {
      const pr = get(objs(env), 'PrometheusRule', 'ows');
      expect(pr.metadata.annotations['stackbook.io/contract'], env).toBe('ows');
    }
    expect(owsContract.metrics.ws_message_size_bytes!.buckets!.filter(Number.isFinite).at(-1)).toBe(8192);
    const former = 'histogram_quantile(0.99, sum by (le) (rate(ws_message_size_bytes_bucket{job="ows",namespace="ows"}[5m]))) > 52428';
    expect(metricProblems(owsContract, former)).toEqual([
      'compares a quantile of ws_message_size_bytes with 52428, at or above its top finite bucket (8192): histogram_quantile never returns more, so it can never fire',
    ]);
    // and a metric the app does not have (no latency histogram) is named
    expect(metricProblems(owsContract, 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 1')[0]).toMatch(/uses metric http_request_duration_seconds_bucket, which .* does not expose/);
  });

  it('OWS-11 (issue 14 item 10): more than one uvicorn worker is a configuration error: the app\'s metrics registry is per process', () => {
    expect(owsContract.assumptions!.join(' ')).toMatch(/private CollectorRegistry \(dashboard\/__init__\.py:108\).*without MultiProcessCollector/);
    expect(configError('staging', (r) => (r.services.ows.workers = 2))).toBe(
      'stacks/Pulumi.staging.yaml: config.stackbook:services.ows.workers: must be 1: OWS 98a9718 keeps its metrics in a per-process registry without MultiProcessCollector, so each scrape would see one worker of several (and its own CLI exits 1 with more); scale with autoscaling instead (services/ows.contract.ts) (got 2)',
    );
    expect(() => rendered('dev', (r) => (r.services.ows.workers = 1))).not.toThrow();
  });

  it('OWS-6 OWS-1: every env var set is read by the app or runbook-only with a reason; /app/logs (the app\'s request log) is writable; UID 10001', () => {
    const w = owsContract.workloads.ows!;
    for (const env of ENVS) {
      const c = containerOf(deployment(env));
      const set = [...(c.env ?? []).map((e: J) => e.name), ...Object.keys(settings(env))].sort();
      for (const k of set) expect(w.env![k], `${env} ${k}`).toBeDefined();
      expect(set.filter((k) => w.env![k]!.runbookOnly).sort(), env).toEqual(['OW_SC_MAX_CSV_BYTES', 'OW_SC_MAX_CSV_ROWS']);
      expect(podOf(deployment(env)).securityContext.runAsUser, env).toBe(w.uid!.value);
    }
    expect(w.writablePaths!.map((p) => p.path)).toEqual(['/app/logs']);
  });
});

describe('OWS size alert above the app histogram (promtool acts on the rendered rule)', () => {
  const runDir = promtoolWorkspace('ows-large-limit');
  const run = (mutate?: (doc: string) => string) => {
    const rule = get(objs('staging', (r) => (r.services.ows.rateLimits = { wsMaxMessageBytes: 65_536 })), 'PrometheusRule', 'ows');
    const dir = runDir('test');
    const text = readUnitTests(unitTestFile('ows-large-limit')).text;
    return promtool(['test', 'rules', prepareUnitTest(dir, ruleSetOf(rule, 'https://stackbook.example.com/runbooks'), mutate ? mutate(text) : text)], dir);
  };

  it('OWS-9: with a 64 KiB limit the alert fires on messages above 8192 bytes and stays quiet below and without traffic', () => {
    const r = run();
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('OWS-9: the harness can fail: the FIRING case turned QUIET fails', () => {
    const r = run((t) => t.replace(/      - eval_time: 20m\n        alertname: OWSWebSocketMessagesNearSizeLimit\n        exp_alerts:\n[\s\S]*?runbook_url: [^\n]*\n/, '      - eval_time: 20m\n        alertname: OWSWebSocketMessagesNearSizeLimit\n        exp_alerts: []\n'));
    expect(r.code).not.toBe(0);
  });
});

describe('OWS stacks as a whole', () => {
  it('OWS-1 X-1: every OWS object passes every policy (no violation, no exception) and is a valid Kubernetes object, in every stack', () => {
    for (const env of ENVS) {
      expect(evaluate(objs(env) as never).map((v) => `${v.object}: [${v.rule}] ${v.message}`), env).toEqual([]);
      // Except issue 14 item 17's declaration of the Secret-sourced variables the app itself reads (derived from the contract at render).
      expect(objs(env).filter((o) => Object.keys(o.metadata.annotations ?? {}).some((k) => k.startsWith('exception.stackbook.io/') && k !== 'exception.stackbook.io/secret-env')), env).toEqual([]);
      expect(invalidManifests(objs(env)), env).toEqual({});
    }
  });

  it('OWS-12: the air-gapped stack is internal, private and mirrored', () => {
    const r = rendered('airgap');
    expect(airgapProblems(r)).toEqual([]);
    expect(get(r.objects as J[], 'Ingress', OWS_NAMES.api).spec.ingressClassName).toBe('nginx-internal');
    for (const o of r.objects as J[]) {
      for (const c of [...(o.spec?.template?.spec?.containers ?? []), ...(o.spec?.template?.spec?.initContainers ?? [])]) {
        expect(c.image, `${o.kind} ${o.metadata.name}`).toMatch(/^registry\.corp\.internal:5000\/mirror\/.+@sha256:[0-9a-f]{64}$/);
      }
    }
  });

  it('OWS-9: rendering is deterministic', () => {
    const again = render(parseStack(rawOf('staging'), fileOf('staging')));
    expect(JSON.stringify(again.objects)).toBe(JSON.stringify(rendered('staging').objects));
  });
});

/**
 * Oubliette (runbook 002_6b4e0b06bc314619.txt): one block of tests per catalog concern
 * OUB-1 … OUB-15 on the rendered real stacks, each also checking the trace annotation. Expected
 * values come from the runbook text (its tables and YAML blocks are parsed here) and from the stack
 * files (read with a plain YAML parser). Only the OUB service is rendered (`render(stack, [oub])`),
 * so work in progress on other services cannot hide or fake a result here. The maintenance scripts
 * (logrotate policy, VACUUM, admin token) are run for real with sh and sqlite3 in temp directories.
 */
import { spawn, spawnSync } from 'node:child_process';
import { shAsync } from './shell.js';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as yaml from 'js-yaml';
import { ConfigError, parseStack, rawFromStackFile } from '../stacks/load.js';
import { render, type Manifest, type Rendered } from '../synth/render.js';
import { blocking, evaluate, looksSecret } from '../policies/manifest-rules.js';
import { backupCronJobs, backupProblems } from '../reports/failure-budget.js';
import { OUB_PRESETS } from '../stacks/oub-config.js';
import { quantityValue } from '../components/meta.js';
import {
  OUB_ADMIN_TOKEN_SCRIPT,
  OUB_CONFIG_SCRIPT,
  OUB_SECRET_PLACEHOLDERS,
  OUB_LOGROTATE_CONF,
  OUB_LOGROTATE_SCRIPT,
  OUB_PATHS,
  OUB_RUNBOOK_ALERTS,
  OUB_VACUUM_SCRIPT,
  oub,
} from '../services/oub.js';
import { OUB_RUNBOOK_DISAGREEMENTS } from '../services/oub.contract.js';
import { SCRIPTS, STREAM_SCRIPTS, shellCommand } from '../components/backup.js';
import { concernsOf, ENVS, find, ROOT, SHARED } from './helpers.js';
import { alertsOf, coverageProblems, readUnitTests, unitTestExists, unitTestFile } from './promtool.js';

type J = Record<string, any>;

const RUNBOOK = readFileSync(join(SHARED, 'runbooks', '002_6b4e0b06bc314619.txt'), 'utf8');
const NS = 'oub';
const tmp = mkdtempSync(join(tmpdir(), 'stackbook-oub-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ----------------------------------------------------------------------------- the runbook, parsed

/** The fenced block that follows `heading` in the runbook. */
function block(heading: string): string {
  const at = RUNBOOK.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(RUNBOOK.slice(at));
  return m![1]!;
}
const RUNBOOK_CONFIG = yaml.load(block('### Config File (config.yaml)')) as J;
const RUNBOOK_ALERTS = (yaml.load(block('### Alert Recommendations')) as J).groups as J[];
/** `| Variable | Description | Default |` rows. */
const RUNBOOK_ENV: Record<string, string> = Object.fromEntries(
  [...RUNBOOK.matchAll(/^\| `([A-Z_]+)` \| [^|]+ \| `?([^`|]*?)`? \|$/gm)].map((m) => [m[1]!, m[2]!.trim()]),
);

// ----------------------------------------------------------------------------- stacks and rendering

const fileOf = (env: string) => `stacks/Pulumi.${env}.yaml`;
const rawOf = (env: string): J => rawFromStackFile(readFileSync(join(ROOT, fileOf(env)), 'utf8'), fileOf(env)).raw as J;
/** The oub block as written in the stack file. */
const written = (env: string): J => rawOf(env).services.oub;

/** Render only the OUB service of a (changed) stack; Secret sources of other services are left out. */
function renderRaw(env: string, raw: J): Rendered {
  const s = parseStack(raw, fileOf(env));
  const mine = Object.fromEntries(Object.entries(s.secretSources).filter(([k]) => k.startsWith('oubliette-')));
  return render({ ...s, secretSources: mine }, [oub]);
}
const cache = new Map<string, Rendered>();
function rendered(env: string): Rendered {
  if (!cache.has(env)) cache.set(env, renderRaw(env, rawOf(env)));
  return cache.get(env)!;
}
function renderWith(env: string, change: (oubBlock: J, raw: J) => void): Rendered {
  const raw = rawOf(env);
  change(raw.services.oub, raw);
  return renderRaw(env, raw);
}
/** The ConfigError lines of a changed stack. */
function configErrors(env: string, change: (oubBlock: J, raw: J) => void): string[] {
  const raw = rawOf(env);
  change(raw.services.oub, raw);
  try {
    parseStack(raw, fileOf(env));
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message.split('\n');
  }
  throw new Error('expected a ConfigError, the stack was accepted');
}

const objs = (r: Rendered | string) => (typeof r === 'string' ? rendered(r) : r).objects as J[];
const deployment = (r: Rendered | string) => find(objs(r) as Manifest[], 'Deployment', 'oubliette', NS) as J;
const pod = (r: Rendered | string) => deployment(r).spec.template.spec;
const server = (r: Rendered | string) => pod(r).containers.find((c: J) => c.name === 'oubliette') as J;
const runtime = (r: Rendered | string) => pod(r).initContainers.find((c: J) => c.name === 'runtime') as J;
const envOf = (c: J): Record<string, J> => Object.fromEntries((c.env ?? []).map((e: J) => [e.name, e]));
const configText = (r: Rendered | string) => (find(objs(r) as Manifest[], 'ConfigMap', 'oubliette-config', NS) as J).data['oubliette.jsonc'] as string;
const appConfig = (r: Rendered | string) => JSON.parse(configText(r)) as J;
const configInit = (r: Rendered | string) => pod(r).initContainers.find((c: J) => c.name === 'config') as J;
const cronJob = (r: Rendered | string, name: string) => find(objs(r) as Manifest[], 'CronJob', name, NS) as J;
const cronPod = (cj: J) => cj.spec.jobTemplate.spec.template.spec;
const gib = (q: string) => quantityValue(q)! / 2 ** 30;

function expectTrace(o: J, id: string) {
  expect(concernsOf(o as Manifest), `${o.kind} ${o.metadata.name} traces ${id}`).toContain(id);
}

/** Run a script with /bin/sh -ec, as the pods do. */
function sh(script: string, env: Record<string, string>, cwd = tmp) {
  const r = spawnSync('/bin/sh', ['-ec', script], { cwd, env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}


// ----------------------------------------------------------------------------- OUB-1 … OUB-15

describe('OUB — Oubliette', () => {
  it('OUB-1: listens on 8080 (oubliette.jsonc server.address; the runbook\'s SERVER_ADDR is not read); liveness /health, readiness /ready; /metrics scraped from the monitoring namespace', () => {
    expect(RUNBOOK_ENV.SERVER_ADDR).toBe(':8080');
    expect(RUNBOOK).toMatch(/# Liveness[^\n]*\ncurl http:\/\/localhost:8080\/health/);
    expect(RUNBOOK).toMatch(/# Readiness[^\n]*\ncurl http:\/\/localhost:8080\/ready/);
    for (const env of ENVS) {
      const c = server(env);
      // the app never reads SERVER_ADDR (services/oub.contract.ts): the port is the config's
      expect(envOf(c).SERVER_ADDR, env).toBeUndefined();
      expect(appConfig(env).server.address, env).toBe(':8080');
      expect(c.ports, env).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
      expect(c.livenessProbe.httpGet, env).toMatchObject({ path: '/health', port: 8080 });
      expect(c.readinessProbe.httpGet, env).toMatchObject({ path: '/ready', port: 8080 });
      expect(c.startupProbe.httpGet, env).toMatchObject({ path: '/ready', port: 8080 });
      const svc = find(objs(env) as Manifest[], 'Service', 'oubliette', NS) as J;
      expect(svc.spec.ports, env).toEqual([expect.objectContaining({ name: 'http', port: 8080, targetPort: 'http' })]);
      const sm = find(objs(env) as Manifest[], 'ServiceMonitor', 'oubliette', NS) as J;
      expect(sm.spec.endpoints[0], env).toMatchObject({ port: 'http', path: '/metrics' });
      expect(sm.spec.selector.matchLabels, env).toEqual(svc.metadata.labels && { 'app.kubernetes.io/name': 'oubliette' });
      const monitoring = rendered(env).stack.cluster.monitoringNamespace;
      const np = find(objs(env) as Manifest[], 'NetworkPolicy', 'oubliette', NS) as J;
      const fromMonitoring = np.spec.ingress.filter((r: J) => r.from.some((p: J) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === monitoring));
      expect(fromMonitoring.map((r: J) => r.ports), env).toEqual([[{ port: 8080, protocol: 'TCP' }]]);
      // only the MCP endpoint is published: health, readiness and metrics stay in the cluster
      const ing = find(objs(env) as Manifest[], 'Ingress', 'oubliette', NS) as J;
      expect(ing.spec.rules[0].http.paths.map((p: J) => p.path), env).toEqual(['/mcp']);
      for (const o of [deployment(env), svc, sm, np, ing]) expectTrace(o, 'OUB-1');
    }
  });

  it('issue 19: the server runs as the app reads it (f19a278): no -config flag, HOME=/home/oubliette, ~/.oubliette/config/oubliette.jsonc, data/projects/logs claims under ~/.oubliette/data; the app-contract rule passes', () => {
    for (const env of ENVS) {
      const c = server(env);
      // `-config` is not a flag of the binary (Go's flag parser exits 2)
      expect(c.args, env).toBeUndefined();
      expect(c.command, env).toBeUndefined();
      expect(Object.keys(envOf(c)).sort(), env).toEqual(['CONTAINER_RUNTIME', 'DOCKER_HOST', 'HOME']);
      expect(envOf(c).HOME.value, env).toBe('/home/oubliette');
      const mounts = Object.fromEntries(c.volumeMounts.map((m: J) => [m.mountPath, m]));
      expect(mounts['/home/oubliette/.oubliette/config'], env).toEqual({ name: 'config', mountPath: '/home/oubliette/.oubliette/config', readOnly: true });
      const claimOf = Object.fromEntries(pod(env).volumes.filter((v: J) => v.persistentVolumeClaim).map((v: J) => [v.name, v.persistentVolumeClaim.claimName]));
      expect(claimOf[mounts['/home/oubliette/.oubliette/data'].name], env).toBe('oubliette-data');
      expect(claimOf[mounts['/home/oubliette/.oubliette/data/projects'].name], env).toBe('oubliette-projects');
      expect(claimOf[mounts['/home/oubliette/.oubliette/data/logs'].name], env).toBe('oubliette-logs');
      expect(deployment(env).metadata.annotations['stackbook.io/contract'], env).toBe('oub/oubliette');
      expect((find(objs(env) as Manifest[], 'PrometheusRule', 'oub', NS) as J).metadata.annotations['stackbook.io/contract'], env).toBe('oub');
      const findings = evaluate(objs(env) as Manifest[]).filter((f) => f.rule === 'app-contract');
      expect(findings.map((f) => f.message), env).toEqual([]);
    }
    // the rule really looks: the old rendering (-config flag, runbook env vars) is refused
    const d = JSON.parse(JSON.stringify(deployment('dev'))) as J;
    const srv = d.spec.template.spec.containers.find((c: J) => c.name === 'oubliette');
    srv.args = ['-config', '/etc/oubliette/config.yaml'];
    srv.env.push({ name: 'SERVER_ADDR', value: ':8080' }, { name: 'FACTORY_API_KEY', valueFrom: { secretKeyRef: { name: 'oubliette-factory', key: 'api-key' } } });
    srv.volumeMounts = srv.volumeMounts.filter((m: J) => m.name !== 'config');
    const msgs = evaluate([d as Manifest]).filter((f) => f.rule === 'app-contract').map((f) => f.message);
    expect(msgs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/passes -config, a flag HyphaGroup\/oubliette@f19a278 does not accept/),
        expect.stringMatching(/sets env SERVER_ADDR, which .* never reads/),
        expect.stringMatching(/does not provide \/home\/oubliette\/\.oubliette\/config\/oubliette\.jsonc/),
      ]),
    );
  });

  it('OUB-2: the Factory key and GitHub token reach oubliette.jsonc credentials from Secrets (init container "config"); a stack without a Factory key source fails naming file and path', () => {
    expect(RUNBOOK_ENV.FACTORY_API_KEY).toBe('-');
    expect(RUNBOOK).toMatch(/`FACTORY_API_KEY` \| Factory API key \(required\)/);
    for (const env of ENVS) {
      // the app reads neither variable (services/oub.contract.ts): the server gets no secret env
      const e = envOf(server(env));
      expect(e.FACTORY_API_KEY, env).toBeUndefined();
      expect(e.DEFAULT_GITHUB_TOKEN, env).toBeUndefined();
      // issue 14 item 17: the init container reads both as mounted Secret files, never env
      const init = envOf(configInit(env));
      expect(init.OUBLIETTE_FACTORY_API_KEY, env).toBeUndefined();
      expect(JSON.stringify(configInit(env).env), env).not.toContain('secretKeyRef');
      expect(init.SECRETS_DIR, env).toEqual({ name: 'SECRETS_DIR', value: '/run/secrets/oubliette' });
      expect(configInit(env).volumeMounts, env).toContainEqual({ name: 'secrets', mountPath: '/run/secrets/oubliette', readOnly: true });
      expect(pod(env).volumes.find((v: J) => v.name === 'secrets').projected.sources, env).toEqual([
        { secret: { name: 'oubliette-factory', items: [{ key: 'api-key', path: 'OUBLIETTE_FACTORY_API_KEY' }] } },
        { secret: { name: 'oubliette-github', items: [{ key: 'token', path: 'OUBLIETTE_GITHUB_TOKEN' }] } },
      ]);
      const cred = appConfig(env).credentials;
      expect(cred.factory, env).toEqual({ default: 'default', credentials: { default: { api_key: OUB_SECRET_PLACEHOLDERS.factory, description: 'Secret oubliette-factory/api-key' } } });
      expect(cred.github.credentials.default.token, env).toBe(OUB_SECRET_PLACEHOLDERS.github);
      const secrets = rendered(env).secrets.filter((s) => s.namespace === NS && s.name.startsWith('oubliette-'));
      expect(secrets.map((s) => [s.name, s.keys, s.source, s.consumers]), env).toEqual([
        ['oubliette-factory', ['api-key'], written(env).factoryApiKey.source, ['oubliette']],
        ['oubliette-github', ['token'], written(env).githubToken.source, ['oubliette']],
      ]);
      expectTrace(deployment(env), 'OUB-2');
    }
    // no source: a clear error naming the stack file, the path and what to write
    for (const env of ENVS) {
      const lines = configErrors(env, (o) => delete o.factoryApiKey);
      expect(lines, env).toEqual([expect.stringMatching(new RegExp(`^stacks/Pulumi\\.${env}\\.yaml: config\\.stackbook:services\\.oub\\.factoryApiKey: required: the Factory API key .*\\{ source: existing \\}.*stackbook:secretSources\\.oubliette-factory`))]);
    }
    // ... a stack-level source is enough, and decides where it comes from
    const viaSources = renderWith('dev', (o, raw) => {
      delete o.factoryApiKey;
      raw.secretSources = { ...raw.secretSources, 'oubliette-factory': { source: 'existing', version: 2 } };
    });
    expect(viaSources.secrets.find((s) => s.name === 'oubliette-factory')).toMatchObject({ source: 'existing', version: 2 });
    const vault = renderWith('dev', (o, raw) => {
      o.factoryApiKey = { source: 'vault', path: 'secret/oubliette/factory', property: 'key' };
      raw.cluster.vault = { server: 'https://vault.corp.internal:8200', auth: { role: 'stackbook' }, ca: { kind: 'ConfigMap', name: 'corp-ca', namespace: 'external-secrets', key: 'ca.crt' } };
    });
    expect(vault.secrets.find((s) => s.name === 'oubliette-factory')).toMatchObject({ source: 'vault', vault: { path: 'secret/oubliette/factory', properties: { 'api-key': 'key' } } });
    expect(objs(vault).find((o) => o.kind === 'ExternalSecret' && o.metadata.name === 'oubliette-factory')).toBeDefined();
    const pulumi = renderWith('dev', (o) => (o.factoryApiKey = { source: 'pulumi', configKey: 'oubFactoryKey' }));
    expect(pulumi.secrets.find((s) => s.name === 'oubliette-factory')).toMatchObject({ source: 'pulumi', pulumi: { 'api-key': { configKey: 'oubFactoryKey' } } });
    // the GitHub token is optional: without a source there is no github credential
    const noGithub = renderWith('dev', (o) => delete o.githubToken);
    expect(JSON.stringify(pod(noGithub).volumes)).not.toContain('oubliette-github');
    expect(appConfig(noGithub).credentials.github).toBeUndefined();
    expect(noGithub.secrets.map((s) => s.name)).toEqual(['oubliette-factory']);
  });

  it('OUB-3: oubliette.jsonc (the app\'s sections) holds no secret; the init script writes the Secret values as valid JSON (run here), read-only for the server; a change rolls the pods', () => {
    for (const env of ENVS) {
      const c = appConfig(env);
      expect(Object.keys(c).every((k) => ['server', 'credentials', 'defaults', 'models', 'containers'].includes(k)), env).toBe(true);
      const text = configText(env);
      expect(text, env).not.toMatch(/ghp_|sk-/i);
      const cm = find(objs(env) as Manifest[], 'ConfigMap', 'oubliette-config', NS) as J;
      for (const [k, v] of Object.entries(cm.data as Record<string, string>)) expect(looksSecret(k, v), `${env} ${k}`).toBe(false);
      expect(server(env).volumeMounts, env).toContainEqual({ name: 'config', mountPath: OUB_PATHS.config, readOnly: true });
      expect(pod(env).volumes, env).toContainEqual({ name: 'config', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
      expect(pod(env).volumes, env).toContainEqual({ name: 'config-template', configMap: { name: 'oubliette-config' } });
      // the config container runs first, before the runtime sidecar
      expect(pod(env).initContainers.map((x: J) => x.name), env).toEqual(['config', 'runtime']);
      expectTrace(cm, 'OUB-3');
      expectTrace(deployment(env), 'OUB-3');
    }
    // no literal anywhere in the pod carries a secret: the keys are only Secret references
    for (const env of ENVS) {
      for (const c of [...pod(env).containers, ...pod(env).initContainers]) {
        for (const e of c.env ?? []) if (/KEY|TOKEN/.test(e.name)) expect(e.value, `${env} ${e.name}`).toBeUndefined();
      }
    }
    // the script, run: values with quotes, backslashes, & and the placeholder itself stay exact
    const dir = join(tmp, 'config-run');
    mkdirSync(dir, { recursive: true });
    const template = join(tmp, 'oubliette.jsonc');
    writeFileSync(template, configText('dev'));
    const ugly = 'fk-"q"\\x&y/\\\\z\\1$HOME';
    const secrets = (files: Record<string, string>) => {
      const d = mkdtempSync(join(tmp, 'oub-secrets-'));
      for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), v);
      return d;
    };
    const ok = sh(OUB_CONFIG_SCRIPT, { CONFIG_DIR: dir, TEMPLATE: template, SECRETS_DIR: secrets({ OUBLIETTE_FACTORY_API_KEY: `${ugly}\n`, OUBLIETTE_GITHUB_TOKEN: 'ghp_abc' }) });
    expect(ok.out).toMatch(/wrote .*oubliette\.jsonc/);
    expect(ok.out).not.toContain('ghp_abc');
    expect(ok.code).toBe(0);
    const written = JSON.parse(readFileSync(join(dir, 'oubliette.jsonc'), 'utf8')) as J;
    expect(written.credentials.factory.credentials.default.api_key).toBe(ugly);
    expect(written.credentials.github.credentials.default.token).toBe('ghp_abc');
    expect(statSync(join(dir, 'oubliette.jsonc')).mode & 0o777).toBe(0o600);
    // a value with a line break, or none at all, is refused
    expect(sh(OUB_CONFIG_SCRIPT, { CONFIG_DIR: dir, TEMPLATE: template, SECRETS_DIR: secrets({ OUBLIETTE_FACTORY_API_KEY: 'a\nb', OUBLIETTE_GITHUB_TOKEN: 'x' }) }).code).not.toBe(0);
    expect(sh(OUB_CONFIG_SCRIPT, { CONFIG_DIR: dir, TEMPLATE: template, SECRETS_DIR: secrets({ OUBLIETTE_GITHUB_TOKEN: 'x' }) }).code).not.toBe(0);
    // a change rolls the pods: the checksum annotation follows the content
    const before = deployment('dev').spec.template.metadata.annotations;
    const changed = renderWith('dev', (o) => (o.recursion = { maxDepth: 4 }));
    const after = deployment(changed).spec.template.metadata.annotations;
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(after['checksum.stackbook.io/configmap-oubliette-config']).not.toBe(before['checksum.stackbook.io/configmap-oubliette-config']);
  });

  it('OUB-4: CONTAINER_RUNTIME=auto (env, read by the app); recursion limits 3 / 50 / 10.00 as oubliette.jsonc defaults.limits (the DEFAULT_MAX_* env vars are not read), validated', () => {
    const defaults = { CONTAINER_RUNTIME: 'auto', DEFAULT_MAX_RECURSION_DEPTH: '3', DEFAULT_MAX_AGENTS_PER_SESSION: '50', DEFAULT_MAX_COST_USD: '10.00' };
    for (const [k, v] of Object.entries(defaults)) expect(RUNBOOK_ENV[k], k).toBe(v);
    for (const env of ENVS) {
      const e = envOf(server(env));
      expect(e.CONTAINER_RUNTIME?.value, env).toBe('auto');
      for (const k of ['DEFAULT_MAX_RECURSION_DEPTH', 'DEFAULT_MAX_AGENTS_PER_SESSION', 'DEFAULT_MAX_COST_USD']) expect(e[k], `${env} ${k}`).toBeUndefined();
      expect(appConfig(env).defaults.limits, env).toEqual({ max_recursion_depth: 3, max_agents_per_session: 50, max_cost_usd: 10 });
      expectTrace(deployment(env), 'OUB-4');
    }
    const set = renderWith('dev', (o) => {
      o.runtime.preference = 'docker';
      o.recursion = { maxDepth: 5, maxAgents: 20, maxCostUsd: 2.5 };
    });
    expect(envOf(server(set)).CONTAINER_RUNTIME!.value).toBe('docker');
    expect(appConfig(set).defaults.limits).toEqual({ max_recursion_depth: 5, max_agents_per_session: 20, max_cost_usd: 2.5 });
    // apple-container is macOS only: refused with a reason
    expect(configErrors('prod', (o) => (o.runtime.preference = 'apple-container'))).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.oub.runtime.preference: apple-container is the macOS container runtime and cannot run on Kubernetes (Linux nodes): use auto or docker (got "apple-container")',
    ]);
    expect(configErrors('dev', (o) => (o.runtime.preference = 'podman'))[0]).toMatch(/services\.oub\.runtime\.preference: must be one of "auto", "docker", "apple-container" \(got "podman"\)$/);
    expect(configErrors('dev', (o) => (o.recursion = { maxDepth: 11 }))[0]).toMatch(/services\.oub\.recursion\.maxDepth: must be ≤ 10 \(got 11\)$/);
    expect(configErrors('dev', (o) => (o.recursion = { maxAgents: 0 }))[0]).toMatch(/services\.oub\.recursion\.maxAgents: must be ≥ 1 \(got 0\)$/);
    expect(configErrors('dev', (o) => (o.recursion = { maxCostUsd: 10.005 }))[0]).toMatch(/services\.oub\.recursion\.maxCostUsd: .*\(got 10\.005\)$/);
  });

  it('OUB-5: HighErrorRate, HighLatency and TooManySessions exactly as the runbook writes them, with promtool cases', () => {
    expect(RUNBOOK_ALERTS.map((g) => g.name)).toEqual(['oubliette']);
    const expected = RUNBOOK_ALERTS[0]!.rules as J[];
    expect(expected.map((r) => r.alert)).toEqual(['HighErrorRate', 'HighLatency', 'TooManySessions']);
    // the code wins where the runbook's expr misreads the metric: the gauge is per project_id
    // (services/oub.contract.ts), so TooManySessions sums it; everything else is verbatim
    const fixed = (r: J) => (r.alert === 'TooManySessions' ? { ...r, expr: r.expr.replace('oubliette_active_sessions', 'sum(oubliette_active_sessions)') } : r);
    expect(expected.find((r) => r.alert === 'TooManySessions')!.expr).toBe('oubliette_active_sessions > 100');
    expect(OUB_RUNBOOK_ALERTS.map((a) => ({ alert: a.alert, expr: a.expr, for: a.for, labels: { severity: a.severity }, annotations: { summary: a.summary } }))).toEqual(expected.map(fixed));
    for (const env of ENVS) {
      const pr = find(objs(env) as Manifest[], 'PrometheusRule', 'oub', NS) as J;
      expect(pr.spec.groups.map((g: J) => g.name), env).toEqual(['oubliette']);
      const rules = pr.spec.groups[0].rules as J[];
      expect(rules.map((r) => r.alert), env).toEqual(expected.map((r) => r.alert));
      rules.forEach((r, i) => {
        const want = expected[i]!;
        expect(r.expr, `${env} ${r.alert}`).toBe(fixed(want).expr);
        expect(r.for, `${env} ${r.alert}`).toBe(want.for);
        expect(r.labels, `${env} ${r.alert}`).toEqual(want.labels);
        expect(r.annotations.summary, `${env} ${r.alert}`).toBe(want.annotations.summary);
        // the house checks add a description and a runbook link
        expect(r.annotations.description, `${env} ${r.alert}`).toMatch(/\S{10}/);
        expect(r.annotations.runbook_url, `${env} ${r.alert}`).toBe(`${rendered(env).stack.cluster.runbookBaseUrl.replace(/\/+$/, '')}/oub#${r.alert.toLowerCase()}`);
      });
      expectTrace(pr, 'OUB-5');
    }
    const { doc } = readUnitTests(unitTestFile('oub'));
    expect(doc.rule_files).toEqual(['oub.rules.yaml']);
    expect(coverageProblems(expected.map((r) => r.alert), doc)).toEqual([]);
  });

  it('OUB-6: projects/, data/ (auth.db), logs/ and backups/ on claims; disk alerts at the runbook\'s 80 % / 90 %', () => {
    expect([RUNBOOK_CONFIG.cleanup.disk_warn_percent, RUNBOOK_CONFIG.cleanup.disk_error_percent]).toEqual([80, 90]);
    expect(Object.keys(RUNBOOK_CONFIG.paths)).toEqual(['projects', 'data', 'logs', 'sockets']);
    expect(RUNBOOK).toMatch(/stored in SQLite \(`data\/auth\.db`\)/);
    for (const env of ENVS) {
      const claims = objs(env).filter((o) => o.kind === 'PersistentVolumeClaim');
      expect(claims.map((c) => c.metadata.name).sort(), env).toEqual(['oubliette-backups', 'oubliette-data', 'oubliette-logs', 'oubliette-projects']);
      for (const c of claims) expectTrace(c, 'OUB-6');
      // each path the app writes (services/oub.contract.ts) is the mount of its claim in the server
      const mounts = Object.fromEntries(server(env).volumeMounts.map((m: J) => [m.mountPath, m.name]));
      const claimOf = Object.fromEntries(pod(env).volumes.filter((v: J) => v.persistentVolumeClaim).map((v: J) => [v.name, v.persistentVolumeClaim.claimName]));
      for (const p of ['projects', 'data', 'logs'] as const) expect(claimOf[mounts[OUB_PATHS[p]]], `${env} ${p}`).toBe(`oubliette-${p}`);
      // the alerts: used / capacity of exactly those claims
      const pr = find(objs(env) as Manifest[], 'PrometheusRule', 'oub-disk', NS) as J;
      const rules = alertsOf(pr.spec.groups);
      expect(rules.map((r) => [r.alert, r.labels?.severity]), env).toEqual([['OublietteDiskUsageWarning', 'warning'], ['OublietteDiskUsageError', 'critical']]);
      for (const r of rules) {
        expect(r.expr, env).toMatch(/kubelet_volume_stats_used_bytes\{namespace="oub", persistentvolumeclaim=~"oubliette-\(projects\|data\|logs\|backups\)"\}/);
        expect(r.expr, env).toMatch(/kubelet_volume_stats_capacity_bytes/);
      }
      expect(rules.map((r) => / > (\d+)$/.exec(r.expr)![1]), env).toEqual(['80', '90']);
      expectTrace(pr, 'OUB-6');
    }
    // thresholds follow cleanup.disk_*_percent, and warn must stay below error
    const set = renderWith('dev', (o) => (o.cleanup = { diskWarnPercent: 70, diskErrorPercent: 85 }));
    expect(alertsOf((find(objs(set) as Manifest[], 'PrometheusRule', 'oub-disk', NS) as J).spec.groups).map((r) => / > (\d+)$/.exec(r.expr)![1])).toEqual(['70', '85']);
    expect(configErrors('dev', (o) => (o.cleanup = { diskWarnPercent: 90, diskErrorPercent: 90 }))).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:services.oub.cleanup.diskWarnPercent: must be below diskErrorPercent (90) (got 90)',
    ]);
    for (const f of ['oub-disk', 'oub-projects-backup', 'oub-authdb-backup']) expect(unitTestExists(unitTestFile(f)), f).toBe(true); // by hand or generated (test/promtool.ts)
  });

  it('OUB-7: daily tar.gz of projects and SQLite-safe copy of auth.db, retention 7, integrity checks, scheduled restore drills', () => {
    expect(RUNBOOK_CONFIG.backup).toMatchObject({ interval_hours: 24, retention: 7 });
    for (const env of ENVS) {
      const projects = cronJob(env, 'oub-projects-backup');
      const authdb = cronJob(env, 'oub-authdb-backup');
      for (const cj of [projects, authdb]) {
        expect(cj.spec.schedule, env).toBe('0 3 * * *');
        const store = cronPod(cj).containers[0];
        expect(envOf(store).RETENTION?.value, env).toBe('7');
        expect(cronPod(cj).securityContext.runAsUser, env).toBe(1000);
        expectTrace(cj, 'OUB-7');
      }
      const script = (cj: J) => cronPod(cj).initContainers[0].command.join(' ');
      // issue 14.9: projects stream into the backups claim in one container: no produce step
      // staging the archive in an emptyDir on the node running the runtime
      expect(cronPod(projects).initContainers, env).toBeUndefined();
      expect(cronPod(projects).containers.map((c: J) => c.name), env).toEqual(['store']);
      expect(cronPod(projects).containers[0].command[2], env).toContain(STREAM_SCRIPTS['pvc-tarball'].pvc);
      expect(cronPod(projects).volumes.find((v: J) => v.name === 'work').emptyDir.sizeLimit, env).toBe('64Mi');
      expect(cronPod(projects).volumes, env).toContainEqual({ name: 'source', persistentVolumeClaim: { claimName: 'oubliette-projects', readOnly: true } });
      expect(cronPod(projects).volumes, env).toContainEqual({ name: 'target', persistentVolumeClaim: { claimName: 'oubliette-backups' } });
      expect(script(authdb), env).toMatch(/sqlite3 "\$DB_PATH" "\.backup/);
      expect(script(authdb), env).toMatch(/PRAGMA integrity_check/);
      expect(envOf(cronPod(authdb).initContainers[0]).DB_PATH?.value, env).toBe('/source/auth.db');
      for (const name of ['oub-projects-restore-drill', 'oub-authdb-restore-drill']) {
        expect(cronJob(env, name).spec.schedule, env).toBe('30 5 * * 0');
        expectTrace(cronJob(env, name), 'OUB-7');
      }
      const backups = backupCronJobs(objs(env) as Manifest[]);
      expect(backups.map((b) => b.metadata.name).sort(), env).toEqual(['oub-authdb-backup', 'oub-projects-backup']);
      expect(backups.flatMap((b) => backupProblems(objs(env) as Manifest[], b)), env).toEqual([]);
      for (const n of ['oub-projects-backup', 'oub-authdb-backup']) expectTrace(find(objs(env) as Manifest[], 'PrometheusRule', n, NS) as J, 'OUB-7');
    }
    // retention and schedule are typed
    const set = renderWith('dev', (o) => (o.backup = { retention: 3, schedule: '0 2 * * *' }));
    expect(envOf(cronPod(cronJob(set, 'oub-projects-backup')).containers[0]).RETENTION?.value).toBe('3');
    expect(cronJob(set, 'oub-authdb-backup').spec.schedule).toBe('0 2 * * *');
    expect(configErrors('dev', (o) => (o.backup = { schedule: '0 25 * * *' }))[0]).toMatch(/services\.oub\.backup\.schedule: is not a usable cron schedule: hour: 25 is outside 0-23 \(got "0 25 \* \* \*"\)$/);
  });

  it('issue 14.9: the projects backup streams into the target (run here): checksummed, restorable by the drill, nothing staged in /work, failures leave no partial', () => {
    const base = mkdtempSync(join(tmp, 'stream-'));
    const d = { work: join(base, 'work'), source: join(base, 'source'), backup: join(base, 'backup'), drill: join(base, 'drill') };
    for (const p of Object.values(d)) mkdirSync(p, { recursive: true });
    mkdirSync(join(d.source, 'p1', 'src'), { recursive: true });
    writeFileSync(join(d.source, 'p1', 'src', 'main.py'), 'print("hi")\n');
    writeFileSync(join(d.source, 'p1', 'big.bin'), Buffer.alloc(3 * 2 ** 20, 7));
    const env = (work = d.work) => ({ BACKUP_NAME: 'oub-projects', EXT: 'tar.gz', WORK: work, SOURCE_DIR: d.source, TARGET_DIR: join(d.backup, 'oub-projects'), RETENTION: '2', MIN_COUNT: '1' });
    const run = (script: string, e: Record<string, string>) => sh(shellCommand(script)[2]!, e);
    const s = run(STREAM_SCRIPTS['pvc-tarball'].pvc, env());
    expect(s.code, s.out).toBe(0);
    expect(s.out).toMatch(/streamed, stored and verified .*oub-projects-\d{8}T\d{6}Z\.tar\.gz .*4 entries/);
    // /work only ever held the checksum (the FIFO is removed): far below the 3 MiB archive input
    expect(readdirSync(d.work).sort()).toEqual(['sum']);
    const stored = readdirSync(join(d.backup, 'oub-projects')).sort();
    expect(stored).toEqual([expect.stringMatching(/^oub-projects-\d{8}T\d{6}Z\.tar\.gz$/), expect.stringMatching(/\.tar\.gz\.sha256$/)]);
    // the unchanged drill fetches and restores it
    const f = run(SCRIPTS.fetch.pvc, env(d.drill));
    expect(f.code, f.out).toBe(0);
    const c = run(SCRIPTS.check['pvc-tarball'], env(d.drill));
    expect(c.code, c.out).toBe(0);
    expect(readFileSync(join(d.drill, 'restore', 'p1', 'src', 'main.py'), 'utf8')).toBe('print("hi")\n');
    // tar failing mid-pipeline (here: the source is gone) fails the run, though tee succeeds,
    // and leaves neither a partial nor a new archive
    const bad = sh(shellCommand(STREAM_SCRIPTS['pvc-tarball'].pvc)[2]!, { ...env(), SOURCE_DIR: join(base, 'missing') });
    expect(bad.code, bad.out).not.toBe(0);
    expect(bad.out).toMatch(/BACKUP FAILED: tar of .*missing failed/);
    expect(readdirSync(join(d.backup, 'oub-projects')).sort()).toEqual(stored);
    // an empty source is refused
    const empty = mkdtempSync(join(tmp, 'empty-'));
    const e = sh(shellCommand(STREAM_SCRIPTS['pvc-tarball'].pvc)[2]!, { ...env(), SOURCE_DIR: empty });
    expect(e.code).not.toBe(0);
    expect(e.out).toMatch(/holds no entries/);
  });

  it('OUB-8: the runbook\'s logrotate policy, applied daily to the logs volume (the script is run here)', () => {
    const runbookPolicy = block('Configure logrotate:').trim();
    const directives = (text: string) => text.split('\n').slice(1, -1).map((l) => l.trim());
    expect(directives(OUB_LOGROTATE_CONF.trim())).toEqual(directives(runbookPolicy));
    expect(directives(runbookPolicy)).toEqual(['daily', 'rotate 7', 'compress', 'delaycompress', 'missingok', 'notifempty', 'copytruncate']);
    expect(OUB_LOGROTATE_CONF.split('\n')[0]).toBe(`${OUB_PATHS.logs}/*.log {`);
    for (const env of ENVS) {
      const cm = find(objs(env) as Manifest[], 'ConfigMap', 'oubliette-logrotate', NS) as J;
      expect(cm.data['logrotate.conf'], env).toBe(OUB_LOGROTATE_CONF);
      const cj = cronJob(env, 'oubliette-logrotate');
      expect(cj.spec.schedule, env).toMatch(/^\d+ \d+ \* \* \*$/); // daily
      const p = cronPod(cj);
      expect(p.volumes, env).toContainEqual({ name: 'logs', persistentVolumeClaim: { claimName: 'oubliette-logs' } });
      expect(p.volumes, env).toContainEqual({ name: 'policy', configMap: { name: 'oubliette-logrotate' } });
      expect(p.containers[0].command, env).toEqual(['/bin/sh', '-ec', OUB_LOGROTATE_SCRIPT]);
      expect(p.containers[0].securityContext, env).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expectTrace(cm, 'OUB-8');
      expectTrace(cj, 'OUB-8');
    }
    // behaviour: the script on a directory standing in for the logs volume
    const dir = mkdtempSync(join(tmp, 'logs-'));
    const conf = mkdtempSync(join(tmp, 'conf-'));
    writeFileSync(join(conf, 'logrotate.conf'), OUB_LOGROTATE_CONF);
    const log = join(dir, 'oubliette.log');
    const run = (day: string) => sh(OUB_LOGROTATE_SCRIPT, { CONF_DIR: conf, LOG_DIR: dir, TODAY: day });
    writeFileSync(log, 'day 1\n');
    const inode = statSync(log).ino;
    expect(run('2026-01-01')).toMatchObject({ code: 0, out: expect.stringContaining('rotated oubliette.log') });
    // copytruncate: same file, now empty; the copy is .1, uncompressed (delaycompress)
    expect(statSync(log).ino).toBe(inode);
    expect(readFileSync(log, 'utf8')).toBe('');
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('day 1\n');
    // daily: a second run the same day does nothing
    writeFileSync(log, 'more\n');
    expect(run('2026-01-01').out).toContain('already rotated on 2026-01-01');
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('day 1\n');
    // notifempty: an empty log is left alone
    const empty = join(dir, 'empty.log');
    writeFileSync(empty, '');
    for (let d = 2; d <= 12; d++) {
      writeFileSync(log, `day ${d}\n`);
      expect(run(`2026-01-${String(d).padStart(2, '0')}`).code).toBe(0);
    }
    // rotate 7 + compress: .1 plain, .2.gz … .7.gz, nothing older
    expect(readdirSync(dir).filter((f) => f.startsWith('oubliette.log.')).sort()).toEqual([
      'oubliette.log.1', 'oubliette.log.2.gz', 'oubliette.log.3.gz', 'oubliette.log.4.gz', 'oubliette.log.5.gz', 'oubliette.log.6.gz', 'oubliette.log.7.gz',
    ]);
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('day 12\n');
    expect(spawnSync('gzip', ['-dc', `${log}.2.gz`], { encoding: 'utf8' }).stdout).toBe('day 11\n');
    expect(spawnSync('gzip', ['-dc', `${log}.7.gz`], { encoding: 'utf8' }).stdout).toBe('day 6\n');
    expect(readdirSync(dir).filter((f) => f.startsWith('empty.log'))).toEqual(['empty.log']);
    // missingok: no log at all is fine
    const none = mkdtempSync(join(tmp, 'nologs-'));
    expect(sh(OUB_LOGROTATE_SCRIPT, { CONF_DIR: conf, LOG_DIR: none, TODAY: '2026-01-01' })).toMatchObject({ code: 0, out: expect.stringContaining('missingok') });
    // a policy the script does not implement is refused, not half-applied
    writeFileSync(join(conf, 'logrotate.conf'), OUB_LOGROTATE_CONF.replace('    copytruncate\n', ''));
    expect(run('2026-02-01')).toMatchObject({ code: 1, out: expect.stringContaining("lacks 'copytruncate'") });
  });

  it('OUB-9: SIGTERM drain: grace period = preStop + drainSeconds + runtime stop margin', () => {
    for (const env of ENVS) {
      const drain = written(env).drainSeconds ?? 60;
      const p = pod(env);
      expect(server(env).lifecycle.preStop.sleep.seconds, env).toBe(5);
      expect(p.terminationGracePeriodSeconds, env).toBe(5 + drain + 20);
      expectTrace(deployment(env), 'OUB-9');
    }
    expect(pod(renderWith('dev', (o) => (o.drainSeconds = 300))).terminationGracePeriodSeconds).toBe(325);
    expect(pod(renderWith('dev', (o) => delete o.drainSeconds)).terminationGracePeriodSeconds).toBe(85);
    expect(configErrors('dev', (o) => (o.drainSeconds = 2))[0]).toMatch(/services\.oub\.drainSeconds: must be ≥ 5 \(got 2\)$/);
  });

  it('OUB-10: a rootful Docker runtime sidecar (sysbox user namespace, privileged only in dev); every relaxation is a reasoned exception on the runtime\'s pod and namespace only', () => {
    for (const env of ENVS) {
      const w = written(env);
      const rt = runtime(env);
      // native sidecar: started (and ready) before the server, stopped after it
      expect(rt.restartPolicy, env).toBe('Always');
      expect(rt.startupProbe.exec.command, env).toEqual(['docker', 'info']);
      expect(rt.image, env).toMatch(/docker:[\w.-]+-dind(@sha256:[a-f0-9]{64})?$/);
      // dind's cgroup wrapper around dockerd, all settings in daemon.json: no TCP listener
      expect(rt.command, env).toEqual(['dind', 'dockerd', '--config-file=/etc/stackbook-docker/daemon.json']);
      expect(rt.args, env).toBeUndefined();
      const daemon = JSON.parse((find(objs(env) as Manifest[], 'ConfigMap', 'oubliette-docker', NS) as J).data['daemon.json']);
      expect(daemon, env).toMatchObject({ hosts: ['unix:///tmp/oubliette-sockets/docker.sock'], group: '1000', 'data-root': '/var/lib/docker', 'insecure-registries': [] });
      expect(rt.volumeMounts.find((m: J) => m.mountPath === '/var/lib/docker').name, env).toBe('runtime-data');
      expect(envOf(server(env)).DOCKER_HOST?.value, env).toBe('unix:///tmp/oubliette-sockets/docker.sock');
      // the socket directory is one emptyDir shared by both; projects are at the same path for bind mounts
      const sock = (c: J) => c.volumeMounts.find((m: J) => m.mountPath === OUB_PATHS.sockets)?.name;
      expect(sock(rt), env).toBe(sock(server(env)));
      expect(pod(env).volumes.find((v: J) => v.name === sock(rt)).emptyDir, env).toBeDefined();
      const proj = (c: J) => c.volumeMounts.find((m: J) => m.mountPath === OUB_PATHS.projects)?.name;
      expect(proj(rt), env).toBe(proj(server(env)));
      // the server container stays fully restricted
      expect(server(env).securityContext, env).toEqual({
        runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod(env).securityContext, env).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod(env).automountServiceAccountToken, env).toBe(false);
      // the runtime: root of the pod's user namespace under sysbox (no escalation, no added
      // capabilities, no SETUID/SETGID); privileged only without a RuntimeClass (dev)
      if (w.runtime.runtimeClassName) {
        expect(pod(env).runtimeClassName, env).toBe(w.runtime.runtimeClassName);
        expect(deployment(env).spec.template.metadata.annotations['io.kubernetes.cri-o.userns-mode'], env).toBe('auto:size=65536');
        expect(rt.securityContext, env).toEqual({
          runAsUser: 0, runAsNonRoot: false, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, seccompProfile: { type: 'RuntimeDefault' },
        });
      } else {
        expect(rt.securityContext, env).toEqual({ runAsUser: 0, runAsNonRoot: false, privileged: true, allowPrivilegeEscalation: true, readOnlyRootFilesystem: true });
        expect(deployment(env).spec.template.metadata.annotations['io.kubernetes.cri-o.userns-mode'], env).toBeUndefined();
      }
      // dedicated node pool where configured
      if (w.runtime.nodePool) {
        expect(pod(env).nodeSelector, env).toEqual(w.runtime.nodePool.nodeSelector);
        expect(pod(env).tolerations, env).toEqual(w.runtime.nodePool.tolerations.map((t: J) => ({ operator: 'Equal', ...t })));
      }
      // exceptions: named, reasoned, on the Deployment and the Namespace only
      const excepted = objs(env).filter((o) => Object.keys(o.metadata.annotations ?? {}).some((k) => k.startsWith('exception.stackbook.io/')));
      expect(excepted.map((o) => `${o.kind}/${o.metadata.name}`).sort(), env).toEqual(['Deployment/oubliette', 'Namespace/oub']);
      for (const o of excepted) {
        expect(Object.keys(o.metadata.annotations).filter((k) => k.startsWith('exception.')), env).toEqual(['exception.stackbook.io/pod-security-restricted']);
        expect(o.metadata.annotations['exception.stackbook.io/pod-security-restricted'], env).toMatch(w.runtime.runtimeClassName ? /^OUB-10: .*"runtime".*user namespace.{20,}/ : /^OUB-10: development without sysbox: .*"runtime".{40,}/);
        expectTrace(o, 'OUB-10');
      }
      const ns = find(objs(env) as Manifest[], 'Namespace', NS) as J;
      expect(ns.metadata.labels['pod-security.kubernetes.io/enforce'], env).toBe(w.runtime.runtimeClassName ? 'baseline' : 'privileged');
      expect(ns.metadata.labels['pod-security.kubernetes.io/warn'], env).toBe('restricted');
      // `check`: the exceptions are reported, nothing blocks; every reported violation is the runtime's
      const vs = evaluate(objs(env) as Manifest[]);
      expect(blocking(vs), env).toEqual([]);
      expect(vs.map((v) => [v.rule, v.object]).filter(([, o]) => o !== 'Namespace oub'), env).toEqual(
        vs.filter((v) => v.object !== 'Namespace oub').map(() => ['pod-security-restricted', 'Deployment oub/oubliette']),
      );
      for (const v of vs.filter((x) => x.object === 'Deployment oub/oubliette')) expect(v.message, env).toMatch(/^container runtime /);
      // ... and without the exceptions, `check` fails on exactly those
      const stripped = structuredClone(objs(env)) as Manifest[];
      for (const o of stripped) if (o.metadata.annotations) delete o.metadata.annotations['exception.stackbook.io/pod-security-restricted'];
      const failing = blocking(evaluate(stripped));
      expect(failing.length, env).toBeGreaterThan(0);
      expect([...new Set(failing.map((v) => `${v.rule} ${v.object}`))].sort(), env).toEqual(['pod-security-restricted Deployment oub/oubliette', 'pod-security-restricted Namespace oub']);
      // without the runtime the pod would be fully restricted
      const noRuntime = structuredClone(stripped);
      for (const o of noRuntime) {
        if (o.kind === 'Deployment') delete (o as J).spec.template.spec.initContainers;
        if (o.kind === 'Namespace') o.metadata.labels!['pod-security.kubernetes.io/enforce'] = 'restricted';
      }
      expect(blocking(evaluate(noRuntime)), env).toEqual([]);
    }
    // dev has no RuntimeClass (privileged runtime); prod uses sysbox-runc
    expect(written('dev').runtime.runtimeClassName).toBeUndefined();
    expect(written('prod').runtime.runtimeClassName).toBe('sysbox-runc');
    // a rootless dind image is refused (its subuid range cannot be mapped inside a sysbox pod)
    expect(configErrors('prod', (o) => (o.runtime.image.tag = '28.3.3-dind-rootless'))).toEqual([
      expect.stringMatching(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.oub\.runtime\.image: .*rootless Docker image: its \/etc\/subuid range lies outside the 65536 IDs of a sysbox pod/),
    ]);
    // outside development the runtime needs its own node pool
    expect(configErrors('prod', (o) => delete o.runtime.nodePool)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.oub.runtime.nodePool: required in production stacks: the container runtime relaxes the pod security baseline and runs on a dedicated node pool (nodeSelector, tolerations)',
    ]);
  });

  it('OUB-11: capacity presets light / medium / heavy = the runbook\'s 2 / 4 / 8 cores, 4 / 8 / 16 GB, 10 / 50 / 100 GB disk', () => {
    const rows = Object.fromEntries(
      [...RUNBOOK.matchAll(/^\| (Light|Medium|Heavy) \([^)]*\) \| (\d+)\+? cores \| (\d+)\+? GB \| (\d+)\+? GB \|$/gm)].map((m) => [m[1]!.toLowerCase(), m.slice(2).map(Number)]),
    );
    expect(rows).toEqual({ light: [2, 4, 10], medium: [4, 8, 50], heavy: [8, 16, 100] });
    const preset = { dev: 'light', staging: 'medium', prod: 'heavy', airgap: 'heavy' } as const;
    for (const env of ENVS) {
      expect(written(env).capacity, env).toBe(preset[env]);
      const [cores, gb, disk] = rows[preset[env]]!;
      const limits = [server(env), runtime(env)].map((c) => c.resources.limits);
      expect(limits.reduce((s, l) => s + quantityValue(l.cpu)!, 0), env).toBe(cores);
      expect(limits.reduce((s, l) => s + gib(l.memory), 0), env).toBe(gb);
      const pvc = find(objs(env) as Manifest[], 'PersistentVolumeClaim', 'oubliette-projects', NS) as J;
      expect(gib(pvc.spec.resources.requests.storage), env).toBe(disk);
      expectTrace(pvc, 'OUB-11');
      expectTrace(deployment(env), 'OUB-11');
    }
    // explicit values override the preset
    const set = renderWith('dev', (o) => {
      o.resources = { cpuRequest: '300m', cpuLimit: '700m', memoryRequest: '600Mi', memoryLimit: '900Mi' };
      o.storage = { projects: '33Gi' };
    });
    expect(server(set).resources.limits).toMatchObject({ cpu: '700m', memory: '900Mi' });
    expect(runtime(set).resources.limits).toMatchObject({ cpu: OUB_PRESETS.light.runtime.cpuLimit, memory: OUB_PRESETS.light.runtime.memoryLimit });
    expect((find(objs(set) as Manifest[], 'PersistentVolumeClaim', 'oubliette-projects', NS) as J).spec.resources.requests.storage).toBe('33Gi');
    // the session size is compiled into the app (4G / 4 CPUs): the stack has no knob that would be ignored
    expect(configErrors('dev', (o) => (o.runtime.sessionCpus = 1))).toEqual(['stacks/Pulumi.dev.yaml: config.stackbook:services.oub.runtime.sessionCpus: unknown key (a typo?) (got 1)']);
    expect(configErrors('dev', (o) => (o.capacity = 'huge'))[0]).toMatch(/services\.oub\.capacity: must be one of "light", "medium", "heavy" \(got "huge"\)$/);
  });

  it('OUB-12: rate limit 10 rps / burst 20 and cleanup every 5 min keeping 60 min are compiled into the app (not configurable), and a VACUUM of auth.db safe beside the server', async () => {
    expect(RUNBOOK_CONFIG.rate_limit).toEqual({ requests_per_second: 10, burst: 20 });
    expect(RUNBOOK_CONFIG.cleanup).toMatchObject({ enabled: true, interval_minutes: 5, retention_minutes: 60 });
    expect(OUB_RUNBOOK_DISAGREEMENTS.some((d) => /rate_limit/.test(d.runbookSays) && /DefaultRateLimiter\(10, 20\)/.test(d.codeSays))).toBe(true);
    for (const env of ENVS) {
      const c = appConfig(env);
      // the app reads no rate_limit or cleanup key: none is written
      expect(c.rate_limit, env).toBeUndefined();
      expect(c.cleanup, env).toBeUndefined();
      const cj = cronJob(env, 'oubliette-vacuum');
      const p = cronPod(cj);
      expect(p.containers[0].command, env).toEqual(['/bin/sh', '-ec', OUB_VACUUM_SCRIPT]);
      expect(p.containers[0].image, env).toMatch(/sqlite3/);
      expect(p.volumes, env).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'oubliette-data' } });
      expect(envOf(p.containers[0]).BUSY_TIMEOUT_MS?.value, env).toBe('60000');
      expect(cj.spec.concurrencyPolicy, env).toBe('Forbid');
      expectTrace(cj, 'OUB-12');
      expectTrace(find(objs(env) as Manifest[], 'ConfigMap', 'oubliette-config', NS) as J, 'OUB-12');
    }
    expect(RUNBOOK).toContain('sqlite3 data/auth.db "VACUUM;"');
    // behaviour with the real sqlite3: space is reclaimed, integrity is checked
    const data = mkdtempSync(join(tmp, 'data-'));
    const db = join(data, 'auth.db');
    const sql = (s: string) => spawnSync('sqlite3', [db, s], { encoding: 'utf8' });
    sql("PRAGMA journal_mode=WAL; CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT, blob TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO tokens SELECT 'id' || i, 'n' || i, hex(randomblob(500)) FROM n;");
    sql("DELETE FROM tokens WHERE rowid > 10; PRAGMA wal_checkpoint(TRUNCATE);");
    const before = statSync(db).size;
    const vac = sh(OUB_VACUUM_SCRIPT, { DATA_DIR: data, BUSY_TIMEOUT_MS: '5000', SQLITE_TMPDIR: tmp });
    expect(vac.code, vac.out).toBe(0);
    expect(vac.out).toMatch(/vacuumed .*auth\.db: \d+ -> \d+ bytes/);
    expect(statSync(db).size).toBeLessThan(before / 4);
    expect(sql('SELECT count(*) FROM tokens;').stdout.trim()).toBe('10');
    // beside a writer holding the lock: a short busy timeout fails clearly, nothing is damaged
    const locker = spawn('sqlite3', [db], { stdio: ['pipe', 'ignore', 'ignore'] });
    locker.stdin.write('BEGIN EXCLUSIVE; INSERT INTO tokens VALUES (\'x\', \'x\', \'x\');\n');
    await new Promise((r) => setTimeout(r, 300));
    const busy = sh(OUB_VACUUM_SCRIPT, { DATA_DIR: data, BUSY_TIMEOUT_MS: '200', SQLITE_TMPDIR: tmp });
    expect(busy.code).not.toBe(0);
    expect(busy.out).toMatch(/VACUUM (FAILED|SKIPPED)/);
    // with the busy timeout it waits for the writer to commit, then vacuums
    const waiting = shAsync(OUB_VACUUM_SCRIPT, { flags: '-ec', cwd: tmp, env: { PATH: process.env.PATH!, DATA_DIR: data, BUSY_TIMEOUT_MS: '20000', SQLITE_TMPDIR: tmp } });
    await new Promise((r) => setTimeout(r, 700));
    const exited = new Promise((r) => locker.on('exit', r));
    locker.stdin.end('COMMIT;\n');
    await exited;
    const waited = await waiting;
    expect(waited.code, waited.out).toBe(0);
    expect(waited.out).toMatch(/vacuumed /);
    expect(sql('SELECT count(*) FROM tokens;').stdout.trim()).toBe('11');
    // no database yet (fresh install): nothing to do, not a failure
    expect(sh(OUB_VACUUM_SCRIPT, { DATA_DIR: mkdtempSync(join(tmp, 'empty-')), BUSY_TIMEOUT_MS: '100' })).toMatchObject({ code: 0, out: expect.stringContaining('nothing to vacuum') });
  });

  it('OUB-13: more than one replica requires ReadWriteMany storage; ReadWriteOnce pins every pod to the server\'s node', () => {
    for (const env of ENVS) {
      expect(deployment(env).spec.replicas, env).toBe(1);
      for (const c of objs(env).filter((o) => o.kind === 'PersistentVolumeClaim')) {
        expect(c.spec.accessModes, env).toEqual(['ReadWriteOnce']);
        expectTrace(c, 'OUB-13');
      }
      // a surge pod could not attach the claims on another node
      expect(deployment(env).spec.strategy, env).toEqual({ type: 'Recreate' });
      // every CronJob/Job mounting a claim runs beside the server, tolerating its node pool
      for (const o of objs(env).filter((x) => x.kind === 'CronJob' || x.kind === 'Job')) {
        const spec = o.kind === 'Job' ? o.spec.template.spec : cronPod(o);
        if (!(spec.volumes ?? []).some((v: J) => v.persistentVolumeClaim)) continue;
        expect(spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution, `${env} ${o.metadata.name}`).toEqual([
          { labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'oubliette' } }, topologyKey: 'kubernetes.io/hostname' },
        ]);
        expect(spec.tolerations ?? [], `${env} ${o.metadata.name}`).toEqual(pod(env).tolerations ?? []);
      }
      expectTrace(deployment(env), 'OUB-13');
    }
    expect(configErrors('prod', (o) => (o.replicas = 2))).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.oub.replicas: more than one replica needs shared storage: set storage.accessMode ReadWriteMany (with a storageClass that provides it); ReadWriteOnce volumes attach to one node (got 2)',
    ]);
    expect(configErrors('prod', (o) => (o.storage = { accessMode: 'ReadWriteMany' }))).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.oub.storage.storageClass: required with accessMode ReadWriteMany (name a StorageClass that provides shared volumes, e.g. NFS or EFS)',
    ]);
    expect(configErrors('prod', (o) => (o.replicas = 11))[0]).toMatch(/services\.oub\.replicas: must be ≤ 10 \(got 11\)$/);
    // with shared storage: replicas, rolling updates, a PDB, no node pinning
    const rwx = renderWith('prod', (o) => {
      o.replicas = 3;
      o.storage = { accessMode: 'ReadWriteMany', storageClass: 'efs' };
    });
    expect(deployment(rwx).spec.replicas).toBe(3);
    expect(deployment(rwx).spec.strategy.type).toBe('RollingUpdate');
    for (const c of objs(rwx).filter((o) => o.kind === 'PersistentVolumeClaim')) expect(c.spec).toMatchObject({ accessModes: ['ReadWriteMany'], storageClassName: 'efs' });
    const pdb = find(objs(rwx) as Manifest[], 'PodDisruptionBudget', 'oubliette', NS) as J;
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'oubliette' } } });
    expectTrace(pdb, 'OUB-13');
    expect(cronPod(cronJob(rwx, 'oub-projects-backup')).affinity).toBeUndefined();
    expect(blocking(evaluate(objs(rwx) as Manifest[]))).toEqual([]);
    expect(objs('prod').some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
  });

  it('OUB-14: the ops-admin token is created once by a hardened Job; the token never reaches a log (the script is run here)', () => {
    expect(RUNBOOK).toContain('./oubliette token create --name ops-admin --scope admin');
    for (const env of ENVS) {
      const jobs = objs(env).filter((o) => o.kind === 'Job');
      expect(jobs.map((j) => j.metadata.name), env).toEqual([expect.stringMatching(/^oubliette-admin-token-[0-9a-f]{8}$/)]);
      const job = jobs[0]!;
      const p = job.spec.template.spec;
      expect(p.containers[0].command, env).toEqual(['/bin/sh', '-ec', OUB_ADMIN_TOKEN_SCRIPT]);
      expect(p.containers[0].image, env).toBe(server(env).image);
      expect(p.automountServiceAccountToken, env).toBe(false);
      expect(p.restartPolicy, env).toBe('Never');
      expect(p.containers[0].securityContext, env).toEqual(server(env).securityContext);
      expect(job.spec.ttlSecondsAfterFinished, env).toBeGreaterThan(0);
      expect(p.volumes, env).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'oubliette-data' } });
      expect(find(objs(env) as Manifest[], 'NetworkPolicy', 'oubliette-admin-token', NS), env).toBeDefined();
      expectTrace(job, 'OUB-14');
    }
    expect(OUB_ADMIN_TOKEN_SCRIPT).toContain('"$BIN" token create --name ops-admin --scope admin >');
    expect(OUB_ADMIN_TOKEN_SCRIPT).toContain('BIN=${OUBLIETTE_BIN:-/app/oubliette}');
    // `token` opens $HOME/.oubliette/data/auth.db at f19a278: HOME and the data claim put it on the claim
    for (const env of ENVS) {
      const c = (objs(env).find((o) => o.kind === 'Job') as J).spec.template.spec.containers[0];
      expect(envOf(c).HOME?.value, env).toBe('/home/oubliette');
      expect(c.volumeMounts, env).toContainEqual({ name: 'data', mountPath: '/home/oubliette/.oubliette/data' });
      expect(c.workingDir, env).toBeUndefined();
    }
    expect(oub.appConcerns['OUB-14']).toMatch(/token list.*token revoke/);
    expect(objs(renderWith('dev', (o) => (o.adminBootstrap = false))).some((o) => o.kind === 'Job')).toBe(false);
    // behaviour: a stand-in `oubliette` CLI that prints a token
    const bin = mkdtempSync(join(tmp, 'bin-'));
    const calls = join(bin, 'calls');
    const TOKEN = 'oub_CANARY_4f1d2e9a7b6c';
    writeFileSync(join(bin, 'oubliette'), `#!/bin/sh\necho "$*" >> "${calls}"\ncase "$1 $2" in "token list") echo "ID NAME SCOPE";; "token create") echo "${TOKEN}";; esac\n`);
    chmodSync(join(bin, 'oubliette'), 0o755);
    const data = mkdtempSync(join(tmp, 'data-'));
    const run = () => sh(OUB_ADMIN_TOKEN_SCRIPT, { OUBLIETTE_BIN: join(bin, 'oubliette'), DATA_DIR: data, NAMESPACE: 'oub' });
    const first = run();
    expect(first.code, first.out).toBe(0);
    expect(first.out).not.toContain(TOKEN);
    const file = join(data, 'bootstrap', 'ops-admin.token');
    expect(readFileSync(file, 'utf8').trim()).toBe(TOKEN);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // once: a second run does not create another admin token
    expect(run()).toMatchObject({ code: 0, out: expect.stringContaining('nothing to do') });
    expect(readFileSync(calls, 'utf8').split('\n').filter((l) => l.startsWith('token create'))).toEqual(['token create --name ops-admin --scope admin']);
  });

  it('OUB-15: rotating FACTORY_API_KEY or the GitHub token (bumping its version) rolls the pods', () => {
    for (const env of ENVS) {
      const a = deployment(env).spec.template.metadata.annotations;
      expect(a['rotation.stackbook.io/secret-oubliette-factory'], env).toBe('1');
      expect(a['rotation.stackbook.io/secret-oubliette-github'], env).toBe('1');
      expectTrace(deployment(env), 'OUB-15');
    }
    const bumped = renderWith('prod', (_o, raw) => {
      raw.secretSources = { ...raw.secretSources, 'oubliette-factory': { source: 'existing', version: 4 } };
    });
    const before = deployment('prod').spec.template.metadata.annotations;
    const after = deployment(bumped).spec.template.metadata.annotations;
    expect(after['rotation.stackbook.io/secret-oubliette-factory']).toBe('4');
    expect(after['rotation.stackbook.io/secret-oubliette-github']).toBe('1');
    expect({ ...after, 'rotation.stackbook.io/secret-oubliette-factory': '1' }).toEqual(before);
    // only the consumer rolls: nothing else in the namespace changes
    const changed = objs(bumped).filter((o, i) => JSON.stringify(o) !== JSON.stringify(objs('prod')[i]));
    expect(changed.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Deployment/oubliette']);
  });
});

describe('OUB across the stacks', () => {
  it('X-1 X-3 OUB-10: every Oubliette pod is hardened and selected by its own allow-list; only the runtime sidecar is relaxed', () => {
    for (const env of ENVS) {
      const pods = objs(env).filter((o) => ['Deployment', 'CronJob', 'Job'].includes(o.kind));
      expect(pods.length, env).toBe(8);
      const policies = objs(env).filter((o) => o.kind === 'NetworkPolicy');
      for (const o of pods) {
        const tpl = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template;
        for (const c of [...tpl.spec.containers, ...(tpl.spec.initContainers ?? [])]) {
          if (c.name === 'runtime') continue;
          expect(c.securityContext, `${env} ${o.metadata.name}/${c.name}`).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
          expect(Object.keys(c.resources.limits), `${env} ${o.metadata.name}/${c.name}`).toEqual(expect.arrayContaining(['cpu', 'memory']));
        }
        expect(tpl.spec.automountServiceAccountToken, env).toBe(false);
        const labels = tpl.metadata.labels;
        const mine = policies.filter((p) => Object.keys(p.spec.podSelector.matchLabels ?? {}).length > 0 && Object.entries(p.spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v));
        expect(mine.length, `${env} ${o.metadata.name}`).toBeGreaterThan(0);
      }
    }
  });

  it('X-12: the air-gapped bundle pulls the runtime from the mirror by digest; sessions reach only private ranges', () => {
    const r = rendered('airgap');
    const registry = r.stack.cluster.registry!;
    expect(runtime('airgap').image).toMatch(new RegExp(`^${registry.replace(/[.]/g, '\\.')}/docker\\.io/library/docker:[\\w.-]+@sha256:[a-f0-9]{64}$`));
    const egress = (find(objs('airgap') as Manifest[], 'NetworkPolicy', 'oubliette', NS) as J).spec.egress as J[];
    for (const rule of egress) for (const p of rule.to) expect(p.ipBlock.cidr).toMatch(/^(10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.)/);
    // the public stacks open the internet to sessions, never the private ranges (incl. 100.64.0.0/10)
    const prodEgress = (find(objs('prod') as Manifest[], 'NetworkPolicy', 'oubliette', NS) as J).spec.egress as J[];
    expect(prodEgress).toEqual([{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'] } }], ports: [{ port: 443, protocol: 'TCP' }] }]);
    // issue 14.16: an internet egress that leaves a private range (here EKS pod ranges) open is refused
    expect(configErrors('prod', (o) => (o.egress[0].except = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']))).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.oub.egress[0].except: 0.0.0.0/0 contains 100.64.0.0/10 (RFC 6598 shared space: pod ranges under EKS custom networking), which is not excepted: add it to except (got ["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16","169.254.0.0/16"])',
    ]);
    // issue 14.5: the inner dockerd reaches the mirror on its port (5000), trusts its CA, and
    // sessions' images (oubliette.jsonc containers) are relocated to it and listed for mirroring
    const host = registry.split('/')[0]!;
    expect(host).toBe('registry.corp.internal:5000');
    expect(egress).toContainEqual({ to: [{ ipBlock: { cidr: '10.40.0.0/16' } }], ports: [{ port: 5000, protocol: 'TCP' }] });
    expect(runtime('airgap').volumeMounts).toContainEqual({ name: 'registry-ca', mountPath: `/etc/docker/certs.d/${host}`, readOnly: true });
    expect(pod('airgap').volumes).toContainEqual({ name: 'registry-ca', secret: { secretName: 'registry-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(r.secrets.map((x) => x.name)).toContain('registry-ca');
    const daemon = JSON.parse((find(objs('airgap') as Manifest[], 'ConfigMap', 'oubliette-docker', NS) as J).data['daemon.json']);
    expect(daemon['registry-mirrors']).toEqual([`https://${host}`]);
    expect(daemon['insecure-registries']).toEqual([]);
    const containers = appConfig('airgap').containers as Record<string, string>;
    expect(Object.keys(containers).sort()).toEqual(['base', 'dev']);
    for (const img of Object.values(containers)) {
      expect(img).toMatch(new RegExp(`^${registry.replace(/[.]/g, '\\.')}/ghcr\\.io/acme/oubliette-(base|dev):[\\w.-]+@sha256:[a-f0-9]{64}$`));
      expect(r.images.map((i) => i.reference)).toContain(img);
    }
    // ... and an air-gapped stack without them is refused
    expect(configErrors('airgap', (o) => {
      delete o.runtime.sessionImages;
      delete o.runtime.registry;
    }).map((l) => l.replace(/ \(got .*$/, ''))).toEqual([
      expect.stringMatching(/services\.oub\.runtime\.registry: required when air-gapped/),
      expect.stringMatching(/services\.oub\.runtime\.sessionImages: required when air-gapped/),
    ]);
  });
});

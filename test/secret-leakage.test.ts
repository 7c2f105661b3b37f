/**
 * No secret ever leaks (issue 7). Every secret input gets a unique canary value — Pulumi config
 * secrets (`stackbook:secrets.*`, encrypted in stack files, decrypted in the Pulumi program), the
 * config keys of every `pulumi`-sourced Secret the stacks declare, and the random values Pulumi
 * generates (under mocks) — and no canary may appear, as text or base64, in:
 *  - any byte of any bundle file `stackbook synth` writes, or anything the CLI prints (synth,
 *    check, and a failing synth);
 *  - a bundle rendered with a fixture service that declares a Secret of every source (pulumi
 *    random, pulumi config, vault, existing) and consumes each through env (so ConfigMaps, labels,
 *    annotations and env literals are all scanned, whatever a future service renders);
 *  - any resource input the Pulumi program registers that is not marked secret, the stack
 *    outputs, any non-secret output of the Pulumi-owned resources, and the program's log lines.
 * Generic: the canaries follow `Rendered.secrets` and the stack's `secrets` config, so Secrets
 * that services declare later are covered without a change here. (Vault values never pass through
 * stackbook: the bundle only names the path and property, which the fixture checks.)
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as yaml from 'js-yaml';
import * as pulumi from '@pulumi/pulumi';
import type { Construct } from 'constructs';
import { Chart } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { Workload } from '../components/workload.js';
import { ConfigMap } from '../components/config-map.js';
import type { ServiceModule } from '../services/types.js';
import { SERVICES } from '../services/index.js';
import { bundleFiles } from '../bundle/bundle.js';
import { render, type Rendered } from '../synth/render.js';
import type { Stack } from '../stacks/schema.js';
import { ENVS, ROOT, loadEnv, renderEnv } from './helpers.js';

// ----------------------------------------------------------------------------- canaries

const made: string[] = [];
/** A fresh canary: unique, random, unlikely to occur by chance, easy to spot. */
function canary(label: string): string {
  const c = `CANARY${label.replace(/[^A-Za-z0-9]/g, '')}x${randomBytes(9).toString('hex')}`;
  made.push(c);
  return c;
}
/** The forms a leaked value could take: as is, base64 (Secret data), and base64 of the base64. */
const formsOf = (c: string) => [c, Buffer.from(c).toString('base64'), Buffer.from(Buffer.from(c).toString('base64')).toString('base64')];

const checked = { canaries: new Set<string>(), files: 0, bytes: 0, pulumiInputs: 0, pulumiOutputs: 0, logLines: 0 };
afterAll(() => {
  console.log(
    `secret-leakage: ${checked.canaries.size} canaries checked against ${checked.files} files (${checked.bytes} bytes), ` +
      `${checked.pulumiInputs} Pulumi resource inputs, ${checked.pulumiOutputs} Pulumi outputs, ${checked.logLines} log/CLI lines`,
  );
});

/** Fails naming the canary and where it was found. */
function expectNoCanary(where: string, text: string | Buffer, canaries: readonly string[]): void {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  for (const c of canaries) {
    checked.canaries.add(c);
    for (const f of formsOf(c)) expect(s.includes(f), `${where} contains secret canary ${c}${f === c ? '' : ' (encoded)'}`).toBe(false);
  }
}

/** Captures everything written to stdout, stderr and the console, until `vi.restoreAllMocks()`. */
function captureOutput(): { text: () => string } {
  let text = '';
  const add = (chunk: unknown) => {
    text += String(chunk);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(add);
  vi.spyOn(process.stderr, 'write').mockImplementation(add);
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, m).mockImplementation((...args: unknown[]) => add(`${args.map(String).join(' ')}\n`));
  return { text: () => text };
}

// ----------------------------------------------------------------------------- a fixture service with every kind of Secret

const FIXTURE_NS = 'leakfixture';
/** Config keys the fixture's `pulumi` Secret reads (`stackbook:secrets.<key>`). */
const FIXTURE_CONFIG_KEY = 'leakFixtureToken';

/** Declares one Secret per source and consumes every key through env, as a service would. */
const fixture: ServiceModule = {
  key: 'ope',
  prefix: 'OPE',
  runbook: 'fixture',
  appConcerns: {},
  build(scope: Construct, ctx) {
    const chart = new Chart(scope, 'leak-fixture', { disableResourceNameHashes: true });
    const handles = [
      ctx.requireSecret({
        name: 'leak-pulumi',
        namespace: FIXTURE_NS,
        keys: ['apiToken', 'dbPassword'],
        source: 'pulumi',
        consumers: ['leaky'],
        pulumi: { apiToken: { configKey: FIXTURE_CONFIG_KEY }, dbPassword: { randomLength: 40 } },
      }),
      ctx.requireSecret({ name: 'leak-vault', namespace: FIXTURE_NS, keys: ['password'], source: 'vault', consumers: ['leaky'], vault: { path: 'secret/leak/fixture' } }),
      ctx.requireSecret({ name: 'leak-existing', namespace: FIXTURE_NS, keys: ['token'], source: 'existing', consumers: ['leaky'] }),
    ];
    const settings = new ConfigMap(chart, 'Settings', { name: 'leaky-settings', namespace: FIXTURE_NS, data: { MODE: 'fixture' } });
    const env = Object.fromEntries(handles.flatMap((h) => h.requirement.keys.map((k) => [`${h.requirement.name}_${k}`.replace(/-/g, '_').toUpperCase(), h.env(k)])));
    new Workload(chart, 'Leaky', {
      name: 'leaky',
      namespace: FIXTURE_NS,
      image: ctx.image({ repository: 'ghcr.io/acme/leaky', tag: '1.0.0', digest: `sha256:${'1'.repeat(64)}` }),
      port: 8080,
      env,
      envFromConfigMaps: [settings.name],
      liveness: { path: '/live' },
      readiness: { path: '/ready' },
      podAnnotations: Object.assign({}, settings.annotation, ...handles.map((h) => h.annotations)),
    });
  },
};

/** A real stack with canaries for every secret input, and what the fixture needs (a Vault connection). */
function stackWithCanaries(env: string, secrets: Record<string, string>): Stack {
  const s = structuredClone(loadEnv(env));
  return {
    ...s,
    secrets: { ...s.secrets, ...secrets },
    cluster: { ...s.cluster, vault: s.cluster.vault ?? { server: 'https://vault.corp.internal:8200', storeName: 'vault', mountPath: 'secret', kvVersion: 'v2', auth: { role: 'stackbook', mountPath: 'kubernetes' } } },
  } as Stack;
}

/** `stackbook:secrets` canaries for a rendered stack: one per config key its pulumi Secrets read, plus spares. */
function configCanaries(env: string, r: Pick<Rendered, 'secrets'>): Record<string, string> {
  const out: Record<string, string> = { leakSpareOne: canary(`${env}spare1`), leakSpareTwo: canary(`${env}spare2`) };
  for (const s of r.secrets) {
    for (const how of Object.values(s.pulumi ?? {})) if ('configKey' in how) out[how.configKey] = canary(`${env}${how.configKey}`);
  }
  return out;
}

describe('rendered bundles: every file of every stack, with a fixture Secret of every source', () => {
  it.each(ENVS)('%s', (env) => {
    const secrets = { [FIXTURE_CONFIG_KEY]: canary(`${env}fixture`), ...configCanaries(env, renderEnv(env)) };
    const rendered = render(stackWithCanaries(env, secrets), [...SERVICES, fixture]);
    // the fixture really went through: its Secrets are listed, its workload reads them by reference
    expect(rendered.secrets.filter((s) => s.namespace === FIXTURE_NS).map((s) => s.source).sort()).toEqual(['existing', 'pulumi', 'vault']);
    const deployment = rendered.objects.find((o) => o.kind === 'Deployment' && o.metadata.namespace === FIXTURE_NS)!;
    const vars = (deployment.spec as any).template.spec.containers[0].env as Array<{ name: string; valueFrom?: unknown }>;
    expect(vars.find((e) => e.name === 'LEAK_PULUMI_APITOKEN')?.valueFrom).toEqual({ secretKeyRef: { name: 'leak-pulumi', key: 'apiToken' } });
    expect(rendered.objects.some((o) => o.kind === 'ExternalSecret' && JSON.stringify(o).includes('leak/fixture'))).toBe(true);
    for (const f of bundleFiles(rendered)) {
      checked.files++;
      checked.bytes += f.content.length;
      expectNoCanary(`${env} bundle file ${f.path}`, f.content, Object.values(secrets));
    }
    expectNoCanary(`${env} rendered objects`, JSON.stringify(rendered.objects), Object.values(secrets));
  });
});

// ----------------------------------------------------------------------------- through the CLI

describe('stackbook synth and check with canaries in every stack file', () => {
  const TMP = mkdtempSync(join(tmpdir(), 'stackbook-leak-'));
  afterAll(() => rmSync(TMP, { recursive: true, force: true }));
  const all: string[] = [];
  let root: string;

  async function cli(argv: string[]): Promise<{ code: number; out: string }> {
    const captured = captureOutput();
    try {
      const code = await main(argv, root);
      return { code, out: captured.text() };
    } finally {
      vi.restoreAllMocks();
    }
  }

  beforeAll(() => {
    root = join(TMP, 'project');
    mkdirSync(root);
    cpSync(join(ROOT, 'stacks'), join(root, 'stacks'), { recursive: true, filter: (src) => !src.endsWith('.ts') });
    for (const env of ENVS) {
      const file = join(root, 'stacks', `Pulumi.${env}.yaml`);
      const doc = yaml.load(readFileSync(file, 'utf8')) as { config: Record<string, unknown> };
      // As `pulumi config set --secret --path 'stackbook:secrets.<key>'` writes them: ciphertext only.
      const secure = Object.fromEntries(Object.entries(configCanaries(env, renderEnv(env))).map(([k, v]) => [k, { secure: `v1:${v}` }]));
      all.push(...Object.values(secure).map((s) => s.secure));
      doc.config['stackbook:secrets'] = { ...(doc.config['stackbook:secrets'] as object), ...secure };
      writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }));
    }
  });

  it('synth --all: no canary in any byte of any written file, nor in what it prints', async () => {
    const r = await cli(['synth', '--all', '--out', 'dist']);
    expect(r.code, r.out).toBe(0);
    const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
    const files = walk(join(root, 'dist'));
    expect(files.length).toBeGreaterThan(ENVS.length * 4);
    for (const f of files) {
      const bytes = readFileSync(f);
      checked.files++;
      checked.bytes += bytes.length;
      expectNoCanary(relative(root, f), bytes, all);
    }
    checked.logLines += r.out.split('\n').length;
    expectNoCanary('synth output', r.out, all);
  });

  it('check --all and a failing synth print no canary', async () => {
    const c = await cli(['check', '--all']);
    expect(c.code, c.out).toBe(0);
    checked.logLines += c.out.split('\n').length;
    expectNoCanary('check output', c.out, all);
    const file = join(root, 'stacks', 'Pulumi.prod.yaml');
    const doc = yaml.load(readFileSync(file, 'utf8')) as { config: Record<string, any> };
    // A mistake next to the secrets, and secrets that are themselves wrong (bad name, extra field).
    doc.config['stackbook:secrets'] = { ...doc.config['stackbook:secrets'], Bad_Name: { secure: `v1:${all[0]}` }, leakExtra: { secure: `v1:${all[1]}`, extra: all[1] } };
    doc.config['stackbook:tier'] = 'prod';
    writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }));
    const bad = await cli(['synth', '--all', '--out', 'dist2']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('config.stackbook:secrets.Bad_Name');
    checked.logLines += bad.out.split('\n').length;
    expectNoCanary('failing synth output', bad.out, all);
  });
});

// ----------------------------------------------------------------------------- the Pulumi program under mocks

interface Registration {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
let registrations: Registration[] = [];
/** Per resource name: the outputs it asks the engine to keep secret (`additionalSecretOutputs`). */
const secretOutputs = new Map<string, string[]>();

/** Mocks for one stack, recording what each registration asks to be kept secret (the engine honours it; mocks do not). */
async function mockStack(env: string): Promise<void> {
  registrations = [];
  await pulumi.runtime.setMocks(mocks, 'stackbook', env, false);
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: any, cb: unknown): unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    secretOutputs.set(req.getName(), req.getAdditionalsecretoutputsList());
    return register(req, cb);
  };
}
/** The random value every RandomPassword gets under the mocks: a canary per resource. */
const randomCanaries = new Map<string, string>();

const mocks: pulumi.runtime.Mocks = {
  newResource(args) {
    registrations.push({ type: args.type, name: args.name, inputs: args.inputs });
    if (args.type === 'random:index/randomPassword:RandomPassword') {
      const value = randomCanaries.get(args.name) ?? canary(`random${args.name}`);
      randomCanaries.set(args.name, value);
      return { id: args.name, state: { ...args.inputs, result: value, bcryptHash: `$2a$10$${value}` } };
    }
    return { id: `${args.name}-id`, state: args.inputs };
  },
  call(args) {
    throw new Error(`unexpected invoke ${args.token}`);
  },
};

const SECRET_SIG = pulumi.runtime.specialSigKey;
/** An input with every secret-wrapped value cut out: what would be stored in plain text. */
function plainPart(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && (v as Record<string, unknown>)[SECRET_SIG] === pulumi.runtime.specialSecretSig) return '[secret]';
  if (Array.isArray(v)) return v.map(plainPart);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainPart(x)]));
  return v;
}

/** Every Output property of a resource that is NOT secret (in state, as the engine would store it), with its value. */
async function plainOutputs(r: pulumi.Resource, name: string): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  const secret = secretOutputs.get(name) ?? [];
  for (const [k, v] of Object.entries(r)) {
    if (!pulumi.Output.isInstance(v) || k === 'urn') continue;
    if (secret.includes(k) || (await pulumi.isSecret(v))) continue;
    out.push([k, await new Promise((resolve) => (v as pulumi.Output<unknown>).apply((x) => resolve(x)))]);
  }
  return out;
}

function pulumiConfig(env: string, secrets: Record<string, string>): Record<string, string> {
  const doc = yaml.load(readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8')) as { config: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config)) out[k] = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
  out['stackbook:secrets'] = JSON.stringify(secrets);
  return out;
}

describe.each(ENVS)('the Pulumi program under mocks: stack %s', (env) => {
  it('no canary in a registered input that is not secret, in the stack outputs, in non-secret outputs or in log lines', async () => {
    const prog = await import('../pulumi/program.js');
    const { loadStackFromPulumiConfig } = await import('../pulumi/config.js');
    const secrets = { [FIXTURE_CONFIG_KEY]: canary(`${env}pulumifixture`), ...configCanaries(env, renderEnv(env)) };
    const captured = captureOutput();
    try {
      // 1. the program as `pulumi up` runs it: real services, config secrets marked secret
      await mockStack(env);
      pulumi.runtime.setAllConfig(pulumiConfig(env, secrets), ['stackbook:secrets']);
      const real = prog.program();
      await real.settled();
      // 2. the same config with the fixture service: Pulumi-owned Secrets from config and random values
      const loaded = loadStackFromPulumiConfig();
      const withVault = { ...loaded.stack, cluster: stackWithCanaries(env, {}).cluster } as Stack;
      const deployment = prog.deployRendered(render(withVault, [...SERVICES, fixture]), loaded);
      await deployment.settled();
      expect(deployment.secrets.length).toBeGreaterThan(0);
      expect(randomCanaries.size).toBeGreaterThan(0);

      const canaries = [...Object.values(secrets), ...randomCanaries.values()];
      expect(registrations.length).toBeGreaterThan(real.group ? 10 : 0);
      for (const r of registrations) {
        checked.pulumiInputs++;
        expectNoCanary(`input of ${r.type} ${r.name}`, JSON.stringify(plainPart(r.inputs)), canaries);
      }
      // the canaries were really there, secret-wrapped (so the scan above is not vacuous)
      expect(registrations.some((r) => JSON.stringify(r.inputs).includes(Buffer.from(secrets[FIXTURE_CONFIG_KEY]!).toString('base64')))).toBe(true);
      for (const d of [real, deployment]) expectNoCanary('stack outputs', JSON.stringify(d.outputs), canaries);
      for (const r of [...deployment.secrets, ...deployment.passwords]) {
        const name = await new Promise<string>((resolve) => r.urn.apply((u) => resolve(u.split('::').pop()!)));
        expect(secretOutputs.has(name), name).toBe(true);
        for (const [k, v] of await plainOutputs(r, name)) {
          checked.pulumiOutputs++;
          expectNoCanary(`non-secret output ${k}`, JSON.stringify(v ?? null), canaries);
        }
      }
      // the random value itself is kept secret in state (mocks do not apply additionalSecretOutputs; the engine does)
      for (const p of deployment.passwords) {
        const name = await new Promise<string>((resolve) => p.urn.apply((u) => resolve(u.split('::').pop()!)));
        expect(secretOutputs.get(name)).toEqual(expect.arrayContaining(['result', 'bcryptHash']));
      }
      const logged = captured.text();
      checked.logLines += logged.split('\n').length;
      expectNoCanary('program log lines', logged, canaries);
    } finally {
      vi.restoreAllMocks();
    }
  }, 240_000); // the Pulumi program under mocks for a whole stack (~250 resources)
});

describe('the scan itself', () => {
  it('finds a canary as text, as base64 and as double base64', () => {
    const c = canary('self');
    for (const form of formsOf(c)) expect(() => expectNoCanary('probe', `x ${form} y`, [c])).toThrow(/contains secret canary/);
    expect(() => expectNoCanary('probe', 'nothing here', [c])).not.toThrow();
    expect(made.length).toBe(new Set(made).size);
  });
});

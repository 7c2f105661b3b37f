/**
 * The Pulumi program registers exactly what `stackbook synth` renders, under Pulumi mocks:
 * same kinds, names, namespaces and full bodies for every real stack; nothing else but the
 * Secrets Pulumi owns; those Secrets keep their values secret; config errors read like the CLI's.
 * Each real stack runs once, with a canary in every secret input (test/leak-canaries.ts): the same
 * run serves the registration checks and secret-leakage's scan of it (issue 7; the bundle and CLI
 * parts of that scan are in test/secret-leakage.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SecretRequirement, ServiceModule } from '../services/types.js';
import type { Stack } from '../stacks/schema.js';
import { ConfigError } from '../stacks/load.js';
import { PHASES, phaseOf, render, type Manifest, type Rendered } from '../synth/render.js';
import { ENVS, ROOT, loadEnv, renderEnv } from './helpers.js';
import { FIXTURE_CONFIG_KEY, canary, captureOutput, checked, checkedSummary, configCanaries, expectNoCanary, fixture as leakFixture, made, stackWithCanaries } from './leak-canaries.js';

// --------------------------------------------------------------------------- mocks

interface Registered {
  type: string;
  name: string;
  custom: boolean;
  inputs: Record<string, any>;
  urn?: string;
  dependencies?: string[];
  /** The outputs it asks the engine to keep secret (`additionalSecretOutputs`; the engine honours it, mocks do not). */
  secretOutputs?: string[];
}

let registered: Registered[] = [];
/**
 * Registrations the monitor has sent whose mock `newResource` has not run yet, by type and name
 * (a queue: the first sent is the first answered, as the former `registered.find` over every
 * registration chose it).
 */
let pending = new Map<string, Registered[]>();
const pendingKey = (type: string, name: string) => `${type}\0${name}`;
const PASSWORD_TYPE = 'random:index/randomPassword:RandomPassword';
/** Mock random value with characters a URL must encode: for RandomPasswords of the template fixture (`ope/ope-tpl/…`). */
const URL_HOSTILE = 'Tpl p@ss:w/rd?#%&+=';
/** The mock "random" value of a RandomPassword: distinctive, so a leak is easy to find. */
const passwordOf = (name: string, length: number) =>
  (name.startsWith('ope/ope-tpl/') ? URL_HOSTILE : `MockPw${name.replace(/[^A-Za-z0-9]/g, '')}`).padEnd(length, 'Q').slice(0, length);
/** The random value every RandomPassword gets under the canary runs of the real stacks: a canary per resource. */
const randomCanaries = new Map<string, string>();
const canaryOf = (name: string) => {
  const value = randomCanaries.get(name) ?? canary(`random${name}`);
  randomCanaries.set(name, value);
  return value;
};
/** How the current run's mock RandomPasswords get their value (`useStack`). */
let randomValue: (name: string, length: number) => string = passwordOf;

const mocks: pulumi.runtime.Mocks = {
  newResource(args) {
    const queue = pending.get(pendingKey(args.type, args.name));
    const rec = queue?.shift();
    if (rec) {
      rec.custom = args.custom ?? true;
      rec.inputs = args.inputs;
    } else {
      registered.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs: args.inputs });
    }
    if (args.type === PASSWORD_TYPE) {
      const value = randomValue(args.name, Number(args.inputs.length));
      return { id: args.name, state: { ...args.inputs, result: value, bcryptHash: `$2a$10$${value}` } };
    }
    // The engine would answer with the live object. The program reads outputs of its own Secrets
    // only (and of the RandomPasswords, above); the ConfigGroup's children are answered with no
    // state, which spares the mock monitor serialising every body back and the SDK parsing it.
    return { id: `${args.name}-id`, state: args.type === SECRET_TYPE ? args.inputs : {} };
  },
  call(args) {
    throw new Error(`unexpected invoke ${args.token}`);
  },
};

/** Mocks for one stack; also records each registration's URN, explicit dependencies and secret outputs. */
async function useStack(stack: string, preview = false, random: typeof randomValue = passwordOf): Promise<void> {
  registered = [];
  pending = new Map();
  randomValue = random;
  await pulumi.runtime.setMocks(mocks, 'stackbook', stack, preview);
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: any, cb: (err: unknown, resp: any) => void): unknown;
  };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const rec: Registered = {
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      inputs: undefined as unknown as Record<string, any>,
      dependencies: req.getDependenciesList(),
      secretOutputs: req.getAdditionalsecretoutputsList(),
    };
    registered.push(rec);
    const key = pendingKey(rec.type, rec.name);
    const queue = pending.get(key);
    if (queue) queue.push(rec);
    else pending.set(key, [rec]);
    return original(req, (err, resp) => {
      if (resp) rec.urn = resp.getUrn();
      cb(err, resp);
    });
  };
}

/** What the engine hands a Node.js program for a stack file: scalars as text, maps as JSON. */
function pulumiConfigOf(env: string): Record<string, string> {
  const doc = yaml.load(readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8')) as { config: Record<string, unknown> };
  const out: Record<string, string> = { 'kubernetes:context': 'not-ours' };
  for (const [k, v] of Object.entries(doc.config)) out[k] = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
  return out;
}

// --------------------------------------------------------------------------- helpers

const SECRET_SIG = pulumi.runtime.specialSigKey;
const isSecretValue = (v: unknown): v is { value: unknown } =>
  v !== null && typeof v === 'object' && (v as Record<string, unknown>)[SECRET_SIG] === pulumi.runtime.specialSecretSig;

/** A registered input with every secret value cut out: what would be stored in plain text. */
function withoutSecrets(v: unknown): unknown {
  if (isSecretValue(v)) return '[secret]';
  if (Array.isArray(v)) return v.map(withoutSecrets);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutSecrets(x)]));
  return v;
}

/** A registration's inputs as text, every secret value cut out (computed once: two scans read it per real stack). */
const plainTexts = new WeakMap<Registered, string>();
function plainText(r: Registered): string {
  let t = plainTexts.get(r);
  if (t === undefined) plainTexts.set(r, (t = JSON.stringify(withoutSecrets(r.inputs))));
  return t;
}

/** The registered `data` of a Secret, unwrapped from its secret envelope. */
function secretData(r: Registered): Record<string, unknown> {
  const d: unknown = r.inputs.data;
  return (isSecretValue(d) ? d.value : d) as Record<string, unknown>;
}

/** Pulumi type token of a Kubernetes object (`v1` is the `core` group). */
function typeToken(m: { apiVersion: string; kind: string }): string {
  return `kubernetes:${m.apiVersion.includes('/') ? m.apiVersion : `core/${m.apiVersion}`}:${m.kind}`;
}

const idOf = (m: { apiVersion: string; kind: string; metadata: { namespace?: string; name: string } }) =>
  `${m.apiVersion} ${m.kind} ${m.metadata.namespace ?? ''}/${m.metadata.name}`;

/** Kubernetes object resources registered (the ConfigGroup's children and Pulumi's Secrets). */
const k8sObjects = () => registered.filter((r) => r.custom && r.type.startsWith('kubernetes:'));
const SECRET_TYPE = 'kubernetes:core/v1:Secret';
/** A Secret the program creates itself (render never emits a Secret: values never enter the bundle). */
/**
 * The one difference the program makes to a rendered object, written out here rather than taken
 * from pulumi/program.ts: a ClusterIP Service with a selector waits for its cluster IP
 * (`pulumi.com/waitFor`, docs/pulumi-speed.md) instead of the provider's Endpoints wait.
 */
function pulumiOnlyReadiness(m: Manifest): Manifest {
  const spec = (m as { spec?: { selector?: Record<string, string>; clusterIP?: string; type?: string } }).spec;
  if (m.kind !== 'Service' || !spec?.selector || Object.keys(spec.selector).length === 0 || spec.clusterIP === 'None' || (spec.type ?? 'ClusterIP') !== 'ClusterIP') return m;
  return { ...m, metadata: { ...m.metadata, annotations: { ...m.metadata.annotations, 'pulumi.com/waitFor': 'jsonpath={.spec.clusterIP}' } } };
}
const isOwnedSecret = (r: Registered) => r.type === SECRET_TYPE && r.inputs.metadata?.annotations?.['stackbook.io/secret-source'] === 'pulumi';
/** The registered Kubernetes object `namespace/name` of a kind. */
const k8sObject = (kind: string, namespace: string | undefined, name: string): Registered => {
  const r = k8sObjects().find((o) => o.inputs.kind === kind && o.inputs.metadata?.namespace === namespace && o.inputs.metadata?.name === name);
  if (!r) throw new Error(`no registered ${kind} ${namespace ?? ''}/${name}`);
  return r;
};
/** Apply phase of a registered object: Pulumi's own Secrets belong to the config phase (program.ts). */
const phaseIndexOf = (r: Registered) => PHASES.indexOf(isOwnedSecret(r) ? 'config' : phaseOf(r.inputs as Manifest));
/** The requirements the program must create a Secret for. */
const pulumiRequirements = (r: Rendered) => r.secrets.filter((s) => s.source === 'pulumi');
/** `[name, length]` of the RandomPassword each random key of each pulumi requirement needs, sorted. */
const randomKeysOf = (r: Rendered) =>
  pulumiRequirements(r)
    .flatMap((s) =>
      Object.entries(s.pulumi ?? {}).flatMap(([key, how]) => ('randomLength' in how ? [[`${s.namespace}/${s.name}/${key}`, how.randomLength] as [string, number]] : [])),
    )
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
/** The resolved value of an Output (mocks run applies; a preview would not). */
const valueOf = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply((v) => { resolve(v); return v; }));
const plainJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

type ProgramModule = typeof import('../pulumi/program.js');
type ConfigModule = typeof import('../pulumi/config.js');
let prog: ProgramModule;
let cfg: ConfigModule;

/**
 * A fixture's `deployRendered`, settled, with the short stack traces program() registers with:
 * the SDK captures (and vitest source-maps) a stack per promise, thousands per stack, that no
 * test looks at.
 */
async function withShortStackTraces(deploy: () => ReturnType<ProgramModule['deployRendered']>): Promise<ReturnType<ProgramModule['deployRendered']>> {
  const restore = prog.shortStackTraces();
  try {
    const d = deploy();
    await d.settled();
    return d;
  } finally {
    restore();
  }
}

beforeAll(async () => {
  // Mocks first, then @pulumi/kubernetes (imported by the program).
  await useStack('dev');
  prog = await import('../pulumi/program.js');
  cfg = await import('../pulumi/config.js');
});

// --------------------------------------------------------------------------- real stacks

afterAll(() => {
  console.log(checkedSummary('pulumi (secret canaries)'));
});

/** Every Output property of a resource that is NOT secret (in state, as the engine would store it), with its value. */
async function plainOutputs(r: pulumi.Resource, secret: readonly string[]): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(r)) {
    if (!pulumi.Output.isInstance(v) || k === 'urn') continue;
    if (secret.includes(k) || (await pulumi.isSecret(v))) continue;
    out.push([k, await valueOf(v as pulumi.Output<unknown>)]);
  }
  return out;
}

/**
 * One mock run per real stack, for the registration checks below and the secret-leakage scan
 * (issue 7): the stack file's config as the engine hands it over, plus `stackbook:secrets` as a
 * Pulumi secret holding a canary per config key the stack's pulumi Secrets read and two spares
 * (they do not change what is rendered: values never enter the bundle, so the registrations
 * still equal `renderEnv(env)`, the render of the stack file as written). Every RandomPassword
 * gets a canary too. Then, on the same config, the program's `deployRendered` with the leak
 * fixture service (a Secret of every source, test/leak-canaries.ts), scanned only for leaks.
 */
describe.each(ENVS)('X-10: pulumi program for stack %s', (env) => {
  let expected: Rendered;
  let deployment: Awaited<ReturnType<ProgramModule['program']>>;
  const leak = {} as {
    secrets: Record<string, string>;
    captured: { text: () => string };
    real: Registered[];
    fixture: Registered[];
    deployment: ReturnType<ProgramModule['deployRendered']>;
  };

  beforeAll(async () => {
    expected = renderEnv(env); // cached, read only
    leak.secrets = { [FIXTURE_CONFIG_KEY]: canary(`${env}pulumifixture`), ...configCanaries(env, expected) };
    // the program's log lines, until the leak test below has scanned them (or afterAll)
    leak.captured = captureOutput();
    // 1. the program as `pulumi up` runs it: real services, config secrets marked secret
    await useStack(env, false, canaryOf);
    pulumi.runtime.setAllConfig({ ...pulumiConfigOf(env), 'stackbook:secrets': JSON.stringify(leak.secrets) }, ['stackbook:secrets']);
    deployment = prog.program();
    await deployment.settled();
    leak.real = registered;
    // 2. the same config with the fixture service alone: Pulumi-owned Secrets from config and
    // random values (the real services' registrations on this config are run 1's; the stack's
    // secretSources name their Secrets, not the fixture's, so they are left out here)
    registered = [];
    const loaded = cfg.loadStackFromPulumiConfig();
    const withVault = { ...loaded.stack, secretSources: {}, cluster: stackWithCanaries(env, {}).cluster } as Stack;
    leak.deployment = await withShortStackTraces(() => prog.deployRendered(render(withVault, [leakFixture]), loaded));
    leak.fixture = registered;
    registered = leak.real;
  }, 240_000); // the Pulumi program under mocks for a whole stack (~250 resources), then for the fixture
  afterAll(() => vi.restoreAllMocks());

  it('no canary in a registered input that is not secret, in the stack outputs, in non-secret outputs or in log lines', async () => {
    try {
      const { secrets, deployment: withFixture } = leak;
      expect(withFixture.secrets.length).toBeGreaterThan(0);
      expect(randomCanaries.size).toBeGreaterThan(0);
      const canaries = [...Object.values(secrets), ...randomCanaries.values()];
      const registrations = [...leak.real, ...leak.fixture];
      expect(registrations.length).toBeGreaterThan(deployment.group ? 10 : 0);
      for (const r of registrations) {
        checked.pulumiInputs++;
        expectNoCanary(`input of ${r.type} ${r.name}`, plainText(r), canaries);
      }
      // the canaries were really there, secret-wrapped (so the scan above is not vacuous)
      expect(registrations.some((r) => JSON.stringify(r.inputs).includes(Buffer.from(secrets[FIXTURE_CONFIG_KEY]!).toString('base64')))).toBe(true);
      for (const d of [deployment, withFixture]) expectNoCanary('stack outputs', JSON.stringify(d.outputs), canaries);
      // the resource outputs of both runs: the real services' Pulumi-owned Secrets and
      // RandomPasswords (run 1, as `pulumi up` runs it), the fixture's (run 2)
      for (const [d, regs] of [[deployment, leak.real], [withFixture, leak.fixture]] as const) {
        const secretOutputs = new Map(regs.map((r) => [r.name, r.secretOutputs ?? []]));
        for (const r of [...d.secrets, ...d.passwords]) {
          const name = (await valueOf(r.urn)).split('::').pop()!;
          expect(secretOutputs.has(name), name).toBe(true);
          for (const [k, v] of await plainOutputs(r, secretOutputs.get(name)!)) {
            checked.pulumiOutputs++;
            expectNoCanary(`non-secret output ${k}`, JSON.stringify(v ?? null), canaries);
          }
        }
        // the random value itself is kept secret in state (mocks do not apply additionalSecretOutputs; the engine does)
        for (const p of d.passwords) {
          const name = (await valueOf(p.urn)).split('::').pop()!;
          expect(secretOutputs.get(name)).toEqual(expect.arrayContaining(['result', 'bcryptHash']));
        }
      }
      const logged = leak.captured.text();
      checked.logLines += logged.split('\n').length;
      expectNoCanary('program log lines', logged, canaries);
      expect(made.length).toBe(new Set(made).size);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('reads the same typed Stack from Pulumi config as the CLI from the stack file', () => {
    pulumi.runtime.setAllConfig(pulumiConfigOf(env), []);
    const loaded = cfg.loadStackFromPulumiConfig();
    expect(loaded.file).toBe(`stacks/Pulumi.${env}.yaml`);
    expect(loaded.stack).toEqual(loadEnv(env));
  });

  it('registers every rendered object, with its full body, plus one Secret per pulumi requirement, and nothing else', () => {
    const owned = pulumiRequirements(expected);
    const ownedIds = owned.map((s) => `v1 Secret ${s.namespace}/${s.name}`);
    const all = k8sObjects().map((r) => idOf(r.inputs as Manifest));
    expect(all.sort()).toEqual([...expected.objects.map(idOf), ...ownedIds].sort());
    const actual = new Map(k8sObjects().filter((r) => !isOwnedSecret(r)).map((r) => [idOf(r.inputs as Manifest), r]));
    for (const m of expected.objects) {
      const id = idOf(m);
      const r = actual.get(id)!;
      expect(r, id).toBeDefined();
      expect(r.type, id).toBe(typeToken(m));
      expect(r.inputs, id).toEqual(plainJson(pulumiOnlyReadiness(m)));
    }
    // every stack has ClusterIP Services with selectors: the readiness difference above is exercised
    expect(k8sObjects().filter((r) => (r.inputs as Manifest).metadata.annotations?.['pulumi.com/waitFor'] === 'jsonpath={.spec.clusterIP}').length).toBeGreaterThan(0);
    // Each Pulumi-owned Secret: the requirement's name, namespace and keys, marked as Pulumi's, no stringData.
    const secrets = k8sObjects().filter(isOwnedSecret);
    expect(secrets).toHaveLength(owned.length);
    for (const req of owned) {
      const s = k8sObject('Secret', req.namespace, req.name);
      expect(s.type).toBe(SECRET_TYPE);
      expect(Object.keys(secretData(s)).sort(), req.name).toEqual([...req.keys].sort());
      expect(s.inputs.stringData, req.name).toBeUndefined();
    }
    // No other custom resource than one RandomPassword per random key of those Secrets.
    const others = registered.filter((r) => r.custom && !r.type.startsWith('kubernetes:'));
    expect(others.every((r) => r.type === PASSWORD_TYPE)).toBe(true);
    expect(others.map((r) => [r.name, Number(r.inputs.length)]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1))).toEqual(randomKeysOf(expected));
  });

  it('never carries a generated value in plain text in any registered input or in the outputs', () => {
    // the mock value of each (a canary, see the describe's run)
    const passwords = registered.filter((r) => r.type === PASSWORD_TYPE).map((r) => randomCanaries.get(r.name)!);
    expect(passwords.every((p) => typeof p === 'string')).toBe(true);
    const leaks = passwords.flatMap((p) => [p, b64(p)]);
    // every leak form searched in every input; one expect per input naming what was found
    for (const r of registered) {
      const text = plainText(r);
      expect(leaks.filter((l) => text.includes(l)), `${r.type} ${r.name}`).toEqual([]);
    }
    for (const s of k8sObjects().filter(isOwnedSecret)) expect(isSecretValue(s.inputs.data), s.name).toBe(true);
    const outputs = JSON.stringify(deployment.outputs);
    for (const l of leaks) expect(outputs).not.toContain(l);
  });

  it('orders the apply like the bundles: each object waits for every object of earlier phases, through a chain', () => {
    const objs = k8sObjects();
    const phases = new Map(objs.map((r) => [r, phaseIndexOf(r)]));
    const phase = (r: Registered) => phases.get(r)!;
    expect(objs.some((r) => phase(r) === 0)).toBe(true);
    const byUrn = new Map(objs.map((o) => [o.urn, o]));
    // computed once per object (the walk below visits each object's list many times)
    const directOf = new Map(objs.map((r) => [r, (r.dependencies ?? []).filter((u) => byUrn.has(u)).sort()]));
    const direct = (r: Registered) => directOf.get(r)!;
    const occupied = [...new Set(objs.map(phase))].sort((a, b) => a - b);
    // the sorted URNs of each phase's objects, and of all objects of earlier phases, once per phase
    const urnsOf = (keep: (p: number) => boolean) => objs.filter((o) => keep(phase(o))).map((o) => o.urn).sort();
    const inPhase = new Map(occupied.map((p) => [p, urnsOf((q) => q === p)]));
    const earlier = new Map(occupied.map((p) => [p, urnsOf((q) => q < p)]));
    for (const r of objs) {
      // direct: exactly the objects of the nearest earlier phase that has any
      const prev = occupied.filter((i) => i < phase(r)).pop();
      expect(direct(r), `${r.type} ${r.name}`).toEqual(prev === undefined ? [] : inPhase.get(prev));
      // transitively: every object of every earlier phase, as the bundles apply them
      const seen = new Set<string>();
      const todo = [...direct(r)];
      while (todo.length > 0) {
        const u = todo.pop()!;
        if (!seen.has(u)) {
          seen.add(u);
          todo.push(...direct(byUrn.get(u)!));
        }
      }
      expect([...seen].sort(), `${r.type} ${r.name}`).toEqual(earlier.get(phase(r)));
    }
    // fewer edges than "every earlier object": a chain, not a complete order
    const edges = objs.reduce((n, r) => n + direct(r).length, 0);
    const complete = objs.reduce((n, r) => n + objs.filter((o) => phase(o) < phase(r)).length, 0);
    expect(edges).toBeLessThan(complete);
    const ns = k8sObject('Namespace', undefined, 'ope');
    const deploy = k8sObject('Deployment', 'ope', 'ope');
    expect(deploy.dependencies).not.toContain(ns.urn); // through the config and network phases
    expect(k8sObject('ServiceAccount', 'ope', 'ope').dependencies).toContain(ns.urn);
  });

  it('exports the namespaces, the https endpoint of every Ingress and every declared Secret (never a value)', () => {
    const stack = loadEnv(env);
    const { namespaces, endpoints, secrets } = deployment.outputs;
    expect([...namespaces].sort()).toEqual(expected.objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name).sort());
    expect(namespaces).toContain('ope');
    const hosts = expected.objects
      .filter((o) => o.kind === 'Ingress')
      .flatMap((o) => ((o.spec as { rules?: Array<{ host?: string }> }).rules ?? []).map((r) => r.host))
      .filter((h): h is string => typeof h === 'string');
    expect(hosts.length).toBeGreaterThan(0);
    expect(endpoints).toEqual([...new Set(hosts)].sort().map((h) => `https://${h}`));
    expect(endpoints).toContain(`https://ope.${stack.cluster.domain}`);
    // One listing per declared requirement: identity, source, keys, consumers, version, Vault path; nothing else.
    expect(secrets).toHaveLength(expected.secrets.length);
    for (const req of expected.secrets) {
      const l = secrets.find((x) => x.namespace === req.namespace && x.name === req.name)!;
      expect(l, req.name).toBeDefined();
      expect(l, req.name).toMatchObject({ source: req.source, keys: [...req.keys].sort(), consumers: [...req.consumers].sort(), version: req.version ?? 1 });
      expect(Object.keys(l).every((k) => ['name', 'namespace', 'keys', 'source', 'consumers', 'version', 'vault'].includes(k)), req.name).toBe(true);
      if (req.source === 'vault') expect(l.vault?.path, req.name).toBe(req.vault!.path);
      else expect(l.vault, req.name).toBeUndefined();
    }
  });
});

// --------------------------------------------------------------------------- Pulumi-owned Secrets

describe('Secrets owned by Pulumi (fixture: dev plus two secret requirements)', () => {
  const CONFIG_SECRET = 'cfg-Secret-Value-7f3a9e';
  const owned: SecretRequirement = {
    name: 'ope-credentials',
    namespace: 'ope',
    keys: ['apiToken', 'dbPassword'],
    source: 'pulumi',
    consumers: ['ope'],
    pulumi: { dbPassword: { randomLength: 40 }, apiToken: { configKey: 'opeApiToken' } },
    version: 3,
  };
  const external: SecretRequirement = {
    name: 'ope-vault', namespace: 'ope', keys: ['x'], source: 'vault', consumers: ['ope'], vault: { path: 'secret/ope/x' },
  };
  let fixture: Rendered;
  let deployment: ReturnType<ProgramModule['deployRendered']>;

  beforeAll(async () => {
    await useStack('dev');
    pulumi.runtime.setAllConfig(
      { ...pulumiConfigOf('dev'), 'stackbook:secrets': JSON.stringify({ opeApiToken: CONFIG_SECRET }) },
      ['stackbook:secrets'],
    );
    const loaded = cfg.loadStackFromPulumiConfig();
    expect(loaded.secretTopKeys.has('secrets')).toBe(true);
    const base = render(loaded.stack);
    // dev's Secrets and every Namespace, but only the `ope` namespace's objects: what the checks
    // below follow (ope's Secret, its NetworkPolicies, ConfigMaps and Deployment); the other
    // services' objects register as run 1 of the dev stack above shows
    const objects = base.objects.filter((o) => o.kind === 'Namespace' || o.metadata.namespace === 'ope');
    fixture = { ...base, objects, secrets: [...base.secrets, owned, external] };
    deployment = await withShortStackTraces(() => prog.deployRendered(fixture, loaded));
  });

  /** The fixture's own Secret, among the real dev stack's Pulumi-owned ones. */
  const opeSecret = () => k8sObject('Secret', 'ope', 'ope-credentials');
  /** Its index in `deployment.secrets` / `secretData` (rendered.secrets order, pulumi ones only). */
  const opeIndex = () => pulumiRequirements(fixture).findIndex((r) => r.namespace === 'ope' && r.name === 'ope-credentials');

  it('registers one Secret per pulumi requirement, with the right name, namespace and keys', () => {
    const secrets = k8sObjects().filter((r) => r.type === SECRET_TYPE);
    expect(secrets.map((r) => r.name).sort()).toEqual(pulumiRequirements(fixture).map((r) => `${r.namespace}/${r.name}`).sort());
    expect(secrets.map((r) => r.name)).toContain('ope/ope-credentials');
    expect(secrets.map((r) => r.name)).not.toContain('ope/ope-vault');
    const s = opeSecret();
    expect(s.name).toBe('ope/ope-credentials');
    expect(s.inputs.metadata.name).toBe('ope-credentials');
    expect(s.inputs.metadata.namespace).toBe('ope');
    expect(s.inputs.metadata.annotations['stackbook.io/secret-source']).toBe('pulumi');
    expect(s.inputs.type).toBe('Opaque');
    expect(Object.keys(secretData(s)).sort()).toEqual(['apiToken', 'dbPassword']);
    expect(s.inputs.stringData).toBeUndefined();
    // Besides those Secrets and their RandomPasswords: exactly the rendered objects.
    const others = k8sObjects().filter((r) => !secrets.includes(r)).map((r) => idOf(r.inputs as Manifest)).sort();
    expect(others).toEqual(fixture.objects.map(idOf).sort());
    const passwords = registered.filter((r) => r.type === PASSWORD_TYPE);
    expect(passwords.map((r) => [r.name, Number(r.inputs.length)]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1))).toEqual(randomKeysOf(fixture));
    expect(passwords.filter((r) => r.name.startsWith('ope/')).map((r) => [r.name, r.inputs.length])).toEqual([['ope/ope-credentials/dbPassword', 40]]);
  });

  it('sends every value as a secret: the config secret and the random value', async () => {
    const s = opeSecret();
    // The engine receives `data` wrapped as a secret (so state encrypts it), not just its parts.
    expect(isSecretValue(s.inputs.data)).toBe(true);
    const data = secretData(s);
    const decoded = (v: unknown) => Buffer.from(String(isSecretValue(v) ? v.value : v), 'base64').toString();
    expect(decoded(data.apiToken)).toBe(CONFIG_SECRET);
    expect(decoded(data.dbPassword)).toBe(passwordOf('ope/ope-credentials/dbPassword', 40));
    const i = opeIndex();
    expect(i).toBeGreaterThanOrEqual(0);
    expect(await valueOf(deployment.secrets[i]!.metadata.name)).toBe('ope-credentials');
    expect(await pulumi.isSecret(deployment.secrets[i]!.data)).toBe(true);
    // Each value is a secret before it reaches the Secret (not only because the SDK wraps `data`).
    const values = deployment.secretData[i]!;
    expect(Object.keys(values).sort()).toEqual(['apiToken', 'dbPassword']);
    for (const [k, v] of Object.entries(values)) expect(await pulumi.isSecret(v), k).toBe(true);
    // And so is every value of every other Pulumi-owned Secret.
    expect(deployment.secretData).toHaveLength(pulumiRequirements(fixture).length);
    for (const [j, d] of deployment.secretData.entries()) {
      for (const [k, v] of Object.entries(d)) expect(await pulumi.isSecret(v), `${pulumiRequirements(fixture)[j]!.name}.${k}`).toBe(true);
    }
  });

  it('never carries a secret value in plain text in any registered input or output', () => {
    const password = passwordOf('ope/ope-credentials/dbPassword', 40);
    const leaks = [CONFIG_SECRET, b64(CONFIG_SECRET), password, b64(password)];
    expect(registered.length).toBeGreaterThan(fixture.objects.length);
    // every leak form searched in every input; one expect per input naming what was found
    for (const r of registered) {
      const text = plainText(r);
      expect(leaks.filter((l) => text.includes(l)), `${r.type} ${r.name}`).toEqual([]);
    }
    const outputs = JSON.stringify(deployment.outputs);
    for (const l of leaks) expect(outputs).not.toContain(l);
  });

  it('creates the Secret after its namespace, and the workloads after the Secret', () => {
    const secret = opeSecret();
    expect(secret.dependencies).toContain(k8sObject('Namespace', undefined, 'ope').urn);
    const deploy = k8sObject('Deployment', 'ope', 'ope');
    // the network phase waits for the Secret directly, the workloads through it (a chain)
    const policies = k8sObjects().filter((r) => r.inputs.kind === 'NetworkPolicy');
    expect(policies.length).toBeGreaterThan(0);
    expect(policies.every((np) => np.dependencies?.includes(secret.urn!))).toBe(true);
    const byUrn = new Map(registered.map((r) => [r.urn, r]));
    const reach = new Set<string>();
    const todo = [...(deploy.dependencies ?? [])];
    while (todo.length > 0) {
      const u = todo.pop()!;
      if (!reach.has(u)) {
        reach.add(u);
        todo.push(...(byUrn.get(u)?.dependencies ?? []));
      }
    }
    expect(reach.has(secret.urn!)).toBe(true);
    const configMaps = k8sObjects().filter((r) => r.inputs.kind === 'ConfigMap' && r.inputs.metadata.namespace === 'ope');
    expect(configMaps.length).toBeGreaterThan(0);
    for (const cm of configMaps) expect(cm.dependencies, cm.name).not.toContain(secret.urn);
  });

  it('rotation: the version is a keeper of each RandomPassword (a bump makes new values) and an annotation on the Secret', () => {
    const password = registered.find((r) => r.type === PASSWORD_TYPE && r.name === 'ope/ope-credentials/dbPassword')!;
    expect(password.inputs.keepers).toEqual({ 'rotation.stackbook.io/version': '3' });
    const s = opeSecret();
    expect(s.inputs.metadata.annotations['rotation.stackbook.io/version']).toBe('3');
    // Every other RandomPassword is keyed on its own Secret's version.
    for (const req of pulumiRequirements(fixture)) {
      for (const r of registered.filter((x) => x.type === PASSWORD_TYPE && x.name.startsWith(`${req.namespace}/${req.name}/`))) {
        expect(r.inputs.keepers, r.name).toEqual({ 'rotation.stackbook.io/version': String(req.version ?? 1) });
      }
    }
  });

  it('outputs list every required Secret (pulumi, vault, existing) with keys, source and Vault path, never a value', () => {
    expect(deployment.outputs.secrets).toHaveLength(fixture.secrets.length);
    expect(deployment.outputs.secrets.filter((s) => s.name === 'ope-credentials' || s.name === 'ope-vault')).toEqual([
      { name: 'ope-credentials', namespace: 'ope', keys: ['apiToken', 'dbPassword'], source: 'pulumi', consumers: ['ope'], version: 3 },
      { name: 'ope-vault', namespace: 'ope', keys: ['x'], source: 'vault', consumers: ['ope'], version: 1, vault: { path: 'secret/ope/x', properties: { x: 'x' } } },
    ]);
    // Nothing is created for the vault requirement: external-secrets does that from the bundle's ExternalSecret.
    expect(k8sObjects().filter((r) => r.inputs.metadata?.name === 'ope-vault')).toEqual([]);
  });

  it('rejects a missing or plain-text config secret with a config error that never shows the value', () => {
    const loaded = { file: 'stacks/Pulumi.dev.yaml', secretTopKeys: new Set(['secrets']) };
    const noValue = { ...fixture, stack: { ...fixture.stack, secrets: {} } };
    expect(() => prog.planPulumiSecrets(noValue, loaded)).toThrow(ConfigError);
    expect(() => prog.planPulumiSecrets(noValue, loaded)).toThrow(
      /^stacks\/Pulumi\.dev\.yaml: config\.stackbook:secrets\.opeApiToken: required by Secret ope\/ope-credentials \(key apiToken\)/,
    );
    const plain = { file: 'stacks/Pulumi.dev.yaml', secretTopKeys: new Set<string>() };
    let message = '';
    try {
      prog.planPulumiSecrets(fixture, plain);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^stacks\/Pulumi\.dev\.yaml: config\.stackbook:secrets\.opeApiToken: must be a Pulumi secret/);
    expect(message).not.toContain(CONFIG_SECRET);
  });
});

// --------------------------------------------------------------------------- secrets from every source, rotation

describe('a stack with vault, pulumi and existing Secrets and rotated consumers: the program registers exactly the bundle', () => {
  let fixture: Rendered;
  let deployment: ReturnType<ProgramModule['deployRendered']>;

  beforeAll(async () => {
    const [{ Chart }, { ope }, { Workload }, { stackSchema }] = await Promise.all([
      import('cdk8s'), import('../services/ope.js'), import('../components/workload.js'), import('../stacks/schema.js'),
    ]);
    const base = loadEnv('prod');
    const stack = stackSchema.parse({
      ...base,
      cluster: { ...base.cluster, vault: { server: 'https://vault.corp.internal:8200', auth: { role: 'stackbook' } } },
      secretSources: { 'hooks-hmac': { source: 'vault', path: 'secret/omertaos/hooks', version: 2 }, 'hooks-db': { source: 'pulumi', version: 5 } },
    });
    const module: ServiceModule = {
      ...ope,
      build(scope, ctx) {
        const handles = [
          ctx.requireSecret({ name: 'hooks-hmac', namespace: 'ope', keys: ['hmacKey'], source: 'existing', consumers: ['hooks'] }),
          ctx.requireSecret({ name: 'hooks-db', namespace: 'ope', keys: ['password'], source: 'existing', consumers: ['hooks'], pulumi: { password: { randomLength: 32 } } }),
          ctx.requireSecret({ name: 'hooks-api', namespace: 'ope', keys: ['apiKey'], source: 'existing', consumers: ['hooks'] }),
        ];
        new Workload(new Chart(scope, 'hooks', { disableResourceNameHashes: true }), 'Hooks', {
          name: 'hooks', namespace: 'ope', image: `example.com/hooks:1@sha256:${'b'.repeat(64)}`, port: 8080,
          liveness: { path: '/livez' }, readiness: { path: '/readyz' },
          env: { HMAC_KEY: handles[0]!.env('hmacKey'), DB_PASSWORD: handles[1]!.env('password'), API_KEY: handles[2]!.env('apiKey') },
          podAnnotations: Object.assign({}, ...handles.map((h) => h.annotations)),
        });
      },
    };
    fixture = render(stack, [ope, module]);
    await useStack('prod');
    pulumi.runtime.setAllConfig(pulumiConfigOf('prod'), []);
    deployment = await withShortStackTraces(() => prog.deployRendered(fixture, { file: 'stacks/Pulumi.prod.yaml', secretTopKeys: new Set() }));
  });

  it('the bundle carries the ExternalSecret, the ClusterSecretStore and the rotation annotations; Pulumi registers them unchanged', () => {
    const kinds = fixture.objects.map((o) => o.kind);
    expect(kinds).toContain('ExternalSecret');
    expect(kinds).toContain('ClusterSecretStore');
    const hooks = fixture.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'hooks') as any;
    expect(hooks.spec.template.metadata.annotations).toEqual({
      'rotation.stackbook.io/secret-hooks-api': '1',
      'rotation.stackbook.io/secret-hooks-db': '5',
      'rotation.stackbook.io/secret-hooks-hmac': '2',
    });
    const owned = k8sObjects().filter((r) => r.type === 'kubernetes:core/v1:Secret');
    expect(owned.map((r) => r.name)).toEqual(['ope/hooks-db']);
    const actual = new Map(k8sObjects().filter((r) => !owned.includes(r)).map((r) => [idOf(r.inputs as Manifest), r]));
    expect([...actual.keys()].sort()).toEqual(fixture.objects.map(idOf).sort());
    for (const m of fixture.objects) {
      const r = actual.get(idOf(m))!;
      expect(r.type, idOf(m)).toBe(typeToken(m));
      expect(r.inputs, idOf(m)).toEqual(plainJson(pulumiOnlyReadiness(m)));
    }
  });

  it('the Pulumi-owned Secret and its random value carry the same version as the consumers\' annotation', () => {
    const secret = k8sObjects().find((r) => r.type === 'kubernetes:core/v1:Secret')!;
    expect(secret.inputs.metadata.annotations['rotation.stackbook.io/version']).toBe('5');
    expect(registered.find((r) => r.type === PASSWORD_TYPE)!.inputs.keepers).toEqual({ 'rotation.stackbook.io/version': '5' });
  });
});

// --------------------------------------------------------------------------- errors and preview

describe('program errors and short stack traces', () => {
  beforeEach(() => {
    registered = [];
  });

  it('fails a bad config with the ConfigError text naming the stack file and config path, as a RunError', async () => {
    await useStack('prod');
    const config = pulumiConfigOf('prod');
    const services = JSON.parse(config['stackbook:services']!) as { ope: Record<string, unknown> };
    services.ope.workerz = 3;
    config['stackbook:services'] = JSON.stringify(services);
    pulumi.runtime.setAllConfig(config, []);
    let err: unknown;
    try {
      prog.program();
    } catch (e) {
      err = e;
    }
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect((err as Error).message).toBe('stacks/Pulumi.prod.yaml: config.stackbook:services.ope.workerz: unknown key (a typo?) (got 3)');
    await new Promise((r) => setTimeout(r, 50));
    expect(registered).toEqual([]);
  });

  it('never echoes the value of a secret config key in an error', async () => {
    await useStack('staging');
    const config = pulumiConfigOf('staging');
    config['stackbook:tier'] = 'top-secret-tier';
    pulumi.runtime.setAllConfig(config, ['stackbook:tier']);
    expect(() => prog.program()).toThrow(/^stacks\/Pulumi\.staging\.yaml: config\.stackbook:tier: must be one of /);
    expect(() => prog.program()).not.toThrow(/top-secret-tier/);
  });

  it('short stack traces: an error keeps its message and the frame that threw it; PULUMI_DEBUG_PROMISE_LEAKS (its stacks are printed) keeps the limit', () => {
    const before = Error.stackTraceLimit;
    const restore = prog.shortStackTraces({});
    let stack: string;
    try {
      const obj = JSON.parse('{}') as { spec: { replicas: number } };
      stack = String(obj.spec.replicas);
    } catch (e) {
      stack = (e as Error).stack ?? '';
    } finally {
      restore();
    }
    const lines = stack.split('\n');
    expect(lines[0]).toMatch(/^TypeError: Cannot read properties of undefined \(reading 'replicas'\)$/);
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toContain('pulumi.test.ts');
    expect(Error.stackTraceLimit).toBe(before);

    const untouched = prog.shortStackTraces({ PULUMI_DEBUG_PROMISE_LEAKS: 'true' });
    expect(Error.stackTraceLimit).toBe(before);
    untouched();
    expect(Error.stackTraceLimit).toBe(before);
  });
});

/**
 * One preview of a real stack (airgap) through program(), for two properties: it completes and
 * registers what synth renders, and it registers with one-frame stack traces (each registration
 * sees `Error.stackTraceLimit` 1), restoring the limit once every resource is registered.
 */
describe('a preview (dry run) of a real stack', () => {
  const seen = {} as { before: number; limits: number[]; registered: number; after: number };

  beforeAll(async () => {
    await useStack('airgap', true);
    pulumi.runtime.setAllConfig(pulumiConfigOf('airgap'), []);
    const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: unknown, cb: unknown): unknown };
    const registering = monitor.registerResource.bind(monitor);
    const limits: number[] = [];
    monitor.registerResource = (req, cb) => {
      limits.push(Error.stackTraceLimit);
      return registering(req, cb);
    };
    const before = Error.stackTraceLimit;
    const d = prog.program();
    await d.settled();
    seen.registered = registered.length;
    await new Promise((r) => setTimeout(r, 0));
    Object.assign(seen, { before, limits, after: Error.stackTraceLimit });
  });

  it('registers with one-frame stack traces (the SDK captures one per promise) and restores the limit once every resource is registered', () => {
    const { before, limits } = seen;
    expect(before).toBeGreaterThan(1);
    expect(limits.length).toBe(seen.registered);
    expect(limits.length).toBeGreaterThan(100);
    expect(new Set(limits)).toEqual(new Set([1]));
    expect(seen.after).toBe(before);
  });

  it('completes a preview (dry run) of a real stack', () => {
    // Every rendered object, plus the Secrets Pulumi owns (by design), and nothing else.
    const want = renderEnv('airgap');
    const owned = pulumiRequirements(want).map((s) => `v1 Secret ${s.namespace}/${s.name}`);
    expect(owned.length).toBeGreaterThan(0);
    expect(k8sObjects().map((r) => idOf(r.inputs as Manifest)).sort()).toEqual([...want.objects.map(idOf), ...owned].sort());
  });
});

// --------------------------------------------------------------------------- template keys

describe('template keys: a key built from other keys of the same Secret, each reference URL-encoded', () => {
  const TEMPLATE = 'redis://:{password}@redis.ope.svc:6379/0';
  const tpl: SecretRequirement = {
    name: 'ope-tpl',
    namespace: 'ope',
    keys: ['password', 'url'],
    source: 'pulumi',
    consumers: ['ope'],
    pulumi: { password: { randomLength: 24 }, url: { template: TEMPLATE } },
  };
  let fixture: Rendered;
  let loaded: ReturnType<ConfigModule['loadStackFromPulumiConfig']>;
  let deployment: ReturnType<ProgramModule['deployRendered']>;

  beforeAll(async () => {
    await useStack('dev');
    pulumi.runtime.setAllConfig(pulumiConfigOf('dev'), []);
    loaded = cfg.loadStackFromPulumiConfig();
    const base = render(loaded.stack);
    // Only the namespace the Secret waits for: the Secret is what is under test.
    fixture = { ...base, objects: base.objects.filter((o) => o.kind === 'Namespace' && o.metadata.name === 'ope'), secrets: [tpl] };
    deployment = prog.deployRendered(fixture, loaded);
    await deployment.settled();
  });

  it('the template key is a secret Output whose value is the template filled with the URL-encoded random value', async () => {
    const pw = passwordOf('ope/ope-tpl/password', 24);
    expect(encodeURIComponent(pw)).not.toBe(pw); // the mock value needs encoding, so a missing encode shows
    const want = `redis://:${encodeURIComponent(pw)}@redis.ope.svc:6379/0`;
    const values = deployment.secretData[0]!;
    expect(Object.keys(values).sort()).toEqual(['password', 'url']);
    expect(await pulumi.isSecret(values.url!)).toBe(true);
    expect(Buffer.from(await valueOf(values.url!), 'base64').toString('utf8')).toBe(want);
    expect(Buffer.from(await valueOf(values.password!), 'base64').toString('utf8')).toBe(pw);
    // The registered Secret carries the same value inside its secret `data`.
    const s = k8sObject('Secret', 'ope', 'ope-tpl');
    expect(isSecretValue(s.inputs.data)).toBe(true);
    const data = secretData(s);
    const decoded = (v: unknown) => Buffer.from(String(isSecretValue(v) ? v.value : v), 'base64').toString('utf8');
    expect(decoded(data.url)).toBe(want);
    expect(decoded(data.password)).toBe(pw);
    // One RandomPassword, for the random key only: the template key is derived, not generated.
    expect(registered.filter((r) => r.type === PASSWORD_TYPE).map((r) => r.name)).toEqual(['ope/ope-tpl/password']);
    // Neither the value nor the filled template is in plain text anywhere.
    const leaks = [pw, encodeURIComponent(pw), b64(pw), want, b64(want)];
    // every leak form searched in every input; one expect per input naming what was found
    for (const r of registered) {
      const text = plainText(r);
      expect(leaks.filter((l) => text.includes(l)), `${r.type} ${r.name}`).toEqual([]);
    }
  });

  it('fills every reference, URL-encoding each value', () => {
    expect(prog.templateRefs('{a}://{b}@{a}')).toEqual(['a', 'b']);
    expect(prog.fillTemplate('x://{u}:{p}@h/{u}', { u: 'a b', p: 'p@ss/:?#%' })).toBe('x://a%20b:p%40ss%2F%3A%3F%23%25@h/a%20b');
  });

  it('a template referencing an undeclared key throws (a service-module bug, not a config problem), before anything registers', async () => {
    const withSources = (keys: string[], sources: NonNullable<SecretRequirement['pulumi']>): Rendered => ({
      ...fixture,
      secrets: [{ ...tpl, keys, pulumi: sources }],
    });
    const typo = withSources(['password', 'url'], { password: { randomLength: 24 }, url: { template: 'redis://:{pasword}@redis.ope.svc:6379/0' } });
    const message = 'Secret ope/ope-tpl: key url: template must reference other non-template keys of the Secret (bad: pasword)';
    expect(() => prog.planPulumiSecrets(typo, loaded)).toThrow(message);
    let err: unknown;
    try {
      prog.planPulumiSecrets(typo, loaded);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ConfigError);
    // A key the Secret does not declare at all, even if it would have a source.
    const undeclared = withSources(['url'], { url: { template: TEMPLATE } });
    expect(() => prog.planPulumiSecrets(undeclared, loaded)).toThrow('key url: template must reference other non-template keys of the Secret (bad: password)');
    // Itself, another template key, or no reference at all.
    expect(() => prog.planPulumiSecrets(withSources(['url'], { url: { template: 'x://{url}' } }), loaded)).toThrow('(bad: url)');
    expect(() =>
      prog.planPulumiSecrets(withSources(['password', 'a', 'b'], { password: { randomLength: 8 }, a: { template: '{password}' }, b: { template: '{a}' } }), loaded),
    ).toThrow('key b: template must reference other non-template keys of the Secret (bad: a)');
    expect(() => prog.planPulumiSecrets(withSources(['url'], { url: { template: 'redis://fixed' } }), loaded)).toThrow('(bad: none referenced)');
    // deployRendered plans first: nothing is registered for a broken template.
    const before = registered.length;
    expect(() => prog.deployRendered(typo, loaded)).toThrow(message);
    await new Promise((r) => setTimeout(r, 50));
    expect(registered.length).toBe(before);
  });
});

/**
 * One pipeline for both outputs: `stackbook synth` and the Pulumi program run the same
 * load -> render -> policies -> air-gap check (synth/pipeline.ts). A stack synth refuses registers
 * nothing under `pulumi preview`/`up` and fails with synth's lines, one per problem, as a RunError
 * (the engine prints its message without a stack trace). Under Pulumi mocks; the real engine runs
 * the same refusal in the real-cluster tier (tools/test-cluster.mjs).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { loadStackFromPulumiConfig } from '../pulumi/config.js';
import { render, type Manifest } from '../synth/render.js';
import { ROOT } from './helpers.js';
import { injected as inject } from './render-inject.js';

/** `render` with objects a test injects, as a new (buggy) component would (test/render-inject.ts). */
vi.mock('../synth/render.js', async (orig) => (await import('./render-inject.js')).renderInjecting(orig));

const TMP = mkdtempSync(join(tmpdir(), 'stackbook-pipeline-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
afterEach(() => {
  inject.objects = [];
  vi.restoreAllMocks();
});

let registered: string[] = [];
const mocks: pulumi.runtime.Mocks = {
  newResource(args) {
    registered.push(`${args.type}::${args.name}`);
    if (args.type === 'random:index/randomPassword:RandomPassword') {
      return { id: args.name, state: { ...args.inputs, result: 'R'.repeat(Number(args.inputs.length)) } };
    }
    // The engine would answer with the live object. The program reads outputs of its own Secrets
    // only (and of the RandomPasswords, above); the ConfigGroup's children are answered with no
    // state, which spares the mock monitor serialising every body back and the SDK parsing it.
    return { id: `${args.name}-id`, state: args.type === 'kubernetes:core/v1:Secret' ? args.inputs : {} };
  },
  call(args) {
    throw new Error(`unexpected invoke ${args.token}`);
  },
};

/** What the engine hands a Node.js program for a stack file: scalars as text, maps as JSON. */
function pulumiConfigOf(env: string): Record<string, string> {
  const doc = yaml.load(readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8')) as { config: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config)) out[k] = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
  return out;
}

async function synth(env: string): Promise<{ code: number; stderr: string[] }> {
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  try {
    const code = await main(['synth', env, '--out', join(TMP, env)], ROOT);
    return { code, stderr: stderr.split('\n').filter(Boolean) };
  } finally {
    vi.restoreAllMocks();
  }
}

type ProgramModule = typeof import('../pulumi/program.js');
let prog: ProgramModule;

async function programFails(env: string): Promise<{ err: unknown; lines: string[] }> {
  registered = [];
  await pulumi.runtime.setMocks(mocks, 'stackbook', env, true);
  pulumi.runtime.setAllConfig(pulumiConfigOf(env), []);
  let err: unknown;
  try {
    prog.program();
  } catch (e) {
    err = e;
  }
  await new Promise((r) => setTimeout(r, 50));
  return { err, lines: err instanceof Error ? err.message.split('\n') : [] };
}

beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, 'stackbook', 'dev', true);
  prog = await import('../pulumi/program.js');
});

/** A Deployment a buggy component might render: privileged, no probes, no resources. */
const privileged: Manifest = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'rogue', namespace: 'ope' },
  spec: {
    selector: { matchLabels: { app: 'rogue' } },
    template: { metadata: { labels: { app: 'rogue' } }, spec: { containers: [{ name: 'rogue', image: 'ghcr.io/acme/rogue:1', securityContext: { privileged: true } }] } },
  },
};

describe('a stack synth refuses is refused by the Pulumi program, with the same lines, before registering anything', () => {
  it('blocking policy violations (dev): synth exits 1 and writes nothing; the program throws a RunError of the same lines', async () => {
    inject.objects = [privileged];
    const s = await synth('dev');
    expect(s.code).toBe(1);
    expect(s.stderr.at(-1)).toBe('synth: mandatory policy violations: nothing written');
    const cliLines = s.stderr.slice(0, -1);
    expect(cliLines.length).toBeGreaterThan(0);
    expect(cliLines.every((l) => l.startsWith('dev: Deployment ope/rogue: ['))).toBe(true);

    const { err, lines } = await programFails('dev');
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect(lines.at(-1)).toBe('dev: mandatory policy violations: refused');
    expect(lines.slice(0, -1)).toEqual(cliLines);
    expect(registered).toEqual([]);
  });

  it('air-gap problems (airgap): synth exits 2 and writes nothing; the program throws a RunError of the same lines', async () => {
    inject.objects = [{ ...structuredClone(privileged), spec: { ...structuredClone(privileged.spec as object), template: { metadata: { labels: { app: 'rogue' } }, spec: { securityContext: { runAsNonRoot: true }, containers: [{ name: 'rogue', image: 'docker.io/library/alpine:3' }] } } } }];
    const s = await synth('airgap');
    expect(s.code).toBe(2);
    const airgapLines = s.stderr.filter((l) => l.startsWith('airgap: air-gap: '));
    expect(airgapLines).toContain('airgap: air-gap: Deployment ope/rogue: spec.template.spec.containers[0].image: image "docker.io/library/alpine:3" is not pinned by digest (@sha256:...): configure the image\'s digest');

    const { err, lines } = await programFails('airgap');
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect(lines.filter((l) => l.startsWith('airgap: air-gap: '))).toEqual(airgapLines);
    expect(lines).toContain('airgap: air-gapped stack refused (images must come from the mirror by digest; no public hosts)');
    // the policy findings synth printed for that object are refusals of the program too
    for (const l of s.stderr.filter((x) => x.startsWith('airgap: Deployment ope/rogue: ['))) expect(lines).toContain(l);
    expect(registered).toEqual([]);
  });

  it('a stack synth accepts registers (control: the same mocks, nothing injected)', async () => {
    // the dev stack with one more secretSources entry, run once for this control and for the
    // secretSources checks below (each full run of the program under mocks costs ~1 s of CPU)
    const { registrations } = await devWithOscRedisValues();
    expect(registrations.length).toBeGreaterThan(100);
    expect(registrations.filter((r) => r.startsWith('kubernetes:apps/v1:Deployment::'))).not.toEqual([]);
  });
});

// --------------------------------------------------------------------------- secretSources values

/** The dev stack config with more `secretSources`. */
const devWith = (sources: Record<string, unknown>, secrets: Record<string, string> = {}) => {
  const config = pulumiConfigOf('dev');
  config['stackbook:secretSources'] = JSON.stringify({ ...(JSON.parse(config['stackbook:secretSources'] ?? '{}') as object), ...sources });
  if (Object.keys(secrets).length > 0) config['stackbook:secrets'] = JSON.stringify(secrets);
  return config;
};
const valueOf = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply((v) => (resolve(v), v)));
/** osc-redis's password from config, and its url from a template of the stack's own (database 3, not the service's 0). */
const OSC_REDIS_PASSWORD = 'Canary p@ss/1';
const OSC_REDIS_TEMPLATE = 'redis://:{password}@redis.osc.svc:6379/3';
let devRun: Promise<{ deployment: ReturnType<ProgramModule['program']>; registrations: string[] }> | undefined;
/** One `pulumi up` of dev (mocks) with osc-redis's values set by the stack, shared by the tests that read it. */
function devWithOscRedisValues(): NonNullable<typeof devRun> {
  devRun ??= (async () => {
    registered = [];
    await pulumi.runtime.setMocks(mocks, 'stackbook', 'dev', false);
    pulumi.runtime.setAllConfig(
      devWith(
        { 'osc-redis': { source: 'pulumi', values: { password: { configKey: 'oscRedisPassword' }, url: { template: OSC_REDIS_TEMPLATE } } } },
        { oscRedisPassword: OSC_REDIS_PASSWORD },
      ),
      ['stackbook:secrets'],
    );
    const deployment = prog.program();
    await deployment.settled();
    return { deployment, registrations: registered };
  })();
  return devRun;
}

describe('secretSources.<name>.values merge over what the service declares, key by key (template keys kept)', () => {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

  it('a stack taking osc-redis\'s password from config and its url from its own template: the template filled with that value (URL-encoded)', async () => {
    const { deployment: d, registrations } = await devWithOscRedisValues();
    const names = await Promise.all(d.secrets.map((s) => valueOf(s.metadata.name)));
    const at = names.indexOf('osc-redis');
    expect(at).toBeGreaterThanOrEqual(0);
    const data = d.secretData[at]!;
    expect(Object.keys(data).sort()).toEqual(['password', 'url']);
    expect(unb64(await valueOf(data.password!))).toBe(OSC_REDIS_PASSWORD);
    expect(await valueOf(data.url!)).toBe(b64(OSC_REDIS_TEMPLATE.replace('{password}', encodeURIComponent(OSC_REDIS_PASSWORD))));
    // taken from config: no RandomPassword for it
    expect(registrations.filter((r) => r.startsWith('random:') && r.includes('osc/osc-redis'))).toEqual([]);
  });

  it('a stack that sets only the password keeps the service\'s own url template (database 0)', async () => {
    // the merge, without running the program: the plan it registers from
    await pulumi.runtime.setMocks(mocks, 'stackbook', 'dev', true);
    pulumi.runtime.setAllConfig(devWith({ 'osc-redis': { source: 'pulumi', values: { password: { configKey: 'oscRedisPassword' } } } }, { oscRedisPassword: OSC_REDIS_PASSWORD }), ['stackbook:secrets']);
    const loaded = loadStackFromPulumiConfig();
    const plan = prog.planPulumiSecrets(render(loaded.stack), loaded).find((p) => p.requirement.namespace === 'osc' && p.requirement.name === 'osc-redis');
    expect(plan?.keys).toEqual([
      { key: 'password', from: 'config', configKey: 'oscRedisPassword', value: OSC_REDIS_PASSWORD },
      { key: 'url', from: 'template', template: 'redis://:{password}@redis.osc.svc:6379/0', refs: ['password'] },
    ]);
  });

  it('refuses a template naming a key the Secret lacks as a config error naming the path', async () => {
    await pulumi.runtime.setMocks(mocks, 'stackbook', 'dev', true);
    pulumi.runtime.setAllConfig(
      devWith({ 'osc-redis': { source: 'pulumi', values: { url: { template: 'redis://{user}:{password}@redis.osc.svc:6379/3' }, extra: { randomLength: 32 } } } }),
      [],
    );
    let err: unknown;
    try {
      prog.program();
    } catch (e) {
      err = e;
    }
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect((err as Error).message.split('\n')).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:secretSources.osc-redis.values.extra: Secret osc/osc-redis has no key extra (keys: password, url)',
      'stacks/Pulumi.dev.yaml: config.stackbook:secretSources.osc-redis.values.url.template: may only reference other non-template keys of the Secret (password, url); bad: user',
    ]);
  });
});

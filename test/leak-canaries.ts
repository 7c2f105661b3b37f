/**
 * Secret canaries (issue 7), shared by the two files that hunt for them: test/secret-leakage.test.ts
 * (bundles and the CLI) and test/pulumi.test.ts (the Pulumi program under mocks, where each real
 * stack runs once for both the registration checks and the leak scan). Not a test file: each
 * importer counts its own searches (`checked`) and prints them.
 */
import { randomBytes } from 'node:crypto';
import type { Construct } from 'constructs';
import { Chart } from 'cdk8s';
import { expect, vi } from 'vitest';
import { Workload } from '../components/workload.js';
import { ConfigMap } from '../components/config-map.js';
import type { ServiceModule } from '../services/types.js';
import type { Rendered } from '../synth/render.js';
import type { Stack } from '../stacks/schema.js';
import { loadEnv } from './helpers.js';

export const made: string[] = [];
/** A fresh canary: unique, random, unlikely to occur by chance, easy to spot. */
export function canary(label: string): string {
  const c = `CANARY${label.replace(/[^A-Za-z0-9]/g, '')}x${randomBytes(9).toString('hex')}`;
  made.push(c);
  return c;
}
/** The forms a leaked value could take: as is, base64 (Secret data), and base64 of the base64. */
export const formsOf = (c: string) => [c, Buffer.from(c).toString('base64'), Buffer.from(Buffer.from(c).toString('base64')).toString('base64')];

export const checked = { canaries: new Set<string>(), searches: 0, files: 0, bytes: 0, pulumiInputs: 0, pulumiOutputs: 0, logLines: 0 };
/** What one file's scans covered; the kinds it did not scan are left out (the bundle and CLI in secret-leakage, the Pulumi run in pulumi.test). */
export const checkedSummary = (file: string) =>
  `${file}: ${checked.canaries.size} canaries (${checked.searches} searches, each canary in each form) checked against ` +
  [
    checked.files > 0 ? `${checked.files} files (${checked.bytes} bytes)` : '',
    checked.pulumiInputs > 0 ? `${checked.pulumiInputs} Pulumi resource inputs, ${checked.pulumiOutputs} Pulumi outputs` : '',
    `${checked.logLines} log/CLI lines`,
  ]
    .filter(Boolean)
    .join(', ');

/**
 * Fails naming every canary found and where. Every form of every canary is searched in the text;
 * one `expect` per scanned text (not per canary and form: ~170,000 expect calls with their messages
 * cost seconds of CPU and proved nothing more), and `checked.searches` counts the searches made.
 */
export function expectNoCanary(where: string, text: string | Buffer, canaries: readonly string[]): void {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  const found: string[] = [];
  for (const c of canaries) {
    checked.canaries.add(c);
    for (const f of formsOf(c)) {
      checked.searches++;
      if (s.includes(f)) found.push(`${where} contains secret canary ${c}${f === c ? '' : ' (encoded)'}`);
    }
  }
  expect(found, found.join('\n')).toEqual([]);
}

/** Captures everything written to stdout, stderr and the console, until `vi.restoreAllMocks()`. */
export function captureOutput(): { text: () => string } {
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

export const FIXTURE_NS = 'leakfixture';
/** Config keys the fixture's `pulumi` Secret reads (`stackbook:secrets.<key>`). */
export const FIXTURE_CONFIG_KEY = 'leakFixtureToken';

/** Declares one Secret per source and consumes every key through env, as a service would. */
export const fixture: ServiceModule = {
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
export function stackWithCanaries(env: string, secrets: Record<string, string>): Stack {
  const s = structuredClone(loadEnv(env));
  return {
    ...s,
    secrets: { ...s.secrets, ...secrets },
    cluster: { ...s.cluster, vault: s.cluster.vault ?? { server: 'https://vault.corp.internal:8200', storeName: 'vault', mountPath: 'secret', kvVersion: 'v2', auth: { role: 'stackbook', mountPath: 'kubernetes' } } },
  } as Stack;
}

/** `stackbook:secrets` canaries for a rendered stack: one per config key its pulumi Secrets read, plus spares. */
export function configCanaries(env: string, r: Pick<Rendered, 'secrets'>): Record<string, string> {
  const out: Record<string, string> = { leakSpareOne: canary(`${env}spare1`), leakSpareTwo: canary(`${env}spare2`) };
  for (const s of r.secrets) {
    for (const how of Object.values(s.pulumi ?? {})) if ('configKey' in how) out[how.configKey] = canary(`${env}${how.configKey}`);
  }
  return out;
}

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
 *    outputs, any non-secret output of the Pulumi-owned resources, and the program's log lines:
 *    that part is in test/pulumi.test.ts ("no canary in a registered input ..." per stack), whose
 *    per-stack Pulumi run carries these canaries, so each real stack runs under mocks once for
 *    both files' checks (the canaries, fixture and scan are shared: test/leak-canaries.ts).
 * Generic: the canaries follow `Rendered.secrets` and the stack's `secrets` config, so Secrets
 * that services declare later are covered without a change here. (Vault values never pass through
 * stackbook: the bundle only names the path and property, which the fixture checks.)
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { SERVICES } from '../services/index.js';
import { bundleFiles } from '../bundle/bundle.js';
import { render } from '../synth/render.js';
import { ENVS, ROOT, renderEnv } from './helpers.js';
import { FIXTURE_CONFIG_KEY, FIXTURE_NS, canary, captureOutput, checked, checkedSummary, configCanaries, expectNoCanary, fixture, formsOf, made, stackWithCanaries } from './leak-canaries.js';

afterAll(() => {
  console.log(checkedSummary('secret-leakage'));
});

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

describe('the scan itself', () => {
  it('finds a canary as text, as base64 and as double base64', () => {
    const c = canary('self');
    for (const form of formsOf(c)) expect(() => expectNoCanary('probe', `x ${form} y`, [c])).toThrow(/contains secret canary/);
    expect(() => expectNoCanary('probe', 'nothing here', [c])).not.toThrow();
    expect(made.length).toBe(new Set(made).size);
  });
});

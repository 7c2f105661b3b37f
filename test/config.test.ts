/**
 * Stack configuration errors: every problem at once, one line each, naming the file, the
 * config path (`config.stackbook:<key>...`) and the value received, never a secret value.
 * The inputs are copies of the real stack files with one mistake each.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as yaml from 'js-yaml';
import { ConfigError, loadStackFile, parseStack, rawFromStackFile } from '../stacks/load.js';
import { ENVS, ROOT } from './helpers.js';

type Raw = Record<string, any>;

function stackText(env: string): string {
  return readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8');
}

/** A fresh, mutable copy of a real stack's `stackbook:` values. */
function raw(env: string): Raw {
  return rawFromStackFile(stackText(env), `stacks/Pulumi.${env}.yaml`).raw as Raw;
}

/** The error lines for a raw stack; fails if it is accepted. */
function problems(r: Raw, file = 'stacks/Pulumi.prod.yaml', secretTopKeys?: Set<string>): string[] {
  try {
    parseStack(r, file, secretTopKeys);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const lines = (e as Error).message.split('\n');
    expect(lines).toHaveLength((e as ConfigError).problems.length);
    return lines;
  }
  throw new Error('expected the stack to be rejected, but it was accepted');
}

function accepted(r: Raw, file = 'stacks/Pulumi.prod.yaml') {
  return parseStack(r, file);
}

const tmp = mkdtempSync(join(tmpdir(), 'stackbook-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Load a stack file with the given text; returns the error lines. */
function fileProblems(text: string, name = 'Pulumi.broken.yaml'): string[] {
  const path = join(tmp, name);
  writeFileSync(path, text);
  try {
    loadStackFile(path, `stacks/${name}`);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message.split('\n');
  }
  throw new Error('expected the stack file to be rejected, but it was accepted');
}

describe('the real stacks are accepted', () => {
  it.each(ENVS)('%s', (env) => {
    expect(accepted(raw(env), `stacks/Pulumi.${env}.yaml`).environment).toBe(env);
  });
});

describe('one precise line per mistake', () => {
  it('OPE-3: production without OIDC names each missing field, "required in production"', () => {
    const r = raw('prod');
    delete r.services.ope.oidc;
    expect(problems(r)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.audience: required in production',
      'stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.issuer: required in production',
      'stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.jwksUrl: required in production',
    ]);
  });

  it('OPE-3: a partial OIDC block names the missing field', () => {
    const r = raw('prod');
    delete r.services.ope.oidc.jwksUrl;
    expect(problems(r)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.jwksUrl: required']);
  });

  it('OIDC is optional outside production', () => {
    const r = raw('staging');
    delete r.services.ope.oidc;
    expect(accepted(r, 'stacks/Pulumi.staging.yaml').services.ope?.oidc).toBeUndefined();
  });

  it('an unknown key (typo) is rejected, naming the key', () => {
    const r = raw('prod');
    r.services.ope.wokers = 3;
    expect(problems(r)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:services.ope.wokers: unknown key (a typo?) (got 3)']);
  });

  it('an unknown top-level stackbook: key is rejected, naming the key', () => {
    const r = raw('dev');
    r.enviroment = 'dev';
    expect(problems(r, 'stacks/Pulumi.dev.yaml')).toEqual(['stacks/Pulumi.dev.yaml: config.stackbook:enviroment: unknown key (a typo?) (got "dev")']);
  });

  it('a wrong type names the expected type and the value (not "required")', () => {
    const r = raw('prod');
    r.services.ope.threads = 'eight';
    const [line, ...rest] = problems(r);
    expect(rest).toEqual([]);
    expect(line).toMatch(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.ope\.threads: must be (a )?number/);
    expect(line).toContain('(got "eight")');
  });

  it('OPE-1: workers out of 1–4 names the range and the value', () => {
    for (const workers of [0, 5]) {
      const r = raw('prod');
      r.services.ope.workers = workers;
      const [line, ...rest] = problems(r);
      expect(rest).toEqual([]);
      expect(line).toMatch(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.ope\.workers: /);
      expect(line).toContain('1–4');
      expect(line).toContain(`(got ${workers})`);
    }
  });

  it('X-2: an HPA minimum above the maximum', () => {
    const r = raw('prod');
    r.services.ope.autoscaling = { minReplicas: 8, maxReplicas: 4, cpuUtilization: 70 };
    expect(problems(r)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:services.ope.autoscaling.minReplicas: must be ≤ maxReplicas (4) (got 8)']);
  });

  it('X-2: an HPA CPU target outside 1–100', () => {
    const r = raw('prod');
    r.services.ope.autoscaling.cpuUtilization = 150;
    expect(problems(r)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:services.ope.autoscaling.cpuUtilization: must be ≤ 100 (got 150)']);
  });

  it('an air-gapped cluster without a registry mirror', () => {
    const r = raw('airgap');
    delete r.cluster.registry;
    const lines = problems(r, 'stacks/Pulumi.airgap.yaml');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^stacks\/Pulumi\.airgap\.yaml: config\.stackbook:cluster\.registry: required when cluster\.airgapped is true/);
  });

  it('X-4: ACME with internal exposure (HTTP-01 cannot reach an internal ingress)', () => {
    const r = raw('staging');
    r.cluster.exposure = 'internal';
    const lines = problems(r, 'stacks/Pulumi.staging.yaml');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^stacks\/Pulumi\.staging\.yaml: config\.stackbook:cluster\.issuer\.kind: .*ACME.*internal.*kind: ca \(got "acme"\)$/);
  });

  it('X-4: ACME on an air-gapped cluster', () => {
    const r = raw('airgap');
    r.cluster.issuer = { kind: 'acme', email: 'ops@example.com' };
    const lines = problems(r, 'stacks/Pulumi.airgap.yaml');
    // internal exposure and air-gapped: both reasons are reported
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^stacks\/Pulumi\.airgap\.yaml: config\.stackbook:cluster\.issuer\.kind: .*ACME.* \(got "acme"\)$/);
  });

  it('an unknown issuer kind names the kinds allowed and the value', () => {
    const r = raw('prod');
    r.cluster.issuer = { kind: 'vault', path: 'pki' };
    expect(problems(r)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:cluster.issuer.kind: must be one of "acme", "ca", "acm" (got "vault")']);
  });

  it('an ingress class outside the enum names the allowed values', () => {
    const r = raw('dev');
    r.cluster.ingressClass = 'traefik';
    expect(problems(r, 'stacks/Pulumi.dev.yaml')).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:cluster.ingressClass: must be one of "nginx", "alb" (got "traefik")',
    ]);
  });

  it('alb without loadBalancerCidrs', () => {
    const r = raw('prod');
    delete r.cluster.loadBalancerCidrs;
    const lines = problems(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:cluster\.loadBalancerCidrs: required with ingressClass alb/);
  });

  it('a malformed CIDR is named by its index', () => {
    const r = raw('prod');
    r.cluster.loadBalancerCidrs = ['10.40.0.0/16', '10.0.0.0/33'];
    const [line, ...rest] = problems(r);
    expect(rest).toEqual([]);
    expect(line).toMatch(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:cluster\.loadBalancerCidrs\[1\]: .*CIDR.*\(got "10\.0\.0\.0\/33"\)$/);
  });

  it('a missing image digest in staging', () => {
    const r = raw('staging');
    delete r.services.ope.image.digest;
    const lines = problems(r, 'stacks/Pulumi.staging.yaml');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^stacks\/Pulumi\.staging\.yaml: config\.stackbook:services\.ope\.image\.digest: required in staging/);
  });

  it('a digest is not required in development', () => {
    expect(raw('dev').services.ope.image.digest).toBeUndefined();
    expect(accepted(raw('dev'), 'stacks/Pulumi.dev.yaml').services.ope?.image.digest).toBeUndefined();
  });

  it('OPE-8: threadQueueMax above 32 in a latency-sensitive (production) stack', () => {
    const r = raw('prod');
    r.services.ope.threadQueueMax = 64;
    const lines = problems(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:services\.ope\.threadQueueMax: must be ≤ 32 .*latency-sensitive.*\(got 64\)$/);
  });

  it('OPE-8: staging opted in to latency-sensitive gets the same limit; opting out in production is explicit', () => {
    const s = raw('staging');
    s.services.ope.threadQueueMax = 33;
    expect(problems(s, 'stacks/Pulumi.staging.yaml')[0]).toContain('(got 33)');
    const p = raw('prod');
    p.services.ope.threadQueueMax = 64;
    p.services.ope.latencySensitive = false;
    expect(accepted(p).services.ope?.threadQueueMax).toBe(64);
  });

  it('a non-https OIDC issuer', () => {
    const r = raw('prod');
    r.services.ope.oidc.issuer = 'http://login.example.com/realms/ope';
    expect(problems(r)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.issuer: must be an https:// URL (got "http://login.example.com/realms/ope")',
    ]);
  });

  it('the environment must match the file name (when loaded by the CLI)', async () => {
    const { loadStacks } = await import('../synth/stacks.js');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    const root = join(tmp, 'envname');
    mkdirSync(join(root, 'stacks'), { recursive: true });
    copyFileSync(join(ROOT, 'stacks', 'Pulumi.dev.yaml'), join(root, 'stacks', 'Pulumi.qa.yaml'));
    expect(() => loadStacks(root, ['qa'])).toThrow('stacks/Pulumi.qa.yaml: config.stackbook:environment: must match the file name (qa) (got "dev")');
  });
});

describe('all problems at once', () => {
  it('three schema mistakes give three lines', () => {
    const r = raw('prod');
    r.services.ope.workers = 9;
    r.cluster.domain = 'Not A Domain';
    r.services.ope.threads = 0;
    const lines = problems(r);
    expect(lines).toHaveLength(3);
    expect(lines.some((l) => l.includes('services.ope.workers') && l.includes('(got 9)'))).toBe(true);
    expect(lines.some((l) => l.includes('cluster.domain') && l.includes('(got "Not A Domain")'))).toBe(true);
    expect(lines.some((l) => l.includes('services.ope.threads') && l.includes('(got 0)'))).toBe(true);
  });

  it('three cross-field mistakes give three lines', () => {
    const r = raw('prod');
    delete r.cluster.loadBalancerCidrs;
    delete r.services.ope.image.digest;
    r.services.ope.threadQueueMax = 100;
    const lines = problems(r);
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l.split(': ')[1])).toEqual([
      'config.stackbook:cluster.loadBalancerCidrs',
      'config.stackbook:services.ope.image.digest',
      'config.stackbook:services.ope.threadQueueMax',
    ]);
  });

  it('schema and cross-field mistakes together: three mistakes, three lines', () => {
    const r = raw('prod');
    r.services.ope.workers = 6; // schema, in the same service as the next one
    r.services.ope.threadQueueMax = 500; // cross-field (OPE-8)
    r.cluster.ingressClass = 'traefik'; // schema
    const lines = problems(r);
    expect(lines.map((l) => l.split(': ')[1])).toEqual([
      'config.stackbook:cluster.ingressClass',
      'config.stackbook:services.ope.threadQueueMax',
      'config.stackbook:services.ope.workers',
    ]);
    expect(lines[1]).toContain('(got 500)');
  });

  it('a field the schema rejected is not also judged by a cross-field rule', () => {
    const r = raw('prod');
    r.services.ope.oidc = { issuer: 'http://login.example.com' }; // malformed, not missing
    r.services.ope.threadQueueMax = 'lots';
    const lines = problems(r);
    expect(lines.filter((l) => l.includes('required in production'))).toEqual([]);
    expect(lines.filter((l) => l.includes('services.ope.threadQueueMax'))).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:services.ope.threadQueueMax: must be number (got "lots")',
    ]);
    expect(lines.filter((l) => l.includes('services.ope.oidc.'))).toHaveLength(4);
  });

  it('every stack\'s problems are reported together by the CLI loader', async () => {
    const { loadStacks } = await import('../synth/stacks.js');
    const { mkdirSync } = await import('node:fs');
    const root = join(tmp, 'multi');
    mkdirSync(join(root, 'stacks'), { recursive: true });
    writeFileSync(join(root, 'stacks', 'Pulumi.dev.yaml'), stackText('dev').replace('workers: 1\n', 'workers: 7\n'));
    writeFileSync(join(root, 'stacks', 'Pulumi.prod.yaml'), stackText('prod').replace(/\n\s+oidc:\n(\s{8}.*\n)+/, '\n'));
    let message = '';
    try {
      loadStacks(root, ['dev', 'prod', 'nope']);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    const lines = message.split('\n');
    expect(lines.filter((l) => l.startsWith('stacks/Pulumi.dev.yaml: config.stackbook:services.ope.workers'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.'))).toHaveLength(3);
    expect(lines.filter((l) => l.startsWith('stacks/Pulumi.nope.yaml: unknown environment "nope" (known: dev, prod)'))).toHaveLength(1);
    expect(lines).toHaveLength(5);
  });
});

describe('secret values are never echoed', () => {
  const CIPHER = 'v1:AAAAsecretCIPHERTEXTzzzz';
  const PLAIN = 'hunter2-plaintext-password';

  it('invalid entries under stackbook:secrets show neither plaintext nor ciphertext', () => {
    const r = raw('prod');
    r.secrets = { API_KEY: PLAIN, other: { secure: CIPHER, extra: 1 }, empty: '' };
    r.services.ope.workers = 6; // a non-secret mistake, whose value IS shown
    const message = problems(r).join('\n');
    expect(message).toContain('config.stackbook:secrets.API_KEY');
    expect(message).toContain('config.stackbook:secrets.other');
    expect(message).toContain('config.stackbook:secrets.empty');
    expect(message).toContain('(got 6)');
    expect(message).not.toContain(PLAIN);
    expect(message).not.toContain(CIPHER);
  });

  it('a { secure: ... } value in the wrong place is reported without its ciphertext', () => {
    const r = raw('prod');
    r.services.ope.oidc.audience = { secure: CIPHER };
    const lines = problems(r);
    expect(lines).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.audience: must be string']);
  });

  it('secure values under a mistyped key are not echoed with the unknown key', () => {
    const r = raw('prod');
    r.secret = { apiKey: { secure: CIPHER } };
    r.services.ope.oidcExtra = { clientSecret: { secure: CIPHER } };
    const lines = problems(r);
    expect(lines).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:secret: unknown key (a typo?)',
      'stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidcExtra: unknown key (a typo?)',
    ]);
  });

  it('a top-level value set with `pulumi config set --secret` is never echoed (stack file and Pulumi program)', () => {
    const text = stackText('prod').replace('stackbook:environment: prod', `stackbook:environment:\n    secure: ${CIPHER}`);
    const lines = fileProblems(text, 'Pulumi.prod.yaml');
    expect(lines).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:environment: must be string']);
    // The Pulumi program hands decrypted values over, naming the secret keys.
    const r = raw('prod');
    r.environment = 'Decrypted_Secret_Value';
    const viaPulumi = problems(r, 'stacks/Pulumi.prod.yaml', new Set(['environment'])).join('\n');
    expect(viaPulumi).toContain('config.stackbook:environment:');
    expect(viaPulumi).not.toContain('Decrypted_Secret_Value');
  });
});

describe('broken stack files get one clear line', () => {
  it('invalid YAML names the file and where', () => {
    const lines = fileProblems('config:\n  stackbook:tier: [unclosed\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^stacks\/Pulumi\.broken\.yaml: not valid YAML: .*\(\d+:\d+\)$/);
  });

  it.each([['empty', ''], ['blank', '\n\n  \n'], ['comments only', '# nothing here yet\n']])('%s file', (_n, text) => {
    expect(fileProblems(text)).toEqual(['stacks/Pulumi.broken.yaml: empty stack file: expected a `config:` map with stackbook:* keys']);
  });

  it('no config: map', () => {
    const lines = fileProblems('encryptionsalt: v1:abc\n');
    expect(lines).toEqual(['stacks/Pulumi.broken.yaml: missing `config:` map']);
  });

  it('an unknown key beside config: (a typo of config)', () => {
    const lines = fileProblems(stackText('dev').replace(/^config:/m, 'confg:'));
    expect(lines).toEqual([
      'stacks/Pulumi.broken.yaml: unknown top-level key "confg" (expected config:)',
      'stacks/Pulumi.broken.yaml: missing `config:` map',
    ]);
  });

  it('a document that is not a map', () => {
    expect(fileProblems('- config\n')).toEqual(['stacks/Pulumi.broken.yaml: expected a YAML map with a `config:` key']);
  });

  it('a missing stack file', () => {
    expect(() => loadStackFile(join(tmp, 'nope.yaml'), 'stacks/Pulumi.nope.yaml')).toThrow('stacks/Pulumi.nope.yaml: no such stack file');
  });

  it('other namespaces\' keys (provider settings) are left alone', () => {
    const doc = yaml.load(stackText('dev')) as { config: Record<string, unknown> };
    doc.config['kubernetes:context'] = 'kind-dev';
    const path = join(tmp, 'Pulumi.dev.yaml');
    writeFileSync(path, yaml.dump(doc));
    expect(loadStackFile(path, 'stacks/Pulumi.dev.yaml').environment).toBe('dev');
  });
});

describe('X-7: cluster.signing (cosign admission)', () => {
  it('production requires it', () => {
    const r = raw('prod');
    delete r.cluster.signing;
    expect(problems(r)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing: required in production stacks: cosign admission rejects unsigned images (keys: [{name, publicKey}])',
    ]);
  });

  it('an air-gapped stack requires it whatever its tier', () => {
    // A lower tier may bring its own, unrelated complaints (e.g. retention ranges per tier): removing
    // the signing block must add exactly the signing problem to whatever the tier change alone gives.
    const missing =
      'stacks/Pulumi.airgap.yaml: config.stackbook:cluster.signing: required in air-gapped stacks: cosign admission rejects unsigned images (keys: [{name, publicKey}])';
    for (const tier of ['development', 'staging']) {
      const signed = raw('airgap');
      signed.tier = tier;
      let baseline: string[] = [];
      try {
        accepted(signed, 'stacks/Pulumi.airgap.yaml');
      } catch {
        baseline = problems(signed, 'stacks/Pulumi.airgap.yaml');
      }
      expect(baseline.filter((l) => l.includes('cluster.signing')), tier).toEqual([]);
      const r = raw('airgap');
      r.tier = tier;
      delete r.cluster.signing;
      const out = problems(r, 'stacks/Pulumi.airgap.yaml');
      expect([...out].sort(), tier).toEqual([...baseline, missing].sort());
    }
    // The real air-gapped stack (production tier) minus signing: only the signing problem.
    const r = raw('airgap');
    delete r.cluster.signing;
    const out = problems(r, 'stacks/Pulumi.airgap.yaml');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^stacks\/Pulumi\.airgap\.yaml: config\.stackbook:cluster\.signing: required in .*air-gapped/);
  });

  it('development and staging may go without (nothing is verified there)', () => {
    for (const env of ['dev', 'staging']) {
      const r = raw(env);
      delete r.cluster.signing;
      expect(accepted(r, `stacks/Pulumi.${env}.yaml`).cluster.signing).toBeUndefined();
    }
  });

  it('warn is refused in production (it would admit unsigned images); allowed in development', () => {
    const r = raw('prod');
    r.cluster.signing.mode = 'warn';
    expect(problems(r)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing.mode: must be enforce in production stacks (warn admits unsigned images) (got "warn")']);
    const d = raw('dev');
    d.cluster.signing.mode = 'enforce';
    expect(accepted(d, 'stacks/Pulumi.dev.yaml').cluster.signing?.mode).toBe('enforce');
  });

  it('a key that is not a PEM public key', () => {
    const r = raw('prod');
    r.cluster.signing.keys[0].publicKey = 'MFkwEwYHKoZIzj0CAQYI';
    expect(problems(r)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing.keys[0].publicKey: must be a PEM public key (-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----), as printed by `cosign public-key` (got "MFkwEwYHKoZIzj0CAQYI")',
    ]);
  });

  it('a private key pasted as the public key is refused and never echoed, not even in part', () => {
    const r = raw('prod');
    const secretBody = 'MHcCAQEEIFAKEFAKEFAKEprivatekeymaterialthatmustneverbeprinted';
    r.cluster.signing.keys[0].publicKey = `-----BEGIN EC PRIVATE KEY-----\n${secretBody}\n-----END EC PRIVATE KEY-----\n`;
    const out = problems(r);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^stacks\/Pulumi\.prod\.yaml: config\.stackbook:cluster\.signing\.keys\[0\]\.publicKey: /);
    expect(out[0]).toContain('<a private key, not shown>');
    expect(out[0]).not.toContain('BEGIN EC PRIVATE');
    expect(out[0]).not.toContain(secretBody.slice(0, 12));
  });

  it('no keys at all, and two keys with one name', () => {
    const r = raw('prod');
    r.cluster.signing.keys = [];
    expect(problems(r)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing.keys: must be ≥ 1 items (got [])']);
    const d = raw('prod');
    d.cluster.signing.keys.push({ ...d.cluster.signing.keys[0] });
    expect(problems(d)).toEqual(['stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing.keys[1].name: is used by two keys: key names must be unique (got "prod-release")']);
  });

  it('an image glob policy-controller would reject', () => {
    const r = raw('dev');
    r.cluster.signing.images = ['ghcr.io/acme/app@sha256:*'];
    expect(problems(r, 'stacks/Pulumi.dev.yaml')).toEqual([
      'stacks/Pulumi.dev.yaml: config.stackbook:cluster.signing.images[0]: must be a policy-controller glob (letters, digits, - _ : / * .) (got "ghcr.io/acme/app@sha256:*")',
    ]);
  });

  it('a rejected signing block is not also reported as missing', () => {
    const r = raw('prod');
    r.cluster.signing.mode = 'audit';
    const lines = problems(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('config.stackbook:cluster.signing.mode: must be one of "enforce", "warn" (got "audit")');
  });
});

describe('secret sources and cluster.vault', () => {
  // A private Vault host: its CA is required (issue 14 item 6).
  const VAULT = { server: 'https://vault.corp.internal:8200', auth: { role: 'stackbook' }, ca: { kind: 'ConfigMap', name: 'corp-ca', namespace: 'external-secrets', key: 'ca.crt' } };

  it('cluster.vault defaults: store vault, KV mount secret, KV v2, Kubernetes auth at kubernetes; secretSources default to none', () => {
    const r = raw('prod');
    r.cluster.vault = VAULT;
    const stack = accepted(r);
    expect(stack.cluster.vault).toEqual({ ...VAULT, storeName: 'vault', mountPath: 'secret', kvVersion: 'v2', auth: { role: 'stackbook', mountPath: 'kubernetes' } });
    expect(stack.secretSources).toEqual({});
    // cluster.vault is optional: a stack without it parses, and gets no Vault connection.
    const without = raw('prod');
    delete without.cluster.vault;
    expect(accepted(without).cluster.vault).toBeUndefined();
  });

  it('a vault source defaults to version 1 and refreshInterval 1h; pulumi and existing to version 1', () => {
    const r = raw('prod');
    r.cluster.vault = VAULT;
    r.secretSources = { 'aion-hooks': { source: 'vault', path: 'secret/omertaos/hooks' }, db: { source: 'existing' }, api: { source: 'pulumi' } };
    expect(accepted(r).secretSources).toEqual({
      'aion-hooks': { source: 'vault', path: 'secret/omertaos/hooks', version: 1, refreshInterval: '1h' },
      db: { source: 'existing', version: 1 },
      api: { source: 'pulumi', version: 1 },
    });
  });

  it('a vault source without cluster.vault names the secret, its Vault path and the missing connection', () => {
    const r = raw('prod');
    delete r.cluster.vault;
    r.secretSources = { 'aion-hooks': { source: 'vault', path: 'secret/omertaos/hooks' } };
    expect(problems(r)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.aion-hooks.source: Secret aion-hooks reads Vault path secret/omertaos/hooks: cluster.vault (server, auth.role) is required for vault sources (got "vault")',
    ]);
  });

  it('the vault rule is still reported when another part of the stack is invalid (all errors at once)', () => {
    const r = raw('prod');
    delete r.cluster.vault;
    r.secretSources = { 'aion-hooks': { source: 'vault', path: 'secret/omertaos/hooks' } };
    r.tier = 'prodution';
    const out = problems(r);
    expect(out.some((m: string) => m.startsWith('stacks/Pulumi.prod.yaml: config.stackbook:tier: '))).toBe(true);
    expect(out).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.aion-hooks.source: Secret aion-hooks reads Vault path secret/omertaos/hooks: cluster.vault (server, auth.role) is required for vault sources (got "vault")',
    );
  });

  it('a Vault path outside the KV mount of cluster.vault', () => {
    const r = raw('prod');
    r.cluster.vault = { ...VAULT, mountPath: 'kv' };
    r.secretSources = { 'aion-hooks': { source: 'vault', path: 'secret/omertaos/hooks' } };
    expect(problems(r)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.aion-hooks.path: must start with the KV mount of cluster.vault (kv/) (got "secret/omertaos/hooks")',
    ]);
  });

  it('schema mistakes: unknown source, missing path, version 0, zero refresh interval, plain-http Vault, missing role, typo', () => {
    const r = raw('prod');
    r.cluster.vault = { server: 'http://vault:8200', auth: {}, mount: 'secret' };
    r.secretSources = {
      a: { source: 'sops' },
      b: { source: 'vault' },
      c: { source: 'existing', version: 0 },
      d: { source: 'vault', path: 'secret/x', refreshInterval: '0s' },
      e: { source: 'vault', path: '/secret/x' },
    };
    expect(problems(r)).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.vault.auth.role: required',
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.vault.mount: unknown key (a typo?) (got "secret")',
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.vault.server: must be an https:// URL (got "http://vault:8200")',
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.a.source: must be one of "pulumi", "vault", "existing" (got "sops")',
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.b.path: required',
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.c.version: must be ≥ 1 (got 0)',
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.d.refreshInterval: must be a positive duration such as 1h, 15m or 1h30m (got "0s")',
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.e.path: must be a Vault path such as secret/omertaos/hooks (mount/path, no leading or trailing slash) (got "/secret/x")',
    ]);
  });
});

describe('issue 14 item 11: a persistent Redis volume holds an AOF rewrite (3 × maxmemory)', () => {
  it('services.ows.redis and services.aion.data.redis: a 1Gi volume for a 512Mi Redis (384Mi maxmemory) is refused before rendering, naming file, path and value', () => {
    const r = raw('prod');
    r.services.ows.redis.storageSize = '1Gi';
    r.services.aion.data.redis.storageSize = '1Gi';
    const lines = problems(r);
    expect(lines.filter((l) => l.includes('storageSize'))).toEqual([
      expect.stringMatching(/^stacks\/Pulumi\.prod\.yaml: .*services\.aion\.data\.redis\.storageSize.*3 × maxmemory \(1152Mi for maxmemory 384Mi\).*use 2Gi/),
      expect.stringMatching(/^stacks\/Pulumi\.prod\.yaml: .*services\.ows\.redis\.storageSize.*3 × maxmemory \(1152Mi for maxmemory 384Mi\).*use 2Gi/),
    ]);
    r.services.ows.redis.storageSize = '2Gi';
    r.services.aion.data.redis.storageSize = '1152Mi';
    expect(accepted(r).environment).toBe('prod');
  });
});

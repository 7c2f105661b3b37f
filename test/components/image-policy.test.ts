/**
 * Cosign admission (X-7; AION-4, OSC-16): a policy-controller ClusterImagePolicy with inline
 * public keys that verifies offline, namespaces opted in, and the stacks rendering it.
 * The CRD in /work/shared/crds/policy-controller is the schema ground truth.
 */
import { generateKeyPairSync } from 'node:crypto';
import { App, Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  IMAGE_POLICY_CONTEXT,
  IMAGE_POLICY_INCLUDE_LABEL,
  ImagePolicy,
  canonicalRepository,
  imageGlobs,
  type ImagePolicyProps,
} from '../../components/image-policy.js';
import { Namespace } from '../../components/namespace.js';
import { ENVS, loadEnv, renderEnv } from '../helpers.js';
import { validateManifest } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';
import { signingMode } from '../../stacks/config-rules.js';
import { render } from '../../synth/render.js';

const pem = (opts: Parameters<typeof generateKeyPairSync>[1] & object, type: 'ec' | 'rsa' | 'ed25519' = 'ec') =>
  (generateKeyPairSync as (t: string, o: object) => { publicKey: string; privateKey: string })(type, {
    ...opts,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const P256 = pem({ namedCurve: 'prime256v1' });
const P256_B = pem({ namedCurve: 'prime256v1' });

function build(props: Partial<ImagePolicyProps> = {}): Json {
  const chart = newChart();
  new ImagePolicy(chart, 'Policy', { name: 'stackbook-test', keys: [{ name: 'release', publicKey: P256.publicKey }], images: ['ghcr.io/acme/app*'], ...props });
  return only(objectsOf(chart), 'ClusterImagePolicy');
}

describe('ImagePolicy (X-7): key-based, offline cosign verification', () => {
  it('renders a policy.sigstore.dev/v1beta1 ClusterImagePolicy that is valid against the CRD', () => {
    const cip = build();
    expect(cip.apiVersion).toBe('policy.sigstore.dev/v1beta1');
    expect(cip.metadata.name).toBe('stackbook-test');
    expect(cip.metadata.namespace).toBeUndefined();
    expect(validateManifest(cip)).toEqual([]);
  });

  it('defaults to mode enforce (secure by default); warn only when asked', () => {
    expect(build().spec.mode).toBe('enforce');
    expect(build({ mode: 'warn' }).spec.mode).toBe('warn');
  });

  it('one key authority per key, the PEM inline with sha256, and NO ctlog/keyless/timestamp (no Rekor, Fulcio or TUF)', () => {
    const cip = build({ keys: [{ name: 'release-b', publicKey: P256_B.publicKey }, { name: 'release-a', publicKey: P256.publicKey }] });
    expect(cip.spec.authorities).toEqual([
      { name: 'release-a', key: { data: P256.publicKey, hashAlgorithm: 'sha256' } },
      { name: 'release-b', key: { data: P256_B.publicKey, hashAlgorithm: 'sha256' } },
    ]);
    const text = JSON.stringify(cip);
    for (const online of ['ctlog', 'keyless', 'rfc3161timestamp', 'trustRootRef', 'rekor', 'fulcio', 'url']) expect(text).not.toContain(online);
  });

  it('normalises CRLF and surrounding blanks in a key to the canonical PEM', () => {
    const messy = `\n  ${P256.publicKey.trim().replace(/\n/g, '\r\n')}  \n`;
    expect(build({ keys: [{ name: 'release', publicKey: messy }] }).spec.authorities[0].key.data).toBe(P256.publicKey);
  });

  it('accepts the key types cosign signs with: ECDSA P-384, RSA 2048, Ed25519', () => {
    for (const k of [pem({ namedCurve: 'secp384r1' }), pem({ modulusLength: 2048 }, 'rsa'), pem({}, 'ed25519')]) {
      expect(build({ keys: [{ name: 'release', publicKey: k.publicKey }] }).spec.authorities[0].key.data).toBe(k.publicKey);
    }
  });

  it('globs are sorted and deduplicated', () => {
    expect(build({ images: ['z.io/b*', 'a.io/a*', 'z.io/b*'] }).spec.images).toEqual([{ glob: 'a.io/a*' }, { glob: 'z.io/b*' }]);
  });

  it('carries X-7 and the given concerns (AION-4, OSC-16)', () => {
    expect(concernsOf(build())).toEqual(['X-7']);
    expect(concernsOf(build({ concerns: ['AION-4', 'OSC-16'] }))).toEqual(['AION-4', 'OSC-16', 'X-7']);
  });
});

describe('ImagePolicy rejects what cannot verify, with the value', () => {
  it('a key that is not PEM: names the prop and shows the first line', () => {
    const e = errorOf(() => build({ keys: [{ name: 'release', publicKey: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE' }] }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('ImagePolicy "stackbook-test": keys[0].publicKey must be a PEM public key');
    expect(e.message).toContain('-----BEGIN PUBLIC KEY-----');
    expect(e.message).toContain('(got "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")');
  });

  it('a certificate instead of a key', () => {
    const e = errorOf(() => build({ keys: [{ name: 'release', publicKey: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }] }));
    expect(e.message).toContain('keys[0].publicKey must be a PEM public key');
    expect(e.message).toContain('(got "-----BEGIN CERTIFICATE-----")');
  });

  it('a PRIVATE key is refused and never echoed', () => {
    const e = errorOf(() => build({ keys: [{ name: 'release', publicKey: P256.privateKey }] }));
    expect(e.message).toContain('keys[0].publicKey is a PRIVATE key');
    const body = P256.privateKey.split('\n')[1]!;
    expect(e.message).not.toContain(body.slice(0, 16));
    expect(e.message).not.toContain('(got');
  });

  it('the PEM shape with a body that is not a key', () => {
    const e = errorOf(() => build({ keys: [{ name: 'release', publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }] }));
    expect(e.message).toContain('keys[0].publicKey has the PEM shape but does not decode to a public key');
  });

  it('a key type cosign does not sign with (RSA 1024)', () => {
    const e = errorOf(() => build({ keys: [{ name: 'release', publicKey: pem({ modulusLength: 1024 }, 'rsa').publicKey }] }));
    expect(e.message).toContain('keys[0].publicKey must be an ECDSA P-256/P-384/P-521, RSA ≥ 2048 or Ed25519 key');
    expect(e.message).toContain('(got "rsa 1024")');
  });

  it('no key, duplicate key names, bad key names', () => {
    expect(errorOf(() => build({ keys: [] })).message).toContain('keys must name at least one public key');
    const dup = errorOf(() => build({ keys: [{ name: 'a', publicKey: P256.publicKey }, { name: 'a', publicKey: P256_B.publicKey }] }));
    expect(dup.message).toContain('keys[1].name is duplicated (got "a")');
    expect(errorOf(() => build({ keys: [{ name: 'Release_1', publicKey: P256.publicKey }] })).message).toContain('keys[0].name must be a DNS label (got "Release_1")');
  });

  it('no image globs, or a glob policy-controller would reject', () => {
    expect(errorOf(() => build({ images: [] })).message).toContain('images must list at least one glob');
    expect(errorOf(() => build({ images: ['ghcr.io/acme/app@sha256:*'] })).message).toContain('(got "ghcr.io/acme/app@sha256:*")');
  });

  it('an unknown mode', () => {
    expect(errorOf(() => build({ mode: 'audit' as 'warn' })).message).toContain('mode must be "enforce" or "warn" (got "audit")');
  });
});

describe('image globs derived from references (what policy-controller matches)', () => {
  it('canonical repositories, as go-containerregistry names them', () => {
    expect(canonicalRepository('ghcr.io/acme/ope:1.8.2@sha256:' + 'a'.repeat(64))).toBe('ghcr.io/acme/ope');
    expect(canonicalRepository('registry.corp.internal:5000/mirror/ghcr.io/acme/ope:1.8.2')).toBe('registry.corp.internal:5000/mirror/ghcr.io/acme/ope');
    expect(canonicalRepository('postgres:16.4-alpine')).toBe('index.docker.io/library/postgres');
    expect(canonicalRepository('docker.io/library/alpine:3.20.3')).toBe('index.docker.io/library/alpine');
    expect(canonicalRepository('docker.io/amazon/aws-cli:2.17.50')).toBe('index.docker.io/amazon/aws-cli');
    expect(canonicalRepository('amazon/aws-cli')).toBe('index.docker.io/amazon/aws-cli');
    expect(canonicalRepository('localhost:5000/app')).toBe('localhost:5000/app');
  });

  it('one `<repository>*` glob per repository, any tag or digest; sorted and unique', () => {
    expect(imageGlobs(['ghcr.io/b/x:1', 'ghcr.io/a/y:2@sha256:' + 'b'.repeat(64), 'ghcr.io/b/x:2'])).toEqual(['ghcr.io/a/y*', 'ghcr.io/b/x*']);
  });

  it('the glob matches the repository with a tag or digest and never crosses a "/" (policy-controller semantics)', () => {
    // policy-controller pkg/apis/glob: `*` -> [^/]*, `**` -> .*, anchored.
    const re = (g: string) => new RegExp(`^${g.replace(/\./g, '\\.').replace(/\*\*/g, '#').replace(/\*/g, '[^/]*').replace(/#/g, '.*')}$`);
    const [g] = imageGlobs(['ghcr.io/acme/ope:1.8.2']);
    expect(re(g!).test('ghcr.io/acme/ope@sha256:' + 'c'.repeat(64))).toBe(true);
    expect(re(g!).test('ghcr.io/acme/ope:1.9.0')).toBe(true);
    expect(re(g!).test('ghcr.io/acme/ope/evil:1')).toBe(false);
    expect(re(g!).test('ghcr.io/acme/other:1')).toBe(false);
  });
});

describe('Namespace opt-in to admission (X-7)', () => {
  const nsIn = (context: boolean | undefined, imagePolicy?: boolean): Json => {
    const app = new App();
    if (context !== undefined) app.node.setContext(IMAGE_POLICY_CONTEXT, context);
    const chart = new Chart(app, 'test');
    new Namespace(chart, 'Ns', { name: 'apps', ...(imagePolicy === undefined ? {} : { imagePolicy }) });
    return only(objectsOf(chart), 'Namespace');
  };

  it('default: labelled policy.sigstore.dev/include "true" and traced X-7 when the App renders a policy', () => {
    const ns = nsIn(true);
    expect(ns.metadata.labels[IMAGE_POLICY_INCLUDE_LABEL]).toBe('true');
    expect(concernsOf(ns)).toEqual(['X-1', 'X-7']);
  });

  it('default without a policy: no label (an opt-in with no policy would only hit no-match-policy)', () => {
    for (const ctx of [undefined, false]) {
      const ns = nsIn(ctx);
      expect(ns.metadata.labels[IMAGE_POLICY_INCLUDE_LABEL]).toBeUndefined();
      expect(concernsOf(ns)).toEqual(['X-1']);
    }
  });

  it('explicit opt-out writes "false" (visible in review) and does not trace X-7; explicit opt-in works without context', () => {
    const out = nsIn(true, false);
    expect(out.metadata.labels[IMAGE_POLICY_INCLUDE_LABEL]).toBe('false');
    expect(concernsOf(out)).toEqual(['X-1']);
    expect(nsIn(undefined, true).metadata.labels[IMAGE_POLICY_INCLUDE_LABEL]).toBe('true');
  });
});

describe('the stacks (X-7: enforce in production and air-gapped, warn elsewhere)', () => {
  const expected: Record<string, 'enforce' | 'warn'> = { dev: 'warn', staging: 'warn', prod: 'enforce', airgap: 'enforce' };

  it.each(ENVS)('%s renders one traced, CRD-valid ClusterImagePolicy with its keys and opts every namespace in', (env) => {
    const r = renderEnv(env);
    const cips = r.objects.filter((o) => o.kind === 'ClusterImagePolicy') as Json[];
    expect(cips).toHaveLength(1);
    const cip = cips[0]!;
    expect(cip.metadata.name).toBe(`stackbook-${env}`);
    expect(cip.spec.mode).toBe(expected[env]);
    expect(concernsOf(cip)).toContain('X-7');
    expect(validateManifest(cip)).toEqual([]);
    const keys = r.stack.cluster.signing!.keys;
    expect(cip.spec.authorities.map((a: Json) => a.key.data.trim())).toEqual(keys.map((k) => k.publicKey.trim()));
    // every image the stack deploys is covered by a glob
    const globs = cip.spec.images.map((i: Json) => i.glob as string);
    for (const img of r.images) expect(globs, img.reference).toContain(`${canonicalRepository(img.reference)}*`);
    for (const ns of r.objects.filter((o) => o.kind === 'Namespace')) {
      expect(ns.metadata.labels?.[IMAGE_POLICY_INCLUDE_LABEL], `${env} ${ns.metadata.name}`).toBe('true');
      expect(concernsOf(ns as Json)).toContain('X-7');
    }
  });

  it('air-gapped: the glob names the mirror (what the pods actually pull), not the public source', () => {
    const globs = (renderEnv('airgap').objects.find((o) => o.kind === 'ClusterImagePolicy') as Json).spec.images.map((i: Json) => i.glob);
    expect(globs.every((g: string) => g.startsWith('registry.corp.internal:5000/mirror/'))).toBe(true);
  });

  it('mode follows tier and air gap unless configured; configured globs replace the derived ones', () => {
    const dev = loadEnv('dev');
    expect(signingMode(dev)).toBe('warn');
    expect(signingMode({ ...dev, cluster: { ...dev.cluster, airgapped: true } })).toBe('enforce');
    expect(signingMode({ ...dev, tier: 'production' })).toBe('enforce');
    // enforcing: the images operators inject are pinned (issue 14 item 1)
    const pin = { digest: `sha256:${'b'.repeat(64)}` };
    const operatorImages = { 'cloudnative-pg': pin, 'strimzi-operator': pin, 'cert-manager-acmesolver': pin };
    const custom = { ...dev, cluster: { ...dev.cluster, signing: { ...dev.cluster.signing!, mode: 'enforce' as const, images: ['ghcr.io/acme/**'], operatorImages } } };
    const cip = render(custom).objects.find((o) => o.kind === 'ClusterImagePolicy') as Json;
    expect(cip.spec.mode).toBe('enforce');
    expect(cip.spec.images).toEqual([{ glob: 'ghcr.io/acme/**' }]);
  });

  it('without cluster.signing: no ClusterImagePolicy and no namespace opts in', () => {
    const dev = loadEnv('dev');
    const { signing: _drop, ...cluster } = dev.cluster;
    const r = render({ ...dev, cluster });
    expect(r.objects.filter((o) => o.kind === 'ClusterImagePolicy')).toEqual([]);
    for (const ns of r.objects.filter((o) => o.kind === 'Namespace')) expect(ns.metadata.labels?.[IMAGE_POLICY_INCLUDE_LABEL]).toBeUndefined();
  });

  it('no private key material anywhere in a bundle', () => {
    for (const env of ENVS) expect(JSON.stringify(renderEnv(env).objects), env).not.toMatch(/PRIVATE KEY/);
  });
});

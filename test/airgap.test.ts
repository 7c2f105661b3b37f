/**
 * `stackbook synth airgap` output checked the way the receiving site would: every container
 * image under the mirror and pinned by digest, SHA256SUMS verifies, nothing references the public
 * internet; and `airgapProblems`, the same check `synth` runs, refusing (exit 2, nothing written)
 * whatever a component renders wrong.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { airgapProblems, formatAirgapProblem, isPrivateHost, publicHostsIn } from '../synth/airgap.js';
import { ConfigError, parseStack, rawFromStackFile } from '../stacks/load.js';
import type { Manifest, Rendered } from '../synth/render.js';
import { render } from '../synth/render.js';
import { renderEnv, ROOT } from './helpers.js';
import { injected as inject } from './render-inject.js';

/** `render` with objects a test injects, as a new (buggy) component would (test/render-inject.ts). */
vi.mock('../synth/render.js', async (orig) => (await import('./render-inject.js')).renderInjecting(orig));

const TMP = mkdtempSync(join(tmpdir(), 'stackbook-airgap-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
afterEach(() => {
  inject.objects = [];
  vi.restoreAllMocks();
  delete process.env.STACKBOOK_BUNDLE_SIGNING_KEY;
});
let n = 0;
const tmpDir = (label: string) => {
  const d = join(TMP, `${label}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
};

async function run(argv: string[], root = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  try {
    return { code: await main(argv, root), stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

const AIRGAP = renderEnv('airgap');
const MIRROR = AIRGAP.stack.cluster.registry!;

/**
 * Every `image` / `imageName` string anywhere in an object (a deliberately independent, dumb walk):
 * container images, and operator operand images such as CNPG `Cluster.spec.imageName` and Strimzi
 * `Kafka.spec.kafka.image`.
 */
function allImages(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => allImages(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'image' || k === 'imageName') && typeof x === 'string') out.push(x);
      else allImages(x, out);
    }
  }
  return out;
}

/** A rendered airgap stack with extra objects (the stack config unchanged). */
const withObjects = (...objects: Manifest[]): Rendered => ({ ...AIRGAP, objects: [...AIRGAP.objects, ...objects] });

const DIGEST = `sha256:${'a'.repeat(64)}`;
const cronJob = (init: string, main: string): Manifest => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'backup', namespace: 'ope' },
  spec: { jobTemplate: { spec: { template: { spec: { initContainers: [{ name: 'init', image: init }], containers: [{ name: 'main', image: main }] } } } } },
});

describe('X-12: synth airgap output passes its own checks', () => {
  const out = tmpDir('synth');
  let synthed: { code: number; stdout: string; stderr: string };
  const dir = join(out, 'airgap');
  // the written bundle, parsed once (the tests below only read it)
  let parsed: Manifest[] | undefined;
  const objects = (): Manifest[] =>
    (parsed ??= readdirSync(dir)
      .filter((f) => /^\d\d-.*\.yaml$/.test(f))
      .sort()
      .flatMap((f) => yaml.loadAll(readFileSync(join(dir, f), 'utf8')) as Manifest[]));

  it('synth airgap exits 0 and writes the bundle', async () => {
    synthed = await run(['synth', 'airgap', '--out', out]);
    expect(synthed.stderr).toBe('');
    expect(synthed.code).toBe(0);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['apply.sh', 'kustomization.yaml', 'PREREQUISITES.md', 'images.txt', 'SHA256SUMS']));
  });

  it('every image in every object is under the mirror and pinned by digest, and listed in images.txt', () => {
    const images = objects().flatMap((o) => allImages(o));
    expect(images.length).toBeGreaterThan(0);
    // the operand images of the operators' custom resources are among them
    const operands = objects().filter((o) => o.kind === 'Cluster' || o.kind === 'Kafka');
    expect(operands.map((o) => o.kind).sort()).toEqual(['Cluster', 'Kafka']);
    for (const o of operands) {
      const operand = o.kind === 'Cluster' ? (o.spec as any).imageName : (o.spec as any).kafka.image;
      expect(typeof operand, `${o.kind} ${o.metadata.name}`).toBe('string');
      expect(images).toContain(operand);
    }
    for (const image of images) {
      expect(image.startsWith(`${MIRROR}/`), image).toBe(true);
      expect(image, image).toMatch(/@sha256:[a-f0-9]{64}$/);
    }
    const listed = readFileSync(join(dir, 'images.txt'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(' '))
      .map(([, mirror, digest]) => `${mirror}@${digest}`);
    const shown = new Set(images);
    for (const image of shown) expect(listed, image).toContain(image);
    // plus the images the operators inject, named by the ClusterImagePolicy (issue 16: mirrored and carried too)
    const injected = objects()
      .filter((o) => o.kind === 'ClusterImagePolicy')
      .flatMap((o) => (o.metadata.annotations?.['stackbook.io/operator-images'] ?? '').split(',').filter(Boolean));
    expect(injected.length).toBeGreaterThan(0);
    for (const ref of injected) {
      expect(ref.startsWith(`${MIRROR}/`), ref).toBe(true);
      expect(listed, ref).toContain(ref);
    }
    // an image no object field shows is still referenced by the bundle: e.g. Oubliette's session
    // images in oubliette.jsonc, which the inner dockerd pulls (services/oub.ts)
    const bundle = objects().map((o) => JSON.stringify(o)).join('\n');
    for (const image of listed.filter((l) => !shown.has(l) && !injected.includes(l))) expect(bundle, image).toContain(image);
  });

  it('SHA256SUMS verifies', () => {
    const res = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
    expect(res.trim().split('\n').every((l) => l.endsWith(': OK'))).toBe(true);
  });

  it('nothing in the objects references a public host: every URL host is private, no public registry', () => {
    const text = readdirSync(dir).filter((f) => /^\d\d-.*\.yaml$/.test(f)).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    const urlHosts = [...text.matchAll(/[a-z]+:\/\/([^/\s:'"]+)/g)].map((m) => m[1]!);
    expect(urlHosts.length).toBeGreaterThan(0);
    // private: the site's own names (.corp.internal) and in-cluster Service names (.svc), judged by the product's predicate
    for (const h of urlHosts) expect(isPrivateHost(h, AIRGAP.stack.cluster), h).toBe(true);
    expect(urlHosts.some((h) => h.endsWith('.corp.internal'))).toBe(true);
    expect(text).not.toMatch(/(^|[\s"'])(docker\.io|ghcr\.io|quay\.io|gcr\.io|registry\.k8s\.io)\//m);
    expect(text).not.toMatch(/letsencrypt|(fulcio|rekor|tuf-repo-cdn)[.a-z-]*\.sigstore\.dev/);
    expect(airgapProblems({ ...AIRGAP, objects: objects() })).toEqual([]);
  });
});

describe('X-12: airgapProblems', () => {
  it('the real airgap stack has none; a public stack (prod) has several', () => {
    expect(airgapProblems(AIRGAP)).toEqual([]);
    // staging: a public stack without a mirror (prod's upstream images come from its registry now)
    const prod = airgapProblems(renderEnv('staging')).map(formatAirgapProblem);
    expect(prod).toContain(
      'ClusterIssuer stackbook-staging-acme: spec.acme.server: references the public host acme-v02.api.letsencrypt.org: unreachable from an air-gapped cluster; use a private endpoint or list it in cluster.allowedExternalHosts',
    );
    expect(prod.some((p) => p.startsWith('Deployment ope/ope: spec.template.spec.containers[0].image: image "ghcr.io/') && p.endsWith('cannot be relocated: cluster.registry (the mirror) is not set'))).toBe(true);
  });

  it('init containers and CronJobs: an image without digest and one outside the mirror, each named by object and path', () => {
    const problems = airgapProblems(withObjects(cronJob(`${MIRROR}/tools/busybox:1.36`, `ghcr.io/acme/backup:2@${DIGEST}`))).map(formatAirgapProblem);
    expect(problems).toEqual([
      `CronJob ope/backup: spec.jobTemplate.spec.template.spec.containers[0].image: image "ghcr.io/acme/backup:2@${DIGEST}" is not from the mirror ${MIRROR}`,
      `CronJob ope/backup: spec.jobTemplate.spec.template.spec.initContainers[0].image: image "${MIRROR}/tools/busybox:1.36" is not pinned by digest (@sha256:...): configure the image's digest`,
    ]);
  });

  it('images in operator custom resources (image / imageName fields) are judged too', () => {
    const pg: Manifest = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'db', namespace: 'ope' }, spec: { imageName: 'ghcr.io/cloudnative-pg/postgresql:16' } };
    const problems = airgapProblems(withObjects(pg)).map((p) => `${p.path}: ${p.message}`);
    expect(problems).toEqual([
      'spec.imageName: image "ghcr.io/cloudnative-pg/postgresql:16" is not pinned by digest (@sha256:...): configure the image\'s digest',
      `spec.imageName: image "ghcr.io/cloudnative-pg/postgresql:16" is not from the mirror ${MIRROR}`,
    ]);
  });

  it('a registered image without digest is reported even when no object renders it', () => {
    const r: Rendered = { ...AIRGAP, images: [...AIRGAP.images, { source: 'quay.io/x/y:1', reference: `${MIRROR}/quay.io/x/y:1` }] };
    const index = AIRGAP.images.length; // the appended image
    expect(airgapProblems(r).map(formatAirgapProblem)).toEqual([`stack images: images[${index}]: image "quay.io/x/y:1" has no digest: it cannot be mirrored by digest`]);
  });

  it('public URLs, public registries in arguments, public hosts in host fields; credentials in a URL are not echoed', () => {
    const cm: Manifest = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'ope' },
      data: {
        JWKS: 'https://login.microsoftonline.com/tenant/discovery/v2.0/keys',
        DB: 'postgres://admin:hunter2@db.example.net:5432/app',
        PULL: 'docker.io/library/busybox:1.36',
        OK: 'https://sso.corp.internal/realms/x http://ope.ope.svc.cluster.local:8000 https://10.1.2.3/ https://[fd00::1]/',
        MIRRORED: `${MIRROR}/ghcr.io/acme/x:1`,
      },
    };
    const ing: Manifest = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i', namespace: 'ope' }, spec: { rules: [{ host: 'shop.acme.com' }, { host: 'ope.stackbook.corp.internal' }] } };
    const cip: Manifest = { apiVersion: 'policy.sigstore.dev/v1beta1', kind: 'ClusterImagePolicy', metadata: { name: 'p' }, spec: { images: [{ glob: 'ghcr.io/acme/**' }], authorities: [{ keyless: { url: 'https://fulcio.sigstore.dev' } }] } };
    const problems = airgapProblems(withObjects(cm, ing, cip)).map((p) => `${p.object} ${p.path}: ${/public host (\S+):/.exec(p.message)?.[1]}`);
    expect(problems).toEqual([
      'ClusterImagePolicy p spec.authorities[0].keyless.url: fulcio.sigstore.dev',
      'ClusterImagePolicy p spec.images[0].glob: ghcr.io',
      'ConfigMap ope/c data.DB: db.example.net',
      'ConfigMap ope/c data.JWKS: login.microsoftonline.com',
      'ConfigMap ope/c data.PULL: docker.io',
      'Ingress ope/i spec.rules[0].host: shop.acme.com',
    ]);
    expect(airgapProblems(withObjects(cm)).map(formatAirgapProblem).join('\n')).not.toContain('hunter2');
  });

  it('isPrivateHost: private IPs, short and cluster names, special-use and own domains are private; the rest is public', () => {
    const c = AIRGAP.stack.cluster;
    for (const h of ['10.0.0.1', '172.16.5.4', '192.168.1.1', '127.0.0.1', '[::1]', '[fd12::1]', 'ope', 'ope.ope.svc', 'x.cluster.local', 'sso.corp.internal', 'printer.local', 'a.home.arpa', 'registry.corp.internal:5000', 'ope.stackbook.corp.internal']) {
      expect(isPrivateHost(h, c), h).toBe(true);
    }
    for (const h of ['8.8.8.8', '172.32.0.1', '[2001:db8::1]', 'example.com', 'stackbook.example.com', 'internal.example.com', 'ghcr.io']) {
      expect(isPrivateHost(h, c), h).toBe(false);
    }
  });

  it('publicHostsIn: a registry name inside a mirror path or an API group is not a host', () => {
    const c = AIRGAP.stack.cluster;
    expect(publicHostsIn(`${MIRROR}/docker.io/library/nginx:1`, 'value', c)).toEqual([]);
    expect(publicHostsIn('kubernetes.io/hostname', 'topologyKey', c)).toEqual([]);
    expect(publicHostsIn('see https://quay.io/x and gcr.io/y', 'note', c)).toEqual(['gcr.io', 'quay.io']);
  });
});

describe('X-12: cluster.allowedExternalHosts', () => {
  const airgapText = readFileSync(join(ROOT, 'stacks', 'Pulumi.airgap.yaml'), 'utf8');
  const stackWith = (cluster: Record<string, unknown>) => {
    const { raw, secretTopKeys } = rawFromStackFile(airgapText, 'stacks/Pulumi.airgap.yaml');
    return parseStack({ ...raw, cluster: { ...(raw.cluster as object), ...cluster } }, 'stacks/Pulumi.airgap.yaml', secretTopKeys);
  };

  it('defaults to none: a public runbook URL is refused', () => {
    const stack = stackWith({ runbookBaseUrl: 'https://docs.acme.com/runbooks' });
    expect(stack.cluster.allowedExternalHosts).toEqual([]);
    const problems = airgapProblems(render(stack));
    expect(problems.length).toBeGreaterThan(0);
    expect(new Set(problems.map((p) => /public host (\S+):/.exec(p.message)?.[1]))).toEqual(new Set(['docs.acme.com']));
  });

  it('allows a listed host and its subdomains, nothing else', () => {
    expect(airgapProblems(render(stackWith({ runbookBaseUrl: 'https://docs.acme.com/runbooks', allowedExternalHosts: ['acme.com'] })))).toEqual([]);
    expect(airgapProblems(render(stackWith({ runbookBaseUrl: 'https://docs.acme.com/runbooks', allowedExternalHosts: ['docs.acme.com'] })))).toEqual([]);
    expect(airgapProblems(render(stackWith({ runbookBaseUrl: 'https://docs.acme.com/runbooks', allowedExternalHosts: ['other.acme.com'] }))).length).toBeGreaterThan(0);
  });

  it('a malformed host is a config error naming the value', () => {
    let err: unknown;
    try {
      stackWith({ allowedExternalHosts: ['https://docs.acme.com'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      'stacks/Pulumi.airgap.yaml: config.stackbook:cluster.allowedExternalHosts[0]: must be a lowercase DNS name (got "https://docs.acme.com")',
    );
  });
});

describe('X-12: synth refuses an air-gapped bundle that fails the checks', () => {
  it('an image a component renders without digest or outside the mirror: exit 2, every image listed, nothing written, previous bundle untouched', async () => {
    const out = tmpDir('refuse');
    expect((await run(['synth', 'airgap', '--out', out])).code).toBe(0);
    const before = readFileSync(join(out, 'airgap', 'SHA256SUMS'), 'utf8');
    inject.objects = [cronJob(`${MIRROR}/tools/busybox:1.36`, `docker.io/library/alpine:3@${DIGEST}`)];
    const r = await run(['synth', 'airgap', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`airgap: air-gap: CronJob ope/backup: spec.jobTemplate.spec.template.spec.initContainers[0].image: image "${MIRROR}/tools/busybox:1.36" is not pinned by digest`);
    expect(r.stderr).toContain(`airgap: air-gap: CronJob ope/backup: spec.jobTemplate.spec.template.spec.containers[0].image: image "docker.io/library/alpine:3@${DIGEST}" is not from the mirror ${MIRROR}`);
    expect(r.stderr).toMatch(/synth: air-gapped bundle refused .*: nothing written\n$/);
    expect(readFileSync(join(out, 'airgap', 'SHA256SUMS'), 'utf8')).toBe(before);
    expect(readdirSync(out)).toEqual(['airgap']);
  });

  it('the same objects in a stack that is not air-gapped are not judged by the air-gap check', async () => {
    inject.objects = [cronJob('ghcr.io/acme/tools:1', 'ghcr.io/acme/tools:1')];
    const r = await run(['synth', 'dev', '--out', tmpDir('dev')]);
    expect(r.stderr).not.toContain('air-gap');
  });

  it('an air-gapped stack with an image without digest is a config error (exit 2) before rendering', async () => {
    const root = tmpDir('nodigest');
    cpSync(join(ROOT, 'stacks'), join(root, 'stacks'), { recursive: true, filter: (src) => !src.endsWith('.ts') });
    const file = join(root, 'stacks', 'Pulumi.airgap.yaml');
    // Drop the digest of OPE's image: the first `digest:` line after `    ope:` (services.ope.image.digest).
    const text = readFileSync(file, 'utf8');
    const ope = text.search(/^ {4}ope:\n/m);
    expect(ope).toBeGreaterThan(0);
    const digestLine = /^ {8}digest: sha256:[a-f0-9]+\n/m.exec(text.slice(ope));
    expect(digestLine).not.toBeNull();
    expect(text.slice(ope, ope + digestLine!.index)).toMatch(/^ {4}ope:\n {6}image:\n(?: {8}(?!digest:).*\n)*$/);
    const at = ope + digestLine!.index;
    writeFileSync(file, text.slice(0, at) + text.slice(at + digestLine![0].length));
    const out = join(root, 'out');
    const r = await run(['synth', 'airgap', '--out', out], root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('config.stackbook:services.ope.image.digest: required in production (air-gapped) stacks');
    // only OPE's digest is missing, so only OPE's is reported
    expect(r.stderr.split('\n').filter((l) => l.includes('digest: required'))).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('an unusable STACKBOOK_BUNDLE_SIGNING_KEY: exit 2 naming it, nothing written', async () => {
    const out = tmpDir('badkey');
    process.env.STACKBOOK_BUNDLE_SIGNING_KEY = join(TMP, 'no-such.key');
    const r = await run(['synth', 'airgap', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`stackbook: STACKBOOK_BUNDLE_SIGNING_KEY=${join(TMP, 'no-such.key')}: cannot read the signing key (ENOENT)\n`);
    expect(readdirSync(out)).toEqual([]);
  });
});

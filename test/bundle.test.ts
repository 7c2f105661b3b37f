/**
 * X-12: the bundle directory as a deliverable: files and modes, `apply.sh` run against a fake
 * `kubectl` (order, flags, waits, first error stops it), the Kustomize base checked by the real
 * `kubectl kustomize`, SHA256SUMS with `sha256sum -c`, the optional signature with openssl,
 * `images.txt` usable as documented, and `PREREQUISITES.md` / `secrets.json` derived from the objects.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { BundleError, bundleFiles, imageLines, loadSigningKey, phaseFiles, splitImage, writeBundle, type BundleFile } from '../bundle/bundle.js';
import { apiUses, cosignKeys, operatorNeeds, PLURALS, pluralOf, requiredCrds, requiredRuntimeClasses, requiredSecrets } from '../bundle/prerequisites.js';
import type { Manifest, Rendered } from '../synth/render.js';
import { HAND_CHECKED_CRDS } from './crd-hand-checked.js';
import { ENVS, renderEnv, SHARED } from './helpers.js';

const TMP = mkdtempSync(join(tmpdir(), 'stackbook-bundle-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let n = 0;
function tmpDir(label: string): string {
  const d = join(TMP, `${label}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** The unsigned bundle of a real stack, built once per file (bundleFiles is deterministic: the test "X-12: bundle files" below holds two builds equal). */
const unsigned = new Map<string, readonly BundleFile[]>();
const filesOf = (env: string): readonly BundleFile[] => unsigned.get(env) ?? unsigned.set(env, bundleFiles(renderEnv(env))).get(env)!;

function written(env: string, files: readonly BundleFile[] = filesOf(env)): string {
  const dir = join(tmpDir(env), env);
  writeBundle(dir, files);
  return dir;
}

/** A `kubectl` that records its argv, one call per line, and fails when an argument contains $KUBECTL_FAIL_ON. */
const STUBS = tmpDir('stubs');
writeFileSync(
  join(STUBS, 'kubectl'),
  `#!/bin/sh
printf '%s\\n' "$*" >> "$KUBECTL_LOG"
if [ -n "\${KUBECTL_FAIL_ON:-}" ]; then
  case "$*" in *"$KUBECTL_FAIL_ON"*) echo "error: simulated failure" >&2; exit 1 ;; esac
fi
# prune tests: the previous inventory, the environment label of live objects, the inventory written
case "$*" in
  *"get configmap"*) [ -n "\${KUBECTL_INVENTORY:-}" ] && cat "$KUBECTL_INVENTORY" ;;
  *"get "*'stackbook\\.io/environment'*) case "$*" in *"\${KUBECTL_FOREIGN:-@none@}"*) ;; *) printf airgap ;; esac ;;
  *"apply "*"-f -"*) [ -n "\${KUBECTL_STDIN:-}" ] && cat > "$KUBECTL_STDIN" ;;
esac
exit 0
`,
);
chmodSync(join(STUBS, 'kubectl'), 0o755);
writeFileSync(join(STUBS, 'skopeo'), `#!/bin/sh\nprintf '%s\\n' "$*" >> "$SKOPEO_LOG"\n`);
chmodSync(join(STUBS, 'skopeo'), 0o755);

function applySh(dir: string, args: string[], failOn = '', env: Record<string, string> = {}): { code: number | null; stderr: string; calls: string[] } {
  const log = join(dir, '..', `kubectl-${++n}.log`);
  const r = spawnSync('bash', [join(dir, 'apply.sh'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${STUBS}:${process.env.PATH}`, KUBECTL_LOG: log, KUBECTL_FAIL_ON: failOn, KUBECTL: '', ...env },
  });
  const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
  return { code: r.status, stderr: r.stderr, calls };
}

const parseAll = (text: string) => yaml.loadAll(text) as Manifest[];

describe('X-12: bundle files', () => {
  it('every stack gets phase files, kustomization.yaml, apply.sh, PREREQUISITES.md, secrets.json, images.txt, then SHA256SUMS last', () => {
    for (const env of ENVS) {
      const r = renderEnv(env);
      const paths = filesOf(env).map((f) => f.path);
      const keys = cosignKeys(r.objects).map((k) => k.file);
      expect(paths, env).toEqual([
        ...phaseFiles(r).map((f) => f.path),
        'kustomization.yaml',
        'apply.sh',
        'PREREQUISITES.md',
        'secrets.json',
        'images.txt',
        ...keys,
        'SHA256SUMS',
      ]);
      expect(paths.filter((p) => /^0\d-/.test(p))[0], env).toBe('01-cluster.yaml');
    }
  });

  it('is deterministic: the same stack gives byte-identical files', () => {
    for (const env of ENVS) expect(bundleFiles(renderEnv(env)), env).toEqual(bundleFiles(renderEnv(env)));
  });

  it('apply.sh is written 0755, every other file 0644, whatever the umask', () => {
    const old = process.umask(0o077);
    try {
      const dir = written('airgap');
      for (const f of readdirSync(dir)) {
        expect((statSync(join(dir, f)).mode & 0o777).toString(8), f).toBe(f === 'apply.sh' ? '755' : '644');
      }
    } finally {
      process.umask(old);
    }
  });

  it('SHA256SUMS covers every other file (cosign keys, apply.sh, kustomization.yaml ...) and verifies with sha256sum -c', () => {
    const dir = written('airgap');
    const listed = readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split('  ')[1]);
    expect(listed.sort()).toEqual(readdirSync(dir).filter((f) => f !== 'SHA256SUMS').sort());
    expect(listed).toEqual(expect.arrayContaining(['apply.sh', 'kustomization.yaml', 'PREREQUISITES.md', 'images.txt', 'secrets.json']));
    const out = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
    expect(out.trim().split('\n')).toHaveLength(listed.length);
    writeFileSync(join(dir, 'apply.sh'), readFileSync(join(dir, 'apply.sh'), 'utf8').replace('set -euo pipefail', 'set -eu'));
    expect(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir }).status).not.toBe(0);
  });
});

describe('X-12: apply.sh', () => {
  const r = renderEnv('airgap');
  const phases = phaseFiles(r).map((f) => f.path);

  it('is valid bash (bash -n) with set -euo pipefail', () => {
    const dir = written('airgap');
    expect(spawnSync('bash', ['-n', join(dir, 'apply.sh')], { encoding: 'utf8' }).stderr).toBe('');
    expect(readFileSync(join(dir, 'apply.sh'), 'utf8')).toMatch(/^#!\/usr\/bin\/env bash\n[\s\S]*^set -euo pipefail$/m);
  });

  it('checks the CRDs, then applies each file in order server-side, waiting for issuers, rollouts and CA certificates', () => {
    const dir = written('airgap');
    const { code, stderr, calls } = applySh(dir, ['--context', 'corp-a']);
    expect(stderr).toMatch(/done: \d+ objects from 5 files applied/);
    expect(code).toBe(0);
    const ctx = '--context=corp-a';
    const apply = (f: string) => `${ctx} apply --server-side --field-manager=stackbook -f ${f}`;
    // Every Deployment/StatefulSet gets a rollout wait, every Certificate from the private CA a
    // Ready wait (the airgap stack issues all its certificates from the CA ClusterIssuer).
    const rollouts = r.objects
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .map((o) => `${ctx} rollout status --namespace=${o.metadata.namespace} --timeout=300s ${o.kind.toLowerCase()}/${o.metadata.name}`);
    const certs = r.objects.filter((o) => o.kind === 'Certificate');
    expect(certs.length).toBeGreaterThan(0);
    for (const c of certs) expect((c.spec as any).issuerRef, `${c.metadata.namespace}/${c.metadata.name}`).toEqual({ group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'stackbook-airgap-ca' });
    const certWaits = certs.map((o) => `${ctx} wait --for=condition=Ready --namespace=${o.metadata.namespace} --timeout=300s certificates.cert-manager.io/${o.metadata.name}`);
    // RuntimeClasses the pods name (sysbox-runc for Oubliette's runtime) are checked like the CRDs.
    expect(requiredRuntimeClasses(r.objects)).toEqual([{ name: 'sysbox-runc', consumers: ['Deployment oub/oubliette'] }]);
    expect(calls.slice(0, 7)).toEqual([
      `${ctx} wait --for=condition=Established --timeout=300s ${requiredCrds(r.objects).map((c) => `crd/${c}`).join(' ')}`,
      `${ctx} get runtimeclass.node.k8s.io/sysbox-runc`,
      apply('01-cluster.yaml'),
      `${ctx} wait --for=condition=Ready --timeout=300s clusterissuers.cert-manager.io/stackbook-airgap-ca`,
      apply('02-config.yaml'),
      apply('03-network.yaml'),
      apply('04-workloads.yaml'),
    ]);
    // After the workloads: all rollouts, then the CA certificates, then the monitoring file, then
    // the prune step (read the inventory, nothing stale here, write the inventory), nothing else.
    expect(calls.slice(7, 7 + rollouts.length).sort()).toEqual([...rollouts].sort());
    expect(calls.slice(7 + rollouts.length, -3).sort()).toEqual([...certWaits].sort());
    expect(calls.slice(-3)).toEqual([
      apply('05-monitoring.yaml'),
      `${ctx} get configmap --namespace=kube-system stackbook-inventory-airgap --ignore-not-found -o jsonpath={.data.objects}`,
      `${ctx} apply --server-side --field-manager=stackbook -f -`,
    ]);
    expect(calls).toHaveLength(7 + rollouts.length + certWaits.length + 3);
    expect(calls).toContain(`${ctx} rollout status --namespace=ope --timeout=300s deployment/ope`);
    expect(calls).toContain(`${ctx} wait --for=condition=Ready --namespace=ope --timeout=300s certificates.cert-manager.io/ope`);
    expect(calls[0]).toContain('crd/certificates.cert-manager.io');
    expect(calls[0]).toContain('crd/servicemonitors.monitoring.coreos.com');
  });

  it('every Deployment/StatefulSet of a bundle gets a rollout wait after the workloads file', () => {
    for (const env of ENVS) {
      const rendered = renderEnv(env);
      const { calls } = applySh(written(env), []);
      const rollouts = rendered.objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
      expect(rollouts.length, env).toBeGreaterThan(0);
      const workloads = calls.indexOf('apply --server-side --field-manager=stackbook -f 04-workloads.yaml');
      const monitoring = calls.indexOf('apply --server-side --field-manager=stackbook -f 05-monitoring.yaml');
      for (const o of rollouts) {
        const i = calls.indexOf(`rollout status --namespace=${o.metadata.namespace} --timeout=300s ${o.kind.toLowerCase()}/${o.metadata.name}`);
        expect(i, `${env} ${o.kind} ${o.metadata.name}`).toBeGreaterThan(workloads);
        expect(i).toBeLessThan(monitoring);
      }
    }
  });

  it('ACME certificates are not waited for (issuance needs DNS to point at the new ingress)', () => {
    const { calls } = applySh(written('staging'), []);
    expect(calls.filter((c) => c.includes('certificates.cert-manager.io/'))).toEqual([]);
    expect(calls).toContain('wait --for=condition=Ready --timeout=300s clusterissuers.cert-manager.io/stackbook-staging-acme');
  });

  it('stops at the first failing file, naming it; later files are not applied', () => {
    const dir = written('airgap');
    const { code, stderr, calls } = applySh(dir, [], '03-network.yaml');
    expect(code).toBe(1);
    expect(stderr).toContain('apply.sh: kubectl apply failed on 03-network.yaml; the files after it were not applied');
    expect(calls.at(-1)).toBe('apply --server-side --field-manager=stackbook -f 03-network.yaml');
    expect(calls.some((c) => c.includes('04-workloads.yaml'))).toBe(false);
  });

  it('a rollout that does not finish fails the run before the monitoring file', () => {
    const opeRollout = 'rollout status --namespace=ope --timeout=90s deployment/ope';
    const { code, stderr, calls } = applySh(written('airgap'), ['--timeout', '90s'], opeRollout);
    expect(code).toBe(1);
    expect(stderr).toContain('Deployment/ope/ope is not ready after 90s');
    expect(calls.at(-1)).toBe(opeRollout);
    // the rollouts before it were waited for; nothing after it ran
    expect(calls.indexOf('apply --server-side --field-manager=stackbook -f 04-workloads.yaml')).toBeGreaterThan(0);
    expect(calls.some((c) => c.includes('05-monitoring.yaml'))).toBe(false);
    expect(calls.some((c) => c.includes('certificates.cert-manager.io/'))).toBe(false);
  });

  it('missing CRDs fail before anything is applied', () => {
    const { code, stderr, calls } = applySh(written('airgap'), [], 'crd/');
    expect(code).toBe(1);
    expect(stderr).toContain('required CRDs are missing or not Established');
    expect(calls).toHaveLength(1);
  });

  it('verifies SHA256SUMS first: a changed file means no kubectl call at all', () => {
    const dir = written('airgap');
    writeFileSync(join(dir, '04-workloads.yaml'), readFileSync(join(dir, '04-workloads.yaml'), 'utf8').replace('runAsNonRoot: true', 'runAsNonRoot: false'));
    const { code, stderr, calls } = applySh(dir, []);
    expect(code).toBe(1);
    expect(stderr).toMatch(/04-workloads\.yaml: FAILED[\s\S]*SHA256SUMS does not verify/);
    expect(calls).toEqual([]);
  });

  it('--dry-run applies every file with --dry-run=server and skips the waits; --kubeconfig is passed through', () => {
    const { code, calls } = applySh(written('airgap'), ['--dry-run', '--kubeconfig', '/tmp/kc']);
    expect(code).toBe(0);
    expect(calls.filter((c) => c.includes(' apply '))).toEqual(phases.map((f) => `--kubeconfig=/tmp/kc apply --server-side --field-manager=stackbook --dry-run=server -f ${f}`));
    expect(calls.filter((c) => c.includes('rollout') || c.includes('condition=Ready'))).toEqual([]);
  });

  describe('issue 16: prune, from the inventory of the previous bundle', () => {
    const dir = written('airgap');
    const inv = (lines: string[]) => {
      const f = join(dir, '..', `inventory-${++n}`);
      writeFileSync(f, `${lines.join('\n')}\n`);
      return f;
    };
    const current = readFileSync(join(dir, 'apply.sh'), 'utf8').split("cat <<'INVENTORY'\n")[1]!.split('\nINVENTORY\n')[0]!.split('\n');
    const stale = ['deployments.apps/old-api ope', 'services/old-api ope', 'namespaces/retired -'];

    it('the inventory in apply.sh is every object of the bundle, in apply order', () => {
      expect(current).toHaveLength(r.objects.length);
      expect(current[0]).toMatch(/^namespaces\/[a-z]+ -$/);
      expect(current).toContain('deployments.apps/ope ope');
    });

    it('deletes only what the previous bundle had and this one has not, newest first, then records this bundle', () => {
      const written_ = join(dir, '..', `written-${++n}.yaml`);
      const { code, stderr, calls } = applySh(dir, [], '', { KUBECTL_INVENTORY: inv([...current.slice(0, 10), ...stale]), KUBECTL_STDIN: written_ });
      expect(code).toBe(0);
      expect(calls.filter((c) => c.startsWith('delete '))).toEqual([
        'delete --ignore-not-found --wait=false namespaces/retired',
        'delete --namespace=ope --ignore-not-found --wait=false services/old-api',
        'delete --namespace=ope --ignore-not-found --wait=false deployments.apps/old-api',
      ]);
      expect(stderr).toContain('prune: 3 deleted; inventory kube-system/stackbook-inventory-airgap lists');
      const cm = yaml.load(readFileSync(written_, 'utf8')) as Manifest & { data: { objects: string } };
      expect(cm.metadata).toMatchObject({ name: 'stackbook-inventory-airgap', namespace: 'kube-system' });
      expect(cm.data.objects.trim().split('\n')).toEqual(current);
    });

    it("the owner check reads the label with kubectl's own jsonpath (dots in the key escaped)", () => {
      // the supply-chain tier found this against a real API server: unescaped, `stackbook.io/environment`
      // is read as nested keys, every owner came back empty and prune skipped everything
      const expr = /-o '(jsonpath=\{\.metadata\.labels[^']*)'/.exec(readFileSync(join(dir, 'apply.sh'), 'utf8'))![1]!;
      const obj = join(dir, '..', `labelled-${++n}.json`);
      writeFileSync(obj, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'ope', labels: { 'stackbook.io/environment': 'airgap' } } }));
      const out = execFileSync('kubectl', ['annotate', '--local', '-f', obj, 'stackbook.io/probe=1', '-o', expr], { encoding: 'utf8' });
      expect(out).toBe('airgap');
    });

    it('an object no longer labelled for this stack is left alone', () => {
      const { calls, stderr } = applySh(dir, [], '', { KUBECTL_INVENTORY: inv(stale), KUBECTL_FOREIGN: 'services/old-api' });
      expect(calls.filter((c) => c.startsWith('delete ')).some((c) => c.includes('services/old-api'))).toBe(false);
      expect(stderr).toContain('prune: skipping services/old-api (ope): gone, or no longer labelled stackbook.io/environment=airgap');
    });

    it('--dry-run lists them and deletes nothing, writes nothing; --no-prune does not look', () => {
      const { code, stderr, calls } = applySh(dir, ['--dry-run'], '', { KUBECTL_INVENTORY: inv(stale) });
      expect(code).toBe(0);
      expect(stderr).toContain('prune: would delete deployments.apps/old-api (ope) (in the previous bundle, not in this one)');
      expect(stderr).toContain('prune: would delete namespaces/retired (in the previous bundle, not in this one)');
      expect(calls.filter((c) => c.startsWith('delete ') || c.endsWith('-f -'))).toEqual([]);
      const none = applySh(dir, ['--no-prune'], '', { KUBECTL_INVENTORY: inv(stale) });
      expect(none.calls.filter((c) => c.includes('configmap') || c.startsWith('delete '))).toEqual([]);
    });

    it('a failed delete stops the run and keeps the old inventory (a re-run retries)', () => {
      const { code, stderr, calls } = applySh(dir, [], 'delete --namespace=ope --ignore-not-found --wait=false services/old-api', { KUBECTL_INVENTORY: inv(stale) });
      expect(code).toBe(1);
      expect(stderr).toContain('prune: deleting services/old-api failed; the inventory was not updated');
      expect(calls.some((c) => c.endsWith('-f -'))).toBe(false);
    });
  });

  it('an unknown argument exits 2 with the usage, without calling kubectl', () => {
    const { code, stderr, calls } = applySh(written('dev'), ['--force']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown argument: --force\nusage: \.\/apply\.sh/);
    expect(calls).toEqual([]);
  });
});

describe('X-12: the bundle is a Kustomize base', () => {
  it('kustomization.yaml lists the phase files in apply order, with fifo order', () => {
    const k = yaml.load(filesOf('airgap').find((f) => f.path === 'kustomization.yaml')!.content) as Record<string, unknown>;
    expect(k).toEqual({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      sortOptions: { order: 'fifo' },
      resources: phaseFiles(renderEnv('airgap')).map((f) => f.path),
    });
  });

  it('kubectl kustomize yields exactly the objects of the phase files, in the same order', () => {
    for (const env of ['airgap', 'prod']) {
      const dir = written(env);
      const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
      const fromKustomize = parseAll(out);
      const fromFiles = phaseFiles(renderEnv(env)).flatMap((f) => parseAll(readFileSync(join(dir, f.path), 'utf8')));
      expect(fromKustomize.length, env).toBe(renderEnv(env).objects.length);
      expect(fromKustomize, env).toEqual(fromFiles);
    }
  });
});

describe('X-12: SHA256SUMS.sig', () => {
  const keyDir = tmpDir('keys');
  const pair = (name: string) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(keyDir, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(keyDir, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }));
    return { key: join(keyDir, `${name}.key`), pub: join(keyDir, `${name}.pub`) };
  };
  const good = pair('good');
  const other = pair('other');

  it('with a key: a base64 ECDSA-SHA256 signature over SHA256SUMS that openssl verifies, not itself in SHA256SUMS', () => {
    const files = bundleFiles(renderEnv('airgap'), { signingKey: loadSigningKey(good.key) });
    expect(files.map((f) => f.path).slice(-2)).toEqual(['SHA256SUMS', 'SHA256SUMS.sig']);
    expect(files.find((f) => f.path === 'SHA256SUMS')!.content).not.toContain('SHA256SUMS.sig');
    const dir = written('airgap', files);
    expect(readFileSync(join(dir, 'SHA256SUMS.sig'), 'utf8')).toMatch(/^[A-Za-z0-9+/]+=*\n$/);
    execFileSync('openssl', ['base64', '-d', '-A', '-in', 'SHA256SUMS.sig', '-out', join(keyDir, 'sig.der')], { cwd: dir });
    const verify = (pub: string) => spawnSync('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', join(keyDir, 'sig.der'), 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
    expect(verify(good.pub).stdout).toBe('Verified OK\n');
    expect(verify(other.pub).status).not.toBe(0);
    writeFileSync(join(dir, 'SHA256SUMS'), readFileSync(join(dir, 'SHA256SUMS'), 'utf8').replace('images.txt', 'images.txt '));
    expect(verify(good.pub).status).not.toBe(0);
  });

  it('PREREQUISITES.md names the signing key by fingerprint; without a key it says there is no signature', () => {
    const fp = execFileSync('sh', ['-c', `openssl pkey -pubin -in '${good.pub}' -outform DER | sha256sum`], { encoding: 'utf8' }).split(' ')[0]!;
    const signed = bundleFiles(renderEnv('airgap'), { signingKey: loadSigningKey(good.key) }).find((f) => f.path === 'PREREQUISITES.md')!.content;
    expect(signed).toContain(`\`${fp}\``);
    expect(signed).toContain('cosign verify-blob --key bundle.pub --signature SHA256SUMS.sig --insecure-ignore-tlog SHA256SUMS');
    const unsignedMd = filesOf('airgap').find((f) => f.path === 'PREREQUISITES.md')!.content;
    expect(unsignedMd).toContain('No signing key was configured (`STACKBOOK_BUNDLE_SIGNING_KEY`): this bundle has no SHA256SUMS.sig.');
  });

  it('apply.sh --verify-key checks the signature before anything is applied', () => {
    const dir = written('airgap', bundleFiles(renderEnv('airgap'), { signingKey: loadSigningKey(good.key) }));
    expect(applySh(dir, ['--verify-key', good.pub]).code).toBe(0);
    const bad = applySh(dir, ['--verify-key', other.pub]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`SHA256SUMS.sig does not verify with ${other.pub}; nothing applied`);
    expect(bad.calls).toEqual([]);
    const unsigned = applySh(written('airgap'), ['--verify-key', good.pub]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain('--verify-key given but the bundle has no SHA256SUMS.sig');
  });

  it('an unusable key is a BundleError naming the file: missing, not a key, an Ed25519 key', () => {
    const missing = join(keyDir, 'missing.key');
    expect(() => loadSigningKey(missing)).toThrow(new BundleError(`STACKBOOK_BUNDLE_SIGNING_KEY=${missing}: cannot read the signing key (ENOENT)`));
    writeFileSync(join(keyDir, 'junk.key'), 'not a key\n');
    expect(() => loadSigningKey(join(keyDir, 'junk.key'))).toThrow(/junk\.key: not a private key \(want a cosign key from `cosign generate-key-pair`, or an unencrypted PEM key\)/);
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(join(keyDir, 'ed.key'), ed);
    expect(() => loadSigningKey(join(keyDir, 'ed.key'))).toThrow(/ed\.key: a ed25519 key; use an EC \(P-256\) or RSA key/);
  });
});

describe('X-12: images.txt', () => {
  it('splitImage tells a registry port from a tag', () => {
    expect(splitImage('registry:5000/a/b:1.0@sha256:abc')).toEqual({ name: 'registry:5000/a/b', tag: '1.0', digest: 'sha256:abc' });
    expect(splitImage('registry:5000/a/b')).toEqual({ name: 'registry:5000/a/b' });
    expect(splitImage('a/b@sha256:abc')).toEqual({ name: 'a/b', digest: 'sha256:abc' });
    expect(splitImage('nginx:1.25')).toEqual({ name: 'nginx', tag: '1.25' });
  });

  it('air-gapped: source by digest, mirror by tag under the registry, the digest; comments explain usage', () => {
    const r = renderEnv('airgap');
    const text = filesOf('airgap').find((f) => f.path === 'images.txt')!.content;
    const data = text.split('\n').filter((l) => l && !l.startsWith('#'));
    // the stack's images, plus the operator-injected ones its ClusterImagePolicy names (issue 16)
    const injected = r.objects.flatMap((o) => (o.kind === 'ClusterImagePolicy' ? (o.metadata.annotations?.['stackbook.io/operator-images'] ?? '').split(',').filter(Boolean) : []));
    expect(injected).toHaveLength(2);
    expect(data.length).toBe(r.images.length + injected.length);
    for (const line of data) {
      const [src, dst, digest, ...rest] = line.split(' ');
      expect(rest).toEqual([]);
      expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(src).toMatch(new RegExp(`@${digest}$`));
      expect(dst!.startsWith(`${r.stack.cluster.registry}/`)).toBe(true);
      expect(dst).not.toContain('@');
      // the manifests reference exactly <mirror>@<digest>
      // (or the operator injects it: then the policy annotation names exactly that reference)
      expect([...r.images.map((i) => i.reference), ...injected]).toContain(`${dst}@${digest}`);
    }
    // OPE's image, as configured in stacks/Pulumi.airgap.yaml
    expect(data).toContain(
      'ghcr.io/acme/options-pricing-engine@sha256:cc097af1991ad110b3aaf2dbddd21fb002883f76af919200c429803c3b1b2adb registry.corp.internal:5000/mirror/ghcr.io/acme/options-pricing-engine:1.8.2 sha256:cc097af1991ad110b3aaf2dbddd21fb002883f76af919200c429803c3b1b2adb',
    );
    expect(new Set(data).size).toBe(data.length);
  });

  it('the documented copy loop runs as written (with a recording skopeo)', () => {
    const dir = written('airgap');
    const text = readFileSync(join(dir, 'images.txt'), 'utf8');
    const start = text.indexOf("#   grep -v '^#' images.txt");
    const loop = text.slice(start).split('\n').filter((l) => l.startsWith('#   ')).map((l) => l.slice(4)).join('\n');
    expect(loop).toMatch(/^grep[\s\S]*skopeo copy --all --preserve-digests "docker:\/\/\$src" "docker:\/\/\$dst"[\s\S]*done$/);
    const log = join(dir, '..', 'skopeo.log');
    const r = spawnSync('sh', ['-c', loop], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${STUBS}:${process.env.PATH}`, SKOPEO_LOG: log } });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(
      imageLines(renderEnv('airgap')).map((l) => `copy --all --preserve-digests docker://${l.source} docker://${l.mirror}`),
    );
  });

  it('without a digest (dev) the source is repo:tag and the digest column is "-"', () => {
    const lines = imageLines(renderEnv('dev'));
    expect(lines.find((l) => l.reference === 'ghcr.io/acme/options-pricing-engine:1.8.2')).toEqual({
      source: 'ghcr.io/acme/options-pricing-engine:1.8.2',
      mirror: 'ghcr.io/acme/options-pricing-engine:1.8.2',
      digest: '-',
      reference: 'ghcr.io/acme/options-pricing-engine:1.8.2',
    });
  });

  it('an image a component renders without registering it is listed too', () => {
    const r = renderEnv('airgap');
    const extra: Manifest = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'x', namespace: 'ope' },
      spec: { jobTemplate: { spec: { template: { spec: { initContainers: [{ name: 'i', image: 'mirror.internal/tools/kubectl:1.0' }], containers: [] } } } } },
    };
    const lines = imageLines({ objects: [...r.objects, extra], images: r.images });
    expect(lines.map((l) => l.reference)).toContain('mirror.internal/tools/kubectl:1.0');
  });
});

describe('X-12: PREREQUISITES.md and secrets.json', () => {
  const md = (r: Rendered) => bundleFiles(r).find((f) => f.path === 'PREREQUISITES.md')!.content;

  // Kinds without a CRD fixture (Strimzi KafkaNodePool, KafkaUser) are checked against the
  // hand-checked list in test/crd-hand-checked.ts (written from the upstream CRDs), and the
  // assertion messages say which source a CRD was checked against.
  it('PLURALS agree with the upstream CRDs, and each CRD serves the versions the stacks render', () => {
    const crdFiles = readdirSync(join(SHARED, 'crds'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml'));
    const served = new Map<string, { versions: string[]; source: string }>();
    const fixtureKeys = new Set<string>();
    for (const f of crdFiles) {
      const crd = yaml.load(readFileSync(join(SHARED, 'crds', f), 'utf8')) as any;
      const key = `${crd.spec.group}/${crd.spec.names.kind}`;
      expect(PLURALS[key], key).toBe(crd.spec.names.plural);
      fixtureKeys.add(key);
      served.set(`${crd.spec.names.plural}.${crd.spec.group}`, { versions: crd.spec.versions.filter((v: any) => v.served).map((v: any) => v.name), source: `fixture ${f}` });
    }
    for (const [key, h] of Object.entries(HAND_CHECKED_CRDS)) {
      expect(fixtureKeys.has(key), `${key} now has a CRD fixture: drop it from test/crd-hand-checked.ts`).toBe(false);
      expect(key).toBe(`${h.group}/${h.kind}`);
      // the plural the bundle uses (CRD name in apply.sh and PREREQUISITES.md, kubectl wait)
      expect(pluralOf(h.group, h.kind), `${key} (hand-checked, no CRD fixture)`).toBe(h.plural);
      if (PLURALS[key] !== undefined) expect(PLURALS[key], `${key} (hand-checked, no CRD fixture)`).toBe(h.plural);
      served.set(`${h.plural}.${h.group}`, { versions: [...h.served], source: `hand-checked ${h.source} (no CRD fixture)` });
    }
    // Every PLURALS entry is backed by a fixture or a hand-checked definition.
    expect(Object.keys(PLURALS).filter((k) => !fixtureKeys.has(k) && !(k in HAND_CHECKED_CRDS))).toEqual([]);
    for (const env of ENVS) {
      for (const u of apiUses(renderEnv(env).objects)) {
        if (!u.crd) continue;
        const s = served.get(u.crd);
        expect(s, `${env}: ${u.crd}: neither a CRD fixture nor a hand-checked definition`).toBeDefined();
        expect(s!.versions, `${env}: ${u.crd} (${s!.source})`).toEqual(expect.arrayContaining([...u.versions]));
      }
    }
  });

  it('maps each custom group to its operator, with the versions rendered', () => {
    const obj = (apiVersion: string, kind: string, name = 'x'): Manifest => ({ apiVersion, kind, metadata: { name, namespace: 'n' } });
    const needs = operatorNeeds([
      obj('kafka.strimzi.io/v1', 'Kafka'),
      obj('kafka.strimzi.io/v1', 'KafkaTopic'),
      obj('postgresql.cnpg.io/v1', 'Cluster'),
      obj('keda.sh/v1alpha1', 'ScaledObject'),
      obj('external-secrets.io/v1', 'ExternalSecret'),
      obj('policy.sigstore.dev/v1beta1', 'ClusterImagePolicy'),
      obj('policy.sigstore.dev/v1alpha1', 'ClusterImagePolicy', 'y'),
      obj('example.org/v1', 'Widget'),
      obj('apps/v1', 'Deployment'),
    ]);
    expect(needs.map((o) => [o.operator, o.group, o.uses.map((u) => `${u.crd} ${u.versions.join(',')}`)])).toEqual([
      ['unknown operator for example.org', 'example.org', ['widgets.example.org v1']],
      ['External Secrets Operator', 'external-secrets.io', ['externalsecrets.external-secrets.io v1']],
      ['Strimzi', 'kafka.strimzi.io', ['kafkas.kafka.strimzi.io v1', 'kafkatopics.kafka.strimzi.io v1']],
      ['KEDA', 'keda.sh', ['scaledobjects.keda.sh v1alpha1']],
      ['Sigstore policy-controller', 'policy.sigstore.dev', ['clusterimagepolicies.policy.sigstore.dev v1alpha1,v1beta1']],
      ['CloudNativePG', 'postgresql.cnpg.io', ['clusters.postgresql.cnpg.io v1']],
    ]);
  });

  it('airgap: lists cert-manager and prometheus-operator CRDs, capabilities, the CA Secret, the image and how to apply', () => {
    const r = renderEnv('airgap');
    const text = md(r);
    expect(text).toMatch(/^\| cert-manager .*\| `cert-manager\.io` \| Certificate \(v1\), ClusterIssuer \(v1\) \| `certificates\.cert-manager\.io`, `clusterissuers\.cert-manager\.io` \|$/m);
    expect(text).toMatch(/^\| prometheus-operator .*\| `monitoring\.coreos\.com` \| .*PrometheusRule \(v1\), ServiceMonitor \(v1\) \|/m);
    // Every custom kind the bundle renders is listed with its versions and CRD, on its operator's row
    // (now also Strimzi, CloudNativePG, External Secrets, KEDA, policy-controller).
    const uses = apiUses(r.objects).filter((u) => u.crd);
    expect(new Set(uses.map((u) => u.group))).toEqual(
      new Set(['cert-manager.io', 'external-secrets.io', 'kafka.strimzi.io', 'keda.sh', 'monitoring.coreos.com', 'barmancloud.cnpg.io', 'policy.sigstore.dev', 'postgresql.cnpg.io']),
    );
    for (const u of uses) {
      const row = text.split('\n').find((l) => l.startsWith('| ') && l.includes(` | \`${u.group}\` | `));
      expect(row, u.group).toBeDefined();
      expect(row, u.group).not.toMatch(/unknown operator/);
      expect(row).toContain(`${u.kind} (${u.versions.join(', ')})`);
      expect(row).toContain(`\`${u.crd}\``);
    }
    for (const crd of requiredCrds(r.objects)) expect(text).toContain(`\`${crd}\``);
    // required RuntimeClasses are listed like the CRDs (sysbox-runc: not rendered, installed with sysbox)
    expect(text).toContain('### RuntimeClasses');
    expect(text).toContain('| `sysbox-runc` | Deployment oub/oubliette |');
    expect(text).toContain('IngressClass `nginx-internal`');
    expect(text).toContain('metrics-server');
    expect(text).toContain('| `cert-manager` | `stackbook-intermediate-ca` | `tls.crt`, `tls.key` | existing | ClusterIssuer stackbook-airgap-ca |');
    expect(text).toContain('`registry.corp.internal:5000/mirror/ghcr.io/acme/options-pricing-engine:1.8.2`');
    for (const l of imageLines(r)) expect(text, l.mirror).toContain(`\`${l.mirror}\``);
    expect(text).toContain('./apply.sh --context <cluster>');
    const namespaces = r.objects.filter((o) => o.kind === 'Namespace').length;
    expect(namespaces).toBeGreaterThan(1);
    expect(text).toMatch(new RegExp(`^\\| 1 \\| \`01-cluster\\.yaml\` \\| Namespace ${namespaces}, ClusterIssuer 1`, 'm'));
  });

  it('requiredSecrets: declared ones keep their source; references the bundle does not create are "existing"; produced ones are not listed', () => {
    const pod = (containers: object[], volumes: object[] = []) => ({ spec: { template: { spec: { containers, volumes } } } });
    const objects: Manifest[] = [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'a' }, ...pod([{ name: 'c', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }], envFrom: [{ secretRef: { name: 'extra' } }] }], [{ name: 'v', secret: { secretName: 'files', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }, { name: 't', secret: { secretName: 'web-tls' } }]) },
      { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'web', namespace: 'a' }, spec: { secretName: 'web-tls' } },
      { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'ca' }, spec: { ca: { secretName: 'root' } } },
      { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'web', namespace: 'a' }, spec: { endpoints: [{ authorization: { credentials: { name: 'scrape', key: 'token' } } }] } },
    ];
    const secrets = requiredSecrets({
      objects,
      secrets: [
        { name: 'db', namespace: 'a', keys: ['password', 'user'], source: 'vault', consumers: ['web'], version: 3, vault: { path: 'secret/a/db', properties: { user: 'username' } } },
      ],
    });
    expect(secrets).toEqual([
      // Declared Secrets keep their rotation version and Vault path (key -> Vault field; unmapped keys read the same name).
      { name: 'db', namespace: 'a', keys: ['password', 'user'], source: 'vault', consumers: ['web'], version: 3, vault: { path: 'secret/a/db', properties: { password: 'password', user: 'username' } } },
      { name: 'extra', namespace: 'a', keys: [], source: 'existing', consumers: ['Deployment a/web'] },
      { name: 'files', namespace: 'a', keys: ['ca.crt'], source: 'existing', consumers: ['Deployment a/web'] },
      { name: 'scrape', namespace: 'a', keys: ['token'], source: 'existing', consumers: ['ServiceMonitor a/web'] },
      { name: 'root', namespace: 'cert-manager', keys: ['tls.crt', 'tls.key'], source: 'existing', consumers: ['ClusterIssuer ca'] },
    ]);
  });

  it('secrets.json equals requiredSecrets and carries no values', () => {
    for (const env of ENVS) {
      const r = renderEnv(env);
      const json = JSON.parse(filesOf(env).find((f) => f.path === 'secrets.json')!.content) as object[];
      expect(json, env).toEqual(requiredSecrets(r));
      // Names, keys, source, consumers; declared Secrets also their rotation `version` (a number) and,
      // for Vault, the path and key -> field map. Nothing else, so no value can slip in.
      const declared = new Set(r.secrets.map((s) => `${s.namespace}/${s.name}`));
      for (const s of json as Record<string, unknown>[]) {
        const id = `${env} ${String(s.namespace)}/${String(s.name)}`;
        const keys = Object.keys(s).sort();
        expect(keys.filter((k) => !['consumers', 'keys', 'name', 'namespace', 'source', 'version', 'vault'].includes(k)), id).toEqual([]);
        expect(keys, id).toEqual(expect.arrayContaining(['consumers', 'keys', 'name', 'namespace', 'source']));
        expect('version' in s, id).toBe(declared.has(`${String(s.namespace)}/${String(s.name)}`));
        if ('version' in s) expect(Number.isInteger(s.version) && (s.version as number) >= 0, id).toBe(true);
        expect('vault' in s, id).toBe(s.source === 'vault');
        if ('vault' in s) {
          const v = s.vault as Record<string, unknown>;
          expect(Object.keys(v).sort(), id).toEqual(['path', 'properties']);
          expect(typeof v.path, id).toBe('string');
          expect(s.keys, id).toEqual(expect.arrayContaining(Object.keys(v.properties as object)));
          expect(Object.values(v.properties as object).every((f) => typeof f === 'string'), id).toBe(true);
        }
        expect((s.keys as unknown[]).every((k) => typeof k === 'string') && (s.consumers as unknown[]).every((c) => typeof c === 'string'), id).toBe(true);
      }
    }
  });

  it('cosign public keys of ClusterImagePolicies become cosign-<policy>-<authority>.pub files, listed in PREREQUISITES.md', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';
    const dev = renderEnv('dev');
    const r = { ...dev, objects: dev.objects.filter((o) => o.kind !== 'ClusterImagePolicy') };
    const policy: Manifest = {
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'release' },
      spec: { images: [{ glob: '**' }], authorities: [{ name: 'ci', key: { data: pem } }, { keyless: { url: 'https://fulcio.example.internal' } }, { key: { data: `  ${pem}` } }] },
    };
    const files = bundleFiles({ ...r, objects: [...r.objects, policy] });
    expect(files.filter((f) => f.path.startsWith('cosign-')).map((f) => [f.path, f.content])).toEqual([
      ['cosign-release-2.pub', pem],
      ['cosign-release-ci.pub', pem],
    ]);
    expect(files.find((f) => f.path === 'PREREQUISITES.md')!.content).toContain('| `cosign-release-ci.pub` | `release` | `ci` |');
    expect(md(r)).toContain('No ClusterImagePolicy in this bundle: no cosign public keys are needed.');
  });
});

#!/usr/bin/env node
// `npm run test:controllers [stack...]`: the controllers tier (issue 15). For every stack (default:
// all), on a fresh test cluster (tools/cluster-up.sh: control plane, kube-scheduler, kwok Nodes,
// shared CRDs) with the stack's bundle applied, the operators the bundle depends on run out of
// cluster against the tier's API server (admin kubeconfig) and the tier asserts what they do:
//   - external-secrets + a real Vault (dev server; TLS from a private CA made here; KV v2 seeded
//     with every path/property the ExternalSecrets name; the Kubernetes auth the store configures,
//     Vault reviewing the controller's ServiceAccount token with the tier's API server): every
//     ClusterSecretStore/ExternalSecret becomes Ready and each target Secret holds exactly the
//     declared keys. The store's own server name is kept: the controller reaches it through a
//     CONNECT proxy on 127.0.0.1 that maps only that host:port to Vault. Stores with a caProvider
//     (air-gapped) must trust Vault through it alone (the controller's system trust does not hold the
//     test CA); a store without caProvider stands for a publicly trusted Vault (the test CA is the
//     controller's system trust). Negative case, per stack with a caProvider: the same store
//     without it is refused, and the tier prints the controller's reason.
//   - KEDA operator: every ScaledObject is Ready and owns an HPA with the declared min/max; no
//     trigger reports an error (idle: the tier runs no workload metrics at all).
//   - prometheus-operator: a Prometheus resource selecting every ServiceMonitor/PodMonitor/
//     PrometheusRule of the stack; the generated configuration has a scrape job per monitor
//     endpoint and every rule group, and real `promtool check config` accepts it with the rules.
//   - cert-manager / policy-controller: BLOCKED rows with the reason when not built (tools/build.sh).
// Each controller has its own log under the results directory (dist/controllers/<stack>/).
// Prints a markdown table and writes dist/controllers-test.md (+ .json). Exit 0 all ran and passed,
// 1 a failure, 3 only with STACKBOOK_CONTROLLERS_STRICT=1 when something was BLOCKED.
// Clusters, controllers, Vault and the proxy are stopped on every exit path (signals included).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { clusterDown, clusterUp, installExitHandlers } from './lib/cluster.mjs';
import { ingressAllowed } from './lib/netpol.mjs';
import { volumeFixtures } from './lib/pulumi-cycle.mjs';
import { CONTROLLER_BUILDS, buildBudget, decide } from './lib/build-budget.mjs';

const TOOLS = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(TOOLS, '..');
const RESULTS = resolve(ROOT, process.env.STACKBOOK_CONTROLLERS_RESULTS ?? 'dist/controllers-test.md');
const LOGS = join(dirname(RESULTS), 'controllers');
const STRICT = process.env.STACKBOOK_CONTROLLERS_STRICT === '1';
const WAIT_SECONDS = Number(process.env.STACKBOOK_CONTROLLERS_WAIT ?? 180);
const log = (m) => process.stderr.write(`[test-controllers] ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const head = (t, n = 8) => String(t).trim().split('\n').slice(0, n).join('\n');

// ------------------------------------------------------------------ versions and binaries
const V = {};
for (const line of readFileSync(join(TOOLS, 'versions.env'), 'utf8').split('\n')) {
  const m = /^([A-Z_]+)=(\S+)/.exec(line);
  if (m) V[m[1]] = m[2];
}
const CACHE = process.env.STACKBOOK_TOOLS_CACHE ?? join(process.env.HOME ?? '/root', '.cache/stackbook-tools');
const BIN = {
  'external-secrets': join(CACHE, `external-secrets-${V.EXTERNAL_SECRETS_VERSION}/bin/external-secrets`),
  vault: join(CACHE, `vault-${V.VAULT_VERSION}/bin/vault`),
  keda: join(CACHE, `keda-${V.KEDA_VERSION}/bin/operator`),
  'prometheus-operator': join(CACHE, `prometheus-operator-${V.PROMETHEUS_OPERATOR_VERSION}/bin/operator`),
  // the pinned version when its cmd/controller module is served, else the fallback (tools/build.sh)
  'cert-manager': [V.CERT_MANAGER_VERSION, V.CERT_MANAGER_FALLBACK_VERSION].map((v) => join(CACHE, `cert-manager-${v}/bin/controller`)).find(existsSync)
    ?? join(CACHE, `cert-manager-${V.CERT_MANAGER_VERSION}/bin/controller`),
  // built by the supply-chain issue's target (not this tier's): either binary name
  'policy-controller': ['policy-controller-webhook', 'webhook'].map((b) => join(CACHE, `policy-controller-${V.POLICY_CONTROLLER_VERSION ?? 'v0.13.1'}/bin/${b}`)).find(existsSync)
    ?? join(CACHE, `policy-controller-${V.POLICY_CONTROLLER_VERSION ?? 'v0.13.1'}/bin/policy-controller-webhook`),
};
// Prometheus with Kubernetes SD (tools/build.sh prometheus): the operator's default version
const PROMETHEUS_BIN = {
  prometheus: join(CACHE, `prometheus-${V.PROMETHEUS_VERSION}/bin/prometheus`),
  promtool: join(CACHE, `prometheus-${V.PROMETHEUS_VERSION}/bin/promtool`),
};
const REAL_PROMETHEUS = existsSync(PROMETHEUS_BIN.prometheus) && existsSync(PROMETHEUS_BIN.promtool);
BIN.prometheus = PROMETHEUS_BIN.prometheus;
/** Cold build time recorded by tools/build.sh next to the binary, if any. */
const buildSeconds = (bin) => {
  try {
    return Number(readFileSync(join(dirname(bin), 'build-seconds'), 'utf8'));
  } catch {
    return undefined;
  }
};

// ------------------------------------------------------------------ processes and cleanup
const children = new Set(); // short-lived commands
const daemons = new Map(); // name -> ChildProcess (controllers, vault)
const liveClusters = new Set();
const servers = new Set();
let WORK = '';

function run(cmd, args, { env = process.env, cwd = ROOT, input, timeoutSecs = 600 } = {}) {
  return new Promise((done) => {
    let stdout = '';
    let stderr = '';
    const child = spawn(cmd, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const timer = setTimeout(() => {
      stderr += `\n${cmd} timed out after ${timeoutSecs} s`;
      child.kill('SIGTERM');
    }, timeoutSecs * 1000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => (stderr += `\n${e.message}`));
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      done({ code: code ?? 128, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Starts a long-running process in its own process group, output to <logFile>. */
function daemon(name, cmd, args, logFile, env = process.env) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  child.exitCode_ = null;
  child.on('exit', (code, sig) => (child.exitCode_ = code ?? sig));
  daemons.set(name, child);
  log(`${name} started (pid ${child.pid}, log ${logFile})`);
  return child;
}

async function stopDaemon(name) {
  const c = daemons.get(name);
  if (!c) return;
  daemons.delete(name);
  if (c.exitCode_ !== null) return;
  try {
    process.kill(-c.pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 60 && c.exitCode_ === null; i++) await sleep(250);
  if (c.exitCode_ === null) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function cleanupSync() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const c of daemons.values()) {
    try {
      process.kill(-c.pid, 'SIGKILL'); // its own process group (detached)
    } catch {
      /* gone */
    }
  }
  daemons.clear();
  for (const s of servers) s.close();
  for (const d of liveClusters) spawnSync('bash', [join(TOOLS, 'cluster-down.sh'), d], { stdio: ['ignore', 'ignore', 'inherit'] });
  liveClusters.clear();
  if (WORK && existsSync(WORK)) rmSync(WORK, { recursive: true, force: true });
}


const kc = (kubeconfig, args, opts = {}) => run('kubectl', [`--kubeconfig=${kubeconfig}`, ...args], opts);
async function getJson(kubeconfig, args) {
  const r = await kc(kubeconfig, ['get', ...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get ${args.join(' ')}: ${head(r.stderr)}`);
  const j = JSON.parse(r.stdout);
  return Array.isArray(j.items) ? j.items : [j];
}
const applyObjects = (kubeconfig, items, manager = 'stackbook-controllers-test') =>
  kc(kubeconfig, ['apply', '--server-side', '--force-conflicts', `--field-manager=${manager}`, '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
  });

/** Polls fn() until it returns {done:true,...} or the time is up; returns the last value. */
async function waitFor(fn, secs = WAIT_SECONDS) {
  const end = Date.now() + secs * 1000;
  let last;
  for (;;) {
    try {
      last = await fn();
    } catch (e) {
      last = { done: false, error: String(e?.message ?? e) };
    }
    if (last?.done || Date.now() > end) return last;
    await sleep(2000);
  }
}

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/** Directory of a module in the Go module cache (downloaded by tools/build.sh). */
async function moduleDir(mod, ver) {
  const r = await run('go', ['mod', 'download', '-json', `${mod}@${ver}`], { env: { ...process.env, GOFLAGS: '-mod=mod' }, cwd: tmpdir() });
  // a module whose go line is newer than the local go (KEDA) is reported with an Error but is in
  // the cache all the same: its extracted directory (lower-case paths need no escaping)
  const gomodcache = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).stdout.trim();
  const dir = /"Dir":\s*"([^"]+)"/.exec(r.stdout)?.[1] ?? [join(gomodcache, `${mod}@${ver}`)].find((d) => d === d.toLowerCase() && existsSync(d));
  if (!dir) throw new Error(`go mod download ${mod}@${ver}: ${head(r.stdout + r.stderr)}`);
  return dir;
}

const PROMTOOL_VERSION = (() => {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return `v${/version (\d+\.\d+\.\d+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '2.42.0'}`;
})();

const condition = (obj, type) => (obj?.status?.conditions ?? []).find((c) => c.type === type);

// ------------------------------------------------------------------ results
function newRow(stack) {
  return { stack, controllers: {} };
}
/** verdict: PASS | FAIL | BLOCKED | n/a */
function cell(row, controller, verdict, asserted, detail = []) {
  row.controllers[controller] = { verdict, asserted, detail };
  log(`${row.stack} ${controller}: ${verdict} — ${asserted}${detail.length ? `\n    ${detail.slice(0, 12).join('\n    ')}` : ''}`);
}

// ------------------------------------------------------------------ bundle
function loadDocs(bundleDir) {
  return readdirSync(bundleDir)
    .filter((f) => /^\d\d-[a-z]+\.yaml$/.test(f))
    .sort()
    .map((name) => ({ name, file: join(bundleDir, name), docs: yaml.loadAll(readFileSync(join(bundleDir, name), 'utf8')).filter((d) => d && typeof d === 'object') }));
}

async function applyBundle(kubeconfig, phases) {
  const errors = [];
  for (const p of phases) {
    const r = await kc(kubeconfig, ['apply', '--server-side', '--field-manager=stackbook', '-f', p.file]);
    const errs = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'));
    if (r.code !== 0 || errs.length) errors.push(`${p.name}: ${head(errs.join('\n') || r.stderr, 6)}`);
  }
  return errors;
}

// ------------------------------------------------------------------ PKI (openssl)
async function makePki(dir, hosts) {
  mkdirSync(dir, { recursive: true });
  const sh = `set -e; cd "${dir}"; umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -keyout ca.key -out ca.crt -subj "/CN=stackbook-controllers-test-private-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -keyout vault.key -out vault.csr -subj "/CN=vault" 2>/dev/null
    printf '%s\\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
      'subjectAltName=${[...hosts.map((h) => `DNS:${h}`), 'IP:127.0.0.1'].join(',')}' > vault.ext
    openssl x509 -req -sha256 -days 2 -in vault.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out vault.crt -extfile vault.ext 2>/dev/null
    chmod 644 ca.crt vault.crt; chmod 600 vault.key`;
  const r = await run('bash', ['-c', sh]);
  if (r.code !== 0) throw new Error(`PKI: ${r.stderr}`);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'vault.crt'), key: join(dir, 'vault.key') };
}

/** HTTPS CONNECT proxy on 127.0.0.1: maps only the given "host:port" names; logs every request. */
async function connectProxy(map, logFile) {
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    writeFileSync(logFile, `refused plain ${req.method} ${req.url}\n`, { flag: 'a' });
    res.writeHead(403).end();
  });
  srv.on('connect', (req, sock, headBuf) => {
    const target = map[req.url];
    writeFileSync(logFile, `CONNECT ${req.url} -> ${target ? `127.0.0.1:${target.port}` : 'REFUSED'}\n`, { flag: 'a' });
    if (!target) {
      sock.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const up = net.connect(target.port, '127.0.0.1', () => {
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (headBuf?.length) up.write(headBuf);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  servers.add(srv);
  return { url: `http://127.0.0.1:${port}`, close: () => (servers.delete(srv), srv.close()) };
}

// ------------------------------------------------------------------ external-secrets + Vault
async function vaultApi(addr, token, method, path, body) {
  const r = await fetch(`${addr}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`vault ${method} ${path}: HTTP ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** The part of Vault's HTTP API external-secrets' Vault provider uses, on real TLS. */
async function vaultStub(pki, kubeconfig, logFile) {
  const https = await import('node:https');
  const kv = new Map(); // "<mount>/data/<path>" -> data
  const roles = new Map(); // "<mount>/<role>" -> {sa, ns}
  const tokens = new Set();
  const note = (m) => writeFileSync(logFile, `${m}\n`, { flag: 'a' });
  const api = async (_addr, _token, method, path, body) => {
    const m = /^auth\/(.+)\/role\/([^/]+)$/.exec(path);
    if (m) roles.set(`${m[1]}/${m[2]}`, { sa: body.bound_service_account_names[0], ns: body.bound_service_account_namespaces[0] });
    else if (/\/data\//.test(path) && method === 'POST') kv.set(path, body.data);
    return {};
  };
  const srv = https.createServer({ cert: readFileSync(pki.cert), key: readFileSync(pki.key) }, (req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', async () => {
      const path = req.url.replace(/^\/v1\//, '').split('?')[0];
      const send = (code, obj) => {
        note(`${req.method} /v1/${path} -> ${code}`);
        res.writeHead(code, { 'Content-Type': 'application/json' }).end(obj === undefined ? '' : JSON.stringify(obj));
      };
      const login = /^auth\/(.+)\/login$/.exec(path);
      if (login && req.method !== 'GET') {
        const { role, jwt } = JSON.parse(raw || '{}');
        const want = roles.get(`${login[1]}/${role}`);
        if (!want) return send(400, { errors: [`invalid role name "${role}"`] });
        const tr = await kc(kubeconfig, ['create', '-o', 'json', '-f', '-'], { input: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: jwt } }) });
        const user = tr.code === 0 ? JSON.parse(tr.stdout).status?.user?.username : undefined;
        if (user !== `system:serviceaccount:${want.ns}:${want.sa}`) return send(403, { errors: [`permission denied (TokenReview: ${user ?? 'not authenticated'})`] });
        const t = randomBytes(12).toString('hex');
        tokens.add(t);
        return send(200, { auth: { client_token: t, policies: ['stackbook-read'], lease_duration: 3600, renewable: false } });
      }
      const tok = req.headers['x-vault-token'];
      if (!tokens.has(tok)) return send(403, { errors: ['permission denied'] });
      if (path === 'auth/token/lookup-self') return send(200, { data: { type: 'service', ttl: 3600, expire_time: null, policies: ['stackbook-read'] } });
      if (path === 'auth/token/revoke-self') return send(204);
      if (req.method === 'GET' && kv.has(path)) return send(200, { data: { data: kv.get(path), metadata: { version: 1 } } });
      return send(404, { errors: [] });
    });
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  servers.add(srv);
  return { port, api };
}

async function testExternalSecrets(row, ctx) {
  const { docs, kubeconfig, dir } = ctx;
  const stores = docs.filter((d) => d.kind === 'ClusterSecretStore' || d.kind === 'SecretStore');
  const ess = docs.filter((d) => d.kind === 'ExternalSecret');
  if (stores.length === 0 && ess.length === 0) return cell(row, 'external-secrets', 'n/a', 'no SecretStore/ExternalSecret in the bundle');
  if (!existsSync(BIN['external-secrets'])) return cell(row, 'external-secrets', 'BLOCKED', notBuilt('external-secrets'));
  // Without a Vault binary (v1.21.4 does not build from the proxy, tools/build.sh): a stand-in that
  // speaks the part of Vault's HTTP API the controller uses (Kubernetes login checked with a real
  // TokenReview, token lookup, KV v2 read), served with real TLS from the private CA. Reported.
  const stub = !existsSync(BIN.vault);
  const detail = [];
  const problems = [];
  const vaultStores = stores.filter((s) => s.spec?.provider?.vault);
  const other = stores.filter((s) => !s.spec?.provider?.vault);
  if (other.length) problems.push(`stores with a provider the tier has no backend for: ${other.map((s) => s.metadata.name).join(', ')}`);
  const hosts = [...new Set(vaultStores.map((s) => new URL(s.spec.provider.vault.server).hostname))];
  const pki = await makePki(join(dir, 'vault-pki'), hosts);

  const token = randomBytes(12).toString('hex');
  let tlsPort;
  let addr;
  let vaultApiFn = vaultApi;
  if (stub) {
    const st = await vaultStub(pki, kubeconfig, join(ctx.logs, 'vault-stub.log'));
    tlsPort = st.port;
    addr = 'stub';
    vaultApiFn = st.api;
    detail.push(`Vault ${V.VAULT_VERSION}: ${notBuilt('vault')}; a Vault HTTP API stand-in on real TLS from the private CA was used`);
  } else {
  // Vault: dev server (in-memory, unsealed, root token) + a TLS listener with the private CA's cert
  const devPort = await freePort();
  tlsPort = await freePort();
  const hcl = join(dir, 'vault.hcl');
  writeFileSync(hcl, `listener "tcp" {\n  address = "127.0.0.1:${tlsPort}"\n  tls_cert_file = "${pki.cert}"\n  tls_key_file = "${pki.key}"\n}\ndisable_mlock = true\nui = false\n`);
  const vlog = join(ctx.logs, 'vault.log');
  daemon('vault', BIN.vault, ['server', '-dev', `-dev-root-token-id=${token}`, `-dev-listen-address=127.0.0.1:${devPort}`, `-config=${hcl}`], vlog, {
    ...process.env, HOME: dir, VAULT_DISABLE_USER_LOCKOUT: 'true',
  });
  addr = `http://127.0.0.1:${devPort}`;
  const up = await waitFor(async () => ({ done: (await fetch(`${addr}/v1/sys/health`)).ok }), 90);
  if (!up?.done) return cell(row, 'external-secrets', 'FAIL', 'Vault dev server did not start', [head(readFileSync(vlog, 'utf8'), 10)]);

  }
  // seed KV v2 with every key/property the ExternalSecrets name (values random, never printed)
  const want = new Map(); // vault path (as the ES names it) -> {prop: value}
  for (const es of ess) {
    for (const d of es.spec?.data ?? []) {
      const m = want.get(d.remoteRef.key) ?? {};
      m[d.remoteRef.property ?? 'value'] = randomBytes(16).toString('hex');
      want.set(d.remoteRef.key, m);
    }
    if (es.spec?.dataFrom?.length) problems.push(`ExternalSecret ${es.metadata.namespace}/${es.metadata.name}: dataFrom not seeded by the tier`);
  }
  const mounts = new Set();
  for (const s of vaultStores) {
    const v = s.spec.provider.vault;
    const mount = v.path ?? 'secret';
    if (!mounts.has(mount) && mount !== 'secret') {
      await vaultApiFn(addr, token, 'POST', `sys/mounts/${mount}`, { type: 'kv', options: { version: v.version === 'v1' ? '1' : '2' } });
    }
    mounts.add(mount);
  }
  const mount = vaultStores[0]?.spec.provider.vault.path ?? 'secret';
  const policy = [];
  for (const [key, data] of want) {
    // ESO's buildPath (pkg/provider/vault/client_get.go): "<mount>/" is cut from the key, then <mount>/data/<rest>
    const rest = key.startsWith(`${mount}/`) ? key.slice(mount.length + 1) : key;
    await vaultApiFn(addr, token, 'POST', `${mount}/data/${rest}`, { data });
    policy.push(`path "${mount}/data/${rest}" { capabilities = ["read"] }`);
    detail.push(`Vault KV v2 seeded: ${mount}/${rest} (${Object.keys(data).sort().join(', ')})`);
  }
  await vaultApiFn(addr, token, 'PUT', 'sys/policies/acl/stackbook-read', { policy: policy.join('\n') });

  // what the external-secrets installation provides: its namespace and ServiceAccount, allowed to
  // have its tokens reviewed (Vault's Kubernetes auth calls TokenReview with the reviewer token)
  const caPem = readFileSync(pki.ca, 'utf8');
  const fixtures = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'external-secrets', labels: { 'stackbook.io/test-fixture': 'controllers' } } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'external-secrets', namespace: 'external-secrets' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'vault-reviewer', namespace: 'external-secrets' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'stackbook-test-vault-reviewer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'vault-reviewer', namespace: 'external-secrets' }],
    },
  ];
  // the CA a store's caProvider names: what PREREQUISITES.md asks the operator to provide
  for (const s of vaultStores) {
    const cp = s.spec.provider.vault.caProvider;
    if (!cp) continue;
    const kind = cp.type === 'Secret' ? 'Secret' : 'ConfigMap';
    const obj = { apiVersion: 'v1', kind, metadata: { name: cp.name, namespace: cp.namespace ?? 'external-secrets', labels: { 'stackbook.io/test-fixture': 'prerequisite' } } };
    if (kind === 'Secret') obj.stringData = { [cp.key]: caPem };
    else obj.data = { [cp.key]: caPem };
    fixtures.push(obj);
    detail.push(`prerequisite: ${kind} ${obj.metadata.namespace}/${cp.name} key ${cp.key} = the private CA`);
  }
  let r = await applyObjects(kubeconfig, fixtures);
  if (r.code !== 0) return cell(row, 'external-secrets', 'FAIL', 'fixtures', [head(r.stderr)]);
  const tok = async (sa) => (await kc(kubeconfig, ['create', 'token', sa, '-n', 'external-secrets', '--duration=2h'])).stdout.trim();
  const reviewer = await tok('vault-reviewer');
  const esoToken = await tok('external-secrets');
  const apiServer = yaml.load(readFileSync(kubeconfig, 'utf8')).clusters[0].cluster.server;
  const kubeCa = readFileSync(join(dirname(kubeconfig), 'pki/ca.crt'), 'utf8');
  for (const s of vaultStores) {
    const auth = s.spec.provider.vault.auth ?? {};
    if (auth.kubernetes) {
      const path = auth.kubernetes.mountPath ?? 'kubernetes';
      await vaultApiFn(addr, token, 'POST', `sys/auth/${path}`, { type: 'kubernetes' }).catch((e) => {
        if (!/already in use/.test(String(e))) throw e;
      });
      await vaultApiFn(addr, token, 'POST', `auth/${path}/config`, {
        kubernetes_host: apiServer, kubernetes_ca_cert: kubeCa, token_reviewer_jwt: reviewer, disable_local_ca_jwt: true,
      });
      await vaultApiFn(addr, token, 'POST', `auth/${path}/role/${auth.kubernetes.role}`, {
        bound_service_account_names: ['external-secrets'], bound_service_account_namespaces: ['external-secrets'], token_policies: ['stackbook-read'], token_ttl: '1h',
      });
      detail.push(`Vault auth ${path}: role ${auth.kubernetes.role} for ServiceAccount external-secrets/external-secrets, TokenReview against the tier's API server`);
    } else if (auth.tokenSecretRef) {
      const t = await vaultApiFn(addr, token, 'POST', 'auth/token/create', { policies: ['stackbook-read'], ttl: '2h' });
      const ref = auth.tokenSecretRef;
      await applyObjects(kubeconfig, [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: ref.namespace ?? 'external-secrets' }, stringData: { [ref.key ?? 'token']: t.auth.client_token } }]);
      detail.push(`Vault token auth: Secret ${ref.namespace}/${ref.name} holds a token with read on the seeded paths`);
    } else {
      problems.push(`store ${s.metadata.name}: auth ${Object.keys(auth).join(',') || '(none)'} not set up by the tier`);
    }
  }

  // negative case: the store with a caProvider, copied without it, must be refused (x509)
  const negatives = vaultStores
    .filter((s) => s.spec.provider.vault.caProvider)
    .map((s) => {
      const c = structuredClone(s);
      c.metadata = { name: `${s.metadata.name}-without-ca`, labels: { 'stackbook.io/test-fixture': 'negative' } };
      delete c.spec.provider.vault.caProvider;
      return c;
    });

  // the controller: a private mount namespace gives it the in-cluster token path its Kubernetes auth
  // reads (pkg/provider/vault/auth_kubernetes.go serviceAccTokenPath) without touching the host
  const proxy = await connectProxy(
    Object.fromEntries(vaultStores.map((s) => {
      const u = new URL(s.spec.provider.vault.server);
      return [`${u.hostname}:${u.port || 443}`, { port: tlsPort }];
    })),
    join(ctx.logs, 'vault-proxy.log'),
  );
  const tokFile = join(dir, 'eso-sa-token');
  writeFileSync(tokFile, esoToken, { mode: 0o600 });
  const metricsPort = await freePort();
  const publicTrust = vaultStores.some((s) => !s.spec.provider.vault.caProvider);
  const env = {
    ...process.env, KUBECONFIG: kubeconfig, HTTPS_PROXY: proxy.url, https_proxy: proxy.url, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost',
    // a store without caProvider stands for a publicly trusted Vault: the test CA is then the system trust
    ...(publicTrust ? { SSL_CERT_FILE: pki.ca } : { SSL_CERT_DIR: '/nonexistent', SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt' }),
  };
  const sh = `set -e; mount -t tmpfs -o size=1m stackbook-sa /run; mkdir -p /run/secrets/kubernetes.io/serviceaccount
    cp "$1" /run/secrets/kubernetes.io/serviceaccount/token; shift; exec "$@"`;
  daemon('external-secrets', 'unshare', ['-m', '--propagation', 'private', 'sh', '-c', sh, 'eso', tokFile, BIN['external-secrets'],
    `--metrics-addr=127.0.0.1:${metricsPort}`, '--enable-leader-election=false', '--loglevel=info', '--zap-time-encoding=iso8601',
    '--enable-cluster-external-secret-reconciler=false', '--enable-push-secret-reconciler=false', '--enable-cluster-push-secret-reconciler=false',
    '--store-requeue-interval=10s'], join(ctx.logs, 'external-secrets.log'), env);
  if (negatives.length) {
    r = await applyObjects(kubeconfig, negatives);
    if (r.code !== 0) problems.push(`negative store: ${head(r.stderr)}`);
  }

  const storeKind = (s) => (s.kind === 'ClusterSecretStore' ? 'clustersecretstore' : `secretstore -n ${s.metadata.namespace}`);
  const ready = await waitFor(async () => {
    const st = [];
    for (const s of vaultStores) st.push({ s, live: (await getJson(kubeconfig, [...storeKind(s).split(' '), s.metadata.name]))[0] });
    const es = [];
    for (const e of ess) es.push({ e, live: (await getJson(kubeconfig, ['externalsecret', '-n', e.metadata.namespace, e.metadata.name]))[0] });
    const neg = [];
    for (const n of negatives) neg.push({ n, live: (await getJson(kubeconfig, ['clustersecretstore', n.metadata.name]))[0] });
    const ok = (o) => condition(o, 'Ready')?.status === 'True';
    const refused = (o) => condition(o, 'Ready')?.status === 'False';
    return { done: st.every((x) => ok(x.live)) && es.every((x) => ok(x.live)) && neg.every((x) => refused(x.live)), st, es, neg };
  });
  if (ready?.error) problems.push(`waiting: ${ready.error}`);
  for (const { s, live } of ready?.st ?? []) {
    const c = condition(live, 'Ready');
    if (c?.status === 'True') detail.push(`${s.kind} ${s.metadata.name}: Ready (${c.reason}: ${c.message})`);
    else problems.push(`${s.kind} ${s.metadata.name}: not Ready: ${c ? `${c.reason}: ${c.message}` : 'no condition'}`);
  }
  for (const { e, live } of ready?.es ?? []) {
    const c = condition(live, 'Ready');
    const name = `${e.metadata.namespace}/${e.metadata.name}`;
    if (c?.status !== 'True') {
      problems.push(`ExternalSecret ${name}: not Ready: ${c ? `${c.reason}: ${c.message}` : 'no condition'}`);
      continue;
    }
    const target = e.spec.target?.name ?? e.metadata.name;
    const secret = (await getJson(kubeconfig, ['secret', '-n', e.metadata.namespace, target]))[0];
    const declared = (e.spec.data ?? []).map((d) => d.secretKey).sort();
    const got = Object.keys(secret.data ?? {}).sort();
    const values = (e.spec.data ?? []).every((d) => Buffer.from(secret.data?.[d.secretKey] ?? '', 'base64').toString() === want.get(d.remoteRef.key)?.[d.remoteRef.property ?? 'value']);
    if (JSON.stringify(declared) !== JSON.stringify(got)) problems.push(`ExternalSecret ${name}: Secret ${target} keys [${got}] != declared [${declared}]`);
    else if (!values) problems.push(`ExternalSecret ${name}: Secret ${target} values differ from what Vault holds`);
    else detail.push(`ExternalSecret ${name}: Ready; Secret ${target} has exactly [${got.join(', ')}] with Vault's values`);
  }
  for (const { n, live } of ready?.neg ?? []) {
    const c = condition(live, 'Ready');
    // the controller's reason is in its log (the condition only says "unable to create client")
    const why = readFileSync(join(ctx.logs, 'external-secrets.log'), 'utf8').split('\n').find((l) => l.includes(n.metadata.name) && /x509|certificate/.test(l));
    const x509 = /(tls: [^"]*|x509: [^"]*)/.exec(why ?? '')?.[1];
    if (c?.status === 'False' && x509) detail.push(`negative: ${n.metadata.name} (the store without caProvider) refused: ${c.reason}: ${c.message}; controller log: ${x509}`);
    else if (c?.status === 'False') problems.push(`negative: ${n.metadata.name} refused, but not for the CA (no x509/TLS error in the controller log): ${c.reason}: ${c.message}`);
    else problems.push(`negative: ${n.metadata.name} (the store without caProvider) was not refused: ${c ? `${c.status} ${c.message}` : 'no condition'}`);
  }
  await stopDaemon('external-secrets');
  await stopDaemon('vault');
  proxy.close();
  const asserted = `${stub ? `Vault API stand-in (real Vault ${V.VAULT_VERSION} ${NOT_BUILT.has('vault') ? 'NOT BUILT' : 'not in the tool cache'})` : `Vault ${V.VAULT_VERSION} dev server`} (TLS, private CA; ${vaultStores.map((s) => (s.spec.provider.vault.caProvider ? `${s.metadata.name}: CA from caProvider only` : `${s.metadata.name}: CA as system trust`)).join('; ')}): ${vaultStores.length} store(s) + ${ess.length} ExternalSecret(s) Ready, Secrets with exactly the declared keys${negatives.length ? `; store without CA refused` : ''}`;
  cell(row, 'external-secrets', problems.length ? 'FAIL' : 'PASS', asserted, [...problems.map((p) => `FAIL ${p}`), ...detail]);
}

// ------------------------------------------------------------------ KEDA
async function testKeda(row, ctx) {
  const { docs, kubeconfig } = ctx;
  const sos = docs.filter((d) => d.kind === 'ScaledObject');
  if (sos.length === 0) return cell(row, 'keda', 'n/a', 'no ScaledObject in the bundle');
  if (!existsSync(BIN.keda)) return cell(row, 'keda', 'BLOCKED', notBuilt('keda'));
  const problems = [];
  const detail = [];
  // the KEDA CRDs the shared directory lacks (ScaledJob, TriggerAuthentication, ...): the operator
  // waits for every kind it watches; from the module it was built from (config/crd/bases)
  const crdDir = join(await moduleDir('github.com/kedacore/keda/v2', V.KEDA_VERSION), 'config/crd/bases');
  const have = new Set((await getJson(kubeconfig, ['crd'])).map((c) => c.metadata.name));
  const missing = readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).map((f) => yaml.load(readFileSync(join(crdDir, f), 'utf8')))
    .filter((c) => c?.kind === 'CustomResourceDefinition' && !have.has(c.metadata.name));
  let r = await applyObjects(kubeconfig, missing);
  if (r.code !== 0) return cell(row, 'keda', 'FAIL', 'KEDA CRDs', [head(r.stderr)]);
  await kc(kubeconfig, ['wait', '--for=condition=Established', 'crd', ...missing.map((c) => c.metadata.name), '--timeout=60s']);
  detail.push(`CRDs from the KEDA module (not in the shared directory): ${missing.map((c) => c.metadata.name).join(', ')}`);
  r = await applyObjects(kubeconfig, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'keda', labels: { 'stackbook.io/test-fixture': 'controllers' } } }]);
  if (r.code !== 0) problems.push(head(r.stderr));
  // KEDA resolves the scale target's env (secretKeyRef): the Secrets the bundle declares as made by
  // Pulumi or existing are created with random values, as Pulumi / the operator would
  // (and those external-secrets makes from Vault, which the tier checks separately)
  const nsNames = new Set(docs.filter((d) => d.kind === 'Namespace').map((d) => d.metadata.name));
  const declared = (ctx.secrets ?? []).filter((x) => x.keys.length && nsNames.has(x.namespace));
  r = await applyObjects(kubeconfig, declared.map((x) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: x.name, namespace: x.namespace, labels: { 'stackbook.io/test-fixture': `secret-${x.source}` } }, stringData: Object.fromEntries(x.keys.map((k) => [k, randomBytes(8).toString('hex')])) })));
  if (r.code !== 0) problems.push(`declared secrets: ${head(r.stderr)}`);
  const env = { ...process.env, KUBECONFIG: kubeconfig, WATCH_NAMESPACE: '', KEDA_CLUSTER_OBJECT_NAMESPACE: 'keda', POD_NAMESPACE: 'keda', OPERATOR_NAME: 'keda-operator' };
  const mport = await freePort();
  const hport = await freePort();
  const gport = await freePort();
  // the operator's gRPC metrics service reads its TLS files from --cert-dir (ca.crt, tls.crt, tls.key)
  const kpki = await makePki(join(ctx.dir, 'keda-pki'), ['keda-operator', 'keda-operator.keda.svc']);
  const certDir = join(ctx.dir, 'keda-certs');
  mkdirSync(certDir, { recursive: true });
  writeFileSync(join(certDir, 'ca.crt'), readFileSync(kpki.ca));
  writeFileSync(join(certDir, 'tls.crt'), readFileSync(kpki.cert));
  writeFileSync(join(certDir, 'tls.key'), readFileSync(kpki.key));
  daemon('keda', BIN.keda, ['--leader-elect=false', `--metrics-bind-address=127.0.0.1:${mport}`, `--health-probe-bind-address=127.0.0.1:${hport}`,
    `--metrics-service-bind-address=127.0.0.1:${gport}`, `--cert-dir=${certDir}`,
    '--enable-cert-rotation=false', '--zap-log-level=info'], join(ctx.logs, 'keda.log'), env);
  const res = await waitFor(async () => {
    const out = [];
    for (const so of sos) {
      const live = (await getJson(kubeconfig, ['scaledobject', '-n', so.metadata.namespace, so.metadata.name]))[0];
      const hpaName = live.status?.hpaName ?? `keda-hpa-${so.metadata.name}`;
      const hpa = (await kc(kubeconfig, ['get', 'hpa', '-n', so.metadata.namespace, hpaName, '-o', 'json'])).stdout;
      out.push({ so, live, hpa: hpa ? JSON.parse(hpa) : undefined });
    }
    return { done: out.every((x) => condition(x.live, 'Ready')?.status === 'True' && x.hpa), out };
  });
  if (res?.error) problems.push(res.error);
  for (const { so, live, hpa } of res?.out ?? []) {
    const name = `${so.metadata.namespace}/${so.metadata.name}`;
    const c = condition(live, 'Ready');
    if (c?.status !== 'True') problems.push(`ScaledObject ${name}: not Ready: ${c ? `${c.reason}: ${c.message}` : 'no condition'}`);
    if (!hpa) {
      problems.push(`ScaledObject ${name}: no HPA`);
      continue;
    }
    const owned = (hpa.metadata.ownerReferences ?? []).some((o) => o.kind === 'ScaledObject' && o.name === so.metadata.name && o.controller);
    const min = so.spec.minReplicaCount ?? 1;
    const max = so.spec.maxReplicaCount ?? 100;
    if (!owned) problems.push(`HPA ${hpa.metadata.name}: not owned by ScaledObject ${so.metadata.name}`);
    if (hpa.spec.minReplicas !== min || hpa.spec.maxReplicas !== max) problems.push(`HPA ${hpa.metadata.name}: min/max ${hpa.spec.minReplicas}/${hpa.spec.maxReplicas} != declared ${min}/${max}`);
    const health = Object.entries(live.status?.health ?? {}).filter(([, h]) => h.status !== 'Happy' || h.numberOfFailures > 0);
    if (health.length) problems.push(`ScaledObject ${name}: trigger errors: ${JSON.stringify(health)}`);
    if (owned && hpa.spec.minReplicas === min && hpa.spec.maxReplicas === max) {
      detail.push(`ScaledObject ${name}: Ready; HPA ${hpa.metadata.name} owned, ${min}..${max}, metrics ${(hpa.spec.metrics ?? []).map((m) => m.resource?.name ?? m.external?.metric?.name ?? m.type).join(',')}`);
    }
  }
  await sleep(5000);
  const klog = readFileSync(join(ctx.logs, 'keda.log'), 'utf8');
  const scalerErrors = klog.split('\n').filter((l) => /"level":"error"|\bERROR\b/.test(l) && /scal/i.test(l));
  if (scalerErrors.length) problems.push(`operator logged scaler errors:\n${scalerErrors.slice(0, 5).join('\n')}`);
  await stopDaemon('keda');
  const types = [...new Set(sos.flatMap((s) => s.spec.triggers.map((t) => t.type)))].join(', ');
  cell(row, 'keda', problems.length ? 'FAIL' : 'PASS', `KEDA ${V.KEDA_VERSION}: ${sos.length} ScaledObject(s) Ready, each owns an HPA with the declared bounds; triggers (${types}) report no error with no workload metrics (idle)`, [...problems.map((p) => `FAIL ${p}`), ...detail]);
}

// ------------------------------------------------------------------ prometheus-operator
async function testPromOperator(row, ctx) {
  const { docs, kubeconfig, dir } = ctx;
  const sms = docs.filter((d) => d.kind === 'ServiceMonitor');
  const pms = docs.filter((d) => d.kind === 'PodMonitor');
  const rules = docs.filter((d) => d.kind === 'PrometheusRule');
  if (!sms.length && !pms.length && !rules.length) return cell(row, 'prometheus-operator', 'n/a', 'no monitors or rules');
  if (!existsSync(BIN['prometheus-operator'])) return cell(row, 'prometheus-operator', 'BLOCKED', notBuilt('prometheus-operator'));
  const problems = [];
  const detail = [];
  const ns = 'stackbook-monitoring-test';
  const prom = {
    apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus', metadata: { name: 'stackbook', namespace: ns },
    spec: {
      serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}, podMonitorSelector: {}, podMonitorNamespaceSelector: {},
      ruleSelector: {}, ruleNamespaceSelector: {}, probeSelector: {}, probeNamespaceSelector: {}, scrapeConfigSelector: {}, scrapeConfigNamespaceSelector: {},
      replicas: 1, serviceAccountName: 'prometheus',
      // the configuration is generated for the Prometheus that loads it: the one built from the
      // module (tools/build.sh prometheus, the operator's default version) or else Debian's promtool
      version: REAL_PROMETHEUS ? V.PROMETHEUS_VERSION : PROMTOOL_VERSION,
      // Prometheus runs out of cluster: its Kubernetes SD reaches the tier's API server the way the
      // operator provides for that (spec.apiserverConfig -> kubernetes_sd_configs api_server +
      // tls_config in the generated configuration; the admin client certificate of the tier)
      ...(REAL_PROMETHEUS ? {
        serviceDiscoveryRole: 'EndpointSlice',
        apiserverConfig: {
          host: yaml.load(readFileSync(kubeconfig, 'utf8')).clusters[0].cluster.server,
          tlsConfig: { caFile: join(dirname(kubeconfig), 'pki/ca.crt'), certFile: join(dirname(kubeconfig), 'pki/admin.crt'), keyFile: join(dirname(kubeconfig), 'pki/admin.key') },
        },
      } : {}),
    },
  };
  // Secrets the monitors reference (bearer tokens, basic auth, TLS): every one must be a secret the
  // bundle declares (secrets.json: Pulumi-made, existing or from Vault); the tier creates those
  // with random values, as the Pulumi program / the operator would. An undeclared one fails.
  const refs = [];
  const walk = (o, ns, where) => {
    if (!o || typeof o !== 'object') return;
    if (typeof o.name === 'string' && typeof o.key === 'string' && Object.keys(o).every((k) => ['name', 'key', 'optional'].includes(k))) refs.push({ ns, name: o.name, key: o.key, where });
    for (const v of Object.values(o)) walk(v, ns, where);
  };
  for (const m of [...sms, ...pms]) for (const ep of (m.kind === 'ServiceMonitor' ? m.spec.endpoints : m.spec.podMetricsEndpoints) ?? []) walk(ep, m.metadata.namespace, `${m.kind} ${m.metadata.namespace}/${m.metadata.name}`);
  const declared = ctx.secrets ?? [];
  const secretFixtures = [];
  for (const ref of refs) {
    const d = declared.find((x) => x.namespace === ref.ns && x.name === ref.name);
    if (!d) {
      problems.push(`${ref.where} references Secret or ConfigMap ${ref.ns}/${ref.name} key ${ref.key}, which the bundle does not declare (secrets.json)`);
      continue;
    }
    if (d.keys.length && !d.keys.includes(ref.key)) problems.push(`${ref.where} references key ${ref.key} of Secret ${ref.ns}/${ref.name}, declared keys: ${d.keys.join(', ')}`);
    secretFixtures.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: ref.ns, labels: { 'stackbook.io/test-fixture': `secret-${d.source}` } }, stringData: { [ref.key]: randomBytes(12).toString('hex') } });
    detail.push(`${ref.where}: Secret ${ref.ns}/${ref.name} (${d.source}) created by the tier with key ${ref.key}`);
  }
  // the operator's own CRDs the shared directory lacks (Prometheus, Alertmanager, ...): from the
  // module the operator was built from (its example/prometheus-operator-crd), read at test time
  const crdDir = join(await moduleDir('github.com/prometheus-operator/prometheus-operator', V.PROMETHEUS_OPERATOR_VERSION), 'example/prometheus-operator-crd');
  const have = new Set((await getJson(kubeconfig, ['crd'])).map((c) => c.metadata.name));
  const missing = readdirSync(crdDir).map((f) => yaml.load(readFileSync(join(crdDir, f), 'utf8'))).filter((c) => c?.kind === 'CustomResourceDefinition' && !have.has(c.metadata.name));
  let r = await applyObjects(kubeconfig, missing);
  if (r.code !== 0) return cell(row, 'prometheus-operator', 'FAIL', 'operator CRDs', [head(r.stderr)]);
  await kc(kubeconfig, ['wait', '--for=condition=Established', 'crd', ...missing.map((c) => c.metadata.name), '--timeout=60s']);
  detail.push(`CRDs from the operator module (not in the shared directory): ${missing.map((c) => c.metadata.name.split('.')[0]).join(', ')}`);
  r = await applyObjects(kubeconfig, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'stackbook.io/test-fixture': 'controllers' } } }]);
  if (secretFixtures.length) {
    r = await applyObjects(kubeconfig, secretFixtures);
    if (r.code !== 0) problems.push(`secret fixtures: ${head(r.stderr)}`);
  }
  r = await applyObjects(kubeconfig, [prom]);
  if (r.code !== 0) return cell(row, 'prometheus-operator', 'FAIL', 'Prometheus resource refused', [head(r.stderr)]);
  const port = await freePort();
  daemon('prometheus-operator', BIN['prometheus-operator'], [`--web.listen-address=127.0.0.1:${port}`, '--log-level=info'],
    join(ctx.logs, 'prometheus-operator.log'), { ...process.env, KUBECONFIG: kubeconfig });
  const got = await waitFor(async () => {
    const s = (await getJson(kubeconfig, ['secret', '-n', ns, 'prometheus-stackbook']))[0];
    const gz = s.data?.['prometheus.yaml.gz'];
    if (!gz) return { done: false };
    const cfg = yaml.load(gunzipSync(Buffer.from(gz, 'base64')).toString());
    const cms = await getJson(kubeconfig, ['configmap', '-n', ns, '-l', 'prometheus-name=stackbook']);
    const ruleFiles = Object.assign({}, ...cms.map((c) => c.data ?? {}));
    const ruleCount = Object.keys(ruleFiles).length;
    return { done: ruleCount >= rules.length && (cfg.scrape_configs?.length ?? 0) > 0, cfg, ruleFiles };
  });
  if (!got?.cfg) {
    problems.push(`no generated configuration (Secret ${ns}/prometheus-stackbook): ${got?.error ?? ''}`);
  } else {
    const jobs = (got.cfg.scrape_configs ?? []).map((j) => j.job_name);
    for (const m of [...sms, ...pms]) {
      const kind = m.kind === 'ServiceMonitor' ? 'serviceMonitor' : 'podMonitor';
      const eps = (m.kind === 'ServiceMonitor' ? m.spec.endpoints : m.spec.podMetricsEndpoints) ?? [];
      for (let i = 0; i < eps.length; i++) {
        const job = `${kind}/${m.metadata.namespace}/${m.metadata.name}/${i}`;
        if (!jobs.includes(job)) problems.push(`no scrape job ${job}`);
      }
    }
    const groupsWanted = rules.flatMap((pr) => (pr.spec.groups ?? []).map((g) => `${pr.metadata.namespace}/${pr.metadata.name}/${g.name}`));
    // rule files are named <namespace>-<PrometheusRule name>-<uid>.yaml by the operator
    const parsed = Object.entries(got.ruleFiles).map(([file, text]) => ({ file, groups: (yaml.load(text)?.groups ?? []).map((g) => g.name) }));
    for (const g of groupsWanted) {
      const [nsName, prName, gName] = g.split('/');
      if (!parsed.some((f) => f.file.startsWith(`${nsName}-${prName}-`) && f.groups.includes(gName))) problems.push(`rule group ${g} missing from the generated rule files`);
    }
    // the generated configuration, rule files written next to it; files the jobs name (tokens,
    // CAs, client certificates) are written where the operator's Prometheus Pod would mount them
    const pdir = join(dir, 'prometheus');
    mkdirSync(join(pdir, 'rules'), { recursive: true });
    mkdirSync(join(pdir, 'files'), { recursive: true });
    for (const [f, t] of Object.entries(got.ruleFiles)) writeFileSync(join(pdir, 'rules', f), t);
    const cfg = structuredClone(got.cfg);
    cfg.rule_files = [join(pdir, 'rules', '*.yaml')];
    const pki = join(dirname(kubeconfig), 'pki');
    let stubbed = 0;
    const remap = (o) => {
      if (!o || typeof o !== 'object') return;
      for (const [k, v] of Object.entries(o)) {
        if (k === 'kubernetes_sd_configs') continue; // api_server + tls_config: the tier's real files
        if (typeof v === 'string' && /_file$/.test(k) && v.startsWith('/')) {
          const local = join(pdir, 'files', v.replaceAll('/', '_'));
          const real = { ca_file: 'ca.crt', cert_file: 'admin.crt', key_file: 'admin.key' }[k];
          writeFileSync(local, real ? readFileSync(join(pki, real)) : 'test');
          o[k] = local;
          stubbed += 1;
        } else remap(v);
      }
    };
    remap(cfg.scrape_configs);
    const nJobs = jobs.filter((j) => /^(serviceMonitor|podMonitor)\//.test(j)).length;
    if (REAL_PROMETHEUS) {
      // what prometheus-config-reloader does in the Pod before Prometheus reads the file: expand
      // $(VAR) from its environment; the operator sets SHARD (pkg/operator/config_reloader.go:289,
      // v0.85.0) and its sharding relabel keeps "$(SHARD);|.+;.+" (pkg/prometheus/promcfg.go:2145)
      const reloaderEnv = { SHARD: '0', POD_NAME: 'prometheus-stackbook-0' };
      const text = yaml.dump(cfg).replace(/\$\(([A-Z_]+)\)/g, (m, v) => reloaderEnv[v] ?? m);
      writeFileSync(join(pdir, 'prometheus.yaml'), text);
      writeFileSync(join(ctx.logs, 'prometheus.yaml'), text);
      const pt = await run(PROMETHEUS_BIN.promtool, ['check', 'config', join(pdir, 'prometheus.yaml')]);
      writeFileSync(join(ctx.logs, 'promtool.log'), pt.stdout + pt.stderr);
      if (pt.code !== 0) problems.push(`promtool ${V.PROMETHEUS_VERSION} check config (exit ${pt.code}):\n${head(pt.stdout + pt.stderr, 12)}`);
      detail.push(`generated config (for Prometheus ${V.PROMETHEUS_VERSION}, serviceDiscoveryRole EndpointSlice, apiserverConfig = the tier's API server): ${nJobs} scrape jobs for ${sms.length} ServiceMonitors + ${pms.length} PodMonitors; ${Object.keys(got.ruleFiles).length} rule files, ${groupsWanted.length} groups wanted; promtool ${V.PROMETHEUS_VERSION} check config ${pt.code === 0 ? 'SUCCESS' : 'FAILED'}; ${stubbed} referenced secret files stood in`);
      await prometheusDiscovery(row, { ...ctx, pdir, cfg, sms, pms, groupsWanted });
    } else {
      // Debian's prometheus/promtool 2.42 is built without Kubernetes service discovery (its config
      // parser does not know kubernetes_sd_configs): each is replaced by one static target so the rest
      // of the job (relabelling, auth, TLS, limits) and the rules are still checked.
      let sdReplaced = 0;
      for (const j of cfg.scrape_configs ?? []) {
        if (j.kubernetes_sd_configs) {
          delete j.kubernetes_sd_configs;
          j.static_configs = [{ targets: ['127.0.0.1:9'] }];
          sdReplaced += 1;
        }
      }
      writeFileSync(join(pdir, 'prometheus.yaml'), yaml.dump(cfg));
      const pt = await run('promtool', ['check', 'config', join(pdir, 'prometheus.yaml')]);
      writeFileSync(join(ctx.logs, 'promtool.log'), pt.stdout + pt.stderr);
      if (pt.code !== 0) problems.push(`promtool check config (exit ${pt.code}):\n${head(pt.stdout + pt.stderr, 12)}`);
      detail.push(`promtool ${PROMTOOL_VERSION} (Debian) lacks Kubernetes SD: ${sdReplaced} kubernetes_sd_configs replaced by a static target for the check; ${stubbed} referenced files stubbed`);
      detail.push(`generated config: ${nJobs} scrape jobs for ${sms.length} ServiceMonitors + ${pms.length} PodMonitors; ${Object.keys(got.ruleFiles).length} rule files, ${groupsWanted.length} groups wanted; promtool: ${head(pt.stdout, 1)} ${pt.code === 0 ? 'SUCCESS' : ''}`);
      cell(row, 'prometheus-sd', 'BLOCKED', `Prometheus ${V.PROMETHEUS_VERSION} ${notBuilt('prometheus')}; Debian's ${PROMTOOL_VERSION} has no Kubernetes SD`);
    }
  }
  await stopDaemon('prometheus-operator');
  cell(row, 'prometheus-operator', problems.length ? 'FAIL' : 'PASS', `prometheus-operator ${V.PROMETHEUS_OPERATOR_VERSION}: a Prometheus selecting every monitor and rule; a scrape job per monitor endpoint, every rule group, promtool ${REAL_PROMETHEUS ? V.PROMETHEUS_VERSION : PROMTOOL_VERSION} check config passes`, [...problems.map((p) => `FAIL ${p}`), ...detail]);
}

// ------------------------------------------------------------------ Prometheus's own Kubernetes SD
/** A LabelSelector as a kubectl -l string. */
const selectorString = (sel = {}) => [
  ...Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
  ...(sel.matchExpressions ?? []).map((e) => ({ In: `${e.key} in (${e.values.join(',')})`, NotIn: `${e.key} notin (${e.values.join(',')})`, Exists: e.key, DoesNotExist: `!${e.key}` })[e.operator]),
].join(',');

/**
 * Real Prometheus (built from the module, tools/build.sh prometheus) loads the configuration the
 * operator generated, with its kubernetes_sd_configs unchanged (api_server/tls_config from the
 * Prometheus resource's apiserverConfig), and its own Kubernetes service discovery runs against the
 * tier's API server. Asserted through its HTTP API, after discovery: every rule group loaded, and
 * for every ServiceMonitor/PodMonitor endpoint the active targets of its scrape pool are exactly
 * the addresses the API server holds for it (EndpointSlice endpoints on the named Service port /
 * Pod IPs on the named container port; kwok gives Pods IPs and Ready, the controller manager fills
 * the slices). Scrapes fail (no real Pods): discovery is asserted, not health.
 */
async function prometheusDiscovery(row, ctx) {
  const { kubeconfig, pdir, sms, pms, groupsWanted, docs } = ctx;
  const problems = [];
  const detail = [];
  const port = await freePort();
  const plog = join(ctx.logs, 'prometheus.log');
  daemon('prometheus', PROMETHEUS_BIN.prometheus, [`--config.file=${join(pdir, 'prometheus.yaml')}`, `--storage.tsdb.path=${join(pdir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=info'], plog);
  const base = `http://127.0.0.1:${port}`;
  const api = async (path) => {
    const r = await fetch(`${base}${path}`);
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return (await r.json()).data;
  };
  const ready = await waitFor(async () => ({ done: (await fetch(`${base}/-/ready`)).ok }), 90);
  if (!ready?.done) {
    problems.push(`Prometheus did not become ready: ${head(readFileSync(plog, 'utf8').split('\n').slice(-8).join('\n'), 8)}`);
    return cell(row, 'prometheus-sd', 'FAIL', `Prometheus ${V.PROMETHEUS_VERSION}`, problems.map((p) => `FAIL ${p}`));
  }
  const version = (await api('/api/v1/status/buildinfo').catch(() => ({})))?.version;
  // what the API server holds, per monitor endpoint: "ip:port" the scrape pool must target
  const expectedNow = async () => {
  const expected = [];
  for (const m of sms) {
    const nss = m.spec.namespaceSelector?.matchNames ?? [m.metadata.namespace];
    for (const [i, ep] of (m.spec.endpoints ?? []).entries()) {
      const addrs = new Set();
      const services = [];
      for (const ns of nss) {
        for (const svc of await getJson(kubeconfig, ['svc', '-n', ns, '-l', selectorString(m.spec.selector)])) {
          if (!(svc.spec.ports ?? []).some((p) => p.name === ep.port)) continue;
          services.push(`${ns}/${svc.metadata.name}`);
          for (const sl of await getJson(kubeconfig, ['endpointslices', '-n', ns, '-l', `kubernetes.io/service-name=${svc.metadata.name}`])) {
            for (const p of (sl.ports ?? []).filter((x) => x.name === ep.port)) for (const e of sl.endpoints ?? []) for (const a of e.addresses) addrs.add(`${a}:${p.port}`);
          }
        }
      }
      expected.push({ job: `serviceMonitor/${m.metadata.namespace}/${m.metadata.name}/${i}`, port: ep.port, portLabel: '__meta_kubernetes_endpointslice_port_name', addrs, from: `Service(s) ${services.join(', ') || 'none'} port ${ep.port}` });
    }
  }
  for (const m of pms) {
    const nss = m.spec.namespaceSelector?.matchNames ?? [m.metadata.namespace];
    for (const [i, ep] of (m.spec.podMetricsEndpoints ?? []).entries()) {
      const addrs = new Set();
      let pods = 0;
      for (const ns of nss) {
        for (const pod of await getJson(kubeconfig, ['pods', '-n', ns, '-l', selectorString(m.spec.selector)])) {
          if (['Succeeded', 'Failed'].includes(pod.status?.phase) || !pod.status?.podIP) continue;
          pods += 1;
          for (const c of pod.spec.containers) for (const p of (c.ports ?? []).filter((x) => x.name === ep.port)) addrs.add(`${pod.status.podIP}:${p.containerPort}`);
        }
      }
      // Pods nothing in the bundle creates (a Strimzi Kafka, a CloudNativePG cluster: their operators
      // make them, and those operators are not in this tier) cannot be discovered here: reported
      const sel = m.spec.selector?.matchLabels ?? {};
      const fromBundle = docs.some((d) => d.spec?.template?.metadata?.labels && Object.entries(sel).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
      expected.push({ job: `podMonitor/${m.metadata.namespace}/${m.metadata.name}/${i}`, port: ep.port, portLabel: '__meta_kubernetes_pod_container_port_name', addrs, from: `${pods} Pod(s) port ${ep.port}`, operatorPods: !fromBundle && pods === 0 });
    }
  }
  return expected;
  };
  // after discovery has run: every pool with what the API server holds (or the time is up)
  let expected = [];
  const seen = await waitFor(async () => {
    expected = await expectedNow();
    const t = await api('/api/v1/targets?state=active');
    const byPool = new Map();
    for (const x of t.activeTargets ?? []) byPool.set(x.scrapePool, [...(byPool.get(x.scrapePool) ?? []), x]);
    return { done: expected.every((e) => (byPool.get(e.job)?.length ?? 0) >= e.addrs.size && (e.addrs.size > 0 || e.operatorPods)), byPool };
  }, 120);
  const byPool = seen?.byPool ?? new Map();
  let withTargets = 0;
  for (const e of expected) {
    const ts = byPool.get(e.job) ?? [];
    const got = new Set(ts.map((t) => t.discoveredLabels?.__address__));
    const wrongPort = ts.filter((t) => t.discoveredLabels?.[e.portLabel] !== e.port);
    if (e.operatorPods) {
      detail.push(`${e.job}: no Pods in the tier (they are made by an operator the tier does not run, e.g. Strimzi/CloudNativePG); ${ts.length} target(s)`);
      continue;
    }
    if (e.addrs.size === 0) {
      problems.push(`${e.job}: nothing to discover: ${e.from} has no endpoints in the tier's cluster`);
      continue;
    }
    const missing = [...e.addrs].filter((a) => !got.has(a));
    const extra = [...got].filter((a) => !e.addrs.has(a));
    // one target per address: a Pod reached through two selected Services is scraped twice
    if (ts.length > got.size) {
      problems.push(`${e.job}: ${ts.length} targets for ${got.size} addresses: Pods scraped more than once (${[...new Set(ts.map((t) => t.discoveredLabels?.__meta_kubernetes_service_name))].join(' + ')})`);
      continue;
    }
    if (missing.length || extra.length || wrongPort.length) {
      problems.push(`${e.job}: targets [${[...got].sort()}] != the API server's [${[...e.addrs].sort()}] (${e.from})${wrongPort.length ? `; ${wrongPort.length} not on port ${e.port}` : ''}`);
      continue;
    }
    withTargets += 1;
    const health = [...new Set(ts.map((t) => t.health))].join('/');
    detail.push(`${e.job}: ${ts.length} target(s) discovered on port ${e.port} = the API server's ${e.from} [${[...got].sort().join(', ')}] (scrape ${health}: no real Pods)`);
  }
  // rules: the groups Prometheus loaded
  const groups = (await api('/api/v1/rules').catch(() => ({ groups: [] }))).groups ?? [];
  const loaded = new Set(groups.map((g) => g.name));
  const notLoaded = groupsWanted.filter((g) => !loaded.has(g.split('/')[2]));
  if (notLoaded.length) problems.push(`rule groups not loaded by Prometheus: ${notLoaded.join(', ')}`);
  const sdErrors = readFileSync(plog, 'utf8').split('\n').filter((l) => /level=(error|ERROR)/.test(l) && /discovery|kubernetes/i.test(l));
  if (sdErrors.length) problems.push(`service discovery errors in prometheus.log:\n${sdErrors.slice(0, 4).join('\n')}`);
  await stopDaemon('prometheus');
  cell(row, 'prometheus-sd', problems.length ? 'FAIL' : 'PASS',
    `Prometheus ${version ?? V.PROMETHEUS_VERSION} (built from github.com/prometheus/prometheus ${V.PROMETHEUS_MODULE_VERSION}) on the operator's configuration: its Kubernetes SD (role endpointslice/pod) against the tier's API server finds, for ${withTargets} of ${expected.length} monitor endpoints, exactly the addresses the API server holds on the named port${expected.some((e) => e.operatorPods) ? ` (${expected.filter((e) => e.operatorPods).length} select operator-made Pods, not in the tier)` : ''}; ${groups.length} rule groups loaded`,
    [...problems.map((p) => `FAIL ${p}`), ...detail]);
}

// ------------------------------------------------------------------ cert-manager (+ Pebble)
/**
 * The process standing for an HTTP-01 solver Pod: cert-manager's acmesolver with the Pod's own
 * container args, in a private network namespace (like a Pod's: its :8089 is not open on the
 * host); a bridge in that namespace exposes it as a unix socket for the ingress stand-in.
 */
function startSolver(pod, bin, dir, logs, solvers) {
  const c = pod.spec.containers[0];
  const args = [...(c.command ?? []).slice(1), ...(c.args ?? [])];
  const port = /--listen-port=(\d+)/.exec(args.join(' '))?.[1] ?? '8089';
  const sock = join(dir, `solver-${pod.metadata.namespace}-${pod.metadata.name}.sock`);
  const bridge = `const net=require('net');net.createServer((s)=>{const c=net.connect(${Number(port)},'127.0.0.1');s.pipe(c);c.pipe(s);c.on('error',()=>s.destroy());s.on('error',()=>c.destroy());}).listen(process.argv[1])`;
  daemon(`solver-${pod.metadata.namespace}-${pod.metadata.name}`, 'unshare', ['-n', 'sh', '-c', 'ip link set lo up && { "$@" & } && exec "$SOLVER_NODE" -e "$SOLVER_BRIDGE" "$SOLVER_SOCK"', 'solver', bin, ...args],
    join(logs, `acmesolver-${pod.metadata.namespace}-${pod.metadata.name}.log`), { ...process.env, SOLVER_NODE: process.execPath, SOLVER_BRIDGE: bridge, SOLVER_SOCK: sock });
  solvers.set(`${pod.metadata.namespace}/${pod.metadata.name}`, sock);
}

/**
 * HTTP proxy on 127.0.0.1 standing for public DNS + ingress-nginx for cert-manager's HTTP-01
 * self-check: http://<host>/<path> goes where the live solver Ingress routes it (rule host + path
 * -> Service -> selected solver Pod -> the process standing for it), only if the namespace's
 * NetworkPolicies let ingress-nginx reach that Pod's port. Every request is logged.
 */
async function acmeIngress(kubeconfig, policies, solvers, logFile) {
  const note = (m) => writeFileSync(logFile, `${m}\n`, { flag: 'a' });
  const srv = http.createServer(async (req, res) => {
    const fail = (code, why) => {
      note(`${req.method} ${req.url} -> ${code} ${why}`);
      res.writeHead(code).end(why);
    };
    try {
      const u = new URL(req.url);
      let backend;
      for (const g of await getJson(kubeconfig, ['ingress', '-A', '-l', 'acme.cert-manager.io/http01-solver=true'])) {
        for (const rule of g.spec.rules ?? []) {
          if (rule.host !== u.hostname) continue;
          for (const p of rule.http?.paths ?? []) {
            if (p.path === u.pathname || (p.pathType === 'Prefix' && u.pathname.startsWith(p.path))) backend = { ns: g.metadata.namespace, ing: g.metadata.name, svc: p.backend.service.name, port: p.backend.service.port };
          }
        }
      }
      if (!backend) return fail(404, `no solver Ingress for ${u.hostname}${u.pathname}`);
      const svc = (await getJson(kubeconfig, ['svc', '-n', backend.ns, backend.svc]))[0];
      const sp = (svc.spec.ports ?? []).find((p) => p.port === backend.port.number || p.name === backend.port.name);
      const pods = await getJson(kubeconfig, ['pods', '-n', backend.ns, '-l', selectorString({ matchLabels: svc.spec.selector })]);
      const pod = pods.find((p) => solvers.has(`${backend.ns}/${p.metadata.name}`));
      if (!pod) return fail(503, `Service ${backend.ns}/${backend.svc} has no solver Pod running`);
      const cport = pod.spec.containers[0].ports?.find((p) => p.containerPort === sp?.targetPort || p.name === sp?.targetPort) ?? pod.spec.containers[0].ports?.[0];
      const a = ingressAllowed(policies, pod, { fromNs: 'ingress-nginx', fromLabels: { 'app.kubernetes.io/name': 'ingress-nginx' }, port: cport?.containerPort, portName: cport?.name });
      if (!a.allowed) return fail(503, `NetworkPolicy ${a.by} refuses ingress-nginx -> ${backend.ns}/${pod.metadata.name}:${cport?.containerPort}`);
      const up = http.request({ socketPath: solvers.get(`${backend.ns}/${pod.metadata.name}`), method: req.method, path: u.pathname, headers: { ...req.headers, host: u.host } }, (r) => {
        note(`${req.method} ${req.url} -> ${r.statusCode} via Ingress ${backend.ns}/${backend.ing}, Service ${backend.svc}, Pod ${pod.metadata.name}:${cport?.containerPort} (${a.by})`);
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', (e) => fail(502, `solver ${pod.metadata.name}: ${e.message}`));
      up.end();
    } catch (e) {
      fail(500, String(e?.message ?? e));
    }
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  servers.add(srv);
  return { url: `http://127.0.0.1:${port}`, close: () => (servers.delete(srv), srv.close()) };
}

async function testCertManager(row, ctx) {
  const { docs, kubeconfig, dir } = ctx;
  const certs = docs.filter((d) => d.kind === 'Certificate');
  const issuers = docs.filter((d) => d.kind === 'ClusterIssuer' || d.kind === 'Issuer');
  if (!certs.length && !issuers.length) return cell(row, 'cert-manager', 'n/a', 'no Certificate/Issuer');
  const acme = issuers.filter((i) => i.spec.acme);
  const ca = issuers.filter((i) => i.spec.ca);
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
  const problems = [];
  const detail = [];
  if (!existsSync(BIN['cert-manager'])) {
    // static: what the controller would need
    for (const i of ca) detail.push(`static: ${i.kind} ${i.metadata.name} needs Secret cert-manager/${i.spec.ca.secretName} (PREREQUISITES.md)`);
    for (const c of certs) {
      const iss = issuers.find((i) => i.metadata.name === c.spec.issuerRef?.name);
      if (!iss) problems.push(`Certificate ${c.metadata.namespace}/${c.metadata.name}: issuer ${c.spec.issuerRef?.name} not in the bundle`);
      if (iss?.spec.acme) {
        const pod = { metadata: { namespace: c.metadata.namespace, labels: { 'acme.cert-manager.io/http01-solver': 'true' } } };
        const a = ingressAllowed(policies, pod, { fromNs: 'ingress-nginx', fromLabels: { 'app.kubernetes.io/name': 'ingress-nginx' }, port: 8089 });
        (a.allowed ? detail : problems).push(`static: ${c.metadata.namespace} solver :8089 from ingress-nginx ${a.allowed ? 'allowed' : 'BLOCKED'} (${a.by})`);
      }
    }
    return cell(row, 'cert-manager', 'BLOCKED', `controller not built (${CERT_MANAGER_BLOCKED()}); static checks ${problems.length ? 'FAIL' : 'pass'}`, [...problems.map((p) => `FAIL ${p}`), ...detail]);
  }
  const cmVersion = BIN['cert-manager'].split('/').at(-3).replace('cert-manager-', '');
  const pki = await makePki(join(dir, 'cm-pki'), ['localhost']);
  const caPem = readFileSync(pki.ca, 'utf8');
  const caKey = readFileSync(join(dir, 'cm-pki/ca.key'), 'utf8');
  const fixtures = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cert-manager', labels: { 'stackbook.io/test-fixture': 'controllers' } } }];
  for (const i of ca) {
    fixtures.push({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: i.spec.ca.secretName, namespace: i.kind === 'Issuer' ? i.metadata.namespace : 'cert-manager', labels: { 'stackbook.io/test-fixture': 'prerequisite' } }, stringData: { 'tls.crt': caPem, 'tls.key': caKey } });
    detail.push(`prerequisite: Secret cert-manager/${i.spec.ca.secretName} = a CA made by the test (PREREQUISITES.md: the cluster's intermediate)`);
  }
  // the CRDs the controller needs that the shared directory lacks (CertificateRequest, Order,
  // Challenge): from the module it was built from (deploy/crds; Helm-templated labels dropped)
  const crdDir = join(await moduleDir('github.com/cert-manager/cert-manager', cmVersion), 'deploy/crds');
  const have = new Set((await getJson(kubeconfig, ['crd'])).map((c) => c.metadata.name));
  const missing = readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).map((f) => yaml.load(readFileSync(join(crdDir, f), 'utf8')))
    .filter((c) => c?.kind === 'CustomResourceDefinition' && !have.has(c.metadata.name))
    .map((c) => ({ ...c, metadata: { name: c.metadata.name } }));
  let r = await applyObjects(kubeconfig, missing);
  if (r.code !== 0) return cell(row, 'cert-manager', 'FAIL', 'cert-manager CRDs', [head(r.stderr)]);
  await kc(kubeconfig, ['wait', '--for=condition=Established', 'crd', ...missing.map((c) => c.metadata.name), '--timeout=60s']);
  detail.push(`CRDs from the cert-manager ${cmVersion} module (not in the shared directory): ${missing.map((c) => c.metadata.name).join(', ')}`);
  r = await applyObjects(kubeconfig, fixtures);
  if (r.code !== 0) problems.push(`fixtures: ${head(r.stderr)}`);
  let pebbleNote = '';
  let pebbleMgmt;
  if (acme.length) {
    const pebble = join(CACHE, `pebble-${V.PEBBLE_VERSION}/bin/pebble`);
    if (!existsSync(pebble)) detail.push(`ACME issuers ${acme.map((i) => i.metadata.name).join(', ')}: Pebble ${notBuilt('pebble')}: issuers not registered`);
    else {
      const port = await freePort();
      const cfg = join(dir, 'pebble.json');
      pebbleMgmt = await freePort();
      writeFileSync(cfg, JSON.stringify({ pebble: { listenAddress: `127.0.0.1:${port}`, managementListenAddress: `127.0.0.1:${pebbleMgmt}`, certificate: pki.cert, privateKey: pki.key, httpPort: await freePort(), tlsPort: await freePort(), ocspResponderURL: '', externalAccountBindingRequired: false } }));
      daemon('pebble', pebble, ['-config', cfg], join(ctx.logs, 'pebble.log'), { ...process.env, PEBBLE_VA_ALWAYS_VALID: '1', PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' });
      await sleep(2000);
      // Pebble stands in for the stack's ACME server: only spec.acme.server is replaced
      const patched = acme.map((i) => ({ apiVersion: i.apiVersion, kind: i.kind, metadata: { name: i.metadata.name, ...(i.metadata.namespace ? { namespace: i.metadata.namespace } : {}) }, spec: { acme: { ...i.spec.acme, server: `https://127.0.0.1:${port}/dir` } } }));
      r = await applyObjects(kubeconfig, patched, 'stackbook-controllers-test-pebble');
      if (r.code !== 0) problems.push(`patch ACME server: ${head(r.stderr)}`);
      pebbleNote = `; ACME against Pebble ${V.PEBBLE_VERSION} (PEBBLE_VA_ALWAYS_VALID=1; server ${acme.map((i) => i.spec.acme.server).join(', ')} replaced by Pebble's)`;
    }
  }
  const solverImage = docs.flatMap((d) => String(d.metadata?.annotations?.['stackbook.io/operator-images'] ?? '').split(',')).find((i) => i.includes('cert-manager-acmesolver'));
  const caCerts = certs.filter((c) => ca.some((i) => i.metadata.name === c.spec.issuerRef?.name));
  // without Pebble the ACME issuers cannot register: they and their Certificates are left out (reported)
  const acmeCerts = pebbleMgmt === undefined ? [] : certs.filter((c) => acme.some((i) => i.metadata.name === c.spec.issuerRef?.name));
  const liveIssuerSet = issuers.filter((i) => !i.spec.acme || pebbleMgmt !== undefined);
  // HTTP-01 end to end (issuance) when the solver is built: every solver Pod cert-manager creates is
  // stood in for by the real acmesolver (same module and version) run with the Pod's own args in a
  // private network namespace (its own "Pod network": :8089 is never open on the host), and the
  // controller's self-check reaches it through an HTTP proxy standing for DNS + ingress-nginx that
  // routes by the live solver Ingress -> Service -> Pod and refuses what the NetworkPolicies refuse.
  const solverBin = join(CACHE, `acmesolver-${cmVersion}/bin/acmesolver`);
  const endToEnd = acmeCerts.length > 0 && pebbleMgmt !== undefined && existsSync(solverBin);
  const solvers = new Map(); // "<ns>/<pod>" -> unix socket of the process standing for the Pod
  const ingressProxy = endToEnd ? await acmeIngress(kubeconfig, policies, solvers, join(ctx.logs, 'acme-ingress.log')) : undefined;
  daemon('cert-manager', BIN['cert-manager'], [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--cluster-resource-namespace=cert-manager',
    `--metrics-listen-address=127.0.0.1:${await freePort()}`, ...(solverImage ? [`--acme-http01-solver-image=${solverImage}`] : []), '--v=2'],
  join(ctx.logs, 'cert-manager.log'), {
    ...process.env, SSL_CERT_FILE: pki.ca,
    // the self-check's http.Transport uses http.ProxyFromEnvironment (pkg/issuer/acme/http/http.go, v1.11.5)
    ...(ingressProxy ? { HTTP_PROXY: ingressProxy.url, http_proxy: ingressProxy.url, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' } : {}),
  });
  const seen = { pods: new Map(), ingresses: new Map(), challenges: new Map() }; // solver objects are deleted once issued
  const res = await waitFor(async () => {
    const liveIssuers = [];
    for (const i of liveIssuerSet) liveIssuers.push({ i, live: (await getJson(kubeconfig, [i.kind === 'ClusterIssuer' ? 'clusterissuer' : 'issuer', ...(i.kind === 'Issuer' ? ['-n', i.metadata.namespace] : []), i.metadata.name]))[0] });
    const liveCerts = [];
    for (const c of caCerts) liveCerts.push({ c, live: (await getJson(kubeconfig, ['certificate', '-n', c.metadata.namespace, c.metadata.name]))[0] });
    const pods = acmeCerts.length ? await getJson(kubeconfig, ['pods', '-A', '-l', 'acme.cert-manager.io/http01-solver=true']) : [];
    const challenges = acmeCerts.length ? await getJson(kubeconfig, ['challenges.acme.cert-manager.io', '-A']) : [];
    const ingresses = acmeCerts.length ? await getJson(kubeconfig, ['ingress', '-A', '-l', 'acme.cert-manager.io/http01-solver=true']) : [];
    for (const [k, list] of [['pods', pods], ['ingresses', ingresses], ['challenges', challenges]]) for (const o of list) seen[k].set(`${o.metadata.namespace}/${o.metadata.name}`, o);
    if (endToEnd) for (const p of pods) if (!solvers.has(`${p.metadata.namespace}/${p.metadata.name}`)) startSolver(p, solverBin, dir, ctx.logs, solvers);
    const liveAcme = [];
    if (endToEnd) for (const c of acmeCerts) liveAcme.push({ c, live: (await getJson(kubeconfig, ['certificate', '-n', c.metadata.namespace, c.metadata.name]))[0] });
    const solverObjects = acmeCerts.every((c) => [...seen.pods.values()].some((p) => p.metadata.namespace === c.metadata.namespace) && [...seen.ingresses.values()].some((g) => g.metadata.namespace === c.metadata.namespace));
    const ok = liveIssuers.every((x) => condition(x.live, 'Ready')?.status === 'True') && liveCerts.every((x) => condition(x.live, 'Ready')?.status === 'True')
      && solverObjects && liveAcme.every((x) => condition(x.live, 'Ready')?.status === 'True');
    return { done: ok, liveIssuers, liveCerts, liveAcme, pods: [...seen.pods.values()], challenges: [...seen.challenges.values()], ingresses: [...seen.ingresses.values()] };
  }, endToEnd ? Math.max(WAIT_SECONDS, 240) : WAIT_SECONDS);
  if (res?.error) problems.push(res.error);
  for (const { i, live } of res?.liveIssuers ?? []) {
    const c = condition(live, 'Ready');
    (c?.status === 'True' ? detail : problems).push(`${i.kind} ${i.metadata.name}: Ready=${c?.status} (${c?.reason}: ${c?.message})`);
  }
  for (const { c, live } of res?.liveCerts ?? []) {
    const name = `${c.metadata.namespace}/${c.metadata.name}`;
    const k = condition(live, 'Ready');
    if (k?.status !== 'True') {
      problems.push(`Certificate ${name}: not Ready (${k?.reason}: ${k?.message})`);
      continue;
    }
    const sec = (await getJson(kubeconfig, ['secret', '-n', c.metadata.namespace, c.spec.secretName]))[0];
    const crt = join(dir, `${c.metadata.namespace}-${c.metadata.name}.crt`);
    writeFileSync(crt, Buffer.from(sec.data['tls.crt'], 'base64'));
    const v = await run('openssl', ['verify', '-CAfile', pki.ca, crt]);
    const san = await run('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', crt]);
    const missing = (c.spec.dnsNames ?? []).filter((n) => !san.stdout.includes(`DNS:${n}`));
    if (v.code !== 0) problems.push(`Certificate ${name}: tls.crt does not verify against the issuer CA: ${head(v.stdout + v.stderr, 2)}`);
    else if (missing.length) problems.push(`Certificate ${name}: SAN lacks ${missing.join(', ')}`);
    else detail.push(`Certificate ${name}: Ready; ${c.spec.secretName}/tls.crt verifies against the CA, SAN ${c.spec.dnsNames.join(', ')}`);
  }
  for (const c of acmeCerts) {
    const ns = c.metadata.namespace;
    const pod = (res?.pods ?? []).find((p) => p.metadata.namespace === ns);
    const ing = (res?.ingresses ?? []).find((g) => g.metadata.namespace === ns);
    const ch = (res?.challenges ?? []).filter((x) => x.metadata.namespace === ns);
    if (!ch.length) problems.push(`Certificate ${ns}/${c.metadata.name}: no ACME Challenge created`);
    if (!pod) {
      problems.push(`Certificate ${ns}/${c.metadata.name}: no solver Pod (Pod Security or RBAC refused it? see cert-manager.log)`);
      continue;
    }
    const cport = pod.spec.containers[0].ports?.[0];
    const a = ingressAllowed(policies, pod, { fromNs: 'ingress-nginx', fromLabels: { 'app.kubernetes.io/name': 'ingress-nginx' }, port: cport?.containerPort, portName: cport?.name });
    if (!a.allowed) problems.push(`solver Pod ${ns}/${pod.metadata.name} :${cport?.containerPort}: ingress-nginx is refused by NetworkPolicy ${a.by}`);
    if (!ing) problems.push(`Certificate ${ns}/${c.metadata.name}: no solver Ingress`);
    else if (a.allowed) detail.push(`Certificate ${ns}/${c.metadata.name}: Challenge ${endToEnd ? 'created' : `${ch[0]?.status?.state ?? 'created'} (${head(ch[0]?.status?.reason ?? '', 1)})`}; solver Pod ${pod.metadata.name} (image ${pod.spec.containers[0].image}, :${cport?.containerPort}) admitted and reachable from ingress-nginx (${a.by}); Ingress ${ing.metadata.name} class ${ing.spec.ingressClassName ?? ing.metadata.annotations?.['kubernetes.io/ingress.class'] ?? `none (cert-manager ${cmVersion} predates the issuer field http01.ingress.ingressClassName, v1.12)`}`);
  }
  let issuedNote = '';
  if (endToEnd) {
    // issued: Ready, the chain verifies against Pebble's root of this run, SAN = the dnsNames
    const root = join(dir, 'pebble-root.pem');
    const rr = await run('curl', ['-fsS', '--cacert', pki.ca, `https://127.0.0.1:${pebbleMgmt}/roots/0`]);
    writeFileSync(root, rr.stdout);
    let issued = 0;
    for (const { c, live } of res?.liveAcme ?? []) {
      const name = `${c.metadata.namespace}/${c.metadata.name}`;
      const k = condition(live, 'Ready');
      if (k?.status !== 'True') {
        problems.push(`ACME Certificate ${name}: not issued (${k?.reason}: ${k?.message}); see cert-manager.log, acme-ingress.log`);
        continue;
      }
      const sec = (await getJson(kubeconfig, ['secret', '-n', c.metadata.namespace, c.spec.secretName]))[0];
      const crt = join(dir, `${c.metadata.namespace}-${c.metadata.name}-acme.crt`);
      writeFileSync(crt, Buffer.from(sec.data['tls.crt'], 'base64'));
      const v = await run('openssl', ['verify', '-CAfile', root, '-untrusted', crt, crt]);
      const san = await run('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', crt]);
      const missing = (c.spec.dnsNames ?? []).filter((n) => !san.stdout.includes(`DNS:${n}`));
      if (v.code !== 0) problems.push(`ACME Certificate ${name}: tls.crt does not verify against Pebble's root: ${head(v.stdout + v.stderr, 2)}`);
      else if (missing.length) problems.push(`ACME Certificate ${name}: SAN lacks ${missing.join(', ')}`);
      else {
        issued += 1;
        detail.push(`ACME Certificate ${name}: Ready, issued by Pebble; ${c.spec.secretName}/tls.crt verifies against Pebble's root, SAN ${c.spec.dnsNames.join(', ')}`);
      }
    }
    const selfChecks = existsSync(join(ctx.logs, 'acme-ingress.log')) ? readFileSync(join(ctx.logs, 'acme-ingress.log'), 'utf8').split('\n').filter((l) => / -> 200 /.test(l)).length : 0;
    if (!selfChecks && acmeCerts.length) problems.push('no HTTP-01 self-check reached a solver (acme-ingress.log)');
    detail.push(`HTTP-01: ${solvers.size} solver Pod(s) stood in for by acmesolver ${cmVersion} processes (own network namespace each); ${selfChecks} self-check request(s) answered 200 through the ingress stand-in; Pebble's own validation skipped (PEBBLE_VA_ALWAYS_VALID=1: it cannot resolve the public names here)`);
    issuedNote = `; ${issued}/${acmeCerts.length} ACME Certificate(s) issued (self-check through the real acmesolver)`;
    for (const k of [...daemons.keys()].filter((n) => n.startsWith('solver-'))) await stopDaemon(k);
    ingressProxy.close();
  }
  await stopDaemon('cert-manager');
  await stopDaemon('pebble');
  cell(row, 'cert-manager', problems.length ? 'FAIL' : 'PASS', `cert-manager ${cmVersion}${cmVersion !== V.CERT_MANAGER_VERSION ? ` (stand-in: ${V.CERT_MANAGER_VERSION} is not buildable here)` : ''}: issuers Ready; ${caCerts.length} CA-issued Certificate(s) Ready and verified; ${acmeCerts.length} ACME Certificate(s) get Challenge + solver Pod/Ingress reachable through the NetworkPolicies${issuedNote}${pebbleNote}`, [...problems.map((p) => `FAIL ${p}`), ...detail]);
}

function blockedRows(row, docs) {
  const cips = docs.filter((d) => d.kind === 'ClusterImagePolicy').length;
  if (cips) cell(row, 'policy-controller', 'BLOCKED', `${cips} ClusterImagePolicy: not run by this tier`, ['the supply-chain issue builds and tests it (signature cases); this tier only reports it']);
}
const CERT_MANAGER_BLOCKED = () => `github.com/cert-manager/cert-manager/cmd/controller@${V.CERT_MANAGER_VERSION} is not served by the module proxy (404) and the fallback ${V.CERT_MANAGER_FALLBACK_VERSION} is ${notBuilt('cert-manager')}`;

// ------------------------------------------------------------------ main
async function testStack(stack, bundles) {
  const row = newRow(stack);
  const phases = loadDocs(join(bundles, stack));
  const docs = phases.flatMap((p) => p.docs);
  const dir = join(WORK, `cluster-${stack}`);
  const logs = join(LOGS, stack);
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs, { recursive: true });
  const up = await clusterUp(run, liveClusters, dir, { timeoutSecs: 400 });
  writeFileSync(join(logs, 'cluster-up.log'), up.stderr);
  if (!up.ok) {
    row.error = `cluster-up.sh failed: ${head(up.stderr.split('\n').slice(-10).join('\n'), 10)}`;
    log(row.error);
    return row;
  }
  const { kubeconfig } = up;
  // what a real cluster provides, as the real-cluster tier does (tools/test-cluster.mjs): the
  // RuntimeClasses the Pods name and one pre-bound PersistentVolume per claim, so the Pods exist,
  // run (kwok) and fill the EndpointSlices Prometheus discovers
  const podSpecOf = (d) => d.spec?.jobTemplate?.spec?.template?.spec ?? d.spec?.template?.spec;
  const runtimeClasses = [...new Set(docs.filter((d) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'].includes(d.kind)).map((d) => podSpecOf(d)?.runtimeClassName).filter(Boolean))].sort();
  const { storageClasses, volumes } = volumeFixtures(docs);
  const fx = [...runtimeClasses.map((name) => ({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name, labels: { 'stackbook.io/test-fixture': 'prerequisite' } }, handler: name })), ...storageClasses, ...volumes];
  if (fx.length) {
    const r = await applyObjects(kubeconfig, fx, 'stackbook-controllers-test-prerequisites');
    if (r.code !== 0) row.fixtureErrors = `prerequisite fixtures: ${head(r.stderr)}`;
  }
  const errs = await applyBundle(kubeconfig, phases);
  if (errs.length) row.applyErrors = errs;
  if (row.fixtureErrors) row.applyErrors = [...(row.applyErrors ?? []), row.fixtureErrors];
  const secrets = existsSync(join(bundles, stack, 'secrets.json')) ? JSON.parse(readFileSync(join(bundles, stack, 'secrets.json'), 'utf8')) : [];
  const ctx = { docs, kubeconfig, dir, logs, secrets };
  for (const [name, fn] of [['external-secrets', testExternalSecrets], ['keda', testKeda], ['prometheus-operator', testPromOperator], ['cert-manager', testCertManager]]) {
    if (ONLY.length && !ONLY.includes(name)) continue;
    try {
      await fn(row, ctx);
    } catch (e) {
      cell(row, name, 'FAIL', 'tier error', [String(e?.stack ?? e)]);
    }
    for (const d of [...daemons.keys()]) await stopDaemon(d);
  }
  blockedRows(row, docs);
  await clusterDown(run, liveClusters, dir);
  return row;
}

// ------------------------------------------------------------------ builds within a time budget
// Build targets in order of value per minute of cold build, with their measured cold build times
// (tools/lib/build-budget.mjs CONTROLLER_BUILDS); the binaries each provides:
const BUILD_BINS = {
  'prometheus-operator': () => [BIN['prometheus-operator']],
  pebble: () => [join(CACHE, `pebble-${V.PEBBLE_VERSION}/bin/pebble`)],
  'cert-manager': () => [BIN['cert-manager'], join(CACHE, `acmesolver-${V.CERT_MANAGER_FALLBACK_VERSION}/bin/acmesolver`)],
  prometheus: () => [PROMETHEUS_BIN.prometheus, PROMETHEUS_BIN.promtool],
  'external-secrets': () => [BIN['external-secrets']],
  keda: () => [BIN.keda],
  vault: () => [BIN.vault],
};
const BUILD_ORDER = CONTROLLER_BUILDS.map((b) => ({ ...b, bins: BUILD_BINS[b.target] }));
// the tier's own run after the builds (4 stacks, measured with a warm cache) + a margin
const RUN_RESERVE_SECONDS = Number(process.env.STACKBOOK_CONTROLLERS_RUN_RESERVE ?? 25 * 60);
const NOT_BUILT = new Map(); // build target -> reason
const notBuilt = (target) => `NOT BUILT: ${NOT_BUILT.get(target) ?? `not in the tool cache (tools/build.sh ${target})`}`;


/** tools/build.sh <targets> in its own process group, killed (group) when the time is up. */
function runBuild(targets, secs) {
  return new Promise((done) => {
    const child = spawn('bash', [join(TOOLS, 'build.sh'), ...targets], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    daemons.set(`build-${targets.join('-')}`, child); // killed with the group on any exit path
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d) => (stderr += d));
    const timer = Number.isFinite(secs) ? setTimeout(() => {
      killed = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, Math.max(1, secs) * 1000) : undefined;
    child.on('close', (code) => {
      clearTimeout(timer);
      daemons.delete(`build-${targets.join('-')}`);
      process.stderr.write(stderr.split('\n').filter((l) => l.startsWith('[build]')).join('\n') + '\n');
      done({ code: code ?? 128, killed, stderr });
    });
  });
}

async function buildInBudget() {
  const start = Date.now();
  // the cluster itself (cached in CI by the real-cluster step before this one)
  log('tools/build.sh apiserver etcd kwok (the test cluster; builds only what is missing)');
  await runBuild(['apiserver', 'etcd', 'kwok'], Infinity);
  // .ci/run passes STACKBOOK_CI_DEADLINE = its start + 90 min (tools/lib/build-budget.mjs)
  const budget = buildBudget(process.env, Math.floor(Date.now() / 1000), RUN_RESERVE_SECONDS);
  log(`controller builds: budget ${Number.isFinite(budget) ? `${budget} s` : 'unlimited'}, in order of value: ${BUILD_ORDER.map((b) => b.target).join(', ')}`);
  const t0 = Date.now();
  for (const b of BUILD_ORDER) {
    if (b.bins().every((f) => existsSync(f))) continue;
    const left = Math.floor(budget - (Date.now() - t0) / 1000);
    const d = decide(b.target, b.cold, left, budget);
    if (!d.build) {
      NOT_BUILT.set(b.target, d.reason);
      log(`${b.target}: ${notBuilt(b.target)}`);
      continue;
    }
    // a build that failed for these versions is not retried (a failed Vault attempt costs ~40 min):
    // the marker next to the cache holds the error; delete it to try again
    const marker = join(dirname(dirname(b.bins()[0])) + '.failed');
    if (existsSync(marker)) {
      NOT_BUILT.set(b.target, `failed before (${marker}; delete it to retry): ${head(readFileSync(marker, 'utf8'), 2)}`);
      log(`${b.target}: ${notBuilt(b.target)}`);
      continue;
    }
    const r = await runBuild([b.target], left);
    if (r.killed) NOT_BUILT.set(b.target, `build stopped at the budget (${left} s left when it started)`);
    else if (!b.bins().every((f) => existsSync(f))) {
      const why = head(r.stderr.split('\n').filter((l) => /error|UNAVAILABLE|FAILED|cannot|\.go:\d+:\d+:/i.test(l)).slice(-4).join('\n'), 4);
      NOT_BUILT.set(b.target, `tools/build.sh ${b.target} ${r.code === 0 ? 'did not produce the binary' : `failed (exit ${r.code})`}: ${why}`);
      if (r.code !== 0 && !/UNAVAILABLE/.test(why)) writeFileSync(marker, `${new Date().toISOString()} tools/build.sh ${b.target} exit ${r.code}\n${why}\n`);
    }
    if (NOT_BUILT.has(b.target)) log(`${b.target}: ${notBuilt(b.target)}`);
  }
  log(`builds took ${Math.round((Date.now() - start) / 1000)} s`);
}

const CONTROLLERS = ['external-secrets', 'keda', 'prometheus-operator', 'prometheus-sd', 'cert-manager', 'policy-controller'];
let ONLY = [];

function report(rows) {
  const lines = ['# Controllers tier (tools/test-controllers.mjs)', '', 'Operators run out of cluster against the tier\'s API server; per stack and controller, what was asserted and the verdict.', ''];
  lines.push('| stack | controller | verdict | asserted |', '|---|---|---|---|');
  for (const r of rows) {
    if (r.error) lines.push(`| ${r.stack} | (cluster) | FAIL | ${r.error.replaceAll('\n', ' ')} |`);
    for (const c of CONTROLLERS) {
      const x = r.controllers[c];
      if (x) lines.push(`| ${r.stack} | ${c} | ${x.verdict} | ${x.asserted.replaceAll('|', '\\|')} |`);
    }
  }
  lines.push('', '## Cold build times (tools/build.sh, recorded next to each binary)', '', '| tool | version | binary | cold build |', '|---|---|---|---|');
  for (const [t, b] of Object.entries({ ...BIN })) {
    const s = buildSeconds(b);
    lines.push(`| ${t} | ${b.split('/').at(-3)} | ${existsSync(b) ? 'built' : 'not built'} | ${s === undefined ? '—' : `${s} s`} |`);
  }
  lines.push('', '## Details', '');
  for (const r of rows) {
    if (r.applyErrors) lines.push(`- ${r.stack}: apply errors (bundle): ${r.applyErrors.join('; ').replaceAll('\n', ' ')}`);
    for (const c of CONTROLLERS) for (const d of r.controllers[c]?.detail ?? []) lines.push(`- ${r.stack} ${c}: ${d.replaceAll('\n', ' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

async function main() {
  installExitHandlers({ cleanup: cleanupSync, log, stopping: () => 'stopping controllers and clusters' });
  const args = process.argv.slice(2);
  ONLY = args.filter((a) => a.startsWith('--only=')).flatMap((a) => a.slice(7).split(','));
  const known = readdirSync(join(ROOT, 'stacks')).map((n) => /^Pulumi\.([a-z0-9-]+)\.yaml$/.exec(n)?.[1]).filter(Boolean).sort();
  const named = args.filter((a) => !a.startsWith('--'));
  const stacks = named.length ? named : known;
  WORK = mkdtempSync(join(tmpdir(), 'stackbook-controllers-test.'));
  if (!args.includes('--no-build')) await buildInBudget();
  const bundles = join(WORK, 'bundles');
  const synth = await run(process.execPath, [join(ROOT, 'bin/stackbook.js'), 'synth', ...stacks, '--out', bundles]);
  if (synth.code !== 0) throw new Error(`synth failed: ${head(synth.stdout + synth.stderr, 20)}`);
  const rows = [];
  for (const s of stacks) rows.push(await testStack(s, bundles));
  const md = report(rows);
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, md);
  writeFileSync(RESULTS.replace(/\.md$/, '.json'), JSON.stringify(rows, null, 2));
  process.stdout.write(md);
  const all = rows.flatMap((r) => Object.values(r.controllers));
  if (rows.some((r) => r.error) || all.some((c) => c.verdict === 'FAIL')) return 1;
  if (STRICT && all.some((c) => c.verdict === 'BLOCKED')) return 3;
  return 0;
}

main().then((code) => process.exit(code));

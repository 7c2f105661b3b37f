#!/usr/bin/env node
// The backup tier (issue 20): every backup, restore-drill and retention CronJob/Job of every stack
// that renders one, run as real processes against real servers on 127.0.0.1.
//
// - The scripts, arguments and environment are the rendered objects' (render(loadStackFile(...)),
//   the path of `stackbook synth`), never copied: each container's command + args runs in order
//   (init containers, then the main one) in its own mount namespace (`unshare -m`), with its
//   volumes bind-mounted at the SAME absolute paths (emptyDir and PVC -> directories under
//   /var/tmp, configMap -> the rendered keys as files), as the pod's runAsUser/runAsGroup/fsGroup
//   (`setpriv`), with an /etc/hosts that resolves the Services' names to 127.0.0.1.
// - The only rewrites: a Service's port in an env value (PGPORT, the port of an endpoint URL) ->
//   the port the local server listens on; secretKeyRef values -> credentials of the local servers.
// - Servers: PostgreSQL (Debian postgresql, source database seeded with known rows), versitygw
//   (S3, POSIX backend in a temp dir, built by `tools/build.sh s3`). ClickHouse and MongoDB have no
//   usable server here (docs/backup-tests.md): their jobs are listed as NOT RUN with the reason.
// - Per backup: produce + store (bytes written, read-back verified), retention (keep N of seeded
//   older artefacts, foreign keys untouched), restore drill (exit 0, then the drill's own scratch
//   database/directory is compared with the source: row counts + checksums, or file hashes),
//   corruption (a flipped byte in the stored artefact and a truncated artefact with a matching
//   checksum must each fail the drill loudly), and promtool evaluates the rendered
//   BackupRestoreDrillFailed rule on the series those runs produce.
// Output: a table on stdout and in dist/backup-test.md. Exit 1 when any run fails.
// Needs root (mount namespaces, setpriv). Run through `npm run test:backups` (tools/test-backups.sh).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { loadStackFile } = await import(join(ROOT, 'build/stacks/load.js'));
const { render } = await import(join(ROOT, 'build/synth/render.js'));
const { knownEnvironments } = await import(join(ROOT, 'build/synth/stacks.js'));

const BASE = mkdtempSync('/var/tmp/stackbook-backups-');
chmodSync(BASE, 0o755);
const KEEP = process.env.STACKBOOK_KEEP === '1';
const log = (...a) => console.error('[backups]', ...a);
// Every process the harness runs has a deadline and is SIGKILLed when it passes (spawnSync kills
// the direct child; the pods run as PID 1 of their own PID namespace, so their whole tree dies with
// it). stdin is /dev/null: nothing can wait on a terminal or an open pipe.
const SH_TIMEOUT_MS = 180_000;
const sh = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: SH_TIMEOUT_MS, killSignal: 'SIGKILL', ...(opts.input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : {}), ...opts });
  if (r.error?.code === 'ETIMEDOUT') r.stderr = `${r.stderr ?? ''}\n[harness] killed after ${(opts.timeout ?? SH_TIMEOUT_MS) / 1000} s: ${cmd} ${args.join(' ')}`;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}${r.stdout}`);
  return r;
};

// ------------------------------------------------------------------------------------------------
// Tools

const PG_BIN = (() => {
  const dir = '/usr/lib/postgresql';
  const v = existsSync(dir) ? readdirSync(dir).filter((d) => existsSync(join(dir, d, 'bin/initdb'))).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (!v) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql): tools/test-backups.sh installs them');
  return join(dir, v, 'bin');
})();
const PG_VERSION = sh(join(PG_BIN, 'postgres'), ['--version']).stdout.trim();
const GW = process.env.VERSITYGW ?? '';
if (!GW || !existsSync(GW)) throw new Error('VERSITYGW must point at the versitygw binary (tools/build.sh s3; tools/test-backups.sh sets it)');
const MC = process.env.MC ?? '';
if (!MC || !existsSync(MC)) throw new Error('MC must point at the mc binary (tools/build.sh s3; tools/test-backups.sh sets it)');
const MOTO = process.env.MOTO_SERVER ?? '';
if (!MOTO || !existsSync(MOTO)) throw new Error('MOTO_SERVER must point at moto_server (tools/test-backups.sh installs moto[server] from PyPI)');
// the pods run as their own UIDs: the tools they call must be readable by them (not under /root)
const POD_BIN = join(BASE, 'bin');
mkdirSync(POD_BIN);
sh('cp', [MC, join(POD_BIN, 'mc')]);
chmodSync(POD_BIN, 0o755);
chmodSync(join(POD_BIN, 'mc'), 0o755);
// barman-cloud (PyPI barman[cloud], pinned by tools/test-backups.sh) in a venv under the tools cache:
// the PITR drill's tools, and the stand-in for the Barman Cloud plugin's archiver and base backup
const BARMAN_VENV = process.env.BARMAN_VENV ?? '';
if (!BARMAN_VENV || !existsSync(join(BARMAN_VENV, 'bin/barman-cloud-restore'))) throw new Error('BARMAN_VENV must point at a venv with barman[cloud] (tools/test-backups.sh installs it)');
const BARMAN_VERSION = sh(join(BARMAN_VENV, 'bin/barman-cloud-restore'), ['--version']).stdout.trim() || sh(join(BARMAN_VENV, 'bin/barman-cloud-restore'), ['--version']).stderr.trim();
const VENV_STAGE = join(BASE, 'venv-stage');
mkdirSync(VENV_STAGE);
/**
 * Shell lines (in a private mount namespace) that make the venv readable by a pod's UID at its own
 * absolute path (its scripts' #! lines name it): /root is 0700, so the venv is bind-mounted aside
 * (`stage`), a 0755 tmpfs covers /root, and the venv is mounted back at its path inside it
 * (`restore`). A pod puts its own volumes between the two: one of them may cover the directory the
 * tools cache is in (an emptyDir at /tmp, with STACKBOOK_TOOLS_CACHE under /tmp), so the venv is
 * staged before they are mounted.
 */
const venvStage = () => [`mount --bind '${BARMAN_VENV}' '${VENV_STAGE}'`];
function venvLines() {
  return [...venvStage(), ...venvRestore()];
}
function venvRestore() {
  const q = (x) => `'${x}'`;
  return ['mount -t tmpfs -o mode=0755 tmpfs /root', `mkdir -p ${q(BARMAN_VENV)}`, `mount --bind ${q(VENV_STAGE)} ${q(BARMAN_VENV)}`,
    // botocore's own CA file, when the venv has one: trust the test CA as the system bundle does
    ...sh('/bin/sh', ['-c', `ls ${BARMAN_VENV}/lib/python3*/site-packages/botocore/cacert.pem ${BARMAN_VENV}/lib/python3*/site-packages/certifi/cacert.pem 2>/dev/null || true`]).stdout.trim().split('\n').filter(Boolean).map((f) => `mount --bind ${q(CA_BUNDLE)} ${q(f)}`)];
}
const AWS = sh('/bin/sh', ['-c', 'command -v aws']).stdout.trim();
const AWS_VERSION = sh(AWS, ['--version']).stdout.trim();
const PATH = `${PG_BIN}:${POD_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const started = [];
function startDaemon(name, cmd, args, opts = {}) {
  const logFile = join(BASE, `${name}.log`);
  // setpriv --pdeathsig: the kernel kills the daemon when the harness dies, even by SIGKILL
  const p = spawn('setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  p.on('exit', () => writeFileSync(logFile, out));
  started.push(p);
  return { proc: p, output: () => out };
}
/** Scratch PostgreSQL servers started with pg_ctl (daemonised: not children of the harness). */
const scratchServers = new Set();
/** memory-backed emptyDirs: directories on /dev/shm (a tmpfs), removed at exit */
const SHM = '/dev/shm';
if (!/^tmpfs$/m.test(sh('stat', ['-f', '-c', '%T', SHM], { allowFail: true }).stdout.trim())) throw new Error(`${SHM} is not a tmpfs: the tier materialises emptyDir medium Memory there`);
const memoryDirs = [];
function stopAll() {
  for (const p of started) if (p.exitCode === null) p.kill('SIGKILL');
  for (const stop of scratchServers) stop();
  scratchServers.clear();
  for (const d of memoryDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
// every exit path: normal end, uncaught error, Ctrl-C, the CI's timeout (SIGTERM), a lost terminal
process.on('exit', () => {
  stopAll();
  if (!KEEP) rmSync(BASE, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => {
  console.error(`[backups] ${sig}: stopping the servers`);
  process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]);
});

// ------------------------------------------------------------------------------------------------
// PostgreSQL source server (Debian's postgres, as the `postgres` system user)

const PG_ADMIN = { user: 'stackbook_admin', password: 'admin-' + createHash('sha256').update(BASE).digest('hex').slice(0, 16) };
async function startPostgres() {
  const dir = join(BASE, 'pg-source');
  mkdirSync(dir);
  const uid = Number(sh('id', ['-u', 'postgres']).stdout.trim());
  const gid = Number(sh('id', ['-g', 'postgres']).stdout.trim());
  chownSync(dir, uid, gid);
  const pw = join(dir, '..', 'pg-admin-password');
  writeFileSync(pw, PG_ADMIN.password);
  chownSync(pw, uid, gid);
  const as = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'];
  sh(as[0], [...as.slice(1), join(PG_BIN, 'initdb'), '--pgdata', join(dir, 'data'), '--username', PG_ADMIN.user, '--pwfile', pw, '--auth-local=scram-sha-256', '--auth-host=scram-sha-256', '--no-sync'], { cwd: '/' });
  const port = await freePort();
  startDaemon('postgres', as[0], [...as.slice(1), join(PG_BIN, 'postgres'), '-D', join(dir, 'data'), '-c', 'listen_addresses=127.0.0.1', '-p', String(port), '-k', dir, '-c', 'fsync=off'], { cwd: '/' });
  for (let i = 0; i < 100; i++) {
    if (sh(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { allowFail: true }).status === 0) return { port };
    await sleep(200);
  }
  throw new Error('the PostgreSQL source server did not start');
}
const psql = (port, db, sql, user = PG_ADMIN) =>
  sh(join(PG_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', user.user, '-d', db, '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', sql], { env: { ...process.env, PGPASSWORD: user.password } }).stdout.trim();

/** Known data: three tables (numbers, text, bytea, jsonb, timestamps, a foreign key), 25,002 rows. */
const PG_SEED = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, digest bytea, created timestamptz);
INSERT INTO items SELECT g, 'item-' || g, sha256(g::text::bytea), timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 5000) g;
CREATE TABLE events (id bigserial PRIMARY KEY, item int REFERENCES items (id), kind text, at timestamptz DEFAULT timestamptz '2026-01-01 00:00:00+00');
INSERT INTO events (item, kind) SELECT (g % 5000) + 1, 'kind-' || (g % 7) FROM generate_series(1, 20000) g;
CREATE TABLE settings (key text PRIMARY KEY, value jsonb);
INSERT INTO settings VALUES ('retention', '{"days": 30}'), ('flags', '[1, 2, 3]');
`;
const PG_CHECKSUM = `SELECT string_agg(format('%s=%s:%s', t, c, h), ' ' ORDER BY t) FROM (
  SELECT 'items' AS t, count(*) AS c, md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) AS h FROM items x
  UNION ALL SELECT 'events', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) FROM events x
  UNION ALL SELECT 'settings', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.key), '')) FROM settings x) s`;

// ------------------------------------------------------------------------------------------------
// S3: versitygw, POSIX backend

const S3_ROOT = { access: 'stackbookroot', secret: 'stackbook-root-' + createHash('sha256').update(BASE + 's3').digest('hex').slice(0, 20) };
/**
 * The S3 stall (docs/backup-tests.md): a request to versitygw v1.8.0 that is accepted and never
 * answered, for one key, for minutes (fits its per-key publish lock held and not released).
 * Two defences, both on the harness's side; the scripts under test are never retried:
 * - every stack gets a fresh versitygw process on a fresh POSIX root (startS3 per stack): a lock
 *   left held by one stack cannot stall the next;
 * - a harness call (seeding, listing) that stalls restarts the stack's gateways (the held lock
 *   dies with the process: its flock and its in-process slot) on the same ports and root, and is
 *   retried once; the row says so (s3Events). A stall in a script's own S3 call fails its row,
 *   named as such.
 * `gateways`: the versitygw processes of the current stack (the http one and the https ones).
 */
const gateways = [];
const s3Events = [];
function spawnGateway(g) {
  const d = startDaemon(g.name, GW, ['--access', S3_ROOT.access, '--secret', S3_ROOT.secret, '--port', `127.0.0.1:${g.port}`, ...(g.tls ? ['--cert', g.tls.crt, '--key', g.tls.key] : []), 'posix', g.dir], { cwd: '/' });
  g.proc = d.proc;
  g.output = d.output;
}
const gatewayUp = (g) => (g.tls
  ? sh('openssl', ['s_client', '-connect', `127.0.0.1:${g.port}`, '-servername', g.host], { allowFail: true, input: '', timeout: 20_000 }).status === 0
  : awsRaw(g.port, ['s3api', 'list-buckets'], true, 1).status === 0);
/** Whether a child has exited, without the event loop (exitCode is set by it): gone, or a zombie. */
const exited = (p) => p.exitCode !== null || !existsSync(`/proc/${p.pid}/stat`) || / Z /.test(readFileSync(`/proc/${p.pid}/stat`, 'utf8').replace(/^.*\)/, ')'));
/** Start a gateway and wait (synchronously: it is also called from the harness's synchronous S3 calls) until it answers. */
function startGateway(g) {
  for (let attempt = 0; attempt < 3; attempt++) {
    spawnGateway(g);
    for (let i = 0; i < 100; i++) {
      if (gatewayUp(g)) return g;
      if (exited(g.proc)) break;
      spawnSync('sleep', ['0.2']);
    }
    g.proc.kill('SIGKILL');
    spawnSync('sleep', ['1']); // the old process may still hold the port
  }
  throw new Error(`versitygw ${g.name} did not start on 127.0.0.1:${g.port}: ${g.output()}`);
}
function stopGateways() {
  for (const g of gateways) if (g.proc.exitCode === null) g.proc.kill('SIGKILL');
  // SIGKILL is asynchronous: wait until the ports are free again
  const listening = (port) => sh('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { allowFail: true, timeout: 10_000 }).status === 0;
  for (let i = 0; i < 50 && gateways.some((g) => listening(g.port)); i++) spawnSync('sleep', ['0.2']);
}
function restartGateways(why) {
  stopGateways();
  for (const g of gateways) startGateway(g);
  s3Events.push(why);
  log(`S3 stall in a harness call (${why}): versitygw restarted on the same ports and root, retrying once`);
}
/** A fresh http versitygw on a fresh POSIX root for a stack (the previous stack's gateways stopped). */
async function startS3(env) {
  stopGateways();
  gateways.splice(0);
  tlsGateways.clear();
  const dir = join(BASE, `s3-${env}`);
  mkdirSync(dir);
  const g = startGateway({ name: `versitygw-${env}`, port: await freePort(), dir });
  gateways.push(g);
  return { port: g.port, dir };
}
function awsMoto(m, args, allowFail) {
  return sh(AWS, ['--endpoint-url', `${m.tls ? 'https' : 'http'}://127.0.0.1:${m.port}`, ...(m.tls ? ['--no-verify-ssl'] : []), '--no-cli-pager', ...args], {
    allowFail,
    env: { PATH: process.env.PATH, HOME: BASE, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', PYTHONWARNINGS: 'ignore' },
  });
}
/** moto (PyPI): the S3 server with the bucket lifecycle API, for the MinIO lifecycle Job (versitygw lacks it). */
async function startMoto(url) {
  const u = new URL(url);
  const port = await freePort();
  const tls = u.protocol === 'https:' ? certFor(u.hostname) : undefined;
  // moto reads a Host header it does not know as virtual-host style (<bucket>.<host>): declare the Service's name
  const d = startDaemon('moto', MOTO, ['-H', '127.0.0.1', '-p', String(port), ...(tls ? ['-c', tls.crt, '-k', tls.key] : [])], { cwd: BASE, env: { ...process.env, MOTO_S3_CUSTOM_ENDPOINTS: `${u.protocol}//${u.hostname}:${port}` } });
  for (let i = 0; i < 150; i++) {
    if (awsMoto({ port, tls: !!tls }, ['s3api', 'list-buckets'], true).status === 0) return { port, tls: !!tls, stop: () => d.proc.kill('SIGTERM') };
    if (d.proc.exitCode !== null) break;
    await sleep(200);
  }
  throw new Error(`moto_server did not start: ${d.output()}`);
}
function awsRaw(port, args, allowFail, attempts = 2) {
  return sh(AWS, ['--endpoint-url', `http://127.0.0.1:${port}`, '--no-cli-pager', '--cli-connect-timeout', '10', '--cli-read-timeout', '60', ...args], {
    allowFail,
    timeout: 150_000,
    env: { PATH: process.env.PATH, HOME: BASE, AWS_ACCESS_KEY_ID: S3_ROOT.access, AWS_SECRET_ACCESS_KEY: S3_ROOT.secret, AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_RETRY_MODE: 'standard', AWS_MAX_ATTEMPTS: String(attempts) },
  });
}
const STALL = /Read timeout on endpoint URL|Connect timeout on endpoint URL|\[harness\] killed after/;
/**
 * The harness's own S3 calls (seeding, listing, emptying a prefix). One attempt; when it stalls
 * (read/connect timeout, or killed at its deadline), the gateways are restarted and it is retried
 * once; another failure is retried once as is (a loaded machine fails a call now and then).
 */
function awsHost(port, args, allowFail = false) {
  const r = awsRaw(port, args, true, 1);
  if (r.status === 0 || allowFail) return r;
  if (STALL.test(`${r.stderr}${r.stdout}`) && gateways.some((g) => g.port === port)) restartGateways(`aws ${args.slice(0, 3).join(' ')} ${args.filter((x) => x.startsWith('s3://')).join(' ')}`.trim());
  return awsRaw(port, args, false, 1);
}

// TLS: an https endpoint (prod's external object store) is served by a second versitygw on the same
// POSIX root with a certificate for its name from a test CA; every pod trusts that CA through a
// bind-mounted /etc/ssl/certs/ca-certificates.crt (system bundle + the test CA).
const CA_DIR = join(BASE, 'ca');
mkdirSync(CA_DIR);
sh('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=stackbook backup tier test CA', '-keyout', join(CA_DIR, 'ca.key'), '-out', join(CA_DIR, 'ca.crt')]);
const CA_BUNDLE = join(CA_DIR, 'ca-certificates.crt');
writeFileSync(CA_BUNDLE, readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8') + readFileSync(join(CA_DIR, 'ca.crt'), 'utf8'));
chmodSync(CA_DIR, 0o755);
chmodSync(CA_BUNDLE, 0o644);
// the AWS CLI trusts its own bundled CA file, not the system's (Debian awscli; the aws-cli image too)
const AWS_CA_FILES = ['/usr/lib/python3/dist-packages/awscli/botocore/cacert.pem'].filter((f) => existsSync(f));
function certFor(host) {
  const key = join(CA_DIR, `${host}.key`);
  const crt = join(CA_DIR, `${host}.crt`);
  if (!existsSync(crt)) {
    const ext = join(CA_DIR, `${host}.ext`);
    writeFileSync(ext, `subjectAltName=DNS:${host}\n`);
    sh('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${host}`, '-keyout', key, '-out', join(CA_DIR, `${host}.csr`)]);
    sh('openssl', ['x509', '-req', '-in', join(CA_DIR, `${host}.csr`), '-CA', join(CA_DIR, 'ca.crt'), '-CAkey', join(CA_DIR, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', crt]);
  }
  return { key, crt };
}
const tlsGateways = new Map();
async function tlsGateway(host) {
  if (!tlsGateways.has(host)) {
    const g = startGateway({ name: `versitygw-tls-${host}`, port: await freePort(), dir: S3.dir, tls: certFor(host), host });
    gateways.push(g);
    tlsGateways.set(host, g.port);
  }
  return tlsGateways.get(host);
}
/** The local port for an S3 URL's Service: the http gateway, or a TLS one for https. */
async function s3Port(url) {
  const u = new URL(url);
  return u.protocol === 'https:' ? tlsGateway(u.hostname) : S3.port;
}

// ------------------------------------------------------------------------------------------------
// Running a pod's containers as the kubelet would, one process each

/**
 * The test's value for a Secret key a pod mounts as a file: `ctx.secretFile(secretName, key, path)`
 * when the test knows the Secrets by key, else `ctx.secret(path, {name, key})` by the file's name
 * (the scripts name the files after the variable they used to be: PGPASSWORD, AWS_ACCESS_KEY_ID, ...).
 */
function secretValue(ctx, obj, name, key, path) {
  if (ctx.secretFile) return ctx.secretFile(name, key, path);
  if (ctx.secret) return ctx.secret(path.split('/').pop(), { name, key });
  throw new Error(`${obj.metadata.name}: no test values for Secret ${name}`);
}
const podSpec = (o) => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec);
const envOf = (c) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));

/**
 * Run every container of a Job/CronJob's pod in order; stops at the first that fails (as an init
 * container failure stops the pod). `ctx`: { objects, claims: {claimName: dir}, secret(envName, ref) ,
 * services: {"host:port": localPort}, emptyDirs?: {name: dir} }. Returns the per-container results
 * and the emptyDir directories (kept for inspection).
 */
/** A container's deadline (the Jobs' own activeDeadlineSeconds are longer: this is the harness's). */
const POD_TIMEOUT_MS = 300_000;
function runPod(obj, ctx) {
  const pod = podSpec(obj);
  const sc = pod.securityContext ?? {};
  const uid = sc.runAsUser ?? 65534;
  const gid = sc.runAsGroup ?? uid;
  const fsGroup = sc.fsGroup ?? gid;
  const runDir = mkdtempSync(join(BASE, `${obj.metadata.name}-`));
  chmodSync(runDir, 0o755);
  const volumes = {};
  for (const v of pod.volumes ?? []) {
    let dir;
    if (v.emptyDir) {
      // medium: Memory -> a directory on the host's tmpfs (/dev/shm), shared by the pod's containers
      // like the kubelet's tmpfs; removed with the run (memoryDirs, at exit)
      if (v.emptyDir.medium === 'Memory') {
        dir = mkdtempSync(join(SHM, `${obj.metadata.name}-${v.name}-`));
        memoryDirs.push(dir);
      } else {
        dir = join(runDir, `emptyDir-${v.name}`);
        mkdirSync(dir);
      }
      chownSync(dir, 0, fsGroup);
      chmodSync(dir, 0o2777 & ~0o002 | 0o070); // group-writable with setgid, as fsGroup gives
    } else if (v.persistentVolumeClaim) {
      dir = ctx.claims[v.persistentVolumeClaim.claimName];
      if (!dir) throw new Error(`${obj.metadata.name}: the test provides no directory for claim ${v.persistentVolumeClaim.claimName}`);
      sh('chgrp', ['-R', String(fsGroup), dir]);
      sh('chmod', ['-R', 'g+rwX', dir]);
    } else if (v.secret || v.projected) {
      // a Secret or projected volume: each item's key as a file at its path, with the test's value for
      // that Secret key (secretValue below), mode as the kubelet sets it (item mode, else defaultMode,
      // else 0644; with fsGroup: group fsGroup and g+r added, as SetVolumeOwnership does for read-only volumes)
      dir = join(runDir, `${v.secret ? 'secret' : 'projected'}-${v.name}`);
      mkdirSync(dir);
      const sources = v.secret ? [{ secret: { name: v.secret.secretName, items: v.secret.items, optional: v.secret.optional } }] : v.projected.sources;
      const defaultMode = (v.secret ?? v.projected).defaultMode ?? 0o644;
      for (const src of sources) {
        if (!src.secret) throw new Error(`${obj.metadata.name}: projected volume ${v.name} has a source the tier cannot materialise (${Object.keys(src).join(',')})`);
        if (!src.secret.items?.length) throw new Error(`${obj.metadata.name}: Secret ${src.secret.name} in volume ${v.name} without items: the tier needs the rendered keys`);
        for (const it of src.secret.items) {
          const f = join(dir, it.path);
          mkdirSync(dirname(f), { recursive: true });
          writeFileSync(f, secretValue(ctx, obj, src.secret.name, it.key, it.path));
          chownSync(f, 0, sc.fsGroup ?? 0);
          chmodSync(f, (it.mode ?? defaultMode) | (sc.fsGroup !== undefined ? 0o440 : 0));
        }
      }
      chownSync(dir, 0, sc.fsGroup ?? 0);
      chmodSync(dir, 0o755);
    } else if (v.configMap) {
      const cm = ctx.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name && o.metadata.namespace === obj.metadata.namespace);
      if (!cm) throw new Error(`${obj.metadata.name}: ConfigMap ${v.configMap.name} is not rendered`);
      dir = join(runDir, `configMap-${v.name}`);
      mkdirSync(dir);
      const items = v.configMap.items ?? Object.keys(cm.data ?? {}).map((key) => ({ key, path: key }));
      for (const it of items) {
        mkdirSync(dirname(join(dir, it.path)), { recursive: true });
        writeFileSync(join(dir, it.path), cm.data[it.key]);
      }
      sh('chmod', ['-R', 'a+rX', dir]);
    } else {
      throw new Error(`${obj.metadata.name}: volume ${v.name} of an unsupported type (${Object.keys(v).join(',')})`);
    }
    volumes[v.name] = dir;
  }
  const hostsFile = join(runDir, 'hosts');
  const hostNames = new Set(Object.keys(ctx.services).map((hp) => hp.split(':')[0]));
  writeFileSync(hostsFile, `127.0.0.1\tlocalhost\n::1\tlocalhost\n${[...hostNames].map((h) => `127.0.0.1\t${h}`).join('\n')}\n`);
  chmodSync(hostsFile, 0o644);

  // the image's /etc/passwd has the pod's UID (postgres alpine: postgres = 70; initdb looks its user up)
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const group = readFileSync('/etc/group', 'utf8');
  const hasId = (file, id) => file.split('\n').some((l) => l.split(':')[2] === String(id));
  const passwdFile = join(runDir, 'passwd');
  const groupFile = join(runDir, 'group');
  writeFileSync(passwdFile, (hasId(passwd, uid) ? '' : `pod${uid}:x:${uid}:${gid}:pod user:/tmp:/bin/sh\n`) + passwd);
  writeFileSync(groupFile, [gid, fsGroup].filter((g, i, a) => a.indexOf(g) === i && !hasId(group, g)).map((g) => `pod${g}:x:${g}:\n`).join('') + group);
  chmodSync(passwdFile, 0o644);
  chmodSync(groupFile, 0o644);

  const results = [];
  for (const [phase, c] of [...(pod.initContainers ?? []).map((c) => ['init', c]), ...pod.containers.map((c) => ['main', c])]) {
    const env = { PATH: ctx.venv ? `${BARMAN_VENV}/bin:${PATH}` : PATH };
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = ctx.secret(e.name, e.valueFrom.secretKeyRef, obj);
      else if (e.valueFrom?.configMapKeyRef) {
        const cm = ctx.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === e.valueFrom.configMapKeyRef.name);
        env[e.name] = cm?.data?.[e.valueFrom.configMapKeyRef.key] ?? '';
      } else if (e.valueFrom?.fieldRef) {
        const f = e.valueFrom.fieldRef.fieldPath;
        env[e.name] = f === 'metadata.namespace' ? obj.metadata.namespace : f === 'metadata.name' ? `${obj.metadata.name}-test` : f === 'status.podIP' ? '127.0.0.1' : '';
      } else if (e.valueFrom) throw new Error(`${obj.metadata.name}/${c.name}: env ${e.name} has an unsupported valueFrom`);
    }
    // Service ports -> local ports (hostnames stay: /etc/hosts resolves them)
    for (const [name, value] of Object.entries(env)) {
      for (const [hp, local] of Object.entries(ctx.services)) {
        const [host, port] = hp.split(':');
        if (value.includes(`${host}:${port}`)) env[name] = value.split(`${host}:${port}`).join(`${host}:${local}`);
        const scheme = port === '443' ? 'https' : port === '80' ? 'http' : undefined;
        if (scheme) env[name] = env[name].replace(new RegExp(`^(${scheme}://${host.replace(/\./g, '\\.')})(?=/|$)`), `$1:${local}`);
        if (name === 'PGPORT' && env.PGHOST === host && value === port) env[name] = String(local);
      }
    }
    const mounts = [...(c.volumeMounts ?? [])].sort((a, b) => a.mountPath.length - b.mountPath.length);
    const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
    const lines = ['set -e', ...(ctx.venv ? venvStage() : []), `mount --bind ${q(hostsFile)} /etc/hosts`, `mount --bind ${q(passwdFile)} /etc/passwd`, `mount --bind ${q(groupFile)} /etc/group`, `mount --bind ${q(CA_BUNDLE)} /etc/ssl/certs/ca-certificates.crt`, ...AWS_CA_FILES.map((f) => `mount --bind ${q(CA_BUNDLE)} ${q(f)}`)];
    for (const m of mounts) {
      const src = volumes[m.name] + (m.subPath ? `/${m.subPath}` : '');
      lines.push(`mkdir -p ${q(m.mountPath)}`, `mount --bind ${q(src)} ${q(m.mountPath)}`);
      if (m.readOnly) lines.push(`mount -o remount,bind,ro ${q(m.mountPath)}`);
    }
    if (ctx.venv) lines.push(...venvRestore());
    lines.push(`cd /`, `exec setpriv --reuid=${uid} --regid=${gid} --groups=${fsGroup} --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"`);
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    if (argv.length === 0) throw new Error(`${obj.metadata.name}/${c.name}: no command (the image's entrypoint cannot be run here)`);
    const t0 = Date.now();
    // a PID namespace of its own (--fork: the container is its PID 1; --kill-child: it gets SIGKILL
    // when unshare dies): the deadline's SIGKILL of unshare takes the container's whole process tree
    // down with it (aws, pg_restore, a scratch postgres), nothing survives the run.
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--mount-proc', '--', '/bin/sh', '-c', lines.join('\n'), 'pod', ...argv], { encoding: 'utf8', env, cwd: '/', timeout: POD_TIMEOUT_MS, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
    const timedOut = r.error?.code === 'ETIMEDOUT' ? `\n[harness] container killed after ${POD_TIMEOUT_MS / 1000} s (its deadline)` : '';
    results.push({ phase, container: c.name, code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? String(r.error ?? '')) + timedOut, seconds: (Date.now() - t0) / 1000 });
    if (r.status !== 0) {
      // a script's own S3 call that stalled: never retried (it is under test), named in its row
      if (/Read timeout on endpoint URL|Connect timeout on endpoint URL/.test(r.stderr ?? '') || timedOut) podStalls.push(`${obj.metadata.name}/${c.name}${timedOut ? ' killed at its deadline' : ': ' + lastLine(r.stderr ?? '', /timeout on endpoint URL/)}`);
      break;
    }
  }
  const total = (pod.initContainers ?? []).length + pod.containers.length;
  return { ok: results.length === total && results.every((r) => r.code === 0), results, volumes, runDir };
}
const outputOf = (run) => run.results.map((r) => `${r.container}: ${r.stdout}${r.stderr}`).join('\n');
const lastLine = (s, re) => (s.split('\n').filter((l) => re.test(l)).pop() ?? '').trim();

// ------------------------------------------------------------------------------------------------
// Sources and targets the test seeds

function sqliteChecksum(db) {
  const tables = sh('sqlite3', [db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;"]).stdout.trim().split('\n').filter(Boolean);
  return tables.map((t) => `${t}=${sh('sqlite3', [db, `SELECT count(*) FROM "${t}";`]).stdout.trim()}:${createHash('md5').update(sh('sqlite3', ['-csv', db, `SELECT * FROM "${t}" ORDER BY 1;`]).stdout).digest('hex')}`).join(' ');
}
function treeHashes(dir) {
  const out = [];
  const walk = (d) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) {
        out.push(`${relative(dir, p)}/ ${(st.mode & 0o777).toString(8)}`);
        walk(p);
      } else out.push(`${relative(dir, p)} ${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir);
  return out;
}
function seedProjects(dir) {
  // nested project trees, an empty file, a binary file, names with spaces, a 3 MiB file
  const files = {
    'alpha/README.md': '# alpha\n',
    'alpha/src/main.py': 'print("hello")\n',
    'alpha/.hidden': 'dotfile\n',
    'beta gamma/notes.txt': 'a name with a space\n',
    'beta gamma/empty': '',
  };
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  const big = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 32) createHash('sha256').update(String(i)).digest().copy(big, i);
  writeFileSync(join(dir, 'alpha/data.bin'), big);
}

// ------------------------------------------------------------------------------------------------
// Artefact listing and corruption, for both target kinds

function target(storeEnv, claims) {
  if (storeEnv.S3_BUCKET) {
    const bucket = storeEnv.S3_BUCKET.value;
    const prefix = storeEnv.S3_PREFIX.value;
    const dir = join(S3.dir, bucket, prefix);
    return { kind: 's3', where: `s3://${bucket}/${prefix}`, dir, bucket, prefix };
  }
  const t = storeEnv.TARGET_DIR.value; // /backup/<dir>
  return { kind: 'pvc', where: t, claimPath: t, dir: null };
}
function targetDir(t, claims, storeObj) {
  if (t.kind === 's3') return t.dir; // versitygw posix: <root>/<bucket>/<key>
  const v = podSpec(storeObj).volumes.find((x) => x.name === 'target');
  const mount = podSpec(storeObj).containers[0].volumeMounts.find((m) => m.name === 'target').mountPath;
  return join(claims[v.persistentVolumeClaim.claimName], relative(mount, t.claimPath));
}
/** Artefacts of `name` in the target, oldest first, as the S3 server lists them (or the PVC directory). */
function listArtefacts(t, dir, name, ext) {
  const re = new RegExp(`^${name}-[0-9]{8}T[0-9]{6}Z\\.${ext.replace(/\./g, '\\.')}$`);
  let keys;
  if (t.kind === 's3') {
    const r = awsHost(S3.port, ['s3api', 'list-objects-v2', '--bucket', t.bucket, '--prefix', `${t.prefix}/`, '--query', 'Contents[].Key', '--output', 'json']);
    keys = (JSON.parse(r.stdout || '[]') ?? []).map((k) => k.slice(t.prefix.length + 1));
  } else keys = existsSync(dir) ? readdirSync(dir) : [];
  return { artefacts: keys.filter((k) => re.test(k)).sort(), all: keys.sort() };
}
/** Several objects in one call (`aws s3 cp --recursive`), or files in the PVC directory. */
let injectedStall = false;
function putObjects(t, dir, objs) {
  if (t.kind !== 's3') {
    for (const [k, c] of Object.entries(objs)) putObject(t, dir, k, c);
    return;
  }
  const up = mkdtempSync(join(BASE, 'upload-'));
  for (const [k, c] of Object.entries(objs)) writeFileSync(join(up, k), c);
  // STACKBOOK_S3_INJECT_STALL=1 (the check of the stall defence, docs/backup-tests.md): the first
  // seeding PUT meets a gateway that accepts connections and never answers (SIGSTOP), as the stall does
  if (process.env.STACKBOOK_S3_INJECT_STALL === '1' && !injectedStall) {
    injectedStall = true;
    const g = gateways.find((x) => x.port === S3.port);
    g.proc.kill('SIGSTOP');
    log(`STACKBOOK_S3_INJECT_STALL: versitygw ${g.name} stopped (SIGSTOP) before seeding s3://${t.bucket}/${t.prefix}/`);
  }
  awsHost(S3.port, ['s3', 'cp', '--only-show-errors', '--recursive', up, `s3://${t.bucket}/${t.prefix}/`]);
  rmSync(up, { recursive: true });
}
function putObject(t, dir, key, content) {
  if (t.kind === 's3') {
    const f = join(BASE, 'upload.tmp');
    writeFileSync(f, content);
    awsHost(S3.port, ['s3', 'cp', '--only-show-errors', f, `s3://${t.bucket}/${t.prefix}/${key}`]);
  } else {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, key), content);
  }
}
/**
 * What the target holds, read by the harness from the storage itself (versitygw's POSIX backend
 * keeps an object as <root>/<bucket>/<key>): independent of the S3 read-back the scripts do, and
 * immune to a host-side AWS CLI GET that hung twice on the loaded machine (docs/backup-tests.md).
 */
function getObject(t, dir, key) {
  return readFileSync(join(dir, key));
}

// ------------------------------------------------------------------------------------------------
// promtool: the rendered BackupRestoreDrillFailed rule on the series the runs produced

function drillAlertFires(rule, ns, backup, drillName, okAt, failedAt, alertName = 'BackupRestoreDrillFailed', labelKey = 'backup') {
  const promtool = sh('/bin/sh', ['-c', 'command -v promtool'], { allowFail: true }).stdout.trim();
  if (!promtool) return { fired: 'promtool missing' };
  const dir = mkdtempSync(join(BASE, 'promtool-'));
  // the rule as rendered (expr, for, labels); annotations dropped: they do not decide whether it fires
  const groups = rule.spec.groups
    .map((g) => ({ ...g, rules: g.rules.filter((r) => r.alert === alertName).map(({ annotations, ...r }) => r) }))
    .filter((g) => g.rules.length);
  if (groups.length !== 1 || groups[0].rules.length !== 1) return { fired: `expected one ${alertName} rule in ${rule.metadata.name}` };
  const r = groups[0].rules[0];
  writeFileSync(join(dir, 'rules.yaml'), dump({ groups }));
  // minute 0: the drill that restored succeeded (last successful time = its end); minute okAt..: only that job;
  // minute failedAt: the drill on the corrupted artefact started and failed.
  const ok = `${drillName}-ok`;
  const bad = `${drillName}-corrupt`;
  const m = 20;
  const series = (labels, values) => ({ series: labels, values });
  const sel = (extra) => `{namespace="${ns}", ${extra}}`;
  const repeat = (from, v) => Array.from({ length: m + 1 }, (_, i) => (i < from ? '_' : v)).join(' ');
  const test = {
    rule_files: ['rules.yaml'],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          series(`kube_cronjob_status_last_successful_time${sel(`cronjob="${drillName}"`)}`, repeat(okAt, String(okAt * 60))),
          series(`kube_job_status_start_time${sel(`job_name="${ok}"`)}`, repeat(okAt, String(okAt * 60 - 30))),
          series(`kube_job_failed${sel(`job_name="${ok}", condition="true"`)}`, repeat(okAt, '0')),
          series(`kube_job_owner${sel(`job_name="${ok}", owner_kind="CronJob", owner_name="${drillName}", owner_is_controller="true"`)}`, repeat(okAt, '1')),
          series(`kube_job_status_start_time${sel(`job_name="${bad}"`)}`, repeat(failedAt, String(failedAt * 60))),
          series(`kube_job_failed${sel(`job_name="${bad}", condition="true"`)}`, repeat(failedAt, '1')),
          series(`kube_job_owner${sel(`job_name="${bad}", owner_kind="CronJob", owner_name="${drillName}", owner_is_controller="true"`)}`, repeat(failedAt, '1')),
        ],
        alert_rule_test: [
          { eval_time: `${failedAt - 1}m`, alertname: alertName, exp_alerts: [] },
          { eval_time: `${m}m`, alertname: alertName, exp_alerts: [{ exp_labels: { severity: r.labels.severity, namespace: ns, [labelKey]: backup } }] },
        ],
      },
    ],
  };
  writeFileSync(join(dir, 'test.yaml'), dump(test));
  const res = sh(promtool, ['test', 'rules', 'test.yaml'], { cwd: dir, allowFail: true });
  return { fired: res.status === 0 ? 'fires' : `promtool: ${res.stdout}${res.stderr}`.trim() };
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL physical backups (issue 14 item 12): WAL archiving + a base backup with the real
// barman-cloud tools, then the rendered point-in-time restore drill (CronJob `<cluster>-pitr-drill`)

/** Debian's postgres as the `postgres` system user, in a mount namespace that sees the barman venv. */
async function startArchivingSource(name, archiveCommand, s3env) {
  const dir = join(BASE, name);
  mkdirSync(dir);
  const uid = Number(sh('id', ['-u', 'postgres']).stdout.trim());
  const gid = Number(sh('id', ['-g', 'postgres']).stdout.trim());
  chownSync(dir, uid, gid);
  const as = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'];
  // CNPG clusters: superuser `postgres`, data checksums on (the rendered Cluster's initdb.dataChecksums)
  sh(as[0], [...as.slice(1), join(PG_BIN, 'initdb'), '--pgdata', join(dir, 'data'), '--username', 'postgres', '--auth=trust', '--data-checksums', '--no-sync'], { cwd: '/' });
  const run = join(dir, 'run');
  mkdirSync(run);
  chownSync(run, uid, gid);
  const script = [...venvLines(), 'cd /', `exec setpriv --pdeathsig KILL --reuid=${uid} --regid=${gid} --clear-groups -- "$@"`].join('\n');
  const args = [join(PG_BIN, 'postgres'), '-D', join(dir, 'data'), '-c', "listen_addresses=", '-c', `unix_socket_directories=${run}`, '-c', 'fsync=off', '-c', 'wal_level=replica', '-c', 'archive_mode=on', '-c', `archive_command=${archiveCommand}`];
  const d = startDaemon(name, 'unshare', ['-m', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'pg', ...args], { cwd: '/', env: { PATH: `${BARMAN_VENV}/bin:${PATH}`, HOME: run, ...s3env } });
  for (let i = 0; i < 150; i++) {
    if (sh(join(PG_BIN, 'pg_isready'), ['-h', run, '-p', '5432'], { allowFail: true }).status === 0) {
      const q = (db, sql) => sh(join(PG_BIN, 'psql'), ['-h', run, '-p', '5432', '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', sql]).stdout.trim();
      return { dir, run, uid, gid, q, stop: () => d.proc.kill('SIGKILL') };
    }
    if (d.proc.exitCode !== null) break;
    await sleep(200);
  }
  throw new Error(`the archiving PostgreSQL did not start: ${d.output()}`);
}

/** Row counts + md5 of every row of the tables the PITR test writes (same query on source and restore). */
const PITR_CHECKSUM = `SELECT string_agg(format('%s=%s:%s', t, c, h), ' ' ORDER BY t) FROM (
  SELECT 'items' AS t, count(*) AS c, md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) AS h FROM items x
  UNION ALL SELECT 'events', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) FROM events x
  UNION ALL SELECT 'settings', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.key), '')) FROM settings x
  UNION ALL SELECT 'after_backup', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) FROM after_backup x) s`;

async function testPitrDrills(env, objects) {
  for (const cj of objects.filter((o) => o.kind === 'CronJob' && o.metadata.labels?.['stackbook.io/pitr-drill-for'])) {
    const ns = cj.metadata.namespace;
    const cluster = cj.metadata.labels['stackbook.io/pitr-drill-for'];
    const job = `${ns}/${cj.metadata.name}`;
    try {
      await testPitrDrill(env, objects, cj, ns, cluster, job);
    } catch (e) {
      row({ stack: env, job, verify: 'NOT RUN', restore: 'NOT RUN', corruption: 'NOT RUN', note: `harness error: ${String(e.message ?? e).split('\n').slice(0, 3).join(' / ')}`, failed: true });
    }
  }
}

async function testPitrDrill(env, objects, cj, ns, cluster, job) {
  const store = objects.find((o) => o.kind === 'ObjectStore' && o.metadata.namespace === ns && objects.some((c) => c.kind === 'Cluster' && c.metadata.name === cluster && c.spec.plugins?.some((p) => p.isWALArchiver && p.parameters?.barmanObjectName === o.metadata.name)));
  if (!store) throw new Error(`no ObjectStore is the WAL archiver of Cluster ${ns}/${cluster}`);
  const cfg = store.spec.configuration;
  const serverName = cfg.serverName ?? cluster;
  const dest = new URL(cfg.destinationPath);
  const bucket = dest.hostname;
  const prefix = dest.pathname.replace(/^\/|\/$/g, '');
  const drillEnv = envOf(podSpec(cj).containers[0]);
  const database = drillEnv.DATABASE.value;
  // The plugin's commands, built from the rendered ObjectStore as github.com/cloudnative-pg/barman-cloud
  // builds them (archiver/command.go BarmanCloudWalArchiveOptions, backup/backup.go
  // GetBarmanCloudBackupOptions); only the endpoint is the local server (the archiver is a stand-in: the drill is under test)
  const endpoint = `http://127.0.0.1:${S3.port}`;
  const comp = (c) => (c?.compression ? [`--${c.compression}`] : []);
  const walArchive = ['barman-cloud-wal-archive', ...comp(cfg.wal), '--endpoint-url', endpoint, '--cloud-provider', 'aws-s3', cfg.destinationPath, serverName, '%p'].join(' ');
  const s3env = { AWS_ACCESS_KEY_ID: S3_ROOT.access, AWS_SECRET_ACCESS_KEY: S3_ROOT.secret };
  if (awsHost(S3.port, ['s3api', 'head-bucket', '--bucket', bucket], true).status !== 0) throw new Error(`bucket ${bucket} not created by any rendered Job`);
  rmSync(join(S3.dir, bucket, prefix, serverName), { recursive: true, force: true });
  const src = await startArchivingSource(`pitr-source-${env}`, walArchive, s3env);
  try {
    src.q('postgres', `CREATE DATABASE "${database}"`);
    src.q(database, `${PG_SEED} CREATE TABLE after_backup (id int PRIMARY KEY, note text);`);
    src.q('postgres', 'SELECT pg_switch_wal()');
    // base backup as the plugin takes it (as the postgres user, reading PGDATA)
    // --immediate-checkpoint: the tier's only addition (the rendered ObjectStore leaves data.immediateCheckpoint
    // off, and pg_backup_start would wait up to 4.5 min for a spread checkpoint of an idle test server)
    const backupArgv = ['barman-cloud-backup', '--user', 'postgres', '--name', `stackbook-${env}`, ...comp(cfg.data), '--immediate-checkpoint', '--endpoint-url', endpoint, '--cloud-provider', 'aws-s3', '-h', src.run, '-p', '5432', cfg.destinationPath, serverName];
    const bb = sh('unshare', ['-m', '--propagation', 'private', '--', '/bin/sh', '-c', [...venvLines(), 'cd /', `exec setpriv --reuid=${src.uid} --regid=${src.gid} --clear-groups -- "$@"`].join('\n'), 'bb', ...backupArgv], { allowFail: true, timeout: 300_000, env: { PATH: `${BARMAN_VENV}/bin:${PATH}`, HOME: src.run, ...s3env } });
    if (bb.status !== 0) throw new Error(`barman-cloud-backup failed: ${bb.stderr.slice(-500)}`);
    // after the base backup: writes that the recovery target includes, then a segment holding only a checkpoint
    src.q(database, `INSERT INTO after_backup SELECT g, 'after ' || g FROM generate_series(1, 3000) g; UPDATE items SET name = name || '-v2' WHERE id % 10 = 0; DELETE FROM events WHERE id % 17 = 0; INSERT INTO settings VALUES ('after', '{"backup": true}')`);
    const waitArchived = async (lsnSql) => {
      const seg = src.q('postgres', `SELECT pg_walfile_name(${lsnSql})`);
      for (let i = 0; i < 300; i++) {
        if (src.q('postgres', `SELECT coalesce(last_archived_wal, '') >= '${seg}' FROM pg_stat_archiver`) === 't') return seg;
        await sleep(200);
      }
      throw new Error(`WAL segment ${seg} was not archived: ${src.q('postgres', 'SELECT * FROM pg_stat_archiver')}`);
    };
    const segB = await waitArchived('pg_switch_wal()');
    const atTarget = src.q(database, PITR_CHECKSUM);
    src.q('postgres', 'CHECKPOINT');
    const segC = await waitArchived('pg_switch_wal()');
    // after the target: written, never archived (the open segment)
    src.q(database, `INSERT INTO after_backup SELECT g, 'not archived ' || g FROM generate_series(3001, 3500) g`);
    const latest = src.q(database, PITR_CHECKSUM);
    if (latest === atTarget) throw new Error('the writes after the target did not change the checksum');
    const walDir = join(S3.dir, bucket, prefix, serverName, 'wals');
    const walFiles = sh('find', [walDir, '-type', 'f']).stdout.trim().split('\n').filter(Boolean).sort();
    const stored = sh('du', ['-sb', join(S3.dir, bucket, prefix, serverName)]).stdout.split('\t')[0];

    // the drill, as rendered
    const services = {};
    const u = new URL(drillEnv.ENDPOINT_URL?.value ?? 'https://s3.amazonaws.com');
    services[`${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`] = await s3Port(u.href);
    const keys = { [drillEnv.ACCESS_KEY_ID_KEY.value]: S3_ROOT.access, [drillEnv.SECRET_ACCESS_KEY_KEY.value]: S3_ROOT.secret };
    const ctx = { objects, claims: {}, services, venv: true, secret: (n) => { throw new Error(`no env secret expected (${n})`); }, secretFile: (_name, key) => { if (!(key in keys)) throw new Error(`no test value for key ${key}`); return keys[key]; } };
    const d = runPod(cj, ctx);
    const dOut = outputOf(d);
    const okLine = lastLine(dOut, /pitr drill ok/);
    let restore;
    let restoredOk = false;
    if (!d.ok) restore = `FAILED: ${dOut.trim().split('\n').slice(-4).join(' / ')}`;
    else {
      // start Debian's postgres on the drill's recovered data directory (left in its emptyDir) and compare
      const work = d.volumes.work;
      const sock = mkdtempSync(join(BASE, 'pitr-sock-'));
      const uid = podSpec(cj).securityContext.runAsUser;
      chownSync(sock, uid, uid);
      writeFileSync(join(sock, 'hba'), 'local all all trust\n');
      writeFileSync(join(sock, 'ident'), '');
      const as = ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
      const pgdata = join(work, 'pgdata');
      const stop = () => sh(as[0], [...as.slice(1), join(PG_BIN, 'pg_ctl'), '--pgdata', pgdata, '--mode', 'immediate', 'stop'], { allowFail: true, cwd: '/', timeout: 60_000 });
      scratchServers.add(stop);
      const st = sh(as[0], [...as.slice(1), join(PG_BIN, 'pg_ctl'), '--pgdata', pgdata, '--wait', '--log', join(sock, 'log'), '-o', `-c unix_socket_directories=${sock} -c hba_file=${sock}/hba -c ident_file=${sock}/ident`, 'start'], { allowFail: true, cwd: '/' });
      const restored = st.status === 0 ? sh(as[0], [...as.slice(1), join(PG_BIN, 'psql'), '-h', sock, '-p', '5432', '-U', 'postgres', '-d', database, '-Atq', '-c', PITR_CHECKSUM], { allowFail: true, cwd: '/' }).stdout.trim() : `scratch server did not start: ${st.stderr}${readFileSync(join(sock, 'log'), 'utf8').slice(-300)}`;
      stop();
      scratchServers.delete(stop);
      restoredOk = restored === atTarget;
      const target = (/recovered to (\S+)/.exec(okLine) ?? [])[1];
      restore = restoredOk
        ? `ok: base backup + WAL to ${target} (start of ${segC}): ${atTarget.replace(/:[0-9a-f]{32}/g, '').replace(/ /g, ', ')} rows, checksums equal to the source at the target; the 500 rows written after it absent`
        : `FAILED: drill said "${okLine}" but the recovered data differs (${restored.slice(0, 200)} vs at target ${atTarget.slice(0, 200)}${restored === latest ? ': it equals the source AFTER the target' : ''})`;
    }

    // corruption: (a) a WAL segment between the base backup and the target missing, (b) one byte flipped in it
    const victim = walFiles.find((f) => f.includes(segB));
    if (!victim) throw new Error(`archived segment ${segB} not found under ${walDir}`);
    const original = readFileSync(victim);
    rmSync(victim);
    const c1 = runPod(cj, ctx);
    const c1Out = outputOf(c1);
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    writeFileSync(victim, flipped);
    const c2 = runPod(cj, ctx);
    const c2Out = outputOf(c2);
    writeFileSync(victim, original);
    const loud = (r, out) => !r.ok && /PITR DRILL FAILED: /.test(out);
    const c1ok = loud(c1, c1Out);
    const c2ok = loud(c2, c2Out);
    const why = (out) => `${lastLine(out, /PITR DRILL FAILED/).replace(/^.*PITR DRILL FAILED: /, '')}${/recovery ended before configured recovery target was reached/.test(out) ? ' — postgres: "recovery ended before configured recovery target was reached"' : ''}`;
    const rule = objects.find((o) => o.kind === 'PrometheusRule' && o.metadata.namespace === ns && o.spec.groups.some((g) => g.rules.some((r) => r.alert === 'PostgresPitrDrillFailed')));
    const alert = rule ? drillAlertFires(rule, ns, cluster, cj.metadata.name, 2, 8, 'PostgresPitrDrillFailed', 'cluster').fired : 'no PrometheusRule with PostgresPitrDrillFailed';
    row({
      stack: env,
      job: `${job} (physical: base backup + WAL)`,
      server: `postgres ${/\) (\d+\.\d+)/.exec(PG_VERSION)?.[1] ?? ''} + ${BARMAN_VERSION}`,
      target: `${cfg.destinationPath}/${serverName}`,
      bytes: Number(stored),
      verify: `archived: ${walFiles.length} files (barman-cloud-wal-archive ${comp(cfg.wal).join(' ')}), 1 base backup (barman-cloud-backup)`,
      restore,
      corruption: `missing segment ${segB}: ${c1ok ? 'detected' : 'NOT DETECTED'} (${why(c1Out)}); flipped byte in it: ${c2ok ? 'detected' : 'NOT DETECTED'} (${why(c2Out)}); PostgresPitrDrillFailed: ${alert}`,
      note: okLine.replace(/^.*pitr drill ok: /, 'drill: '),
      failed: !(d.ok && restoredOk && c1ok && c2ok && alert === 'fires'),
    });
  } finally {
    src.stop();
  }
}

// ------------------------------------------------------------------------------------------------
// The tier

log(`PostgreSQL: ${PG_VERSION} (${PG_BIN}); S3: versitygw ${GW}; ${AWS_VERSION}`);
const PG = await startPostgres();
const S3 = {}; // the current stack's http versitygw: { port, dir } (a fresh one per stack, startS3)
log(`source PostgreSQL on 127.0.0.1:${PG.port}`);

const rows = [];
let failures = 0;
const podStalls = [];
const row = (r) => {
  // what happened to S3 since the previous row: harness calls retried after a restart, script calls that stalled
  const s3 = [...s3Events.splice(0).map((w) => `S3 stall in the harness's ${w}: versitygw restarted, retried once`), ...podStalls.splice(0).map((w) => `S3 STALL in the script's own call (not retried): ${w}`)];
  if (s3.length) r.note = [r.note, ...s3].filter(Boolean).join('; ');
  rows.push(r);
  const bad = r.failed;
  if (bad) failures++;
  log(`${bad ? 'FAIL' : 'ok  '} ${r.stack} ${r.job}: ${r.bytes ?? '-'} | ${r.verify} | ${r.restore} | ${r.corruption}${r.note ? ` | ${r.note}` : ''}`);
};

/** The mc Jobs' credentials (the files access-key/secret-key of their Secret volume) and their S3_URL Service -> a local port. */
const mcSecret = (secretFor) => (envName, ref) => {
  if (envName === 'access-key') return secretFor.access;
  if (envName === 'secret-key') return secretFor.secret;
  throw new Error(`no test value for ${envName} (secret ${ref.name}/${ref.key})`);
};
const s3Services = (c, port) => {
  const u = new URL(envOf(c).S3_URL.value);
  return { [`${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`]: port };
};

const only = process.argv.slice(2);
const envs = knownEnvironments(ROOT).filter((e) => only.length === 0 || only.includes(e));
for (const env of envs) {
  let rendered;
  try {
    rendered = render(loadStackFile(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), `stacks/Pulumi.${env}.yaml`));
  } catch (e) {
    row({ stack: env, job: '(stack)', verify: 'NOT RUN', restore: 'NOT RUN', corruption: 'NOT RUN', note: `render failed: ${String(e.message ?? e).split('\n')[0]}`, failed: true });
    continue;
  }
  const objects = rendered.objects;
  Object.assign(S3, await startS3(env));
  log(`${env}: fresh versitygw on 127.0.0.1:${S3.port} (POSIX ${S3.dir})`);
  const cronJobs = objects.filter((o) => o.kind === 'CronJob');
  // the buckets Job (mc mb --ignore-existing) creates the buckets the backups write to: run it, twice
  for (const o of objects.filter((x) => x.kind === 'Job' && /^minio-buckets-[0-9a-f]{8}$/.test(x.metadata.name))) {
    const c = podSpec(o).containers[0];
    const ctx = { objects, claims: {}, services: s3Services(c, await s3Port(envOf(c).S3_URL.value)), secret: mcSecret(S3_ROOT) };
    const wanted = (envOf(c).BUCKETS?.value ?? '').split(/\s+/).filter(Boolean);
    const r1 = runPod(o, ctx);
    const r2 = runPod(o, ctx);
    const have = JSON.parse(awsHost(S3.port, ['s3api', 'list-buckets', '--query', 'Buckets[].Name', '--output', 'json']).stdout || '[]') ?? [];
    const ok = r1.ok && r2.ok && wanted.length > 0 && wanted.every((b) => have.includes(b));
    row({ stack: env, job: `${o.metadata.namespace}/${o.metadata.name} (buckets)`, server: 'versitygw', target: wanted.join(' '), verify: ok ? `ok: ${wanted.join(', ')} exist; 2nd run ok (idempotent)` : `FAILED: ${outputOf(r1).slice(-300)} ${outputOf(r2).slice(-300)}`, restore: '-', corruption: '-', failed: !ok });
  }
  // STACKBOOK_BACKUPS_ONLY=pitr: only the physical-backup drill (after the buckets Job), for quick iterations
  const backups = process.env.STACKBOOK_BACKUPS_ONLY === 'pitr' ? [] : cronJobs.filter((o) => o.metadata.name.endsWith('-backup'));
  for (const bj of backups) {
    try {
      await testBackup(env, objects, cronJobs, bj);
    } catch (e) {
      row({ stack: env, job: `${bj.metadata.namespace}/${bj.metadata.name}`, verify: 'NOT RUN', restore: 'NOT RUN', corruption: 'NOT RUN', note: `harness error: ${String(e.message ?? e).split('\n')[0]}`, failed: true });
    }
  }
  if (process.env.STACKBOOK_BACKUPS_ONLY !== 'pitr') await testRetentionJobs(env, objects);
  await testPitrDrills(env, objects);
}

async function testBackup(env, objects, cronJobs, bj) {
  {
    const ns = bj.metadata.namespace;
    const name = bj.metadata.name.replace(/-backup$/, '');
    const drill = cronJobs.find((o) => o.metadata.name === `${name}-restore-drill` && o.metadata.namespace === ns);
    const pod = podSpec(bj);
    const all = [...(pod.initContainers ?? []), ...pod.containers];
    const produceEnv = envOf(all[0]);
    const job = `${ns}/${bj.metadata.name}`;
    // the Secret files the produce container mounts count as its variables (MONGODB_URI is one now)
    const secretFiles = new Set((pod.volumes ?? []).filter((v) => (all[0].volumeMounts ?? []).some((m) => m.name === v.name)).flatMap((v) => (v.projected?.sources ?? []).concat(v.secret ? [{ secret: v.secret }] : []).flatMap((src) => (src.secret?.items ?? []).map((it) => it.path))));
    const kind = produceEnv.PGHOST ? 'postgres' : produceEnv.MONGODB_URI || secretFiles.has('MONGODB_URI') ? 'mongodb' : produceEnv.DB_PATH ? 'sqlite' : produceEnv.SOURCE_DIR ? 'pvc-tarball' : produceEnv.CH_DATABASE || /clickhouse/.test(all[0].image) ? 'clickhouse' : 'unknown';
    if (kind === 'mongodb' || kind === 'clickhouse' || kind === 'unknown') {
      row({ stack: env, job, server: kind, verify: 'NOT RUN', restore: 'NOT RUN', corruption: 'NOT RUN', note: kind === 'mongodb' ? 'no mongod, mongodump or mongorestore obtainable here (module proxy 403 for mongo-tools; re-checked 2026-12-07, docs/backup-tests.md)' : kind === 'clickhouse' ? 'no clickhouse-server of the rendered features (Debian 18.16; chdb runs the BACKUP/RESTORE SQL but has no server; re-checked 2026-12-07, docs/backup-tests.md)' : 'unrecognised source: teach the tier to run it', failed: kind === 'unknown' });
      return;
    }
    const storeEnv = envOf(pod.containers[0]);
    const EXT = produceEnv.EXT.value;
    const RETENTION = Number(storeEnv.RETENTION.value);
    const minCount = drill ? Number(envOf(podSpec(drill).containers[0]).MIN_COUNT.value) : 1;

    // claims (fresh per backup and stack), services, secrets
    const claims = {};
    for (const o of [bj, drill].filter(Boolean)) for (const v of podSpec(o).volumes ?? []) if (v.persistentVolumeClaim && !claims[v.persistentVolumeClaim.claimName]) {
      const d = join(BASE, `${env}-claim-${v.persistentVolumeClaim.claimName}`);
      mkdirSync(d, { recursive: true });
      claims[v.persistentVolumeClaim.claimName] = d;
    }
    const services = {};
    const db = produceEnv.PGDATABASE?.value;
    if (kind === 'postgres') services[`${produceEnv.PGHOST.value}:${produceEnv.PGPORT.value}`] = PG.port;
    if (storeEnv.S3_ENDPOINT) {
      const u = new URL(storeEnv.S3_ENDPOINT.value);
      services[`${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`] = await s3Port(storeEnv.S3_ENDPOINT.value);
    }
    const pgUser = { user: `${env}_${name}_backup`.replace(/[^a-z0-9_]/g, '_'), password: `pw-${env}-${name}-${PG.port}` };
    const secret = (envName, ref) => {
      if (envName === 'PGUSER') return pgUser.user;
      if (envName === 'PGPASSWORD') return pgUser.password;
      if (envName === 'AWS_ACCESS_KEY_ID') return S3_ROOT.access;
      if (envName === 'AWS_SECRET_ACCESS_KEY') return S3_ROOT.secret;
      throw new Error(`${job}: no test value for ${envName} (secret ${ref.name}/${ref.key})`);
    };
    const ctx = { objects, claims, services, secret };

    // seed the source
    let sourceSum;
    let sourceDir;
    let sourceDb;
    if (kind === 'postgres') {
      const dbName = `${db}`;
      psql(PG.port, 'postgres', `DROP DATABASE IF EXISTS "${dbName}"`);
      psql(PG.port, 'postgres', `DROP ROLE IF EXISTS "${pgUser.user}"`);
      psql(PG.port, 'postgres', `CREATE ROLE "${pgUser.user}" LOGIN PASSWORD '${pgUser.password}'`);
      psql(PG.port, 'postgres', `CREATE DATABASE "${dbName}" OWNER "${pgUser.user}"`);
      psql(PG.port, dbName, PG_SEED, pgUser);
      sourceSum = psql(PG.port, dbName, PG_CHECKSUM, pgUser);
    } else {
      const srcVol = pod.volumes.find((v) => v.name === 'source');
      const srcMount = all[0].volumeMounts.find((m) => m.name === 'source').mountPath;
      sourceDir = claims[srcVol.persistentVolumeClaim.claimName];
      rmSync(sourceDir, { recursive: true, force: true });
      mkdirSync(sourceDir);
      if (kind === 'sqlite') {
        sourceDb = join(sourceDir, relative(srcMount, produceEnv.DB_PATH.value));
        mkdirSync(dirname(sourceDb), { recursive: true });
        sh('sqlite3', [sourceDb, "PRAGMA journal_mode=WAL; CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, token BLOB); CREATE TABLE sessions (id INTEGER PRIMARY KEY, user INTEGER REFERENCES users(id), started TEXT); WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 2000) INSERT INTO users SELECT x, 'user-' || x, randomblob(16) FROM g; INSERT INTO sessions SELECT id, id, '2026-01-01' FROM users;"]);
        sourceSum = sqliteChecksum(sourceDb);
      } else {
        seedProjects(sourceDir);
        sourceSum = treeHashes(sourceDir).join('\n');
      }
    }

    // the target: bucket, and older artefacts + foreign keys for the retention check
    const tgt = target(storeEnv, claims);
    const notes0 = [];
    if (tgt.kind === 's3') {
      // the bucket comes from the stack's buckets Job above; each backup starts from an empty prefix
      if (awsHost(S3.port, ['s3api', 'head-bucket', '--bucket', tgt.bucket], true).status !== 0) notes0.push(`bucket ${tgt.bucket} not created by any rendered Job`);
      awsHost(S3.port, ['s3', 'rm', '--only-show-errors', '--recursive', `s3://${tgt.bucket}/${tgt.prefix}/`], true);
    }
    const tdir = targetDir(tgt, claims, bj);
    const seeded = Array.from({ length: RETENTION + 2 }, (_, i) => `${name}-2020${String(i + 1).padStart(2, '0')}01T000000Z.${EXT}`);
    const foreign = [`README-${name}.txt`, `other-20200101T000000Z.${EXT}`];
    putObjects(tgt, tdir, {
      ...Object.fromEntries(seeded.flatMap((k) => [[k, `old ${k}\n`], [`${k}.sha256`, `${createHash('sha256').update(`old ${k}\n`).digest('hex')}  ${k}\n`]])),
      ...Object.fromEntries(foreign.map((k) => [k, 'not an artefact of this backup\n'])),
    });

    // 1. backup
    // STACKBOOK_S3_INJECT_STALL=script: the check that a script's own stalled S3 call fails its row,
    // named, and is not retried (the gateway stopped during the first S3 backup's run, resumed after)
    const stallScript = process.env.STACKBOOK_S3_INJECT_STALL === 'script' && tgt.kind === 's3' && !injectedStall ? gateways.filter((g) => Object.values(services).includes(g.port)) : [];
    if (stallScript.length) {
      injectedStall = true;
      for (const g of stallScript) g.proc.kill('SIGSTOP');
      log(`STACKBOOK_S3_INJECT_STALL=script: ${stallScript.map((g) => g.name).join(', ')} stopped (SIGSTOP) while ${job} runs`);
    }
    const b = runPod(bj, ctx);
    for (const g of stallScript) g.proc.kill('SIGCONT');
    const bOut = outputOf(b);
    const bytes = Number((/(?:produced|streamed, stored) and verified \S+ \((\d+) bytes/.exec(bOut) ?? [])[1] ?? NaN);
    const stored = lastLine(bOut, /stored and verified/);
    const notes = [...notes0];
    // what the backup pod left in its /work emptyDir (node disk): a streamed tarball leaves no archive there
    const staged = Math.max(0, ...readdirSync(b.volumes.work).map((n) => statSync(join(b.volumes.work, n)).size));
    notes.push(`largest file in /work: ${staged} bytes`);
    if (!b.ok) {
      row({ stack: env, job, server: kind, target: tgt.where, bytes: '-', verify: `FAILED: ${bOut.trim().split('\n').slice(-3).join(' / ')}`, restore: 'NOT RUN', corruption: 'NOT RUN', failed: true });
      return;
    }
    const after = listArtefacts(tgt, tdir, name, EXT);
    const newest = after.artefacts[after.artefacts.length - 1];
    const readBack = createHash('sha256').update(getObject(tgt, tdir, newest)).digest('hex');
    const want = getObject(tgt, tdir, `${newest}.sha256`).toString().split(' ')[0];
    const retentionOk = after.artefacts.length === RETENTION && !after.artefacts.includes(seeded[0]) && !after.artefacts.includes(seeded[1]) && after.artefacts.includes(seeded[seeded.length - 1]) && foreign.every((k) => after.all.includes(k)) && after.artefacts.every((k) => after.all.includes(`${k}.sha256`)) && !after.all.includes(`${seeded[0]}.sha256`);
    const verify = stored && readBack === want ? `ok (read back sha256 ${want.slice(0, 12)}…)` : `FAILED (read back ${readBack} vs ${want})`;
    notes.push(`retention keep ${RETENTION} of ${seeded.length + 1}: ${retentionOk ? 'ok' : `FAILED (${after.all.join(',')})`}`);

    // a second backup run: idempotent pruning (still N kept, the previous newest still there)
    await sleep(1100); // stamps have second resolution
    const b2 = runPod(bj, ctx);
    const after2 = listArtefacts(tgt, tdir, name, EXT);
    const secondOk = b2.ok && after2.artefacts.length === RETENTION && after2.artefacts.includes(newest) && foreign.every((k) => after2.all.includes(k));
    notes.push(`2nd run: ${secondOk ? 'ok' : `FAILED (${outputOf(b2).slice(-300)})`}`);
    if (!drill) {
      row({ stack: env, job, server: kind, target: tgt.where, bytes, verify, restore: 'no drill rendered', corruption: 'NOT RUN', note: notes.join('; '), failed: true });
      return;
    }

    // 2. restore drill, then compare the drill's own scratch copy with the source
    const d = runPod(drill, ctx);
    const dOut = outputOf(d);
    let restore;
    if (!d.ok) restore = `FAILED: ${dOut.trim().split('\n').slice(-3).join(' / ')}`;
    else {
      const work = d.volumes.work;
      let restoredSum = '';
      if (kind === 'postgres') {
        // start Debian's postgres on the drill's own scratch data directory (left in its emptyDir)
        const sock = mkdtempSync(join(BASE, 'drill-sock-'));
        const uid = podSpec(drill).securityContext.runAsUser;
        chownSync(sock, uid, uid);
        const port = await freePort();
        const as = ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
        const pgdata = join(work, 'pgdata');
        const st = sh(as[0], [...as.slice(1), join(PG_BIN, 'pg_ctl'), '--pgdata', pgdata, '--wait', '--log', join(sock, 'log'), '-o', `-c listen_addresses='' -k ${sock} -p ${port}`, 'start'], { allowFail: true, cwd: '/' });
        const stop = () => sh(as[0], [...as.slice(1), join(PG_BIN, 'pg_ctl'), '--pgdata', pgdata, '--mode', 'immediate', 'stop'], { allowFail: true, cwd: '/', timeout: 60_000 });
        scratchServers.add(stop);
        if (st.status === 0) {
          restoredSum = sh(as[0], [...as.slice(1), join(PG_BIN, 'psql'), '-h', sock, '-p', String(port), '-U', 'drill', '-d', 'drill', '-Atq', '-c', PG_CHECKSUM], { allowFail: true, cwd: '/' }).stdout.trim();
        }
        else restoredSum = `scratch server did not start: ${st.stderr}`;
        stop();
        scratchServers.delete(stop);
      } else if (kind === 'sqlite') restoredSum = sqliteChecksum(join(work, 'restore.db'));
      else restoredSum = treeHashes(join(work, 'restore')).join('\n');
      const same = restoredSum === sourceSum;
      const drillLine = lastLine(dOut, /restore drill ok/);
      restore = same
        ? `ok (${kind === 'pvc-tarball' ? `${sourceSum.split('\n').length} entries byte-identical` : sourceSum.replace(/:[0-9a-f]{32}/g, '').replace(/ /g, ', ') + ' rows, checksums equal'})`
        : `FAILED: drill said "${drillLine}" but the restored data differs from the source (${restoredSum.slice(0, 200)} vs ${sourceSum.slice(0, 200)})`;
      if (!same) d.ok = false;
    }

    // 3. corruption: (a) one flipped byte in the stored artefact, its .sha256 unchanged;
    //    (b) the artefact cut to half with a .sha256 that matches it (corrupted before it was hashed)
    const latest = listArtefacts(tgt, tdir, name, EXT).artefacts.pop();
    const original = getObject(tgt, tdir, latest);
    const originalSum = getObject(tgt, tdir, `${latest}.sha256`);
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    putObject(tgt, tdir, latest, flipped);
    const c1 = runPod(drill, ctx);
    const c1Out = outputOf(c1);
    const half = original.subarray(0, Math.floor(original.length / 2));
    putObjects(tgt, tdir, { [latest]: half, [`${latest}.sha256`]: `${createHash('sha256').update(half).digest('hex')}  ${latest}\n` });
    const c2 = runPod(drill, ctx);
    const c2Out = outputOf(c2);
    putObjects(tgt, tdir, { [latest]: original, [`${latest}.sha256`]: originalSum });
    const loud = (run, out) => !run.ok && /BACKUP FAILED: /.test(out);
    const c1ok = loud(c1, c1Out) && /does not match its checksum/.test(c1Out);
    const c2ok = loud(c2, c2Out);
    const rule = objects.find((o) => o.kind === 'PrometheusRule' && o.metadata.name === `${name}-backup` && o.metadata.namespace === ns);
    const alert = rule ? drillAlertFires(rule, ns, name, drill.metadata.name, 2, 8).fired : 'no PrometheusRule';
    const corruption = `${c1ok ? 'flipped byte: detected' : 'flipped byte: NOT DETECTED'} ("${lastLine(c1Out, /BACKUP FAILED/).replace(/^.*BACKUP FAILED: /, '')}"); ${c2ok ? 'truncated: detected' : 'truncated: NOT DETECTED'} ("${lastLine(c2Out, /BACKUP FAILED/).replace(/^.*BACKUP FAILED: /, '')}"); BackupRestoreDrillFailed: ${alert}`;
    row({
      stack: env,
      job: `${job} + ${drill.metadata.name}`,
      server: kind === 'postgres' ? `postgres ${/\) (\d+\.\d+)/.exec(PG_VERSION)?.[1] ?? ''}` : kind,
      target: tgt.where,
      bytes,
      verify,
      restore,
      corruption,
      note: notes.join('; '),
      failed: !(b.ok && verify.startsWith('ok') && retentionOk && secondOk && d.ok && c1ok && c2ok && alert === 'fires'),
    });
  }

}

async function testRetentionJobs(env, objects) {
  // retention Jobs: the MinIO lifecycle (mc) against moto, twice: the second run must change nothing
  for (const o of objects.filter((x) => x.kind === 'Job' && /^minio-lifecycle-[0-9a-f]{8}$/.test(x.metadata.name))) {
    const c = podSpec(o).containers[0];
    const bucket = envOf(c).BUCKET.value;
    const LIFECYCLE_S3 = await startMoto(envOf(c).S3_URL.value);
    const ctx = { objects, claims: {}, services: s3Services(c, LIFECYCLE_S3.port), secret: mcSecret({ access: 'stackbooklifecycle', secret: 'lifecycle-secret-key' }) };
    const cfgVol = podSpec(o).volumes.find((v) => v.configMap);
    const cm = objects.find((x) => x.kind === 'ConfigMap' && x.metadata.name === cfgVol.configMap.name && x.metadata.namespace === o.metadata.namespace);
    const want = JSON.parse(cm.data['lifecycle.json']);
    const get = () => {
      const r = awsMoto(LIFECYCLE_S3, ['s3api', 'get-bucket-lifecycle-configuration', '--bucket', bucket, '--output', 'json'], true);
      return r.status === 0 ? JSON.parse(r.stdout) : null;
    };
    const r1 = runPod(o, ctx);
    const after1 = get();
    const r2 = runPod(o, ctx);
    const after2 = get();
    const norm = (rules) => JSON.stringify((rules ?? []).map((r) => ({ ID: r.ID, Status: r.Status, Days: r.Expiration?.Days, Abort: r.AbortIncompleteMultipartUpload?.DaysAfterInitiation, Prefix: r.Filter?.Prefix ?? r.Prefix ?? '' })));
    const applied = after1 && norm(after1.Rules) === norm(want.Rules);
    const same = after1 && after2 && JSON.stringify(after1) === JSON.stringify(after2);
    LIFECYCLE_S3.stop();
    const ok = r1.ok && r2.ok && applied && same;
    const w = want.Rules[0];
    row({
      stack: env,
      job: `${o.metadata.namespace}/${o.metadata.name} (retention)`,
      server: 'moto (S3 lifecycle API)',
      target: `bucket ${bucket}`,
      verify: ok ? `ok: rule ${w.ID} expires after ${w.Expiration?.Days} d, aborts uploads after ${w.AbortIncompleteMultipartUpload?.DaysAfterInitiation} d; 2nd run: unchanged` : `FAILED: applied=${!!applied} unchanged=${!!same} ${outputOf(r1).slice(-300)} ${outputOf(r2).slice(-200)}`,
      restore: '-',
      corruption: '-',
      note: 'expiry itself is the server\'s (moto stores the rules, does not expire objects)',
      failed: !ok,
    });
  }
  // the other retention Jobs: which could not run here
  for (const o of objects.filter((x) => x.kind === 'Job' && /-ttl-[0-9a-f]{8}$/.test(x.metadata.name))) {
    const image = podSpec(o).containers[0].image;
    const why = /clickhouse/.test(image) ? 'Debian clickhouse-server 18.16 only (no server of the rendered 25.8 features)' : /mongo/.test(image) ? 'no MongoDB server installable here' : /\/mc:/.test(image) ? 'needs mc and a server with the MinIO lifecycle API (docs/backup-tests.md)' : 'unrecognised';
    row({ stack: env, job: `${o.metadata.namespace}/${o.metadata.name} (retention)`, verify: 'NOT RUN', restore: '-', corruption: '-', note: why });
  }
}

// ------------------------------------------------------------------------------------------------
// Report

const header = ['stack', 'job', 'server', 'target', 'bytes written', 'verify', 'restore', 'corruption detected', 'notes'];
const esc = (s) => String(s ?? '-').replace(/\|/g, '\\|').replace(/\n/g, ' ');
const table = [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...rows.map((r) => `| ${[r.stack, r.job, r.server, r.target, r.bytes, r.verify, r.restore, r.corruption, r.note].map(esc).join(' | ')} |`),
].join('\n');
const md = `# Backup tier (tools/test-backups.mjs)

Every backup and restore-drill CronJob of every stack, run as real processes with the rendered
scripts, env and volume paths, against servers on 127.0.0.1: ${PG_VERSION} (source, and the drills'
pg_dump/pg_restore/initdb), versitygw (${GW}) with a POSIX backend, ${AWS_VERSION}; the MinIO
buckets Job with mc (${MC}) against versitygw, the lifecycle Job against moto (${MOTO}); the
PostgreSQL point-in-time restore drills with ${BARMAN_VERSION} (barman[cloud], ${BARMAN_VENV}).
Result: ${failures === 0 ? 'all runs passed' : `${failures} FAILED`}.

${table}
`;
mkdirSync(join(ROOT, 'dist'), { recursive: true });
writeFileSync(join(ROOT, 'dist/backup-test.md'), md);
console.log(md);
stopAll();
process.exit(failures === 0 ? 0 : 1);

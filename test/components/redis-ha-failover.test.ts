/**
 * Replicated Redis (X-5, AION-6) for real: the configuration the component renders — redis.conf
 * and sentinel.conf from its ConfigMap, the init container's script and environment, haproxy.cfg —
 * runs as processes on this machine: three members (redis + sentinel each, on 127.0.0.2–4, the
 * way each pod has its own address), one HAProxy on 127.0.0.1. A client writes through HAProxy,
 * the primary's pod is lost (redis and sentinel SIGKILLed), and within a bounded time a replica is
 * promoted, HAProxy routes writes to it, and the data written before the loss is still there. The
 * lost member then comes back through the same init script and rejoins as a replica.
 *
 * Needs the Debian packages redis-server, redis-sentinel (redis-tools brings redis-cli) and
 * haproxy; without them the tests FAIL, never skip. Debian bookworm ships redis 7.0 and
 * haproxy 2.6 (the images are 8.2 and 3.2): the rendered files need no change for them.
 *
 * What the test substitutes, and only that: the cluster DNS names of the members become
 * 127.0.0.2–4; the ports (6379, 26379, 8404) become free local ports; `bind` lines, `dir`
 * and the container paths (/etc/redis, /run/redis, /data, /tmp) become per-member temp dirs;
 * and HAProxy's `resolvers` section is dropped (the addresses are IP literals here, and a
 * localhost test must not query the machine's DNS server).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from '../../components/redis.js';
import { newChart, objectsOf, only, type Json } from './util.js';

const BINARIES = ['redis-server', 'redis-sentinel', 'redis-cli', 'haproxy'] as const;
const MISSING =
  'the replicated-Redis failover test runs the rendered configuration with real processes: install them with ' +
  '`apt-get install -y redis-server redis-sentinel redis-tools haproxy` (Debian). It fails, never skips, without them.';
// Quotes, a backslash, a space, `$` and `%`: the escaping of every place the password goes is exercised.
const PASSWORD = 'p@ss w"o\\rd$HOME%x';
const DIGEST = `@sha256:${'e'.repeat(64)}`;
const MEMBERS = 3;
const ip = (i: number) => `127.0.0.${i + 2}`;

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/usr/bin'])) {
    try {
      execFileSync('test', ['-x', join(dir, bin)]);
      return join(dir, bin);
    } catch {
      // next
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A RESP command (binary-safe lengths). */
const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** HTTP status of HAProxy's /healthz (0 when it does not answer). */
async function health(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

/** redis-cli against host:port with the password from the environment; output or the error text. */
function cli(host: string, port: number, ...args: string[]): string {
  try {
    return execFileSync('redis-cli', ['--raw', '-h', host, '-p', String(port), ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', REDISCLI_AUTH: PASSWORD },
      encoding: 'utf8',
      timeout: 3000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (e) {
    return `ERROR ${(e as Error).message}`;
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let last: unknown;
  while (Date.now() - start < timeoutMs) {
    try {
      const v = await probe();
      if (v !== undefined) return { value: v, ms: Date.now() - start };
    } catch (e) {
      last = e;
    }
    // every 250 ms: each probe starts a redis-cli (a poll every 100 ms was ~2 s of the file's CPU
    // over its ~20 s of waits); the failover bound below is 30 s
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

const children: ChildProcess[] = [];
const logs = new Map<string, string[]>();
let root: string | undefined;

function start(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  logs.set(label, log);
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  children.push(child);
  return child;
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

afterAll(async () => {
  for (const c of children) stop(c);
  await sleep(50);
  if (root) rmSync(root, { recursive: true, force: true });
});

function render(): { objects: Json[]; redis: Redis } {
  const chart = newChart();
  const redis = new Redis(chart, 'R', {
    namespace: 'aion',
    tier: 'production',
    replicas: MEMBERS,
    image: `docker.io/library/redis:8.2.2-alpine${DIGEST}`,
    exporterImage: `docker.io/oliver006/redis_exporter:v1.77.0${DIGEST}`,
    haproxyImage: `docker.io/library/haproxy:3.2.4-alpine${DIGEST}`,
    passwordSecret: { name: 'redis-auth', key: 'password' },
    urlSecret: { name: 'redis-auth', key: 'url' },
    clients: [{ name: 'gateway' }],
    runbookUrl: (a) => `https://runbooks.example.com/redis#${a}`,
    // Fast failover for the test; the rendered defaults are 5000 / 10000.
    downAfterMilliseconds: 1000,
    failoverTimeoutMilliseconds: 2000,
  });
  return { objects: objectsOf(chart), redis };
}

describe('replicated Redis fails over for real (X-5, AION-6)', () => {
  it('X-5: redis-server, redis-sentinel, redis-cli and haproxy are installed', () => {
    const missing = BINARIES.filter((b) => !which(b));
    expect(missing, `${missing.join(', ')} missing: ${MISSING}`).toEqual([]);
  });

  it('X-5 AION-6: the primary\'s pod is lost; a replica is promoted, writes through HAProxy succeed again and no acknowledged write is lost', async () => {
    const missing = BINARIES.filter((b) => !which(b));
    if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: ${MISSING}`);
    root = mkdtempSync(join(tmpdir(), 'stackbook-redis-ha-'));
    const [P, S, Q, H] = [await freePort(), await freePort(), await freePort(), await freePort()];

    // ---------------------------------------------------------------- what the component renders
    const { objects } = render();
    const cm = only(objects, 'ConfigMap', 'redis-config').data as Record<string, string>;
    const haproxyCfg = (only(objects, 'ConfigMap', 'redis-haproxy').data as Record<string, string>)['haproxy.cfg']!;
    const pod = only(objects, 'StatefulSet', 'redis-node').spec.template.spec;
    const init = pod.initContainers.find((c: Json) => c.name === 'config');
    const redisC = pod.containers.find((c: Json) => c.name === 'redis');
    const sentinelC = pod.containers.find((c: Json) => c.name === 'sentinel');
    const script: string = init.command[2];
    const proxyPod = only(objects, 'Deployment', 'redis').spec.template.spec;
    const haproxyC = proxyPod.containers.find((c: Json) => c.name === 'haproxy');
    const haproxyInit = proxyPod.initContainers.find((c: Json) => c.name === 'auth');
    const literals: Record<string, string> = Object.fromEntries(init.env.filter((e: Json) => typeof e.value === 'string').map((e: Json) => [e.name, e.value]));
    const hosts = literals.REDIS_HA_HOSTS!.split(' ');
    expect(hosts).toEqual([0, 1, 2].map((i) => `redis-node-${i}.redis-node.aion.svc.cluster.local`));
    expect(redisC.command).toEqual(['redis-server', '/run/redis/redis.conf']);
    expect(sentinelC.command).toEqual(['redis-server', '/run/redis/sentinel.conf', '--sentinel']);

    // ---------------------------------------------------------------- the local substitutions
    // The Secret key as the pod sees it: a file (issue 14 item 17); no container gets it in env.
    const secretFile = join(root, 'secret-password');
    writeFileSync(secretFile, PASSWORD, { mode: 0o440 });
    const atFile = (text: string) => text.split('/run/secrets/redis/password').join(secretFile);
    expect(literals.REDIS_PASSWORD_FILE).toBe('/run/secrets/redis/password');
    const hostToIp = (text: string) => hosts.reduce((t, h, i) => t.split(h).join(ip(i)), text);
    const member = (i: number) => {
      const dir = join(root!, `redis-node-${i}`);
      const d = { etc: join(dir, 'etc'), run: join(dir, 'run'), data: join(dir, 'data'), tmp: join(dir, 'tmp') };
      for (const p of Object.values(d)) mkdirSync(p, { recursive: true });
      const local = (conf: string) =>
        conf
          .replace(/^bind .*$/m, `bind ${ip(i)}`)
          .replace(/^port 6379$/m, `port ${P}`)
          .replace(/^port 26379$/m, `port ${S}`)
          .replace(/^dir \/data$/m, `dir ${d.data}`)
          .replace(/^dir \/tmp$/m, `dir ${d.tmp}`);
      writeFileSync(join(d.etc, 'redis.conf'), local(cm['redis.conf']!));
      writeFileSync(join(d.etc, 'sentinel.conf'), local(cm['sentinel.conf']!));
      return d;
    };
    const dirs = Array.from({ length: MEMBERS }, (_v, i) => member(i));
    const runInit = (i: number): string =>
      execFileSync('/bin/sh', ['-c', script.split('/etc/redis/').join(`${dirs[i]!.etc}/`).split('/run/redis/').join(`${dirs[i]!.run}/`)], {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ...literals,
          REDIS_HA_HOSTS: hostToIp(literals.REDIS_HA_HOSTS!),
          REDIS_HA_REDIS_PORT: String(P),
          REDIS_HA_SENTINEL_PORT: String(S),
          POD_NAME: `redis-node-${i}`,
          REDIS_PASSWORD_FILE: secretFile,
        },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const procs: Array<{ redis: ChildProcess; sentinel: ChildProcess }> = [];
    const startMember = async (i: number) => {
      const out = runInit(i);
      const conf = readFileSync(join(dirs[i]!.run, 'redis.conf'), 'utf8');
      expect(conf.split('\n')).toContain(`replica-announce-ip ${ip(i)}`);
      const redis = start(`redis-${i}`, 'redis-server', [join(dirs[i]!.run, 'redis.conf')]);
      const sentinel = start(`sentinel-${i}`, 'redis-server', [join(dirs[i]!.run, 'sentinel.conf'), '--sentinel']);
      procs[i] = { redis, sentinel };
      // The readiness checks, as the pod runs them (OrderedReady: the next member starts after):
      // the rendered probe commands, reading the password file, against this member's address.
      const probe = (c: Json, port: number) => () => {
        const cmd = atFile(c.readinessProbe.exec.command[2]).replace(`-p ${port === P ? 6379 : 26379} `, `-h ${ip(i)} -p ${port} `);
        return spawnSync('/bin/sh', ['-c', cmd], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 3000 }).status === 0 ? true : undefined;
      };
      await until(`redis-${i} ready\n${logs.get(`redis-${i}`)!.join('')}`, 10_000, probe(redisC, P));
      await until(`sentinel-${i} ready\n${logs.get(`sentinel-${i}`)!.join('')}`, 10_000, probe(sentinelC, S));
      return out;
    };

    // ---------------------------------------------------------------- members, in order
    expect(await startMember(0)).toContain(`${ip(0)} starts as the primary`);
    expect(await startMember(1)).toContain(`${ip(1)} starts as a replica of ${ip(0)}`);
    expect(await startMember(2)).toContain(`${ip(2)} starts as a replica of ${ip(0)}`);
    // Every sentinel knows the other two and both replicas: a failover can be authorised.
    for (let i = 0; i < MEMBERS; i++) {
      await until(`sentinel-${i} to reach quorum`, 15_000, () => (/^OK 3 usable Sentinels/.test(cli(ip(i), S, 'SENTINEL', 'CKQUORUM', 'redis')) ? true : undefined));
    }
    await until('both replicas attached', 10_000, () => (/connected_slaves:2/.test(cli(ip(0), P, 'INFO', 'replication')) ? true : undefined));

    // ---------------------------------------------------------------- HAProxy
    const localCfg = hostToIp(haproxyCfg)
      .replace(/\nresolvers cluster\n(  .*\n)+/, '\n')
      .split(' resolvers cluster resolve-prefer ipv4').join('')
      .split(':26379 ').join(`:${S} `)
      .split(':6379 ').join(`:${P} `)
      .replace(`bind :6379`, `bind 127.0.0.1:${Q}`)
      .replace(`bind :8404`, `bind 127.0.0.1:${H}`)
      // Shorter idle limits so the test need not wait 330 s: an idle subscriber must outlive them.
      .replace('  timeout client 330s', '  timeout client 2s')
      .replace('  timeout server 330s', '  timeout server 2s');
    expect(localCfg).not.toMatch(/redis-node-|resolvers|:6379\b|:26379\b|330s/);
    const cfgPath = join(root, 'haproxy.cfg');
    writeFileSync(cfgPath, localCfg);
    // haproxy.cfg holds no password: the init container renders auth.cfg (global setenv) from the
    // mounted file, and HAProxy loads it first, as in the pod; HAProxy's environment has no password.
    expect(haproxyCfg).not.toContain(PASSWORD);
    const proxyRun = join(root, 'haproxy-run');
    mkdirSync(proxyRun);
    execFileSync('/bin/sh', ['-c', haproxyInit.command[2].split('/run/haproxy/').join(`${proxyRun}/`)], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', REDIS_PASSWORD_FILE: secretFile } });
    expect(haproxyC.command).toEqual(['haproxy', '-f', '/run/haproxy/auth.cfg', '-f', '/usr/local/etc/haproxy/haproxy.cfg', '-db']);
    start('haproxy', 'haproxy', ['-f', join(proxyRun, 'auth.cfg'), '-f', cfgPath, '-db']);
    const write = (key: string, value: string) => cli('127.0.0.1', Q, 'SET', key, value);
    await until(`HAProxy to route to the primary\n${logs.get('haproxy')!.join('')}`, 15_000, () => (write('probe', '1') === 'OK' ? true : undefined));
    // Readiness: /healthz answers 200 while a primary is routable.
    expect(await health(H)).toBe(200);

    // ---------------------------------------------------------------- an idle Pub/Sub subscriber outlives the idle timeouts
    const sub = connect(Q, '127.0.0.1');
    let received = '';
    let closed = false;
    sub.on('data', (d: Buffer) => (received += d.toString('latin1')));
    sub.on('close', () => (closed = true));
    sub.on('error', () => (closed = true));
    sub.write(resp('AUTH', PASSWORD) + resp('SUBSCRIBE', 'fanout'));
    await until('the subscription through HAProxy', 5_000, () => (received.includes('subscribe') ? true : undefined));
    await sleep(5_000); // idle for longer than `timeout client/server` (2 s here)
    expect(closed, `HAProxy cut the idle subscriber\n${logs.get('haproxy')!.join('')}`).toBe(false);
    expect(cli('127.0.0.1', Q, 'PUBLISH', 'fanout', 'after-idle')).toBe('1');
    await until('the message to reach the idle subscriber', 5_000, () => (received.includes('after-idle') ? true : undefined));
    sub.destroy();

    // ---------------------------------------------------------------- writes, then the primary's pod is lost
    for (let k = 0; k < 50; k++) expect(write(`before-${k}`, `v${k}`)).toBe('OK');
    // Acknowledged by both replicas (WAIT goes through HAProxy to the primary).
    expect(cli('127.0.0.1', Q, 'WAIT', '2', '5000')).toBe('2');
    expect(cli(ip(0), P, 'ROLE').split('\n')[0]).toBe('master');
    stop(procs[0]!.redis);
    stop(procs[0]!.sentinel);

    // Writes fail while there is no primary, then succeed through the same HAProxy address.
    const diagnose = () =>
      [
        ...[1, 2].map((i) => `sentinel-${i}: ${cli(ip(i), S, 'SENTINEL', 'MASTER', 'redis').split('\n').join(' ')}`),
        ...[1, 2].map((i) => `redis-${i}: ${cli(ip(i), P, 'ROLE').split('\n').join(' ')}`),
        `last write: ${write('after', 'yes')}`,
        ...['sentinel-1', 'sentinel-2', 'haproxy'].map((l) => `--- ${l}\n${logs.get(l)!.join('')}`),
      ].join('\n');
    const { ms } = await until('a write through HAProxy after the failover', 40_000, () => (write('after', 'yes') === 'OK' ? true : undefined)).catch((e: Error) => {
      throw new Error(`${e.message}\n${diagnose()}`);
    });
    const promoted = [1, 2].filter((i) => cli(ip(i), P, 'ROLE').split('\n')[0] === 'master');
    expect(promoted, 'exactly one replica was promoted').toHaveLength(1);
    const newPrimary = promoted[0]!;
    expect(cli(ip(newPrimary), S, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'redis').split('\n')[0]).toBe(ip(newPrimary));
    // Bounded: down-after 1 s, the vote and promotion, HAProxy's checks (1 s apart, 2 s timeout). A
    // vote held when a replica's last INFO (every 10 s) is older than 5 s aborts
    // (`-failover-abort-no-good-slave`) and is retried after 2 × failover-timeout (4 s here): even
    // two aborts stay well within the bound, which leaves room for a loaded machine.
    expect(ms).toBeLessThan(30_000);
    for (let k = 0; k < 50; k++) expect(cli('127.0.0.1', Q, 'GET', `before-${k}`)).toBe(`v${k}`);
    expect(cli('127.0.0.1', Q, 'GET', 'after')).toBe('yes');
    if (ms > 10_000) console.log(diagnose());
    console.log(`redis-ha failover: writes through HAProxy resumed ${ms} ms after the primary was lost (new primary member ${newPrimary})`);

    // ---------------------------------------------------------------- the lost member comes back as a replica
    expect(await startMember(0)).toContain(`${ip(0)} starts as a replica of ${ip(newPrimary)}`);
    await until('the old primary to resync as a replica', 15_000, () => (cli(ip(0), P, 'GET', 'after') === 'yes' ? true : undefined));
    expect(cli(ip(0), P, 'ROLE').split('\n')[0]).toBe('slave');
    expect(cli(ip(0), P, 'SET', 'x', 'y')).toMatch(/READONLY/);
    // HAProxy still routes to the new primary only.
    expect(write('after-rejoin', 'ok')).toBe('OK');
    expect(cli(ip(newPrimary), P, 'GET', 'after-rejoin')).toBe('ok');

    // ---------------------------------------------------------------- no primary: HAProxy is unready
    expect(await health(H)).toBe(200);
    for (const p of procs) stop(p!.redis);
    const unready = await until('/healthz to answer 503 with no primary', 15_000, async () => ((await health(H)) === 503 ? true : undefined));
    expect(unready.value).toBe(true);
  }, 120_000);
});

// tools/lib/cluster.mjs: the test cluster's life cycle shared by the real-cluster and controllers
// tiers. A small driver script (written below, run as its own node process) uses the lib the way
// the tiers do: clusterUp/clusterDown with its runner, installExitHandlers with a synchronous
// cleanup that stops every live cluster with the real tools/cluster-down.sh and removes the run's
// temp dir. Only cluster-up.sh is faked (a real one takes minutes): it makes the dir with
// cluster-up's marker and starts a stand-in "etcd" process whose pid cluster-down.sh stops.
// What must hold: on SIGTERM, a crash, an unhandled rejection, and after a failed cluster-down,
// the process ends with no cluster process left and no temp dir.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const LIB = new URL('../../tools/lib/cluster.mjs', import.meta.url).href;
const CLUSTER_DOWN = fileURLToPath(new URL('../../tools/cluster-down.sh', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'stackbook-cluster-lib-'));
const started: number[] = [];

const FAKE_UP = join(root, 'fake-cluster-up.sh');
writeFileSync(
  FAKE_UP,
  `#!/usr/bin/env bash
set -euo pipefail
DIR="$1"
mkdir -p "$DIR"
touch "$DIR/.stackbook-cluster"
( exec -a etcd sleep 300 ) </dev/null >/dev/null 2>&1 &
echo $! >"$DIR/etcd.pid"
echo 'apiVersion: v1' >"$DIR/kubeconfig"
`,
);
chmodSync(FAKE_UP, 0o755);

// argv: <work dir> <mode>. Prints "READY <json>" once the cluster is up, then acts by mode.
const DRIVER = join(root, 'driver.mjs');
writeFileSync(
  DRIVER,
  `import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { clusterDown, clusterUp, installExitHandlers } from ${JSON.stringify(LIB)};
const [work, mode] = process.argv.slice(2);
const live = new Set();
// the tier's runner: resolves with { code, stdout, stderr }, never rejects
let ups = 0;
const run = (cmd, args) => new Promise((resolve) => {
  const script = basename(args[0]);
  if (script === 'cluster-up.sh') ups++;
  if (script === 'cluster-up.sh' && mode === 'up-fails') return resolve({ code: 1, stdout: '', stderr: '' });
  if (script === 'cluster-up.sh' && (mode === 'up-port-taken' || (mode === 'up-port-race' && ups === 1))) return resolve({ code: 1, stdout: '', stderr: 'E1207 run.go:72] "command failed" err="failed to create listener: failed to listen on 127.0.0.1:31067: listen tcp 127.0.0.1:31067: bind: address already in use"' });
  if (script === 'cluster-down.sh' && mode === 'down-fails') return resolve({ code: 1, stdout: '', stderr: '' });
  const argv = script === 'cluster-up.sh' ? [${JSON.stringify(FAKE_UP)}, ...args.slice(1)] : args;
  const c = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  c.on('exit', (code) => resolve({ code, stdout: '', stderr: '' }));
});
installExitHandlers({
  cleanup: () => {
    for (const d of live) spawnSync('bash', [${JSON.stringify(CLUSTER_DOWN)}, d], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
  },
  log: (m) => process.stderr.write(m + '\\n'),
  stopping: () => 'stopping clusters and removing ' + work,
});
const dir = join(work, 'cluster');
const up = await clusterUp(run, live, dir, { timeoutSecs: 30 });
const pidFile = join(dir, 'etcd.pid');
const report = { ok: up.ok, kubeconfig: up.kubeconfig, live: [...live], ups, retried: up.retried === true, etcdPid: existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined };
if (mode === 'down-ok' || mode === 'down-fails') {
  const down = await clusterDown(run, live, dir);
  Object.assign(report, { downCode: down.code, liveAfterDown: [...live] });
}
process.stdout.write('READY ' + JSON.stringify(report) + '\\n');
if (mode === 'crash') setTimeout(() => { throw new Error('boom'); }, 10);
else if (mode === 'reject') setTimeout(() => { Promise.reject(new Error('lost')); }, 10);
else if (mode === 'wait') setInterval(() => {}, 1000);
`,
);

interface Outcome {
  code: number | null;
  signal: string | null;
  stderr: string;
  report: Record<string, any>;
  work: string;
  etcdPid: number | undefined;
  /** The stand-in etcd ran when the driver reported its cluster up. */
  aliveAtReady: boolean;
}

/** Runs the driver in `mode`; `afterReady` acts on the child once its cluster is up. */
function drive(mode: string, afterReady?: (pid: number) => void): Promise<Outcome> {
  const work = mkdtempSync(join(root, `${mode}-`));
  const child = spawn(process.execPath, [DRIVER, work, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let report: Record<string, any> = {};
  let etcdPid: number | undefined;
  let aliveAtReady = false;
  return new Promise((resolve) => {
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^READY (.*)$/m.exec(stdout);
      if (m && Object.keys(report).length === 0) {
        report = JSON.parse(m[1]!);
        etcdPid = report.etcdPid;
        if (etcdPid) started.push(etcdPid);
        aliveAtReady = etcdPid !== undefined && running(etcdPid);
        afterReady?.(child.pid!);
      }
    });
    child.on('close', (code, signal) => resolve({ code, signal, stderr, report, work, etcdPid, aliveAtReady }));
  });
}

/** The process is gone (or a zombie awaiting its reaper): nothing of the cluster still runs. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

afterAll(() => {
  for (const p of started) if (running(p)) process.kill(p, 'SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

describe('tools/lib/cluster.mjs exit cleanup', () => {
  it('SIGTERM: logs it, exits 143 (128 + 15), the cluster process is stopped and the temp dir removed', async () => {
    const o = await drive('wait', (pid) => process.kill(pid, 'SIGTERM'));
    expect(o.report.ok).toBe(true);
    expect(o.aliveAtReady).toBe(true);
    expect(o.signal).toBeNull();
    expect(o.code).toBe(143);
    expect(o.stderr).toContain('SIGTERM: stopping clusters and removing');
    expect(running(o.etcdPid!)).toBe(false);
    expect(existsSync(o.work)).toBe(false);
  });

  it('a crash (uncaught exception): logs it, exits 1, cluster stopped, temp dir removed', async () => {
    const o = await drive('crash');
    expect(o.aliveAtReady).toBe(true);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/crashed: Error: boom/);
    expect(running(o.etcdPid!)).toBe(false);
    expect(existsSync(o.work)).toBe(false);
  });

  it('an unhandled rejection: logs it, exits 1, cluster stopped, temp dir removed', async () => {
    const o = await drive('reject');
    expect(o.aliveAtReady).toBe(true);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/crashed: Error: lost/);
    expect(running(o.etcdPid!)).toBe(false);
    expect(existsSync(o.work)).toBe(false);
  });
});

describe('tools/lib/cluster.mjs clusterUp / clusterDown and the live set', () => {
  it('a started cluster is live, with its kubeconfig in its dir; a clean stop (real cluster-down.sh) leaves nothing live', async () => {
    const o = await drive('down-ok');
    const dir = join(o.work, 'cluster');
    expect(o.report).toMatchObject({ ok: true, kubeconfig: join(dir, 'kubeconfig'), live: [dir], downCode: 0, liveAfterDown: [] });
    expect(o.code).toBe(0);
    expect(running(o.etcdPid!)).toBe(false);
  });

  it('a failed cluster-down keeps the cluster live, so the exit cleanup stops it', async () => {
    const o = await drive('down-fails');
    const dir = join(o.work, 'cluster');
    expect(o.report).toMatchObject({ ok: true, downCode: 1, liveAfterDown: [dir] });
    expect(o.code).toBe(0);
    expect(running(o.etcdPid!)).toBe(false);
    expect(existsSync(o.work)).toBe(false);
  });

  it('a failed start is not live (cluster-up.sh tears itself down), and is not retried', async () => {
    const o = await drive('up-fails');
    expect(o.report).toMatchObject({ ok: false, live: [], ups: 1, retried: false });
    expect(o.code).toBe(0);
  });

  it('a start that lost one of its ports before binding it is retried once, on new ports', async () => {
    const o = await drive('up-port-race');
    const dir = join(o.work, 'cluster');
    expect(o.report).toMatchObject({ ok: true, live: [dir], ups: 2, retried: true });
    expect(o.code).toBe(0);
    const taken = await drive('up-port-taken');
    expect(taken.report).toMatchObject({ ok: false, live: [], ups: 2, retried: true });
  });
});

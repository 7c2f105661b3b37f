// The test cluster's life cycle, shared by the real-cluster tier (tools/test-cluster.mjs) and the
// controllers tier (tools/test-controllers.mjs): start it with tools/cluster-up.sh, stop it with
// tools/cluster-down.sh, keep the set of clusters still running for the exit handlers, and the
// exit handlers themselves (signals and crashes exit through `process.exit`, so the `exit`
// handler's synchronous cleanup runs on every path but SIGKILL).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TOOLS = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Starts a test cluster in `dir` (tools/cluster-up.sh). `run` is the tier's command runner
 * (resolves with `{ code, stdout, stderr, ... }`, never rejects); `live` the tier's set of running
 * cluster dirs: `dir` is in it while the cluster may be up (cluster-up.sh tears itself down on
 * failure, so a failed start leaves it out). Resolves with run's result, `ok` and the admin kubeconfig.
 */
export async function clusterUp(run, live, dir, { timeoutSecs }) {
  live.add(dir);
  let r = await run('bash', [join(TOOLS, 'cluster-up.sh'), dir], { timeoutSecs });
  // cluster-up.sh picks its five ports when it starts and binds them over the next seconds, so a
  // port can be taken in between (seen once, 2026-12-07: kube-scheduler "bind: address already in
  // use" on a port free when chosen). It has torn itself down: one more start, on new ports.
  if (r.code !== 0 && PORT_TAKEN.test(`${r.stdout ?? ''}${r.stderr ?? ''}`)) {
    const again = await run('bash', [join(TOOLS, 'cluster-up.sh'), dir], { timeoutSecs });
    r = { ...again, stderr: `[cluster] retried once, on new ports: a port chosen by the first start was taken before it was bound\n${again.stderr ?? ''}`, retried: true };
  }
  if (r.code !== 0) live.delete(dir);
  return { ...r, ok: r.code === 0, kubeconfig: join(dir, 'kubeconfig') };
}
const PORT_TAKEN = /bind: address already in use/;

/** Stops the test cluster in `dir` (tools/cluster-down.sh); on success `dir` leaves `live`, else the exit cleanup tries again. */
export async function clusterDown(run, live, dir, { timeoutSecs = 120 } = {}) {
  const r = await run('bash', [join(TOOLS, 'cluster-down.sh'), dir], { timeoutSecs });
  if (r.code === 0) live.delete(dir);
  return r;
}

/**
 * `cleanup` (synchronous) on process exit; SIGINT/SIGTERM/SIGHUP log `<signal>: <stopping()>` and
 * exit 128 + the signal number; an uncaught exception or unhandled rejection logs `crashed: <stack>`
 * and exits 1: each of them through `process.exit`, so `cleanup` runs.
 */
export function installExitHandlers({ cleanup, log, stopping }) {
  process.on('exit', cleanup);
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
    process.on(sig, () => {
      log(`${sig}: ${stopping()}`);
      process.exit(128 + n);
    });
  }
  for (const event of ['uncaughtException', 'unhandledRejection']) {
    process.on(event, (e) => {
      log(`crashed: ${e?.stack ?? e}`);
      process.exit(1);
    });
  }
}

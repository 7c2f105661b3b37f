/**
 * vitest globalSetup: the tests' scratch files in memory. Tests write thousands of short-lived
 * files (bundles per synth, project copies, promtool's TSDBs, git trees); on a disk-backed /tmp
 * their creation, copies and deletions cost kernel time that varies with writeback (measured
 * 2026-12-07, bad-input + cli + bundle + artifact: 18.6–24.5 s CPU on /tmp, 18.9–19.6 s on
 * /dev/shm). Where `/dev/shm` is a writable directory and the caller set no TMPDIR, every worker
 * and child process gets `TMPDIR=/dev/shm/stackbook-test-*` (os.tmpdir() reads it), removed after
 * the run. A TMPDIR the caller set is kept.
 */
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';

const SHM = '/dev/shm';

function memoryBacked(): boolean {
  try {
    accessSync(SHM, constants.W_OK);
    return statSync(SHM).isDirectory();
  } catch {
    return false;
  }
}

export default function setup(): (() => void) | undefined {
  if (process.env.TMPDIR || !memoryBacked()) return undefined;
  const dir = mkdtempSync(`${SHM}/stackbook-test-`);
  process.env.TMPDIR = dir;
  return () => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env.TMPDIR;
  };
}

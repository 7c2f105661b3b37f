/**
 * A shell script as an awaited child process, for tests whose scripts wait (sleep, poll, hold a
 * lock): spawnSync would keep the worker from running anything else meanwhile, and two such
 * scripts can run at once. Not a test file.
 */
import { spawn } from 'node:child_process';

export interface ShellOptions {
  readonly env: NodeJS.ProcessEnv;
  /** @default the worker's current directory */
  readonly cwd?: string;
  /** `sh` flags: `-ec` stops at the first failing command, as the pods' `sh -ec` does. @default '-c' */
  readonly flags?: '-c' | '-ec';
  /** Killed (SIGKILL) after this long; `code` is then null. @default no limit */
  readonly timeoutMs?: number;
}

/** `/bin/sh <flags> script`; `out` is stdout and stderr as they came. */
export function shAsync(script: string, opts: ShellOptions): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', [opts.flags ?? '-c', script], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/**
 * Test-suite accounting, off unless `STACKBOOK_TEST_STATS=<file>` is set (`npm run bench -- --tests`
 * sets it): per test file, one JSON line appended to that file with
 *  - `tests`: tests that ran (afterEach calls),
 *  - `assertions`: `expect` calls made (vitest's own `expect.getState().assertionCalls`, summed per
 *    test; calls inside fast-check properties count each time they run),
 *  - `cpuMs`: CPU time of the worker from before the file was imported to its last hook, its own
 *    plus that of the child processes it waited for (promtool, the CLI, redis, chromium...), read
 *    from /proc/self/stat (Linux; 0 elsewhere).
 * These are the "same assertions, less CPU" figures of issue 18: compare two runs' totals.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, expect } from 'vitest';

const OUT = process.env.STACKBOOK_TEST_STATS;

/** utime + stime + cutime + cstime of this process, in ms (clock ticks of 10 ms). */
function cpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14..17 of proc(5), counted from the state field (3) here at index 0
    return [11, 12, 13, 14].reduce((s, i) => s + Number(f[i]), 0) * 10;
  } catch {
    return 0;
  }
}

if (OUT) {
  const start = cpuMs();
  const wall = Date.now();
  let tests = 0;
  let assertions = 0;
  let file = '';
  afterEach(() => {
    const s = expect.getState();
    tests++;
    assertions += s.assertionCalls;
    file ||= s.testPath ?? '';
  });
  afterAll(() => {
    const rel = file.slice(file.indexOf('/test/') + 1);
    appendFileSync(OUT, `${JSON.stringify({ file: rel, tests, assertions, cpuMs: cpuMs() - start, wallMs: Date.now() - wall })}\n`);
  });
}

import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

const INCLUDE = 'test/**/*.test.ts';

/**
 * Which test files may share a worker's loaded modules (`isolate: false`): decided from each file's
 * text, not a hand-kept list. Loading cdk8s, cdk8s-plus-27 and the schemas costs ~0.8 s of CPU per
 * file; sharing it is safe for a file that only renders and inspects. What shared files see in
 * common is pure: the rendered real stacks (test/helpers.ts `renderEnv`, deep-frozen) and the
 * validators' caches in test/schema.ts. A file stays isolated when it does any of:
 *  - replace modules or globals (`vi.mock`, `vi.doMock`, `vi.stubGlobal`, `vi.stubEnv`, fake timers),
 *  - write `process.env` (assign, delete, Object.assign), or change directory; reading it (a seed, a
 *    PATH handed to a child process) leaves nothing behind for the next file,
 *  - use the Pulumi runtime (its mocks and config are process-wide),
 *  - spy (`vi.spyOn`) without restoring the spy in the same file.
 * A new file is classified the same way; `// vitest: isolate` in a file forces isolation.
 * (vitest 4.1.12: with `isolate: false` a worker is handed the next file of its project without
 * restarting, dist/chunks/cli-api.*.js `schedule` ~l.3543, and its module graph is reset only when
 * `config.isolate`, dist/chunks/base.*.js ~l.83.)
 */
const NEEDS_ISOLATION = [
  /\bvi\.(mock|doMock|stubGlobal|stubEnv|useFakeTimers)\(/,
  /\bprocess\.env(\.\w+|\[[^\]]+\])?\s*(=(?!=)|\+=|\?\?=|\|\|=|&&=)/,
  /\bdelete\s+process\.env\b|\bObject\.assign\(\s*process\.env\b/,
  /\bprocess\.chdir\(/,
  /@pulumi\/pulumi|setMocks/,
  /\/\/ vitest: isolate\b/,
];
function needsIsolation(file: string): boolean {
  const text = readFileSync(file, 'utf8');
  if (NEEDS_ISOLATION.some((re) => re.test(text))) return true;
  return /\bvi\.spyOn\(/.test(text) && !/\.mockRestore\(\)|vi\.restoreAllMocks\(\)/.test(text);
}
// (fs.globSync needs Node 22)
const testFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
const SHARED = testFiles('test')
  .filter((f) => !needsIsolation(f))
  .sort();

export default defineConfig({
  test: {
    // catch hangs; STACKBOOK_TEST_TIMEOUT_MS raises them where a loaded machine is expected (tools/node-matrix.sh),
    // as the command line's --testTimeout does not reach the projects below
    testTimeout: Number(process.env.STACKBOOK_TEST_TIMEOUT_MS ?? 60_000),
    hookTimeout: Number(process.env.STACKBOOK_TEST_TIMEOUT_MS ?? 60_000),
    pool: 'forks',
    // vitest defaults to (cores - 1) workers: one on a 2-core machine. The tests are mostly
    // CPU-bound in-process work plus short child processes, so use every core.
    maxWorkers: Math.max(2, availableParallelism()) + 1,
    // off unless STACKBOOK_TEST_STATS is set: per-file tests, expect calls and CPU (bench --tests)
    setupFiles: ['test/setup/stats.ts'],
    // scratch files in memory where the machine has /dev/shm (test/setup/tmpdir.ts)
    globalSetup: ['test/setup/tmpdir.ts'],
    projects: [
      { extends: true, test: { name: 'isolated', include: [INCLUDE], exclude: SHARED } },
      { extends: true, test: { name: 'shared', include: SHARED, isolate: false } },
    ],
  },
});

import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Files that only render and inspect (no vi.mock/spyOn, no process.env, no Pulumi runtime mocks,
 * no global state): they run in workers that keep modules loaded between files (`isolate: false`).
 * Loading cdk8s, cdk8s-plus-27 and the schemas costs ~0.8 s of CPU per file; sharing it cut these
 * files from 30.5 s to 13.5 s of CPU. What they could share is pure: the rendered real stacks
 * (test/helpers.ts `renderEnv`, deep-frozen, so no file can change what another sees) and the
 * validators' caches in test/schema.ts. Every other file, and any new one, stays isolated.
 */
const SHARED = [
  'test/aion.test.ts',
  'test/config.test.ts',
  'test/coverage.test.ts',
  'test/diff.test.ts',
  'test/ope.test.ts',
  'test/osc.test.ts',
  'test/ows.test.ts',
  'test/policies-autoscaler.test.ts',
  'test/policies.test.ts',
  'test/policy-pack.test.ts',
  'test/schema.test.ts',
  ...[
    'autoscaling', 'backup-alerts', 'clickhouse', 'config-map', 'image-policy', 'kafka-alerts', 'kafka', 'keda', 'meta',
    'minio', 'mongodb', 'monitoring', 'namespace', 'network-policy', 'platform', 'postgres', 'qdrant', 'redis-alerts',
    'redis-ha-alerts', 'secret', 'stateful', 'tls-ingress', 'workload',
  ].map((f) => `test/components/${f}.test.ts`),
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest defaults to (cores - 1) workers: one on a 2-core machine. The tests are mostly
    // CPU-bound in-process work plus short child processes, so use every core.
    maxWorkers: Math.max(2, availableParallelism()) + 1,
    projects: [
      { extends: true, test: { name: 'isolated', include: ['test/**/*.test.ts'], exclude: SHARED } },
      { extends: true, test: { name: 'shared', include: SHARED, isolate: false } },
    ],
  },
});

// Pure helpers of the tier's Pulumi cycle (tools/lib/pulumi-cycle.mjs): the canary scan finds a value
// in plain text and base64 at any alignment (and nothing else), the volumes match what the claims ask.
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the tools/ tier (no type declarations)
import * as cycle from '../../tools/lib/pulumi-cycle.mjs';

type Hit = { source: string; encoding: string; value: string };
const canaryHits = cycle.canaryHits as (s: Array<{ name: string; text: string }>, v: string[]) => Hit[];
const volumeFixtures = cycle.volumeFixtures as (docs: unknown[]) => { storageClasses: any[]; volumes: any[] };
const previewSteps = cycle.previewSteps as (t: string) => { steps: Array<{ op: string; urn: string }>; counts: Record<string, number>; same: number };
const formatCounts = cycle.formatCounts as (c: Record<string, number>) => string;
const canaryConfigKey = cycle.canaryConfigKey as (n: string, k: string) => string;
const ambientPluginWarnings = cycle.ambientPluginWarnings as (t: string) => string[];

const CANARY = 'SbCanaryprodoscredispassword0f3a9c';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('canary scan', () => {
  it.each([0, 1, 2, 3, 4, 5])('finds the value base64-encoded inside a longer value, after %i bytes', (n) => {
    const text = `{"data":{"url":"${b64(`${'r'.repeat(n)}redis://:${CANARY}@redis.osc.svc:6379/0`)}"}}`;
    expect(text).not.toContain(CANARY);
    expect(canaryHits([{ name: 'export', text }], [CANARY])).toEqual([{ source: 'export', encoding: 'base64', value: CANARY }]);
  });

  it('finds it in plain text, and reports nothing for text without it (ciphertext, other values)', () => {
    expect(canaryHits([{ name: 'log', text: `password: ${CANARY}\n` }], [CANARY])).toEqual([{ source: 'log', encoding: 'plain', value: CANARY }]);
    const clean = `{"secure":"v1:${b64('ciphertext of something')}","other":"${b64('SbCanaryprodoscredispassword')}"}`;
    expect(canaryHits([{ name: 'state', text: clean }], [CANARY])).toEqual([]);
  });

  it('names config keys as the schema wants (lowerCamelCase)', () => {
    expect(canaryConfigKey('aion-jwt-signing-keys', 'verification-key')).toBe('canaryAionJwtSigningKeysVerificationKey');
    expect(canaryConfigKey('aion-aion-control-plane', 'user.crt')).toMatch(/^[a-z][a-zA-Z0-9]*$/);
  });
});

describe('volume fixtures', () => {
  const docs = [
    { kind: 'PersistentVolumeClaim', metadata: { namespace: 'oub', name: 'oubliette-data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } } },
    { kind: 'PersistentVolumeClaim', metadata: { namespace: 'ows', name: 'ows-reports' }, spec: { storageClassName: 'efs-sc', accessModes: ['ReadWriteMany'], resources: { requests: { storage: '20Gi' } } } },
    { kind: 'StatefulSet', metadata: { namespace: 'osc', name: 'redis-node' }, spec: { replicas: 3, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }] } },
  ];
  it('one pre-bound volume per claim (StatefulSet claims per replica), the named class as a prerequisite', () => {
    const { storageClasses, volumes } = volumeFixtures(docs);
    expect(storageClasses.map((c) => c.metadata.name)).toEqual(['efs-sc']);
    expect(volumes.map((v) => [v.spec.claimRef.namespace, v.spec.claimRef.name, v.spec.capacity.storage, v.spec.storageClassName, v.spec.accessModes.join()])).toEqual([
      ['oub', 'oubliette-data', '2Gi', 'standard', 'ReadWriteOnce'],
      ['ows', 'ows-reports', '20Gi', 'efs-sc', 'ReadWriteMany'],
      ['osc', 'data-redis-node-0', '1Gi', 'standard', 'ReadWriteOnce'],
      ['osc', 'data-redis-node-1', '1Gi', 'standard', 'ReadWriteOnce'],
      ['osc', 'data-redis-node-2', '1Gi', 'standard', 'ReadWriteOnce'],
    ]);
  });
});

describe('preview steps', () => {
  it('counts the changes, replacements and deletions first, and lists the steps that are not same', () => {
    const json = JSON.stringify({
      steps: [{ op: 'same', urn: 'a' }, { op: 'update', urn: 'urn:b' }, { op: 'delete', urn: 'urn:c' }],
      changeSummary: { same: 240, update: 1, delete: 1, replace: 0 },
    });
    const p = previewSteps(json);
    expect(p.steps).toEqual([{ op: 'update', urn: 'urn:b' }, { op: 'delete', urn: 'urn:c' }]);
    expect(p.same).toBe(240);
    expect(formatCounts(p.counts)).toBe('delete 1, update 1');
    expect(formatCounts({ create: 3, replace: 1 })).toBe('replace 1, create 3');
    expect(formatCounts({})).toBe('no changes');
  });
});

describe('ambientPluginWarnings', () => {
  // Captured from `pulumi preview --policy-pack` (pulumi v3.248.0) with the analyzer launcher on
  // $PATH, as tools/build.sh installed it before it registered the plugin in PULUMI_HOME.
  const captured = [
    'Previewing update (prod):',
    '    pulumi:pulumi:Stack stackbook-prod  warning: using pulumi-analyzer-policy-nodejspolicy from $PATH at /tmp/x/pulumi-analyzer-policy-nodejspolicy',
    '    pulumi:pulumi:Stack stackbook-prod running warning: using pulumi-analyzer-policy-nodejspolicy from $PATH at /tmp/x/pulumi-analyzer-policy-nodejspolicy',
    '    warning: using pulumi-resource-kubernetes from $PATH at /tmp/y/pulumi-resource-kubernetes',
    '    warning: config.stackbook:cluster is a Pulumi secret',
  ].join('\n');
  it('finds every plugin the engine took from $PATH, once per line text', () => {
    const w = ambientPluginWarnings(captured);
    expect(w).toHaveLength(3);
    expect(w.filter((l) => l.includes('pulumi-analyzer-policy-nodejspolicy'))).toHaveLength(2);
    expect(w.some((l) => l.includes('pulumi-resource-kubernetes'))).toBe(true);
  });
  it('finds nothing in output without such a line', () => {
    expect(ambientPluginWarnings('Previewing update (prod):\n    warning: using the stack file\nResources:\n    + 238 to create')).toEqual([]);
  });
});

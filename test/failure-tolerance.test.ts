/**
 * Failure tolerance of what staging, prod and airgap deploy (issue 7), generic over whatever the
 * stacks render (reports/failure-budget.ts): every long-running workload with more than one replica
 * (or an HPA minimum above one) has a PDB selecting it that lets drains through (and keeps quorum
 * for StatefulSets), spreads over zones and nodes, keeps capacity during rollouts, ends its preStop
 * sleep within the grace period, and has distinct liveness and readiness probes. Redis runs
 * highly available in prod. Every backup CronJob has a verify step, a restore drill and a
 * staleness alert. The README's failure-budget table is the generated one.
 *
 * The checks are also run against deliberately broken copies of real objects, so they can fail.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { BackupCronJob } from '../components/backup.js';
import {
  backupCronJobs,
  backupProblems,
  budgetRows,
  failureBudgetBlock,
  failureBudgetTable,
  redisHaProblems,
  toleranceProblems,
  workloadsOf,
} from '../reports/failure-budget.js';
import type { Manifest } from '../synth/render.js';
import { knownEnvironments } from '../synth/stacks.js';
import { ENVS, renderEnv, ROOT } from './helpers.js';
import { newChart, objectsOf } from './components/util.js';

const HA_STACKS = ['staging', 'prod', 'airgap'] as const;
const tally: string[] = [];
afterAll(() => console.log(`failure-tolerance:\n${tally.join('\n')}`));

const clone = (objects: readonly Manifest[]) => structuredClone(objects) as Array<Manifest & Record<string, any>>;
const problemsOf = (objects: readonly Manifest[]) =>
  workloadsOf(objects).flatMap((v) => toleranceProblems(objects, v).map((p) => `${v.workload.kind} ${v.workload.metadata.namespace}/${v.workload.metadata.name}: ${p}`));

describe.each(HA_STACKS)('stack %s', (env) => {
  const objects = renderEnv(env).objects;

  it('every workload with more than one replica has full failure tolerance', () => {
    const views = workloadsOf(objects);
    const replicated = views.filter((v) => v.minReplicas === undefined || v.minReplicas > 1);
    expect(replicated.length, 'a highly available stack runs replicated workloads').toBeGreaterThan(0);
    expect(problemsOf(objects)).toEqual([]);
    const single = views.filter((v) => v.minReplicas !== undefined && v.minReplicas <= 1).map((v) => `${v.workload.kind} ${v.workload.metadata.namespace}/${v.workload.metadata.name}`);
    tally.push(`  ${env}: ${replicated.length} of ${views.length} long-running workloads replicated, all with full tolerance; single-replica: ${single.join(', ') || 'none'}`);
  });

  it('every backup CronJob has a verify step, a restore drill and a staleness alert', () => {
    const backups = backupCronJobs(objects);
    expect(backups.flatMap((cj) => backupProblems(objects, cj).map((p) => `${cj.metadata.namespace}/${cj.metadata.name}: ${p}`))).toEqual([]);
    tally.push(`  ${env}: ${backups.length} backup CronJobs, all verified, drilled and alerted`);
  });

  if (env === 'prod') {
    it('Redis (fail-closed rate limiting) is highly available', () => {
      expect(redisHaProblems(objects)).toEqual([]);
    });
  }
});

// ----------------------------------------------------------------------------- the checks can fail

describe('the tolerance checks catch each missing property (on broken copies of prod)', () => {
  const prod = () => clone(renderEnv('prod').objects);
  // OPE's objects by namespace and name: the bundle holds every service, OPE's are not the first.
  const opeObject = (objs: Array<Record<string, any>>, kind: string) => {
    const o = objs.find((x) => x.kind === kind && x.metadata.namespace === 'ope' && x.metadata.name === 'ope');
    if (!o) throw new Error(`no ${kind} ope/ope`);
    return o;
  };
  const opeIndex = (objs: Array<Record<string, any>>, kind: string) => objs.indexOf(opeObject(objs, kind));
  const deployment = (objs: Array<Record<string, any>>) => opeObject(objs, 'Deployment');
  const pdb = (objs: Array<Record<string, any>>) => opeObject(objs, 'PodDisruptionBudget');
  const hpa = (objs: Array<Record<string, any>>) => opeObject(objs, 'HorizontalPodAutoscaler');
  const pod = (objs: Array<Record<string, any>>) => deployment(objs).spec.template.spec;

  it.each<[string, (o: Array<Record<string, any>>) => void, RegExp]>([
    ['no PDB', (o) => o.splice(opeIndex(o, 'PodDisruptionBudget'), 1), /no PodDisruptionBudget/],
    ['a PDB allowing no disruption', (o) => (pdb(o).spec = { maxUnavailable: 0, selector: pdb(o).spec.selector }), /allows no disruption/],
    ['a PDB letting every replica go', (o) => (pdb(o).spec.maxUnavailable = '100%'), /lets all 3 replicas go/],
    ['no zone spread', (o) => (pod(o).topologySpreadConstraints = pod(o).topologySpreadConstraints.filter((t: any) => !t.topologyKey.includes('zone'))), /over zones/],
    ['no node spread', (o) => delete pod(o).topologySpreadConstraints, /over nodes/],
    ['a spread selecting other pods', (o) => pod(o).topologySpreadConstraints.forEach((t: any) => (t.labelSelector = { matchLabels: { app: 'other' } })), /over zones/],
    ['a Recreate rollout', (o) => (deployment(o).spec.strategy = { type: 'Recreate' }), /Recreate strategy/],
    ['a rollout taking more than the PDB', (o) => (deployment(o).spec.strategy.rollingUpdate.maxUnavailable = 2), /maxUnavailable 2 exceeds/],
    ['the default rollout (25 %) with a PDB of 1 at 12 replicas', (o) => {
      delete deployment(o).spec.strategy;
      hpa(o).spec.minReplicas = 12;
    }, /maxUnavailable 3 exceeds/],
    ['a grace period shorter than the preStop sleep', (o) => (pod(o).terminationGracePeriodSeconds = 5), /SIGKILL before SIGTERM/],
    ['identical probes', (o) => (pod(o).containers[0].livenessProbe = pod(o).containers[0].readinessProbe), /identical liveness and readiness/],
    ['no readiness probe', (o) => delete pod(o).containers[0].readinessProbe, /lacks a readiness probe/],
  ])('%s', (_name, breakIt, expected) => {
    const objs = prod();
    expect(problemsOf(objs)).toEqual([]);
    breakIt(objs);
    expect(problemsOf(objs).join('\n')).toMatch(expected);
  });

  it('a single-replica workload is not held to the replicated properties (dev: HPA 1–2)', () => {
    const dev = renderEnv('dev').objects;
    expect(workloadsOf(dev).some((v) => v.minReplicas === 1)).toBe(true);
    const objs = clone(dev);
    expect(hpa(objs).spec.minReplicas).toBe(1);
    objs.splice(opeIndex(objs, 'PodDisruptionBudget'), 1);
    expect(problemsOf(objs)).toEqual([]);
  });

  it('a StatefulSet keeps quorum: 3 members may lose 1, not 2', () => {
    const objs = prod();
    const d = deployment(objs);
    d.kind = 'StatefulSet';
    d.spec = { ...d.spec, replicas: 3, serviceName: 'ope', updateStrategy: { type: 'RollingUpdate' } };
    delete d.spec.strategy;
    objs.splice(opeIndex(objs, 'HorizontalPodAutoscaler'), 1);
    expect(problemsOf(objs)).toEqual([]);
    pdb(objs).spec.maxUnavailable = 2;
    expect(problemsOf(objs).join('\n')).toMatch(/lets 2 of 3 go: below quorum \(2\)/);
    d.spec.updateStrategy = { type: 'OnDelete' };
    expect(problemsOf(objs).join('\n')).toMatch(/OnDelete/);
  });

  it('Redis with one replica in production is flagged', () => {
    const objs = prod();
    const d = deployment(objs);
    d.spec.replicas = 1;
    pod(objs).containers[0].image = 'registry.corp.internal:5000/mirror/docker.io/library/redis:7.4@sha256:' + 'a'.repeat(64);
    objs.splice(opeIndex(objs, 'HorizontalPodAutoscaler'), 1);
    expect(redisHaProblems(objs)).toEqual([expect.stringMatching(/^Deployment ope\/ope: Redis with 1 replica in production/)]);
    d.spec.replicas = 3;
    expect(redisHaProblems(objs)).toEqual([]);
  });
});

describe('the backup checks (on the backup component\'s own output)', () => {
  function backupObjects(): Array<Manifest & Record<string, any>> {
    const chart = newChart();
    new BackupCronJob(chart, 'Backup', {
      name: 'files',
      namespace: 'store',
      schedule: '0 3 * * *',
      source: { kind: 'pvc-tarball', claimName: 'data' },
      target: { kind: 'pvc', claimName: 'backups' },
      runbookUrl: 'https://stackbook.example.com/runbooks/store#backups',
    });
    return objectsOf(chart) as Array<Manifest & Record<string, any>>;
  }

  it('a complete backup (CronJob, drill, alerts) passes', () => {
    const objs = backupObjects();
    const backups = backupCronJobs(objs);
    expect(backups.map((b) => b.metadata.name)).toEqual(['files-backup']);
    expect(backupProblems(objs, backups[0]!)).toEqual([]);
  });

  it('without its drill, its staleness alert or its verify step, it fails', () => {
    const noDrill = backupObjects().filter((o) => !(o.kind === 'CronJob' && /drill/.test(o.metadata.name)));
    expect(backupProblems(noDrill, backupCronJobs(noDrill)[0]!)).toEqual([expect.stringMatching(/^no restore drill CronJob \(files-restore-drill\)/)]);
    const noAlert = backupObjects().filter((o) => o.kind !== 'PrometheusRule');
    expect(backupProblems(noAlert, backupCronJobs(noAlert)[0]!)).toEqual([expect.stringMatching(/^no staleness alert/)]);
    const noVerify = backupObjects();
    const cj = backupCronJobs(noVerify)[0]!;
    const pod = (cj.spec as { jobTemplate: { spec: { template: { spec: { initContainers?: { args?: string[]; command?: string[] }[]; containers: { args?: string[]; command?: string[] }[] } } } } }).jobTemplate.spec.template.spec;
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) c.args = c.command = ['tar', '-czf', '/work/x.tgz', '/source'];
    expect(backupProblems(noVerify, cj)).toEqual([expect.stringMatching(/^no verify step/)]);
  });
});

// ----------------------------------------------------------------------------- the README table

const REGENERATE = 'README.md failure-budget block is stale: run `npx stackbook report failure-budget --write-readme` (after `npm run build`)';

describe('the failure-budget table', () => {
  // every stack file, as the CLI sees them (not only the four the tests know)
  const table = () => failureBudgetTable(knownEnvironments(ROOT).map((env) => [env, renderEnv(env)] as const));

  it('README.md holds exactly the generated table', () => {
    const block = failureBudgetBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(block, 'README.md has no <!-- failure-budget:start --> … <!-- failure-budget:end --> block').toBeDefined();
    expect(block, REGENERATE).toBe(table());
  });

  it('has one row per long-running workload of every stack, with replicas, PDB, spread and grace', () => {
    const rows = ENVS.flatMap((env) => budgetRows(env, renderEnv(env).objects));
    expect(rows.length).toBe(ENVS.reduce((n, env) => n + workloadsOf(renderEnv(env).objects).length, 0));
    const prod = rows.find((r) => r.stack === 'prod' && r.workload === 'ope')!;
    const stack = renderEnv('prod').stack.services.ope!.autoscaling;
    expect(prod).toMatchObject({
      namespace: 'ope',
      kind: 'Deployment',
      replicas: `HPA ${stack.minReplicas}–${stack.maxReplicas}`,
      pdb: 'maxUnavailable 1',
      spread: 'zones (soft), nodes (hard)',
      grace: '30 s (preStop 5 s)',
      tolerance: 'full',
    });
    expect(rows.find((r) => r.stack === 'dev' && r.workload === 'ope')!.tolerance).toBe('single replica');
  });

  it('`stackbook report failure-budget` prints it; --write-readme replaces only the marked block', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'stackbook-budget-'));
    try {
      cpSync(join(ROOT, 'stacks'), join(tmp, 'stacks'), { recursive: true, filter: (src) => !src.endsWith('.ts') });
      const readme = '# x\n\nbefore\n<!-- failure-budget:start -->\nold table\n<!-- failure-budget:end -->\nafter\n';
      writeFileSync(join(tmp, 'README.md'), readme);
      let out = '';
      vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
      vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
      try {
        expect(await main(['report', 'failure-budget'], tmp)).toBe(0);
        expect(out).toBe(table());
        expect(await main(['report', 'failure-budget', '--write-readme'], tmp)).toBe(0);
        expect(readFileSync(join(tmp, 'README.md'), 'utf8')).toBe(`# x\n\nbefore\n<!-- failure-budget:start -->\n${table()}<!-- failure-budget:end -->\nafter\n`);
        writeFileSync(join(tmp, 'README.md'), '# no markers\n');
        out = '';
        expect(await main(['report', 'failure-budget', '--write-readme'], tmp)).toBe(2);
        expect(out).toMatch(/^stackbook: cannot update .*README\.md: README\.md has no <!-- failure-budget:start -->/);
        expect(readFileSync(join(tmp, 'README.md'), 'utf8')).toBe('# no markers\n');
        out = '';
        expect(await main(['report', 'nonsense'], tmp)).toBe(2);
        expect(out).toMatch(/^stackbook: report needs one report name: failure-budget, or environments \(or --all\) and --html <file>\nusage:/);
      } finally {
        vi.restoreAllMocks();
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

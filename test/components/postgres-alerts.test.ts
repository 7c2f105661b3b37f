/**
 * Continuous-backup alerts of the CloudNativePG cluster (issue 14 item 12; X-6, X-8), from
 * components/postgres.ts `postgresBackupAlerts`, through promtool: check rules, and the unit tests in
 * test/alerts/aion.aion-pg-backup.test.yaml (the same file the stacks' rule is tested with) with a
 * FIRING and a QUIET case per alert; each FIRING case turned QUIET fails. Without promtool these fail.
 */
import { describe, expect, it } from 'vitest';
import { Postgres, postgresBackupAlerts, scheduleIntervalHours } from '../../components/postgres.js';
import { componentAlertTests, promtoolWorkspace, ruleSetOf, type RuleSet } from '../promtool.js';
import { newChart, objectsOf, only } from './util.js';

const BASE = 'https://runbooks.example.com/runbooks';
const ALERTS = ['PostgresWalArchivingStuck', 'PostgresBaseBackupStale', 'PostgresBackupMetricsAbsent', 'PostgresPitrDrillFailed', 'PostgresPitrDrillStale'];

function ruleSet(): RuleSet {
  const chart = newChart();
  new Postgres(chart, 'PG', {
    name: 'aion-pg',
    namespace: 'aion',
    database: 'aion',
    ownerSecret: 'aion-pg-owner',
    clients: [{ pods: { 'app.kubernetes.io/name': 'control' } }],
    kubeApiCidrs: ['10.96.0.1/32'],
    backup: {
      destinationPath: 's3://aion-backups/pg-cnpg',
      endpointUrl: 'http://aion-minio.aion.svc:9000',
      credentials: { secretName: 'aion-minio', accessKeyIdKey: 'user', secretAccessKeyKey: 'password' },
      egress: { peers: [{ pods: { 'app.kubernetes.io/name': 'aion-minio' } }], ports: [{ port: 9000 }] },
      runbookUrl: `${BASE}/aion#backups`,
      drill: { image: 'ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie' },
    },
  });
  return ruleSetOf(only(objectsOf(chart), 'PrometheusRule'), BASE);
}

const runDir = promtoolWorkspace('postgres-alerts');

describe('PostgreSQL continuous-backup alerts (issue 14 item 12, X-6, X-8)', () => {
  it('the backup age threshold is twice the schedule interval (daily 48 h, hourly 2 h, weekly 336 h), or as configured', () => {
    expect(scheduleIntervalHours('0 0 2 * * *')).toBe(24);
    expect(scheduleIntervalHours('0 0 * * * *')).toBe(1);
    expect(scheduleIntervalHours('0 0 3 * * 0')).toBe(168);
    expect(scheduleIntervalHours('@daily')).toBe(24);
    expect(ruleSet().groups[0]!.rules.find((r) => r.alert === 'PostgresBaseBackupStale')!.expr).toMatch(/ > 172800$/);
    const custom = postgresBackupAlerts({ name: 'x', namespace: 'y', runbookUrl: `${BASE}/x`, maxBackupAgeHours: 6 });
    expect(custom.find((r) => r.alert === 'PostgresBaseBackupStale')!.expr).toMatch(/ > 21600$/);
  });

  it('the alerts select the cluster\'s own pods by namespace and pod name only', () => {
    for (const r of ruleSet().groups[0]!.rules) {
      // the restore drill's alerts read kube-state-metrics series of its own CronJob instead
      if (r.alert.startsWith('PostgresPitrDrill')) expect(r.expr, r.alert).toContain('cronjob="aion-pg-pitr-drill"');
      else expect(r.expr, r.alert).toContain('namespace="aion",pod=~"aion-pg-[0-9]+"');
    }
  });

  componentAlertTests({ concerns: 'X-6 X-8', unitTest: 'aion.aion-pg-backup', alerts: ALERTS, set: ruleSet, runDir });
});

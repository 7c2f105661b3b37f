/**
 * Backup alerts (X-6; X-8) through promtool: the PrometheusRule a BackupCronJob renders is
 * syntax-checked and unit-tested against `test/alerts/backup.test.yaml` (generated from test/alerts/templates/backup.test.yaml, test/promtool.ts) (a FIRING and a QUIET case
 * per alert), with the same harness as test/alerts.test.ts. Without promtool these tests fail.
 */
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { BackupCronJob, type BackupProps } from '../../components/backup.js';
import {
  alertProblems,
  alertsOf,
  componentAlertTests,
  prepareUnitTest,
  promtool,
  promtoolWorkspace,
  readUnitTests,
  unitTestFile,
  type RuleGroup,
  type RuleSet,
} from '../promtool.js';
import { newChart, objectsOf, only } from './util.js';

const BASE = 'https://runbooks.example.com/runbooks';
const ALERTS = ['BackupStale', 'BackupRestoreDrillFailed', 'BackupRestoreDrillStale'];

/** The rule set of the backup `sample` in `backups`, as the generated test/alerts/backup.test.yaml describes it. */
function ruleSet(props: Partial<BackupProps> = {}): RuleSet {
  const chart = newChart();
  new BackupCronJob(chart, 'Backup', {
    name: 'sample',
    namespace: 'backups',
    schedule: '0 3 * * *',
    drillSchedule: '30 5 * * 0',
    source: { kind: 'pvc-tarball', claimName: 'projects' },
    target: { kind: 'pvc', claimName: 'backups' },
    runbookUrl: `${BASE}/backup#sample`,
    ...props,
  });
  const rule = only(objectsOf(chart), 'PrometheusRule');
  return { name: 'backup', namespace: 'backups', groups: rule.spec.groups as RuleGroup[], stacks: ['component'], runbookBaseUrl: BASE };
}

const runDir = promtoolWorkspace('backup-alerts');

/**
 * promtool over test/alerts/backup.test.yaml with the rules `set`, keeping only the test groups
 * with a case of one of `alerts` (promtool evaluates each group on its own, so the others cannot
 * change those groups' verdicts).
 */
function unitTest(set: RuleSet, alerts: readonly string[]) {
  const { doc } = readUnitTests(unitTestFile('backup'));
  const tests = (doc.tests ?? []).filter((t) => (t.alert_rule_test ?? []).some((c) => alerts.includes(c.alertname)));
  if (tests.length === 0) throw new Error(`no test group of ${alerts.join(', ')} in test/alerts/backup.test.yaml`);
  const dir = runDir('test');
  return promtool(['test', 'rules', prepareUnitTest(dir, set, dump({ ...doc, tests }))], dir);
}

describe('backup alerts (X-6, X-8)', () => {
  it('X-6: a backup renders the three alerts, each with severity, summary, description and runbook_url', () => {
    const set = ruleSet();
    const alerts = alertsOf(set.groups);
    expect(alerts.map((a) => a.alert)).toEqual(ALERTS);
    for (const a of alerts) {
      expect(alertProblems(a, BASE), a.alert).toEqual([]);
      expect(a.labels).toEqual({ namespace: 'backups', backup: 'sample', severity: 'warning' });
    }
  });

  it('X-6: thresholds are twice the longest gap of each schedule', () => {
    const expr = (set: RuleSet, name: string) => alertsOf(set.groups).find((a) => a.alert === name)!.expr;
    expect(expr(ruleSet(), 'BackupStale')).toMatch(/ > 172800$/);
    expect(expr(ruleSet(), 'BackupRestoreDrillStale')).toMatch(/ > 1209600$/);
    // weekdays only: Friday -> Monday is 3 days, so 6 days before it is stale
    expect(expr(ruleSet({ schedule: '0 3 * * 1-5' }), 'BackupStale')).toMatch(/ > 518400$/);
    expect(expr(ruleSet({ schedule: '0 */6 * * *' }), 'BackupStale')).toMatch(/ > 43200$/);
  });

  it('X-6: alert severity is configurable (critical pages)', () => {
    for (const a of alertsOf(ruleSet({ alertSeverity: 'critical' }).groups)) expect(a.labels?.severity).toBe('critical');
  });

  componentAlertTests({ concerns: 'X-6 X-8', unitTest: 'backup', alerts: ALERTS, set: () => ruleSet(), runDir });
});

describe('the backup alert harness can fail (X-6)', () => {
  it('fails when the rules are rendered for another schedule (the thresholds are what is tested)', () => {
    const r = unitTest(ruleSet({ schedule: '0 3 */2 * *' }), ['BackupStale']);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain('alertname: BackupStale');
  });

  it('fails when the drill is not the one the failed job belongs to', () => {
    // only the BackupRestoreDrillFailed groups: the whole file would also fail on BackupStale
    const r = unitTest(ruleSet({ name: 'other' }), ['BackupRestoreDrillFailed']);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain('alertname: BackupRestoreDrillFailed');
  });
});

/**
 * Alert rules of a replicated Redis (X-5, X-8, AION-6) through promtool: replicated mode renders
 * the same PrometheusRule `<name>` as primary-only mode (so test/alerts/redis.test.yaml covers both)
 * plus `<name>-replication` (RedisNoPrimary, RedisReplicasMissing, RedisInstanceDown), unit-tested
 * against test/alerts/redis-replication.test.yaml with a FIRING and a QUIET case per alert.
 * Without promtool these tests fail, never skip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dump } from 'js-yaml';
import { Redis, redisReplicationAlerts, type RedisProps } from '../../components/redis.js';
import { invalidManifests } from '../schema.js';
import {
  PROMTOOL_MISSING,
  alertProblems,
  alertsOf,
  coverageProblems,
  findPromtool,
  prepareUnitTest,
  promtool,
  readUnitTests,
  unitTestFile,
  writeRuleFile,
  type RuleGroup,
  type RuleSet,
} from '../promtool.js';
import { newChart, objectsOf, only, type Json } from './util.js';

const BASE_URL = 'https://runbooks.example.com/stackbook';
const ALERTS = ['RedisNoPrimary', 'RedisReplicasMissing', 'RedisInstanceDown'];
const DIGEST = `@sha256:${'c'.repeat(64)}`;
const PROPS: RedisProps = {
  namespace: 'aion',
  tier: 'production',
  image: `docker.io/library/redis:8.2.2-alpine${DIGEST}`,
  exporterImage: `docker.io/oliver006/redis_exporter:v1.77.0${DIGEST}`,
  haproxyImage: `docker.io/library/haproxy:3.2.4-alpine${DIGEST}`,
  passwordSecret: { name: 'redis', key: 'password' },
  urlSecret: { name: 'redis', key: 'url' },
  clients: [{ name: 'gateway' }],
  runbookUrl: (anchor) => `${BASE_URL}/redis#${anchor}`,
};

function rulesOf(props: Partial<RedisProps>): Json[] {
  const chart = newChart();
  new Redis(chart, 'R', { ...PROPS, ...props });
  return objectsOf(chart).filter((o) => o.kind === 'PrometheusRule');
}

let tmp: string;
let set: RuleSet;
let rule: Json;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'stackbook-redis-ha-alerts-'));
  rule = only(rulesOf({ replicas: 3, concerns: ['AION-6'] }), 'PrometheusRule', 'redis-replication');
  set = { name: rule.metadata.name, namespace: rule.metadata.namespace, groups: rule.spec.groups as RuleGroup[], stacks: ['component'], runbookBaseUrl: BASE_URL };
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const runDir = (label: string) => mkdtempSync(join(tmp, `${label}-`));

describe('replicated Redis alert rules (X-5, X-8, AION-6)', () => {
  it('X-8: promtool is installed (apt-get install prometheus)', () => {
    expect(findPromtool(), PROMTOOL_MISSING).toBeDefined();
  });

  it('X-5 AION-6: replicated mode keeps PrometheusRule redis identical to primary-only mode and adds redis-replication, traced', () => {
    const single = rulesOf({});
    const replicated = rulesOf({ replicas: 3, concerns: ['AION-6'] });
    expect(single.map((r) => r.metadata.name)).toEqual(['redis']);
    expect(replicated.map((r) => r.metadata.name).sort()).toEqual(['redis', 'redis-replication']);
    // Same alerts, same expressions: test/alerts/redis.test.yaml covers both modes.
    expect(only(replicated, 'PrometheusRule', 'redis').spec).toEqual(only(single, 'PrometheusRule', 'redis').spec);
    expect(alertsOf(set.groups).map((a) => a.alert)).toEqual(ALERTS);
    expect(String(rule.metadata.annotations['stackbook.io/concerns']).split(',')).toEqual(['AION-6', 'X-5', 'X-8']);
    expect(invalidManifests(replicated)).toEqual({});
  });

  it('X-5: the thresholds follow the member count: replicas − 1 connected replicas, all members up', () => {
    const five = redisReplicationAlerts('redis', 'aion', 5, (a) => a);
    expect(five.find((a) => a.alert === 'RedisReplicasMissing')!.expr).toMatch(/< 4$/);
    expect(five.find((a) => a.alert === 'RedisInstanceDown')!.expr).toMatch(/< 5 and on\(\)/);
    const three = alertsOf(set.groups);
    expect(three.find((a) => a.alert === 'RedisReplicasMissing')!.expr).toMatch(/< 2$/);
    expect(three.find((a) => a.alert === 'RedisInstanceDown')!.expr).toMatch(/< 3 and on\(\)/);
  });

  it('X-8: every alert carries severity, summary, description and a runbook_url; RedisNoPrimary pages', () => {
    const alerts = alertsOf(set.groups);
    expect(alerts.flatMap((a) => alertProblems(a, BASE_URL))).toEqual([]);
    expect(Object.fromEntries(alerts.map((a) => [a.alert, [a.labels?.severity, a.for]]))).toEqual({
      RedisNoPrimary: ['critical', '1m'],
      RedisReplicasMissing: ['warning', '5m'],
      RedisInstanceDown: ['warning', '5m'],
    });
  });

  it('X-8: promtool check rules accepts the rendered rules', () => {
    const dir = runDir('check');
    writeRuleFile(join(dir, 'rules.yaml'), set.groups);
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
  });

  it('X-5: test/alerts/redis-replication.test.yaml loads the rendered rules and has a FIRING and a QUIET case per alert', () => {
    const { doc } = readUnitTests(unitTestFile('redis-replication'));
    expect(doc.rule_files).toEqual(['redis-replication.rules.yaml']);
    expect(coverageProblems(ALERTS, doc)).toEqual([]);
  });

  it('X-5 AION-6 X-8: promtool test rules passes', () => {
    const dir = runDir('test');
    const r = promtool(['test', 'rules', prepareUnitTest(dir, set, readUnitTests(unitTestFile('redis-replication')).text)], dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('X-5: promtool test rules fails when a FIRING expectation is turned QUIET', () => {
    const { doc } = readUnitTests(unitTestFile('redis-replication'));
    for (const alert of ALERTS) {
      const copy = structuredClone(doc);
      const firing = (copy.tests ?? []).flatMap((t) => t.alert_rule_test ?? []).find((c) => c.alertname === alert && (c.exp_alerts ?? []).length > 0)!;
      firing.exp_alerts = [];
      const dir = runDir(`flipped-${alert}`);
      const r = promtool(['test', 'rules', prepareUnitTest(dir, set, dump(copy))], dir);
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toContain(`alertname: ${alert}, time: ${firing.eval_time},`);
    }
  });
});

/**
 * Alert rules of a replicated Redis (X-5, X-8, AION-6) through promtool: replicated mode renders
 * the same PrometheusRule `<name>` as primary-only mode (so test/alerts/redis.test.yaml covers both)
 * plus `<name>-replication` (RedisNoPrimary, RedisReplicasMissing, RedisInstanceDown), unit-tested
 * against test/alerts/redis-replication.test.yaml with a FIRING and a QUIET case per alert.
 * Without promtool these tests fail, never skip.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Redis, redisReplicationAlerts, type RedisProps } from '../../components/redis.js';
import { invalidManifests } from '../schema.js';
import { alertProblems, alertsOf, componentAlertTests, promtoolWorkspace, ruleSetOf, type RuleSet } from '../promtool.js';
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

const runDir = promtoolWorkspace('redis-ha-alerts');
let set: RuleSet;
let rule: Json;

beforeAll(() => {
  rule = only(rulesOf({ replicas: 3, concerns: ['AION-6'] }), 'PrometheusRule', 'redis-replication');
  set = ruleSetOf(rule as { metadata: { name: string; namespace?: string }; spec: unknown }, BASE_URL);
});

describe('replicated Redis alert rules (X-5, X-8, AION-6)', () => {
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

  componentAlertTests({ concerns: 'X-5 AION-6 X-8', unitTest: 'redis-replication', alerts: ALERTS, set: () => set, runDir });
});

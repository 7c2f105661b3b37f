/**
 * Redis alert rules through promtool: the PrometheusRule rendered by the Redis
 * component is syntax-checked and unit-tested against `test/alerts/redis.test.yaml` (generated from test/alerts/templates/redis.test.yaml), which needs a
 * FIRING and a QUIET case for every alert. Without promtool these tests fail, never skip.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Redis } from '../../components/redis.js';
import { invalidManifests } from '../schema.js';
import { alertProblems, alertsOf, componentAlertTests, promtoolWorkspace, ruleSetOf, type RuleSet } from '../promtool.js';
import { newChart, objectsOf, only } from './util.js';

const BASE_URL = 'https://runbooks.example.com/stackbook';
const ALERTS = ['RedisDown', 'RedisMemoryNearLimit', 'RedisRejectedConnections'];
const DIGEST = `@sha256:${'c'.repeat(64)}`;

const runDir = promtoolWorkspace('redis-alerts');
let set: RuleSet;
let rule: ReturnType<typeof only>;

beforeAll(() => {
  const chart = newChart();
  new Redis(chart, 'R', {
    namespace: 'aion',
    tier: 'production',
    image: `docker.io/library/redis:8.2.2-alpine${DIGEST}`,
    exporterImage: `docker.io/oliver006/redis_exporter:v1.77.0${DIGEST}`,
    passwordSecret: { name: 'redis', key: 'password' },
    urlSecret: { name: 'redis', key: 'url' },
    clients: [{ name: 'gateway' }],
    runbookUrl: (anchor) => `${BASE_URL}/redis#${anchor}`,
  });
  rule = only(objectsOf(chart), 'PrometheusRule');
  set = ruleSetOf(rule, BASE_URL);
});

describe('Redis alert rules (X-5, X-8)', () => {
  it('X-5: the component renders PrometheusRule aion/redis with the three Redis alerts, schema-valid', () => {
    expect(set.name).toBe('redis');
    expect(alertsOf(set.groups).map((a) => a.alert)).toEqual(ALERTS);
    expect(invalidManifests([rule])).toEqual({});
  });

  it('X-8: every alert carries severity, summary, description and a runbook_url; RedisDown pages', () => {
    const alerts = alertsOf(set.groups);
    expect(alerts.flatMap((a) => alertProblems(a, BASE_URL))).toEqual([]);
    expect(Object.fromEntries(alerts.map((a) => [a.alert, a.labels?.severity]))).toEqual({
      RedisDown: 'critical',
      RedisMemoryNearLimit: 'warning',
      RedisRejectedConnections: 'warning',
    });
  });

  componentAlertTests({ concerns: 'X-5 X-8', unitTest: 'redis', alerts: ALERTS, set: () => set, runDir });
});

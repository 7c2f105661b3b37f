/**
 * Redis alert rules through promtool: the PrometheusRule rendered by the Redis
 * component is syntax-checked and unit-tested against `test/alerts/redis.test.yaml`, which needs a
 * FIRING and a QUIET case for every alert. Without promtool these tests fail, never skip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dump } from 'js-yaml';
import { Redis } from '../../components/redis.js';
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
import { newChart, objectsOf, only } from './util.js';

const BASE_URL = 'https://runbooks.example.com/stackbook';
const ALERTS = ['RedisDown', 'RedisMemoryNearLimit', 'RedisRejectedConnections'];
const DIGEST = `@sha256:${'c'.repeat(64)}`;

let tmp: string;
let set: RuleSet;
let rule: ReturnType<typeof only>;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'stackbook-redis-alerts-'));
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
  set = { name: rule.metadata.name, namespace: rule.metadata.namespace, groups: rule.spec.groups as RuleGroup[], stacks: ['component'], runbookBaseUrl: BASE_URL };
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function runDir(label: string): string {
  return mkdtempSync(join(tmp, `${label}-`));
}

describe('Redis alert rules (X-5, X-8)', () => {
  it('X-8: promtool is installed (apt-get install prometheus)', () => {
    expect(findPromtool(), PROMTOOL_MISSING).toBeDefined();
  });

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

  it('X-8: promtool check rules accepts the rendered rules', () => {
    const dir = runDir('check');
    writeRuleFile(join(dir, 'rules.yaml'), set.groups);
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
  });

  it('X-5: test/alerts/redis.test.yaml loads the rendered rules and has a FIRING and a QUIET case per alert', () => {
    const { doc } = readUnitTests(unitTestFile('redis'));
    expect(doc.rule_files).toEqual(['redis.rules.yaml']);
    expect(coverageProblems(ALERTS, doc)).toEqual([]);
  });

  it('X-5 X-8: promtool test rules passes', () => {
    const dir = runDir('test');
    const r = promtool(['test', 'rules', prepareUnitTest(dir, set, readUnitTests(unitTestFile('redis')).text)], dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('X-5: promtool test rules fails when a FIRING expectation is turned QUIET', () => {
    const { doc } = readUnitTests(unitTestFile('redis'));
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

// components/monitoring.ts storeAlertRules, and the ClickHouse, Qdrant and MongoDB alerts built on it
// alerts link to their runbook). A store without a runbook URL ships no alerts; one with a URL
// that is not absolute is refused (a relative or scheme-less link in a page leads nowhere); the
// rules rendered with a good URL are accepted by promtool (`promtool check rules`).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClickHouse } from '../../components/clickhouse.js';
import { storeAlertRules } from '../../components/monitoring.js';
import { MongoDb } from '../../components/mongodb.js';
import { Qdrant } from '../../components/qdrant.js';
import { ComponentError } from '../../kube/errors.js';
import { promtool, promtoolWorkspace, writeRuleFile, type AlertingRule, type RuleGroup } from '../promtool.js';
import { concernsOf, errorOf, newChart, objectsOf, type Json } from './util.js';

const URL_OK = 'https://runbooks.example.com/runbooks/aion#stores';
// RFC 3986 absolute URIs need a scheme, and no URI contains a space
const NOT_ABSOLUTE = ['/runbooks/aion#stores', 'runbooks.example.com/runbooks/aion', 'https://runbooks.example.com/run books'];

const STORES: Record<string, (url?: string) => Json[]> = {
  ClickHouse: (runbookUrl) => {
    const chart = newChart();
    new ClickHouse(chart, 'C', {
      namespace: 'aion',
      image: `docker.io/clickhouse/clickhouse-server:25.8.3.66@sha256:${'2'.repeat(64)}`,
      passwordSecret: { name: 'clickhouse', key: 'password' },
      clients: [{ name: 'control' }],
      ...(runbookUrl === undefined ? {} : { runbookUrl }),
    });
    return objectsOf(chart);
  },
  Qdrant: (runbookUrl) => {
    const chart = newChart();
    new Qdrant(chart, 'Q', {
      namespace: 'aion',
      image: `docker.io/qdrant/qdrant:v1.15.4-unprivileged@sha256:${'f'.repeat(64)}`,
      apiKeySecret: { name: 'qdrant', key: 'api-key' },
      clients: [{ name: 'memory' }],
      ...(runbookUrl === undefined ? {} : { runbookUrl }),
    });
    return objectsOf(chart);
  },
  MongoDb: (runbookUrl) => {
    const chart = newChart();
    new MongoDb(chart, 'M', {
      namespace: 'aion',
      image: `docker.io/library/mongo:8.0.12@sha256:${'e'.repeat(64)}`,
      rootUsername: { name: 'mongo-root', key: 'username' },
      rootPassword: { name: 'mongo-root', key: 'password' },
      uriSecret: { name: 'mongo-client', key: 'uri' },
      clients: [{ name: 'control' }],
      ...(runbookUrl === undefined ? {} : { runbookUrl }),
    });
    return objectsOf(chart);
  },
};

const rulesOf = (objects: readonly Json[]) => objects.filter((o) => o.kind === 'PrometheusRule');
const runDir = promtoolWorkspace('store-alerts');

function checkRules(run: string, groups: readonly RuleGroup[]) {
  const dir = runDir(run);
  writeRuleFile(join(dir, 'rules.yaml'), groups);
  return promtool(['check', 'rules', 'rules.yaml'], dir);
}

describe.each(Object.keys(STORES))('%s alerts', (store) => {
  const build = STORES[store]!;

  it('with an absolute runbook URL: one PrometheusRule, accepted by promtool check rules, every alert linking to the runbook', () => {
    const rules = rulesOf(build(URL_OK));
    expect(rules).toHaveLength(1);
    const groups = rules[0]!.spec.groups as RuleGroup[];
    const r = checkRules(store, groups);
    expect(r.code, r.output).toBe(0);
    const alerts = groups.flatMap((g) => g.rules).filter((r): r is AlertingRule => 'alert' in r);
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) expect(a.annotations?.runbook_url, a.alert).toMatch(/^https:\/\/runbooks\.example\.com\/runbooks\/aion/);
    expect(concernsOf(rules[0]!)).toContain('X-8');
  });

  it('without a runbook URL: no alerts at all', () => {
    expect(rulesOf(build())).toEqual([]);
  });

  it.each(NOT_ABSOLUTE)('refuses the runbook URL %j, naming the store and the field', (url) => {
    const e = errorOf(() => build(url));
    expect(e).toBeInstanceOf(ComponentError);
    expect(e.message).toContain('runbookUrl');
    expect(e.message).toContain(store);
  });
});

describe('storeAlertRules', () => {
  const alerts = (runbookUrl: string) => [
    { alert: 'StoreDown', expr: 'up{job="store"} == 0', for: '5m', severity: 'critical' as const, summary: 'store down', description: 'The store has not answered a scrape for 5 minutes.', runbookUrl },
  ];
  const props = { name: 'store', namespace: 'aion', concerns: ['AION-17'] };

  it('renders PrometheusRule <name> in the namespace, traced to X-8 and the given concerns, accepted by promtool', () => {
    const chart = newChart();
    expect(storeAlertRules(chart, 'Store', { ...props, runbookUrl: URL_OK }, alerts)).toBeDefined();
    const [rule] = rulesOf(objectsOf(chart));
    expect(rule!.metadata).toMatchObject({ name: 'store', namespace: 'aion' });
    expect(concernsOf(rule!)).toEqual(expect.arrayContaining(['X-8', 'AION-17']));
    const r = checkRules('helper', rule!.spec.groups);
    expect(r.code, r.output).toBe(0);
  });

  it('without a URL returns undefined and adds nothing to the chart', () => {
    const chart = newChart();
    expect(storeAlertRules(chart, 'Store', props, alerts)).toBeUndefined();
    expect(objectsOf(chart)).toEqual([]);
  });

  it('promtool is not a rubber stamp: it refuses a rule whose expression is not PromQL', () => {
    const r = checkRules('bad', [{ name: 'g', rules: [{ alert: 'X', expr: 'up ==', for: '5m' }] }] as RuleGroup[]);
    expect(r.code).not.toBe(0);
  });
});

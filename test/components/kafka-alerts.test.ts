/**
 * Consumer-lag alerts (AION-18, X-8) from components/kafka.ts `consumerLagAlert`, on Kafka
 * Exporter's `kafka_consumergroup_lag`: the rule's shape and validation, then promtool (`check
 * rules`, and `test rules` against test/alerts/kafka.test.yaml with a FIRING and a QUIET case per
 * alert). Without promtool these tests fail, never skip.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { consumerLagAlert } from '../../components/kafka.js';
import { PrometheusRules } from '../../components/monitoring.js';
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
import { validateManifest } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only } from './util.js';

const BASE_URL = 'https://runbooks.example.com/stackbook';
const ALERTS = ['KafkaConsumerLagControlPlane', 'KafkaGatewayLag'];

/** The PrometheusRule `kafka` that test/alerts/kafka.test.yaml is written for. */
function renderRule() {
  const chart = newChart();
  new PrometheusRules(chart, 'Rules', {
    name: 'kafka',
    namespace: 'aion',
    rules: [
      consumerLagAlert({ group: 'control-plane', runbookUrl: `${BASE_URL}/aion#kafka-consumer-lag`, concerns: ['AION-18'] }),
      consumerLagAlert({
        group: 'gateway',
        alert: 'KafkaGatewayLag',
        threshold: 100,
        for: '5m',
        severity: 'critical',
        matchers: { namespace: 'aion' },
        runbookUrl: `${BASE_URL}/aion#gateway-lag`,
      }),
    ],
  });
  return only(objectsOf(chart), 'PrometheusRule');
}

const runDir = promtoolWorkspace('kafka-alerts');
let set: RuleSet;
beforeAll(() => {
  const rule = renderRule();
  set = { name: 'kafka', namespace: 'aion', groups: rule.spec.groups as RuleGroup[], stacks: ['test'], runbookBaseUrl: BASE_URL };
});

describe('consumerLagAlert (AION-18)', () => {
  it('defaults: KafkaConsumerLag<Group>, lag summed per topic above 1000 for 10m, warning', () => {
    expect(consumerLagAlert({ group: 'control-plane', runbookUrl: `${BASE_URL}/aion#lag` })).toEqual({
      alert: 'KafkaConsumerLagControlPlane',
      expr: 'sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup="control-plane"}) > 1000',
      for: '10m',
      severity: 'warning',
      summary: 'Kafka consumer group control-plane is lagging',
      description:
        "Consumer group control-plane is more than 1000 messages behind on topic {{ $labels.topic }} (now {{ $value }}). Check its consumers (kafka-consumer-groups.sh --describe --group control-plane) and the producers' rate.",
      runbookUrl: `${BASE_URL}/aion#lag`,
    });
  });

  it('threshold, duration, severity, matchers (sorted) and the name are configurable; concerns are carried', () => {
    const a = consumerLagAlert({ group: 'g', alert: 'GLag', threshold: 5, for: '2m', severity: 'critical', matchers: { namespace: 'aion', job: 'kafka' }, runbookUrl: 'https://x/y', concerns: ['AION-18'] });
    expect(a.expr).toBe('sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup="g",job="kafka",namespace="aion"}) > 5');
    expect([a.alert, a.for, a.severity, a.concerns]).toEqual(['GLag', '2m', 'critical', ['AION-18']]);
  });

  it('group ids are quoted safely into PromQL and named in UpperCamelCase', () => {
    const a = consumerLagAlert({ group: 'my "odd"\\group.v2', runbookUrl: 'https://x/y' });
    expect(a.expr).toContain('consumergroup="my \\"odd\\"\\\\group.v2"');
    expect(a.alert).toBe('KafkaConsumerLagMyOddGroupV2');
    expect(consumerLagAlert({ group: '42-workers', runbookUrl: 'https://x/y' }).alert).toBe('KafkaConsumerLagGroup42Workers');
  });

  it('rejects an empty or multi-line group, a non-positive threshold and bad matcher names', () => {
    for (const [props, text] of [
      [{ group: '' }, 'group must be a consumer group id'],
      [{ group: 'a\nb' }, 'group must be a consumer group id'],
      [{ group: 'g', threshold: 0 }, 'threshold must be a positive integer (messages) (got 0)'],
      [{ group: 'g', threshold: 1.5 }, 'threshold must be a positive integer (messages) (got 1.5)'],
      [{ group: 'g', matchers: { 'bad-label': 'x' } }, 'matchers.bad-label must be a Prometheus label name'],
      [{ group: 'g', matchers: { consumergroup: 'x' } }, 'matchers.consumergroup must be a Prometheus label name other than consumergroup'],
    ] as const) {
      const e = errorOf(() => consumerLagAlert({ runbookUrl: 'https://x/y', ...props }));
      expect(e.name).toBe('ComponentError');
      expect(e.message).toContain(text);
    }
  });

  it('renders into a valid PrometheusRule through the monitoring component, traced AION-18 and X-8', () => {
    const rule = renderRule();
    expect(validateManifest(rule)).toEqual([]);
    expect(concernsOf(rule)).toEqual(['AION-18', 'X-8']);
    const alerts = alertsOf(rule.spec.groups);
    expect(alerts.map((a) => a.alert)).toEqual(ALERTS);
    for (const a of alerts) expect(alertProblems(a, BASE_URL), a.alert).toEqual([]);
  });
});

describe('consumer-lag alerts through promtool (X-8)', () => {
  componentAlertTests({ concerns: 'AION-18 X-8', unitTest: 'kafka', alerts: ALERTS, set: () => set, runDir });

  it('the harness can fail: a threshold that no longer matches the cases', () => {
    const looser: RuleSet = {
      ...set,
      groups: set.groups.map((g) => ({ ...g, rules: g.rules.map((r) => ('alert' in r ? { ...r, expr: r.expr.replace('> 1000', '> 100') } : r)) })),
    };
    const dir = runDir('looser');
    const r = promtool(['test', 'rules', prepareUnitTest(dir, looser, readUnitTests(unitTestFile('kafka')).text)], dir);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toContain('KafkaConsumerLagControlPlane');
  });
});

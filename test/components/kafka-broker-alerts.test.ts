/**
 * Kafka broker alerts (issue 14: each store ships its own; X-8) from components/kafka.ts
 * `kafkaBrokerAlerts`, on Kafka Exporter's `kafka_brokers` and
 * `kafka_topic_partition_under_replicated_partition`: promtool check and unit tests
 * (test/alerts/aion.aion-brokers.test.yaml, the file the stacks' rule is tested with), each FIRING
 * case turned QUIET fails.
 */
import { describe, expect, it } from 'vitest';
import { kafkaBrokerAlerts } from '../../components/kafka.js';
import { PrometheusRules } from '../../components/monitoring.js';
import { componentAlertTests, promtoolWorkspace, ruleSetOf, type RuleSet } from '../promtool.js';
import { newChart, objectsOf, only } from './util.js';

const BASE = 'https://runbooks.example.com/runbooks';
const ALERTS = ['KafkaBrokersMissing', 'KafkaUnderReplicatedPartitions', 'KafkaExporterMetricsAbsent'];

function ruleSet(): RuleSet {
  const chart = newChart();
  new PrometheusRules(chart, 'R', { name: 'aion-brokers', namespace: 'aion', rules: kafkaBrokerAlerts({ name: 'aion', namespace: 'aion', brokers: 3, runbookUrl: `${BASE}/aion#kafka` }) });
  return ruleSetOf(only(objectsOf(chart), 'PrometheusRule'), BASE);
}
const runDir = promtoolWorkspace('kafka-broker-alerts');

describe('Kafka broker alerts (issue 14, X-8)', () => {
  it('the broker count threshold follows the cluster size; the exporter pods of this cluster only', () => {
    const rules = kafkaBrokerAlerts({ name: 'aion', namespace: 'aion', brokers: 5, runbookUrl: `${BASE}/x` });
    expect(rules.find((r) => r.alert === 'KafkaBrokersMissing')!.expr).toBe('max(kafka_brokers{namespace="aion",pod=~"aion-kafka-exporter-.*"}) < 5');
  });
  componentAlertTests({ concerns: 'X-8', unitTest: 'aion.aion-brokers', alerts: ALERTS, set: ruleSet, runDir });
});

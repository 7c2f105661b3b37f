/**
 * Monitoring: a ServiceMonitor (optionally authenticating the scrape with a token from a
 * Secret) and a PrometheusRule whose every alert carries severity, summary, description and
 * runbook_url. Severity `critical` pages; `warning` goes to the team channel.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { ComponentError, parseLabel, trace } from './meta.js';
import { CONTRACT_ANNOTATION } from '../kube/annotations.js';

export interface ServiceMonitorProps {
  readonly name: string;
  readonly namespace: string;
  /** Labels of the Service to scrape. */
  readonly selector: Readonly<Record<string, string>>;
  /** Service port name. @default http */
  readonly port?: string;
  /** @default /metrics */
  readonly path?: string;
  /** @default 30s */
  readonly interval?: string;
  /** When `/metrics` is protected: the Secret key holding the bearer token. @default unauthenticated */
  readonly bearerToken?: { readonly secretName: string; readonly key: string };
  /** Label selecting this object into the Prometheus instance (`key=value`). @default release=prometheus */
  readonly prometheusSelector?: string;
  /** @default none */
  readonly concerns?: readonly string[];
}

function selectorLabel(component: string, name: string, s: string | undefined): Record<string, string> {
  return parseLabel(component, name, 'prometheusSelector', s ?? 'release=prometheus');
}

export class ServiceMonitor extends Construct {
  readonly object: ApiObject;
  constructor(scope: Construct, id: string, props: ServiceMonitorProps) {
    super(scope, id);
    const interval = props.interval ?? '30s';
    if (!/^\d+(s|m)$/.test(interval)) throw new ComponentError('ServiceMonitor', props.name, 'interval', 'must look like 30s or 1m', interval);
    this.object = new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: props.name, namespace: props.namespace, labels: selectorLabel('ServiceMonitor', props.name, props.prometheusSelector) },
      spec: {
        selector: { matchLabels: { ...props.selector } },
        namespaceSelector: { matchNames: [props.namespace] },
        endpoints: [
          {
            port: props.port ?? 'http',
            path: props.path ?? '/metrics',
            interval,
            scheme: 'http',
            ...(props.bearerToken
              ? { authorization: { type: 'Bearer', credentials: { name: props.bearerToken.secretName, key: props.bearerToken.key } } }
              : {}),
          },
        ],
      },
    });
    trace(this.object, 'X-8', ...(props.concerns ?? []));
  }
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** Prometheus duration, e.g. `5m`. */
  readonly for: string;
  /** `critical` pages; `warning` does not. */
  readonly severity: 'critical' | 'warning' | 'info';
  readonly summary: string;
  readonly description: string;
  /** Absolute URL of the runbook section for this alert. */
  readonly runbookUrl: string;
  /** Extra labels. @default none */
  readonly labels?: Readonly<Record<string, string>>;
  /** Catalog concerns implemented by this alert (traced on the PrometheusRule). @default none */
  readonly concerns?: readonly string[];
}

export interface PrometheusRulesProps {
  readonly name: string;
  readonly namespace: string;
  /** Rule group name. @default name */
  readonly group?: string;
  readonly rules: readonly AlertRule[];
  /** @default release=prometheus */
  readonly prometheusSelector?: string;
  /** @default none */
  readonly concerns?: readonly string[];
  /** The application contract whose metrics these rules use (`stackbook.io/contract: <service>`; services/contract.ts). @default none */
  readonly contract?: string;
}

export class PrometheusRules extends Construct {
  readonly object: ApiObject;
  constructor(scope: Construct, id: string, props: PrometheusRulesProps) {
    super(scope, id);
    const C = 'PrometheusRules';
    if (props.rules.length === 0) throw new ComponentError(C, props.name, 'rules', 'must not be empty');
    const seen = new Set<string>();
    for (const r of props.rules) {
      if (!/^[A-Z][A-Za-z0-9]*$/.test(r.alert)) throw new ComponentError(C, props.name, 'rules[].alert', 'must be UpperCamelCase', r.alert);
      if (seen.has(r.alert)) throw new ComponentError(C, props.name, 'rules[].alert', 'is duplicated', r.alert);
      seen.add(r.alert);
      if (!/^\d+[smh]$/.test(r.for)) throw new ComponentError(C, props.name, `rules.${r.alert}.for`, 'must be a duration such as 5m', r.for);
      if (r.summary.trim() === '' || r.description.trim() === '') throw new ComponentError(C, props.name, `rules.${r.alert}`, 'needs a summary and a description');
      if (!/^https?:\/\//.test(r.runbookUrl)) throw new ComponentError(C, props.name, `rules.${r.alert}.runbookUrl`, 'must be an absolute URL', r.runbookUrl);
    }
    this.object = new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: props.name, namespace: props.namespace, labels: selectorLabel(C, props.name, props.prometheusSelector) },
      spec: {
        groups: [
          {
            name: props.group ?? props.name,
            rules: props.rules.map((r) => ({
              alert: r.alert,
              expr: r.expr,
              for: r.for,
              labels: { ...r.labels, severity: r.severity },
              annotations: { summary: r.summary, description: r.description, runbook_url: r.runbookUrl },
            })),
          },
        ],
      },
    });
    if (props.contract) this.object.metadata.addAnnotation(CONTRACT_ANNOTATION, props.contract);
    trace(this.object, 'X-8', ...(props.concerns ?? []), ...props.rules.flatMap((r) => r.concerns ?? []));
  }
}

/**
 * A data store's own alerts (ClickHouse, Qdrant, MongoDB): PrometheusRule `<name>` with the rules
 * `alerts(runbookUrl)` returns, traced to X-8 and the store's concerns. Without `runbookUrl` a
 * store ships no alerts (undefined); with one it must be an absolute URL (`component` names the
 * store in the error).
 */
export function storeAlertRules(
  scope: Construct,
  component: string,
  props: { readonly name: string; readonly namespace: string; readonly runbookUrl?: string; readonly prometheusSelector?: string; readonly concerns: readonly string[] },
  alerts: (runbookUrl: string) => AlertRule[],
): PrometheusRules | undefined {
  if (props.runbookUrl === undefined) return undefined;
  if (!/^https?:\/\/\S+$/.test(props.runbookUrl)) throw new ComponentError(component, props.name, 'runbookUrl', 'must be an absolute URL', props.runbookUrl);
  return new PrometheusRules(scope, 'Rules', {
    name: props.name,
    namespace: props.namespace,
    rules: alerts(props.runbookUrl),
    ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
    concerns: ['X-8', ...props.concerns],
  });
}

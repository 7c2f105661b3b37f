/**
 * Monitoring: ServiceMonitor (authenticated scrape when /metrics is protected) and a
 * PrometheusRule whose every alert has a severity label and summary/description/runbook_url
 * annotations. Field names are prometheus-operator's monitoring.coreos.com/v1 API.
 */
import { describe, expect, it } from 'vitest';
import { PrometheusRules, ServiceMonitor, type AlertRule, type PrometheusRulesProps, type ServiceMonitorProps } from '../../components/monitoring.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

function monitor(overrides: Partial<ServiceMonitorProps> = {}) {
  const chart = newChart();
  new ServiceMonitor(chart, 'SM', { name: 'web', namespace: 'apps', selector: { 'app.kubernetes.io/name': 'web' }, ...overrides });
  return only(objectsOf(chart), 'ServiceMonitor');
}

const RULE: AlertRule = {
  alert: 'WebDown',
  expr: 'up{job="web"} == 0',
  for: '5m',
  severity: 'critical',
  summary: 'web is down',
  description: 'No web target is up.',
  runbookUrl: 'https://runbooks.example.com/web#down',
};

function rules(overrides: Partial<PrometheusRulesProps> = {}) {
  const chart = newChart();
  new PrometheusRules(chart, 'PR', { name: 'web', namespace: 'apps', rules: [RULE], ...overrides });
  return only(objectsOf(chart), 'PrometheusRule');
}

describe('ServiceMonitor (X-8)', () => {
  it('scrapes /metrics on the http port of the selected Services, in its own namespace only', () => {
    const sm = monitor();
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata).toMatchObject({ name: 'web', namespace: 'apps' });
    expect(sm.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'web' } });
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['apps'] });
    expect(sm.spec.endpoints).toHaveLength(1);
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(sm.spec.endpoints[0].interval).toMatch(/^\d+[sm]$/);
  });

  it('is selected into Prometheus by release=prometheus, or the given label', () => {
    expect(monitor().metadata.labels).toEqual({ release: 'prometheus' });
    expect(monitor({ prometheusSelector: 'prometheus=main' }).metadata.labels).toEqual({ prometheus: 'main' });
  });

  it('unauthenticated by default', () => {
    const ep = monitor().spec.endpoints[0];
    expect(ep.authorization).toBeUndefined();
    expect(ep.bearerTokenSecret).toBeUndefined();
  });

  it('a protected /metrics is scraped with a Bearer token read from the Secret key (a reference, never the value)', () => {
    const ep = monitor({ bearerToken: { secretName: 'metrics-token', key: 'token' }, port: 'metrics', path: '/internal/metrics', interval: '1m' }).spec.endpoints[0];
    expect(ep.authorization).toEqual({ type: 'Bearer', credentials: { name: 'metrics-token', key: 'token' } });
    expect(ep).toMatchObject({ port: 'metrics', path: '/internal/metrics', interval: '1m' });
  });

  it('carries X-8 and the given concerns', () => {
    expect(concernsOf(monitor({ concerns: ['OPE-95'] }))).toEqual(['OPE-95', 'X-8']);
  });

  it('rejects a malformed interval', () => {
    const e = errorOf(() => monitor({ interval: '30 seconds' }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('ServiceMonitor "web"');
    expect(e.message).toContain('interval');
    expect(e.message).toContain('(got "30 seconds")');
  });

  it('rejects a Prometheus selector that is not key=value', () => {
    const e = errorOf(() => monitor({ prometheusSelector: 'prometheus' }));
    expect(e.message).toContain('prometheusSelector');
    expect(e.message).toContain('(got "prometheus")');
  });
});

describe('PrometheusRules (X-8)', () => {
  it('every alert carries its severity label and summary, description and runbook_url annotations', () => {
    const pr = rules({ rules: [RULE, { ...RULE, alert: 'WebSlow', severity: 'warning', for: '10m' }] });
    expect(pr.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pr.metadata.labels).toEqual({ release: 'prometheus' });
    expect(pr.spec.groups).toHaveLength(1);
    expect(pr.spec.groups[0].name).toBe('web');
    const [down, slow] = pr.spec.groups[0].rules as Json[];
    expect(down).toEqual({
      alert: 'WebDown',
      expr: RULE.expr,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: { summary: RULE.summary, description: RULE.description, runbook_url: RULE.runbookUrl },
    });
    expect(slow!.labels.severity).toBe('warning');
    expect(slow!.for).toBe('10m');
  });

  it('extra labels are kept, but cannot override the severity that routes the page', () => {
    const pr = rules({ rules: [{ ...RULE, labels: { team: 'pricing', severity: 'info' } }] });
    expect(pr.spec.groups[0].rules[0].labels).toEqual({ team: 'pricing', severity: 'critical' });
  });

  it('uses the given group name and Prometheus selector', () => {
    const pr = rules({ group: 'web.alerts', prometheusSelector: 'prometheus=main' });
    expect(pr.spec.groups[0].name).toBe('web.alerts');
    expect(pr.metadata.labels).toEqual({ prometheus: 'main' });
  });

  it('carries X-8, the given concerns and those of its alerts', () => {
    const pr = rules({ concerns: ['OPE-95'], rules: [{ ...RULE, concerns: ['OPE-96'] }] });
    expect(concernsOf(pr)).toEqual(['OPE-95', 'OPE-96', 'X-8']);
  });
});

describe('PrometheusRules rejects incomplete alerts', () => {
  it('no rules', () => {
    const e = errorOf(() => rules({ rules: [] }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('PrometheusRules "web"');
    expect(e.message).toContain('rules');
  });

  it('an alert name that is not UpperCamelCase', () => {
    const e = errorOf(() => rules({ rules: [{ ...RULE, alert: 'web_down' }] }));
    expect(e.message).toContain('rules[].alert');
    expect(e.message).toContain('(got "web_down")');
  });

  it('a duplicated alert', () => {
    const e = errorOf(() => rules({ rules: [RULE, RULE] }));
    expect(e.message).toContain('duplicated');
    expect(e.message).toContain('(got "WebDown")');
  });

  it('a malformed for', () => {
    const e = errorOf(() => rules({ rules: [{ ...RULE, for: '5 minutes' }] }));
    expect(e.message).toContain('rules.WebDown.for');
    expect(e.message).toContain('(got "5 minutes")');
  });

  it('an empty summary or description', () => {
    expect(errorOf(() => rules({ rules: [{ ...RULE, summary: ' ' }] })).message).toContain('rules.WebDown');
    expect(errorOf(() => rules({ rules: [{ ...RULE, description: '' }] })).message).toMatch(/rules\.WebDown needs a summary and a description/);
  });

  it('a relative runbook URL', () => {
    const e = errorOf(() => rules({ rules: [{ ...RULE, runbookUrl: '/runbooks/web' }] }));
    expect(e.message).toContain('rules.WebDown.runbookUrl');
    expect(e.message).toContain('(got "/runbooks/web")');
  });

  it('a Prometheus selector that is not key=value', () => {
    const e = errorOf(() => rules({ prometheusSelector: 'main' }));
    expect(e.message).toContain('prometheusSelector');
    expect(e.message).toContain('(got "main")');
  });
});

/**
 * Alert rules (X-8; OPE-6 for the OPE service) through promtool: every PrometheusRule of every
 * stack is syntax-checked and unit-tested against `test/alerts/<rule name>.test.yaml`, and every
 * alert needs a FIRING and a QUIET case there. Without promtool these tests fail, never skip.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dump, load } from 'js-yaml';
import { ENVS, renderEnv } from './helpers.js';
import { opeAlerts } from '../services/ope.js';
import {
  PROMTOOL_MISSING,
  alertProblems,
  alertsOf,
  coverageProblems,
  fillTemplate,
  findPromtool,
  GENERATED_UNIT_TESTS,
  ALERT_TEMPLATES_DIR,
  prepareUnitTest,
  prometheusRules,
  promtool,
  promtoolSections,
  readUnitTests,
  ruleSets,
  unitTestFile,
  unitTestFileOf,
  writeRuleFile,
  type RuleSet,
  type ToolResult,
} from './promtool.js';

const OPE_ALERTS = ['OPEHighHttpErrorRate', 'OPEHighLatencyP95', 'OPEThreadPoolRejections', 'OPERateLimitSpike', 'OPEPayloadRejections', 'OPEPersistentQueueBacklog'];

let tmp: string;
let sets: RuleSet[];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'stackbook-alerts-'));
  sets = ruleSets(ENVS.map((e) => renderEnv(e)));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * One promtool run over `files` (the i-th holding `sets[i]`): each set's own section is there,
 * matches `success` and shows no FAILED, and the run exits 0.
 */
function expectEverySetPasses(r: ToolResult, command: 'test' | 'check', files: readonly string[], success: (set: RuleSet) => RegExp): void {
  const sections = promtoolSections(r, command);
  expect(sections.size, r.output).toBe(sets.length);
  sets.forEach((set, i) => {
    const section = sections.get(files[i]!);
    const label = `${set.namespace}/${set.name} (${set.stacks.join(', ')})\n${section ?? r.output}`;
    expect(section, label).toBeDefined();
    expect(section, label).toMatch(success(set));
    expect(section, label).not.toContain('FAILED');
  });
  expect(r.code, r.output).toBe(0);
}

/** A fresh directory per promtool run: rule and test files of different sets never mix. */
function runDir(label: string): string {
  return mkdtempSync(join(tmp, `${label.replace(/[^A-Za-z0-9-]/g, '_')}-`));
}

describe('alert rules (X-8)', () => {
  it('X-8: promtool is installed (apt-get install prometheus)', () => {
    expect(findPromtool(), PROMTOOL_MISSING).toBeDefined();
  });

  it('X-8 OPE-6: every stack renders the PrometheusRule ope with the five runbook alerts', () => {
    for (const env of ENVS) {
      const rules = prometheusRules(renderEnv(env).objects);
      expect(rules.map((r) => `${r.metadata.namespace}/${r.metadata.name}`), env).toContain('ope/ope');
      const names = alertsOf((rules.find((r) => r.metadata.name === 'ope')!.spec as { groups: RuleSet['groups'] }).groups).map((a) => a.alert);
      expect(names, env).toEqual(expect.arrayContaining(OPE_ALERTS));
    }
    // The service module declares them (more alerts are fine: the coverage test below demands cases for them).
    expect(opeAlerts((a) => a).map((a) => a.alert)).toEqual(expect.arrayContaining(OPE_ALERTS));
  });

  it('X-8: every alert of every stack carries severity, summary, description and runbook_url', () => {
    const problems: string[] = [];
    let alerts = 0;
    for (const env of ENVS) {
      const r = renderEnv(env);
      const base = r.stack.cluster.runbookBaseUrl.replace(/\/+$/, '');
      for (const pr of prometheusRules(r.objects)) {
        for (const a of alertsOf((pr.spec as { groups: RuleSet['groups'] }).groups)) {
          alerts++;
          problems.push(...alertProblems(a, base).map((p) => `${env} ${pr.metadata.name}/${a.alert}: ${p}`));
        }
      }
    }
    expect(alerts).toBeGreaterThanOrEqual(OPE_ALERTS.length * ENVS.length);
    expect(problems).toEqual([]);
  });

  it('X-8: PrometheusRules are deduplicated across stacks before promtool runs', () => {
    const total = ENVS.reduce((n, e) => n + prometheusRules(renderEnv(e).objects).length, 0);
    expect(sets.length).toBeGreaterThan(0);
    expect(sets.length).toBeLessThanOrEqual(total);
    expect(sets.flatMap((s) => s.stacks).length).toBe(total);
  });

  it('X-8: promtool check rules accepts every PrometheusRule of every stack', () => {
    // One promtool run over every set's rule file (each in its own directory), one "Checking
    // <file>" section per file: each set's own section must report SUCCESS with its rule count.
    const files = sets.map((set) => {
      const file = join(runDir(`check-${set.name}`), 'rules.yaml');
      writeRuleFile(file, set.groups);
      return file;
    });
    const r = promtool(['check', 'rules', ...files], tmp, 60_000);
    expectEverySetPasses(r, 'check', files, (set) => new RegExp(`^\\s*SUCCESS: ${alertsOf(set.groups).length} rules found\\s*$`, 'm'));
  });

  it('X-8: every alert in every stack is covered by a promtool test file with a FIRING and a QUIET case', () => {
    const problems: string[] = [];
    for (const set of sets) {
      const file = unitTestFileOf(set);
      let doc;
      try {
        doc = readUnitTests(file).doc;
      } catch (e) {
        problems.push(`${set.name} (${set.stacks.join(', ')}): cannot read ${file}: ${(e as Error).message}`);
        continue;
      }
      expect(doc.rule_files, `${file} must load exactly the generated ${set.name}.rules.yaml`).toEqual([`${set.name}.rules.yaml`]);
      problems.push(...coverageProblems(alertsOf(set.groups).map((a) => a.alert), doc).map((p) => `${set.name} (${set.stacks.join(', ')}): ${p}`));
    }
    expect(problems).toEqual([]);
  });

  it('generated unit-test files: every template is used, every instance fills each {{param}}, none shadows a hand-written file', () => {
    const templates = readdirSync(ALERT_TEMPLATES_DIR).map((f) => f.replace(/\.test\.yaml$/, '')).sort();
    expect([...new Set(Object.values(GENERATED_UNIT_TESTS).map((g) => g.template))].sort()).toEqual(templates);
    for (const [key, g] of Object.entries(GENERATED_UNIT_TESTS)) {
      expect(existsSync(unitTestFile(key)), `test/alerts/${key}.test.yaml is also generated`).toBe(false);
      const text = readUnitTests(unitTestFile(key)).text;
      expect(text, key).not.toMatch(/\{\{|\}\}/);
      for (const v of Object.values(g.params)) expect(text, key).toContain(v);
    }
    expect(() => fillTemplate('a {{namespace}} {{typo}}', { namespace: 'x' }, 'self-test')).toThrow(/no value for \{\{typo\}\}/);
    expect(readFileSync(join(ALERT_TEMPLATES_DIR, 'redis.test.yaml'), 'utf8')).toContain('{{namespace}}');
  });

  it('OPE-6: each OPE alert has at least one FIRING and one QUIET promtool case', () => {
    const { doc } = readUnitTests(unitTestFile('ope'));
    expect(coverageProblems(OPE_ALERTS, doc)).toEqual([]);
  });

  it('OPE-6 X-8: promtool test rules passes for every PrometheusRule of every stack', () => {
    // Each set in its own directory (rule files of different sets never mix: promtool resolves a
    // test file's rule_files against that file's directory), all unit-tested by ONE promtool run
    // (`promtool test rules <file>...`, one "Unit Testing: <file>" section per file): a third less
    // CPU than a process per set. Each set's own section must report SUCCESS.
    const files = sets.map((set) => {
      const dir = runDir(`test-${set.name}`);
      return join(dir, prepareUnitTest(dir, set, readUnitTests(unitTestFileOf(set)).text));
    });
    const r = promtool(['test', 'rules', ...files], tmp, 180_000);
    expectEverySetPasses(r, 'test', files, () => /^\s*SUCCESS\s*$/m);
  }, 240_000);
});

describe('the alert harness can fail (X-8)', () => {
  const ope = (): RuleSet => {
    const s = sets.find((x) => x.name === 'ope');
    if (!s) throw new Error('no PrometheusRule ope rendered');
    return s;
  };

  // Both mutations below keep only the test groups they change: promtool evaluates each group on its
  // own (its input_series, its cases), so the untouched groups cannot make the changed case pass or fail.
  it('OPE-6: promtool test rules fails when a FIRING expectation is turned QUIET', () => {
    const { doc } = readUnitTests(unitTestFile('ope'));
    const isFiring = (c: { exp_alerts?: unknown[] | null }) => (c.exp_alerts ?? []).length > 0;
    // the first FIRING case of the file, in its group
    const group = (doc.tests ?? []).find((t) => (t.alert_rule_test ?? []).some(isFiring));
    if (!group) throw new Error('no FIRING case in test/alerts/ope.test.yaml');
    const firing = group.alert_rule_test!.find(isFiring)!;
    firing.exp_alerts = [];
    const dir = runDir('flipped');
    const testFile = prepareUnitTest(dir, ope(), dump({ ...doc, tests: [group] }));
    const r = promtool(['test', 'rules', testFile], dir);
    expect(r.code, r.output).not.toBe(0);
    // It fails on the flipped case, not on, say, a YAML error.
    expect(r.output).toContain(`alertname: ${firing.alertname}, time: ${firing.eval_time},`);
  });

  it('OPE-6: promtool test rules fails when an expected annotation is wrong', () => {
    const doc = load(readUnitTests(unitTestFile('ope')).text.replace('#opehighhttperrorrate', '#wrong-anchor')) as { tests?: unknown[] };
    const changed = (doc.tests ?? []).filter((t) => JSON.stringify(t).includes('#wrong-anchor'));
    if (changed.length === 0) throw new Error('no expected annotation with #opehighhttperrorrate in test/alerts/ope.test.yaml');
    const dir = runDir('annotation');
    const r = promtool(['test', 'rules', prepareUnitTest(dir, ope(), dump({ ...doc, tests: changed }))], dir);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toMatch(/FAILED:[\s\S]*wrong-anchor/);
  });

  it('X-8: promtool check rules rejects a broken expression', () => {
    const dir = runDir('broken');
    writeRuleFile(join(dir, 'rules.yaml'), [{ name: 'broken', rules: [{ alert: 'Broken', expr: 'sum(rate(x[5m]) > ', labels: { severity: 'warning' } }] }]);
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toMatch(/"Broken": could not parse expression/);
  });

  it('X-8: an alert without severity, summary, description or a proper runbook_url is reported', () => {
    const base = 'https://stackbook.example.com/runbooks';
    const good = { alert: 'A', expr: 'up == 0', labels: { severity: 'warning' }, annotations: { summary: 's', description: 'd', runbook_url: `${base}/x#a` } };
    expect(alertProblems(good, base)).toEqual([]);
    expect(alertProblems({ alert: 'A', expr: 'up == 0' }, base)).toEqual([
      'severity undefined',
      'no summary',
      'no description',
      `runbook_url "" is not a URL under ${base}/`,
    ]);
    expect(alertProblems({ ...good, labels: { severity: 'page' }, annotations: { ...good.annotations, summary: ' ', runbook_url: 'https://elsewhere.example.com/x' } }, base)).toEqual([
      'severity "page"',
      'no summary',
      `runbook_url "https://elsewhere.example.com/x" is not a URL under ${base}/`,
    ]);
  });

  it('X-8: a new alert without test cases, or a case for a non-existent alert, is reported', () => {
    const { doc } = readUnitTests(unitTestFile('ope'));
    expect(coverageProblems([...OPE_ALERTS, 'OPEBrandNewAlert'], doc)).toEqual(['OPEBrandNewAlert: no promtool test case']);
    expect(coverageProblems(OPE_ALERTS.slice(1), doc)).toEqual(['OPEHighHttpErrorRate: tested but not an alert of this rule set']);
    const onlyQuiet = { tests: [{ alert_rule_test: [{ eval_time: '1m', alertname: 'A', exp_alerts: [] }] }] };
    expect(coverageProblems(['A'], onlyQuiet)).toEqual(['A: no FIRING case (exp_alerts non-empty)']);
    const wrongMetric = {
      tests: [
        { name: 'f', input_series: [{ series: 'a_total{pod="x"}', values: '0+1x9' }], alert_rule_test: [{ eval_time: '9m', alertname: 'A', exp_alerts: [{}] }] },
        { name: 'q', input_series: [{ series: 'a_totl{pod="x"}', values: '0+0x9' }], alert_rule_test: [{ eval_time: '9m', alertname: 'A', exp_alerts: [] }] },
      ],
    };
    expect(coverageProblems(['A'], wrongMetric)).toEqual(['A: QUIET case in "q" feeds none of the metrics its FIRING cases use']);
  });
});

/**
 * promtool helpers for tests: find the binary, collect the PrometheusRules of rendered stacks
 * (deduplicated), write them as rule files, prepare the unit-test files of `test/alerts/`, and
 * tally which alerts those files cover.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, load } from 'js-yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest, Rendered } from '../synth/render.js';

export const ALERT_TESTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'alerts');

export const PROMTOOL_MISSING =
  'promtool is not installed: run `apt-get install -y prometheus` (the Debian package ships /usr/bin/promtool), ' +
  'or point PROMTOOL at a promtool binary. The alert tests fail, never skip, without it.';

/** `$PROMTOOL`, else `promtool` on PATH; undefined when neither is executable. */
export function findPromtool(): string | undefined {
  const candidates = process.env.PROMTOOL
    ? [process.env.PROMTOOL]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'promtool'));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

export function requirePromtool(): string {
  const p = findPromtool();
  if (!p) throw new Error(PROMTOOL_MISSING);
  return p;
}

export interface ToolResult {
  readonly code: number;
  /** stdout and stderr together, interleaved as promtool wrote them, for assertion messages and `promtoolSections`. */
  readonly output: string;
}

/**
 * Runs promtool. Its `test rules` opens and removes a TSDB with a WAL in $TMPDIR per test group:
 * test/setup/tmpdir.ts puts every test's TMPDIR in memory (/dev/shm) where it can, promtool's too
 * (measured for the 47 unit-test files: 6.2 -> 4.9 s CPU, half the wall).
 */
export function promtool(args: readonly string[], cwd: string, timeoutMs = 30_000): ToolResult {
  // stdout and stderr go to ONE file: promtool prints "Unit Testing: <file>" / "Checking <file>" and
  // SUCCESS on stdout but FAILED and its reasons on stderr, so only a shared descriptor keeps each
  // failure inside the section of the file it belongs to when one run checks several files.
  const outDir = mkdtempSync(join(tmpdir(), 'stackbook-promtool-out-'));
  const outFile = join(outDir, 'output');
  const fd = openSync(outFile, 'w');
  try {
    const r = spawnSync(requirePromtool(), args, { cwd, stdio: ['ignore', fd, fd], timeout: timeoutMs });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, output: `$ promtool ${args.join(' ')}\n${readFileSync(outFile, 'utf8')}` };
  } finally {
    closeSync(fd);
    rmSync(outDir, { recursive: true, force: true });
  }
}

/**
 * The output of one promtool run over several files, per file as named on its command line:
 * `promtool test rules a b ...` opens a section "Unit Testing: <file>" per file, `promtool check
 * rules a b ...` a section "Checking <file>" (promtool 2.42). A file named twice keeps its last section.
 */
export function promtoolSections(r: ToolResult, command: 'test' | 'check'): Map<string, string> {
  const header = command === 'test' ? /^Unit Testing: +/m : /^Checking +/m;
  return new Map(
    r.output
      .split(header)
      .slice(1)
      .map((s) => [s.slice(0, s.indexOf('\n')).trim(), s] as const),
  );
}

export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly (AlertingRule | { readonly record: string; readonly expr: string })[];
}

/** One distinct `spec.groups`, with every stack rendering it. */
export interface RuleSet {
  /** metadata.name of the PrometheusRule; its unit tests live in `test/alerts/<name>.test.yaml`. */
  readonly name: string;
  readonly namespace: string;
  readonly groups: readonly RuleGroup[];
  readonly stacks: readonly string[];
  /** `cluster.runbookBaseUrl` of those stacks, without trailing slashes. */
  readonly runbookBaseUrl: string;
}

export function prometheusRules(objects: readonly Manifest[]): Manifest[] {
  return objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1' && o.kind === 'PrometheusRule');
}

export function alertsOf(groups: readonly RuleGroup[]): AlertingRule[] {
  return groups.flatMap((g) => g.rules.filter((r): r is AlertingRule => 'alert' in r));
}

/** What an alert lacks of severity (critical | warning | info), summary, description and a runbook_url under `runbookBase`. */
export function alertProblems(a: AlertingRule, runbookBase: string): string[] {
  const problems: string[] = [];
  if (!['critical', 'warning', 'info'].includes(a.labels?.severity ?? '')) problems.push(`severity ${JSON.stringify(a.labels?.severity)}`);
  for (const k of ['summary', 'description'] as const) {
    if (!a.annotations?.[k]?.trim()) problems.push(`no ${k}`);
  }
  const url = a.annotations?.runbook_url ?? '';
  if (!url.startsWith(`${runbookBase}/`) || !URL.canParse(url)) problems.push(`runbook_url ${JSON.stringify(url)} is not a URL under ${runbookBase}/`);
  return problems;
}

/** The PrometheusRules of all stacks; identical ones (same name, same groups) once. */
export function ruleSets(rendered: readonly Rendered[]): RuleSet[] {
  const byKey = new Map<string, { name: string; namespace: string; groups: RuleGroup[]; stacks: string[]; runbookBaseUrl: string }>();
  for (const r of rendered) {
    for (const pr of prometheusRules(r.objects)) {
      const groups = (pr.spec as { groups: RuleGroup[] }).groups;
      const base = r.stack.cluster.runbookBaseUrl.replace(/\/+$/, '');
      const key = JSON.stringify([pr.metadata.name, base, groups]);
      const seen = byKey.get(key);
      if (seen) seen.stacks.push(r.stack.environment);
      else byKey.set(key, { name: pr.metadata.name, namespace: pr.metadata.namespace ?? '', groups, stacks: [r.stack.environment], runbookBaseUrl: base });
    }
  }
  return [...byKey.values()];
}

/** Write `groups:` as a rule file (JSON is YAML; promtool reads it as is). */
export function writeRuleFile(path: string, groups: readonly RuleGroup[]): void {
  writeFileSync(path, `${JSON.stringify({ groups }, null, 2)}\n`);
}

export const unitTestFile = (name: string): string => join(ALERT_TESTS_DIR, `${name}.test.yaml`);

/** Templates of unit-test files that several rendered rules share, differing only in names. */
export const ALERT_TEMPLATES_DIR = join(ALERT_TESTS_DIR, 'templates');
type Template = 'backup' | 'redis' | 'redis-replication';
const backup = (namespace: string, name: string, page: string, rule = `${name}-backup`) => ({ template: 'backup' as const, params: { namespace, backup: name, rule, page } });
const redis = (template: Template, namespace: string, page = namespace) => ({ template, params: { namespace, page } });
/**
 * Unit-test files generated at test time from `test/alerts/templates/<template>.test.yaml`, as if
 * they were `test/alerts/<key>.test.yaml`: the same cases for the same component rendered under
 * other names (a Redis per service, a backup per database). A hand-written file of the same name
 * is refused (one source per file name).
 */
export const GENERATED_UNIT_TESTS: Readonly<Record<string, { readonly template: Template; readonly params: Readonly<Record<string, string>> }>> = {
  backup: backup('backups', 'sample', 'backup#sample', 'backup'), // test/components/backup-alerts.test.ts
  'aion.pg-backup': backup('aion', 'pg', 'aion#backups'),
  'aion.mongo-backup': backup('aion', 'mongo', 'aion#backups'),
  'aion.clickhouse-backup': backup('aion', 'clickhouse', 'aion#backups'),
  'oub-authdb-backup': backup('oub', 'oub-authdb', 'oub#backups'),
  'oub-projects-backup': backup('oub', 'oub-projects', 'oub#backups'),
  redis: redis('redis', 'aion', 'redis'), // test/components/redis-alerts.test.ts
  'aion.redis': redis('redis', 'aion'),
  'osc.redis': redis('redis', 'osc'),
  'ows.redis': redis('redis', 'ows'),
  'aion.redis-replication': redis('redis-replication', 'aion'),
  'osc.redis-replication': redis('redis-replication', 'osc'),
  'ows.redis-replication': redis('redis-replication', 'ows'),
};

/** A template with its `{{param}}`s filled; an unknown or unfilled parameter throws. */
export function fillTemplate(text: string, params: Readonly<Record<string, string>>, what: string): string {
  return text.replace(/\{\{(\w*)\}\}/g, (_, k: string) => {
    if (!Object.hasOwn(params, k)) throw new Error(`${what}: no value for {{${k}}}`);
    return params[k]!;
  });
}

/** The generated unit-test file a path stands for, if any. */
const generatedAt = (path: string) => {
  const key = /([^/]+)\.test\.yaml$/.exec(path)?.[1];
  return key !== undefined && dirname(path) === ALERT_TESTS_DIR && Object.hasOwn(GENERATED_UNIT_TESTS, key) ? { key, ...GENERATED_UNIT_TESTS[key]! } : undefined;
};
/** Whether a unit-test file exists, written by hand or generated. */
export const unitTestExists = (path: string): boolean => existsSync(path) || generatedAt(path) !== undefined;
/**
 * The unit-test file of a rendered PrometheusRule: `<namespace>.<name>.test.yaml` where one exists (by hand or in GENERATED_UNIT_TESTS)
 * (the same component rendered into several namespaces, e.g. a Redis per service, whose rules name
 * their namespace), else `<name>.test.yaml`.
 */
export function unitTestFileOf(set: { readonly name: string; readonly namespace: string }): string {
  const perNamespace = join(ALERT_TESTS_DIR, `${set.namespace}.${set.name}.test.yaml`);
  return unitTestExists(perNamespace) ? perNamespace : unitTestFile(set.name);
}
export const ruleFileName = (name: string): string => `${name}.rules.yaml`;
export const RUNBOOK_PLACEHOLDER = '${RUNBOOK_BASE_URL}';

interface UnitTestDoc {
  rule_files?: string[];
  tests?: {
    name?: string;
    input_series?: { series: string; values: string }[];
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] | null }[];
  }[];
}

export function readUnitTests(path: string): { text: string; doc: UnitTestDoc } {
  const generated = generatedAt(path);
  if (generated && existsSync(path)) throw new Error(`${path} is written by hand and also generated (GENERATED_UNIT_TESTS in test/promtool.ts): keep one`);
  const text = generated
    ? fillTemplate(readFileSync(join(ALERT_TEMPLATES_DIR, `${generated.template}.test.yaml`), 'utf8'), generated.params, `${generated.key} from template ${generated.template}`)
    : readFileSync(path, 'utf8');
  return { text, doc: load(text) as UnitTestDoc };
}

/** alertname -> number of firing cases (non-empty exp_alerts) and quiet cases (empty exp_alerts). */
export function coverage(doc: UnitTestDoc): Map<string, { firing: number; quiet: number }> {
  const out = new Map<string, { firing: number; quiet: number }>();
  for (const t of doc.tests ?? []) {
    for (const c of t.alert_rule_test ?? []) {
      const e = out.get(c.alertname) ?? { firing: 0, quiet: 0 };
      if ((c.exp_alerts ?? []).length > 0) e.firing++;
      else e.quiet++;
      out.set(c.alertname, e);
    }
  }
  return out;
}

/** Problems with how `doc` covers `alerts`: each needs a firing and a quiet case; no case may name an absent alert. */
export function coverageProblems(alerts: readonly string[], doc: UnitTestDoc): string[] {
  const cov = coverage(doc);
  const problems: string[] = [];
  for (const a of alerts) {
    const c = cov.get(a);
    if (!c) problems.push(`${a}: no promtool test case`);
    else {
      if (c.firing === 0) problems.push(`${a}: no FIRING case (exp_alerts non-empty)`);
      if (c.quiet === 0) problems.push(`${a}: no QUIET case (exp_alerts: [])`);
    }
  }
  // A quiet case for a misspelt alert would pass vacuously.
  for (const name of cov.keys()) if (!alerts.includes(name)) problems.push(`${name}: tested but not an alert of this rule set`);
  // So would a quiet case fed with the wrong metric: its series must include a metric that a
  // firing case of the same alert uses (the firing case proves that metric reaches the expression).
  const metrics = (t: NonNullable<UnitTestDoc['tests']>[number]): string[] => (t.input_series ?? []).map((s) => s.series.split('{')[0]!.trim());
  const firingMetrics = new Map<string, Set<string>>();
  for (const t of doc.tests ?? []) {
    for (const c of t.alert_rule_test ?? []) {
      if ((c.exp_alerts ?? []).length === 0) continue;
      const set = firingMetrics.get(c.alertname) ?? new Set<string>();
      for (const m of metrics(t)) set.add(m);
      firingMetrics.set(c.alertname, set);
    }
  }
  for (const t of doc.tests ?? []) {
    for (const c of t.alert_rule_test ?? []) {
      if ((c.exp_alerts ?? []).length > 0 || !firingMetrics.has(c.alertname)) continue;
      if (!metrics(t).some((m) => firingMetrics.get(c.alertname)!.has(m))) {
        problems.push(`${c.alertname}: QUIET case in ${JSON.stringify(t.name ?? '?')} feeds none of the metrics its FIRING cases use`);
      }
    }
  }
  return problems;
}

/** Write the rule set and its unit-test file (placeholder filled in) into `dir`; returns the test file name. */
export function prepareUnitTest(dir: string, set: RuleSet, testText: string): string {
  writeRuleFile(join(dir, ruleFileName(set.name)), set.groups);
  const name = `${set.name}.test.yaml`;
  writeFileSync(join(dir, name), testText.split(RUNBOOK_PLACEHOLDER).join(set.runbookBaseUrl));
  return name;
}

// ----------------------------------------------------------------------------- shared test pieces

/**
 * A temporary directory for one test file's promtool runs, created before its tests and removed
 * after them; the returned `runDir(label)` gives each run a fresh directory inside it, so rule and
 * unit-test files of different runs never mix.
 */
export function promtoolWorkspace(label: string): (run: string) => string {
  let root: string | undefined;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), `stackbook-${label}-`));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });
  return (run) => {
    if (root === undefined) throw new Error('promtoolWorkspace: runDir used outside a test');
    return mkdtempSync(join(root, `${run.replace(/[^A-Za-z0-9-]/g, '_')}-`));
  };
}

/** One rendered PrometheusRule as a rule set for promtool. */
export function ruleSetOf(rule: { metadata: { name: string; namespace?: string }; spec?: unknown }, runbookBaseUrl: string): RuleSet {
  return {
    name: rule.metadata.name,
    namespace: rule.metadata.namespace ?? '',
    groups: (rule.spec as { groups: RuleGroup[] }).groups,
    stacks: ['component'],
    runbookBaseUrl,
  };
}

/**
 * The promtool tests every component's alert rules get, titled with `concerns`: promtool is
 * installed; `promtool check rules` accepts the rules; `test/alerts/<unitTest>.test.yaml` loads
 * exactly the generated rule file and has a FIRING and a QUIET case per alert; `promtool test
 * rules` passes; and, for each alert in turn, a FIRING expectation turned QUIET fails on that case
 * (the harness can fail).
 */
export function componentAlertTests(o: {
  readonly concerns: string;
  readonly unitTest: string;
  readonly alerts: readonly string[];
  readonly set: () => RuleSet;
  readonly runDir: (run: string) => string;
}): void {
  const unitTests = () => readUnitTests(unitTestFile(o.unitTest));
  it(`${o.concerns}: promtool is installed (apt-get install prometheus)`, () => {
    expect(findPromtool(), PROMTOOL_MISSING).toBeDefined();
  });

  it(`${o.concerns}: promtool check rules accepts the rendered rules`, () => {
    const dir = o.runDir('check');
    writeRuleFile(join(dir, 'rules.yaml'), o.set().groups);
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${o.alerts.length} rules found`);
  });

  it(`${o.concerns}: test/alerts/${o.unitTest}.test.yaml loads exactly the rendered rules and has a FIRING and a QUIET case per alert`, () => {
    const { doc } = unitTests();
    expect(doc.rule_files).toEqual([ruleFileName(o.set().name)]);
    expect(coverageProblems(o.alerts, doc)).toEqual([]);
  });

  it(`${o.concerns}: promtool test rules passes`, () => {
    const dir = o.runDir('test');
    const r = promtool(['test', 'rules', prepareUnitTest(dir, o.set(), unitTests().text)], dir);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it(`${o.concerns}: promtool test rules fails when a FIRING expectation of any alert is turned QUIET`, () => {
    const { doc } = unitTests();
    // Per alert, a copy of the unit-test file with that alert's first FIRING case turned QUIET,
    // holding only the test group of that case (promtool evaluates each group on its own: its
    // input_series, its cases), so the other groups, which cannot make the flipped case pass or
    // fail, are not evaluated again per alert. All copies go to ONE promtool run, one
    // "Unit Testing: <file>" section each; every section must fail on its own flipped case.
    const isFiring = (alert: string) => (c: { alertname: string; exp_alerts?: unknown[] | null }) => c.alertname === alert && (c.exp_alerts ?? []).length > 0;
    const flips = o.alerts.map((alert) => {
      const group = (doc.tests ?? []).find((t) => (t.alert_rule_test ?? []).some(isFiring(alert)));
      if (!group) throw new Error(`no FIRING ${alert} case in ${unitTestFile(o.unitTest)}`);
      const flippedGroup = structuredClone(group);
      const firing = flippedGroup.alert_rule_test!.find(isFiring(alert))!;
      firing.exp_alerts = [];
      const dir = o.runDir(`flipped-${alert}`);
      return { alert, firing, file: join(dir, prepareUnitTest(dir, o.set(), dump({ ...doc, tests: [flippedGroup] }))) };
    });
    const r = promtool(['test', 'rules', ...flips.map((f) => f.file)], o.runDir('flipped'), 60_000);
    const sections = promtoolSections(r, 'test');
    for (const { alert, firing, file } of flips) {
      const section = sections.get(file);
      const label = `${alert}: its FIRING case at ${firing.eval_time} turned QUIET\n${section ?? r.output}`;
      expect(section, label).toBeDefined();
      expect(section, label).toContain('FAILED');
      // It fails on the flipped case, not on, say, a YAML error.
      expect(section, label).toContain(`alertname: ${alert}, time: ${firing.eval_time},`);
    }
    expect(sections.size, r.output).toBe(flips.length);
    expect(r.code, r.output).not.toBe(0);
  });
}

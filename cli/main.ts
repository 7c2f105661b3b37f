/**
 * `stackbook` — synthesize, check and trace stacks without a cluster.
 *
 * The commands, their options, help and exit codes are the table in ./commands.ts (docs/cli.md);
 * this file dispatches. Exit codes: 0 ok; 1 findings (policy violations, untraced concerns, a
 * refused artifact; diff: changes, with --exit-code); 2 configuration or usage errors (diff: also a
 * bad ref or a base that cannot be synthesized).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandHelp, commandSpec, parseCommandLine, topHelp, usageHint, UsageError, type Args } from './commands.js';
import { progress } from './progress.js';

/** The output could not be written (permissions, full disk, a file in the way): exit 2, no stack trace. */
class OutputError extends Error {}

/** package.json's version: the nearest package.json above this file (cli/ from source, build/cli/ built). */
export function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'stackbook' && pkg.version) return pkg.version;
    } catch {
      /* not here */
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

const str = (args: Args, name: string): string | undefined => (typeof args.values[name] === 'string' ? (args.values[name] as string) : undefined);
const flag = (args: Args, name: string): boolean => args.values[name] === true;

async function environments(root: string, args: Args): Promise<string[]> {
  const { knownEnvironments } = await import('../synth/stacks.js');
  if (flag(args, 'all')) {
    if (args.positional.length > 0) throw new UsageError('give environments or --all, not both', args.command);
    const all = knownEnvironments(root);
    if (all.length === 0) throw new UsageError(`no stacks/Pulumi.<env>.yaml files under ${root}`, args.command);
    return all;
  }
  if (args.positional.length === 0) throw new UsageError(`name an environment or --all`, args.command);
  return [...new Set(args.positional)];
}

/**
 * Render and judge every stack. `out` gets each violation; with `quietExceptions` the excepted ones
 * are left out (synth: they are reviewed where they are declared and listed by `check`).
 */
async function renderChecked(root: string, envs: readonly string[], out: (s: string) => void, quietExceptions = false) {
  const { loadStacks } = await import('../synth/stacks.js');
  const { checkStack, violationLines } = await import('../synth/pipeline.js');
  const stacks = loadStacks(root, envs); // every stack's config problems at once, before rendering
  const results = [];
  const seconds = new Map<string, number>();
  let failed = false;
  const p = progress();
  let i = 0;
  for (const [env, stack] of stacks) {
    p.step(`rendering and checking ${env} (${++i}/${stacks.size})`);
    const t0 = performance.now();
    // The one pipeline (render -> policies -> air-gap check) the Pulumi program also runs.
    const checked = checkStack(stack);
    seconds.set(env, (performance.now() - t0) / 1000);
    const lines = violationLines(checked, { withExcepted: !quietExceptions });
    if (lines.length > 0) p.done();
    for (const line of lines) out(line);
    if (checked.blockers.length > 0) failed = true;
    results.push(checked);
  }
  p.done();
  return { results, failed, seconds };
}

/** Right-aligned columns after a left-aligned first one. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: readonly string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ').trimEnd();
  return `${[head, ...rows].map(line).join('\n')}\n`;
}

async function synth(root: string, args: Args): Promise<number> {
  const envs = await environments(root, args);
  const outRoot = resolve(root, str(args, 'out') ?? 'dist');
  const { results, failed, seconds } = await renderChecked(root, envs, (s) => process.stderr.write(`${s}\n`), true);
  // an air-gapped bundle is judged on what was rendered: mirror + digest for every image, no public hosts.
  const { airgapLines } = await import('../synth/pipeline.js');
  let refused = false;
  for (const checked of results) {
    for (const line of airgapLines(checked)) {
      process.stderr.write(`${line}\n`);
      refused = true;
    }
  }
  if (refused) {
    process.stderr.write('synth: air-gapped bundle refused (images must come from the mirror by digest; no public hosts): nothing written\n');
    return 2;
  }
  if (failed) {
    process.stderr.write('synth: mandatory policy violations: nothing written\n');
    return 1;
  }
  const { bundleFiles, writeBundle, loadSigningKey, SIGNING_KEY_ENV } = await import('../bundle/bundle.js');
  const keyPath = process.env[SIGNING_KEY_ENV];
  const signingKey = keyPath ? loadSigningKey(resolve(root, keyPath)) : undefined;
  const p = progress();
  // Every bundle is computed before the first is written: a failure writes nothing.
  const planned = results.map((r) => {
    p.step(`bundling ${r.env}`);
    const t0 = performance.now();
    const files = bundleFiles(r.rendered, signingKey ? { signingKey } : {});
    seconds.set(r.env, seconds.get(r.env)! + (performance.now() - t0) / 1000);
    return { ...r, files };
  });
  const written: string[] = [];
  const rows: string[][] = [];
  for (const { env, rendered, violations, files } of planned) {
    p.step(`writing ${resolve(outRoot, env)}`);
    const t0 = performance.now();
    try {
      writeBundle(resolve(outRoot, env), files);
    } catch (e) {
      p.done();
      // Each bundle is swapped in whole or not at all: say which ones are new and which are as before.
      if (!(e instanceof Error) || !('code' in e || e.name === 'BundleError')) throw e;
      const rest = planned.map((x) => x.env).filter((x) => !written.includes(x));
      throw new OutputError(
        `cannot write ${resolve(outRoot, env)}: ${e.message.split('\n')[0]}\n` +
          `stackbook: written: ${written.join(', ') || 'none'}; not written: ${rest.join(', ')} (previous bundles left as they were)`,
      );
    }
    written.push(env);
    const excepted = violations.filter((v) => v.exceptedBecause !== undefined).length;
    const secs = seconds.get(env)! + (performance.now() - t0) / 1000;
    rows.push([env, String(rendered.objects.length), String(files.length), String(violations.length - excepted), String(excepted), secs.toFixed(2)]);
  }
  p.done();
  // One row per stack (objects by kind: `stackbook check`, the bundle's README); the details are in each bundle.
  process.stdout.write(table(['env', 'objects', 'files', 'warnings', 'exceptions', 'seconds'], rows));
  process.stdout.write(`-> ${outRoot}/<env>/ (secrets.json: Secrets to create; stackbook check: exceptions)\n`);
  return 0;
}

async function check(root: string, args: Args): Promise<number> {
  const envs = await environments(root, args);
  const { results, failed } = await renderChecked(root, envs, (s) => process.stdout.write(`${s}\n`));
  const { applicationChanges } = await import('../bundle/prerequisites.js');
  for (const { env, rendered, violations, blockers } of results) {
    process.stdout.write(`${env}: ${rendered.objects.length} objects, ${blockers.length} blocking, ${violations.length - blockers.length} excepted/advisory\n`);
    // issue 19: runbook metrics the applications lack (no alert or scaler uses them), indented under the summary
    for (const line of applicationChanges(rendered.objects)) process.stdout.write(`  ${env} app change needed: ${line}\n`);
  }
  // A copied stack that kept its origin's domain (warning).
  const { domainWarnings } = await import('../synth/stacks.js');
  for (const w of domainWarnings(root, results.map((r) => r.env))) process.stderr.write(`warning: ${w}\n`);
  // Issue 14: example digests/keys must not be deployed unnoticed (warning; --strict fails).
  const { exampleValuesWarning } = await import('../synth/example-values.js');
  let examples = 0;
  for (const { env } of results) {
    const warning = exampleValuesWarning(root, env);
    if (warning === undefined) continue;
    examples++;
    process.stderr.write(`${warning}\n`);
  }
  if (examples > 0 && flag(args, 'strict')) {
    process.stderr.write(`check --strict: ${examples} stack${examples === 1 ? '' : 's'} still carr${examples === 1 ? 'ies' : 'y'} EXAMPLE values\n`);
    return 1;
  }
  return failed ? 1 : 0;
}

async function coverage(root: string, args: Args): Promise<number> {
  if (args.positional.length > 0) throw new UsageError(`coverage takes no environment (got ${args.positional.join(' ')})`, 'coverage');
  const { coverageReport, formatCoverage } = await import('../reports/coverage.js');
  const catalog = resolve(root, str(args, 'catalog') ?? '../shared/runbooks/CONCERNS.md');
  const p = progress();
  p.step('rendering every stack and reading the tests');
  let report;
  try {
    report = await coverageReport(root, catalog);
  } finally {
    p.done();
  }
  process.stdout.write(flag(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : formatCoverage(report));
  return report.ok ? 0 : 1;
}

/** `report failure-budget [--write-readme]`: the failure-budget table of every stack (reports/failure-budget.ts). */
async function report(root: string, args: Args): Promise<number> {
  const html = str(args, 'html');
  if (html !== undefined) return htmlReport(root, args, html);
  if (args.positional.length !== 1 || args.positional[0] !== 'failure-budget') throw new UsageError('report needs one report name: failure-budget, or environments (or --all) and --html <file>', 'report');
  const { knownEnvironments, loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { failureBudgetTable, withFailureBudget } = await import('../reports/failure-budget.js');
  const stacks = loadStacks(root, knownEnvironments(root));
  const p = progress();
  const rendered = [...stacks].map(([env, stack]) => {
    p.step(`rendering ${env}`);
    return [env, render(stack)] as const;
  });
  p.done();
  const table = failureBudgetTable(rendered);
  if (!flag(args, 'write-readme')) {
    process.stdout.write(table);
    return 0;
  }
  const { writeFileSync } = await import('node:fs');
  const readme = resolve(root, 'README.md');
  let text: string;
  try {
    text = withFailureBudget(readFileSync(readme, 'utf8'), table);
    writeFileSync(readme, text);
  } catch (e) {
    throw new OutputError(`cannot update ${readme}: ${(e as Error).message}`);
  }
  process.stdout.write(`failure budget written to ${readme}\n`);
  return 0;
}

/**
 * `report <env...> | --all --html <file>`: the reviewer's page of each stack (review/html-report.ts),
 * all in one process (CI writes every stack's page: one start-up instead of one per stack). With
 * several stacks the file name holds `{env}`. A stack whose page fails is named on stderr and the
 * others are still written (exit 2); with one stack its error is the command's error.
 */
async function htmlReport(root: string, args: Args, file: string): Promise<number> {
  const envs = await environments(root, args);
  if (envs.length > 1 && !file.includes('{env}')) {
    throw new UsageError(`report --html with several environments needs {env} in the file name, e.g. report-{env}.html (got "${file}")`, 'report');
  }
  const { loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { htmlReport: page } = await import('../review/html-report.js');
  const { parseCatalog } = await import('../reports/coverage.js');
  const { ConfigError } = await import('../stacks/load.js');
  const { writeFileSync } = await import('node:fs');
  let catalog: ReturnType<typeof parseCatalog> = [];
  try {
    catalog = parseCatalog(readFileSync(resolve(root, '..', 'shared', 'runbooks', 'CONCERNS.md'), 'utf8'));
  } catch {
    /* the catalog is optional: the page then lists objects and their concern IDs only */
  }
  const failed: string[] = [];
  for (const env of envs) {
    const target = file.split('{env}').join(env);
    try {
      const stack = loadStacks(root, [env]).get(env)!;
      const p = progress();
      p.step(`rendering ${env} and laying out its connectivity graph`);
      let text: string;
      try {
        text = page(env, render(stack).objects, catalog);
      } finally {
        p.done();
      }
      try {
        writeFileSync(resolve(target), text);
      } catch (e) {
        throw new OutputError(`cannot write ${target}: ${(e as Error).message}`);
      }
      process.stdout.write(`${env}: report written to ${target}\n`);
    } catch (e) {
      if (envs.length === 1) throw e;
      const named = e instanceof ConfigError ? e.message : e instanceof UsageError || e instanceof OutputError || (e instanceof Error && e.name === 'ComponentError') ? `stackbook: ${e.message}` : undefined;
      if (named === undefined) throw e;
      process.stderr.write(`${named}\n`);
      failed.push(env);
    }
  }
  if (failed.length > 0) {
    process.stderr.write(`stackbook: report: written: ${envs.filter((e) => !failed.includes(e)).join(', ') || 'none'}; not written: ${failed.join(', ')}\n`);
    return 2;
  }
  return 0;
}

/** `diff --base <ref>`: the base revision synthesized with its own code vs the working tree. */
async function diff(root: string, args: Args): Promise<number> {
  const base = str(args, 'base');
  if (base === undefined || base === '') throw new UsageError('diff needs --base <git-ref>', 'diff');
  const format = str(args, 'format') ?? 'text';
  if (format !== 'text' && format !== 'markdown' && format !== 'json') throw new UsageError(`--format must be text, markdown or json (got "${format}")`, 'diff');
  const envFlag = args.values.env;
  const envs = [...new Set([...(Array.isArray(envFlag) ? envFlag : []), ...args.positional].filter(Boolean))];
  const { runDiff } = await import('../review/base.js');
  return runDiff(root, { base, format, exitCode: flag(args, 'exit-code'), ...(envs.length > 0 ? { envs } : {}) }, {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  });
}

async function dispatch(root: string, args: Args): Promise<number> {
  switch (args.command) {
    case 'synth':
      return synth(root, args);
    case 'check':
      return check(root, args);
    case 'coverage':
      return coverage(root, args);
    case 'diff':
      return diff(root, args);
    case 'report':
      return report(root, args);
    case 'bundle': {
      const { bundleCommand } = await import('../bundle/artifact-cmd.js');
      const key = str(args, 'key'), out = str(args, 'out'), from = str(args, 'from');
      return bundleCommand(root, await environments(root, args), { ...(out ? { out } : {}), ...(key ? { keyPath: key } : {}), ...(from ? { from } : {}), withImages: flag(args, 'with-images') }, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
    }
    case 'verify':
    case 'images': {
      const { verifyCommand, imagesPushCommand } = await import('../bundle/artifact-cmd.js');
      const pos = args.command === 'images' ? (args.positional[0] === 'push' ? args.positional.slice(1) : []) : args.positional;
      if (pos.length !== 1) throw new UsageError(args.command === 'images' ? 'images needs: push <artifact>' : 'verify needs one artifact', args.command);
      const key = str(args, 'key'), out = str(args, 'out'), registry = str(args, 'registry');
      const io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) };
      const keyPath = key ? resolve(key) : undefined;
      if (args.command === 'verify') return verifyCommand(resolve(pos[0]!), { ...(keyPath ? { keyPath } : {}), ...(out ? { out: resolve(out) } : {}) }, io);
      return imagesPushCommand(resolve(pos[0]!), { ...(keyPath ? { keyPath } : {}), ...(registry ? { registry } : {}) }, io);
    }
    default:
      throw new UsageError(`unknown command "${args.command}"`);
  }
}

export async function main(argv: readonly string[], root = process.cwd()): Promise<number> {
  try {
    const args = parseCommandLine(argv);
    if (args.command === 'version') {
      process.stdout.write(`stackbook ${version()}\n`);
      return 0;
    }
    if (args.command === 'help') {
      // `stackbook help <command>` is `stackbook <command> --help`
      const spec = args.positional[0] === undefined ? undefined : commandSpec(args.positional[0]);
      if (args.positional[0] !== undefined && !spec) throw new UsageError(`unknown command "${args.positional[0]}"`);
      process.stdout.write(spec ? commandHelp(spec) : topHelp(version()));
      return 0;
    }
    if (flag(args, 'help')) {
      process.stdout.write(commandHelp(commandSpec(args.command)!));
      return 0;
    }
    return await dispatch(root, args);
  } catch (e) {
    const { ConfigError } = await import('../stacks/load.js');
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    if (e instanceof OutputError) {
      process.stderr.write(`stackbook: ${e.message}\n`);
      return 2;
    }
    if (e instanceof UsageError) {
      // one line naming the problem, then the command's usage (not every command's)
      process.stderr.write(`stackbook: ${e.message}\n${usageHint(e.command)}`);
      return 2;
    }
    if (e instanceof Error && (e.name === 'ComponentError' || e.name === 'BundleError')) {
      process.stderr.write(`stackbook: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Error && e.name === 'ArtifactError') {
      process.stderr.write(`stackbook: ${e.message}\n`);
      return 1;
    }
    if (e instanceof Error && e.name === 'DiffError') {
      process.stderr.write(`stackbook diff: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/**
 * `stackbook` — synthesize, check and trace stacks without a cluster.
 *
 *   stackbook synth <env...> | --all [--out dist]
 *   stackbook check <env...> | --all [--strict]
 *   stackbook coverage [--json] [--catalog <CONCERNS.md>]
 *   stackbook diff --base <git-ref> [--env <env>]... [--format text|markdown|json] [--exit-code]
 *   stackbook report failure-budget [--write-readme]
 *   stackbook report <env> --html <file>
 *
 * Exit codes: 0 ok; 1 policy violations or untraced concerns (diff: changes, with --exit-code);
 * 2 configuration or usage errors (diff: also a bad ref or a base that cannot be synthesized).
 */
import { resolve } from 'node:path';

const USAGE = `usage:
  stackbook synth <env...> | --all [--out <dir>]   write dist/<env>/ bundles (atomic)
  stackbook check <env...> | --all [--strict]      run the policies on the rendered objects; warn about
                                                   EXAMPLE values left in a stack file (--strict: fail)
  stackbook coverage [--json] [--catalog <file>]   trace every runbook concern to objects and tests
  stackbook diff --base <git-ref> [--env <env>]... [--format text|markdown|json] [--exit-code]
                                                   semantic diff of the rendered objects: git ref -> working tree
  stackbook report failure-budget [--write-readme] replicas, PDB, spread, grace of every workload of every stack
                                                   (--write-readme: into README.md between the failure-budget markers)
  stackbook report <env> --html <file>             one self-contained HTML page: connectivity graph, concerns
                                                   -> objects, policy exceptions, failure budget
  stackbook bundle <env...> | --all [--out <dir>] [--key <cosign.key>] [--with-images [--from <host>]]
                                                   one signed artifact per stack: <dir>/stackbook-<env>.tar (docs/airgap.md)
  stackbook verify <artifact> --key <cosign.pub> [--out <dir>]
                                                   signature and every checksum before unpacking (--out: then unpack)
  stackbook images push <artifact> --key <cosign.pub> [--registry <host[:port]>]
                                                   carried images (and signatures) into the mirror by digest
environments are the stacks/Pulumi.<env>.yaml files`;

class UsageError extends Error {}

/** The output could not be written (permissions, full disk, a file in the way): exit 2, no stack trace. */
class OutputError extends Error {}

interface Args {
  readonly command: string;
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['--out', '--catalog', '--base', '--format', '--env', '--html', '--key', '--registry', '--from']);
const BOOL_FLAGS = new Set(['--all', '--json', '--help', '--exit-code', '--write-readme', '--strict', '--with-images']);

function parseArgs(argv: readonly string[]): Args {
  const [command = '--help', ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (VALUE_FLAGS.has(a)) {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a, a === '--env' && typeof flags.get(a) === 'string' ? `${flags.get(a)},${v}` : v); // --env repeats
    } else if (BOOL_FLAGS.has(a)) flags.set(a, true);
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  return { command, positional, flags };
}

async function environments(root: string, args: Args): Promise<string[]> {
  const { knownEnvironments } = await import('../synth/stacks.js');
  if (args.flags.has('--all')) {
    if (args.positional.length > 0) throw new UsageError('give environments or --all, not both');
    const all = knownEnvironments(root);
    if (all.length === 0) throw new UsageError(`no stacks/Pulumi.<env>.yaml files under ${root}`);
    return all;
  }
  if (args.positional.length === 0) throw new UsageError(`name an environment or --all`);
  return [...new Set(args.positional)];
}

function countKinds(objects: readonly { kind: string }[]): string {
  const counts = new Map<string, number>();
  for (const o of objects) counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ');
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
  let failed = false;
  for (const [env, stack] of stacks) {
    // The one pipeline (render -> policies -> air-gap check) the Pulumi program also runs.
    const checked = checkStack(stack);
    for (const line of violationLines(checked, { withExcepted: !quietExceptions })) out(line);
    if (checked.blockers.length > 0) failed = true;
    results.push(checked);
  }
  return { results, failed };
}

async function synth(root: string, args: Args): Promise<number> {
  const envs = await environments(root, args);
  const outRoot = resolve(root, (args.flags.get('--out') as string | undefined) ?? 'dist');
  const { results, failed } = await renderChecked(root, envs, (s) => process.stderr.write(`${s}\n`), true);
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
  const { requiredSecrets } = await import('../bundle/prerequisites.js');
  const keyPath = process.env[SIGNING_KEY_ENV];
  const signingKey = keyPath ? loadSigningKey(resolve(root, keyPath)) : undefined;
  // Every bundle is computed before the first is written: a failure writes nothing.
  const planned = results.map((r) => ({ ...r, files: bundleFiles(r.rendered, signingKey ? { signingKey } : {}) }));
  const written: string[] = [];
  for (const { env, rendered, violations, files } of planned) {
    try {
      writeBundle(resolve(outRoot, env), files);
    } catch (e) {
      // Each bundle is swapped in whole or not at all: say which ones are new and which are as before.
      if (!(e instanceof Error) || !('code' in e || e.name === 'BundleError')) throw e;
      const rest = planned.map((p) => p.env).filter((x) => !written.includes(x));
      throw new OutputError(
        `cannot write ${resolve(outRoot, env)}: ${e.message.split('\n')[0]}\n` +
          `stackbook: written: ${written.join(', ') || 'none'}; not written: ${rest.join(', ')} (previous bundles left as they were)`,
      );
    }
    written.push(env);
    const excepted = violations.filter((v) => v.exceptedBecause !== undefined).length;
    const warnings = violations.length - excepted;
    process.stdout.write(
      `${env}: ${rendered.objects.length} objects (${countKinds(rendered.objects)}), ${requiredSecrets(rendered).length} secrets required (secrets.json), ${warnings} warning${warnings === 1 ? '' : 's'}, ${excepted} policy exception${excepted === 1 ? '' : 's'} (stackbook check lists them) -> ${resolve(outRoot, env)}\n`,
    );
  }
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
  if (examples > 0 && args.flags.has('--strict')) {
    process.stderr.write(`check --strict: ${examples} stack${examples === 1 ? '' : 's'} still carr${examples === 1 ? 'ies' : 'y'} EXAMPLE values\n`);
    return 1;
  }
  return failed ? 1 : 0;
}

async function coverage(root: string, args: Args): Promise<number> {
  const { coverageReport, formatCoverage } = await import('../reports/coverage.js');
  const catalog = resolve(root, (args.flags.get('--catalog') as string | undefined) ?? '../shared/runbooks/CONCERNS.md');
  const report = await coverageReport(root, catalog);
  process.stdout.write(args.flags.has('--json') ? `${JSON.stringify(report, null, 2)}\n` : formatCoverage(report));
  return report.ok ? 0 : 1;
}

/** `report failure-budget [--write-readme]`: the failure-budget table of every stack (reports/failure-budget.ts). */
async function report(root: string, args: Args): Promise<number> {
  const html = args.flags.get('--html');
  if (typeof html === 'string') return htmlReport(root, args, html);
  if (args.positional.length !== 1 || args.positional[0] !== 'failure-budget') throw new UsageError('report needs one report name: failure-budget, or an environment and --html <file>');
  const { knownEnvironments, loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { failureBudgetTable, withFailureBudget } = await import('../reports/failure-budget.js');
  const stacks = loadStacks(root, knownEnvironments(root));
  const table = failureBudgetTable([...stacks].map(([env, stack]) => [env, render(stack)] as const));
  if (!args.flags.has('--write-readme')) {
    process.stdout.write(table);
    return 0;
  }
  const { readFileSync, writeFileSync } = await import('node:fs');
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

/** `report <env> --html <file>`: the reviewer's page of one stack (review/html-report.ts). */
async function htmlReport(root: string, args: Args, file: string): Promise<number> {
  if (args.positional.length !== 1) throw new UsageError('report --html needs exactly one environment');
  const { loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { htmlReport: page } = await import('../review/html-report.js');
  const { parseCatalog } = await import('../reports/coverage.js');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const env = args.positional[0]!;
  const stack = loadStacks(root, [env]).get(env)!;
  let catalog: ReturnType<typeof parseCatalog> = [];
  try {
    catalog = parseCatalog(readFileSync(resolve(root, '..', 'shared', 'runbooks', 'CONCERNS.md'), 'utf8'));
  } catch {
    /* the catalog is optional: the page then lists objects and their concern IDs only */
  }
  try {
    writeFileSync(resolve(file), page(env, render(stack).objects, catalog));
  } catch (e) {
    throw new OutputError(`cannot write ${file}: ${(e as Error).message}`);
  }
  process.stdout.write(`${env}: report written to ${file}\n`);
  return 0;
}

/** `diff --base <ref>`: the base revision synthesized with its own code vs the working tree. */
async function diff(root: string, args: Args): Promise<number> {
  const base = args.flags.get('--base');
  if (typeof base !== 'string' || base === '') throw new UsageError('diff needs --base <git-ref>');
  const format = (args.flags.get('--format') as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'markdown' && format !== 'json') throw new UsageError(`--format must be text, markdown or json (got "${format}")`);
  const envFlag = args.flags.get('--env');
  const envs = [...new Set([...(typeof envFlag === 'string' ? envFlag.split(',') : []), ...args.positional].filter(Boolean))];
  const { runDiff } = await import('../review/base.js');
  return runDiff(root, { base, format, exitCode: args.flags.has('--exit-code'), ...(envs.length > 0 ? { envs } : {}) }, {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  });
}

export async function main(argv: readonly string[], root = process.cwd()): Promise<number> {
  try {
    const args = parseArgs(argv);
    if (args.command === '--help' || args.command === 'help' || args.flags.has('--help')) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    switch (args.command) {
      case 'synth':
        return await synth(root, args);
      case 'check':
        return await check(root, args);
      case 'coverage':
        return await coverage(root, args);
      case 'diff':
        return await diff(root, args);
      case 'report':
        return await report(root, args);
      case 'bundle': {
        const { bundleCommand } = await import('../bundle/artifact-cmd.js');
        const key = args.flags.get('--key'), out = args.flags.get('--out'), from = args.flags.get('--from');
        return await bundleCommand(root, await environments(root, args), { ...(typeof out === 'string' ? { out } : {}), ...(typeof key === 'string' ? { keyPath: key } : {}), ...(typeof from === 'string' ? { from } : {}), withImages: args.flags.has('--with-images') }, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
      }
      case 'verify':
      case 'images': {
        const { verifyCommand, imagesPushCommand } = await import('../bundle/artifact-cmd.js');
        const pos = args.command === 'images' ? (args.positional[0] === 'push' ? args.positional.slice(1) : []) : args.positional;
        if (pos.length !== 1) throw new UsageError(args.command === 'images' ? 'usage: images push <artifact> --key <cosign.pub> [--registry <host>]' : 'verify needs one artifact');
        const key = args.flags.get('--key'), out = args.flags.get('--out'), registry = args.flags.get('--registry');
        const io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) };
        const keyPath = typeof key === 'string' ? resolve(key) : undefined;
        if (args.command === 'verify') return verifyCommand(resolve(pos[0]!), { ...(keyPath ? { keyPath } : {}), ...(typeof out === 'string' ? { out: resolve(out) } : {}) }, io);
        return imagesPushCommand(resolve(pos[0]!), { ...(keyPath ? { keyPath } : {}), ...(typeof registry === 'string' ? { registry } : {}) }, io);
      }
      default:
        throw new UsageError(`unknown command "${args.command}"`);
    }
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
      process.stderr.write(`stackbook: ${e.message}\n${USAGE}\n`);
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

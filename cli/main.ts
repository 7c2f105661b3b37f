/**
 * `stackbook` — synthesize, check and trace stacks without a cluster.
 *
 *   stackbook synth <env...> | --all [--out dist]
 *   stackbook check <env...> | --all
 *   stackbook coverage [--json] [--catalog <CONCERNS.md>]
 *
 * Exit codes: 0 ok; 1 policy violations or untraced concerns; 2 configuration or usage errors.
 */
import { resolve } from 'node:path';

const USAGE = `usage:
  stackbook synth <env...> | --all [--out <dir>]   write dist/<env>/ bundles (atomic)
  stackbook check <env...> | --all                 run the policies on the rendered objects
  stackbook coverage [--json] [--catalog <file>]   trace every runbook concern to objects and tests
environments are the stacks/Pulumi.<env>.yaml files`;

class UsageError extends Error {}

interface Args {
  readonly command: string;
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['--out', '--catalog']);
const BOOL_FLAGS = new Set(['--all', '--json', '--help']);

function parseArgs(argv: readonly string[]): Args {
  const [command = '--help', ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (VALUE_FLAGS.has(a)) {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a, v);
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

async function renderChecked(root: string, envs: readonly string[], out: (s: string) => void) {
  const { loadStacks } = await import('../synth/stacks.js');
  const { render } = await import('../synth/render.js');
  const { evaluate, blocking, formatViolation } = await import('../policies/rules.js');
  const stacks = loadStacks(root, envs); // every stack's config problems at once, before rendering
  const results = [];
  let failed = false;
  for (const [env, stack] of stacks) {
    const rendered = render(stack);
    const violations = evaluate(rendered.objects);
    const blockers = blocking(violations);
    for (const v of violations) out(`${env}: ${formatViolation(v)}`);
    if (blockers.length > 0) failed = true;
    results.push({ env, rendered, violations, blockers });
  }
  return { results, failed };
}

async function synth(root: string, args: Args): Promise<number> {
  const envs = await environments(root, args);
  const outRoot = resolve(root, (args.flags.get('--out') as string | undefined) ?? 'dist');
  const { results, failed } = await renderChecked(root, envs, (s) => process.stderr.write(`${s}\n`));
  if (failed) {
    process.stderr.write('synth: mandatory policy violations: nothing written\n');
    return 1;
  }
  const { bundleFiles, writeBundle } = await import('../synth/bundle.js');
  for (const { env, rendered, violations } of results) {
    const files = bundleFiles(rendered);
    writeBundle(resolve(outRoot, env), files);
    const warnings = violations.length;
    process.stdout.write(
      `${env}: ${rendered.objects.length} objects (${countKinds(rendered.objects)}), ${rendered.secrets.length} secret references, ${warnings} warning${warnings === 1 ? '' : 's'} -> ${resolve(outRoot, env)}\n`,
    );
  }
  return 0;
}

async function check(root: string, args: Args): Promise<number> {
  const envs = await environments(root, args);
  const { results, failed } = await renderChecked(root, envs, (s) => process.stdout.write(`${s}\n`));
  for (const { env, rendered, violations, blockers } of results) {
    process.stdout.write(`${env}: ${rendered.objects.length} objects, ${blockers.length} blocking, ${violations.length - blockers.length} excepted/advisory\n`);
  }
  return failed ? 1 : 0;
}

async function coverage(root: string, args: Args): Promise<number> {
  const { coverageReport, formatCoverage } = await import('../synth/coverage.js');
  const catalog = resolve(root, (args.flags.get('--catalog') as string | undefined) ?? '../shared/runbooks/CONCERNS.md');
  const report = await coverageReport(root, catalog);
  process.stdout.write(args.flags.has('--json') ? `${JSON.stringify(report, null, 2)}\n` : formatCoverage(report));
  return report.ok ? 0 : 1;
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
      default:
        throw new UsageError(`unknown command "${args.command}"`);
    }
  } catch (e) {
    const { ConfigError } = await import('../stacks/load.js');
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`stackbook: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof Error && e.name === 'ComponentError') {
      process.stderr.write(`stackbook: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/**
 * The commands of `stackbook`, their options and their help, in one table (issue 17, item 6).
 * Arguments are parsed by Node's own `util.parseArgs` (strict: an unknown option is a usage error),
 * so `--out dir` and `--out=dir` both work, as do `-h`/`--help` on every command.
 *
 * Exit codes, the same for every command (docs/cli.md):
 *   0  ok
 *   1  findings: mandatory policy violations (nothing written), untraced concerns, a refused
 *      artifact, changes with `diff --exit-code`, EXAMPLE values with `check --strict`
 *   2  usage or configuration error: unknown command/option, missing value, a broken stack file,
 *      an unknown environment, output that cannot be written, a bad git ref, an air-gap refusal
 */
import { parseArgs as nodeParseArgs } from 'node:util';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** May be given more than once (values are collected; commas split them too). */
  readonly multiple?: boolean;
  /** The value's placeholder in the help, e.g. `<dir>`. */
  readonly value?: string;
  /** The default, as the help shows it. */
  readonly default?: string;
  readonly help: string;
}

export interface CommandSpec {
  readonly name: string;
  /** One-line synopses (without `stackbook `). */
  readonly usage: readonly string[];
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /** What 1 and 2 mean for this command (0 is always success). */
  readonly exitCodes: readonly (readonly [number, string])[];
}

const HELP: OptionSpec = { type: 'boolean', help: 'this help' };
const ALL: OptionSpec = { type: 'boolean', help: 'every stacks/Pulumi.<env>.yaml (instead of naming environments)' };
const USAGE_EXIT = [2, 'usage or configuration error (a broken stack file, an unknown environment)'] as const;

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'synth',
    usage: ['synth <env...> | --all [--out <dir>]'],
    summary: 'validate, render and judge every named stack, then write its dist/<env>/ bundle (atomic); one table row per stack',
    options: { all: ALL, out: { type: 'string', value: '<dir>', default: 'dist', help: 'where the <env>/ bundles go' }, help: HELP },
    examples: ['stackbook synth --all', 'stackbook synth prod --out=/tmp/bundles'],
    exitCodes: [
      [1, 'a mandatory policy violation (nothing written)'],
      [2, 'usage or configuration error, an air-gap refusal or an unwritable --out (nothing written)'],
    ],
  },
  {
    name: 'check',
    usage: ['check <env...> | --all [--strict]'],
    summary: 'run the policies on the rendered objects, print every violation (excepted ones too); warn about EXAMPLE values left in a stack file',
    options: { all: ALL, strict: { type: 'boolean', help: 'fail when a stack file still carries EXAMPLE values' }, help: HELP },
    examples: ['stackbook check --all', 'stackbook check prod --strict'],
    exitCodes: [[1, 'a mandatory policy violation, or EXAMPLE values with --strict'], USAGE_EXIT],
  },
  {
    name: 'coverage',
    usage: ['coverage [--json] [--catalog <file>]'],
    summary: 'trace every runbook concern to the objects and tests that implement it',
    options: {
      json: { type: 'boolean', help: 'the report as JSON' },
      catalog: { type: 'string', value: '<file>', default: '../shared/runbooks/CONCERNS.md', help: 'the concern catalog' },
      help: HELP,
    },
    examples: ['stackbook coverage', 'stackbook coverage --json > coverage.json'],
    exitCodes: [[1, 'a concern is untraced or untested, or a runbook has no module'], [2, 'usage error']],
  },
  {
    name: 'diff',
    usage: ['diff --base <git-ref> [--env <env>]... [--format text|markdown|json] [--exit-code]'],
    summary: 'semantic diff of the rendered objects, git ref -> working tree, with risk flags and connectivity changes',
    options: {
      base: { type: 'string', value: '<git-ref>', help: 'the revision to compare with (required); rendered with its own code, cached by tree hash' },
      env: { type: 'string', multiple: true, value: '<env>', default: 'every environment', help: 'only this environment (repeatable; positional names work too)' },
      format: { type: 'string', value: 'text|markdown|json', default: 'text', help: 'output format (markdown: the PR comment)' },
      'exit-code': { type: 'boolean', help: 'exit 1 when something changed (like git diff --exit-code)' },
      help: HELP,
    },
    examples: ['stackbook diff --base HEAD', 'stackbook diff --base=origin/main --env prod --format markdown'],
    exitCodes: [[1, 'something changed (with --exit-code only)'], [2, 'usage or configuration error, a bad ref, or a base that cannot be synthesized']],
  },
  {
    name: 'report',
    usage: ['report failure-budget [--write-readme]', 'report <env...> | --all --html <file>'],
    summary: 'failure-budget: replicas, PDB, spread, grace of every workload; <env> --html: a self-contained page per stack (connectivity, concerns, exceptions)',
    options: {
      'write-readme': { type: 'boolean', help: 'failure-budget: write the table into README.md between its markers' },
      all: ALL,
      html: { type: 'string', value: '<file>', help: 'write the HTML page of each <env> there; with several stacks the name holds {env}' },
      help: HELP,
    },
    examples: ['stackbook report failure-budget', 'stackbook report prod --html=report-prod.html', "stackbook report --all --html 'reports/report-{env}.html'"],
    exitCodes: [[2, 'usage or configuration error (an unknown environment or report), or a page cannot be written (the other stacks\' pages are still written)']],
  },
  {
    name: 'bundle',
    usage: ['bundle <env...> | --all [--out <dir>] [--key <cosign.key>] [--with-images [--from <host>]]'],
    summary: 'one signed artifact per stack: <dir>/stackbook-<env>.tar (docs/airgap.md)',
    options: {
      all: ALL,
      out: { type: 'string', value: '<dir>', default: 'dist', help: 'where the artifacts go' },
      key: { type: 'string', value: '<cosign.key>', help: 'sign with this cosign key' },
      'with-images': { type: 'boolean', help: 'carry every (digest-pinned) image in the artifact (needs skopeo)' },
      from: { type: 'string', value: '<host[/path]>', help: 'with --with-images: pull each image from this registry under its original name' },
      help: HELP,
    },
    examples: ['stackbook bundle airgap --key release.key --with-images'],
    exitCodes: [[1, 'a mandatory policy violation or an image that cannot be carried'], [2, 'usage or configuration error, an air-gap refusal']],
  },
  {
    name: 'verify',
    usage: ['verify <artifact> --key <cosign.pub> [--out <dir>]'],
    summary: 'check the signature and every checksum of an artifact before unpacking it',
    options: {
      key: { type: 'string', value: '<cosign.pub>', help: 'the public key (required)' },
      out: { type: 'string', value: '<dir>', help: 'unpack into this directory once verified' },
      help: HELP,
    },
    examples: ['stackbook verify dist/stackbook-airgap.tar --key release.pub --out bundle'],
    exitCodes: [[1, 'the artifact is refused (signature, checksum, missing --key)'], [2, 'usage error']],
  },
  {
    name: 'images',
    usage: ['images push <artifact> --key <cosign.pub> [--registry <host[:port]>]'],
    summary: 'push the carried images (and signatures) of a verified artifact into the mirror by digest',
    options: {
      key: { type: 'string', value: '<cosign.pub>', help: 'the public key (required)' },
      registry: { type: 'string', value: '<host[:port]>', help: 'the mirror; must be the one the manifests reference' },
      help: HELP,
    },
    examples: ['stackbook images push stackbook-airgap.tar --key release.pub --registry mirror.example:5000'],
    exitCodes: [[1, 'the artifact is refused or a push failed (nothing pushed when a check fails)'], [2, 'usage error']],
  },
];

export class UsageError extends Error {
  /** The command whose usage to show (undefined: the command list). */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

export interface Args {
  readonly command: string;
  readonly positional: string[];
  /** Option values by name without dashes; repeatable options as arrays. */
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
}

export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** `util.parseArgs`'s own error, as one line naming the option. */
function usageMessage(e: Error & { code?: string }, argv: readonly string[]): string {
  const quoted = /'(-[^' ]*)/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = quoted ?? '';
    // `--out=x` for an unknown `--out` is named without its value
    return `unknown option ${given.split('=')[0]}`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = quoted ?? '';
    // a string option at the end (no value) or a boolean given a value
    if (/argument missing|ambiguous/.test(e.message)) return `${name} needs a value`;
    return `${name} takes no value`;
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${argv.join(' ')}`;
  return e.message.split('\n')[0]!;
}

/** Split `argv` into the command, its positionals and its options (strict: unknown ones throw). */
export function parseCommandLine(argv: readonly string[]): Args {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    return { command: 'help', positional: first === 'help' ? rest.filter((a) => !a.startsWith('-')) : [], values: {} };
  }
  if (first === '--version' || first === '-V') return { command: 'version', positional: [], values: {} };
  const spec = commandSpec(first);
  if (!spec) {
    if (first.startsWith('-')) throw new UsageError(`unknown option ${first.split('=')[0]}`);
    throw new UsageError(`unknown command "${first}"`);
  }
  const options = Object.fromEntries(
    Object.entries(spec.options).map(([k, o]) => [k, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(k === 'help' ? { short: 'h' } : {}) }]),
  );
  // --help wins over every other problem on the line (`synth --bogus --help` shows the help)
  if (rest.includes('--help') || rest.includes('-h')) return { command: spec.name, positional: [], values: { help: true } };
  let parsed;
  try {
    parsed = nodeParseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(usageMessage(e as Error & { code?: string }, rest), spec.name);
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  for (const [k, o] of Object.entries(spec.options)) {
    if (o.multiple && Array.isArray(values[k])) values[k] = (values[k] as string[]).flatMap((v) => v.split(',')).filter(Boolean);
  }
  return { command: spec.name, positional: [...parsed.positionals], values };
}

const pad = (s: string, n: number) => (s.length >= n ? `${s}  ` : s.padEnd(n));

/** `stackbook --help`: the commands, one or two lines each. */
export function topHelp(version: string): string {
  const lines = [`stackbook ${version}: operations runbooks as typed, deployable Kubernetes resources`, '', 'usage:'];
  for (const c of COMMANDS) for (const u of c.usage) lines.push(`  stackbook ${u}`);
  lines.push('', 'commands:');
  for (const c of COMMANDS) lines.push(`  ${pad(c.name, 10)}${c.summary}`);
  lines.push(
    '',
    'environments are the stacks/Pulumi.<env>.yaml files',
    'stackbook <command> --help: that command\'s options, defaults, examples and exit codes',
    'stackbook --version: the version',
    'exit codes: 0 ok, 1 findings (policy violations, untraced concerns, a refused artifact, diff --exit-code changes), 2 usage or configuration error',
  );
  return `${lines.join('\n')}\n`;
}

/** `stackbook <command> --help`. */
export function commandHelp(spec: CommandSpec): string {
  const lines = ['usage:', ...spec.usage.map((u) => `  stackbook ${u}`), '', spec.summary, '', 'options:'];
  const flag = (k: string, o: OptionSpec) => `--${k}${k === 'help' ? ', -h' : ''}${o.value ? ` ${o.value}` : ''}`;
  const width = Math.max(...Object.entries(spec.options).map(([k, o]) => flag(k, o).length)) + 2;
  for (const [k, o] of Object.entries(spec.options)) {
    lines.push(`  ${pad(flag(k, o), width)}${o.help}${o.default ? ` (default: ${o.default})` : ''}`);
  }
  lines.push(`  (--name value and --name=value both work)`, '', 'examples:', ...spec.examples.map((e) => `  ${e}`), '', 'exit codes:', '  0  ok');
  for (const [code, what] of spec.exitCodes) lines.push(`  ${code}  ${what}`);
  return `${lines.join('\n')}\n`;
}

/** After a usage error: the command's usage lines and where the rest is. */
export function usageHint(command: string | undefined): string {
  const spec = command === undefined ? undefined : commandSpec(command);
  if (!spec) return `usage:\n  stackbook <command> [options]   (commands: ${COMMANDS.map((c) => c.name).join(', ')})\nstackbook --help lists them\n`;
  return `usage:\n${spec.usage.map((u) => `  stackbook ${u}`).join('\n')}\nstackbook ${spec.name} --help: options, defaults, examples, exit codes\n`;
}

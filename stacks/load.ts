/**
 * One loader for both front doors:
 *  - the CLI reads `stacks/Pulumi.<env>.yaml` itself (`loadStackFile`),
 *  - the Pulumi program hands over `pulumi.Config` values (`parseStack` on the same raw object).
 * Every problem is collected and reported at once, each naming the file, the config path and
 * the value received: `stacks/Pulumi.prod.yaml: config.stackbook:services.ope.oidc.issuer: required in production`.
 */
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import type { z } from 'zod';
import { cluster as clusterSchema, secretSources as secretSourcesSchema, services as servicesSchema, stackSchema, tier as tierSchema, type Stack } from './schema.js';
import { partRules, stackRules, type StackParts } from './config-rules.js';

/** The Pulumi config namespace that holds stackbook's settings (`stackbook:<key>`). */
export const CONFIG_NAMESPACE = 'stackbook';

export type PathSegment = string | number;

export interface ConfigProblem {
  readonly file: string;
  /** Path below `config.stackbook:`, e.g. ['services', 'ope', 'oidc', 'issuer']. Empty: the file itself. */
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** Whether the offending value is known and may be shown (never for secrets). */
  readonly value?: { readonly shown: unknown };
}

/** A user error in a stack file: reported without a stack trace, exit code 2. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return '';
  const [head, ...rest] = path;
  let out = `config.${CONFIG_NAMESPACE}:${String(head)}`;
  for (const seg of rest) out += typeof seg === 'number' ? `[${seg}]` : `.${seg}`;
  return out;
}

function showValue(v: unknown): string {
  const s = JSON.stringify(v);
  // A private key pasted where a public one (or any value) belongs is never echoed, not even in part.
  if (s !== undefined && /PRIVATE KEY/.test(s)) return '<a private key, not shown>';
  if (s === undefined) return String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function formatProblem(p: ConfigProblem): string {
  const where = formatPath(p.path);
  const got = p.value !== undefined ? ` (got ${showValue(p.value.shown)})` : '';
  return where ? `${p.file}: ${where}: ${p.message}${got}` : `${p.file}: ${p.message}`;
}

function valueAt(root: unknown, path: readonly PathSegment[]): { found: boolean; value: unknown } {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) {
      return { found: false, value: undefined };
    }
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return { found: true, value: cur };
}

/** Turn a problem's raw value into something safe to print. */
function describe(raw: unknown, path: readonly PathSegment[], secretTopKeys: ReadonlySet<string>): ConfigProblem['value'] {
  const top = path[0];
  if (typeof top === 'string' && (secretTopKeys.has(top) || top === 'secrets')) return undefined;
  const { found, value } = valueAt(raw, path);
  if (!found) return undefined;
  // A `{ secure: ... }` value anywhere inside (e.g. under a mistyped key) is never shown.
  if (containsSecure(value)) return undefined;
  return { shown: value };
}

function containsSecure(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (!Array.isArray(v) && 'secure' in v) return true;
  return Object.values(v).some(containsSecure);
}

/** zod's own wording for a bound ("Too big: expected ..."), as opposed to a message the schema gives. */
const ZOD_DEFAULT_BOUND = /^Too (big|small)\b/;

/**
 * @param present whether the raw input has a value at the issue's path (zod does not report
 *                its input back, so "required" vs "wrong type" is decided from the raw object)
 */
function zodMessage(issue: z.core.$ZodIssue, present: boolean): string {
  switch (issue.code) {
    case 'invalid_type':
      return present ? `must be ${issue.expected}` : 'required';
    case 'too_small':
      if (!ZOD_DEFAULT_BOUND.test(issue.message)) return issue.message;
      return `must be ≥ ${String(issue.minimum)}${issue.origin === 'array' ? ' items' : issue.origin === 'string' ? ' characters' : ''}`;
    case 'too_big':
      if (!ZOD_DEFAULT_BOUND.test(issue.message)) return issue.message;
      return `must be ≤ ${String(issue.maximum)}${issue.origin === 'array' ? ' items' : issue.origin === 'string' ? ' characters' : ''}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      if ('note' in issue && issue.note === 'No matching discriminator') {
        const options = 'options' in issue && Array.isArray(issue.options) ? issue.options : [];
        return options.length > 0 ? `must be one of ${options.map((v) => JSON.stringify(v)).join(', ')}` : 'unknown kind';
      }
      return 'does not match any allowed form';
    case 'invalid_key':
      // A record key that fails its own schema: the key schema's message says what is expected.
      return issue.issues[0]?.message ?? issue.message;
    default:
      return issue.message;
  }
}

type SafeParser<T> = { safeParse(v: unknown): { success: true; data: T } | { success: false; error: z.ZodError } };

/**
 * Parse one part of a rejected stack, leaving out the keys the schema rejected (their defaults
 * apply, where they have one), so the cross-field rules can judge the rest of it.
 */
function partOf<T>(schema: SafeParser<T>, v: unknown, at: readonly PathSegment[], dropped: PathSegment[][]): T | undefined {
  if (v === undefined) return undefined;
  let cur: unknown = v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...(v as object) } : v;
  for (;;) {
    const r = schema.safeParse(cur);
    if (r.success) return r.data;
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    const obj = cur as Record<string, unknown>;
    let changed = false;
    for (const issue of r.error.issues) {
      const keys = issue.path.length === 0 && issue.code === 'unrecognized_keys' ? issue.keys : [issue.path[0]];
      for (const key of keys) {
        if (typeof key !== 'string' || !(key in obj)) continue;
        delete obj[key];
        dropped.push([...at, key]);
        changed = true;
      }
    }
    if (!changed) return undefined;
  }
}

/** The parts of a rejected stack that are valid, and the paths left out to get them. */
function validParts(raw: Record<string, unknown>): { parts: StackParts; dropped: PathSegment[][] } {
  const dropped: PathSegment[][] = [];
  const services = raw.services !== null && typeof raw.services === 'object' ? (raw.services as Record<string, unknown>) : {};
  const tier = partOf(tierSchema, raw.tier, ['tier'], dropped);
  const cluster = partOf(clusterSchema, raw.cluster, ['cluster'], dropped);
  const secretSources = partOf(secretSourcesSchema, raw.secretSources, ['secretSources'], dropped);
  // Every service the schema knows, so a new service's rules need no change here.
  const parsed: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(servicesSchema.shape)) {
    const part = partOf(schema as SafeParser<unknown>, services[key], ['services', key], dropped);
    if (part !== undefined) parsed[key] = part;
  }
  return {
    parts: {
      ...(tier !== undefined ? { tier } : {}),
      ...(cluster !== undefined ? { cluster } : {}),
      ...(secretSources !== undefined ? { secretSources } : {}),
      services: parsed as StackParts['services'],
    },
    dropped,
  };
}

function overlaps(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Validate a raw stack object (keys without the `stackbook:` prefix).
 * @param raw       the values, as read from YAML or from Pulumi config
 * @param file      the stack file to name in messages, e.g. `stacks/Pulumi.prod.yaml`
 * @param secretTopKeys top-level keys whose values are Pulumi secrets: never echoed back
 * @throws ConfigError with every problem found
 */
export function parseStack(raw: Record<string, unknown>, file: string, secretTopKeys: ReadonlySet<string> = new Set()): Stack {
  const result = stackSchema.safeParse(raw);
  const problems: ConfigProblem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const path = [...issue.path, key] as PathSegment[];
          problems.push({ file, path, message: 'unknown key (a typo?)', value: describe(raw, path, secretTopKeys) });
        }
        continue;
      }
      const path = issue.path as PathSegment[];
      // Discriminated unions report on the discriminator itself (zod 4 already ends the path with it).
      const dpath = issue.code === 'invalid_union' && 'discriminator' in issue && typeof issue.discriminator === 'string' &&
        path[path.length - 1] !== issue.discriminator
        ? [...path, issue.discriminator]
        : path;
      problems.push({ file, path: dpath, message: zodMessage(issue, valueAt(raw, dpath).found), value: describe(raw, dpath, secretTopKeys) });
    }
    // The cross-field rules still judge the parts that parsed, so one run reports everything
    // (but never a field the schema already rejected, nor one it had to leave out).
    const { parts, dropped } = validParts(raw);
    for (const r of partRules(parts)) {
      if (dropped.some((d) => overlaps(d, r.path))) continue;
      problems.push({ file, path: r.path, message: r.message, value: describe(raw, r.path, secretTopKeys) });
    }
  } else {
    for (const r of stackRules(result.data)) {
      problems.push({ file, path: r.path, message: r.message, value: describe(raw, r.path, secretTopKeys) });
    }
  }
  if (problems.length > 0) {
    problems.sort((a, b) => formatPath(a.path).localeCompare(formatPath(b.path)));
    throw new ConfigError(problems);
  }
  return result.data as Stack;
}

/** Values (maps, lists, scalars) a stack file may hold: far above any real stack, far below an alias bomb. */
const MAX_STACK_VALUES = 100_000;

/** Whether a loaded document holds more than `limit` values, counting each alias use (stops early). */
function exceedsValues(doc: unknown, limit: number): boolean {
  const todo: unknown[] = [doc];
  let seen = 0;
  while (todo.length > 0) {
    const v = todo.pop();
    if (++seen > limit) return true;
    if (v !== null && typeof v === 'object') todo.push(...Object.values(v));
  }
  return false;
}

/** Pulumi stack-file keys beside `config:` that are not ours to judge. */
const STACK_FILE_KEYS = new Set(['config', 'secretsprovider', 'encryptedkey', 'encryptionsalt', 'environment']);

/**
 * Read `stacks/Pulumi.<env>.yaml` the way `pulumi.Config` would see it.
 * Keys of other namespaces (`kubernetes:context`, ...) belong to providers and are left alone.
 */
export function rawFromStackFile(text: string, file: string): { raw: Record<string, unknown>; secretTopKeys: Set<string> } {
  // Only blanks and comments: js-yaml would call that "not valid YAML"; say what is missing instead.
  if (text.split(/\r?\n/).every((line) => /^\s*(#.*)?$/.test(line))) {
    throw new ConfigError([{ file, path: [], message: 'empty stack file: expected a `config:` map with stackbook:* keys' }]);
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new ConfigError([{ file, path: [], message: `not valid YAML: ${reason}` }]);
  }
  if (doc === undefined || doc === null) {
    throw new ConfigError([{ file, path: [], message: 'empty stack file: expected a `config:` map with stackbook:* keys' }]);
  }
  // YAML aliases can make a small file expand exponentially (a "billion laughs"): every later step
  // walks the values, so refuse before any of them does.
  if (exceedsValues(doc, MAX_STACK_VALUES)) {
    throw new ConfigError([{ file, path: [], message: `too large: more than ${MAX_STACK_VALUES} values once YAML aliases are expanded` }]);
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError([{ file, path: [], message: 'expected a YAML map with a `config:` key' }]);
  }
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(doc)) {
    if (!STACK_FILE_KEYS.has(key)) problems.push({ file, path: [], message: `unknown top-level key "${key}" (expected config:)` });
  }
  const config = (doc as Record<string, unknown>).config;
  if (config === undefined || config === null || typeof config !== 'object' || Array.isArray(config)) {
    problems.push({ file, path: [], message: 'missing `config:` map' });
    throw new ConfigError(problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const raw: Record<string, unknown> = {};
  const secretTopKeys = new Set<string>();
  for (const [key, value] of Object.entries(config)) {
    const colon = key.indexOf(':');
    const ns = colon < 0 ? '' : key.slice(0, colon);
    if (ns !== CONFIG_NAMESPACE) continue;
    const name = key.slice(colon + 1);
    // The Pulumi engine hands every top-level scalar over as a string; so does this path, so the
    // CLI and the program can never read the same file differently.
    raw[name] = value !== null && typeof value !== 'object' ? String(value) : value;
    if (value !== null && typeof value === 'object' && 'secure' in value) secretTopKeys.add(name);
  }
  return { raw, secretTopKeys };
}

export function loadStackFile(path: string, displayName = path): Stack {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError([{ file: displayName, path: [], message: code === 'ENOENT' ? 'no such stack file' : `cannot read: ${code ?? String(e)}` }]);
  }
  const { raw, secretTopKeys } = rawFromStackFile(text, displayName);
  return parseStack(raw, displayName, secretTopKeys);
}

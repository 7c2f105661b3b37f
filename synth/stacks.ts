/** Locating and loading the stacks of this project. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadStackFile } from '../stacks/load.js';
import type { Stack } from '../stacks/schema.js';

export const STACK_DIR = 'stacks';

export function stackFile(env: string): string {
  return `${STACK_DIR}/Pulumi.${env}.yaml`;
}

/** Environment names that have a stack file, sorted. */
export function knownEnvironments(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(root, STACK_DIR));
  } catch {
    return [];
  }
  return names
    .map((n) => /^Pulumi\.([a-z0-9][-a-z0-9]*)\.yaml$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

/** Load several stacks, collecting every stack's problems before failing. */
export function loadStacks(root: string, envs: readonly string[]): Map<string, Stack> {
  const known = knownEnvironments(root);
  const problems: ConfigError['problems'][number][] = [];
  const out = new Map<string, Stack>();
  for (const env of envs) {
    const file = stackFile(env);
    if (!/^[a-z0-9][-a-z0-9]*$/.test(env) || !known.includes(env)) {
      // Quoted as JSON: a name with a newline or control characters stays one line.
      const quoted = JSON.stringify(env);
      problems.push({ file: stackFile(quoted.slice(1, -1)), path: [], message: `unknown environment ${quoted} (known: ${known.join(', ') || 'none'})` });
      continue;
    }
    try {
      const stack = loadStackFile(join(root, file), file);
      if (stack.environment !== env) {
        problems.push({ file, path: ['environment'], message: `must match the file name (${env})`, value: { shown: stack.environment } });
      } else out.set(env, stack);
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else throw e;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/**
 * Warnings for stacks that share `cluster.domain` with another stack of the project: two stacks on
 * one domain fight over the same hosts, DNS records and certificates (a copied stack file that
 * kept its origin's domain). Stacks that fail to load are left to their own errors.
 */
export function domainWarnings(root: string, envs: readonly string[]): string[] {
  const domains = new Map<string, string>();
  for (const env of knownEnvironments(root)) {
    try {
      domains.set(env, loadStackFile(join(root, stackFile(env)), stackFile(env)).cluster.domain);
    } catch {
      /* reported by its own load */
    }
  }
  const out: string[] = [];
  for (const env of envs) {
    const domain = domains.get(env);
    if (domain === undefined) continue;
    const others = [...domains].filter(([e, d]) => e !== env && d === domain).map(([e]) => stackFile(e));
    if (others.length > 0) {
      out.push(`${stackFile(env)}: config.stackbook:cluster.domain "${domain}" is also the domain of ${others.join(', ')}: two stacks on one domain fight over the same hosts and certificates`);
    }
  }
  return out;
}

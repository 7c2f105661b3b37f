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

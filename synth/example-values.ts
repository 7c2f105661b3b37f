/**
 * Issue 14: the stacks ship EXAMPLE digests, keys, addresses and hosts (marked `EXAMPLE` in a
 * comment beside each). They render and pass the policies, so nothing else would stop them from
 * being deployed. `stackbook check` warns once per stack that still carries the marker, naming its
 * lines; `check --strict` fails. The marker is the contract: replace the value, then drop the word.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackFile } from './stacks.js';

/** The word that marks an example value (upper case, a whole word). */
export const EXAMPLE_MARKER = /\bEXAMPLE\b/;

/** 1-based line numbers of `text` that carry the marker. */
export function exampleLines(text: string): number[] {
  return text.split('\n').flatMap((line, i) => (EXAMPLE_MARKER.test(line) ? [i + 1] : []));
}

/** One warning for stack `env` if its file still carries example values, else undefined. */
export function exampleValuesWarning(root: string, env: string): string | undefined {
  const file = stackFile(env);
  const lines = exampleLines(readFileSync(join(root, file), 'utf8'));
  if (lines.length === 0) return undefined;
  return (
    `${env}: warning: ${file} still carries EXAMPLE values (marked on line${lines.length === 1 ? '' : 's'} ${lines.join(', ')}): ` +
    'replace each with your own (digests, keys, addresses, hosts) and remove the EXAMPLE marker before deploying; `stackbook check --strict` fails on them'
  );
}

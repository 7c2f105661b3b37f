/**
 * What the hostile-config tests share (test/hostile-config.test.ts: generated invalid configs;
 * test/hostile-config-valid.test.ts: generated valid configs, rendered; two files so that two
 * workers run them side by side): the seed, the real stacks as bases, and the stack-file text of a
 * raw config.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { parseStack, rawFromStackFile } from '../stacks/load.js';
import { ENVS, ROOT } from './helpers.js';


export const SEED = Number(process.env.STACKBOOK_FC_SEED ?? 7_2024);

export type Raw = Record<string, any>;

export const SECRET_CIPHER = 'v1:HOSTILEcipherCANARY0000';
export const SECRET_PLAIN = 'hostile-plain-secret-CANARY-4242';

export interface Base {
  readonly label: string;
  readonly env: string;
  readonly file: string;
  readonly raw: Raw;
  /** Top-level keys whose values are Pulumi secrets (the Pulumi front door names them). */
  readonly secretTopKeys: ReadonlySet<string>;
}

function stackText(env: string): string {
  return readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8');
}

/**
 * Per stack: its raw values as written (plus an encrypted secret, as `pulumi config set --secret`
 * writes it), and the same stack with every default explicit (plus a decrypted secret, as the
 * Pulumi program sees it): the second reaches every field the schema has.
 */
const frozen = <T>(v: T): T => {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) frozen(x);
  }
  return v;
};
/** Deep-frozen: cases change clones only (sitesOf's cache relies on it). */
export const BASES: Base[] = ENVS.flatMap((env) => {
  const file = `stacks/Pulumi.${env}.yaml`;
  const asWritten = rawFromStackFile(stackText(env), file).raw as Raw;
  const expanded = JSON.parse(JSON.stringify(parseStack(asWritten, file))) as Raw;
  return [
    { label: `${env} as written`, env, file, raw: frozen({ ...structuredClone(asWritten), secrets: { hostileToken: { secure: SECRET_CIPHER } } }), secretTopKeys: new Set<string>() },
    { label: `${env} defaults explicit`, env, file, raw: frozen({ ...expanded, secrets: { hostileToken: SECRET_PLAIN } }), secretTopKeys: new Set(['secrets']) },
  ];
});

export const clone = <T>(v: T): T => structuredClone(v);

/** The stack file a raw config is written as (what `pulumi config set` leaves). */
export function yamlOf(raw: Raw): string {
  const config = Object.fromEntries(Object.entries(raw).map(([k, v]) => [`stackbook:${k}`, v]));
  return yaml.dump({ config }, { noRefs: true, lineWidth: -1 });
}

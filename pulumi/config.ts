/**
 * The Pulumi front door of the one loader: `pulumi.Config` values -> the same raw object the CLI
 * builds from `stacks/Pulumi.<env>.yaml` -> `parseStack`. Same typed Stack, same error messages.
 */
import * as pulumi from '@pulumi/pulumi';
import { CONFIG_NAMESPACE, parseStack } from '../stacks/load.js';
import type { Stack } from '../stacks/schema.js';

/** The stack file that holds a Pulumi stack's config (Pulumi.yaml `stackConfigDir: stacks`). */
export function stackFileOf(stackName: string): string {
  return `stacks/Pulumi.${stackName}.yaml`;
}

export interface LoadedStack {
  readonly stack: Stack;
  /** `stacks/Pulumi.<stack>.yaml`, as named in error messages. */
  readonly file: string;
  /** Top-level `stackbook:` keys whose values are Pulumi secrets. */
  readonly secretTopKeys: ReadonlySet<string>;
}

/**
 * The engine hands every config value to the program as a string: scalars as their text, maps and
 * lists as JSON (what `pulumi.Config.getObject` parses). Decode the latter back into the value the
 * YAML held, so `parseStack` sees what the CLI sees.
 */
function decodeValue(text: string): unknown {
  const t = text.trimStart();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // Not JSON after all: a plain string that happens to start with a bracket.
    }
  }
  return text;
}

/**
 * Pure: the config map as `pulumi.runtime.allConfig()` returns it (`stackbook:cluster` -> JSON text)
 * into `parseStack`'s raw object. Keys of other namespaces (`kubernetes:context`, ...) are left alone.
 */
export function rawFromPulumiConfig(
  config: Readonly<Record<string, string>>,
  isSecret: (key: string) => boolean,
): { raw: Record<string, unknown>; secretTopKeys: Set<string> } {
  const prefix = `${CONFIG_NAMESPACE}:`;
  const raw: Record<string, unknown> = {};
  const secretTopKeys = new Set<string>();
  for (const key of Object.keys(config).sort()) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    raw[name] = decodeValue(config[key]!);
    if (isSecret(key)) secretTopKeys.add(name);
  }
  return { raw, secretTopKeys };
}

/**
 * `isConfigSecret` is exported by @pulumi/pulumi's runtime but marked internal (absent from the
 * typings). Should it ever disappear, fail closed: treat every key as secret, so no value is echoed.
 */
function configSecretTest(): (key: string) => boolean {
  const fn = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
  return typeof fn === 'function' ? (key) => fn(key) : () => true;
}

/** Read every `stackbook:*` key of the running Pulumi stack and validate it. @throws ConfigError */
export function loadStackFromPulumiConfig(): LoadedStack {
  const file = stackFileOf(pulumi.getStack());
  const { raw, secretTopKeys } = rawFromPulumiConfig(pulumi.runtime.allConfig(), configSecretTest());
  const stack = parseStack(raw, file, secretTopKeys);
  return { stack, file, secretTopKeys };
}

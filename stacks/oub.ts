/**
 * Stack schema and cross-field rules of the OUB service (runbook: see services/oub.ts).
 * Imported by ./schema.ts (the `services.oub` block) and ./rules.ts.
 */
import { z } from 'zod';
import { dnsLabel, imageRef } from './primitives.js';
import type { RuleProblem, StackParts } from './rules.js';

export const oubService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default oub */
  namespace: dnsLabel.default('oub'),
  image: imageRef,
});
export type OubService = z.infer<typeof oubService>;

/** Cross-field rules of `services.oub`. */
export function oubRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.oub;
  if (svc === undefined || !svc.enabled) return [];
  return [];
}

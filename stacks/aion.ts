/**
 * Stack schema and cross-field rules of the AION service (runbook: see services/aion.ts).
 * Imported by ./schema.ts (the `services.aion` block) and ./rules.ts.
 */
import { z } from 'zod';
import { dnsLabel, imageRef } from './primitives.js';
import type { RuleProblem, StackParts } from './rules.js';

export const aionService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default aion */
  namespace: dnsLabel.default('aion'),
  image: imageRef,
});
export type AionService = z.infer<typeof aionService>;

/** Cross-field rules of `services.aion`. */
export function aionRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.aion;
  if (svc === undefined || !svc.enabled) return [];
  return [];
}

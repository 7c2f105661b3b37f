/**
 * Stack schema and cross-field rules of the OSC service (runbook: see services/osc.ts).
 * Imported by ./schema.ts (the `services.osc` block) and ./rules.ts.
 */
import { z } from 'zod';
import { dnsLabel, imageRef } from './primitives.js';
import type { RuleProblem, StackParts } from './rules.js';

export const oscService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default osc */
  namespace: dnsLabel.default('osc'),
  image: imageRef,
});
export type OscService = z.infer<typeof oscService>;

/** Cross-field rules of `services.osc`. */
export function oscRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.osc;
  if (svc === undefined || !svc.enabled) return [];
  return [];
}

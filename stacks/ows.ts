/**
 * Stack schema and cross-field rules of the OWS service (runbook: see services/ows.ts).
 * Imported by ./schema.ts (the `services.ows` block) and ./rules.ts.
 */
import { z } from 'zod';
import { dnsLabel, imageRef } from './primitives.js';
import type { RuleProblem, StackParts } from './rules.js';

export const owsService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default ows */
  namespace: dnsLabel.default('ows'),
  image: imageRef,
});
export type OwsService = z.infer<typeof owsService>;

/** Cross-field rules of `services.ows`. */
export function owsRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.ows;
  if (svc === undefined || !svc.enabled) return [];
  return [];
}

/**
 * Stack schema of the AION data services (`services.aion.data`): PostgreSQL, Redis, MongoDB,
 * Kafka, Qdrant, MinIO, ClickHouse, each in-cluster or external; backups and retention.
 * Work in progress.
 */
import { z } from 'zod';
import type { PathSegment } from './load.js';
import type { RuleProblem, StackParts } from './rules.js';

export const aionData = z.strictObject({}).default({});
export type AionData = z.infer<typeof aionData>;

/** Cross-field rules of `services.aion.data` (path is where the block sits). */
export function aionDataRules(_p: StackParts, _data: AionData, _path: readonly PathSegment[]): RuleProblem[] {
  return [];
}

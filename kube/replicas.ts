/**
 * The one replica-range check (X-2, OPE-7): 1 ≤ min ≤ max. Config rules report it on
 * `minReplicas`, components on `maxReplicas`; both phrasings come from here.
 */
export function replicaRangeOk(min: number, max: number): boolean {
  return min >= 1 && min <= max;
}

/** The message for `field` of a range that fails `replicaRangeOk`, or undefined when it holds. */
export function replicaRangeProblem(min: number, max: number, field: 'minReplicas' | 'maxReplicas'): string | undefined {
  if (field === 'minReplicas') return min > max ? `must be ≤ maxReplicas (${max})` : undefined;
  return !Number.isInteger(max) || max < min ? `must be an integer ≥ minReplicas (${min})` : undefined;
}

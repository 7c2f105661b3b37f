/** The tiers a stack declares, lowest first, and what each tier demands of the objects in it. */
export const TIERS = ['development', 'staging', 'production'] as const;
export type Tier = (typeof TIERS)[number];

/** Allowed retention in days per tier (inclusive). */
export function retentionRange(tier: Tier): { readonly min: number; readonly max: number } {
  switch (tier) {
    case 'development':
      return { min: 7, max: 14 };
    case 'staging':
      return { min: 14, max: 30 };
    case 'production':
      return { min: 30, max: 90 };
  }
}

/**
 * Minimum PostgreSQL instances per tier: production needs a primary and two standbys (one can fail
 * or be drained while a synchronous-capable standby remains). Applied by the stack rules and the
 * Postgres component alike.
 */
export const POSTGRES_MIN_INSTANCES = { development: 1, staging: 1, production: 3 } as const;

/** `undefined` when `instances` is enough for `tier`, else the reason (for a config error). */
export function postgresInstancesProblem(tier: keyof typeof POSTGRES_MIN_INSTANCES, instances: number): string | undefined {
  const min = POSTGRES_MIN_INSTANCES[tier];
  return instances >= min ? undefined : `${tier} needs at least ${min} PostgreSQL instances (got ${instances})`;
}

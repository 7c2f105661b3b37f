/**
 * services/common.ts `serviceRedis`: the one way OSC, OWS and AION get their own Redis and
 * the Secret with its URL: the same Secret shape in every service, the Redis pods listed among its
 * consumers (the members `<name>-node` too when replicated), and an external Redis as a URL the
 * operator provides.
 */
import { describe, expect, it } from 'vitest';
import { renderEnv } from './helpers.js';

const REDIS_SECRETS = { osc: 'osc-redis', ows: 'ows-redis', aion: 'aion-redis' } as const;

describe('serviceRedis: one Redis per service, one Secret shape (X-5)', () => {
  it.each(['dev', 'prod'] as const)('X-5 %s: each in-cluster Redis Secret is a Pulumi password plus a URL built around it, read by the clients and the Redis pods', (env) => {
    const r = renderEnv(env);
    for (const [ns, name] of Object.entries(REDIS_SECRETS)) {
      const s = r.secrets.find((x) => x.namespace === ns && x.name === name);
      if (env === 'dev' && ns === 'ows') {
        // OWS runs one replica in dev and needs no fan-out: no Redis, no Secret.
        expect(s).toBeUndefined();
        expect(r.objects.filter((o) => o.metadata.namespace === 'ows' && /^redis/.test(o.metadata.name))).toEqual([]);
        continue;
      }
      expect(s, `${ns}/${name}`).toBeDefined();
      expect(s!.keys).toEqual(['password', 'url']);
      expect(s!.source).toBe('pulumi');
      const members = r.objects.find((o) => o.kind === 'StatefulSet' && o.metadata.namespace === ns && o.metadata.name === 'redis-node');
      expect(s!.consumers).toContain('redis');
      // replicated Redis (prod): its members read the password; a single primary (dev) has none.
      expect(s!.consumers.includes('redis-node'), `${ns}/${name}`).toBe(members !== undefined);
      const url = (s!.pulumi?.url as { template: string }).template;
      // a logical DB path where the app reads it from the URL (AION: DB 3, the gateway's idempotency keys)
      expect(url).toMatch(new RegExp(`^redis://:\\{password\\}@redis\\.${ns}\\.svc:6379(/(0|3))?$`));
    }
  });
});

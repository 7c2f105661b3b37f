/**
 * Issue 14 item 17 over the real stacks: key material reaches platform components and jobs only as
 * mounted Secret files; application workloads keep only the variables their contract cites the
 * app reading, each named in the generated `exception.stackbook.io/secret-env` declaration.
 */
import { describe, expect, it } from 'vitest';
import type { Obj } from '../policies/model.js';
import { SECRET_ENV_EXCEPTION, secretEnvUses } from '../policies/production.js';
import { CONTRACTS } from '../services/contracts.js';
import { appSecretEnvReason } from '../synth/render.js';
import { ENVS, renderEnv } from './helpers.js';

const CONTRACT = 'stackbook.io/contract';

describe('Secrets as files (issue 14 item 17)', () => {
  it.each(ENVS)('%s: no platform component or job takes a Secret through its environment', (env) => {
    const offenders = (renderEnv(env).objects as Obj[])
      .filter((o) => o.metadata.annotations?.[CONTRACT] === undefined)
      .flatMap((o) => secretEnvUses(o).map((u) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name} ${u.container} ${u.variable}`));
    expect(offenders).toEqual([]);
  });

  it.each(ENVS)('%s: each application workload declares every Secret-sourced variable it keeps, with the place the app reads it', (env) => {
    const apps = (renderEnv(env).objects as Obj[]).filter((o) => o.metadata.annotations?.[CONTRACT] !== undefined && secretEnvUses(o).length > 0);
    expect(apps.length).toBeGreaterThan(0);
    for (const o of apps) {
      const reason = o.metadata.annotations?.[SECRET_ENV_EXCEPTION];
      const [service, workload] = o.metadata.annotations![CONTRACT]!.split('/') as [string, string];
      expect(reason, `${o.metadata.name}`).toBeDefined();
      for (const u of secretEnvUses(o)) {
        const cite = CONTRACTS[service]!.workloads[workload]!.env![u.variable]!.cite!;
        expect(reason, `${o.metadata.name} ${u.variable}`).toContain(`${u.variable} (${CONTRACTS[service]!.upstream.repo}@`);
        expect(reason, `${o.metadata.name} ${u.variable}`).toContain(cite.file);
      }
    }
  });

  it('a variable the contract does not cite the app reading gets no declaration (the checkers then report it)', () => {
    const app = (renderEnv('prod').objects as Obj[]).find((o) => o.metadata.annotations?.[CONTRACT] !== undefined && secretEnvUses(o).length > 0)!;
    const copy = JSON.parse(JSON.stringify(app)) as Obj & { spec: { template: { spec: { containers: { env: unknown[] }[] } } } };
    copy.spec.template.spec.containers[0]!.env.push({ name: 'NOT_IN_THE_CONTRACT', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } });
    expect(appSecretEnvReason(app)).toBeDefined();
    expect(appSecretEnvReason(copy)).toBeUndefined();
  });
});

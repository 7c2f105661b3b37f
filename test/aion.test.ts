/**
 * AION / OmertaOS application side (runbook 004_dada5245eb69c1ad.txt): gateway, control plane,
 * module hosts (services/aion.ts, stacks/aion-config.ts). One block per concern AION-1, 3, 4, 7, 8, 11, 12,
 * 15, 16, 17 (the data plane's concerns are tested in test/aion-data.test.ts).
 *
 * Each stack is the real stack file with only `services.aion` enabled (and only the `aion-*`
 * secret sources): AION's objects depend on no other service, so these tests judge AION alone.
 * Expected values come from the runbook text and from the stack files, read here with a plain YAML
 * parser (not the loader).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import * as yaml from 'js-yaml';
import { parseStack, rawFromStackFile } from '../stacks/load.js';
import { render, type Manifest, type Rendered } from '../synth/render.js';
import { bundleFiles } from '../bundle/bundle.js';
import { main } from '../cli/main.js';
import { blocking, evaluate } from '../policies/manifest-rules.js';
import { aion, aionDashboards, CONTROL_GRPC_CONTAINER, dashboardJson, HOOKS_VAULT_PATH, MISSING_ALERTS } from '../services/aion.js';
import { aionContract } from '../services/aion.contract.js';
import { concernsOf, ENVS, ROOT, SHARED } from './helpers.js';
import { promtool } from './promtool.js';

type J = Record<string, any>;

const RUNBOOK = readFileSync(join(SHARED, 'runbooks', '004_dada5245eb69c1ad.txt'), 'utf8');
const HA_ENVS = ['staging', 'prod', 'airgap'] as const;
const PROD_ENVS = ['prod', 'airgap'] as const;
const GW = 'aion-gateway';
const CP = 'aion-control-plane';

/** The `stackbook:` values of a stack file, read independently of the loader. */
function cfg(env: string): J {
  const doc = yaml.load(readFileSync(join(ROOT, 'stacks', `Pulumi.${env}.yaml`), 'utf8')) as { config: J };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^stackbook:/, ''), v]));
}
const aionCfg = (env: string): J => cfg(env).services.aion;

/** The raw stack (as the loader sees it) with only AION enabled, changed by `change`. */
function rawAion(env: string, change?: (r: J) => void): J {
  const file = `stacks/Pulumi.${env}.yaml`;
  const raw = rawFromStackFile(readFileSync(join(ROOT, file), 'utf8'), file).raw as J;
  raw.services = { aion: raw.services.aion };
  raw.secretSources = Object.fromEntries(Object.entries(raw.secretSources ?? {}).filter(([k]) => k.startsWith('aion-')));
  change?.(raw);
  return raw;
}
const parseAion = (env: string, change?: (r: J) => void) => parseStack(rawAion(env, change), `stacks/Pulumi.${env}.yaml`);
const renderAion = (env: string, change?: (r: J) => void): Rendered => render(parseAion(env, change));

const cache = new Map<string, Rendered>();
function rendered(env: string): Rendered {
  let r = cache.get(env);
  if (!r) cache.set(env, (r = renderAion(env)));
  return r;
}
const objs = (env: string) => rendered(env).objects;

function get(objects: readonly Manifest[], kind: string, name: string, ns = 'aion'): J {
  const o = objects.find((m) => m.kind === kind && m.metadata.name === name && (m.metadata.namespace ?? '') === ns);
  if (!o) throw new Error(`no ${kind} ${ns}/${name}`);
  return o as J;
}
const dep = (env: string, name: string) => get(objs(env), 'Deployment', name);
const container = (d: J): J => d.spec.template.spec.containers[0];
const envOf = (d: J): Record<string, J> => Object.fromEntries((container(d).env ?? []).map((e: J) => [e.name, e]));
const aionDeployments = (objects: readonly Manifest[]) => objects.filter((o) => o.kind === 'Deployment' && o.metadata.namespace === 'aion' && o.metadata.name.startsWith('aion-')) as J[];
const moduleDeps = (env: string) => aionDeployments(objs(env)).filter((d) => d.metadata.name.startsWith('aion-module-'));

function expectTrace(o: J, id: string) {
  expect(concernsOf(o as Manifest), `${o.kind} ${o.metadata.name} traces ${id}`).toContain(id);
}

/** Run `f`, return the message it throws (fails when it does not throw). */
function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a configuration error, got none');
}

describe('AION application side', () => {
  it('every stack renders AION with no blocking policy violation', () => {
    for (const env of ENVS) {
      expect(blocking(evaluate(objs(env))).map((v) => `${v.object}: [${v.rule}] ${v.message}`), env).toEqual([]);
      expect(aionDeployments(objs(env)).length, env).toBeGreaterThanOrEqual(3);
    }
  });

  it('AION-1 AION-16: the schema defaults (a minimal aion block)', () => {
    const stack = parseAion('dev', (r) => {
      const a = r.services.aion;
      r.services.aion = {
        release: a.release,
        gateway: { image: a.gateway.image },
        controlPlane: { image: a.controlPlane.image },
        modules: [{ name: 'm', pool: 'gpu', image: a.modules[0].image, resources: a.modules[0].resources }],
      };
    });
    const a = stack.services.aion!;
    expect(a).toMatchObject({ enabled: true, namespace: 'aion' });
    expect(a.gateway).toMatchObject({
      host: 'aion',
      resources: { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '256Mi', memoryLimit: '512Mi' },
      autoscaling: { minReplicas: 2, maxReplicas: 6, cpuUtilization: 70 },
    });
    expect(a.controlPlane).toEqual({
      image: a.controlPlane.image,
      resources: { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '512Mi', memoryLimit: '1Gi' },
      autoscaling: { minReplicas: 2, maxReplicas: 6, cpuUtilization: 70 },
      webhookEgressCidrs: [],
    });
    expect(a.modules[0]!.replicas).toBe(1);
    expect(a.nodePools).toEqual({
      gpu: { nodeSelector: { 'nvidia.com/gpu.present': 'true' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] },
      cpu: { nodeSelector: {}, tolerations: [] },
    });
    expect(a.dashboardsNamespace).toBeUndefined();
    // a GPU module without `gpus` requests one GPU
    const objects = render(stack).objects;
    expect(container(get(objects, 'Deployment', 'aion-module-m')).resources.limits['nvidia.com/gpu']).toBe('1');
    // the latency and queue-depth knobs are gone with the triggers (no metric): a stack that sets one is told
    expect(errorOf(() => parseAion('dev', (r) => (r.services.aion.controlPlane.autoscaling.queueItemsPerReplica = 50)))).toContain(
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.controlPlane.autoscaling',
    );
  });

  // ------------------------------------------------------------------ issue 19: the app contract
  describe('issue 19: what OMERTAOS 947c840 really reads (services/aion.contract.ts)', () => {
    const volumeOf = (d: J, mountPath: string): J | undefined => {
      const m = (container(d).volumeMounts ?? []).find((v: J) => v.mountPath === mountPath);
      return m && d.spec.template.spec.volumes.find((v: J) => v.name === m.name);
    };
    const grpcContainer = (d: J): J => d.spec.template.spec.containers.find((c: J) => c.name === CONTROL_GRPC_CONTAINER);
    const contractViolations = (objects: readonly Manifest[]) =>
      blocking(evaluate(objects)).filter((v) => v.rule === 'app-contract').map((v) => `${v.object}: ${v.message}`);

    it('the contract rule passes on every stack, and the gateway, control plane and their scalers carry the annotation', () => {
      expect(aionContract.upstream).toMatchObject({ repo: 'ghasemzadeh-hamed/OMERTAOS', commit: '947c840849c43e6e622ac0311bd8bfe738d11c67' });
      for (const env of ENVS) {
        expect(contractViolations(objs(env)), env).toEqual([]);
        expect(dep(env, GW).metadata.annotations['stackbook.io/contract']).toBe('aion/aion-gateway');
        expect(dep(env, CP).metadata.annotations['stackbook.io/contract']).toBe('aion/aion-control-plane');
      }
    });

    it('every contract entry cites an upstream file (and a line unless it is a runbook-only variable)', () => {
      const cites: Array<[string, J | undefined]> = [];
      for (const [w, c] of Object.entries(aionContract.workloads)) {
        cites.push([`${w} command`, c.command?.cite], ...Object.entries(c.ports).map(([n, p]): [string, J] => [`${w} port ${n}`, p.cite]));
        for (const [k, e] of Object.entries(c.env ?? {})) if (!e.runbookOnly) cites.push([`${w} env ${k}`, e.cite]);
        for (const x of [...(c.files ?? []), ...(c.writablePaths ?? []), ...(c.secrets ?? []), ...(c.probes ?? [])]) cites.push([`${w} ${JSON.stringify(x).slice(0, 40)}`, x.cite]);
      }
      for (const [what, c] of cites) {
        expect(c?.file, what).toMatch(/^(gateway|control|modules)\//);
        expect(c?.line, what).toBeDefined();
      }
    });

    it('control plane: every setting under the AION_CONTROL_ prefix it reads (the AION_* names were ignored)', () => {
      for (const env of ENVS) {
        const e = envOf(dep(env, CP));
        const names = Object.keys(e);
        expect(names.filter((k) => !k.startsWith('AION_CONTROL_') && !aionContract.workloads[CP]!.env![k]?.runbookOnly), env).toEqual([]);
        for (const k of ['AION_CONTROL_REDIS_URL', 'AION_CONTROL_POSTGRES_DSN', 'AION_CONTROL_MONGO_DSN', 'AION_CONTROL_KAFKA_BOOTSTRAP', 'AION_CONTROL_QDRANT_URL']) {
          expect(e[k], `${env} ${k}`).toBeDefined();
        }
        expect(e.AION_CONTROL_REDIS_URL!.valueFrom.secretKeyRef).toEqual({ name: 'aion-redis', key: 'url' });
        for (const gone of ['AION_REDIS_URL', 'AION_DATABASE_URL', 'AION_MONGO_URL', 'AION_KAFKA_BOOTSTRAP', 'AION_QDRANT_URL', 'AION_MINIO_ENDPOINT', 'AION_CLICKHOUSE_URL']) {
          expect(e[gone], `${env} ${gone}`).toBeUndefined();
        }
      }
    });

    it('control plane: the memory store is on a writable volume, not under the read-only /app', () => {
      for (const env of ENVS) {
        const d = dep(env, CP);
        const path = envOf(d).AION_CONTROL_MEMORY_STORAGE_PATH?.value;
        expect(path, env).toBe('/var/lib/aion/memory');
        expect(container(d).securityContext.readOnlyRootFilesystem).toBe(true);
        expect(volumeOf(d, path)?.emptyDir, env).toBeDefined();
      }
    });

    it('control plane: the gRPC server the gateway calls runs (second container), is in the Service and allowed from the gateway only', () => {
      for (const env of ENVS) {
        const d = dep(env, CP);
        const g = grpcContainer(d);
        expect(g.command).toEqual(['python', '-m', 'app.grpc_server']);
        expect(g.image).toBe(container(d).image);
        // tasks_pb2_grpc.py:6 imports aion.v1 absolutely
        expect(g.env).toContainEqual({ name: 'PYTHONPATH', value: '/app/app/grpc' });
        for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(g[p].tcpSocket, `${env} ${p}`).toEqual({ port: 50051 });
        expect(g.securityContext).toEqual(container(d).securityContext);
        expect(g.resources).toEqual(container(d).resources);
        const volumes = d.spec.template.spec.volumes.map((v: J) => v.name);
        for (const m of g.volumeMounts) expect(volumes, `${env} ${m.mountPath}`).toContain(m.name);
        const gw = envOf(dep(env, GW));
        expect(gw.AION_CONTROL_GRPC?.value, env).toBe('aion-control-plane.aion.svc:50051');
        expect(gw.AION_CONTROL_PLANE_URL, 'read by nothing').toBeUndefined();
        expect(get(objs(env), 'Service', CP).spec.ports).toContainEqual(expect.objectContaining({ name: 'grpc', port: 50051, targetPort: 'grpc' }));
      }
    });

    it('gateway: NODE_ENV is not production (TLS gRPC client against an insecure gRPC server), the port is explicit (HEAD: 3000), TTL under the name it reads', () => {
      for (const env of ENVS) {
        const d = dep(env, GW);
        const e = envOf(d);
        expect(e.NODE_ENV?.value, env).toBe('development');
        expect(Number(e.AION_GATEWAY_PORT?.value)).toBe(container(d).ports[0].containerPort);
        expect(get(objs(env), 'Ingress', GW).spec.rules[0].http.paths[0].backend.service.port.number).toBe(Number(e.AION_GATEWAY_PORT?.value));
        expect(e.AION_IDEMPOTENCY_TTL?.value, env).toBe('86400');
        for (const gone of ['AION_IDEMPOTENCY_TTL_SECONDS', 'AION_IDEMPOTENCY_REDIS_DB', 'AION_RATE_LIMIT_REDIS_DB', 'AION_RATE_LIMIT_FAIL_CLOSED', 'AION_MODULE_HOSTS', 'AION_ENVIRONMENT']) {
          expect(e[gone], `${env} ${gone}`).toBeUndefined();
        }
        expect(e.AION_REDIS_URL!.valueFrom.secretKeyRef).toEqual({ name: 'aion-redis', key: 'url' });
      }
      // the DB is the URL's path (gateway/src/redis.ts:4): the generated URL names DB 3
      const url = rendered('dev').secrets.find((x) => x.name === 'aion-redis')!.pulumi!.url as { template: string };
      expect(url.template).toMatch(/:6379\/3$/);
    });

    it('the rule catches what the stacks rendered before (each former mismatch is an app-contract violation)', () => {
      const base = objs('prod');
      const mutate = (f: (cp: J, gw: J) => void): string[] => {
        const copy = structuredClone(base) as unknown as J[];
        const find = (n: string) => copy.find((o) => o.kind === 'Deployment' && o.metadata.name === n)!;
        f(find(CP), find(GW));
        return contractViolations(copy as Manifest[]);
      };
      const addEnv = (d: J, name: string, value: string) => container(d).env.push({ name, value });
      expect(mutate((cp) => addEnv(cp, 'AION_REDIS_URL', 'redis://x'))).toEqual([expect.stringContaining('sets env AION_REDIS_URL, which ghasemzadeh-hamed/OMERTAOS@947c840 never reads')]);
      expect(mutate((cp) => (container(cp).env = container(cp).env.filter((e: J) => e.name !== 'AION_CONTROL_MEMORY_STORAGE_PATH')))).toEqual([
        expect.stringContaining('does not set env AION_CONTROL_MEMORY_STORAGE_PATH'),
      ]);
      expect(mutate((cp) => (container(cp).volumeMounts = container(cp).volumeMounts.filter((m: J) => m.mountPath !== '/var/lib/aion/memory')))).toEqual([
        expect.stringContaining('the app writes /var/lib/aion/memory'),
      ]);
      expect(mutate((_cp, gw) => (container(gw).env = container(gw).env.filter((e: J) => e.name !== 'AION_CONTROL_GRPC')))).toEqual([expect.stringContaining('does not set env AION_CONTROL_GRPC')]);
      expect(mutate((_cp, gw) => (container(gw).readinessProbe = { httpGet: { path: '/healthz', port: 8080 } }))).toEqual([expect.stringContaining('readinessProbe GET /healthz on port 8080: not a health endpoint')]);
      expect(mutate((_cp, gw) => addEnv(gw, 'AION_IDEMPOTENCY_TTL_SECONDS', '86400'))).toEqual([expect.stringContaining('sets env AION_IDEMPOTENCY_TTL_SECONDS')]);
      expect(mutate((cp) => (container(cp).ports[1].containerPort = 50052))).toEqual([expect.stringContaining('declares port 50052')]);
    });

    it('PREREQUISITES.md names every runbook metric the app lacks with the app change that would enable it (the scalers fell back to CPU)', () => {
      for (const env of ENVS) {
        const md = bundleFiles(rendered(env)).find((f) => f.path === 'PREREQUISITES.md')!.content;
        expect(md, env).toContain('### Application changes the runbooks assume');
        for (const [metric, m] of Object.entries(aionContract.missingMetrics ?? {})) {
          expect(md, `${env} ${metric}`).toContain(`aion: \`${metric}\` (${m.usedFor}) is not exposed by ghasemzadeh-hamed/OMERTAOS@947c840; app change: ${m.appChange}.`);
        }
      }
    });

    it('`stackbook check` names the same app changes under each stack\'s summary', async () => {
      let out = '';
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out += String(chunk);
        return true;
      });
      try {
        expect(await main(['check', 'dev'], ROOT)).toBe(0);
      } finally {
        spy.mockRestore();
      }
      const m = aionContract.missingMetrics!.webhook_failures_total!;
      expect(out).toContain(`  dev app change needed: aion: \`webhook_failures_total\` (${m.usedFor}) is not exposed by ghasemzadeh-hamed/OMERTAOS@947c840; app change: ${m.appChange}.`);
      expect(out.split('\n').filter((l) => l.includes('app change needed: aion:'))).toHaveLength(Object.keys(aionContract.missingMetrics!).length);
    });

    it('issue 14 item 14: nothing serves /metrics behind the public Ingress: the gateway exposes no metric and nothing scrapes its port', () => {
      expect(aionContract.metrics).toEqual({});
      expect(aionContract.missingMetrics?.aion_gateway_request_duration_seconds?.appChange).toMatch(/separate port/);
      for (const env of ENVS) {
        const monitors = objs(env).filter((o) => (o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor') && o.metadata.namespace === 'aion') as J[];
        for (const m of monitors) expect(m.spec.selector.matchLabels['app.kubernetes.io/name'], `${env} ${m.metadata.name}`).not.toBe(GW);
      }
    });

    it('issue 14 item 17: key material reaches the gateway and control plane only where the app has no file interface, each listed in the contract', () => {
      for (const env of ENVS) {
        for (const [n, expected] of [
          [GW, ['AION_GATEWAY_API_KEYS', 'AION_JWT_PUBLIC_KEY', 'AION_REDIS_URL']],
          [CP, ['AION_CONTROL_MONGO_DSN', 'AION_CONTROL_POSTGRES_DSN', 'AION_CONTROL_REDIS_URL']],
        ] as const) {
          const fromSecrets = (container(dep(env, n)).env as J[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name as string).sort();
          expect(fromSecrets, `${env} ${n}`).toEqual([...expected]);
          const listed = (aionContract.workloads[n]!.secrets ?? []).map((x) => x.as).join(' ');
          for (const k of fromSecrets) expect(listed, `${n} ${k} listed with its reason`).toContain(k);
        }
        // module hosts (the stack's own images): key material as read-only files, the path in <NAME>_FILE
        for (const d of moduleDeps(env)) {
          const c = container(d);
          expect((c.env as J[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name), `${env} ${d.metadata.name}`).toEqual([]);
          const mounts = (c.volumeMounts as J[]).filter((m) => m.mountPath.startsWith('/var/run/secrets/aion/'));
          expect(mounts.map((m) => m.mountPath).sort(), `${env} ${d.metadata.name}`).toEqual(
            (c.env as J[]).filter((e) => e.name.endsWith('_FILE')).map((e) => e.value).sort(),
          );
          for (const m of mounts) {
            expect(m.readOnly, m.mountPath).toBe(true);
            expect(d.spec.template.spec.volumes.find((v: J) => v.name === m.name).secret.defaultMode, m.mountPath).toBe(0o440);
          }
          expect(mounts.map((m) => m.mountPath)).toContain('/var/run/secrets/aion/kafka/user.key');
        }
        for (const n of [GW, CP]) {
          for (const gone of ['AION_JWT_SIGNING_KEY', 'AION_KAFKA_SSL_KEY', 'AION_MINIO_SECRET_KEY', 'AION_CLICKHOUSE_PASSWORD', 'AION_QDRANT_API_KEY', 'AION_WEBHOOK_HMAC_KEY']) {
            expect(envOf(dep(env, n))[gone], `${env} ${n} ${gone}`).toBeUndefined();
          }
        }
      }
    });
  });

  // ----------------------------------------------------------------------------------- AION-1
  it('AION-1: GPU module hosts run on the GPU pool and request GPUs; CPU hosts never tolerate the GPU taint', () => {
    expect(RUNBOOK).toMatch(/Kubernetes cluster with GPU and CPU pools/);
    let gpuHosts = 0;
    for (const env of ENVS) {
      const mods: J[] = aionCfg(env).modules;
      for (const m of mods) {
        const d = dep(env, `aion-module-${m.name}`);
        const pod = d.spec.template.spec;
        const res = container(d).resources;
        expectTrace(d, 'AION-1');
        if (m.pool === 'gpu') {
          gpuHosts++;
          const gpus = String(m.gpus ?? 1);
          expect(res.requests['nvidia.com/gpu'], `${env} ${m.name}`).toBe(gpus);
          expect(res.limits['nvidia.com/gpu'], `${env} ${m.name}`).toBe(gpus);
          // the default GPU pool: labelled by the GPU operator, tainted nvidia.com/gpu:NoSchedule
          expect(pod.nodeSelector, `${env} ${m.name}`).toEqual({ 'nvidia.com/gpu.present': 'true' });
          expect(pod.tolerations, `${env} ${m.name}`).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
          expect(d.spec.template.metadata.labels['aion.omertaos.io/pool']).toBe('gpu');
        }
      }
      // CPU module hosts, the gateway and the control plane: no GPU, no GPU toleration, no GPU node label.
      for (const d of aionDeployments(objs(env)).filter((x) => x.spec.template.metadata.labels['aion.omertaos.io/pool'] !== 'gpu')) {
        const pod = d.spec.template.spec;
        expect(container(d).resources.requests['nvidia.com/gpu'], `${env} ${d.metadata.name}`).toBeUndefined();
        expect((pod.tolerations ?? []).map((t: J) => t.key), `${env} ${d.metadata.name}`).not.toContain('nvidia.com/gpu');
        expect(pod.nodeSelector?.['nvidia.com/gpu.present'], `${env} ${d.metadata.name}`).toBeUndefined();
      }
    }
    expect(gpuHosts, 'the HA stacks run GPU module hosts').toBeGreaterThanOrEqual(3);
    expect(aionCfg('dev').modules.every((m: J) => m.pool === 'cpu'), 'dev fits one small node: no GPU module').toBe(true);
    for (const env of PROD_ENVS) expect(new Set(aionCfg(env).modules.map((m: J) => m.pool)), env).toEqual(new Set(['gpu', 'cpu']));

    // configured pools pass through
    const custom = renderAion('prod', (r) => {
      r.services.aion.nodePools = {
        gpu: { nodeSelector: { 'node.example.com/pool': 'gpu' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] },
        cpu: { nodeSelector: { 'node.example.com/pool': 'cpu' } },
      };
    }).objects;
    expect(get(custom, 'Deployment', 'aion-module-inference').spec.template.spec).toMatchObject({
      nodeSelector: { 'node.example.com/pool': 'gpu' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }],
    });
    for (const n of ['aion-module-planner', GW, CP]) {
      expect(get(custom, 'Deployment', n).spec.template.spec.nodeSelector, n).toEqual({ 'node.example.com/pool': 'cpu' });
      expect(get(custom, 'Deployment', n).spec.template.spec.tolerations, n).toBeUndefined();
    }
  });

  it('AION-1: pool mistakes are configuration errors naming file, path and value', () => {
    expect(errorOf(() => parseAion('prod', (r) => (r.services.aion.modules[1].gpus = 2)))).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:services.aion.modules[1].gpus: is only for modules on the gpu pool (pool: cpu never requests GPUs) (got 2)',
    );
    expect(errorOf(() => parseAion('prod', (r) => (r.services.aion.modules[0].pool = 'tpu')))).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:services.aion.modules[0].pool: must be one of "gpu", "cpu" (got "tpu")',
    );
    expect(
      errorOf(() => parseAion('prod', (r) => (r.services.aion.nodePools = { cpu: { tolerations: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] } }))),
    ).toContain('stacks/Pulumi.prod.yaml: config.stackbook:services.aion.nodePools.cpu.tolerations[0]: tolerates the GPU taint nvidia.com/gpu:NoSchedule: CPU hosts would land on GPU nodes');
    expect(errorOf(() => parseAion('prod', (r) => (r.services.aion.nodePools = { gpu: { nodeSelector: { 'nvidia.com/gpu.present': 'true' } } })))).toContain(
      "stacks/Pulumi.prod.yaml: config.stackbook:services.aion.nodePools.gpu.tolerations: must tolerate the GPU nodes' NoSchedule (or NoExecute) taint",
    );
    expect(errorOf(() => parseAion('prod', (r) => (r.services.aion.nodePools = { cpu: { nodeSelector: { 'nvidia.com/gpu.present': 'true' } } })))).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:services.aion.nodePools.cpu.nodeSelector.nvidia.com/gpu.present: selects GPU nodes',
    );
    expect(errorOf(() => parseAion('prod', (r) => (r.services.aion.nodePools = { gpu: { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', effect: 'NoSchedule' }] } })))).toContain(
      'config.stackbook:services.aion.nodePools.gpu.tolerations[0].value: required with operator Equal',
    );
  });

  // ----------------------------------------------------------------------------------- AION-3
  it('AION-3: gateway, control plane and every module host are Deployments + Services; probes the apps answer', () => {
    for (const line of ['- Gateway: `GET /healthz`', '- Control: `GET /healthz`', '- Modules: `/healthz` endpoints exposed by hosts']) expect(RUNBOOK).toContain(line);
    for (const env of ENVS) {
      const names = [GW, CP, ...aionCfg(env).modules.map((m: J) => `aion-module-${m.name}`)];
      expect(aionDeployments(objs(env)).map((d) => d.metadata.name).sort(), env).toEqual([...names].sort());
      const ports: Record<string, number> = { [GW]: 8080, [CP]: 8000 };
      for (const n of names) {
        const d = dep(env, n);
        const port = ports[n] ?? 9000;
        const c = container(d);
        for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
          // the gateway answers 401 on /healthz without credentials (gateway/src/server.ts:92): TCP
          if (n === GW) expect(c[probe], `${env} ${n} ${probe}`).toMatchObject({ tcpSocket: { port } });
          else expect(c[probe].httpGet, `${env} ${n} ${probe}`).toMatchObject({ path: '/healthz', port });
        }
        const grpc = n === CP ? [{ name: 'grpc', containerPort: 50051, protocol: 'TCP' }] : [];
        expect(c.ports, `${env} ${n}`).toEqual([{ name: 'http', containerPort: port, protocol: 'TCP' }, ...grpc]);
        const svcPorts = [expect.objectContaining({ port, targetPort: 'http' }), ...(n === CP ? [expect.objectContaining({ port: 50051, targetPort: 'grpc' })] : [])];
        expect(get(objs(env), 'Service', n).spec.ports, `${env} ${n}`).toEqual(svcPorts);
        expectTrace(d, 'AION-3');
        expectTrace(get(objs(env), 'Service', n), 'AION-3');
      }
      // every module from config, with its own image and replica count
      for (const m of aionCfg(env).modules) {
        const d = dep(env, `aion-module-${m.name}`);
        expect(container(d).image, `${env} ${m.name}`).toContain(`${m.image.repository}:${m.image.tag}`);
        expect(d.spec.replicas, `${env} ${m.name}`).toBe(m.replicas ?? 1);
      }
      expect(container(dep(env, GW)).image).toContain(aionCfg(env).gateway.image.repository);
      expect(container(dep(env, CP)).image).toContain(aionCfg(env).controlPlane.image.repository);
      // only the gateway is exposed, under <host>.<domain>; the control plane and modules are internal
      const ingresses = objs(env).filter((o) => o.kind === 'Ingress' && o.metadata.namespace === 'aion') as J[];
      expect(ingresses.map((i) => i.metadata.name), env).toEqual([GW]);
      const host = `${aionCfg(env).gateway.host ?? 'aion'}.${cfg(env).cluster.domain}`;
      expect(ingresses[0]!.spec.rules, env).toEqual([{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: GW, port: { number: 8080 } } } }] } }]);
      expectTrace(ingresses[0]!, 'AION-3');
      // dev is small; production runs highly available
      if (env === 'dev') expect(aionCfg(env).modules.map((m: J) => m.replicas)).toEqual([1]);
    }
  });

  it('AION-3: every AION pod is Pod Security restricted, without a token, with requests and limits', () => {
    for (const env of ENVS) {
      for (const d of aionDeployments(objs(env))) {
        const pod = d.spec.template.spec;
        const c = container(d);
        const n = `${env} ${d.metadata.name}`;
        expect(pod.automountServiceAccountToken, n).toBe(false);
        expect(pod.securityContext, n).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        expect(c.securityContext, n).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
        for (const k of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect(c.resources[k][r], `${n} ${k}.${r}`).toBeDefined();
      }
      expect(get(objs(env), 'Namespace', 'aion', '').metadata.labels['pod-security.kubernetes.io/enforce'], env).toBe('restricted');
    }
  });

  it('AION-3: module list mistakes are configuration errors naming file, path and value', () => {
    expect(errorOf(() => parseAion('prod', (r) => (r.services.aion.modules[1].name = r.services.aion.modules[0].name)))).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:services.aion.modules[1].name: is used by two modules: module names must be unique (got "inference")',
    );
    expect(errorOf(() => parseAion('dev', (r) => (r.services.aion.modules = [])))).toContain('stacks/Pulumi.dev.yaml: config.stackbook:services.aion.modules: must be ≥ 1 items (got [])');
    expect(errorOf(() => parseAion('dev', (r) => delete r.services.aion.modules[0].resources))).toContain('stacks/Pulumi.dev.yaml: config.stackbook:services.aion.modules[0].resources: required');
  });

  it('AION-3: NetworkPolicies: gateway from the ingress controller, control plane (HTTP + gRPC) from the gateway, modules from both; Prometheus only to the modules', () => {
    for (const env of ENVS) {
      const c = cfg(env).cluster;
      const mon = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.monitoringNamespace ?? 'monitoring' } } };
      const ingressPeer =
        c.ingressClass === 'alb'
          ? c.loadBalancerCidrs.map((cidr: string) => ({ ipBlock: { cidr } }))
          : [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.ingressNamespace ?? 'ingress-nginx' } } }];
      const pods = (name: string) => ({ podSelector: { matchLabels: { 'app.kubernetes.io/name': name } } });
      const port = (p: number) => [{ port: p, protocol: 'TCP' }];
      const gw = get(objs(env), 'NetworkPolicy', GW);
      // no Prometheus rule: neither the gateway nor the control plane serves /metrics (services/aion.contract.ts)
      expect(gw.spec.ingress, env).toEqual([{ from: ingressPeer, ports: port(8080) }]);
      // the gateway calls the control plane over gRPC (AION_CONTROL_GRPC) only
      expect(gw.spec.egress.slice(0, 2), env).toEqual([
        { to: [pods(CP)], ports: port(50051) },
        { to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/component': 'module-host' } } }], ports: port(9000) },
      ]);
      const cp = get(objs(env), 'NetworkPolicy', CP);
      expect(cp.spec.ingress, env).toEqual([{ from: [pods(GW)], ports: [...port(8000), ...port(50051)] }]);
      const mod = get(objs(env), 'NetworkPolicy', 'aion-module-hosts');
      expect(mod.spec.podSelector, env).toEqual({ matchLabels: { 'app.kubernetes.io/component': 'module-host' } });
      expect(mod.spec.ingress, env).toEqual([{ from: [pods(GW), pods(CP)], ports: port(9000) }, { from: [mon], ports: port(9000) }]);
      for (const d of moduleDeps(env)) expect(d.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('module-host');
      for (const p of [gw, cp, mod]) expectTrace(p, 'AION-3');
      // the namespace denies everything else
      expect(get(objs(env), 'NetworkPolicy', 'default-deny').spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    }
  });

  // ----------------------------------------------------------------------------------- AION-4
  it('AION-4: TLS certificate for the gateway host; the namespace is under cosign admission, enforced in production', () => {
    for (const env of ENVS) {
      const host = `${aionCfg(env).gateway.host ?? 'aion'}.${cfg(env).cluster.domain}`;
      if (cfg(env).cluster.ingressClass === 'alb') {
        // the ALB serves an ACM certificate, never a cert-manager Secret (issue 14 item 2)
        expect(get(objs(env), 'Ingress', GW).spec.tls, env).toEqual([{ hosts: [host] }]);
        expect(get(objs(env), 'Ingress', GW).metadata.annotations['alb.ingress.kubernetes.io/certificate-arn'], env).toMatch(/^arn:aws:acm:/);
      } else {
        const cert = get(objs(env), 'Certificate', GW);
        expect(cert.spec.dnsNames, env).toEqual([host]);
        expect(cert.spec.issuerRef.name, env).toBe(`stackbook-${env}-${cfg(env).cluster.issuer.kind}`);
        expect(get(objs(env), 'Ingress', GW).spec.tls, env).toEqual([{ hosts: [host], secretName: cert.spec.secretName }]);
        expectTrace(cert, 'AION-4');
      }
      const ns = get(objs(env), 'Namespace', 'aion', '');
      expect(ns.metadata.labels['policy.sigstore.dev/include'], env).toBe('true');
      expectTrace(ns, 'AION-4');
      const policy = objs(env).find((o) => o.kind === 'ClusterImagePolicy') as J;
      expect(policy.spec.mode, env).toBe(PROD_ENVS.includes(env as never) ? 'enforce' : 'warn');
      const globs: string[] = policy.spec.images.map((i: J) => i.glob);
      for (const d of aionDeployments(objs(env))) {
        const image: string = container(d).image;
        expect(globs.some((g) => g.endsWith('*') && image.startsWith(g.slice(0, -1))), `${env}: ${image} is covered by ${globs.join(', ')}`).toBe(true);
        if (env !== 'dev') expect(image, `${env} ${d.metadata.name}`).toMatch(/@sha256:[a-f0-9]{64}$/);
        expectTrace(d, 'AION-4');
      }
    }
  });

  it('AION-4: production needs cosign signing and every AION image (modules too) pinned by digest', () => {
    expect(RUNBOOK).toContain('production module containers must have signatures verified');
    const noDigest = errorOf(() =>
      parseAion('prod', (r) => {
        delete r.services.aion.modules[0].image.digest;
        delete r.services.aion.controlPlane.image.digest;
      }),
    );
    expect(noDigest).toContain('stacks/Pulumi.prod.yaml: config.stackbook:services.aion.modules[0].image.digest: required in production stacks: images are pinned by digest');
    expect(noDigest).toContain('stacks/Pulumi.prod.yaml: config.stackbook:services.aion.controlPlane.image.digest: required in production stacks: images are pinned by digest');
    expect(errorOf(() => parseAion('airgap', (r) => delete r.services.aion.gateway.image.digest))).toContain(
      'stacks/Pulumi.airgap.yaml: config.stackbook:services.aion.gateway.image.digest: required in production (air-gapped) stacks',
    );
    expect(errorOf(() => parseAion('prod', (r) => delete r.cluster.signing))).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing: required in production stacks: cosign admission rejects unsigned images',
    );
    // dev may deploy tags
    expect(() => parseAion('dev')).not.toThrow();
  });

  // ----------------------------------------------------------------------------------- AION-7
  it('AION-7: kernel proposals are not in the deployed code: no env the app never reads, the rollback alert waits for its metric (app concern)', () => {
    expect(RUNBOOK).toContain('emits an audit record to Kafka (`kernel.proposals`)');
    expect(RUNBOOK).toContain('`kernel.admin` role');
    for (const env of ENVS) {
      const e = envOf(dep(env, CP));
      // AION_KERNEL_PROPOSALS_TOPIC / AION_KERNEL_APPROVER_ROLE were set before; OMERTAOS 947c840 reads neither
      expect(Object.keys(e).filter((k) => k.startsWith('AION_KERNEL_')), env).toEqual([]);
      expectTrace(dep(env, CP), 'AION-7');
      expect(objs(env).some((o) => o.kind === 'PrometheusRule' && o.metadata.name === 'aion'), env).toBe(false);
    }
    expect(aionContract.missingMetrics?.k_rollbacks_total?.usedFor).toContain('AIONKernelRollbacks');
    expect(aion.appConcerns['AION-7']).toMatch(/OMERTAOS 947c840\) does not implement/);
  });

  // ----------------------------------------------------------------------------------- AION-8
  it('AION-8: webhook HMAC keys come from Vault secret/omertaos/hooks, as Secret references only', () => {
    expect(RUNBOOK).toContain('Verification keys live in Vault (`secret/omertaos/hooks`)');
    expect(HOOKS_VAULT_PATH).toBe('secret/omertaos/hooks');
    for (const env of ENVS) {
      const req = rendered(env).secrets.find((s) => s.name === 'aion-hooks')!;
      expect(req, env).toBeDefined();
      // kept in Vault and synchronised, but no pod reads the key at 947c840 (no webhook code): no consumer, no env
      expect([...req.consumers], env).toEqual([]);
      for (const n of [GW, CP]) expect(envOf(dep(env, n)).AION_WEBHOOK_HMAC_KEY, `${env} ${n}`).toBeUndefined();
      if (env === 'dev') {
        // no Vault in development: a Pulumi random, declared in the stack's secretSources
        expect(cfg('dev').secretSources['aion-hooks']).toEqual({ source: 'pulumi' });
        expect(req.source).toBe('pulumi');
        expect(objs(env).some((o) => o.kind === 'ExternalSecret')).toBe(false);
      } else {
        expect(req.source, env).toBe('vault');
        expect(req.vault?.path, env).toBe('secret/omertaos/hooks');
        const es = get(objs(env), 'ExternalSecret', 'aion-hooks');
        expect(es.spec.data, env).toEqual([{ secretKey: 'hmac-key', remoteRef: { key: 'secret/omertaos/hooks', property: 'hmac-key' } }]);
        expectTrace(es, 'AION-8');
      }
    }
    // production may not replace the Vault keys with a Pulumi random
    expect(errorOf(() => parseAion('prod', (r) => (r.secretSources = { 'aion-hooks': { source: 'pulumi' } })))).toContain(
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.aion-hooks.source: must be vault (or existing) in production: the webhook HMAC verification keys live in Vault (secret/omertaos/hooks) (got "pulumi")',
    );
    // and a stack without Vault cannot read them from there
    expect(errorOf(() => renderAion('staging', (r) => delete r.cluster.vault))).toContain(
      'stacks/Pulumi.staging.yaml: config.stackbook:cluster.vault: required: Secret aion/aion-hooks is read from Vault path secret/omertaos/hooks',
    );
  });

  it('AION-8: webhook_failures_total does not exist in the app: no alert or scrape on it, the app change is named; outbound webhooks keep their egress', () => {
    expect(RUNBOOK).toContain('panel `webhook_failures_total`');
    expect(MISSING_ALERTS).toEqual(['AIONWebhookFailures', 'AIONKernelRollbacks']);
    expect(aionContract.missingMetrics?.webhook_failures_total?.usedFor).toContain('AIONWebhookFailures');
    expect(aionContract.missingMetrics?.webhook_failures_total?.appChange).toMatch(/failure counter/);
    for (const env of ENVS) {
      expect(objs(env).some((o) => o.kind === 'PrometheusRule' && o.metadata.name === 'aion'), env).toBe(false);
      // no ServiceMonitor on the gateway or control plane: /metrics is 404 (control) / 401 (gateway), the scrape would only fail
      for (const n of [GW, CP]) expect(objs(env).some((o) => o.kind === 'ServiceMonitor' && o.metadata.name === n && o.metadata.namespace === 'aion'), `${env} ${n}`).toBe(false);
      expect(JSON.stringify(objs(env).filter((o) => o.metadata.namespace === 'aion'))).not.toContain('webhook_failures_total');
      expect(envOf(dep(env, CP)).AION_WEBHOOK_MAX_RETRIES, 'read nowhere at 947c840').toBeUndefined();
      const cidrs: string[] = aionCfg(env).controlPlane.webhookEgressCidrs ?? [];
      const egress: J[] = get(objs(env), 'NetworkPolicy', CP).spec.egress;
      const rule = { to: cidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: [{ port: 443, protocol: 'TCP' }] };
      if (cidrs.length > 0) expect(egress, env).toContainEqual(rule);
    }
    expect(aionCfg('prod').controlPlane.webhookEgressCidrs).toEqual(['198.51.100.64/28']);
    // without receivers the rule is gone (nothing else opens them)
    const none = get(renderAion('prod', (r) => (r.services.aion.controlPlane.webhookEgressCidrs = [])).objects, 'NetworkPolicy', CP).spec.egress as J[];
    expect(none.length).toBe((get(objs('prod'), 'NetworkPolicy', CP).spec.egress as J[]).length - 1);
    expect(JSON.stringify(none)).not.toContain('198.51.100.64/28');
  });

  // ---------------------------------------------------------------------------------- AION-11
  it('AION-11: AION_GATEWAY_API_KEYS and the JWT signing keys are Secrets; bumping a version rolls exactly their consumers', () => {
    expect(RUNBOOK).toContain('Update `AION_GATEWAY_API_KEYS` secret and reload gateway Deployment');
    for (const env of ENVS) {
      const gw = envOf(dep(env, GW));
      const cp = envOf(dep(env, CP));
      expect(gw.AION_GATEWAY_API_KEYS, env).toEqual({ name: 'AION_GATEWAY_API_KEYS', valueFrom: { secretKeyRef: { name: 'aion-gateway-api-keys', key: 'api-keys' } } });
      expect(gw.AION_JWT_PUBLIC_KEY?.valueFrom.secretKeyRef, env).toEqual({ name: 'aion-jwt-signing-keys', key: 'verification-key' });
      // issue 14 item 17: the control plane signs nothing at 947c840; the signing key is in no pod
      expect(cp.AION_JWT_SIGNING_KEY, 'no pod holds the signing key').toBeUndefined();
      expect(cp.AION_GATEWAY_API_KEYS, 'the control plane never sees the API keys').toBeUndefined();
      expect(gw.AION_JWT_SIGNING_KEY, 'the gateway never holds the signing key').toBeUndefined();
      expect(dep(env, GW).spec.template.metadata.annotations).toMatchObject({
        'rotation.stackbook.io/secret-aion-gateway-api-keys': '1',
        'rotation.stackbook.io/secret-aion-jwt-signing-keys': '1',
      });
      expectTrace(dep(env, GW), 'AION-11');
      // no value anywhere: no Secret objects, and no literal env value that could be one
      expect(objs(env).some((o) => o.kind === 'Secret')).toBe(false);
      for (const d of aionDeployments(objs(env))) {
        for (const e of container(d).env ?? []) {
          // `*_FILE`: the path of a Secret key mounted read-only (issue 14 item 17), never the value
          if (/_FILE$/.test(e.name)) expect(e.value, `${env} ${d.metadata.name} ${e.name}`).toMatch(/^\/var\/run\/secrets\/aion\//);
          else if (/KEY|SECRET|TOKEN/.test(e.name)) expect(e.value, `${env} ${d.metadata.name} ${e.name}`).toBeUndefined();
        }
      }
    }
    // prod: rotate the API keys (version 2): only the gateway's pods roll
    const before = objs('prod');
    const after = renderAion('prod', (r) => (r.secretSources = { 'aion-gateway-api-keys': { source: 'vault', path: 'secret/omertaos/gateway', version: 2 } })).objects;
    const ann = (o: readonly Manifest[], n: string) => get(o, 'Deployment', n).spec.template.metadata.annotations;
    expect(ann(after, GW)['rotation.stackbook.io/secret-aion-gateway-api-keys']).toBe('2');
    expect(ann(before, GW)['rotation.stackbook.io/secret-aion-gateway-api-keys']).toBe('1');
    expect(ann(after, CP)).toEqual(ann(before, CP));
    expect(get(after, 'ExternalSecret', 'aion-gateway-api-keys').metadata.annotations['rotation.stackbook.io/version']).toBe('2');
    expectTrace(get(after, 'ExternalSecret', 'aion-gateway-api-keys'), 'AION-11');
    // rotating the JWT keys rolls the gateway (new public key) only
    const jwt = renderAion('prod', (r) => (r.secretSources = { 'aion-jwt-signing-keys': { source: 'vault', path: 'secret/omertaos/jwt', version: 3 } })).objects;
    expect(ann(jwt, GW)['rotation.stackbook.io/secret-aion-jwt-signing-keys']).toBe('3');
    expect(ann(jwt, CP)).toEqual(ann(before, CP));
    // dev (Pulumi randoms): the verification key is the signing key (one HS256 secret)
    const devJwt = rendered('dev').secrets.find((s) => s.name === 'aion-jwt-signing-keys')!;
    expect(devJwt.pulumi).toEqual({ 'signing-key': { randomLength: 64 }, 'verification-key': { template: '{signing-key}' } });
  });

  // ---------------------------------------------------------------------------------- AION-12
  it('AION-12: every AION Deployment keeps rollout history and names its release (kubectl rollout undo)', () => {
    for (const env of ENVS) {
      const release = String(aionCfg(env).release);
      for (const d of aionDeployments(objs(env))) {
        const n = `${env} ${d.metadata.name}`;
        expect(d.spec.revisionHistoryLimit, n).toBeGreaterThanOrEqual(5);
        expect(d.metadata.labels['app.kubernetes.io/version'], n).toBe(release);
        expect(d.spec.template.metadata.labels['app.kubernetes.io/version'], n).toBe(release);
        expect(d.metadata.annotations['kubernetes.io/change-cause'], n).toBe(`AION release ${release}`);
        expect(d.metadata.annotations['stackbook.io/release'], n).toBe(release);
        // the gateway and control plane read no AION_RELEASE (the contract); module images get it
        if (d.metadata.name.startsWith('aion-module-')) expect(envOf(d).AION_RELEASE?.value, n).toBe(release);
        else expect(envOf(d).AION_RELEASE, n).toBeUndefined();
        expect(d.spec.selector.matchLabels, `${n}: the release is not in the selector (a rollback keeps the Deployment)`).toEqual({ 'app.kubernetes.io/name': d.metadata.name });
        expectTrace(d, 'AION-12');
      }
    }
  });

  it('AION-12: rolling back to the previous release renders exactly what that release rendered', () => {
    const previous = (r: J) => {
      r.services.aion.release = '3.1.4';
      r.services.aion.gateway.image.tag = '3.1.4';
      r.services.aion.gateway.image.digest = `sha256:${'1'.repeat(64)}`;
    };
    const old = renderAion('prod', previous).objects;
    // the previous release renders the same way every time (synth is deterministic) ...
    expect(renderAion('prod', previous).objects).toEqual(old);
    // ... and differs from the current one only in the release marks and the changed image
    const strip = (objects: readonly Manifest[]) =>
      JSON.parse(
        JSON.stringify(objects.filter((o) => o.metadata.namespace === 'aion' || o.kind === 'ClusterImagePolicy'))
          .replace(/3\.1\.4|3\.2\.0/g, 'R')
          .replace(/sha256:(1{64}|d7e7c5b5220b182b64bba1549d296edcbd3802f5d065b04453e24ecca343c375)/g, 'D'),
      );
    expect(strip(old)).toEqual(strip(objs('prod')));
    expect(JSON.stringify(old)).not.toEqual(JSON.stringify(objs('prod')));
    expect(get(old, 'Deployment', GW).metadata.annotations['kubernetes.io/change-cause']).toBe('AION release 3.1.4');
    // the release is validated and required
    expect(errorOf(() => parseAion('dev', (r) => (r.services.aion.release = '3.2.0 final')))).toContain(
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.release: must be a label value (≤ 63 characters: letters, digits, - _ .) (got "3.2.0 final")',
    );
    expect(errorOf(() => parseAion('dev', (r) => delete r.services.aion.release))).toContain('stacks/Pulumi.dev.yaml: config.stackbook:services.aion.release: required');
  });

  // ---------------------------------------------------------------------------------- AION-15
  it('AION-15: secrets from Vault are synchronised into Kubernetes by ExternalSecrets through the stack\'s ClusterSecretStore', () => {
    expect(RUNBOOK).toContain('Synchronise secrets to Kubernetes');
    for (const env of HA_ENVS) {
      const vault = cfg(env).cluster.vault;
      expect(vault?.server, `${env} has a Vault`).toMatch(/^https:\/\//);
      const store = get(objs(env), 'ClusterSecretStore', 'vault', '');
      expect(store.spec.provider.vault.server, env).toBe(vault.server);
      for (const name of ['aion-hooks', 'aion-gateway-api-keys', 'aion-jwt-signing-keys']) {
        const es = get(objs(env), 'ExternalSecret', name);
        expect(es.spec.secretStoreRef, `${env} ${name}`).toEqual({ kind: 'ClusterSecretStore', name: 'vault' });
        expect(es.spec.target, `${env} ${name}`).toMatchObject({ name, creationPolicy: 'Owner' });
        expect(es.spec.data.every((d: J) => d.remoteRef.key.startsWith('secret/omertaos/')), `${env} ${name}`).toBe(true);
        expectTrace(es, 'AION-15');
      }
    }
    // inside the air gap Vault is a private host
    expect(new URL(cfg('airgap').cluster.vault.server).hostname).toMatch(/\.corp\.internal$/);
  });

  // ---------------------------------------------------------------------------------- AION-16
  it('AION-16: the gateway and the control plane scale on CPU (KEDA cpu): the runbook\'s latency and queue-depth metrics do not exist in the app', () => {
    expect(RUNBOOK).toContain('Gateway HPA monitors CPU and request latency');
    expect(RUNBOOK).toContain('Control plane scales based on p95 latency and queue depth metrics');
    for (const m of ['aion_gateway_request_duration_seconds', 'aion_control_request_duration_seconds', 'aion_control_queue_depth']) {
      expect(aionContract.metrics[m], m).toBeUndefined();
      expect(aionContract.missingMetrics?.[m]?.usedFor, m).toMatch(/scaling trigger/);
    }
    for (const env of ENVS) {
      const a = aionCfg(env);
      for (const [n, as] of [[GW, a.gateway.autoscaling], [CP, a.controlPlane.autoscaling]] as const) {
        const so = get(objs(env), 'ScaledObject', n);
        expect(so.spec, `${env} ${n}`).toMatchObject({ scaleTargetRef: { kind: 'Deployment', name: n }, minReplicaCount: as.minReplicas, maxReplicaCount: as.maxReplicas });
        expect(so.spec.triggers, `${env} ${n}`).toEqual([{ type: 'cpu', name: 'cpu', metricType: 'Utilization', metadata: { value: String(as.cpuUtilization) } }]);
        expect(so.metadata.annotations['stackbook.io/contract']).toBe('aion');
        expectTrace(so, 'AION-16');
      }
      // one autoscaler each: no HPA, no fixed replicas; a PDB that lets drains through
      expect(objs(env).filter((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.namespace === 'aion'), env).toEqual([]);
      for (const n of [GW, CP]) {
        expect(dep(env, n).spec.replicas, `${env} ${n}`).toBeUndefined();
        expect(get(objs(env), 'PodDisruptionBudget', n).spec.maxUnavailable, `${env} ${n}`).toBe(1);
      }
      // module hosts: fixed replicas, a PDB each, on their own pool (AION-1)
      for (const d of moduleDeps(env)) {
        expect(get(objs(env), 'PodDisruptionBudget', d.metadata.name).spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': d.metadata.name } } });
        expectTrace(d, 'AION-16');
      }
    }
    expect(aionCfg('prod').gateway.autoscaling.minReplicas).toBeGreaterThanOrEqual(3);
    expect(aionCfg('prod').controlPlane.autoscaling.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it('AION-16: a second autoscaler on the gateway is refused by the single-autoscaler policy', () => {
    const extra = structuredClone(objs('prod')) as unknown as J[];
    extra.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'aion-gateway-cpu', namespace: 'aion' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: GW }, minReplicas: 3, maxReplicas: 12, metrics: [] },
    });
    const vs = blocking(evaluate(extra as Manifest[])).filter((v) => v.rule === 'single-autoscaler');
    expect(vs.map((v) => v.object).sort()).toEqual(['HorizontalPodAutoscaler aion/aion-gateway-cpu', 'ScaledObject aion/aion-gateway']);
  });

  it('AION-16: scaling ranges are validated, with production minimums', () => {
    expect(errorOf(() => parseAion('dev', (r) => (r.services.aion.gateway.autoscaling.minReplicas = 3)))).toContain(
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.gateway.autoscaling.minReplicas: must be ≤ maxReplicas (2) (got 3)',
    );
    expect(errorOf(() => parseAion('dev', (r) => (r.services.aion.controlPlane.autoscaling.cpuUtilization = 0)))).toContain(
      'stacks/Pulumi.dev.yaml: config.stackbook:services.aion.controlPlane.autoscaling.cpuUtilization:',
    );
    const prod = errorOf(() =>
      parseAion('prod', (r) => {
        r.services.aion.gateway.autoscaling.minReplicas = 1;
        r.services.aion.controlPlane.autoscaling.minReplicas = 1;
        r.services.aion.modules[0].replicas = 1;
      }),
    );
    expect(prod).toContain('stacks/Pulumi.prod.yaml: config.stackbook:services.aion.gateway.autoscaling.minReplicas: must be ≥ 2 in production (the gateway is the only way in) (got 1)');
    expect(prod).toContain('stacks/Pulumi.prod.yaml: config.stackbook:services.aion.controlPlane.autoscaling.minReplicas: must be ≥ 2 in production (got 1)');
    expect(prod).toContain('stacks/Pulumi.prod.yaml: config.stackbook:services.aion.modules[0].replicas: must be ≥ 2 in production (module inference would be a single point of failure) (got 1)');
  });

  // ---------------------------------------------------------------------------------- AION-17
  const dashboards = (objects: readonly Manifest[]) =>
    (objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1') as J[]).map((cm) => {
      const keys = Object.keys(cm.data);
      expect(keys.length, cm.metadata.name).toBe(1);
      return { cm, key: keys[0]!, model: JSON.parse(cm.data[keys[0]!]) as J };
    });

  it('AION-17: Grafana dashboards Router, Kernel, Object Storage (multipart clean-up) on the metrics that exist; none on an app metric', () => {
    for (const name of ['Grafana Router dashboard', 'Grafana "Kernel" dashboard (panel `k_rollbacks_total`)', 'Grafana "Object Storage" dashboard']) expect(RUNBOOK).toContain(name);
    for (const env of ENVS) {
      const ds = dashboards(objs(env));
      // the Webhooks dashboard had only app metrics (webhook_failures_total, gateway request histogram): gone
      expect(ds.map((d) => d.model.title).sort(), env).toEqual(['AION / Kernel', 'AION / Object Storage', 'AION / Router']);
      for (const { cm, key, model } of ds) {
        expect(cm.metadata.namespace, 'in the AION namespace by default').toBe('aion');
        expect(cm.metadata.annotations.grafana_folder).toBe('AION');
        expect(key).toBe(`${model.uid}.json`);
        expect(model.uid).toMatch(/^[a-z0-9-]{1,40}$/);
        expectTrace(cm, 'AION-17');
        model.panels.forEach((p: J, i: number) => {
          expect(p.id, `${model.uid} panel ids are unique`).toBe(i + 1);
          expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
          expect(p.targets.length, `${model.uid} ${p.title}`).toBeGreaterThan(0);
          for (const t of p.targets) expect(t.expr.trim(), `${model.uid} ${p.title}`).not.toBe('');
        });
      }
      expect(new Set(ds.map((d) => d.model.uid)).size).toBe(3);
      const panel = (uid: string, re: RegExp) => ds.find((d) => d.model.uid === uid)!.model.panels.find((p: J) => re.test(p.title)) as J | undefined;
      expect(panel('aion-object-storage', /aborted/)?.targets[0].expr).toContain('abortmultipartupload');
      expect(panel('aion-router', /aion\.metrics\.runtime/)?.targets[0].expr).toContain('topic="aion.metrics.runtime"');
      // no query names a metric the app would have to expose (every runbook one is missing)
      const all = ds.flatMap((d) => d.model.panels.flatMap((p: J) => p.targets.map((t: J) => t.expr as string))).join('\n');
      for (const m of Object.keys(aionContract.missingMetrics ?? {})) expect(all, `${env} ${m}`).not.toContain(m);
    }
    // deterministic output, and the namespace is configurable (e.g. the Grafana namespace)
    expect(dashboardJson(aionDashboards('aion')[0]!)).toBe(dashboardJson(aionDashboards('aion')[0]!));
    const moved = dashboards(renderAion('dev', (r) => (r.services.aion.dashboardsNamespace = 'monitoring')).objects);
    expect(moved.map((d) => d.cm.metadata.namespace)).toEqual(['monitoring', 'monitoring', 'monitoring']);
  });

  it('AION-17: every dashboard query is valid PromQL (promtool check rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stackbook-aion-dash-'));
    try {
      const exprs = dashboards(objs('prod')).flatMap(({ model }) => model.panels.flatMap((p: J) => p.targets.map((t: J) => t.expr as string)));
      expect(exprs.length).toBeGreaterThan(10);
      const rules = exprs.map((expr, i) => ({ record: `aion:dashboard_query:${i}`, expr }));
      writeFileSync(join(dir, 'dash.yaml'), JSON.stringify({ groups: [{ name: 'dashboards', rules }] }));
      const r = promtool(['check', 'rules', 'dash.yaml'], dir);
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
      // and the check can fail
      writeFileSync(join(dir, 'bad.yaml'), JSON.stringify({ groups: [{ name: 'bad', rules: [{ record: 'aion:bad', expr: 'sum(rate(x[5m]' }] }] }));
      expect(promtool(['check', 'rules', 'bad.yaml'], dir).code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Stack schema and cross-field rules of the OUB service (Oubliette, runbook
 * `002_6b4e0b06bc314619.txt`; what each knob becomes is in services/oub.ts).
 * Imported by ./schema.ts (the `services.oub` block) and ./config-rules.ts.
 *
 * The app (HyphaGroup/oubliette f19a278, services/oub.contract.ts) compiles in its rate limit,
 * cleanup intervals and session size: the stack has no knobs for them. Defaults are the runbook's
 * (previously `config.yaml` values: rate limit 10 rps / burst 20, cleanup every
 * 5 min keeping 60 min, disk warn 80 % / error 90 %, backup retention 7), the environment
 * variables' defaults (`CONTAINER_RUNTIME=auto`, recursion depth 3, 50 agents, 10.00 USD) and the
 * capacity table (light / medium / heavy).
 */
import { z } from 'zod';
import { byteQuantity, dnsLabel, imageRef, ipv4Cidr, port, resources, type Resources } from './primitives.js';
import { hostLengthRule, imageDigestRule, type RuleProblem, type StackParts } from './rule-helpers.js';
import { scheduleInterval } from '../kube/schedule.js';
import { cidrContains } from '../kube/network.js';
import { LABEL_KEY, LABEL_VALUE } from '../kube/names.js';

/** OUB-11: the runbook's capacity table. */
export const OUB_CAPACITY = ['light', 'medium', 'heavy'] as const;
export type OubCapacity = (typeof OUB_CAPACITY)[number];

/**
 * OUB-11: what a preset sets. The runbook's "Load" row is the whole instance (CPU, memory, disk):
 * the limits of the server container and of the container runtime (where agent sessions run) add
 * up to it; `projects` is the runbook's disk. (A session container always gets 4G / 4 CPUs, compiled
 * into the app at cmd/server/main.go:304-305; the old preset `session` sizes were never read:
 * it had no such setting).
 */
export const OUB_PRESETS: Readonly<
  Record<
    OubCapacity,
    {
      readonly server: Resources;
      readonly runtime: Resources;
      readonly storage: { readonly projects: string; readonly data: string; readonly logs: string; readonly backups: string };
      /** Image and container layers of the runtime (an emptyDir). */
      readonly runtimeStorage: string;
    }
  >
> = {
  // Light (< 10 sessions): 2 cores, 4 GB, 10 GB disk.
  light: {
    server: { cpuRequest: '250m', cpuLimit: '500m', memoryRequest: '512Mi', memoryLimit: '1Gi' },
    runtime: { cpuRequest: '750m', cpuLimit: '1500m', memoryRequest: '1536Mi', memoryLimit: '3Gi' },
    storage: { projects: '10Gi', data: '1Gi', logs: '2Gi', backups: '20Gi' },
    runtimeStorage: '10Gi',
  },
  // Medium (10–50 sessions): 4 cores, 8 GB, 50 GB disk.
  medium: {
    server: { cpuRequest: '500m', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '2Gi' },
    runtime: { cpuRequest: '1500m', cpuLimit: '3', memoryRequest: '3Gi', memoryLimit: '6Gi' },
    storage: { projects: '50Gi', data: '1Gi', logs: '5Gi', backups: '100Gi' },
    runtimeStorage: '20Gi',
  },
  // Heavy (> 50 sessions): 8+ cores, 16+ GB, 100+ GB disk.
  heavy: {
    server: { cpuRequest: '1', cpuLimit: '2', memoryRequest: '2Gi', memoryLimit: '4Gi' },
    runtime: { cpuRequest: '3', cpuLimit: '6', memoryRequest: '6Gi', memoryLimit: '12Gi' },
    storage: { projects: '100Gi', data: '2Gi', logs: '10Gi', backups: '200Gi' },
    runtimeStorage: '40Gi',
  },
};

/** The Secrets the service declares (names are stable: rotation versions and `secretSources` use them). */
export const OUB_FACTORY_SECRET = 'oubliette-factory';
export const OUB_GITHUB_SECRET = 'oubliette-github';

const lowerCamel = z.string().regex(/^[a-z][a-zA-Z0-9]*$/, { error: 'secret names are lowerCamelCase' });
const vaultPath = z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)+$/, {
  error: 'must be a Vault path such as secret/oubliette/factory (mount/path, no leading or trailing slash)',
});

/**
 * Where a Secret of the service comes from (never its value): created by the operator, read from
 * Vault (external-secrets), or created by the Pulumi program from `stackbook:secrets.<configKey>`.
 * `stackbook:secretSources.<secret name>` may still override it (and carries the rotation version).
 */
export const oubSecretOrigin = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('existing') }),
  z.strictObject({
    source: z.literal('vault'),
    path: vaultPath,
    /** Vault property holding the value. @default the Secret key's name */
    property: z.string().regex(/^[-._a-zA-Z0-9]+$/, { error: 'must be a Vault property name' }).optional(),
  }),
  z.strictObject({ source: z.literal('pulumi'), configKey: lowerCamel }),
]);
export type OubSecretOrigin = z.infer<typeof oubSecretOrigin>;

const cron = z
  .string()
  .regex(/^\S+( \S+){4}$/, { error: 'must be a 5-field cron schedule such as "0 3 * * *"' })
  .superRefine((v, ctx) => {
    try {
      scheduleInterval(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `is not a usable cron schedule: ${(e as Error).message}` });
    }
  });
const labelKey = z.string().regex(LABEL_KEY, {
  error: 'must be a label key such as node-pool or example.com/pool',
});
const labelValue = z.string().regex(LABEL_VALUE, { error: 'must be a label value' });

export const oubService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default oub */
  namespace: dnsLabel.default('oub'),
  /** Host `<host>.<cluster.domain>` of the API (MCP endpoint). @default oubliette */
  host: dnsLabel.default('oubliette'),
  image: imageRef,
  /** OUB-13: more than one requires `storage.accessMode: ReadWriteMany`. @default 1 */
  replicas: z.int().min(1).max(10).default(1),
  /** OUB-11: the runbook's capacity row. @default light */
  capacity: z.enum(OUB_CAPACITY).default('light'),
  /** OUB-11: server container resources, overriding the preset. @default the preset's */
  resources: resources.optional(),
  /** OUB-6, OUB-11, OUB-13: the four claims (projects/, data/, logs/, backups/). */
  storage: z
    .strictObject({
      /** ReadWriteOnce: one node mounts them (maintenance jobs run beside the server); ReadWriteMany: shared. @default ReadWriteOnce */
      accessMode: z.enum(['ReadWriteOnce', 'ReadWriteMany']).default('ReadWriteOnce'),
      /** @default the cluster's default StorageClass (required with ReadWriteMany) */
      storageClass: dnsLabel.optional(),
      /** @default the preset's (10Gi / 50Gi / 100Gi) */
      projects: byteQuantity.optional(),
      /** SQLite `auth.db`. @default the preset's */
      data: byteQuantity.optional(),
      /** @default the preset's */
      logs: byteQuantity.optional(),
      /** Backup archives (7 of each). @default the preset's */
      backups: byteQuantity.optional(),
    })
    .default({ accessMode: 'ReadWriteOnce' }),
  /** OUB-10: the container runtime agent sessions run in (a rootful Docker-in-Docker sidecar, under sysbox-runc outside development). */
  runtime: z.strictObject({
    /** OUB-4: `CONTAINER_RUNTIME` (apple-container is macOS only and refused). @default auto */
    preference: z.enum(['auto', 'docker', 'apple-container']).default('auto'),
    /** Docker-in-Docker image (rootful; `-rootless` images are refused), e.g. docker.io/library/docker:28.3.3-dind. */
    image: imageRef,
    /**
     * Images of agent session containers (oubliette.jsonc `containers`), mirrored and relocated like
     * every other image. Required when air-gapped. @default the app's ghcr.io/hyphagroup/oubliette-{base,dev}:latest
     */
    sessionImages: z.strictObject({ base: imageRef, dev: imageRef }).optional(),
    /**
     * The mirror registry (cluster.registry) as the inner dockerd reaches it: the CIDRs its host
     * resolves to (egress on the registry's port) and the Secret with its CA. Required when air-gapped. @default none
     */
    registry: z
      .strictObject({
        cidrs: z.array(ipv4Cidr).min(1),
        caSecret: z.strictObject({ name: dnsLabel, /** @default ca.crt */ key: z.string().regex(/^[-._a-zA-Z0-9]+$/).default('ca.crt') }).optional(),
      })
      .optional(),
    /**
     * RuntimeClass of the pod. `sysbox-runc` (recommended in production) runs the runtime without
     * `privileged`. @default none (the cluster's default runtime; the runtime container is privileged)
     */
    runtimeClassName: dnsLabel.optional(),
    /** Dedicated node pool (required in staging and production): node labels and the pool's taints. @default none */
    nodePool: z
      .strictObject({
        nodeSelector: z.record(labelKey, labelValue).refine((r) => Object.keys(r).length > 0, { error: 'must name at least one node label' }),
        tolerations: z
          .array(
            z.strictObject({
              key: labelKey,
              /** @default Equal */
              operator: z.enum(['Equal', 'Exists']).default('Equal'),
              value: labelValue.optional(),
              effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
            }),
          )
          .default([]),
      })
      .optional(),
    /** Runtime container resources (the sessions run inside them), overriding the preset. @default the preset's */
    resources: resources.optional(),
    /** Size limit of the runtime's image and container storage (emptyDir). @default the preset's */
    storage: byteQuantity.optional(),
  }),
  /** OUB-4: recursion limits (`DEFAULT_MAX_*`, config.yaml `recursion`). */
  recursion: z
    .strictObject({
      /** @default 3 */
      maxDepth: z.int().min(1).max(10).default(3),
      /** @default 50 */
      maxAgents: z.int().min(1).max(1000).default(50),
      /** USD, two decimals. @default 10.00 */
      maxCostUsd: z.number().min(0.01).max(10000).multipleOf(0.01).default(10),
    })
    .default({ maxDepth: 3, maxAgents: 50, maxCostUsd: 10 }),
  /** OUB-6: the disk alerts' thresholds (the runbook's cleanup.disk_*_percent; the app's own are compiled in at 80 / 90). */
  cleanup: z
    .strictObject({
      /** @default 80 */
      diskWarnPercent: z.int().min(1).max(99).default(80),
      /** @default 90 */
      diskErrorPercent: z.int().min(1).max(99).default(90),
    })
    .default({ diskWarnPercent: 80, diskErrorPercent: 90 }),
  /** OUB-7: platform backups (verified, drilled, alerted) of projects/ and auth.db. */
  backup: z
    .strictObject({
      /** @default daily at 03:00 UTC */
      schedule: cron.default('0 3 * * *'),
      /** Newest archives kept. @default 7 */
      retention: z.int().min(1).max(365).default(7),
      /** @default Sundays 05:30 UTC */
      drillSchedule: cron.default('30 5 * * 0'),
      /** The app's own per-project backups (config.yaml `backup.enabled`) into backups/app. @default false (the platform backups replace them) */
      appBackups: z.boolean().default(false),
    })
    .default({ schedule: '0 3 * * *', retention: 7, drillSchedule: '30 5 * * 0', appBackups: false }),
  /** OUB-8, OUB-12: maintenance CronJobs. */
  maintenance: z
    .strictObject({
      /** logrotate policy run (the runbook's `daily`). @default 00:05 UTC daily */
      logRotateSchedule: cron.default('5 0 * * *'),
      /** SQLite `VACUUM` of auth.db. @default Sundays 04:00 UTC */
      vacuumSchedule: cron.default('0 4 * * 0'),
    })
    .default({ logRotateSchedule: '5 0 * * *', vacuumSchedule: '0 4 * * 0' }),
  /** OUB-9: seconds the server gets after SIGTERM to drain running sessions. @default 60 */
  drainSeconds: z.int().min(5).max(3600).default(60),
  /** OUB-14: run the one-off admin token Job. @default true */
  adminBootstrap: z.boolean().default(true),
  /** Where sessions may connect out (Factory API, GitHub, registries): CIDRs and ports (NetworkPolicy cannot name hosts). @default none */
  egress: z
    .array(
      z.strictObject({
        cidr: ipv4Cidr,
        /** Ranges inside `cidr` that stay closed (e.g. the cluster's private networks). @default none */
        except: z.array(ipv4Cidr).min(1).optional(),
        /** @default [443] */
        ports: z.array(port).min(1).default([443]),
      }),
    )
    .default([]),
  /** OUB-2: where `FACTORY_API_KEY` comes from (required, here or as `stackbook:secretSources.oubliette-factory`). */
  factoryApiKey: oubSecretOrigin.optional(),
  /** OUB-2: where `DEFAULT_GITHUB_TOKEN` comes from. @default none (not set) */
  githubToken: oubSecretOrigin.optional(),
});
export type OubService = z.infer<typeof oubService>;

/** Ranges a session's internet egress must never reach. */
export const OUB_PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'] as const;
const PRIVATE_RANGE_WHY: Record<(typeof OUB_PRIVATE_RANGES)[number], string> = {
  '10.0.0.0/8': 'RFC 1918',
  '172.16.0.0/12': 'RFC 1918',
  '192.168.0.0/16': 'RFC 1918',
  '169.254.0.0/16': 'link-local: cloud metadata endpoints',
  '100.64.0.0/10': 'RFC 6598 shared space: pod ranges under EKS custom networking',
};
export { cidrContains } from '../kube/network.js';

/** Cross-field rules of `services.oub`. */
export function oubRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.oub;
  if (svc === undefined || !svc.enabled) return [];
  const base = ['services', 'oub'];
  const out: RuleProblem[] = [...imageDigestRule(p, svc.image, [...base, 'image']), ...imageDigestRule(p, svc.runtime.image, [...base, 'runtime', 'image'])];
  for (const k of ['base', 'dev'] as const) {
    const ref = svc.runtime.sessionImages?.[k];
    if (ref) out.push(...imageDigestRule(p, ref, [...base, 'runtime', 'sessionImages', k]));
  }
  out.push(...hostLengthRule(p, svc.host, [...base, 'host']));
  // OUB-2: the server exits at start without FACTORY_API_KEY: its Secret must have a source.
  if (svc.factoryApiKey === undefined && p.secretSources?.[OUB_FACTORY_SECRET] === undefined) {
    out.push({
      path: [...base, 'factoryApiKey'],
      message:
        `required: the Factory API key (oubliette.jsonc credentials.factory; the server exits without it) needs a source: { source: existing } (you create Secret ${OUB_FACTORY_SECRET}, key api-key), ` +
        `{ source: vault, path: ... } or { source: pulumi, configKey: ... }, or stackbook:secretSources.${OUB_FACTORY_SECRET}`,
    });
  }
  // OUB-10: rootless dockerd needs a nested user namespace with subordinate IDs (100000:65536 in
  // the image) that Sysbox's 65536-ID pod namespace cannot map: the runtime is rootful.
  if (/rootless/.test(svc.runtime.image.tag)) {
    out.push({
      path: [...base, 'runtime', 'image'],
      message: `${svc.runtime.image.repository}:${svc.runtime.image.tag} is a rootless Docker image: its /etc/subuid range lies outside the 65536 IDs of a sysbox pod; use the rootful dind image (e.g. tag 28.3.3-dind)`,
    });
  }
  // OUB-10, X-12: air-gapped sessions pull their images from the mirror, through its port.
  if (p.cluster?.airgapped) {
    if (svc.runtime.sessionImages === undefined) {
      out.push({ path: [...base, 'runtime', 'sessionImages'], message: 'required when air-gapped: the session images (base, dev) to mirror; the app would pull ghcr.io/hyphagroup/oubliette-*:latest' });
    }
    if (svc.runtime.registry === undefined) {
      out.push({ path: [...base, 'runtime', 'registry'], message: 'required when air-gapped: the CIDRs of the mirror registry (egress on its port) and the Secret with its CA' });
    }
  }
  // OUB-1: an egress to a range that contains private networks must except all of them.
  svc.egress.forEach((e, i) => {
    for (const priv of OUB_PRIVATE_RANGES) {
      if (cidrContains(e.cidr, priv) && !(e.except ?? []).some((x) => cidrContains(x, priv))) {
        out.push({
          path: [...base, 'egress', i, 'except'],
          message: `${e.cidr} contains ${priv} (${PRIVATE_RANGE_WHY[priv]}), which is not excepted: add it to except`,
        });
      }
    }
  });
  // OUB-4: apple-container is Apple's macOS runtime.
  if (svc.runtime.preference === 'apple-container') {
    out.push({
      path: [...base, 'runtime', 'preference'],
      message: 'apple-container is the macOS container runtime and cannot run on Kubernetes (Linux nodes): use auto or docker',
    });
  }
  // OUB-13: replicas share projects/, data/ (SQLite) and logs/.
  if (svc.replicas > 1 && svc.storage.accessMode !== 'ReadWriteMany') {
    out.push({
      path: [...base, 'replicas'],
      message: `more than one replica needs shared storage: set storage.accessMode ReadWriteMany (with a storageClass that provides it); ${svc.storage.accessMode} volumes attach to one node`,
    });
  }
  if (svc.storage.accessMode === 'ReadWriteMany' && svc.storage.storageClass === undefined) {
    out.push({ path: [...base, 'storage', 'storageClass'], message: 'required with accessMode ReadWriteMany (name a StorageClass that provides shared volumes, e.g. NFS or EFS)' });
  }
  // OUB-10: the runtime relaxes the pod baseline: never on shared nodes outside development.
  if (p.tier !== undefined && p.tier !== 'development' && svc.runtime.nodePool === undefined) {
    out.push({
      path: [...base, 'runtime', 'nodePool'],
      message: `required in ${p.tier} stacks: the container runtime relaxes the pod security baseline and runs on a dedicated node pool (nodeSelector, tolerations)`,
    });
  }
  // OUB-6: the app warns before it errors.
  if (svc.cleanup.diskWarnPercent >= svc.cleanup.diskErrorPercent) {
    out.push({ path: [...base, 'cleanup', 'diskWarnPercent'], message: `must be below diskErrorPercent (${svc.cleanup.diskErrorPercent})` });
  }
  return out;
}

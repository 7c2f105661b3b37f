/**
 * Stack schema and cross-field rules of the AION service (runbook: see services/aion.ts).
 * Imported by ./schema.ts (the `services.aion` block) and ./config-rules.ts.
 *
 * The application side (gateway, control plane, module hosts, node pools, scaling, release) is
 * here; the data plane (`data:`) is ./aion-data-config.ts, judged by `aionDataRules` from `aionRules`.
 */
import { z } from 'zod';
import { aionData, aionDataRules } from './aion-data-config.js';
import type { PathSegment } from './load.js';
import { dnsLabel, imageRef, ipv4Cidr, resources, type ImageRef } from './primitives.js';
import { autoscalingRange, hostLengthRule, imageDigestRule, type RuleProblem, type StackParts } from './rule-helpers.js';
import { LABEL_KEY, LABEL_VALUE } from '../kube/names.js';

/** A label key (`nvidia.com/gpu.present`, `node.kubernetes.io/pool`). */
const labelKey = z
  .string()
  .max(253)
  .regex(LABEL_KEY, {
    error: 'must be a label key such as nvidia.com/gpu.present',
  });
/** A label value: at most 63 characters, alphanumerics and `-_.` inside. */
const labelValue = z.string().regex(LABEL_VALUE, { error: 'must be a label value (≤ 63 characters: letters, digits, - _ .)' });

/** A node taint this pool's pods tolerate. */
const toleration = z.strictObject({
  key: labelKey,
  /** `Exists` tolerates any value; `Equal` only `value`. @default Exists */
  operator: z.enum(['Equal', 'Exists']).default('Exists'),
  /** Required with `Equal`, refused with `Exists`. */
  value: labelValue.optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});

/** AION-1: how pods land on a node pool: the pool's node labels and the taints they tolerate. */
const nodePool = z.strictObject({
  /** Node labels the pods require. @default none */
  nodeSelector: z.record(labelKey, labelValue).default({}),
  /** Taints the pods tolerate. @default none */
  tolerations: z.array(toleration).default([]),
});
export type NodePool = z.infer<typeof nodePool>;

/** The GPU pool as the NVIDIA GPU operator labels it, tainted so that nothing else lands there. */
export const DEFAULT_GPU_POOL: NodePool = {
  nodeSelector: { 'nvidia.com/gpu.present': 'true' },
  tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
};
/** The CPU pool: any untainted node (GPU nodes are tainted, so CPU pods never land there). */
export const DEFAULT_CPU_POOL: NodePool = { nodeSelector: {}, tolerations: [] };

/** AION-16: a Prometheus-driven scaling range (KEDA ScaledObject). */
const replicaRange = {
  minReplicas: z.int().min(1).max(1000),
  maxReplicas: z.int().min(1).max(1000),
};

/** AION-3: one module host (a model or tool runtime). */
const moduleHost = z.strictObject({
  /** Deployment `aion-module-<name>`. */
  name: dnsLabel.max(40),
  image: imageRef,
  /** AION-1: the node pool it runs on. */
  pool: z.enum(['gpu', 'cpu']),
  /** GPUs per pod (`nvidia.com/gpu`, requests = limits). GPU pool only. @default 1 on the gpu pool */
  gpus: z.int().min(1).max(16).optional(),
  resources,
  /** Fixed replica count. @default 1 */
  replicas: z.int().min(1).max(100).default(1),
});
export type AionModule = z.infer<typeof moduleHost>;

export const aionService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default aion */
  namespace: dnsLabel.default('aion'),
  /**
   * AION-12: the release being deployed (e.g. `3.2.0`): label `app.kubernetes.io/version` on every
   * AION Deployment and pod, and the `kubernetes.io/change-cause` of each rollout revision.
   */
  release: labelValue.min(1, { error: 'must name the release, e.g. 3.2.0' }),
  /** AION-3: the public entry point. */
  gateway: z.strictObject({
    image: imageRef,
    /** Public host is `<host>.<cluster.domain>`. @default aion */
    host: dnsLabel.default('aion'),
    /** @default 250m/1 CPU, 256Mi/512Mi */
    resources: resources.default({ cpuRequest: '250m', cpuLimit: '1', memoryRequest: '256Mi', memoryLimit: '512Mi' }),
    /**
     * AION-16: scales on CPU (KEDA `cpu`). The runbook's p95-latency trigger needs a metric the
     * gateway does not expose (services/aion.contract.ts missingMetrics). @default 2–6 replicas, 70 % of the CPU request
     */
    autoscaling: z
      .strictObject({
        ...replicaRange,
        /** Target CPU use, percent of the CPU request. */
        cpuUtilization: z.int().min(1).max(100),
      })
      .default({ minReplicas: 2, maxReplicas: 6, cpuUtilization: 70 }),
  }),
  /** AION-3: kernel, proposals and approvals, webhooks; internal only. */
  controlPlane: z.strictObject({
    image: imageRef,
    /** @default 250m/1 CPU, 512Mi/1Gi */
    resources: resources.default({ cpuRequest: '250m', cpuLimit: '1', memoryRequest: '512Mi', memoryLimit: '1Gi' }),
    /**
     * AION-16: scales on CPU (KEDA `cpu`). The runbook's p95-latency and queue-depth triggers need
     * metrics the control plane does not expose (services/aion.contract.ts missingMetrics).
     * @default 2–6 replicas, 70 % of the CPU request
     */
    autoscaling: z
      .strictObject({
        ...replicaRange,
        /** Target CPU use, percent of the CPU request. */
        cpuUtilization: z.int().min(1).max(100),
      })
      .default({ minReplicas: 2, maxReplicas: 6, cpuUtilization: 70 }),
    /** Receivers of outbound webhooks (NetworkPolicy cannot name hosts): egress on 443. @default none */
    webhookEgressCidrs: z.array(ipv4Cidr).default([]),
  }),
  /** AION-3: the module hosts, each its own Deployment. At least one. */
  modules: z.array(moduleHost).min(1),
  /** AION-1: GPU and CPU node pools. @default gpu: `nvidia.com/gpu.present=true` + toleration `nvidia.com/gpu:NoSchedule`; cpu: any untainted node */
  nodePools: z
    .strictObject({
      gpu: nodePool.default(DEFAULT_GPU_POOL),
      cpu: nodePool.default(DEFAULT_CPU_POOL),
    })
    .default({ gpu: DEFAULT_GPU_POOL, cpu: DEFAULT_CPU_POOL }),
  /**
   * AION-17: where the Grafana dashboard ConfigMaps go (label `grafana_dashboard: "1"`). The Grafana
   * sidecar must watch this namespace (`searchNamespace`). @default the AION namespace
   */
  dashboardsNamespace: dnsLabel.optional(),
  /** The data plane (services/aion-data.ts). */
  data: aionData,
});
export type AionService = z.infer<typeof aionService>;

/** The Secrets whose source production may not take from Pulumi (AION-8: HMAC keys live in Vault). */
export const AION_VAULT_ONLY_SECRETS = ['aion-hooks'] as const;


const tolerates = (pool: NodePool, t: NodePool['tolerations'][number]): boolean =>
  pool.tolerations.some((o) => o.key === t.key && (o.effect === t.effect) && (o.operator === 'Exists' || o.value === t.value));

/** Cross-field rules of `services.aion`. */
export function aionRules(p: StackParts): RuleProblem[] {
  const svc = p.services?.aion;
  if (svc === undefined || !svc.enabled) return [];
  const base = ['services', 'aion'];
  const out: RuleProblem[] = [];

  // AION-16: autoscaling ranges.
  out.push(...autoscalingRange(svc.gateway.autoscaling, [...base, 'gateway', 'autoscaling']));
  out.push(...autoscalingRange(svc.controlPlane.autoscaling, [...base, 'controlPlane', 'autoscaling']));
  out.push(...hostLengthRule(p, svc.gateway.host, [...base, 'gateway', 'host']));

  // AION-3 / AION-1: module hosts.
  const seen = new Set<string>();
  svc.modules.forEach((m, i) => {
    const at = [...base, 'modules', i];
    if (seen.has(m.name)) out.push({ path: [...at, 'name'], message: `is used by two modules: module names must be unique` });
    seen.add(m.name);
    if (m.pool === 'cpu' && m.gpus !== undefined) out.push({ path: [...at, 'gpus'], message: 'is only for modules on the gpu pool (pool: cpu never requests GPUs)' });
  });

  // AION-1: GPU nodes are tainted so that only GPU hosts land there; CPU hosts never tolerate that taint.
  const { gpu, cpu } = svc.nodePools;
  for (const [name, pool] of [['gpu', gpu], ['cpu', cpu]] as const) {
    pool.tolerations.forEach((t, i) => {
      const at = [...base, 'nodePools', name, 'tolerations', i];
      if (t.operator === 'Equal' && t.value === undefined) out.push({ path: [...at, 'value'], message: 'required with operator Equal' });
      if (t.operator === 'Exists' && t.value !== undefined) out.push({ path: [...at, 'value'], message: 'must be unset with operator Exists (it tolerates every value)' });
    });
  }
  if (!gpu.tolerations.some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')) {
    out.push({
      path: [...base, 'nodePools', 'gpu', 'tolerations'],
      message: 'must tolerate the GPU nodes\' NoSchedule (or NoExecute) taint: untainted GPU nodes would take CPU pods',
    });
  }
  gpu.tolerations.forEach((t) => {
    if ((t.effect === 'NoSchedule' || t.effect === 'NoExecute') && tolerates(cpu, t)) {
      const i = cpu.tolerations.findIndex((o) => o.key === t.key);
      out.push({ path: [...base, 'nodePools', 'cpu', 'tolerations', i], message: `tolerates the GPU taint ${t.key}:${t.effect}: CPU hosts would land on GPU nodes` });
    }
  });
  for (const [k, v] of Object.entries(gpu.nodeSelector)) {
    if (cpu.nodeSelector[k] === v) out.push({ path: [...base, 'nodePools', 'cpu', 'nodeSelector', k], message: `selects GPU nodes (${k}=${v} is the gpu pool's label)` });
  }

  // AION-4: every AION image is pinned by digest where signatures are enforced or digests required.
  const images: [ImageRef, PathSegment[]][] = [
    [svc.gateway.image, [...base, 'gateway', 'image']],
    [svc.controlPlane.image, [...base, 'controlPlane', 'image']],
    ...svc.modules.map((m, i): [ImageRef, PathSegment[]] => [m.image, [...base, 'modules', i, 'image']]),
  ];
  for (const [image, path] of images) out.push(...imageDigestRule(p, image, path));

  if (p.tier === 'production') {
    // Highly available in production: no single replica anywhere on the request path.
    if (svc.gateway.autoscaling.minReplicas < 2) {
      out.push({ path: [...base, 'gateway', 'autoscaling', 'minReplicas'], message: 'must be ≥ 2 in production (the gateway is the only way in)' });
    }
    if (svc.controlPlane.autoscaling.minReplicas < 2) {
      out.push({ path: [...base, 'controlPlane', 'autoscaling', 'minReplicas'], message: 'must be ≥ 2 in production' });
    }
    svc.modules.forEach((m, i) => {
      if (m.replicas < 2) out.push({ path: [...base, 'modules', i, 'replicas'], message: `must be ≥ 2 in production (module ${m.name} would be a single point of failure)` });
    });
    // AION-8: the HMAC verification keys come from Vault secret/omertaos/hooks, never a Pulumi random.
    for (const name of AION_VAULT_ONLY_SECRETS) {
      const s = p.secretSources?.[name];
      if (s !== undefined && s.source === 'pulumi') {
        out.push({ path: ['secretSources', name, 'source'], message: 'must be vault (or existing) in production: the webhook HMAC verification keys live in Vault (secret/omertaos/hooks)' });
      }
    }
  }

  out.push(...aionDataRules(p, svc.data, [...base, 'data']));
  return out;
}

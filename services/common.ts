import type { Construct } from 'constructs';
import type { Peer } from '../components/network-policy.js';
import { ExternalRedis, Redis, REDIS_PORT, type RedisSource } from '../components/redis.js';
import type { WorkloadResources } from '../components/workload.js';
import type { Cluster } from '../stacks/schema.js';
import type { BuildContext, SecretHandle } from './types.js';

/** Who the ingress controller's traffic comes from: its namespace (nginx) or the ALB's VPC ranges. */
export function ingressPeers(cluster: Cluster): Peer[] {
  return cluster.ingressClass === 'alb'
    ? (cluster.loadBalancerCidrs ?? []).map((cidr) => ({ cidr }))
    : [{ namespace: cluster.ingressNamespace }];
}

/** Where a service's Redis runs: in the service's namespace (the Redis component), or elsewhere. */
export type ServiceRedisConfig =
  | {
      readonly mode: 'in-cluster';
      /** 1: a single primary; odd ≥ 3: replicated behind HAProxy (components/redis.ts). */
      readonly replicas: number;
      readonly persistence?: boolean | undefined;
      readonly storageSize?: string | undefined;
      readonly storageClassName?: string | undefined;
      readonly resources?: WorkloadResources | undefined;
    }
  | { readonly mode: 'external'; readonly host: string; readonly port: number; readonly cidrs: readonly string[] };

/**
 * A service's own Redis (X-5) and the Secret its clients read the URL from. In-cluster: the Secret
 * `secretName` holds a Pulumi-generated `password` and the `url` built around it
 * (`redis://:<password>@<name>.<namespace>.svc:6379<urlPath>`), and the Redis component runs beside
 * the clients. External: the operator (or Vault, via `secretSources`) provides `url`, and only the
 * clients' egress policies are rendered.
 */
export function serviceRedis(
  scope: Construct,
  ctx: BuildContext,
  o: {
    readonly config: ServiceRedisConfig;
    readonly namespace: string;
    /** Redis name (and client Service). */
    readonly name: string;
    readonly secretName: string;
    /** Client workloads (their `app.kubernetes.io/name`). */
    readonly clients: readonly string[];
    /** Runbook page of the alerts (`ctx.runbookUrl(service, anchor)`). */
    readonly service: string;
    /** Appended to the generated URL, e.g. `/0`. @default none */
    readonly urlPath?: string;
    /** Traced on the Secret. */
    readonly secretConcerns: readonly string[];
    /** Traced on the Redis objects. */
    readonly concerns: readonly string[];
  },
): { readonly source: RedisSource; readonly secret: SecretHandle } {
  const { config: c, namespace, name, secretName } = o;
  const cluster = ctx.stack.cluster;
  if (c.mode === 'external') {
    const secret = ctx.requireSecret({ name: secretName, namespace, keys: ['url'], source: 'existing', consumers: [...o.clients].sort(), concerns: o.secretConcerns });
    const source = new ExternalRedis(scope, 'Redis', {
      name,
      host: c.host,
      port: c.port,
      cidrs: c.cidrs,
      urlSecret: { name: secretName, key: 'url' },
      clients: o.clients.map((n) => ({ name: n, namespace })),
      concerns: o.concerns,
    });
    return { source, secret };
  }
  const secret = ctx.requireSecret({
    name: secretName,
    namespace,
    keys: ['password', 'url'],
    source: 'pulumi',
    pulumi: { password: { randomLength: 32 }, url: { template: `redis://:{password}@${name}.${namespace}.svc:${REDIS_PORT}${o.urlPath ?? ''}` } },
    // The Redis pods read the password too: the primary-only StatefulSet `<name>`, or the members `<name>-node` and HAProxy `<name>`.
    consumers: [...o.clients, name, ...(c.replicas > 1 ? [`${name}-node`] : [])].sort(),
    concerns: o.secretConcerns,
  });
  const source = new Redis(scope, 'Redis', {
    name,
    namespace,
    tier: ctx.stack.tier,
    image: ctx.platformImage('redis'),
    exporterImage: ctx.platformImage('redis-exporter'),
    passwordSecret: { name: secretName, key: 'password' },
    urlSecret: { name: secretName, key: 'url' },
    clients: o.clients.map((n) => ({ name: n })),
    replicas: c.replicas,
    ...(c.replicas > 1 ? { haproxyImage: ctx.platformImage('haproxy') } : {}),
    ...(c.persistence !== undefined ? { persistence: c.persistence } : {}),
    ...(c.storageSize !== undefined ? { storageSize: c.storageSize } : {}),
    ...(c.storageClassName !== undefined ? { storageClassName: c.storageClassName } : {}),
    ...(c.resources !== undefined ? { resources: c.resources } : {}),
    monitoringNamespace: cluster.monitoringNamespace,
    prometheusSelector: cluster.prometheusSelector,
    runbookUrl: (anchor) => ctx.runbookUrl(o.service, anchor),
    concerns: o.concerns,
  });
  return { source, secret };
}

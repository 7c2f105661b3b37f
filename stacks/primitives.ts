/**
 * Schema building blocks shared by the stack schema (./schema.ts) and the per-service schemas
 * (./osc-config.ts, ./ows-config.ts, ./oub-config.ts, ./aion-config.ts, ./aion-data-config.ts).
 * Kept apart so that those files can import them without an import cycle through schema.ts.
 */
import { z } from 'zod';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../kube/names.js';
import { IPV4_CIDR } from '../kube/network.js';
import { BYTE_QUANTITY, CPU_QUANTITY } from '../kube/quantity.js';
import type { ImageRef as KubeImageRef } from '../kube/image.js';

/** RFC 1123 label: Kubernetes names, namespaces, environment names. */
export const dnsLabel = z
  .string()
  .max(63)
  .regex(DNS_LABEL, { error: 'must be a DNS label (lowercase letters, digits, "-")' });

export const hostname = z
  .string()
  .max(253)
  // the length in the pattern too: a name over 253 characters fails both checks, as it always did
  .regex(new RegExp(`^(?=.{1,253}$)${DNS_SUBDOMAIN.source.slice(1)}`), {
    error: 'must be a lowercase DNS name',
  });

export const httpsUrl = z
  .url({ protocol: /^https$/, error: 'must be an https:// URL' });

export const ipv4Cidr = z
  .string()
  .regex(IPV4_CIDR, {
    error: 'must be an IPv4 CIDR such as 10.0.0.0/8',
  });

/** A `key=value` label written in config (e.g. a selector). */
export const labelPair = (example: string) =>
  z.string().regex(/^[a-z0-9./-]+=[A-Za-z0-9._-]+$/, { error: `must be a label such as ${example}` });

export const port = z.int().min(1).max(65535);

/** Kubernetes CPU quantity, e.g. `250m` or `2`. */
export const cpuQuantity = z.string().regex(CPU_QUANTITY, { error: 'must be a CPU quantity such as 250m or 2' });
/** Kubernetes memory/storage quantity, e.g. `512Mi`, `1Gi`. */
export const byteQuantity = z
  .string()
  .regex(BYTE_QUANTITY, { error: 'must be a byte quantity such as 512Mi or 1Gi' });

/**
 * An image reference: repository + tag, pinned by digest where one is given.
 * In staging, prod and air-gapped stacks the policy `image-digest` requires the digest.
 */
export const imageRef = z.strictObject({
  repository: z
    .string()
    .regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, {
      error: 'must be an image repository such as ghcr.io/acme/app (no tag, no digest)',
    }),
  tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, { error: 'must be an image tag' }),
  digest: z
    .string()
    .regex(/^sha256:[a-f0-9]{64}$/, { error: 'must be sha256:<64 lowercase hex digits>' })
    .optional(),
});
export type ImageRef = z.infer<typeof imageRef>;
/** The parsed config is exactly the ground floor's plain ImageRef (kube/image.ts), both ways. */
const imageRefsAgree: [ImageRef extends KubeImageRef ? true : false, KubeImageRef extends ImageRef ? true : false] = [true, true];
void imageRefsAgree;

export const resources = z.strictObject({
  cpuRequest: cpuQuantity,
  cpuLimit: cpuQuantity,
  memoryRequest: byteQuantity,
  memoryLimit: byteQuantity,
});
export type Resources = z.infer<typeof resources>;

/** X-2, OPE-7: an HPA range; cross-checked (min ≤ max) in rules.ts. */
export const autoscaling = z.strictObject({
  minReplicas: z.int().min(1).max(1000),
  maxReplicas: z.int().min(1).max(1000),
  /** Target average CPU utilisation, percent of the request. */
  cpuUtilization: z.int().min(1).max(100),
});
export type Autoscaling = z.infer<typeof autoscaling>;

/**
 * Which image repositories are public upstream projects (issue 14 item 1): nobody but the vendor can
 * store a signature next to them, so the stack's own release key can never verify them there; a
 * stack that enforces cosign admission runs them from its mirror (`cluster.registry`), re-signed.
 *
 * The registry + first path segment (canonical, see `canonicalRepository`) of every image the
 * components deploy (components/images.ts) and operators inject (OPERATOR_IMAGES), plus the official
 * Docker Hub images and Kubernetes' own registry. Listed by hand (components/images.ts imports most
 * components: deriving it here would make an import cycle); test/production-semantics.test.ts fails
 * when an image of either list is not covered.
 */
import { canonicalRepository } from './image-policy.js';

export const UPSTREAM_PREFIXES: readonly string[] = [
  'ghcr.io/cloudnative-pg/',
  'index.docker.io/amazon/',
  'index.docker.io/clickhouse/',
  'index.docker.io/keinos/',
  'index.docker.io/library/',
  'index.docker.io/oliver006/',
  'index.docker.io/qdrant/',
  'quay.io/jetstack/',
  'quay.io/minio/',
  'quay.io/strimzi/',
  'registry.k8s.io/',
];

/** Whether an image reference (or repository) is a public upstream one, judged on its canonical repository. */
export function isUpstream(reference: string): boolean {
  const repo = canonicalRepository(reference);
  return UPSTREAM_PREFIXES.some((p) => repo.startsWith(p));
}

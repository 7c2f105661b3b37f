/**
 * X-12: what an air-gapped bundle must satisfy, judged on the rendered objects themselves (not on
 * the config), so the guarantee holds for every image and URL any component renders, including
 * components added later:
 *  - every image is under the mirror registry and pinned by digest;
 *  - nothing references the public internet (ACME servers, public registries, public identity/JWKS
 *    hosts, any URL whose host is not private) unless `cluster.allowedExternalHosts` allows it.
 * `synth` runs `airgapProblems` for stacks with `cluster.airgapped: true` and refuses to write.
 */
import type { Manifest, Rendered } from './render.js';
import type { Stack } from '../stacks/schema.js';

export interface AirgapProblem {
  /** `Deployment ope/ope`, or `stack images` for an image the stack registered but no object shows. */
  readonly object: string;
  /** Where in the object: `spec.template.spec.containers[0].image`. */
  readonly path: string;
  readonly message: string;
}

export function formatAirgapProblem(p: AirgapProblem): string {
  return `${p.object}: ${p.path}: ${p.message}`;
}

type AnyRec = Record<string, any>;

export function objectRef(o: Manifest): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/** Paths of the pod spec of a workload object, if it has one. */
function podSpecPath(o: Manifest): { path: string; spec: AnyRec } | undefined {
  const spec = o.spec as AnyRec | undefined;
  switch (o.kind) {
    case 'Pod':
      return spec ? { path: 'spec', spec } : undefined;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return spec?.template?.spec ? { path: 'spec.template.spec', spec: spec.template.spec } : undefined;
    case 'CronJob':
      return spec?.jobTemplate?.spec?.template?.spec
        ? { path: 'spec.jobTemplate.spec.template.spec', spec: spec.jobTemplate.spec.template.spec }
        : undefined;
    default:
      return undefined;
  }
}

export interface RenderedImage {
  readonly object: string;
  readonly path: string;
  readonly image: string;
}

/**
 * Every image an object renders: the containers, init containers and ephemeral containers of pod
 * templates (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Pods), and any other string field
 * named `image` or `imageName` (operator custom resources such as CloudNativePG `spec.imageName`).
 */
export function renderedImages(objects: readonly Manifest[]): RenderedImage[] {
  const out: RenderedImage[] = [];
  for (const o of objects) {
    const seen = new Set<string>();
    const pod = podSpecPath(o);
    if (pod) {
      for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
        const list: AnyRec[] = Array.isArray(pod.spec[field]) ? pod.spec[field] : [];
        list.forEach((c, i) => {
          const path = `${pod.path}.${field}[${i}].image`;
          seen.add(path);
          out.push({ object: objectRef(o), path, image: typeof c.image === 'string' ? c.image : '' });
        });
      }
    }
    visitStrings(o, (value, key, pathOf) => {
      if (key !== 'image' && key !== 'imageName') return;
      const path = pathOf();
      if (!seen.has(path)) out.push({ object: objectRef(o), path, image: value });
    });
  }
  return out;
}

/** A step into a value: an object key or an array index. */
type Segment = string | number;
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** The dotted path of a list of steps: `spec.containers[0].env`, `data["config.yaml"]`. */
function pathOf(segments: readonly Segment[]): string {
  let p = '';
  for (const s of segments) {
    if (typeof s === 'number') p = `${p}[${s}]`;
    else p = PLAIN_KEY.test(s) ? `${p ? `${p}.` : ''}${s}` : `${p}[${JSON.stringify(s)}]`;
  }
  return p;
}

/**
 * Calls `visit` for every string value (not keys) inside `v`, with the field name it sits under
 * (an array's items sit under the array's field) and its path, built only when asked for: most
 * strings are judged on their value alone. `path()` is valid during that `visit` call only.
 */
function visitStrings(v: unknown, visit: (value: string, key: string | undefined, path: () => string) => void): void {
  const segments: Segment[] = [];
  const path = () => pathOf(segments);
  const walk = (x: unknown, key: string | undefined): void => {
    if (typeof x === 'string') visit(x, key, path);
    else if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) {
        segments.push(i);
        walk(x[i], key);
        segments.pop();
      }
    } else if (x !== null && typeof x === 'object') {
      for (const k of Object.keys(x)) {
        segments.push(k);
        walk((x as AnyRec)[k], k);
        segments.pop();
      }
    }
  };
  walk(v, undefined);
}

export const DIGEST_PINNED = /@sha256:[a-f0-9]{64}$/;

/**
 * Hosts that are on the public internet by definition: public registries, ACME CAs, Sigstore's
 * public instances and well-known identity providers. Each entry covers its subdomains. Found
 * anywhere in a string (not only in URLs), e.g. `docker.io/library/nginx` in an argument.
 */
export const KNOWN_PUBLIC_HOSTS: readonly string[] = [
  // registries
  'docker.io', 'docker.com', 'ghcr.io', 'quay.io', 'gcr.io', 'pkg.dev', 'registry.k8s.io', 'k8s.gcr.io',
  'public.ecr.aws', 'mcr.microsoft.com', 'nvcr.io', 'registry.gitlab.com', 'cgr.dev', 'registry.redhat.io',
  // ACME CAs
  'letsencrypt.org', 'api.buypass.com', 'acme.zerossl.com', 'pki.goog',
  // Sigstore public good instances (Fulcio, Rekor, TUF)
  'sigstore.dev',
  // identity providers / JWKS hosts
  'accounts.google.com', 'googleapis.com', 'login.microsoftonline.com', 'okta.com', 'auth0.com',
  'github.com', 'githubusercontent.com', 'gitlab.com', 'amazonaws.com', 'amazoncognito.com',
];

/**
 * Top-level names that never resolve on the public internet: RFC 6761/6762/8375 special-use names,
 * ICANN's private-use `.internal`, Kubernetes cluster DNS, and TLDs ICANN keeps undelegated for
 * private networks (`.corp`, `.home`, `.lan`, `.intranet`, `.private`).
 */
export const PRIVATE_SUFFIXES: readonly string[] = [
  'internal', 'local', 'localhost', 'home.arpa', 'test', 'invalid', 'example', 'svc', 'cluster.local',
  'corp', 'home', 'lan', 'intranet', 'private',
];

function under(host: string, suffix: string): boolean {
  return host === suffix || host.endsWith(`.${suffix}`);
}

function privateIpv4(host: string): boolean | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
}

function privateIpv6(host: string): boolean | undefined {
  if (!host.includes(':')) return undefined;
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === '::1' || /^f[cd][0-9a-f]{2}:/.test(h) || /^fe[89ab][0-9a-f]:/.test(h);
}

/** The hosts a stack declares as its own or allowed: cluster domain, mirror registry, `allowedExternalHosts`. */
export function ownHosts(cluster: Stack['cluster']): string[] {
  const own = [cluster.domain, ...(cluster.allowedExternalHosts ?? [])];
  if (cluster.registry) own.push(cluster.registry.split('/')[0]!.replace(/:\d+$/, ''));
  return own.map((h) => h.toLowerCase());
}

/**
 * Whether a host is reachable without the public internet for this stack.
 * @param own @default ownHosts(cluster) (a caller judging many strings computes it once)
 */
export function isPrivateHost(host: string, cluster: Stack['cluster'], own: readonly string[] = ownHosts(cluster)): boolean {
  const h = host.toLowerCase().replace(/\.$/, '').replace(/:\d+$/, '');
  const v6 = privateIpv6(h);
  if (v6 !== undefined) return v6;
  const v4 = privateIpv4(h);
  if (v4 !== undefined) return v4;
  if (!h.includes('.')) return true; // a cluster-local short name (`ope`, `ope.ope` resolves via search domains)
  if (own.some((o) => under(h, o))) return true;
  return PRIVATE_SUFFIXES.some((s) => under(h, s));
}

const URL_RE = /\b([a-z][a-z0-9+.-]*):\/\/(?:[^@\s/]*@)?(\[[0-9a-fA-F:.]+\]|[^\s/:?#"'<>,;)]+)/gi;
/** A DNS name at a "host position": not preceded by a path or another name. */
const HOST_TOKEN_RE = /(?<![A-Za-z0-9.\-/_:@])([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)(?![A-Za-z0-9-])/gi;
/** Fields whose whole value is a host name (Ingress rules/tls, Certificates, ExternalName Services). */
const HOST_FIELDS = new Set(['host', 'hosts', 'hostname', 'dnsNames', 'commonName', 'externalName']);
/** Fields that name an API or a type, never a host (`cert-manager.io/v1`); the value is not echoed (it may hold credentials). */
const SKIP_FIELDS = new Set(['apiVersion', 'kind']);

/**
 * The public hosts one string references, per the rules above.
 * @param own @default ownHosts(cluster) (a caller judging many strings computes it once)
 */
export function publicHostsIn(value: string, key: string | undefined, cluster: Stack['cluster'], own: readonly string[] = ownHosts(cluster)): string[] {
  // Every rule needs a dot (a host name, an IPv4 address) or a colon (`://`, an IPv6 address):
  // a string with neither (most label values, names, numbers) references no host.
  if (!value.includes('.') && !value.includes(':')) return [];
  const found = new Set<string>();
  for (const m of value.matchAll(URL_RE)) {
    const host = m[2]!;
    if (!isPrivateHost(host, cluster, own)) found.add(host.toLowerCase());
  }
  if (key !== undefined && HOST_FIELDS.has(key)) {
    const host = value.replace(/^\*\./, '');
    if (/^[A-Za-z0-9.-]+$/.test(host) && !isPrivateHost(host, cluster, own)) found.add(host.toLowerCase());
  }
  for (const m of value.matchAll(HOST_TOKEN_RE)) {
    const host = m[1]!.toLowerCase();
    if (own.some((o) => under(host, o))) continue;
    if (KNOWN_PUBLIC_HOSTS.some((p) => under(host, p))) found.add(host);
  }
  return [...found].sort();
}

/**
 * Every reason a rendered stack cannot be carried into an air-gapped cluster, sorted by object
 * and path. Judged against `r.stack.cluster` (`registry`, `domain`, `allowedExternalHosts`) whether
 * or not the stack is marked air-gapped; `synth` calls it for air-gapped stacks.
 */
export function airgapProblems(r: Rendered): AirgapProblem[] {
  const cluster = r.stack.cluster;
  const registry = cluster.registry;
  const out: AirgapProblem[] = [];
  const images = renderedImages(r.objects);
  for (const i of images) {
    const quoted = JSON.stringify(i.image);
    if (!DIGEST_PINNED.test(i.image)) {
      out.push({ object: i.object, path: i.path, message: `image ${quoted} is not pinned by digest (@sha256:...): configure the image's digest` });
    }
    if (registry === undefined) {
      out.push({ object: i.object, path: i.path, message: `image ${quoted} cannot be relocated: cluster.registry (the mirror) is not set` });
    } else if (!i.image.startsWith(`${registry}/`)) {
      out.push({ object: i.object, path: i.path, message: `image ${quoted} is not from the mirror ${registry}` });
    }
  }
  r.images.forEach((use, n) => {
    if (use.digest === undefined) {
      out.push({ object: 'stack images', path: `images[${n}]`, message: `image ${JSON.stringify(use.source)} has no digest: it cannot be mirrored by digest` });
    }
  });
  const imagePaths = new Set(images.map((i) => `${i.object}\0${i.path}`));
  const own = ownHosts(cluster);
  for (const o of r.objects) {
    const ref = objectRef(o);
    visitStrings(o, (value, key, pathOf) => {
      if (key !== undefined && SKIP_FIELDS.has(key)) return;
      const hosts = publicHostsIn(value, key, cluster, own);
      if (hosts.length === 0) return;
      const path = pathOf();
      if (imagePaths.has(`${ref}\0${path}`)) return; // judged above, with a better message
      for (const host of hosts) {
        out.push({
          object: ref,
          path,
          message: `references the public host ${host}: unreachable from an air-gapped cluster; use a private endpoint or list it in cluster.allowedExternalHosts`,
        });
      }
    });
  }
  return out.sort((a, b) => (a.object === b.object ? (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) : a.object < b.object ? -1 : 1));
}

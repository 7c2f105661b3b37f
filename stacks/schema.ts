/**
 * The one typed model of a stack (an environment). Both the CLI (reading
 * `stacks/Pulumi.<env>.yaml` directly) and the Pulumi program (`pulumi.Config`)
 * feed the same raw object through `parseStack` in ./load.ts, so they cannot
 * disagree about what a stack means.
 *
 * Every object is strict: an unknown key is a typo and is rejected, never ignored.
 * Every optional field carries its default here, next to the runbook line it comes from.
 */
import { z } from 'zod';
import { TIERS } from '../kube/tier.js';

export {
  autoscaling,
  byteQuantity,
  cpuQuantity,
  dnsLabel,
  hostname,
  httpsUrl,
  imageRef,
  ipv4Cidr,
  labelPair,
  port,
  resources,
  type Autoscaling,
  type ImageRef,
  type Resources,
} from './primitives.js';
import { autoscaling, dnsLabel, hostname, httpsUrl, imageRef, ipv4Cidr, labelPair, resources } from './primitives.js';
import { aionService } from './aion-config.js';
import { oscService } from './osc-config.js';
import { oubService } from './oub-config.js';
import { owsService } from './ows-config.js';

const issuer = z.discriminatedUnion('kind', [
  z.strictObject({
    /** ACME (e.g. Let's Encrypt) with HTTP-01 through the ingress class; public clusters only. */
    kind: z.literal('acme'),
    email: z.email({ error: 'must be an e-mail address' }),
    /** @default Let's Encrypt production */
    server: httpsUrl.default('https://acme-v02.api.letsencrypt.org/directory'),
  }),
  z.strictObject({
    /**
     * A private CA whose key pair is the Secret `secretName` in cert-manager's namespace. Give an
     * INTERMEDIATE CA issued for this cluster, never the corporate root: cert-manager keeps the key
     * in a cluster Secret, where anyone who can read it can sign for any name the root is trusted
     * for; an intermediate can be path- and name-constrained, short-lived, and revoked alone.
     * (`tls.crt` holds the intermediate followed by its chain; `tls.key` its key.)
     */
    kind: z.literal('ca'),
    secretName: dnsLabel,
  }),
  z.strictObject({
    /**
     * AWS Certificate Manager, for ingressClass alb: the AWS Load Balancer Controller serves only ACM
     * certificates (`alb.ingress.kubernetes.io/certificate-arn`, or ACM discovery by the Ingress TLS
     * hosts), never a cert-manager TLS Secret; no cert-manager Certificate or HTTP-01 solver is rendered.
     */
    kind: z.literal('acm'),
    /**
     * ACM certificate ARNs covering every host `<service>.<domain>` (e.g. a `*.<domain>` wildcard).
     * Required in production. @default none: the controller discovers certificates by host
     */
    certificateArns: z
      .array(z.string().regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/, { error: 'must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)' }))
      .min(1)
      .optional(),
  }),
]);

/**
 * Vault as seen by external-secrets: one ClusterSecretStore (KV engine, Kubernetes auth) that every
 * `vault`-sourced Secret is read through. Required as soon as one Secret's source is `vault`.
 */
export const vaultConnection = z.strictObject({
  /** Vault address, e.g. `https://vault.corp.internal:8200`. */
  server: httpsUrl,
  /** ClusterSecretStore name. @default vault */
  storeName: dnsLabel.default('vault'),
  /** Mount of the KV secrets engine; every secret path starts with it. @default secret */
  mountPath: z
    .string()
    .regex(/^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/, { error: 'must be a KV mount such as secret or kv/team (no leading or trailing slash)' })
    .default('secret'),
  /** KV engine version. @default v2 */
  kvVersion: z.enum(['v1', 'v2']).default('v2'),
  /** Vault Enterprise namespace. @default none */
  namespace: z.string().min(1).optional(),
  /** Kubernetes auth method: the Vault role, where the method is mounted, the ServiceAccount that logs in. */
  auth: z.strictObject({
    role: z.string().min(1),
    /** @default kubernetes */
    mountPath: z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9_./-]*$/, { error: 'must be a Vault auth mount path' }).default('kubernetes'),
    /** @default the external-secrets controller's own ServiceAccount */
    serviceAccount: z.strictObject({ name: dnsLabel, namespace: dnsLabel, audiences: z.array(z.string().min(1)).min(1).optional() }).optional(),
  }),
  /**
   * CA bundle of the Vault server certificate, from a ConfigMap or Secret (ClusterSecretStore
   * `caProvider`). Required when the Vault host is private (`.internal`, `.corp`, a private IP...) or
   * the cluster is air-gapped: no public CA signs such a host, and without it no ExternalSecret syncs.
   * @default the controller's trust store (public Vault hosts only)
   */
  ca: z
    .strictObject({
      kind: z.enum(['ConfigMap', 'Secret']),
      name: dnsLabel,
      namespace: dnsLabel,
      key: z.string().regex(/^[-._a-zA-Z0-9]+$/, { error: 'must be a data key such as ca.crt' }),
    })
    .optional(),
});
export type VaultConnection = z.infer<typeof vaultConnection>;

/**
 * X-7 (AION-4, OSC-16): cosign signature admission by sigstore policy-controller. Verification is
 * key-based and offline (no Rekor, Fulcio or TUF); see components/image-policy.ts.
 */
export const signing = z.strictObject({
  /** Public keys whose signatures are accepted (any one suffices; list old and new while rotating). */
  keys: z
    .array(
      z.strictObject({
        /** Authority name, unique. */
        name: dnsLabel,
        /** PKIX PEM public key as printed by `cosign public-key` (never the private key). */
        publicKey: z.string().regex(/^\s*-----BEGIN PUBLIC KEY-----\r?\n(?:[A-Za-z0-9+/=]{1,76}\r?\n)+-----END PUBLIC KEY-----\s*$/, {
          error: 'must be a PEM public key (-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----), as printed by `cosign public-key`',
        }),
      }),
    )
    .min(1),
  /** `enforce` rejects unsigned images, `warn` admits them with a warning. @default enforce when tier is production or the cluster is air-gapped, else warn */
  mode: z.enum(['enforce', 'warn']).optional(),
  /** policy-controller globs of the images that must be signed. @default one glob per repository the stack deploys */
  images: z
    .array(z.string().regex(/^[a-zA-Z0-9\-_:/*.]+$/, { error: 'must be a policy-controller glob (letters, digits, - _ : / * .)' }))
    .min(1)
    .optional(),
  /**
   * Images the operators inject into pods of opted-in namespaces, which no object of the bundle
   * names: the CloudNativePG operator image (each instance's `bootstrap-controller` init container),
   * the Strimzi operator image (entity operator: topic and user operators), cert-manager's ACME
   * HTTP-01 solver. Pin them (`digest`) to what the operators are configured to run; with
   * `cluster.registry` they are the mirrored copies, signed with your key like every other image.
   * A name no rendered object needs is ignored. @default the components' versions, by tag
   */
  operatorImages: z
    .partialRecord(
      z.enum(['cloudnative-pg', 'strimzi-operator', 'cert-manager-acmesolver']),
      z.strictObject({ repository: imageRef.shape.repository.optional(), tag: imageRef.shape.tag.optional(), digest: imageRef.shape.digest }),
    )
    .default({}),
});
export type Signing = z.infer<typeof signing>;

export const cluster = z.strictObject({
  /** Ingress controller: annotations and class differ per controller. */
  ingressClass: z.enum(['nginx', 'alb']),
  /** IngressClass name where the cluster's differs from the convention. @default `nginx`, `nginx-internal` (internal exposure) or `alb` */
  ingressClassName: dnsLabel.optional(),
  /** `internal`: no public load balancer (internal ALB scheme / internal nginx class). */
  exposure: z.enum(['public', 'internal']),
  /** Services are exposed as `<host>.<domain>`. */
  domain: hostname,
  issuer,
  /** The bundle is carried into a cluster with no internet access. @default false */
  airgapped: z.boolean().default(false),
  /**
   * Private registry the stack controls that mirrors images, e.g. `registry.corp.internal:5000/mirror`
   * (`<registry>/<original repository>`). Air-gapped: every image comes from it. Otherwise the
   * upstream platform and operator images do (first-party images stay where they are): copy them with
   * their signatures re-made by your release key (`cosign copy`, `cosign sign --key`), because nobody
   * can store your signature next to `docker.io/library/redis`. Required when air-gapped, and when
   * cosign admission enforces (production). @default none
   */
  registry: z
    .string()
    .regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, { error: 'must be a registry host with optional path' })
    .optional(),
  /**
   * X-12: hosts (each with its subdomains) outside the cluster's network that an air-gapped bundle may
   * still reference, e.g. a documentation site reachable from operators' desks. Everything else that is
   * not private (the cluster domain, the registry, `.internal`/`.local`/`.svc`..., private IPs) fails synth.
   * @default none
   */
  allowedExternalHosts: z.array(hostname).default([]),
  /** Namespace of the ingress controller pods (allowed in by NetworkPolicies). @default ingress-nginx */
  ingressNamespace: dnsLabel.default('ingress-nginx'),
  /**
   * The subnets the ALB's network interfaces are placed in (ALB with target-type ip connects straight
   * to pods, from these addresses, not from a namespace): the NetworkPolicies admit exactly these on
   * the public app ports. Never the VPC range: every pod and host in it would bypass the ALB. A block
   * that holds the API server endpoints (`kubeApiCidrs`) or is wider than /20 is refused; the
   * `ingress-from-load-balancer` policy refuses any ingress ipBlock wider than these. Required with ingressClass alb.
   */
  loadBalancerCidrs: z.array(ipv4Cidr).min(1).optional(),
  /** Namespace of Prometheus (allowed in to scrape). @default monitoring */
  monitoringNamespace: dnsLabel.default('monitoring'),
  /** Where cluster DNS runs, for the always-allowed DNS egress. @default kube-system / k8s-app=kube-dns */
  dns: z
    .strictObject({ namespace: dnsLabel, podLabel: labelPair('k8s-app=kube-dns') })
    .default({ namespace: 'kube-system', podLabel: 'k8s-app=kube-dns' }),
  /** Label of the Prometheus instance that selects ServiceMonitors/PrometheusRules. @default release=prometheus */
  prometheusSelector: labelPair('release=prometheus').default('release=prometheus'),
  /** Base URL of the runbook pages linked from every alert's `runbook_url`. @default https://stackbook.example.com/runbooks */
  runbookBaseUrl: z.url({ protocol: /^https?$/ }).default('https://stackbook.example.com/runbooks'),
  /** cosign admission (ClusterImagePolicy + namespaces opted in). Required in production and air-gapped stacks. @default none */
  signing: signing.optional(),
  /**
   * Endpoints of the Kubernetes API server (the `kubernetes` Service's endpoints, or the managed
   * control plane's range), for the egress of operator-managed pods that talk to it (CloudNativePG
   * instances, Strimzi brokers). Required when a stack runs in-cluster PostgreSQL or Kafka. @default none
   */
  kubeApiCidrs: z.array(ipv4Cidr).min(1).optional(),
  /** Vault for `vault`-sourced Secrets (external-secrets ClusterSecretStore). @default none (no Secret may use vault) */
  vault: vaultConnection.optional(),
});
export type Cluster = z.infer<typeof cluster>;

/** OIDC for OPE (OPE-3): required in production; egress to the issuer is opened to `egressCidrs` on 443. */
const oidc = z.strictObject({
  issuer: httpsUrl,
  audience: z.string().min(1),
  jwksUrl: httpsUrl,
  /** CIDRs of the issuer/JWKS endpoints (NetworkPolicy cannot name hosts). */
  egressCidrs: z.array(ipv4Cidr).min(1),
});

/** Options Pricing Engine (runbook 003). */
export const opeService = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** @default ope */
  namespace: dnsLabel.default('ope'),
  /** Public host is `<host>.<cluster.domain>`. @default ope */
  host: dnsLabel.default('ope'),
  image: imageRef,
  /**
   * OPE-1: uvicorn worker processes per pod. The runbook recommends 2–4, but the app at fbe159d serves
   * /metrics from one process and keeps rate-limit counters per process, and upstream 6e82acc runs
   * exactly one: more than one needs `multiprocessMetrics` (services/ope.contract.ts). @default 1
   */
  workers: z.int().min(1, { error: 'OPE runs 1–4 uvicorn workers' }).max(4, { error: 'OPE runs 1–4 uvicorn workers' }).default(1),
  /**
   * Issue 14 #10: the image's /metrics aggregates all workers (prometheus_client MultiProcessCollector),
   * an app change the upstream code at fbe159d lacks. Renders `PROMETHEUS_MULTIPROC_DIR` on an
   * emptyDir when `workers` > 1. @default false
   */
  multiprocessMetrics: z.boolean().default(false),
  /** OPE-2: `OPE_THREADS`, pricing thread pool size. @default 4 */
  threads: z.int().min(1).max(256).default(4),
  /** OPE-2/OPE-8: `OPE_THREAD_QUEUE_MAX`, back-pressure queue length. @default 64 */
  threadQueueMax: z.int().min(1).max(100000).default(64),
  /** OPE-8: latency-sensitive environments must keep the queue short (≤ 32). @default true in production, else false */
  latencySensitive: z.boolean().optional(),
  /** OPE-2: `RATE_LIMIT_DEFAULT`, e.g. `100/minute`. @default 120/minute */
  rateLimitDefault: z
    .string()
    .regex(/^\d+\/(second|minute|hour|day)$/, { error: 'must look like 100/minute' })
    .default('120/minute'),
  /** OPE-2: `MAX_BODY_BYTES`. @default 1048576 (1 MiB) */
  maxBodyBytes: z.int().min(1024).max(64 * 1024 * 1024).default(1048576),
  /** OPE-3: required in production. */
  oidc: oidc.optional(),
  /** OPE-7: @default 2–6 replicas at 70 % CPU */
  autoscaling: autoscaling.default({ minReplicas: 2, maxReplicas: 6, cpuUtilization: 70 }),
  /** @default 250m/1 CPU, 256Mi/512Mi */
  resources: resources.default({ cpuRequest: '250m', cpuLimit: '1', memoryRequest: '256Mi', memoryLimit: '512Mi' }),
});
export type OpeService = z.infer<typeof opeService>;

/** The five runbooks, one block each (`stackbook:services.<key>`); a service without a block is not deployed. */
export const services = z.strictObject({
  osc: oscService.optional(),
  ows: owsService.optional(),
  oub: oubService.optional(),
  ope: opeService.optional(),
  aion: aionService.optional(),
});

export const tier = z.enum(TIERS);

/**
 * Pulumi config secrets (`pulumi config set --secret --path 'stackbook:secrets.<name>' <value>`).
 * The CLI sees them encrypted (`{ secure: ... }`) and never needs them; the Pulumi program sees
 * the decrypted string and keeps it secret in state. Never echoed in an error message.
 */
export const secretValues = z.record(
  z.string().regex(/^[a-z][a-zA-Z0-9]*$/, { error: 'secret names are lowerCamelCase' }),
  z.union([z.string().min(1), z.strictObject({ secure: z.string().min(1) })]),
);

/** Rotation counter of a Secret: bump it to roll every pod that reads the Secret (OUB-15, AION-11). @default 1 */
const rotationVersion = z.int().min(1).max(1_000_000).default(1);
const secretDataKey = z.string().regex(/^[-._a-zA-Z0-9]+$/, { error: 'must be a Secret key ([-._a-zA-Z0-9])' });

/**
 * Where one Secret comes from in this stack, overriding the source its service declares. Keys are
 * Secret names (`stackbook:secretSources.<secret-name>`); a name no enabled service declares is an
 * error at render. Never holds a value: values live in Pulumi config secrets, Vault, or the cluster.
 */
export const secretSource = z.discriminatedUnion('source', [
  z.strictObject({
    /** Created by the Pulumi program: random values, or `stackbook:secrets.<configKey>`. */
    source: z.literal('pulumi'),
    version: rotationVersion,
    /**
     * Per key: `{randomLength}`, `{configKey}` or `{template}` (built from other keys of the Secret,
     * `{key}` replaced by its URL-encoded value). Merged over what the service declares, key by key.
     * @default what the service declares
     */
    values: z
      .record(
        secretDataKey,
        z.union([
          z.strictObject({ randomLength: z.int().min(16).max(1024) }),
          z.strictObject({ configKey: z.string().regex(/^[a-z][a-zA-Z0-9]*$/, { error: 'secret names are lowerCamelCase' }) }),
          z.strictObject({ template: z.string().min(1).max(2048).regex(/\{[-._a-zA-Z0-9]+\}/, { error: 'must reference at least one other key as {key}' }) }),
        ]),
      )
      .optional(),
  }),
  z.strictObject({
    /** Synchronised by external-secrets from Vault (needs `cluster.vault`). */
    source: z.literal('vault'),
    version: rotationVersion,
    /** Vault path including the KV mount, e.g. `secret/omertaos/hooks`. */
    path: z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)+$/, {
      error: 'must be a Vault path such as secret/omertaos/hooks (mount/path, no leading or trailing slash)',
    }),
    /** Vault property per Secret key. @default the key's own name */
    properties: z.record(secretDataKey, z.string().min(1)).optional(),
    /** How often external-secrets re-reads Vault. @default 1h */
    refreshInterval: z
      .string()
      .regex(/^(?=.*[1-9])(\d+h)?(\d+m)?(\d+s)?$/, { error: 'must be a positive duration such as 1h, 15m or 1h30m' })
      .default('1h'),
  }),
  z.strictObject({
    /** Created out of band by the operator (listed in secrets.json). */
    source: z.literal('existing'),
    version: rotationVersion,
  }),
]);
export type SecretSource = z.infer<typeof secretSource>;
export const secretSources = z.record(dnsLabel, secretSource);

/**
 * Overrides of the platform images the components deploy (Redis, exporters, data stores, backup
 * tools), keyed by the name the service asks for (`redis`, `redis-exporter`, `postgres`...): pin
 * the digest (required wherever digests are, see rules.ts), or move to another tag or repository.
 * A name no enabled service uses is an error at render.
 */
export const platformImages = z.record(
  dnsLabel,
  z.strictObject({
    repository: imageRef.shape.repository.optional(),
    tag: imageRef.shape.tag.optional(),
    digest: imageRef.shape.digest,
  }),
);
export type PlatformImages = z.infer<typeof platformImages>;

/** The whole stack: what `config: stackbook:<key>` holds in `stacks/Pulumi.<env>.yaml`. */
export const stackSchema = z.strictObject({
  /** Platform image pins and overrides (see `platformImages`). @default the components' images, by tag */
  images: platformImages.default({}),
  /** Pulumi config secrets by name. @default none */
  secrets: secretValues.default({}),
  /** Source and rotation version per Secret name (see `secretSource`). @default the services' declared sources, version 1 */
  secretSources: secretSources.default({}),
  /** Environment name, used in labels and stack outputs. */
  environment: dnsLabel,
  /** Production-tier stacks get the strict rules (OIDC, enforce cosign, digests...). */
  tier,
  cluster,
  services,
});
export type Stack = z.infer<typeof stackSchema>;
export type StackInput = z.input<typeof stackSchema>;

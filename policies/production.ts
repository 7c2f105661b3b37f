/**
 * Issue 14 (production semantics): rules over rendered objects for what a real cluster would break
 * although every schema and static check passes. Each judges only what the objects themselves say
 * (annotations set by synth/render.ts carry the stack facts), so the Pulumi policy pack judges
 * deployed objects exactly as `synth` does.
 */
import { canonicalRepository, globMatches, IMAGE_POLICY_INCLUDE_LABEL, OPERATOR_IMAGES, OPERATOR_IMAGES_ANNOTATION } from '../components/image-policy.js';
import { ALB_READINESS_GATE_LABEL } from '../components/namespace.js';
import { LOAD_BALANCER_CIDRS_ANNOTATION } from '../components/network-policy.js';
import { isUpstream } from '../components/upstream.js';
import { podLabelsOf, podSpecOf, type Obj, type Rule } from './model.js';
import { isPrivateName } from '../kube/names.js';
import { cidrContains } from '../kube/network.js';

type AnyRec = Record<string, any>;
type Out = ReturnType<Rule['check']>;

const spec = (o: Obj): AnyRec => (o.spec ?? {}) as AnyRec;
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>): boolean =>
  selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** cert-manager's HTTP-01 solver pods (pkg/apis/acme/v1/types.go:60, pkg/issuer/acme/http/http.go:49 at 2d0d7f7f). */
const SOLVER_LABEL = 'acme.cert-manager.io/http01-solver';
const SOLVER_PORT = 8089;

/** Names of the ClusterIssuers that solve ACME challenges over HTTP-01. */
function http01Issuers(objects: readonly Obj[]): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const o of objects) {
    if (o.kind !== 'ClusterIssuer') continue;
    if ((spec(o).acme?.solvers ?? []).some((s: AnyRec) => s.http01 !== undefined)) out.set(o.metadata.name, o);
  }
  return out;
}

function isDefaultDenyIngress(np: Obj): boolean {
  const s = spec(np);
  return Object.keys(s.podSelector?.matchLabels ?? {}).length === 0 && !(s.podSelector?.matchExpressions?.length > 0) && (s.policyTypes ?? []).includes('Ingress') && (s.ingress ?? []).length === 0;
}

/** Whether a NetworkPolicy admits someone to the solver pods on the solver port. */
function admitsSolver(np: Obj): boolean {
  const s = spec(np);
  const sel: Record<string, string> = s.podSelector?.matchLabels ?? {};
  if (!Object.entries(sel).every(([k, v]) => k === SOLVER_LABEL && v === 'true')) return false;
  return (s.ingress ?? []).some(
    (r: AnyRec) => (r.from ?? []).length > 0 && (r.ports === undefined || r.ports.some((p: AnyRec) => p.port === SOLVER_PORT || p.port === undefined)),
  );
}

/** Issue 14 item 3. */
export const acmeHttp01Reachable: Rule = {
  id: 'acme-http01-reachable',
  description: 'Where an ACME HTTP-01 ClusterIssuer serves a Certificate in a default-deny namespace, a NetworkPolicy admits the ingress controller to the solver pods on 8089.',
  enforcement: 'mandatory',
  check(objects) {
    const out: Out = [];
    const issuers = http01Issuers(objects);
    const nps = objects.filter((o) => o.kind === 'NetworkPolicy');
    for (const c of objects) {
      if (c.kind !== 'Certificate') continue;
      const ref = spec(c).issuerRef ?? {};
      if (ref.kind !== 'ClusterIssuer' || !issuers.has(ref.name)) continue;
      const ns = c.metadata.namespace;
      const here = nps.filter((n) => n.metadata.namespace === ns);
      if (!here.some(isDefaultDenyIngress) || here.some(admitsSolver)) continue;
      out.push({
        object: c,
        message: `ClusterIssuer ${ref.name} solves HTTP-01 with a pod in namespace ${ns}, whose default deny blocks the ingress controller from it: the certificate never issues`,
        fix: `add a NetworkPolicy in ${ns} selecting ${SOLVER_LABEL}: "true" that admits the ingress controller on TCP ${SOLVER_PORT}`,
      });
    }
    return out;
  },
};

const isAlb = (o: Obj): boolean => spec(o).ingressClassName === 'alb' || Object.keys(o.metadata.annotations ?? {}).some((k) => k.startsWith('alb.ingress.kubernetes.io/'));
/** Annotations whose MergeBehavior is Exclusive within an IngressGroup (controller annotation reference). */
const EXCLUSIVE = ['scheme', 'load-balancer-attributes', 'ssl-policy', 'ip-address-type'].map((k) => `alb.ingress.kubernetes.io/${k}`);

/** The HTTP readiness probe paths of the containers serving `port` of a Service (its targetPort). */
function readinessPaths(objects: readonly Obj[], namespace: string | undefined, service: string, port: number | undefined): string[] | undefined {
  const svc = objects.find((o) => o.kind === 'Service' && o.metadata.namespace === namespace && o.metadata.name === service);
  if (!svc) return undefined;
  const sp = (spec(svc).ports ?? []).find((p: AnyRec) => p.port === port);
  const target = sp?.targetPort ?? port;
  const out: string[] = [];
  for (const w of objects) {
    if (w.metadata.namespace !== namespace || !selects(spec(svc).selector, podLabelsOf(w))) continue;
    for (const c of podSpecOf(w)?.containers ?? []) {
      const serves = (c.ports ?? []).some((p: AnyRec) => p.containerPort === target || (p.name !== undefined && p.name === target));
      if (serves && c.readinessProbe?.httpGet?.path) out.push(c.readinessProbe.httpGet.path);
    }
  }
  return out;
}

/** Issue 14 item 2. */
export const albIngress: Rule = {
  id: 'alb-ingress',
  description: 'ALB Ingresses use ACM (never a cert-manager Secret or HTTP-01), name their certificate in production, join the stack IngressGroup with agreeing Exclusive annotations, health-check the readiness path, and run in readiness-gated namespaces.',
  enforcement: 'mandatory',
  check(objects, ctx) {
    const out: Out = [];
    for (const i of http01Issuers(objects).values()) {
      const bad = (spec(i).acme.solvers as AnyRec[]).filter((s) => s.http01?.ingress?.ingressClassName === 'alb' || s.http01?.ingress?.class === 'alb');
      if (bad.length > 0) out.push({ object: i, message: 'solves HTTP-01 through class alb: each challenge gets an ALB of its own, and the ALB never serves the issued Secret', fix: 'use ACM certificates (cluster.issuer kind acm)' });
    }
    const albs = objects.filter((o) => o.kind === 'Ingress' && isAlb(o));
    const certs = objects.filter((o) => o.kind === 'Certificate');
    const namespaces = new Map(objects.filter((o) => o.kind === 'Namespace').map((n) => [n.metadata.name, n]));
    const groups = new Map<string, Obj[]>();
    for (const o of albs) {
      const a = o.metadata.annotations ?? {};
      const s = spec(o);
      const hosts: string[] = (s.rules ?? []).map((r: AnyRec) => r.host).filter(Boolean);
      for (const t of s.tls ?? []) {
        if (t.secretName) out.push({ object: o, message: `tls names Secret ${t.secretName}, which the ALB never serves (it serves ACM certificates only)`, fix: 'drop secretName; set alb.ingress.kubernetes.io/certificate-arn' });
      }
      for (const c of certs) {
        const names: string[] = spec(c).dnsNames ?? [];
        if (c.metadata.namespace === o.metadata.namespace && names.some((n) => hosts.includes(n))) {
          out.push({ object: o, message: `Certificate ${c.metadata.name} is issued for host ${names.join(',')} of an ALB Ingress: the ALB never serves it`, fix: 'remove the Certificate; the ALB serves ACM certificates' });
        }
      }
      if (ctx.tier === 'production' && !a['alb.ingress.kubernetes.io/certificate-arn']) {
        out.push({ object: o, message: 'no ACM certificate named in production (ACM discovery by host may pick any matching certificate, or none)', fix: 'set cluster.issuer.certificateArns (annotation alb.ingress.kubernetes.io/certificate-arn)' });
      }
      const group = a['alb.ingress.kubernetes.io/group.name'];
      if (!group) out.push({ object: o, message: 'has no IngressGroup: it gets an ALB of its own', fix: 'set alb.ingress.kubernetes.io/group.name (one group per stack and scheme)' });
      else groups.set(group, [...(groups.get(group) ?? []), o]);
      const backends = new Map<string, AnyRec>((s.rules ?? []).flatMap((r: AnyRec) => (r.http?.paths ?? []).map((p: AnyRec) => [p.backend?.service?.name, p.backend?.service?.port])).filter(([n]: [unknown]) => n));
      const check = a['alb.ingress.kubernetes.io/healthcheck-path'];
      for (const [b, port] of backends) {
        const paths = readinessPaths(objects, o.metadata.namespace, b, port?.number);
        if (paths === undefined || paths.length === 0) continue;
        if (check === undefined || !paths.includes(check)) {
          out.push({
            object: o,
            message: `the ALB health-checks ${check ?? '/ (the default)'} but the pods behind ${b} are ready on ${[...new Set(paths)].join(', ')}`,
            fix: `set alb.ingress.kubernetes.io/healthcheck-path: ${paths[0]}`,
          });
        }
      }
      const ns = namespaces.get(o.metadata.namespace ?? '');
      if (ns && ns.metadata.labels?.[ALB_READINESS_GATE_LABEL] !== 'enabled') {
        out.push({ object: o, message: `namespace ${ns.metadata.name} lacks ${ALB_READINESS_GATE_LABEL}: enabled, so a rollout can retire old pods before the new ones are healthy in the target group`, fix: `label the Namespace ${ALB_READINESS_GATE_LABEL}=enabled` });
      }
    }
    for (const [group, members] of groups) {
      for (const key of EXCLUSIVE) {
        const values = new Set(members.map((m) => m.metadata.annotations?.[key]));
        if (values.size > 1) {
          for (const m of members) out.push({ object: m, message: `IngressGroup ${group} disagrees on Exclusive annotation ${key} (${[...values].join(' | ')}): the controller refuses the group`, fix: `give every Ingress of group ${group} the same ${key}` });
        }
      }
    }
    return out;
  },
};

/** Issue 14 item 6. */
export const vaultCa: Rule = {
  id: 'vault-ca',
  description: 'A Vault ClusterSecretStore/SecretStore for a private host names the CA that signs its certificate (caBundle or caProvider).',
  enforcement: 'mandatory',
  check(objects, ctx) {
    const out: Out = [];
    for (const o of objects) {
      if ((o.kind !== 'ClusterSecretStore' && o.kind !== 'SecretStore') || !o.apiVersion.startsWith('external-secrets.io/')) continue;
      const v = spec(o).provider?.vault;
      if (!v || v.caBundle || v.caProvider) continue;
      let host = '';
      try {
        host = new URL(String(v.server)).hostname;
      } catch {
        continue;
      }
      if (!isPrivateName(host) && ctx.registry === undefined) continue;
      out.push({
        object: o,
        message: `Vault ${v.server} is a private host${ctx.registry !== undefined ? ' (air-gapped stack)' : ''} and the store names no CA: TLS to it fails and no ExternalSecret syncs`,
        fix: 'set cluster.vault.ca (provider.vault.caProvider) to the ConfigMap/Secret holding the CA bundle',
      });
    }
    return out;
  },
};

/** Issue 14 item 15. */
export const caIssuerIntermediate: Rule = {
  id: 'ca-issuer-intermediate',
  description: 'A CA ClusterIssuer signs with an intermediate CA Secret, never a root CA key.',
  enforcement: 'mandatory',
  check(objects) {
    return objects
      .filter((o) => (o.kind === 'ClusterIssuer' || o.kind === 'Issuer') && /(^|[-.])root([-.]|$)/.test(String(spec(o).ca?.secretName ?? '')))
      .map((o) => ({
        object: o,
        message: `signs with Secret ${spec(o).ca.secretName}, a root CA key: in a cluster Secret it can sign for any name the root is trusted for`,
        fix: 'issue an intermediate CA for this cluster (name-constrained, short-lived, revocable alone) and name its Secret',
      }));
  },
};

const inside = (inner: string, outer: string): boolean => cidrContains(outer, inner);

/** Issue 14 item 13. */
export const ingressFromLoadBalancer: Rule = {
  id: 'ingress-from-load-balancer',
  description: 'In a stack that declares its load-balancer subnets, a NetworkPolicy admits by ipBlock only from inside them (never the VPC).',
  enforcement: 'mandatory',
  check(objects) {
    const out: Out = [];
    const declared = new Map<string, string[]>();
    for (const n of objects) {
      const v = n.kind === 'Namespace' ? n.metadata.annotations?.[LOAD_BALANCER_CIDRS_ANNOTATION] : undefined;
      if (v) declared.set(n.metadata.name, v.split(',').filter(Boolean));
    }
    if (declared.size === 0) return out;
    const all = [...new Set([...declared.values()].flat())];
    for (const np of objects) {
      if (np.kind !== 'NetworkPolicy') continue;
      const subnets = declared.get(np.metadata.namespace ?? '') ?? all;
      for (const r of spec(np).ingress ?? []) {
        for (const p of r.from ?? []) {
          const cidr = p.ipBlock?.cidr;
          if (typeof cidr !== 'string' || subnets.some((s) => inside(cidr, s))) continue;
          out.push({
            object: np,
            message: `admits ${cidr}, wider than the declared load-balancer subnets (${subnets.join(', ')}): every pod and host in it bypasses the load balancer`,
            fix: 'admit only the ALB subnets (cluster.loadBalancerCidrs)',
          });
        }
      }
    }
    return out;
  },
};

/** The image fields of objects an operator turns into pods (the pods themselves are not in the bundle). */
function operandImages(o: Obj): string[] {
  const s = spec(o);
  if (o.kind === 'Cluster' && o.apiVersion.startsWith('postgresql.cnpg.io/') && typeof s.imageName === 'string') return [s.imageName];
  if (o.kind === 'Kafka' && o.apiVersion.startsWith('kafka.strimzi.io/') && typeof s.kafka?.image === 'string') return [s.kafka.image];
  return [];
}

/** Which injected image each operand needs (OPERATOR_IMAGES), by the operator's repository name. */
function injectedNeeds(objects: readonly Obj[], included: (ns: string | undefined) => boolean): Map<string, Obj> {
  const need = new Map<string, Obj>();
  const acme = http01Issuers(objects);
  for (const o of objects) {
    if (!included(o.metadata.namespace)) continue;
    if (o.kind === 'Cluster' && o.apiVersion.startsWith('postgresql.cnpg.io/')) need.set('cloudnative-pg', o);
    if (o.kind === 'Kafka' && o.apiVersion.startsWith('kafka.strimzi.io/')) need.set('strimzi-operator', o);
    if (o.kind === 'Certificate' && spec(o).issuerRef?.kind === 'ClusterIssuer' && acme.has(spec(o).issuerRef.name)) need.set('cert-manager-acmesolver', o);
  }
  return need;
}

/** Issue 14 item 1. policy-controller semantics: pkg/webhook/validator.go (v0.13.1 = ccbb37f3) */
export const imagePolicySatisfiable: Rule = {
  id: 'image-policy-satisfiable',
  description:
    'Cosign admission can admit every image of the opted-in namespaces: each image (and each operator-injected one) matches a ClusterImagePolicy glob, and every enforcing policy it matches has an authority that can have signed it (not the stack key on a public upstream path).',
  enforcement: 'mandatory',
  check(objects) {
    const out: Out = [];
    const cips = objects.filter((o) => o.kind === 'ClusterImagePolicy' && o.apiVersion.startsWith('policy.sigstore.dev/'));
    if (cips.length === 0) return out;
    const included = new Set(objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.[IMAGE_POLICY_INCLUDE_LABEL] === 'true').map((o) => o.metadata.name));
    const inScope = (ns: string | undefined) => ns !== undefined && included.has(ns);
    // Images matching no policy are denied: no-match-policy defaults to deny (pkg/config/store.go:62).
    const judge = (object: Obj, image: string, what: string) => {
      const matching = cips.filter((c) => (spec(c).images ?? []).some((i: AnyRec) => typeof i.glob === 'string' && globMatches(i.glob, image)));
      if (matching.length === 0) {
        out.push({ object, message: `${what} ${image} matches no ClusterImagePolicy glob: policy-controller denies it (no-match-policy defaults to deny)`, fix: `add a glob for ${canonicalRepository(image)} (mirror and sign it), or pin the operator image in cluster.signing.operatorImages` });
        return;
      }
      // Every matching policy must pass (validator.go validateContainerImage); within one, any authority suffices.
      for (const c of matching) {
        if ((spec(c).mode ?? 'enforce') !== 'enforce') continue;
        const authorities: AnyRec[] = spec(c).authorities ?? [];
        const possible = authorities.some((a) => a.static?.action === 'pass' || a.keyless !== undefined || (a.key !== undefined && !isUpstream(image)));
        if (!possible) {
          out.push({
            object,
            message: `${what} ${image} is on a public upstream path and ClusterImagePolicy ${c.metadata.name} (enforce) accepts only the stack's own key: nobody can store that signature there, so admission rejects it`,
            fix: 'run it from cluster.registry (mirrored and re-signed with the release key), or add the vendor\'s own authority',
          });
        }
      }
    };
    for (const o of objects) {
      if (!inScope(o.metadata.namespace)) continue;
      const pod = podSpecOf(o);
      for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) if (typeof c.image === 'string') judge(o, c.image, `container ${c.name} image`);
      for (const image of operandImages(o)) judge(o, image, 'operand image');
    }
    const declared = cips.flatMap((c) => (c.metadata.annotations?.[OPERATOR_IMAGES_ANNOTATION] ?? '').split(',').filter(Boolean));
    for (const [name, object] of injectedNeeds(objects, inScope)) {
      const repo = OPERATOR_IMAGES[name as keyof typeof OPERATOR_IMAGES].repository;
      const mine = declared.filter((d) => canonicalRepository(d).endsWith(canonicalRepository(repo).replace(/^index\.docker\.io\//, '')));
      if (mine.length === 0) {
        out.push({ object, message: `the operator injects ${repo} into pods of namespace ${object.metadata.namespace}, and no ClusterImagePolicy names it (${OPERATOR_IMAGES_ANNOTATION})`, fix: `pin it in cluster.signing.operatorImages.${name}` });
        continue;
      }
      for (const image of mine) judge(object, image, `operator-injected image (${name})`);
    }
    return out;
  },
};

/** The declaration that keeps a Secret in an environment variable: `<VAR: why>` (policies/checkov.ts carries it to checkov). */
export const SECRET_ENV_EXCEPTION = 'exception.stackbook.io/secret-env';
/** Links an application workload to its contract (services/contract.ts CONTRACT_ANNOTATION; not imported: policies sit below services). */
const CONTRACT = 'stackbook.io/contract';

/** One Secret reaching a container through its environment. */
export interface SecretEnvUse {
  readonly container: string;
  /** The variable, or `envFrom` for a whole Secret. */
  readonly variable: string;
  readonly secret: string;
  /** The Secret key (`*` for envFrom). */
  readonly key: string;
}

/** Every `valueFrom.secretKeyRef` env var and `envFrom.secretRef` of `o`'s containers (init containers included). */
export function secretEnvUses(o: Obj): SecretEnvUse[] {
  const pod = podSpecOf(o);
  if (!pod) return [];
  const out: SecretEnvUse[] = [];
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])] as AnyRec[]) {
    for (const e of (c.env ?? []) as AnyRec[]) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) out.push({ container: c.name, variable: e.name, secret: ref.name, key: ref.key });
    }
    for (const f of (c.envFrom ?? []) as AnyRec[]) {
      if (f.secretRef) out.push({ container: c.name, variable: `envFrom${f.prefix ? ` (prefix ${f.prefix})` : ''}`, secret: f.secretRef.name, key: '*' });
    }
  }
  return out;
}

function templateAnnotations(o: Obj): Record<string, string> {
  const s = spec(o);
  return (o.kind === 'CronJob' ? s.jobTemplate?.spec?.template?.metadata?.annotations : s.template?.metadata?.annotations) ?? {};
}

/**
 * Issue 14 item 17: key material of platform components and jobs is mounted as files, never put in
 * the environment (visible to every process of the container, in `/proc/<pid>/environ`, crash
 * dumps, `kubectl describe`-adjacent tooling and child processes). Application workloads (annotated
 * with their contract) are judged by `app-contract` instead: their variables must be ones the app
 * reads, with a citation; they declare which they keep with `exception.stackbook.io/secret-env`.
 */
export const secretEnv: Rule = {
  id: 'secret-env',
  description: 'Platform components and jobs take Secrets as mounted files, not environment variables, unless the object declares exception.stackbook.io/secret-env with a reason.',
  enforcement: 'mandatory',
  check(objects) {
    const out: Out = [];
    for (const o of objects) {
      const uses = secretEnvUses(o);
      if (uses.length === 0) continue;
      const annotations = { ...templateAnnotations(o), ...(o.metadata.annotations ?? {}) };
      // Declared exceptions (`exception.stackbook.io/secret-env` on the object) are applied by evaluate().
      if (annotations[CONTRACT] !== undefined) continue;
      for (const u of uses) {
        out.push({
          object: o,
          message: `container ${u.container} takes ${u.key === '*' ? `every key of Secret ${u.secret} (${u.variable})` : `Secret ${u.secret} key ${u.key} as environment variable ${u.variable}`}: key material in the environment`,
          fix: `mount Secret ${u.secret} read-only as a file (a projected volume) and have the consumer read it from there (its *_FILE option or a config file an init container renders into a memory emptyDir); only where a runbook names the variable as the application's own interface, declare ${SECRET_ENV_EXCEPTION}: "<VARIABLE: why>" on the object`,
        });
      }
    }
    return out;
  },
};

export const PRODUCTION_RULES: readonly Rule[] = [imagePolicySatisfiable, albIngress, acmeHttp01Reachable, vaultCa, ingressFromLoadBalancer, caIssuerIntermediate, secretEnv];

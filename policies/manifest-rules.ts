/**
 * Policies: plain functions over rendered manifests. The same list runs at synth (a mandatory
 * violation fails it), in `stackbook check`, and in the Pulumi policy pack (./pack.ts).
 *
 * A deliberate relaxation is the annotation `exception.stackbook.io/<rule-id>: <reason>` on the
 * object concerned (the workload, for pod-level rules), and nothing else.
 */
import { contextOf, podLabelsOf, podSpecOf, ref, type Context, type Obj, type Rule, type Violation } from './model.js';
import { appContractRule } from './contract.js';
import { PRODUCTION_RULES } from './production.js';
import { postgresPitrDrill } from './postgres-drill.js';
import { CONTRACTS } from '../services/contracts.js';
import { SECRET_NAME } from '../kube/secrets.js';
import { replicaRangeOk } from '../kube/replicas.js';

export * from './model.js';

type AnyRec = Record<string, any>;

function containersOf(pod: AnyRec): AnyRec[] {
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
}

const LONG_RUNNING = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

const podSecurity: Rule = {
  id: 'pod-security-restricted',
  description: 'Pods meet Pod Security "restricted" plus a read-only root FS and no service-account token (X-1).',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    for (const o of objects) {
      if (o.kind === 'Namespace') {
        if (o.metadata.labels?.['pod-security.kubernetes.io/enforce'] !== 'restricted') {
          out.push({ object: o, message: 'namespace does not enforce Pod Security "restricted"', fix: 'label pod-security.kubernetes.io/enforce=restricted' });
        }
        continue;
      }
      const pod = podSpecOf(o);
      if (!pod) continue;
      const psc: AnyRec = pod.securityContext ?? {};
      const bad = (message: string, fix: string) => out.push({ object: o, message, fix });
      if (pod.hostNetwork || pod.hostPID || pod.hostIPC) bad('uses host namespaces', 'remove hostNetwork/hostPID/hostIPC');
      if (pod.automountServiceAccountToken !== false) bad('mounts a service-account token', 'set automountServiceAccountToken: false');
      for (const v of pod.volumes ?? []) if (v.hostPath) bad(`volume ${v.name} is a hostPath`, 'use an emptyDir or a PVC');
      const podSeccomp = psc.seccompProfile?.type;
      for (const c of containersOf(pod)) {
        const sc: AnyRec = c.securityContext ?? {};
        const name = `container ${c.name}`;
        if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) bad(`${name} may run as root`, 'set runAsNonRoot: true');
        if ((sc.runAsUser ?? psc.runAsUser) === 0) bad(`${name} runs as UID 0`, 'run as a non-zero UID');
        if (sc.privileged) bad(`${name} is privileged`, 'set privileged: false');
        if (sc.allowPrivilegeEscalation !== false) bad(`${name} allows privilege escalation`, 'set allowPrivilegeEscalation: false');
        const drop: string[] = sc.capabilities?.drop ?? [];
        if (!drop.includes('ALL')) bad(`${name} does not drop ALL capabilities`, 'set capabilities.drop: [ALL]');
        const add: string[] = sc.capabilities?.add ?? [];
        if (add.some((x) => x !== 'NET_BIND_SERVICE')) bad(`${name} adds capabilities ${add.join(',')}`, 'add only NET_BIND_SERVICE, or none');
        const seccomp = sc.seccompProfile?.type ?? podSeccomp;
        if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') bad(`${name} has no RuntimeDefault seccomp profile`, 'set seccompProfile.type: RuntimeDefault');
        if (sc.readOnlyRootFilesystem !== true) bad(`${name} has a writable root filesystem`, 'set readOnlyRootFilesystem: true and mount writable paths as volumes');
        for (const p of c.ports ?? []) if (p.hostPort) bad(`${name} binds hostPort ${p.hostPort}`, 'remove hostPort');
      }
    }
    return out;
  },
};

const probes: Rule = {
  id: 'probes',
  description: 'Long-running containers have liveness and readiness probes that are not identical.',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    for (const o of objects) {
      if (!LONG_RUNNING.has(o.kind)) continue;
      for (const c of podSpecOf(o)?.containers ?? []) {
        if (!c.livenessProbe) out.push({ object: o, message: `container ${c.name} has no liveness probe`, fix: 'add a livenessProbe' });
        if (!c.readinessProbe) out.push({ object: o, message: `container ${c.name} has no readiness probe`, fix: 'add a readinessProbe' });
        if (c.livenessProbe && c.readinessProbe && JSON.stringify(c.livenessProbe) === JSON.stringify(c.readinessProbe)) {
          out.push({ object: o, message: `container ${c.name} has identical liveness and readiness probes`, fix: 'make liveness slower and more tolerant than readiness' });
        }
      }
    }
    return out;
  },
};

const resources: Rule = {
  id: 'resources',
  description: 'Every container sets CPU and memory requests and limits.',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    for (const o of objects) {
      const pod = podSpecOf(o);
      if (!pod) continue;
      for (const c of containersOf(pod)) {
        for (const kind of ['requests', 'limits'] as const) {
          for (const r of ['cpu', 'memory']) {
            if (c.resources?.[kind]?.[r] === undefined) {
              out.push({ object: o, message: `container ${c.name} has no ${r} ${kind.slice(0, -1)}`, fix: `set resources.${kind}.${r}` });
            }
          }
        }
      }
    }
    return out;
  },
};

function selects(selector: AnyRec | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const ml: Record<string, string> = selector.matchLabels ?? {};
  if (!Object.entries(ml).every(([k, v]) => labels[k] === v)) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const val = labels[e.key];
    if (e.operator === 'In' && !(has && e.values.includes(val))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(val)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

const networkPolicyCoverage: Rule = {
  id: 'network-policy-coverage',
  description: 'Every pod is selected by NetworkPolicies for both ingress and egress (X-3).',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    for (const o of objects) {
      if (!podSpecOf(o)) continue;
      const labels = podLabelsOf(o);
      const ns = o.metadata.namespace;
      const mine = policies.filter((p) => p.metadata.namespace === ns && selects((p.spec as AnyRec).podSelector, labels));
      for (const dir of ['Ingress', 'Egress']) {
        if (!mine.some((p) => ((p.spec as AnyRec).policyTypes ?? ['Ingress']).includes(dir))) {
          out.push({ object: o, message: `pods are not selected by any ${dir} NetworkPolicy`, fix: 'add the namespace default-deny and an allow-list' });
        }
      }
    }
    return out;
  },
};

const networkPolicyPeers: Rule = {
  id: 'network-policy-peers',
  description: 'No rule allows everyone; namespace and pod selectors meant together are one peer.',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    for (const o of objects) {
      if (o.kind !== 'NetworkPolicy') continue;
      const spec = o.spec as AnyRec;
      for (const [dir, key] of [['ingress', 'from'], ['egress', 'to']] as const) {
        (spec[dir] ?? []).forEach((r: AnyRec, i: number) => {
          const peers: AnyRec[] | undefined = r[key];
          if (!peers || peers.length === 0) {
            out.push({ object: o, message: `${dir}[${i}] has no peers: it allows every source/destination`, fix: `name the ${key} peers` });
            return;
          }
          if (!r.ports || r.ports.length === 0) {
            out.push({ object: o, message: `${dir}[${i}] has no ports: it allows every port`, fix: 'list the ports' });
          }
          for (const p of peers) {
            if (Object.keys(p).length === 0) out.push({ object: o, message: `${dir}[${i}] has an empty peer (matches everything)`, fix: 'name the peer' });
            if (p.ipBlock?.cidr === '0.0.0.0/0' && !p.ipBlock.except) {
              out.push({ object: o, message: `${dir}[${i}] allows 0.0.0.0/0`, fix: 'name the CIDRs' });
            }
          }
          const nsOnly = peers.some((p) => p.namespaceSelector && !p.podSelector);
          const podOnly = peers.some((p) => p.podSelector && !p.namespaceSelector);
          if (nsOnly && podOnly) {
            out.push({
              object: o,
              message: `${dir}[${i}] has a namespace-only peer beside a pod-only peer (OR, not AND): access wider than meant`,
              fix: 'combine namespaceSelector and podSelector in one peer',
            });
          }
        });
      }
    }
    return out;
  },
};

/** Env/ConfigMap key names that hold secrets: shared with the Workload component's literal-env guard (kube/secrets.ts). */
export { SECRET_NAME } from '../kube/secrets.js';
const SECRET_VALUE = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/,
  /\bAKIA[0-9A-Z]{16}\b/,
  /\bxox[abpr]-[A-Za-z0-9-]{10,}/,
  /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./,
  /:\/\/[^/\s:@]+:[^/\s@]+@/,
];

export function looksSecret(key: string, value: string): boolean {
  if (SECRET_VALUE.some((re) => re.test(value))) return true;
  return SECRET_NAME.test(key) && value.length > 0 && !/^(true|false|0|1|on|off)$/i.test(value);
}

const noSecretLiteral: Rule = {
  id: 'no-secret-literal',
  description: 'No secret-looking literal in container env or ConfigMaps; secrets are Secret references.',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    for (const o of objects) {
      if (o.kind === 'ConfigMap') {
        for (const [k, v] of Object.entries((o.data as Record<string, string> | undefined) ?? {})) {
          if (looksSecret(k, v)) out.push({ object: o, message: `key ${k} looks like a secret`, fix: 'move it to a Secret and reference it by key' });
        }
        continue;
      }
      const pod = podSpecOf(o);
      if (!pod) continue;
      for (const c of containersOf(pod)) {
        for (const e of c.env ?? []) {
          if (typeof e.value === 'string' && looksSecret(e.name, e.value)) {
            out.push({ object: o, message: `container ${c.name} env ${e.name} is a secret-looking literal`, fix: 'use valueFrom.secretKeyRef' });
          }
        }
      }
    }
    return out;
  },
};

const noSecretData: Rule = {
  id: 'no-secret-data',
  description: 'A bundle carries no Secret values (Secrets come from Pulumi, Vault or the operator).',
  enforcement: 'mandatory',
  check(objects) {
    return objects
      .filter((o) => o.kind === 'Secret' && (Object.keys((o.data as object) ?? {}).length > 0 || Object.keys((o.stringData as object) ?? {}).length > 0))
      .map((o) => ({ object: o, message: 'Secret with data in the bundle', fix: 'declare a secret requirement; let Pulumi, external-secrets or the operator create it' }));
  },
};

const ingressTls: Rule = {
  id: 'ingress-tls',
  description: 'Every Ingress terminates TLS for all its hosts, with a cert-manager Certificate (an ACM one on an ALB) and HSTS (X-4).',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    const certs = objects.filter((o) => o.kind === 'Certificate');
    for (const o of objects) {
      if (o.kind !== 'Ingress') continue;
      const spec = o.spec as AnyRec;
      const tlsHosts = new Set<string>((spec.tls ?? []).flatMap((t: AnyRec) => t.hosts ?? []));
      for (const r of spec.rules ?? []) {
        if (!r.host) out.push({ object: o, message: 'a rule has no host', fix: 'name the host' });
        else if (!tlsHosts.has(r.host)) out.push({ object: o, message: `host ${r.host} is not covered by tls`, fix: 'add it to spec.tls' });
      }
      for (const t of spec.tls ?? []) {
        // An ALB serves ACM certificates (annotation or discovery by these hosts), never a Secret: rule alb-ingress.
        if (t.secretName === undefined && (spec.ingressClassName === 'alb' || o.metadata.annotations?.['alb.ingress.kubernetes.io/scheme'] !== undefined)) continue;
        const cert = certs.find((c) => c.metadata.namespace === o.metadata.namespace && (c.spec as AnyRec).secretName === t.secretName);
        if (!cert) out.push({ object: o, message: `no Certificate produces TLS secret ${t.secretName}`, fix: 'add a cert-manager Certificate' });
      }
      if (!o.metadata.annotations?.['stackbook.io/hsts']) out.push({ object: o, message: 'no HSTS declared', fix: 'use the TlsIngress component' });
    }
    return out;
  },
};

const imageDigest: Rule = {
  id: 'image-digest',
  description: 'Images are pinned by digest in staging, production and air-gapped stacks, and come from the mirror when air-gapped.',
  enforcement: 'mandatory',
  check(objects, ctx) {
    const out: ReturnType<Rule['check']> = [];
    const strict = ctx.tier === 'staging' || ctx.tier === 'production' || ctx.registry !== undefined;
    for (const o of objects) {
      const pod = podSpecOf(o);
      if (!pod) continue;
      for (const c of containersOf(pod)) {
        const image: string = c.image ?? '';
        if (strict && !/@sha256:[a-f0-9]{64}$/.test(image)) {
          out.push({ object: o, message: `container ${c.name} image ${image} is not pinned by digest`, fix: 'configure image.digest' });
        }
        if (ctx.registry !== undefined && !image.startsWith(`${ctx.registry}/`)) {
          out.push({ object: o, message: `container ${c.name} image ${image} is not from the mirror ${ctx.registry}`, fix: 'relocate the image' });
        }
      }
    }
    return out;
  },
};

const hpaPdb: Rule = {
  id: 'hpa-pdb',
  description: 'HPA ranges are valid, the target has no fixed replicas, and a PDB that never blocks drains covers it (X-2).',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
    for (const h of objects) {
      if (h.kind !== 'HorizontalPodAutoscaler') continue;
      const spec = h.spec as AnyRec;
      const min: number = spec.minReplicas ?? 1;
      const max: number = spec.maxReplicas;
      if (!replicaRangeOk(min, max)) out.push({ object: h, message: `range ${min}–${max} is invalid`, fix: 'use 1 ≤ minReplicas ≤ maxReplicas' });
      for (const m of spec.metrics ?? []) {
        const u = m.resource?.target?.averageUtilization;
        if (u !== undefined && !(u >= 1 && u <= 100)) out.push({ object: h, message: `utilisation target ${u} is outside 1–100`, fix: 'use 1–100' });
      }
      const ref = spec.scaleTargetRef ?? {};
      const target = objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name && o.metadata.namespace === h.metadata.namespace);
      if (!target) {
        out.push({ object: h, message: `target ${ref.kind}/${ref.name} is not in the bundle`, fix: 'point at a rendered workload' });
        continue;
      }
      if ((target.spec as AnyRec).replicas !== undefined) {
        out.push({ object: target, message: 'has fixed replicas and an HPA: every apply fights the autoscaler', fix: 'omit spec.replicas' });
      }
      const labels = podLabelsOf(target);
      const pdb = pdbs.find((p) => p.metadata.namespace === h.metadata.namespace && selects((p.spec as AnyRec).selector, labels));
      if (!pdb) {
        out.push({ object: h, message: 'target has no PodDisruptionBudget', fix: 'add a PDB with maxUnavailable: 1' });
        continue;
      }
      const ps = pdb.spec as AnyRec;
      if (typeof ps.minAvailable === 'number' && ps.minAvailable >= min) {
        out.push({ object: pdb, message: `minAvailable ${ps.minAvailable} ≥ HPA minimum ${min}: drains block at the minimum`, fix: 'use maxUnavailable: 1' });
      }
      if (ps.maxUnavailable === 0 || ps.maxUnavailable === '0%') {
        out.push({ object: pdb, message: 'maxUnavailable 0 blocks every drain', fix: 'use maxUnavailable: 1' });
      }
    }
    return out;
  },
};

/**
 * AION-16, X-2: one autoscaler per workload. KEDA drives a ScaledObject through an HPA it creates
 * for the same target; a second HPA or ScaledObject on that target makes two controllers fight
 * over `replicas` (KEDA's admission webhook refuses it, so the apply would fail half-way).
 */
const singleAutoscaler: Rule = {
  id: 'single-autoscaler',
  description: 'A workload is scaled by at most one autoscaler: an HPA or a KEDA ScaledObject, never both, never two (AION-16).',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    const byTarget = new Map<string, Obj[]>();
    for (const o of objects) {
      const isHpa = o.kind === 'HorizontalPodAutoscaler';
      const isKeda = o.kind === 'ScaledObject' && o.apiVersion.startsWith('keda.sh/');
      if (!isHpa && !isKeda) continue;
      const tref: AnyRec = (o.spec as AnyRec | undefined)?.scaleTargetRef ?? {};
      // KEDA defaults the target to an apps/v1 Deployment; the HPA names its kind.
      const kind: string = tref.kind ?? (isKeda ? 'Deployment' : '');
      const group = String(tref.apiVersion ?? (isKeda ? 'apps/v1' : '')).split('/').slice(0, -1).join('/');
      const key = `${o.metadata.namespace ?? ''}/${group}/${kind}/${String(tref.name)}`;
      byTarget.set(key, [...(byTarget.get(key) ?? []), o]);
    }
    for (const scalers of byTarget.values()) {
      if (scalers.length < 2) continue;
      const ref0: AnyRec = (scalers[0]!.spec as AnyRec).scaleTargetRef;
      const target = `${ref0.kind ?? 'Deployment'} ${scalers[0]!.metadata.namespace ?? ''}/${String(ref0.name)}`;
      for (const o of scalers) {
        const others = scalers.filter((x) => x !== o).map(ref).join(', ');
        out.push({
          object: o,
          message: `${target} is also scaled by ${others}: two autoscalers fight over its replicas`,
          fix: 'keep one autoscaler per workload: the HPA (Autoscaling) or the KEDA ScaledObject, not both',
        });
      }
    }
    return out;
  },
};

const CONCERN_LIST = /^((OSC|OWS|OUB|OPE|AION|X)-\d+)(,(OSC|OWS|OUB|OPE|AION|X)-\d+)*$/;

const traceFormat: Rule = {
  id: 'trace-format',
  description: 'Trace annotations are comma-separated catalog IDs; exception annotations carry a reason.',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    for (const o of objects) {
      const a = o.metadata.annotations ?? {};
      const c = a['stackbook.io/concerns'];
      if (c !== undefined && !CONCERN_LIST.test(c)) out.push({ object: o, message: `bad stackbook.io/concerns "${c}"`, fix: 'use IDs from CONCERNS.md, comma-separated' });
      for (const [k, v] of Object.entries(a)) {
        if (k.startsWith('exception.stackbook.io/') && v.trim().length < 10) out.push({ object: o, message: `${k} has no real reason`, fix: 'say why, for the reviewer' });
      }
    }
    return out;
  },
};

/** Kinds whose pod template a Service's selector can reach (CronJob: through its Job template). */
const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']);

/**
 * Every Service with a selector selects the pods of some workload in its namespace. The Pulumi
 * program does not wait for a Service's Endpoints (pulumi/program.ts `serviceReadiness`: Services
 * are created before the workloads, so the provider's own wait only ever saw an empty Endpoints
 * object and could not catch a selector that matches nothing); this rule catches it for every stack
 * and output, before anything is applied.
 */
const serviceSelectsPods: Rule = {
  id: 'service-selects-pods',
  description: 'A Service with a selector selects the pod template of some workload in its namespace.',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    const templates: Array<{ namespace?: string; labels: Record<string, string> }> = [];
    for (const o of objects) {
      if (!POD_TEMPLATE_KINDS.has(o.kind)) continue;
      const spec = o.spec as AnyRec | undefined;
      const t = o.kind === 'CronJob' ? spec?.jobTemplate?.spec?.template : spec?.template;
      templates.push({ namespace: o.metadata.namespace, labels: t?.metadata?.labels ?? {} });
    }
    for (const o of objects) {
      if (o.kind !== 'Service') continue;
      const selector: Record<string, string> | undefined = (o.spec as AnyRec | undefined)?.selector;
      if (!selector || Object.keys(selector).length === 0) continue;
      if (!templates.some((t) => t.namespace === o.metadata.namespace && selects({ matchLabels: selector }, t.labels))) {
        out.push({ object: o, message: `selector ${JSON.stringify(selector)} matches no workload's pods in namespace ${o.metadata.namespace}`, fix: "use the labels of the workload's pod template" });
      }
    }
    return out;
  },
};

export const RULES: readonly Rule[] = [
  podSecurity,
  probes,
  resources,
  networkPolicyCoverage,
  networkPolicyPeers,
  noSecretLiteral,
  noSecretData,
  ingressTls,
  imageDigest,
  hpaPdb,
  singleAutoscaler,
  traceFormat,
  serviceSelectsPods,
  ...PRODUCTION_RULES,
  postgresPitrDrill,
  appContractRule(CONTRACTS),
];

/** Run every rule; exceptions (annotations) turn a violation into a reported, non-enforced one. */
export function evaluate(objects: readonly Obj[], ctx: Context = contextOf(objects), rules: readonly Rule[] = RULES): Violation[] {
  const out: Violation[] = [];
  for (const rule of rules) {
    for (const v of rule.check(objects, ctx)) {
      const reason = v.object.metadata.annotations?.[`exception.stackbook.io/${rule.id}`];
      out.push({
        rule: rule.id,
        object: ref(v.object),
        message: v.message,
        fix: v.fix,
        enforcement: rule.enforcement,
        ...(reason !== undefined ? { exceptedBecause: reason } : {}),
      });
    }
  }
  return out;
}

/** Violations that fail synth/check/preview. */
export function blocking(vs: readonly Violation[]): Violation[] {
  return vs.filter((v) => v.enforcement === 'mandatory' && v.exceptedBecause === undefined);
}

export function formatViolation(v: Violation): string {
  const tag = v.exceptedBecause !== undefined ? `excepted (${v.exceptedBecause})` : v.enforcement;
  return `${v.object}: [${v.rule}] ${v.message} — fix: ${v.fix} [${tag}]`;
}

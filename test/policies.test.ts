/**
 * Policies: the real stacks pass every rule; a deliberately broken copy of a real object
 * fails with exactly the rule that guards it; a reasoned exception annotation turns that
 * violation into an excepted, non-blocking one.
 */
import { describe, expect, it } from 'vitest';
import { blocking, contextOf, evaluate, formatViolation, ref, RULES, type Obj, type Violation } from '../policies/manifest-rules.js';
import { ENVS, renderEnv } from './helpers.js';
import { secretEnv, secretEnvUses } from '../policies/production.js';

type J = Record<string, any>;

/** A deep, mutable copy of a real stack's rendered objects. */
function copy(env: string): J[] {
  return structuredClone(renderEnv(env).objects) as unknown as J[];
}

/** An object by kind, name and namespace (OPE's by default: every service is in the bundle, OPE's objects are not the first). */
function get(objects: J[], kind: string, name = 'ope', namespace: string | undefined = kind === 'Namespace' ? undefined : 'ope'): J {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name && x.metadata.namespace === namespace);
  if (!o) throw new Error(`no ${kind} ${namespace ?? ''}/${name}`);
  return o;
}

const indexOf = (objects: J[], kind: string, name?: string) => objects.indexOf(get(objects, kind, name));

/** The real stack's own violations, formatted: judged once per stack (its render is cached and frozen). */
const ownLines = new Map<string, readonly string[]>();
function realStackLines(env: string): readonly string[] {
  let lines = ownLines.get(env);
  if (!lines) ownLines.set(env, (lines = evaluate(renderEnv(env).objects).map(formatViolation)));
  return lines;
}

/**
 * What a broken copy reports beyond the real stack's own violations (which are all reasoned
 * exceptions, see below): a multiset difference on the formatted lines. Breaking one object must
 * not make any of the real stack's violations disappear either.
 */
function newViolations(env: string, objects: J[]): Violation[] {
  const pool = [...realStackLines(env)];
  const added = evaluate(objects as Obj[]).filter((v) => {
    const i = pool.indexOf(formatViolation(v));
    if (i < 0) return true;
    pool.splice(i, 1);
    return false;
  });
  expect(pool, `${env}: violations of the real stack that vanished in the broken copy`).toEqual([]);
  return added;
}

const container = (objects: J[]) => get(objects, 'Deployment').spec.template.spec.containers[0];

/** One way to break each rule on real objects, without breaking any other rule. */
const BREAKERS: Record<string, { env: string; why: string; breakIt: (objects: J[]) => void }> = {
  'pod-security-restricted': {
    env: 'prod',
    why: 'container allows privilege escalation',
    breakIt: (o) => {
      container(o).securityContext.allowPrivilegeEscalation = true;
    },
  },
  probes: {
    env: 'prod',
    why: 'container has no liveness probe',
    breakIt: (o) => {
      delete container(o).livenessProbe;
    },
  },
  resources: {
    env: 'prod',
    why: 'container has no memory limit',
    breakIt: (o) => {
      delete container(o).resources.limits.memory;
    },
  },
  'network-policy-coverage': {
    env: 'dev',
    why: 'the default deny is missing and the allow-list covers ingress only',
    breakIt: (o) => {
      o.splice(indexOf(o, 'NetworkPolicy', 'default-deny'), 1);
      o.splice(indexOf(o, 'NetworkPolicy', 'allow-dns'), 1);
    },
  },
  'service-selects-pods': {
    env: 'prod',
    why: 'a Service selector with a typo in a label value selects no pods',
    breakIt: (o) => {
      const svc = o.find((x) => x.kind === 'Service' && x.spec?.selector && x.spec.clusterIP !== 'None')!;
      const [k] = Object.keys(svc.spec.selector);
      svc.spec.selector[k!] = `${svc.spec.selector[k!]}-typo`;
    },
  },
  'network-policy-peers': {
    env: 'prod',
    why: 'namespace-only peer beside a pod-only peer (OR instead of AND)',
    breakIt: (o) => {
      const np = get(o, 'NetworkPolicy');
      const rule = np.spec.ingress.find((r: J) => r.from.some((p: J) => p.namespaceSelector));
      rule.from.push({ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } });
    },
  },
  'no-secret-literal': {
    env: 'prod',
    why: 'a development JWT secret in the ConfigMap (a variable the app reads, so app-contract stays quiet)',
    breakIt: (o) => {
      get(o, 'ConfigMap', 'ope-settings').data.DEV_JWT_SECRET = 'd41d8cd98f00b204e9800998ecf8427e';
    },
  },
  'app-contract': {
    env: 'prod',
    why: 'an env var the app never reads (ENVIRONMENT; OPE reads OPE_ENVIRONMENT; more cases per service: test/{ope,ows,osc,oub,aion}.test.ts, test/contract-rule.test.ts)',
    breakIt: (o) => {
      get(o, 'ConfigMap', 'ope-settings').data.ENVIRONMENT = 'production';
    },
  },
  'no-secret-data': {
    env: 'prod',
    why: 'a Secret with data in the bundle',
    breakIt: (o) => {
      o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ope-oidc', namespace: 'ope' }, data: { clientSecret: 'c2VjcmV0' } });
    },
  },
  'ingress-tls': {
    env: 'dev',
    why: 'no Certificate produces the TLS secret',
    breakIt: (o) => {
      o.splice(indexOf(o, 'Certificate'), 1);
    },
  },
  'image-digest': {
    env: 'prod',
    why: 'the image is pinned by tag only',
    breakIt: (o) => {
      const c = container(o);
      c.image = c.image.replace(/@sha256:[a-f0-9]{64}$/, '');
    },
  },
  'hpa-pdb': {
    env: 'prod',
    why: 'the PDB blocks every drain',
    breakIt: (o) => {
      get(o, 'PodDisruptionBudget').spec.maxUnavailable = 0;
    },
  },
  'single-autoscaler': {
    env: 'prod',
    why: 'a KEDA ScaledObject beside the HPA on the same Deployment (cases: test/policies-autoscaler.test.ts)',
    breakIt: (o) => {
      o.push({
        apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'ope-queue', namespace: 'ope' },
        spec: { scaleTargetRef: { name: 'ope' }, triggers: [{ type: 'prometheus', metadata: {} }] },
      });
    },
  },
  'image-policy-satisfiable': {
    env: 'prod',
    why: 'an upstream image pulled from its public registry instead of the mirror: it matches no glob (no-match-policy deny)',
    breakIt: (o) => {
      const w = o.find((x) => (x.spec?.template?.spec?.containers ?? []).some((c: J) => /\/stackbook-mirror\/docker\.io\/library\/redis:/.test(c.image)))!;
      const c = w.spec.template.spec.containers.find((x: J) => /\/stackbook-mirror\/docker\.io\/library\/redis:/.test(x.image));
      c.image = c.image.replace(/^.*\/stackbook-mirror\//, '');
    },
  },
  'alb-ingress': {
    env: 'prod',
    why: 'the ALB health-checks / while the pods are ready on another path',
    breakIt: (o) => {
      get(o, 'Ingress').metadata.annotations['alb.ingress.kubernetes.io/healthcheck-path'] = '/';
    },
  },
  'acme-http01-reachable': {
    env: 'dev',
    why: 'default deny without the allowance for the HTTP-01 solver pods',
    breakIt: (o) => {
      o.splice(indexOf(o, 'NetworkPolicy', 'allow-acme-http01-solver'), 1);
    },
  },
  'postgres-pitr-drill': {
    env: 'prod',
    why: 'the cluster archives WAL but its restore drill is gone',
    breakIt: (o) => {
      o.splice(o.findIndex((x) => x.kind === 'CronJob' && x.metadata.name === 'aion-pg-pitr-drill'), 1);
    },
  },
  'vault-ca': {
    env: 'airgap',
    why: 'the private Vault store names no CA',
    breakIt: (o) => {
      delete o.find((x) => x.kind === 'ClusterSecretStore')!.spec.provider.vault.caProvider;
    },
  },
  'ingress-from-load-balancer': {
    env: 'prod',
    why: 'the app port admits the whole VPC',
    breakIt: (o) => {
      const np = get(o, 'NetworkPolicy');
      np.spec.ingress.find((r: J) => r.from.some((p: J) => p.ipBlock)).from.find((p: J) => p.ipBlock).ipBlock.cidr = '10.40.0.0/16';
    },
  },
  'ca-issuer-intermediate': {
    env: 'airgap',
    why: 'the CA issuer signs with the corporate root key',
    breakIt: (o) => {
      o.find((x) => x.kind === 'ClusterIssuer')!.spec.ca.secretName = 'corp-root-ca';
    },
  },
  'secret-env': {
    env: 'prod',
    why: 'a platform component (the Redis exporter) takes its password from a Secret as an environment variable again',
    breakIt: (o) => {
      const sts = o.find((x) => x.kind === 'StatefulSet' && x.spec.template.spec.containers.some((c: J) => c.name === 'exporter'))!;
      const exporter = sts.spec.template.spec.containers.find((c: J) => c.name === 'exporter');
      exporter.env = [...exporter.env, { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } } }];
    },
  },
  'trace-format': {
    env: 'prod',
    why: 'a trace annotation that is not a catalog ID',
    breakIt: (o) => {
      get(o, 'Service').metadata.annotations['stackbook.io/concerns'] = 'OPE-90,ope 4';
    },
  },
};

/**
 * The stacks' only deliberate relaxations (OUB-10): the Oubliette pod's container-runtime sidecar
 * needs more than Pod Security "restricted", so its dedicated Namespace and its Deployment carry
 * reasoned `exception.stackbook.io/pod-security-restricted` annotations.
 */
const EXCEPTED = { rule: 'pod-security-restricted', objects: ['Namespace oub', 'Deployment oub/oubliette'] };
/** Advisory findings the real stacks may report (`rule object`): none. */
const ADVISORIES: readonly string[] = [];

describe('the real stacks pass every policy (X-13)', () => {
  it.each(ENVS)('%s: no blocking violation; every other one is a reasoned OUB-10 exception or a listed advisory', (env) => {
    const objects = renderEnv(env).objects;
    const ctx = contextOf(objects);
    expect(ctx.tier).toBeDefined();
    const vs = evaluate(objects);
    expect(blocking(vs).map(formatViolation)).toEqual([]);
    for (const v of vs) {
      const line = formatViolation(v);
      if (v.enforcement === 'advisory' && v.exceptedBecause === undefined) {
        expect(ADVISORIES, line).toContain(`${v.rule} ${v.object}`);
        continue;
      }
      expect(v.rule, line).toBe(EXCEPTED.rule);
      expect(EXCEPTED.objects, line).toContain(v.object);
      expect(v.exceptedBecause, line).toMatch(/^OUB-10: \S.{20,}/);
      // only the runtime sidecar is relaxed: the server container stays restricted
      if (v.object.startsWith('Deployment ')) expect(v.message, line).toMatch(/^container runtime /);
    }
    // the exceptions are what lets these through: without the annotations, exactly these block
    const stripped = copy(env);
    for (const o of stripped) {
      for (const k of Object.keys(o.metadata.annotations ?? {})) if (k.startsWith('exception.stackbook.io/')) delete o.metadata.annotations[k];
    }
    const triple = (v: Violation) => `${v.rule} ${v.object}: ${v.message}`;
    expect(blocking(evaluate(stripped as Obj[])).map(triple)).toEqual(vs.filter((v) => v.exceptedBecause !== undefined).map(triple));
  });

  it('the policy context is read from the rendered Namespaces', () => {
    expect(contextOf(renderEnv('dev').objects)).toEqual({ tier: 'development', registry: undefined });
    expect(contextOf(renderEnv('prod').objects)).toEqual({ tier: 'production', registry: undefined });
    expect(contextOf(renderEnv('airgap').objects)).toEqual({ tier: 'production', registry: renderEnv('airgap').stack.cluster.registry });
  });
});

describe('each rule catches a deliberately broken real object', () => {
  it('every rule has a breaker here (a new rule needs a test)', () => {
    expect(RULES.map((r) => r.id).sort()).toEqual(Object.keys(BREAKERS).sort());
  });

  it.each(RULES.map((r) => [r.id, r.enforcement] as const))('%s', (id) => {
    const { env, breakIt } = BREAKERS[id]!;
    const objects = copy(env);
    breakIt(objects);
    const vs = newViolations(env, objects);
    expect(vs.length).toBeGreaterThan(0);
    expect([...new Set(vs.map((v) => v.rule))]).toEqual([id]);
    expect(blocking(vs)).toEqual(vs);
    // and they are all the broken stack blocks on
    expect(blocking(evaluate(objects as Obj[]))).toEqual(vs);
    for (const v of vs) {
      expect(v.enforcement).toBe('mandatory');
      expect(v.fix.length).toBeGreaterThan(0);
      expect(formatViolation(v)).toContain(`[${id}]`);
    }
  });

  it.each(RULES.map((r) => r.id))('%s: an exception annotation with a reason makes it excepted, not blocking', (id) => {
    const { env, breakIt } = BREAKERS[id]!;
    const objects = copy(env);
    breakIt(objects);
    const before = newViolations(env, objects);
    expect(before.length).toBeGreaterThan(0);
    const reason = `accepted risk for this test: ${id} is relaxed on purpose`;
    for (const v of before) {
      const o = objects.find((x) => ref(x as Obj) === v.object)!;
      o.metadata.annotations = { ...o.metadata.annotations, [`exception.stackbook.io/${id}`]: reason };
    }
    const after = newViolations(env, objects);
    expect(after).toHaveLength(before.length);
    expect(blocking(evaluate(objects as Obj[]))).toEqual([]);
    for (const v of after) {
      expect(v.rule).toBe(id);
      expect(v.exceptedBecause).toBe(reason);
      expect(formatViolation(v)).toContain(`excepted (${reason})`);
    }
  });

  it('an exception for another rule does not excuse the violation', () => {
    const objects = copy('prod');
    BREAKERS.probes!.breakIt(objects);
    get(objects, 'Deployment').metadata.annotations['exception.stackbook.io/resources'] = 'resources are relaxed, probes are not';
    const vs = evaluate(objects as Obj[]);
    expect(blocking(vs).map((v) => v.rule)).toEqual(['probes']);
  });

  it('an exception without a real reason is itself a blocking violation', () => {
    const objects = copy('prod');
    BREAKERS.probes!.breakIt(objects);
    get(objects, 'Deployment').metadata.annotations['exception.stackbook.io/probes'] = 'ok';
    const vs = evaluate(objects as Obj[]);
    expect(vs.find((v) => v.rule === 'probes')?.exceptedBecause).toBe('ok');
    expect(blocking(vs).map((v) => v.rule)).toEqual(['trace-format']);
  });
});

describe('rule details on real objects', () => {
  it('pod-security-restricted: each hardening field is checked on its own', () => {
    const cases: Array<(c: J, pod: J) => void> = [
      (c) => { c.securityContext.readOnlyRootFilesystem = false; },
      (c) => { c.securityContext.capabilities = { drop: ['NET_RAW'] }; },
      (c) => { c.securityContext.capabilities.add = ['SYS_ADMIN']; },
      (c) => { c.securityContext.privileged = true; },
      (c) => { c.securityContext.runAsUser = 0; },
      (c, pod) => { delete c.securityContext.seccompProfile; delete pod.securityContext.seccompProfile; },
      (c, pod) => { delete c.securityContext.runAsNonRoot; delete pod.securityContext.runAsNonRoot; },
      (_c, pod) => { pod.automountServiceAccountToken = true; },
      (_c, pod) => { pod.hostNetwork = true; },
      (_c, pod) => { pod.volumes.push({ name: 'host', hostPath: { path: '/' } }); },
    ];
    for (const [i, mutate] of cases.entries()) {
      const objects = copy('prod');
      const pod = get(objects, 'Deployment').spec.template.spec;
      mutate(pod.containers[0], pod);
      expect([...new Set(newViolations('prod', objects).map((v) => v.rule))], `case ${i}`).toEqual(['pod-security-restricted']);
    }
  });

  it('pod-security-restricted: a namespace that does not enforce restricted', () => {
    const objects = copy('dev');
    get(objects, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'] = 'baseline';
    expect(newViolations('dev', objects).map((v) => [v.rule, v.object])).toEqual([['pod-security-restricted', 'Namespace ope']]);
  });

  it('probes: identical liveness and readiness probes', () => {
    const objects = copy('prod');
    const c = container(objects);
    c.livenessProbe = structuredClone(c.readinessProbe);
    expect(newViolations('prod', objects).map((v) => v.message)).toEqual([expect.stringMatching(/identical liveness and readiness/)]);
  });

  it('image-digest: an air-gapped image not relocated to the mirror', () => {
    const objects = copy('airgap');
    const c = container(objects);
    c.image = c.image.replace(/^.*?\/ghcr\.io\//, 'ghcr.io/');
    expect(c.image.startsWith('ghcr.io/')).toBe(true);
    // ... which cosign admission would also deny: its repository matches no ClusterImagePolicy glob.
    expect(newViolations('airgap', objects).map((v) => v.rule)).toEqual(['image-digest', 'image-policy-satisfiable']);
  });

  it('image-digest: a tag-only image is fine in development', () => {
    expect(container(copy('dev')).image).not.toContain('@sha256:');
    expect(evaluate(copy('dev') as Obj[]).filter((v) => v.rule === 'image-digest')).toEqual([]);
  });

  it('hpa-pdb: fixed replicas beside an HPA, and a missing PDB', () => {
    const fixed = copy('prod');
    get(fixed, 'Deployment').spec.replicas = 3;
    expect(newViolations('prod', fixed).map((v) => [v.rule, v.object])).toEqual([['hpa-pdb', 'Deployment ope/ope']]);
    const noPdb = copy('prod');
    noPdb.splice(indexOf(noPdb, 'PodDisruptionBudget'), 1);
    expect(newViolations('prod', noPdb).map((v) => [v.rule, v.object])).toEqual([['hpa-pdb', 'HorizontalPodAutoscaler ope/ope']]);
  });

  it('network-policy-peers: egress to the whole internet', () => {
    const objects = copy('prod');
    get(objects, 'NetworkPolicy').spec.egress[0].to.push({ ipBlock: { cidr: '0.0.0.0/0' } });
    expect(newViolations('prod', objects).map((v) => v.message)).toEqual([expect.stringContaining('0.0.0.0/0')]);
  });

  it('no-secret-literal: a secret-looking literal in container env', () => {
    const objects = copy('prod');
    container(objects).env.push({ name: 'DEV_JWT_SECRET', value: 'd41d8cd98f00b204e9800998ecf8427e' });
    expect(newViolations('prod', objects).map((v) => v.rule)).toEqual(['no-secret-literal']);
  });

  it('secret-env (issue 14 item 17): envFrom of a whole Secret on a platform job is refused, naming object, container, Secret and fix; application workloads are left to app-contract', () => {
    const objects = copy('prod');
    const job = objects.find((x) => x.kind === 'CronJob')!;
    const c = job.spec.jobTemplate.spec.template.spec.containers[0];
    c.envFrom = [{ secretRef: { name: 'leaky' } }];
    const vs = newViolations('prod', objects);
    expect(vs.map((v) => v.rule)).toEqual(['secret-env']);
    expect(vs[0]!.object).toBe(ref(job as Obj));
    expect(vs[0]!.message).toContain(`container ${c.name} takes every key of Secret leaky (envFrom)`);
    expect(vs[0]!.fix).toContain('mount Secret leaky read-only as a file');
    // An application workload (annotated with its contract) keeps its runbook-named variables: not this rule's.
    const app = objects.find((x) => x.kind === 'Deployment' && x.metadata.annotations?.['stackbook.io/contract'] && JSON.stringify(x).includes('secretKeyRef'));
    expect(app, 'an application workload with a Secret-sourced variable').toBeDefined();
    expect(secretEnvUses(app as Obj).length).toBeGreaterThan(0);
    expect(secretEnv.check([app as Obj], { tier: 'production', registry: undefined } as never)).toEqual([]);
  });
});

/**
 * The Pulumi policy pack's adapter (policies/pulumi-adapter.ts), with fake `validateStack`
 * resource lists shaped like the engine's: the rules of policies/rules.ts judge the objects Pulumi
 * deploys exactly as `synth` judges the bundle. PolicyPack itself is never constructed here.
 */
import { describe, expect, it } from 'vitest';
import type { PolicyResource, StackValidationArgs } from '@pulumi/policy';
import {
  PULUMI_SECRET_SOURCE_ANNOTATION,
  findings,
  isPulumiOwnedSecret,
  manifestsOf,
  stackPolicies,
  type StackResource,
} from '../policies/pulumi-adapter.js';
import { RULES, blocking, evaluate } from '../policies/manifest-rules.js';
import type { Manifest } from '../synth/render.js';
import { ENVS, renderEnv } from './helpers.js';

const STACK_TYPE = 'pulumi:pulumi:Stack';
const GROUP_TYPE = 'kubernetes:yaml:ConfigGroup';

function typeToken(m: Manifest): string {
  return `kubernetes:${m.apiVersion.includes('/') ? m.apiVersion : `core/${m.apiVersion}`}:${m.kind}`;
}

/**
 * Like the policy SDK's unknown-checking proxy during a preview: the server-set fields are unknown
 * and reading one throws. The adapter must not touch them.
 */
function previewProxy<T extends object>(o: T, path: string[] = []): T {
  return new Proxy(o, {
    get(target, prop, receiver) {
      const at = [...path, String(prop)].join('.');
      if (at === 'status' || at === 'metadata.uid' || at === 'metadata.resourceVersion') throw new Error(`read unknown ${at}`);
      const v = Reflect.get(target, prop, receiver) as unknown;
      return v !== null && typeof v === 'object' ? previewProxy(v as object, [...path, String(prop)]) : v;
    },
  });
}

/** One ConfigGroup child as the engine reports it: outputs = the object plus server-set fields. */
function child(stack: string, m: Manifest): StackResource {
  const type = typeToken(m);
  const name = m.metadata.namespace ? `${m.metadata.namespace}/${m.metadata.name}` : m.metadata.name;
  const props = structuredClone(m) as Record<string, any>;
  props.metadata.uid = 'unknown';
  props.status = 'unknown';
  return { type, urn: `urn:pulumi:${stack}::stackbook::${GROUP_TYPE}$${type}::${name}`, props: previewProxy(props) };
}

/** A whole stack: the Stack, the provider, the ConfigGroup, its children, and one Pulumi-owned Secret. */
function stackResources(env: string, objects: readonly Manifest[] = renderEnv(env).objects): StackResource[] {
  return [
    { type: STACK_TYPE, urn: `urn:pulumi:${env}::stackbook::${STACK_TYPE}::stackbook-${env}`, props: {} },
    { type: 'pulumi:providers:kubernetes', urn: `urn:pulumi:${env}::stackbook::pulumi:providers:kubernetes::default_4_34_2`, props: { version: '4.34.2' } },
    { type: GROUP_TYPE, urn: `urn:pulumi:${env}::stackbook::${GROUP_TYPE}::stackbook`, props: {} },
    { type: 'random:index/randomPassword:RandomPassword', urn: `urn:pulumi:${env}::stackbook::random:index/randomPassword:RandomPassword::pw`, props: { length: 32, result: 'x' } },
    ...objects.map((m) => child(env, m)),
    {
      type: 'kubernetes:core/v1:Secret',
      urn: `urn:pulumi:${env}::stackbook::kubernetes:core/v1:Secret::ope/ope-credentials`,
      props: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'ope-credentials', namespace: 'ope', annotations: { [PULUMI_SECRET_SOURCE_ANNOTATION]: 'pulumi' } },
        type: 'Opaque',
        data: { password: 'c2VjcmV0' },
      },
    },
  ];
}

function broken(env: string, edit: (objects: Manifest[]) => void): StackResource[] {
  const objects = structuredClone(renderEnv(env).objects) as Manifest[];
  edit(objects);
  return stackResources(env, objects);
}

/** OPE's Deployment, by namespace and name (other services' Deployments come first in the bundle). */
const deploymentOf = (objects: Manifest[]) => {
  const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.namespace === 'ope' && o.metadata.name === 'ope');
  if (!d) throw new Error('no Deployment ope/ope');
  return d as Manifest & { spec: any };
};
const deploymentUrn = (env: string) => `urn:pulumi:${env}::stackbook::${GROUP_TYPE}$kubernetes:apps/v1:Deployment::ope/ope`;

describe.each(ENVS)('compliant stack %s', (env) => {
  it('reads back exactly the rendered objects, skipping non-objects and the Pulumi-owned Secret', () => {
    const { objects, urnOf } = manifestsOf(stackResources(env));
    expect(objects).toEqual(JSON.parse(JSON.stringify(renderEnv(env).objects)));
    expect(urnOf.get('Deployment ope/ope')).toBe(deploymentUrn(env));
  });

  it('passes every policy, as synth does', () => {
    expect(blocking(evaluate(renderEnv(env).objects))).toEqual([]);
    expect(findings(stackResources(env))).toEqual([]);
  });
});

describe('broken objects', () => {
  it('fails a privileged-escalation container under pod-security-restricted, on the Deployment', () => {
    const resources = broken('prod', (objects) => {
      deploymentOf(objects).spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    });
    const fs = findings(resources);
    expect(fs.map((f) => [f.violation.rule, f.violation.object, f.urn])).toEqual([
      ['pod-security-restricted', 'Deployment ope/ope', deploymentUrn('prod')],
    ]);
    expect(fs[0]!.text).toMatch(/^Deployment ope\/ope: \[pod-security-restricted\] container \S+ allows privilege escalation — fix: set allowPrivilegeEscalation: false \[mandatory\]$/);
  });

  it('fails an image without digest in production under image-digest', () => {
    const resources = broken('prod', (objects) => {
      const c = deploymentOf(objects).spec.template.spec.containers[0];
      c.image = String(c.image).replace(/@sha256:[a-f0-9]{64}$/, '');
    });
    expect(findings(resources).map((f) => [f.violation.rule, f.urn])).toEqual([['image-digest', deploymentUrn('prod')]]);
  });

  it('judges a Secret with data among the rendered objects, even if it claims to be Pulumi-owned', () => {
    const resources = broken('dev', (objects) => {
      objects.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'smuggled', namespace: 'ope', annotations: { [PULUMI_SECRET_SOURCE_ANNOTATION]: 'pulumi' } },
        data: { k: 'dg==' },
      });
    });
    const smuggled = resources.find((r) => r.urn.endsWith('::ope/smuggled'))!;
    expect(isPulumiOwnedSecret(smuggled)).toBe(false);
    expect(isPulumiOwnedSecret(resources.find((r) => r.urn.endsWith('kubernetes:core/v1:Secret::ope/ope-credentials'))!)).toBe(true);
    expect(findings(resources).map((f) => [f.violation.rule, f.violation.object, f.urn])).toEqual([
      ['no-secret-data', 'Secret ope/smuggled', smuggled.urn],
    ]);
  });

  it('reports nothing for a violation carrying an exception annotation', () => {
    const resources = broken('prod', (objects) => {
      const d = deploymentOf(objects);
      d.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
      d.metadata.annotations = { ...d.metadata.annotations, 'exception.stackbook.io/pod-security-restricted': 'vendor image needs setuid, ticket OPS-123' };
    });
    expect(findings(resources)).toEqual([]);
  });
});

describe('stack policies', () => {
  const args = (resources: StackResource[]): StackValidationArgs => ({
    resources: resources as unknown as PolicyResource[],
    stackTags: new Map(),
    getConfig: <T extends object>() => ({}) as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`not applicable: ${reason ?? ''}`);
    },
  });

  it('has one stack policy per rule, named by its id, with its enforcement level', () => {
    const policies = stackPolicies();
    expect(policies.map((p) => [p.name, p.enforcementLevel, p.description])).toEqual(RULES.map((r) => [r.id, r.enforcement, r.description]));
  });

  it('reports the violation (object, rule, fix) with the resource URN under the right policy only', async () => {
    const resources = broken('staging', (objects) => {
      deploymentOf(objects).spec.template.spec.automountServiceAccountToken = true;
    });
    const reported: Array<[string, string, string | undefined]> = [];
    for (const p of stackPolicies()) {
      await p.validateStack(args(resources), (message, urn) => reported.push([p.name, message, urn]));
    }
    expect(reported).toEqual([
      [
        'pod-security-restricted',
        'Deployment ope/ope: [pod-security-restricted] mounts a service-account token — fix: set automountServiceAccountToken: false [mandatory]',
        deploymentUrn('staging'),
      ],
    ]);
  });

  it('reports nothing on a compliant stack', async () => {
    const reported: string[] = [];
    for (const p of stackPolicies()) await p.validateStack(args(stackResources('airgap')), (m) => reported.push(m));
    expect(reported).toEqual([]);
  });
});

// --------------------------------------------------------------------------- after `pulumi up`

/** The fieldsV1 set of everything in `v` (lists as one owned field, as keepWritten treats them). */
function fieldsOf(v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [`f:${k}`, fieldsOf(x)]));
}

/**
 * A ConfigGroup child as the engine reports it after `up`: the live object. The server filled in
 * defaults nobody wrote (`spec.replicas: 1` of a Deployment, a rolling-update strategy), the program's
 * server-side apply owns what it sent, and the HPA controller owns `spec.replicas` through `/scale`.
 */
function liveChild(stack: string, m: Manifest, hpaTargets: ReadonlySet<string>): StackResource {
  const sent = structuredClone(m) as Record<string, any>;
  const live = structuredClone(m) as Record<string, any>;
  const managedFields: Record<string, unknown>[] = [
    { manager: 'pulumi-kubernetes-7f3a', operation: 'Apply', apiVersion: m.apiVersion, fieldsType: 'FieldsV1', fieldsV1: fieldsOf({ metadata: { labels: sent.metadata.labels, annotations: sent.metadata.annotations }, spec: sent.spec, data: sent.data }) },
  ];
  if (m.kind === 'Deployment') {
    live.spec.replicas ??= 1;
    live.spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
    live.spec.revisionHistoryLimit ??= 10;
    if (hpaTargets.has(`${m.metadata.namespace}/${m.metadata.name}`)) {
      managedFields.push({ manager: 'kube-controller-manager', operation: 'Update', subresource: 'scale', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } });
    }
    managedFields.push({ manager: 'kube-controller-manager', operation: 'Update', subresource: 'status', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:replicas': {} } } });
    live.status = { replicas: live.spec.replicas };
  }
  live.metadata.managedFields = managedFields;
  live.metadata.uid = '0b3c';
  live.metadata.resourceVersion = '812';
  const type = typeToken(m);
  const name = m.metadata.namespace ? `${m.metadata.namespace}/${m.metadata.name}` : m.metadata.name;
  return { type, urn: `urn:pulumi:${stack}::stackbook::${GROUP_TYPE}$${type}::${name}`, props: live };
}

function liveStack(env: string, objects: readonly Manifest[] = renderEnv(env).objects): StackResource[] {
  const hpaTargets = new Set(
    objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').map((h) => `${h.metadata.namespace}/${(h.spec as any).scaleTargetRef.name}`),
  );
  expect(hpaTargets.size).toBeGreaterThan(0);
  return objects.map((m) => liveChild(env, m, hpaTargets));
}

describe('after pulumi up: the engine hands the policies outputs (live objects), the rules judge what the program wrote', () => {
  it.each(ENVS)('%s: no finding from server defaults (a defaulted spec.replicas beside an HPA)', (env) => {
    const live = liveStack(env);
    // the defaults are really there: without managed fields the same objects fail hpa-pdb
    const bare = live.map((r) => ({ ...r, props: { ...r.props, metadata: { ...(r.props.metadata as object), managedFields: undefined } } }));
    expect(findings(bare).map((f) => f.violation.rule)).toContain('hpa-pdb');
    expect(findings(live)).toEqual([]);
  });

  it('still reports replicas the program itself sets beside an HPA', () => {
    const objects = structuredClone(renderEnv('prod').objects) as Manifest[];
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
    const target = objects.find((o) => o.kind === 'Deployment' && o.metadata.namespace === hpa.metadata.namespace && o.metadata.name === (hpa.spec as any).scaleTargetRef.name)!;
    (target.spec as any).replicas = 3;
    const texts = findings(liveStack('prod', objects)).map((f) => f.text);
    expect(texts).toEqual([expect.stringMatching(new RegExp(`^Deployment ${target.metadata.namespace}/${target.metadata.name}: \\[hpa-pdb\\] has fixed replicas and an HPA`))]);
  });
});

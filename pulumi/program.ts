/**
 * The Pulumi program: registers exactly the objects `stackbook synth` writes (`checkStack`, the
 * CLI's pipeline: render -> policies -> air-gap check; a stack it refuses registers nothing), plus
 * the Secrets only Pulumi may own (`SecretRequirement`s with source `pulumi`). Everything it knows
 * about the stack comes from the rendered result; it adds no manifest logic.
 */
import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import * as random from '@pulumi/random';
import { PULUMI_SECRET_SOURCE_ANNOTATION } from '../policies/pulumi-adapter.js';
import { ROTATION_VERSION_ANNOTATION, secretListing, type SecretListing } from '../components/secret.js';
import type { SecretRequirement } from '../services/types.js';
import { ConfigError, type ConfigProblem } from '../stacks/load.js';
import { checkStack, refusalLines, violationLines } from '../synth/pipeline.js';
import { commonLabels, PHASES, phaseOf, type Manifest, type Rendered } from '../synth/render.js';
import { loadStackFromPulumiConfig, type LoadedStack } from './config.js';

export interface StackOutputs {
  /** Namespaces the stack creates. */
  readonly namespaces: string[];
  /** `https://<host>` of every Ingress host, sorted. */
  readonly endpoints: string[];
  /** Every Secret the stack needs (as in the bundle's secrets.json): names, keys, source, version; never a value. */
  readonly secrets: SecretListing[];
}

export interface Deployment {
  readonly outputs: StackOutputs;
  /** The rendered objects, as typed children of one ConfigGroup. */
  readonly group: k8s.yaml.ConfigGroup;
  /** The Secrets owned by Pulumi, in `rendered.secrets` order. */
  readonly secrets: readonly k8s.core.v1.Secret[];
  /** The value of each key of each of those Secrets (base64, as in `data`): every one a secret Output. */
  readonly secretData: ReadonlyArray<Readonly<Record<string, pulumi.Output<string>>>>;
  readonly passwords: readonly random.RandomPassword[];
  /** Resolves once every resource above is registered. For tests; the entry does not wait on it. */
  settled(): Promise<void>;
}

/** How one key of a Pulumi-owned Secret gets its value. */
export type SecretKeySource =
  | { readonly key: string; readonly from: 'random'; readonly length: number }
  | { readonly key: string; readonly from: 'config'; readonly configKey: string; readonly value: string }
  /** Built from other keys of the same Secret, each `{key}` replaced by that key's value, URL-encoded (e.g. a Redis URL around a random password). */
  | { readonly key: string; readonly from: 'template'; readonly template: string; readonly refs: readonly string[] };

/** The `{key}` references of a template, in order of first use. */
export function templateRefs(template: string): string[] {
  return [...new Set([...template.matchAll(/\{([-._a-zA-Z0-9]+)\}/g)].map((m) => m[1]!))];
}

/** A template with every `{key}` replaced by `encodeURIComponent(values[key])`. */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([-._a-zA-Z0-9]+)\}/g, (_, k: string) => encodeURIComponent(values[k] ?? ''));
}

export interface SecretPlan {
  readonly requirement: SecretRequirement;
  readonly keys: readonly SecretKeySource[];
}

/**
 * Pure: where each key of each `pulumi` Secret comes from. A requirement that does not say how to
 * fill a key is a bug in its service module (Error); a missing or plain-text `stackbook:secrets.<key>`
 * is the stack's problem (ConfigError, named like every other config problem, value never shown).
 */
export function planPulumiSecrets(rendered: Rendered, loaded: Pick<LoadedStack, 'file' | 'secretTopKeys'>): SecretPlan[] {
  const problems: ConfigProblem[] = [];
  const plans: SecretPlan[] = [];
  const values = rendered.stack.secrets;
  for (const req of rendered.secrets) {
    if (req.source !== 'pulumi') continue;
    const id = `Secret ${req.namespace}/${req.name}`;
    const extra = Object.keys(req.pulumi ?? {}).filter((k) => !req.keys.includes(k));
    if (extra.length > 0) throw new Error(`${id}: pulumi sources for undeclared keys ${extra.join(', ')}`);
    const keys: SecretKeySource[] = [];
    for (const key of req.keys) {
      const how = req.pulumi?.[key];
      if (how === undefined) throw new Error(`${id}: key ${key} has no pulumi source (randomLength, configKey or template)`);
      if ('template' in how) {
        const refs = templateRefs(how.template);
        const bad = refs.filter((r) => r === key || !req.keys.includes(r) || (req.pulumi?.[r] !== undefined && 'template' in req.pulumi[r]!));
        if (refs.length === 0 || bad.length > 0) throw new Error(`${id}: key ${key}: template must reference other non-template keys of the Secret (bad: ${bad.join(', ') || 'none referenced'})`);
        keys.push({ key, from: 'template', template: how.template, refs });
        continue;
      }
      if ('randomLength' in how) {
        if (!Number.isInteger(how.randomLength) || how.randomLength < 1) throw new Error(`${id}: key ${key}: randomLength must be a positive integer`);
        keys.push({ key, from: 'random', length: how.randomLength });
        continue;
      }
      const path = ['secrets', how.configKey];
      const hint = `pulumi config set --secret --path 'stackbook:secrets.${how.configKey}' <value>`;
      const value = Object.prototype.hasOwnProperty.call(values, how.configKey) ? values[how.configKey] : undefined;
      if (value === undefined) {
        problems.push({ file: loaded.file, path, message: `required by ${id} (key ${key}): set it with \`${hint}\`` });
      } else if (typeof value !== 'string') {
        problems.push({ file: loaded.file, path, message: `still encrypted: ${id} (key ${key}) needs the decrypted value` });
      } else if (!loaded.secretTopKeys.has('secrets')) {
        problems.push({ file: loaded.file, path, message: `must be a Pulumi secret, not plain text (used by ${id}): set it with \`${hint}\`` });
      } else {
        keys.push({ key, from: 'config', configKey: how.configKey, value });
      }
    }
    plans.push({ requirement: req, keys });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return plans;
}

/** Pure: the stack outputs, read off the rendered objects. */
export function outputsOf(rendered: Rendered): StackOutputs {
  const namespaces = rendered.objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
  const hosts = new Set<string>();
  for (const o of rendered.objects) {
    if (o.kind !== 'Ingress') continue;
    const rules = (o.spec as { rules?: Array<{ host?: string }> } | undefined)?.rules ?? [];
    for (const r of rules) if (r.host) hosts.add(r.host);
  }
  return { namespaces, endpoints: [...hosts].sort().map((h) => `https://${h}`), secrets: rendered.secrets.map(secretListing) };
}

/** The key `k8s.yaml.ConfigGroup` (v1) files each child under in its `resources` map. */
export function configGroupKey(m: Manifest): string {
  const id = m.metadata.namespace ? `${m.metadata.namespace}/${m.metadata.name}` : m.metadata.name;
  return `${m.apiVersion}/${m.kind}::${id}`;
}

function urnRegistered(r: pulumi.Resource): Promise<void> {
  return new Promise((resolve) => {
    r.urn.apply((u) => {
      resolve();
      return u;
    });
  });
}

const base64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Test-only switch, set by `npm run test:cluster` (tools/test-cluster.mjs) and nowhere else. */
export const TEST_SKIP_AWAIT_ENV = 'STACKBOOK_TEST_SKIP_AWAIT';
/**
 * Kinds whose provider readiness wait needs a kubelet (ready Pods, Service endpoints), an ingress
 * controller (Ingress load balancer status) or a volume provisioner (bound PVCs): the kubelet-less
 * test cluster of `npm run test:cluster` has none of them, so those waits could only time out.
 */
export const TEST_SKIP_AWAIT_KINDS: ReadonlySet<string> = new Set([
  'DaemonSet', 'Deployment', 'Ingress', 'Job', 'PersistentVolumeClaim', 'Pod', 'ReplicaSet', 'Service', 'StatefulSet',
]);

/**
 * `STACKBOOK_TEST_SKIP_AWAIT` (the real-cluster test only) marks objects `pulumi.com/skipAwait: "true"`:
 * `true` marks every `TEST_SKIP_AWAIT_KINDS` kind (a test cluster without data plane); a comma list
 * of kinds marks only those (with kwok Nodes and a scheduler, only what can never become ready
 * there, e.g. `Ingress`: no ingress controller). Kinds outside `TEST_SKIP_AWAIT_KINDS` are ignored.
 * Otherwise (unset, any other value) leaves the object untouched.
 */
export function applyTestSkipAwait(obj: Manifest, env: Readonly<Record<string, string | undefined>> = process.env): void {
  const v = env[TEST_SKIP_AWAIT_ENV];
  if (v === undefined || !TEST_SKIP_AWAIT_KINDS.has(obj.kind)) return;
  if (v !== 'true' && !v.split(',').map((k) => k.trim()).includes(obj.kind)) return;
  obj.metadata.annotations = { ...obj.metadata.annotations, 'pulumi.com/skipAwait': 'true' };
}

/** The provider's readiness annotation (pulumi-kubernetes provider/pkg/metadata/annotations.go:33). */
export const WAIT_FOR_ANNOTATION = 'pulumi.com/waitFor';
/** What a ClusterIP Service with a selector waits for: its cluster IP, allocated by the API server. */
export const SERVICE_WAIT_FOR = 'jsonpath={.spec.clusterIP}';

/**
 * A ClusterIP Service with a selector waits for its cluster IP instead of the provider's Endpoints
 * wait. Why: the provider's Service wait (f47bc2d6f199 provider/pkg/await/service.go:342-348, 400-415)
 * succeeds once the Endpoints object has had no event for 10 s and has no not-ready addresses; it
 * does not need a ready address. Services are created before the workloads (apply phases), so that
 * wait only ever sees an empty Endpoints object: it proves nothing, yet holds one of the engine's
 * 4 x GOMAXPROCS step slots for 10 s per Service (staging: 17 Services, 22 s of a 52 s `up` with only
 * Services running, measured from the engine's event log, docs/pulumi-speed.md). A custom
 * `pulumi.com/waitFor` replaces the provider's own wait (await.go:283-294); the selector matching
 * some workload's pods is the policy rule `service-selects-pods` instead, checked before anything is
 * applied, and the workloads keep their own readiness waits. Headless and selector-less Services,
 * other Service types and objects that already say how to wait are left alone.
 */
export function serviceReadiness(obj: Manifest): void {
  if (obj.kind !== 'Service') return;
  const spec = (obj as { spec?: { selector?: Record<string, string>; clusterIP?: string; type?: string } }).spec;
  if (!spec?.selector || Object.keys(spec.selector).length === 0) return;
  if (spec.clusterIP === 'None' || (spec.type !== undefined && spec.type !== 'ClusterIP')) return;
  const a = obj.metadata.annotations ?? {};
  if (a[WAIT_FOR_ANNOTATION] !== undefined || a['pulumi.com/skipAwait'] !== undefined) return;
  obj.metadata.annotations = { ...a, [WAIT_FOR_ANNOTATION]: SERVICE_WAIT_FOR };
}

/**
 * The phase whose objects an object of `phase` depends on directly: the nearest earlier phase
 * with any object (`occupied`: phase indexes that have one), or undefined when there is none.
 */
export function directPhaseDependency(phase: number, occupied: ReadonlySet<number>): number | undefined {
  for (let i = phase - 1; i >= 0; i--) if (occupied.has(i)) return i;
  return undefined;
}

/**
 * Register a rendered stack. Apply order is synth's bundle order: every object waits for all
 * objects of earlier phases (`PHASES`: Namespaces and cluster-scoped objects such as the
 * ClusterIssuer first, then config, network, workloads, monitoring). The Pulumi-owned Secrets
 * belong to the config phase: they wait for the namespaces, and network/workloads/monitoring wait
 * for them. One ConfigGroup for all objects keeps every URN independent of the phase table.
 *
 * The wait is a chain: an object depends directly on the objects of the nearest earlier phase
 * that has any (`directPhaseDependency`), which themselves waited for theirs, so the order is the
 * same as depending on every earlier object, with fewer edges (prod: 11,372 instead of 20,631
 * URNs in RegisterResource requests and in every checkpoint of the state; docs/real-cluster.md).
 */
export function deployRendered(rendered: Rendered, loaded: Pick<LoadedStack, 'file' | 'secretTopKeys'>): Deployment {
  const plans = planPulumiSecrets(rendered, loaded); // every config problem before any resource
  const phaseIndex = (m: Manifest) => PHASES.indexOf(phaseOf(m));
  const configIndex = PHASES.indexOf('config');
  const phaseByKey = new Map<string, number>();
  for (const m of rendered.objects) phaseByKey.set(configGroupKey(m), phaseIndex(m));

  // The children exist only once the group has expanded its objects (asynchronously), hence a promise.
  let resolveChildren!: (rs: Record<string, pulumi.CustomResource>) => void;
  const children = new Promise<Record<string, pulumi.CustomResource>>((resolve) => {
    resolveChildren = resolve;
  });
  const occupied = new Set(phaseByKey.values());
  if (plans.length > 0) occupied.add(configIndex);
  const keysByPhase = new Map<number, string[]>();
  for (const [key, i] of phaseByKey) keysByPhase.set(i, [...(keysByPhase.get(i) ?? []), key]);
  // The Pulumi-owned Secrets are created below, after the group: one promise each for their dependents.
  let resolveSecrets!: (rs: readonly pulumi.Resource[]) => void;
  const secretsReady = new Promise<readonly pulumi.Resource[]>((resolve) => {
    resolveSecrets = resolve;
  });
  const before = new Map<number, Array<Promise<pulumi.Resource>>>();
  /**
   * What an object of `phase` depends on: one promise per object of the nearest earlier occupied
   * phase (and the Pulumi-owned Secrets, when that phase is config). An array of per-object promises
   * rather than one promise of an array: the SDK wraps a promise-valued `dependsOn` into Outputs
   * (@pulumi/pulumi 3.248 resource.js `merge` l.783, runtime/dependsOn.js l.37), and each Output
   * walks its whole resolved value (output.js `containsUnknowns` l.598), here every resource of the
   * phase with what hangs off it: prod walked ~900,000 objects for it, a third of the program's CPU.
   * Array elements are awaited one by one (dependsOn.js l.25-33), with no Output; the engine gets the
   * same dependency URNs.
   */
  const dependenciesOf = (phase: number): Array<Promise<pulumi.Resource>> => {
    let p = before.get(phase);
    if (!p) {
      const direct = directPhaseDependency(phase, occupied);
      p = direct === undefined ? [] : (keysByPhase.get(direct) ?? []).map((key) => children.then((byKey) => {
        const r = byKey[key];
        if (!r) throw new Error(`rendered object ${key} is not a ConfigGroup child`);
        return r;
      }));
      if (direct === configIndex) p.push(...plans.map((_, i) => secretsReady.then((rs) => rs[i]!)));
      before.set(phase, p);
    }
    return [...p];
  };

  const group = new k8s.yaml.ConfigGroup('stackbook', {
    // Copies: the group hands its objects to transformations and resource constructors.
    objs: rendered.objects.map((m) => structuredClone(m)),
    transformations: [
      (obj: Manifest, opts: pulumi.CustomResourceOptions) => {
        const phase = phaseIndex(obj);
        if (phase > 0) opts.dependsOn = dependenciesOf(phase);
        applyTestSkipAwait(obj);
        serviceReadiness(obj);
      },
    ],
  });
  group.resources.apply((rs) => {
    resolveChildren(rs);
    return rs;
  });

  const labels = commonLabels(rendered.stack);
  const passwords: random.RandomPassword[] = [];
  const secretData: Array<Record<string, pulumi.Output<string>>> = [];
  const owned = plans.map(({ requirement: req, keys }) => {
    const data: Record<string, pulumi.Output<string>> = {};
    secretData.push(data);
    for (const k of keys) {
      if (k.from === 'template') continue;
      if (k.from === 'random') {
        // The rotation version is a keeper: bumping it generates a new value (and rolls the consumers).
        const pw = new random.RandomPassword(
          `${req.namespace}/${req.name}/${k.key}`,
          { length: k.length, special: false, keepers: { [ROTATION_VERSION_ANNOTATION]: String(req.version ?? 1) } },
          { additionalSecretOutputs: ['result', 'bcryptHash'] },
        );
        passwords.push(pw);
        data[k.key] = pulumi.secret(pw.result.apply(base64));
      } else {
        data[k.key] = pulumi.secret(base64(k.value));
      }
    }
    for (const k of keys) {
      if (k.from !== 'template') continue;
      const parts = Object.fromEntries(k.refs.map((r) => [r, data[r]!]));
      data[k.key] = pulumi.secret(
        pulumi.all(parts).apply((vs) => base64(fillTemplate(k.template, Object.fromEntries(Object.entries(vs).map(([r, b]) => [r, Buffer.from(b, 'base64').toString('utf8')]))))),
      );
    }
    return new k8s.core.v1.Secret(
      `${req.namespace}/${req.name}`,
      {
        metadata: {
          name: req.name,
          namespace: req.namespace,
          labels,
          annotations: {
            [PULUMI_SECRET_SOURCE_ANNOTATION]: 'pulumi',
            [ROTATION_VERSION_ANNOTATION]: String(req.version ?? 1),
            'stackbook.io/consumers': [...req.consumers].sort().join(','),
          },
        },
        type: 'Opaque',
        data,
      },
      { dependsOn: dependenciesOf(configIndex), additionalSecretOutputs: ['data', 'stringData'] },
    );
  });
  resolveSecrets(owned);

  return {
    outputs: outputsOf(rendered),
    group,
    secrets: owned,
    secretData,
    passwords,
    async settled() {
      const all = [group, ...Object.values(await children), ...owned, ...passwords];
      await Promise.all(all.map(urnRegistered));
    },
  };
}

/** The SDK's switch for promise-leak diagnostics, which print each promise's captured stack (@pulumi/pulumi 3.248 runtime/debuggable.js:30). */
export const DEBUG_PROMISE_LEAKS_ENV = 'PULUMI_DEBUG_PROMISE_LEAKS';
/** `Error.stackTraceLimit` while the program registers resources: the throwing frame only. */
export const REGISTRATION_STACK_TRACE_LIMIT = 1;

/**
 * Lower `Error.stackTraceLimit` to `REGISTRATION_STACK_TRACE_LIMIT`; returns the function that
 * restores the previous limit (a no-op if someone else changed it meanwhile).
 *
 * Why: the SDK's `debuggablePromise` (@pulumi/pulumi 3.248 runtime/debuggable.js:79) reads
 * `new Error().stack` for every promise it creates, thousands per stack, and the language host
 * registers source-map-support (cmd/run/index.js:30), which formats and source-maps every frame
 * of each such stack on the spot: ~15 % of the program's CPU (docs/pulumi-speed.md). The stacks
 * are only ever printed by the leak report behind `PULUMI_DEBUG_PROMISE_LEAKS`, left untouched
 * when that is set. An error thrown while the limit is low keeps its message and the frame
 * that threw it.
 */
export function shortStackTraces(env: Readonly<Record<string, string | undefined>> = process.env): () => void {
  if (env[DEBUG_PROMISE_LEAKS_ENV]) return () => {};
  const previous = Error.stackTraceLimit;
  Error.stackTraceLimit = REGISTRATION_STACK_TRACE_LIMIT;
  return () => {
    if (Error.stackTraceLimit === REGISTRATION_STACK_TRACE_LIMIT) Error.stackTraceLimit = previous;
  };
}

/**
 * A stack the pipeline refuses (blocking policy violation, air-gap problem): the same lines
 * `stackbook synth` prints, one per problem. The entry turns it into a RunError (no stack trace).
 */
export class RefusedStackError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'RefusedStackError';
  }
}

/**
 * The whole program: `stackbook:*` config -> Stack (the CLI's loader) -> the CLI's pipeline
 * (`checkStack`: render -> policies -> air-gap check) -> resources. Config problems and refused
 * stacks end the run as a RunError carrying the CLI's text, before any resource is registered:
 * the engine prints it without a stack trace.
 */
export function program(): Deployment {
  try {
    const loaded = loadStackFromPulumiConfig();
    for (const key of [...loaded.secretTopKeys].sort()) {
      if (key !== 'secrets') {
        pulumi.log.warn(
          `${loaded.file}: config.stackbook:${key} is a Pulumi secret, but its values are rendered into plain manifests; only stackbook:secrets.* values stay secret`,
        );
      }
    }
    const checked = checkStack(loaded.stack);
    const refused = refusalLines(checked);
    if (refused.length > 0) throw new RefusedStackError(refused);
    // advisory findings: as `synth` prints them (excepted ones are listed by `stackbook check`)
    for (const line of violationLines(checked, { withExcepted: false })) pulumi.log.warn(line);
    // Config, render and policy errors above keep full stacks; registration runs with short ones
    // until every resource is registered (a failed registration ends the program anyway).
    const restore = shortStackTraces();
    try {
      const deployment = deployRendered(checked.rendered, loaded);
      deployment.settled().then(restore, restore);
      return deployment;
    } catch (e) {
      restore();
      throw e;
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RefusedStackError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

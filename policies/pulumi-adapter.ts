/**
 * Pure adapter between the Pulumi policy SDK and policies/manifest-rules.ts: the resources of a
 * `validateStack` call -> manifests -> `evaluate`, exactly the rules `stackbook synth` runs.
 * It never constructs a PolicyPack (that starts a gRPC server): ./pack.ts does, and only there.
 * Imports from @pulumi/policy are types only, so tests load this module cheaply.
 */
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from '@pulumi/policy';
import { RULES, contextOf, evaluate, formatViolation, ref, type Obj, type Rule, type Violation } from './manifest-rules.js';

/**
 * Annotation the Pulumi program puts on the Secrets it owns (random or config values, encrypted in
 * state). Those carry data by design and are not judged by `no-secret-data`; see `isPulumiOwnedSecret`.
 */
export const PULUMI_SECRET_SOURCE_ANNOTATION = 'stackbook.io/secret-source';

/** What the adapter reads of a `PolicyResource`; tests pass plain objects of this shape. */
export interface StackResource {
  readonly type: string;
  readonly urn: string;
  readonly props: Record<string, unknown>;
}

export interface Finding {
  readonly violation: Violation;
  /** URN of the offending resource, when the object is one of the stack's resources. */
  readonly urn: string | undefined;
  /** `Kind ns/name: [rule] message — fix: ... [mandatory]` */
  readonly text: string;
}

type Rec = Record<string, unknown>;

function isRec(v: unknown): v is Rec {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Deep copy into plain data. Props arrive wrapped in the policy SDK's unknown-checking proxy: reading
 * a value unknown during preview throws its UnknownValueError, which the SDK reports as "can't run
 * during preview". So only what the rules may read is copied (never `status`, never the server-set
 * metadata fields).
 */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (isRec(v)) {
    const out: Rec = {};
    for (const k of Object.keys(v)) {
      const x = v[k];
      if (x !== undefined) out[k] = plain(x);
    }
    return out;
  }
  return v;
}

/**
 * The fields some writer of the object itself set (`metadata.managedFields[].fieldsV1`, union over
 * entries without a `subresource`), or undefined when the object carries no managed fields (a
 * preview of a new resource, mocks: props are the program's inputs then).
 *
 * After `pulumi up` the engine hands a stack policy each resource's *outputs* (the live object;
 * pulumi v3.248 pkg/resource/deploy/step_generator.go AnalyzeResources: `Properties: v.Outputs`), and
 * strips the provider's `__inputs` copy (sdk/go/common/resource/plugin/analyzer_plugin.go
 * AnalyzeStack: `SkipInternalKeys: true`; pulumi-kubernetes f47bc2d6f199 pkg/provider/provider.go:2705
 * keeps inputs there). The live object carries server defaults nobody wrote
 * (a Deployment's `spec.replicas: 1`): those are in no managed-fields set. Fields written through a
 * subresource (`/scale` by the HPA controller, `/status`) are not the program's either.
 */
export function writtenFields(metadata: Rec): Rec | undefined {
  const entries = metadata.managedFields;
  if (!Array.isArray(entries) || entries.length === 0) return undefined;
  const union: Rec = {};
  const merge = (into: Rec, from: Rec) => {
    for (const [k, v] of Object.entries(from)) {
      const cur = into[k];
      if (isRec(cur) && isRec(v)) merge(cur, v);
      else if (!isRec(cur)) into[k] = isRec(v) ? merge({}, v) : {};
    }
    return into;
  };
  for (const e of entries) {
    if (isRec(e) && e.subresource === undefined && isRec(e.fieldsV1)) merge(union, e.fieldsV1);
  }
  return union;
}

/**
 * `value` cut down to the fields in `fields` (a fieldsV1 set: `f:<name>` per map key). A field whose
 * set names no sub-field (`{}` or only `.`), and every list, is kept whole.
 */
export function keepWritten(value: Rec, fields: Rec): Rec {
  const out: Rec = {};
  for (const [k, v] of Object.entries(value)) {
    const f = fields[`f:${k}`];
    if (!isRec(f)) continue;
    const nested = Object.keys(f).some((x) => x.startsWith('f:'));
    out[k] = isRec(v) && nested ? keepWritten(v, f) : v;
  }
  return out;
}

const METADATA_FIELDS = ['name', 'namespace', 'labels', 'annotations'] as const;
const SKIPPED_TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'status']);

/** The qualified type in a URN (`parent$type`); a top-level resource's has no `$`. */
function qualifiedTypeOf(urn: string): string {
  return urn.split('::')[2] ?? '';
}

/**
 * A Secret created by the Pulumi program itself (a `SecretRequirement` with source `pulumi`): a
 * top-level `kubernetes:core/v1:Secret` carrying the source annotation. A rendered object (a child
 * of the ConfigGroup) never qualifies, even with the annotation: those must carry no data.
 */
export function isPulumiOwnedSecret(r: StackResource): boolean {
  if (r.type !== 'kubernetes:core/v1:Secret' || qualifiedTypeOf(r.urn) !== r.type) return false;
  const metadata = r.props.metadata;
  if (!isRec(metadata)) return false;
  const annotations = metadata.annotations;
  return isRec(annotations) && annotations[PULUMI_SECRET_SOURCE_ANNOTATION] === 'pulumi';
}

/** A Kubernetes object resource (not a provider, not a ConfigGroup component) as a manifest, or undefined. */
export function manifestOf(r: StackResource): Obj | undefined {
  if (!r.type.startsWith('kubernetes:')) return undefined;
  const { apiVersion, kind, metadata } = r.props;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !isRec(metadata) || typeof metadata.name !== 'string') {
    return undefined;
  }
  const meta: Rec = {};
  for (const f of METADATA_FIELDS) {
    const v = metadata[f];
    if (v !== undefined) meta[f] = plain(v);
  }
  let body: Rec = {};
  for (const k of Object.keys(r.props)) {
    if (SKIPPED_TOP_LEVEL.has(k) || k.startsWith('__')) continue;
    const v = r.props[k];
    if (v !== undefined) body[k] = plain(v);
  }
  // Judge what the program wrote, not what the server filled in (see writtenFields).
  let written: Rec | undefined;
  try {
    written = writtenFields(metadata);
  } catch {
    written = undefined; // managed fields unknown during a preview: judge the props as they are
  }
  if (written !== undefined) body = keepWritten(body, written);
  return { apiVersion, kind, metadata: meta, ...body } as unknown as Obj;
}

/** The stack's Kubernetes objects, and the URN of each by its `Kind ns/name` reference. */
export function manifestsOf(resources: readonly StackResource[]): { objects: Obj[]; urnOf: Map<string, string> } {
  const objects: Obj[] = [];
  const urnOf = new Map<string, string>();
  for (const r of resources) {
    if (isPulumiOwnedSecret(r)) continue;
    const m = manifestOf(r);
    if (!m) continue;
    objects.push(m);
    urnOf.set(ref(m), r.urn);
  }
  return { objects, urnOf };
}

/**
 * Run `rules` over the stack's objects. Returns what Pulumi should report: every violation not
 * excepted by an `exception.stackbook.io/<rule>` annotation. Under a mandatory rule these are
 * exactly `blocking()`'s violations.
 */
export function findings(resources: readonly StackResource[], rules: readonly Rule[] = RULES): Finding[] {
  const { objects, urnOf } = manifestsOf(resources);
  return evaluate(objects, contextOf(objects), rules)
    .filter((v) => v.exceptedBecause === undefined)
    .map((violation) => ({ violation, urn: urnOf.get(violation.object), text: formatViolation(violation) }));
}

/** One stack policy per rule, named by the rule id, with the rule's enforcement level. */
export function stackPolicies(rules: readonly Rule[] = RULES): StackValidationPolicy[] {
  return rules.map((rule) => ({
    name: rule.id,
    description: rule.description,
    enforcementLevel: rule.enforcement,
    validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
      const resources: readonly PolicyResource[] = args.resources;
      for (const f of findings(resources, [rule])) reportViolation(f.text, f.urn);
    },
  }));
}

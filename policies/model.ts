/**
 * The vocabulary every policy shares: rendered objects, violations, rules and the pod template of a
 * workload object. Imports nothing of ours, so every rule file can import it.
 */
export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface Violation {
  readonly rule: string;
  readonly object: string;
  readonly message: string;
  readonly fix: string;
  readonly enforcement: 'mandatory' | 'advisory';
  /** Set when the object carries an exception for this rule: reported, not enforced. */
  readonly exceptedBecause?: string;
}

export interface Context {
  /** From the Namespaces' `stackbook.io/tier` label. */
  readonly tier: 'development' | 'staging' | 'production' | undefined;
  /** From the Namespaces' `stackbook.io/image-registry` annotation (air-gapped stacks). */
  readonly registry: string | undefined;
}

export interface Rule {
  readonly id: string;
  readonly description: string;
  readonly enforcement: 'mandatory' | 'advisory';
  check(objects: readonly Obj[], ctx: Context): Array<{ object: Obj; message: string; fix: string }>;
}

type AnyRec = Record<string, any>;

export function ref(o: Obj): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

export function contextOf(objects: readonly Obj[]): Context {
  let tier: Context['tier'];
  let registry: string | undefined;
  for (const o of objects) {
    if (o.kind !== 'Namespace') continue;
    const t = o.metadata.labels?.['stackbook.io/tier'];
    if (t === 'development' || t === 'staging' || t === 'production') tier = t;
    registry = o.metadata.annotations?.['stackbook.io/image-registry'] ?? registry;
  }
  return { tier, registry };
}

/** The pod template of a workload object, if it has one. */
export function podSpecOf(o: Obj): AnyRec | undefined {
  const spec = o.spec as AnyRec | undefined;
  switch (o.kind) {
    case 'Pod':
      return spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return spec?.template?.spec;
    case 'CronJob':
      return spec?.jobTemplate?.spec?.template?.spec;
    default:
      return undefined;
  }
}

export function podLabelsOf(o: Obj): Record<string, string> {
  const spec = o.spec as AnyRec | undefined;
  if (o.kind === 'Pod') return o.metadata.labels ?? {};
  if (o.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.metadata?.labels ?? {};
  return spec?.template?.metadata?.labels ?? {};
}


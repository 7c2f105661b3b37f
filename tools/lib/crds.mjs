// Minimal CustomResourceDefinitions for the test cluster, for the custom kinds the project renders
// but ../shared/crds has no CRD for (Strimzi KafkaNodePool, KafkaUser). They are generated from the
// closed, hand-written JSON schemas of test/crd-hand-checked.ts (checked by hand against upstream),
// NOT copied from the upstream CRD files. tools/fixtures/strimzi-hand-written-crds.yaml holds the
// result; test/cluster/crds.test.ts fails when it no longer equals what this module generates.
// Pure functions.

/**
 * An ajv (JSON Schema) node -> a structural OpenAPI v3 schema node as CRDs require it: every node
 * typed; `const` becomes a one-value `enum`; string|integer becomes x-kubernetes-int-or-string;
 * `additionalProperties: false` is dropped (a structural schema prunes unknown fields instead, and
 * the drift check then reports them as missing); `uniqueItems` is dropped (CRDs forbid it).
 * @param {Record<string, any>} s
 * @returns {Record<string, any>}
 */
export function structuralSchema(s) {
  if (s.anyOf) {
    const types = s.anyOf.map((x) => x.type).sort();
    if (types.join(',') === 'integer,string') return { 'x-kubernetes-int-or-string': true };
    throw new Error(`unsupported anyOf ${JSON.stringify(s.anyOf)}`);
  }
  const out = {};
  const values = s.const !== undefined ? [s.const] : s.enum;
  let type = s.type;
  if (!type && values) {
    const kinds = [...new Set(values.map((v) => (Number.isInteger(v) ? 'integer' : typeof v)))];
    if (kinds.length !== 1) throw new Error(`mixed enum ${JSON.stringify(values)}`);
    type = kinds[0];
  }
  if (!type) throw new Error(`untyped schema node ${JSON.stringify(s)}`);
  out.type = type;
  if (values) out.enum = [...values];
  for (const k of ['required', 'minimum', 'minItems', 'minLength', 'pattern']) if (s[k] !== undefined) out[k] = Array.isArray(s[k]) ? [...s[k]] : s[k];
  if (s.properties) out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, structuralSchema(v)]));
  else if (s.additionalProperties && typeof s.additionalProperties === 'object') out.additionalProperties = structuralSchema(s.additionalProperties);
  if (s.items) out.items = structuralSchema(s.items);
  return out;
}

/**
 * A CRD from a hand-checked definition (test/crd-hand-checked.ts HandCheckedCrd): only `spec` is
 * described (apiVersion, kind and metadata are the API server's); no status subresource.
 * @param {{ group: string, kind: string, plural: string, scope: string, served: string[], source: string, schema: Record<string, any> }} d
 */
export function handWrittenCrd(d) {
  const spec = d.schema.properties?.spec;
  if (!spec) throw new Error(`${d.group}/${d.kind}: the hand-checked schema has no spec`);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${d.plural}.${d.group}`,
      annotations: { 'stackbook.io/hand-written-from': `${d.source} (via test/crd-hand-checked.ts; not the upstream file)` },
    },
    spec: {
      group: d.group,
      names: { kind: d.kind, listKind: `${d.kind}List`, plural: d.plural, singular: d.kind.toLowerCase() },
      scope: d.scope,
      versions: d.served.map((name, i) => ({
        name,
        served: true,
        storage: i === d.served.length - 1,
        schema: { openAPIV3Schema: { type: 'object', required: ['spec'], properties: { spec: structuralSchema(spec) } } },
      })),
    },
  };
}

// The hand-written test-cluster CRDs (tools/fixtures/strimzi-hand-written-crds.yaml) for the custom
// kinds ../shared/crds has no CRD for: generated from test/crd-hand-checked.ts by tools/lib/crds.mjs,
// never copied from upstream. This keeps the fixture and the hand-checked schemas in step.
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the tools/ tier (no type declarations)
import * as crds from '../../tools/lib/crds.mjs';
import { HAND_CHECKED_CRDS } from '../crd-hand-checked.js';

const handWrittenCrd = crds.handWrittenCrd as (d: unknown) => Record<string, any>;
const structuralSchema = crds.structuralSchema as (s: unknown) => Record<string, any>;
const FIXTURE = new URL('../../tools/fixtures/strimzi-hand-written-crds.yaml', import.meta.url);

describe('hand-written test-cluster CRDs', () => {
  it('the fixture is exactly what tools/lib/crds.mjs generates from test/crd-hand-checked.ts, and says so', () => {
    const text = readFileSync(FIXTURE, 'utf8');
    expect(text).toMatch(/^# HAND-WRITTEN from the upstream schema, NOT the upstream file/);
    expect(yaml.loadAll(text).filter(Boolean)).toEqual(Object.values(HAND_CHECKED_CRDS).map((d) => handWrittenCrd(d)));
  });

  it('covers every hand-checked kind with its plural, group and served versions', () => {
    const docs = yaml.loadAll(readFileSync(FIXTURE, 'utf8')).filter(Boolean) as Array<Record<string, any>>;
    for (const d of Object.values(HAND_CHECKED_CRDS)) {
      const crd = docs.find((c) => c.metadata.name === `${d.plural}.${d.group}`);
      expect(crd, d.kind).toBeDefined();
      expect(crd!.spec.names.kind).toBe(d.kind);
      expect(crd!.spec.versions.map((v: { name: string }) => v.name)).toEqual(d.served);
    }
  });

  it('turns ajv keywords into a structural schema: const/enum typed, int-or-string, no additionalProperties:false or uniqueItems', () => {
    expect(structuralSchema({ const: 'v1' })).toEqual({ type: 'string', enum: ['v1'] });
    expect(structuralSchema({ anyOf: [{ type: 'string' }, { type: 'integer' }] })).toEqual({ 'x-kubernetes-int-or-string': true });
    expect(
      structuralSchema({
        type: 'object',
        additionalProperties: false,
        required: ['roles'],
        properties: { roles: { type: 'array', uniqueItems: true, minItems: 1, items: { enum: ['broker'] } } },
      }),
    ).toEqual({ type: 'object', required: ['roles'], properties: { roles: { type: 'array', minItems: 1, items: { type: 'string', enum: ['broker'] } } } });
    expect(structuralSchema({ type: 'object', additionalProperties: { type: 'string' } })).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    expect(() => structuralSchema({ enum: ['a', 1] })).toThrow('mixed enum');
  });
});

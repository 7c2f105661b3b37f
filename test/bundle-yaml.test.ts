/**
 * bundle/yaml.ts writes each manifest's YAML itself, asking js-yaml only for the text of each
 * distinct scalar: its output must be js-yaml's, byte for byte, or every bundle (and its
 * SHA256SUMS) would change. Held on every object of every real stack (and none of them may fall
 * back to js-yaml, or the speed is gone), and on generated objects built from the strings YAML
 * treats specially. Reproducible: fixed seed (STACKBOOK_FC_SEED).
 */
import fc from 'fast-check';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { MANIFEST_DUMP_OPTIONS, manifestYaml, manifestYamlFallbacks } from '../bundle/yaml.js';
import { ENVS, renderEnv } from './helpers.js';
import { SEED } from './hostile-config.js';

const dump = (o: unknown) => yaml.dump(o, MANIFEST_DUMP_OPTIONS);

/** Strings whose YAML needs care: quoting, block scalars, indentation indicators, chomping, document markers. */
const TRICKY = [
  '', ' ', '  ', 'x', 'yes', 'no', 'n', 'Y', 'on', 'off', 'true', 'False', 'null', 'Null', '~', '1', '-1', '01', '1.0', '.5', '1e3', '0x1F', '0o7', '.inf', '.NaN',
  '2026-12-07', '2026-12-07T10:00:00Z', '12:30', '---', '...', '--- x', '- x', '-x', '? x', '?x', ': x', ':x', 'a: b', 'a:b', 'a #b', 'a#b', '#x', '@x', '`x', '|', '>', '!tag', '&a', '*a', '%x',
  "it's", '"q"', "'", '"', '\\', 'tab\tx', '\t', 'x ', ' x', '=', '<<', '{x}', '[x]', 'x,y', 'a, b', 'é', '😀', '\u00a0', '\u2028', '\u0007', '\ufeffx',
  'a\nb', 'a\n', 'a\n\n', 'a\n\n\n', '\n', '\n\n', '\nx', 'x\n y', ' x\ny', '  x\n y\n', 'x \ny', 'x\n\ny', 'line1\nline2\n  indented\n', '#!/bin/sh\nset -eu\necho "$X"\n',
  '- a\n- b\n', 'a: 1\nb: 2\n', '---\nx', 'x\n---\n', 'x\n...\n', '\t\nx', 'x\t\ny', 'k: v # c\n',
];

/** What this file cannot model (js-yaml writes the object): `|+` blocks (a value ending in two line breaks), multi-line keys. */
const unmodelled = (s: string) => /\n\n$|^\n$/.test(s);
const oneLine = TRICKY.filter((s) => !s.includes('\n'));
const stringArb = (pool: readonly string[]) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...pool) },
    { weight: 2, arbitrary: fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 3 }).map((xs) => xs.join('')) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\n')) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z][a-z0-9.\/-]{0,15}$/) },
  );
/** Values: every tricky string, the unmodelled ones rarely (each would send its whole object to js-yaml). */
const valueStringArb = fc.oneof({ weight: 200, arbitrary: stringArb(TRICKY.filter((s) => !unmodelled(s))) }, { weight: 1, arbitrary: fc.constantFrom(...TRICKY.filter(unmodelled)) });
/** Keys: one-line tricky strings; now and then a multi-line one. */
const keyArb = fc.oneof({ weight: 200, arbitrary: stringArb(oneLine) }, { weight: 1, arbitrary: fc.constantFrom('two\nlines', 'x\n') });
const scalarArb = fc.oneof(
  { weight: 6, arbitrary: valueStringArb },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 1.5, -2.25, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarArb, tie('map'), tie('list')),
  map: fc.dictionary(keyArb, tie('tree'), { maxKeys: 5 }),
  list: fc.array(tie('tree'), { maxLength: 4 }),
}));
/** A manifest-like root: a non-empty mapping (`{}` is js-yaml's to write), now and then with an undefined value (js-yaml drops the key). */
const rootArb = fc
  .tuple(fc.dictionary(keyArb, tree, { minKeys: 1, maxKeys: 6 }), fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: keyArb }))
  .map(([o, undef]) => (undef === undefined ? o : { ...o, [undef]: undefined }));

describe('manifest YAML (bundle/yaml.ts) is js-yaml\'s, byte for byte', () => {
  it('every object of every real stack, with no object handed to js-yaml whole', () => {
    const before = manifestYamlFallbacks.count;
    let objects = 0;
    for (const env of ENVS) {
      for (const o of renderEnv(env).objects) {
        expect(manifestYaml(o), `${env} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`).toBe(dump(o));
        objects++;
      }
    }
    expect(objects).toBeGreaterThan(500);
    expect(manifestYamlFallbacks.count - before).toBe(0);
  });

  it('generated objects: YAML\'s special strings as keys and values, numbers, nesting, empty collections', () => {
    let fellBack = 0;
    fc.assert(
      fc.property(rootArb, (o) => {
        const before = manifestYamlFallbacks.count;
        expect(manifestYaml(o)).toBe(dump(o));
        fellBack += manifestYamlFallbacks.count - before;
      }),
      { seed: SEED, numRuns: 400 },
    );
    // most generated objects are written here, not by js-yaml: the comparison is not vacuous
    expect(fellBack).toBeLessThan(80);
  });

  it('what it does not model goes to js-yaml whole: a `|+` block ending the document, an undefined value, a multi-line key', () => {
    for (const o of [{ a: 'x\n\n' }, { a: 1, b: undefined }, { 'two\nlines': 1 }, { a: [1, , 3] }, {}]) {
      const before = manifestYamlFallbacks.count;
      expect(manifestYaml(o)).toBe(dump(o));
      expect(manifestYamlFallbacks.count, JSON.stringify(o)).toBe(before + 1);
    }
  });

  it('block scalars keep js-yaml\'s header and are indented where they stand, at any depth', () => {
    const script = '#!/bin/sh\nset -eu\n  indented\n';
    const o = { spec: { containers: [{ args: [' lead\nx', script], name: 'c' }], data: { 'run.sh': script } } };
    const text = manifestYaml(o);
    expect(text).toBe(dump(o));
    expect(text).toContain('        - |2-\n           lead\n          x\n');
    expect(text).toContain("    run.sh: |\n      #!/bin/sh\n      set -eu\n        indented\n");
  });
});

/**
 * The YAML text of one manifest in a bundle: byte for byte what js-yaml's
 * `dump(object, MANIFEST_DUMP_OPTIONS)` writes, about five times faster.
 *
 * js-yaml builds an AST of every object and decides the style of every scalar with a dozen regular
 * expressions, each time: that was ~80% of `bundleFiles` (bundles are mostly the same few hundred
 * strings). Here the structure (block mappings with sorted keys, block sequences, `{}` and `[]`) is
 * written directly, and each distinct scalar's text is asked of js-yaml once, in the same position
 * (a mapping value, a sequence item, a key) at the shallowest depth, then reused at any depth. A
 * block scalar's content lines are re-indented to where it stands (js-yaml's content indentation
 * is the parent's plus two at every depth, so its header — `|`, `|-`, `|2-` — does not change).
 * Anything this does not model (non-JSON values, `undefined`, multi-line keys, a scalar js-yaml
 * writes over several lines other than as a block, `|+` blocks that end a document with `...`)
 * falls back to js-yaml for the whole object, so the output never differs.
 * test/bundle-yaml.test.ts holds the two equal on generated objects and on every real stack.
 */
import * as yaml from 'js-yaml';

/** How bundles write YAML: keys sorted, no anchors, no line folding. */
export const MANIFEST_DUMP_OPTIONS = { sortKeys: true, noRefs: true, lineWidth: -1 } as const;

/** A scalar's text in one position: its first line, and the content lines of a block scalar (indent removed, '' for an empty line). */
interface ScalarText {
  readonly head: string;
  readonly block?: readonly string[];
}

type Position = 'value' | 'item' | 'key';
/** Scalar texts asked of js-yaml, per position; `null` when the scalar is not modelled. */
const memo: Record<Position, Map<string, ScalarText | null>> = { value: new Map(), item: new Map(), key: new Map() };
/** Bound on each memo (a long-lived process rendering many stacks); cleared when reached. */
const MEMO_LIMIT = 100_000;

class Unmodelled extends Error {}
const unmodelled = new Unmodelled();

/** What js-yaml writes for `v` as a mapping value (`k: v`), a sequence item (`- v`) or a key (`v: null`). */
function askJsYaml(v: string | number | boolean | null, position: Position): ScalarText | null {
  const [doc, prefix, suffix] =
    position === 'value' ? [{ k: v }, 'k: ', ''] : position === 'item' ? [[v], '- ', ''] : [{ [String(v)]: null }, '', ': null'];
  const text = yaml.dump(doc, MANIFEST_DUMP_OPTIONS);
  if (!text.startsWith(prefix) || !text.endsWith(`${suffix}\n`)) return null;
  const lines = text.slice(prefix.length, text.length - suffix.length - 1).split('\n');
  const head = lines[0]!;
  if (lines.length === 1) return head.length > 0 ? { head } : null;
  // More than one line: only a block scalar as a value or an item, its content indented by two (a
  // document end marker `...` that js-yaml adds after a `|+` block ending the document is not).
  if (position === 'key' || !/^[|>]/.test(head)) return null;
  const block: string[] = [];
  for (const l of lines.slice(1)) {
    if (l === '') block.push('');
    else if (l.startsWith('  ')) block.push(l.slice(2));
    else return null;
  }
  return { head, block };
}

function scalarText(v: string | number | boolean | null, position: Position): ScalarText {
  // Map keys compare by SameValueZero: -0 would share 0's text. Strings and the rest apart.
  const key = typeof v === 'string' ? `s${v}` : Object.is(v, -0) ? 'n-0' : `${typeof v}${String(v)}`;
  const m = memo[position];
  let t = m.get(key);
  if (t === undefined) {
    t = askJsYaml(v, position);
    if (m.size >= MEMO_LIMIT) m.clear();
    m.set(key, t);
  }
  if (t === null) throw unmodelled;
  return t;
}

const isScalar = (v: unknown): v is string | number | boolean | null => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number');
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const pad = (n: number) => ' '.repeat(n);

/** `out` gets the text after a `key:` or `-` marker: ` scalar`, ` {}`/` []`, or a nested collection. */
function writeAfterMarker(out: string[], v: unknown, position: 'value' | 'item', col: number): void {
  if (isScalar(v)) {
    const t = scalarText(v, position);
    out.push(' ', t.head);
    if (t.block) for (const l of t.block) out.push('\n', l === '' ? '' : pad(col + 2) + l);
    return;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return void out.push(' []');
    if (position === 'item') {
      out.push(' ');
      writeSequence(out, v, col + 2, true);
    } else {
      out.push('\n');
      writeSequence(out, v, col + 2, false);
    }
    return;
  }
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) return void out.push(' {}');
    if (position === 'item') {
      out.push(' ');
      writeMapping(out, v, keys, col + 2, true);
    } else {
      out.push('\n');
      writeMapping(out, v, keys, col + 2, false);
    }
    return;
  }
  throw unmodelled;
}

function writeMapping(out: string[], o: Record<string, unknown>, keys: string[], col: number, compact: boolean): void {
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  keys.forEach((k, i) => {
    const v = o[k];
    if (v === undefined) throw unmodelled;
    if (i > 0) out.push('\n');
    if (i > 0 || !compact) out.push(pad(col));
    out.push(scalarText(k, 'key').head, ':');
    writeAfterMarker(out, v, 'value', col);
  });
}

function writeSequence(out: string[], a: readonly unknown[], col: number, compact: boolean): void {
  for (let i = 0; i < a.length; i++) {
    if (!(i in a) || a[i] === undefined) throw unmodelled;
    if (i > 0) out.push('\n');
    if (i > 0 || !compact) out.push(pad(col));
    out.push('-');
    writeAfterMarker(out, a[i], 'item', col);
  }
}

/** Objects handed to js-yaml whole since this process started (not modelled here): the real stacks have none (test/bundle-yaml.test.ts). */
export const manifestYamlFallbacks = { count: 0 };

/** `yaml.dump(object, MANIFEST_DUMP_OPTIONS)`, faster (see the file comment). */
export function manifestYaml(object: object): string {
  if (isPlainObject(object)) {
    const keys = Object.keys(object);
    if (keys.length > 0) {
      const out: string[] = [];
      try {
        writeMapping(out, object, keys, 0, false);
        out.push('\n');
        return out.join('');
      } catch (e) {
        if (!(e instanceof Unmodelled)) throw e;
      }
    }
  }
  manifestYamlFallbacks.count++;
  return yaml.dump(object, MANIFEST_DUMP_OPTIONS);
}

/**
 * Kubernetes quantities (resource.Quantity), parsed once: the full grammar as the API server reads
 * it (sign, decimal, exponent, binary and decimal SI suffixes) as an exact fraction, and the plain
 * forms the stack config and component props accept (`250m`, `2`, `512Mi`, `1.5Gi`) as numbers.
 */

const BINARY: Readonly<Record<string, number>> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const GRAMMAR = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E)?)$/;

/** An exact value: `num / den`, reduced, `den` > 0. */
export interface Fraction {
  readonly num: bigint;
  readonly den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

/**
 * A quantity as an exact fraction (`1Gi` and `1024Mi` both 1073741824/1, `0.5` and `500m` both
 * 1/2), or undefined when it is not one. Numbers (as YAML may carry them) and padded strings are read too.
 */
export function parseQuantity(v: unknown): Fraction | undefined {
  const s = typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? v.trim() : undefined;
  if (s === undefined) return undefined;
  const m = GRAMMAR.exec(s);
  if (!m) return undefined;
  const [, sign, mant, bin, exp, dec] = m;
  const [int = '', frac = ''] = mant!.split('.');
  let num = BigInt((int || '0') + frac) * (sign === '-' ? -1n : 1n);
  let pow10 = -frac.length;
  if (bin) num *= 1024n ** BigInt(BINARY[bin]!);
  else if (exp) pow10 += Number(exp.slice(1));
  else pow10 += DECIMAL[dec ?? '']!;
  let den = 1n;
  if (pow10 >= 0) num *= 10n ** BigInt(pow10);
  else den = 10n ** BigInt(-pow10);
  const g = gcd(num, den) || 1n;
  return { num: num / g, den: den / g };
}

/** Whether two values are quantities of the same value (`1Gi` = `1024Mi`, `0.5` = `500m`). */
export function sameQuantity(a: unknown, b: unknown): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x !== undefined && y !== undefined && x.num * y.den === y.num * x.den;
}

/** The plain forms the project writes and accepts: no sign, no exponent, m/k/M/G/T and Ki…Ti. */
export const PLAIN_QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;
/** A CPU quantity in config: whole millicores (`250m`) or cores (`2`, `0.5`). */
export const CPU_QUANTITY = /^(\d+m|\d+(\.\d+)?)$/;
/** A memory/storage quantity in config: bytes with an optional binary or decimal suffix (`512Mi`, `1G`). */
export const BYTE_QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/;

/** A plain quantity as a number (cores or bytes); `undefined` when it is not one. */
export function quantityValue(q: string): number | undefined {
  if (!PLAIN_QUANTITY.test(q)) return undefined;
  const f = parseQuantity(q)!;
  return Number(f.num) / Number(f.den);
}

/** A byte quantity (`256Mi`, `1G`; never millibytes) as bytes; `undefined` when it is not one. */
export function byteValue(q: string): number | undefined {
  return BYTE_QUANTITY.test(q) ? quantityValue(q) : undefined;
}

/** Whole bytes of a byte quantity (rounded down); `undefined` when it is not one. */
export function parseBytes(q: string): number | undefined {
  const v = byteValue(q);
  return v === undefined ? undefined : Math.floor(v);
}

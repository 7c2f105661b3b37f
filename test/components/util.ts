/** Helpers for component tests: a fresh chart per test, and lookups in its JSON. */
import { App, Chart } from 'cdk8s';

export type Json = Record<string, any>;

export function newChart(): Chart {
  return new Chart(new App(), 'test');
}

/** Every object of a chart, as plain JSON. */
export function objectsOf(chart: Chart): Json[] {
  return chart.toJson() as Json[];
}

export function only(objects: readonly Json[], kind: string, name?: string): Json {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

export function concernsOf(o: Json): string[] {
  return String(o.metadata?.annotations?.['stackbook.io/concerns'] ?? '').split(',').filter(Boolean);
}

/**
 * Run `build` and return the error it throws. Fails the test when nothing is thrown, so an
 * assertion on the message can never pass vacuously.
 */
export function errorOf(build: () => unknown): Error {
  try {
    build();
  } catch (e) {
    if (e instanceof Error) return e;
    throw new Error(`threw a non-Error: ${String(e)}`);
  }
  throw new Error('expected the component to reject its props, but it rendered');
}

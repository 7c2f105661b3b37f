#!/usr/bin/env node
// One measurement of a synthetic fleet, in this (fresh) process:
//   node bench/fleet.js <services>
// Renders <services> copies of the Options Pricing Engine into one stack (prod), each in its own
// namespace and host, through the same render() and bundleFiles() as `stackbook synth`, and
// prints one JSON line: objects, render/serialise times and memory above the post-import baseline.
// Module loading is excluded (it is constant and measured by the CLI start-up benchmark).
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Construct } from 'constructs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const n = Number(process.argv[2]);
if (!Number.isInteger(n) || n < 1) {
  console.error('usage: node bench/fleet.js <services ≥ 1>');
  process.exit(2);
}

const { loadStackFile } = await import(join(root, 'build/stacks/load.js'));
const { render } = await import(join(root, 'build/synth/render.js'));
const { bundleFiles } = await import(join(root, 'build/bundle/bundle.js'));
const { ope } = await import(join(root, 'build/services/ope.js'));

const stack = loadStackFile(join(root, 'stacks', 'Pulumi.prod.yaml'));
const base = stack.services.ope;
if (!base) throw new Error('stacks/Pulumi.prod.yaml has no ope service');

/** Service i: OPE in namespace/host `ope-<i>`, rendered under its own construct. */
const fleet = Array.from({ length: n }, (_, i) => ({
  ...ope,
  build(scope, ctx) {
    const own = { ...ctx.stack, services: { ...ctx.stack.services, ope: { ...base, namespace: `ope-${i}`, host: `ope-${i}` } } };
    ope.build(new Construct(scope, `svc-${i}`), { ...ctx, stack: own });
  },
}));

globalThis.gc?.();
const baseline = process.memoryUsage().rss;
const t0 = process.hrtime.bigint();
const rendered = render(stack, fleet);
const t1 = process.hrtime.bigint();
const files = bundleFiles(rendered);
const t2 = process.hrtime.bigint();
const bytes = files.reduce((s, f) => s + Buffer.byteLength(f.content), 0);
const peakRss = process.resourceUsage().maxRSS * 1024;
console.log(
  JSON.stringify({
    services: n,
    objects: rendered.objects.length,
    bytes,
    renderMs: Number(t1 - t0) / 1e6,
    serialiseMs: Number(t2 - t1) / 1e6,
    totalMs: Number(t2 - t0) / 1e6,
    peakAboveBaselineMiB: Math.max(0, peakRss - baseline) / 2 ** 20,
  }),
);

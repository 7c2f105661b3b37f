#!/usr/bin/env node
// Writes the generated docs (docs/runbooks/<service>.md: runbook concern -> objects) from the built
// code (`npm run build` first; `npm run docs` does both). `--check`: write nothing, exit 1 and name
// the files that differ. test/docs.test.ts runs the same comparison from the sources.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runbookDocs } from './lib/runbook-docs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { coverageReport } = await import(join(root, 'build/reports/coverage.js'));
const { SERVICES } = await import(join(root, 'build/services/index.js'));
const report = await coverageReport(root, join(root, '..', 'shared', 'runbooks', 'CONCERNS.md'));
const check = process.argv.includes('--check');
const stale = [];
for (const [rel, text] of runbookDocs(report, SERVICES)) {
  const path = join(root, 'docs', rel);
  let old = '';
  try {
    old = readFileSync(path, 'utf8');
  } catch {}
  if (old === text) continue;
  stale.push(`docs/${rel}`);
  if (!check) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}
if (check && stale.length > 0) {
  console.error(`generated docs differ from the code: ${stale.join(', ')} (run npm run docs)`);
  process.exit(1);
}
console.log(stale.length ? `${check ? 'stale' : 'wrote'}: ${stale.join(', ')}` : 'docs up to date');

/**
 * The generated docs cannot drift from the code: docs/runbooks/<service>.md (runbook concern ->
 * the objects carrying it, tools/lib/runbook-docs.mjs over `coverageReport`) must equal what the
 * current sources generate. Regenerate with `npm run docs`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SERVICES } from '../services/index.js';
import { coverageReport, type CoverageReport } from '../reports/coverage.js';
// @ts-expect-error plain JavaScript module of tools/ (no type declarations)
import { runbookDocs } from '../tools/lib/runbook-docs.mjs';
import { ROOT } from './helpers.js';

const generate = runbookDocs as (r: CoverageReport, s: typeof SERVICES) => Map<string, string>;
const committed = (rel: string) => {
  try {
    return readFileSync(join(ROOT, 'docs', rel), 'utf8');
  } catch {
    return undefined;
  }
};
let report: CoverageReport;
beforeAll(async () => {
  report = await coverageReport(ROOT, join(ROOT, '..', 'shared', 'runbooks', 'CONCERNS.md'));
});

describe('generated docs', () => {
  it('docs/runbooks/*.md are exactly what the code generates (npm run docs), one per service plus cross-cutting', () => {
    const docs = generate(report, SERVICES);
    expect(docs.has('runbooks/cross-cutting.md')).toBe(true);
    expect(docs.size).toBe(new Set(SERVICES.map((s) => s.prefix)).size + 1);
    for (const [rel, text] of docs) expect(committed(rel), `docs/${rel} is stale: run npm run docs`).toBe(text);
  });

  it('each table has one row per catalog concern of its prefix, naming the objects that carry it', () => {
    const docs = generate(report, SERVICES);
    for (const row of report.rows) {
      const prefix = row.id.replace(/-\d+$/, '');
      const mod = SERVICES.find((s) => s.prefix === prefix);
      const text = docs.get(`runbooks/${mod ? mod.key : 'cross-cutting'}.md`) ?? '';
      const line = text.split('\n').find((l) => l.startsWith(`| ${row.id} |`));
      expect(line, row.id).toBeDefined();
      // a moved object changes the text: the comparison above then fails
      for (const o of row.objects) expect(line, `${row.id} ${o}`).toContain(`\`${o.slice(o.indexOf('/', o.indexOf(':')) + 1)}\``);
    }
  });

  it('the comparison can fail: an object that moves changes the generated text', () => {
    const row = report.rows.find((r) => r.objects.length > 0)!;
    const moved: CoverageReport = { ...report, rows: report.rows.map((r) => (r === row ? { ...r, objects: [...r.objects, 'dev:Deployment/elsewhere/moved'] } : r)) };
    const before = generate(report, SERVICES);
    const after = generate(moved, SERVICES);
    expect([...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k)).toHaveLength(1);
  });
});

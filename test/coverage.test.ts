/**
 * `stackbook coverage` (reports/coverage.ts): every concern of ../shared/runbooks/CONCERNS.md is
 * carried by rendered objects (or a config/program implementation, or an *(app)* note) and named
 * by a test; anything less fails the report.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coverageReport, formatCoverage, parseCatalog } from '../reports/coverage.js';
import { SERVICES } from '../services/index.js';
import { ROOT, SHARED } from './helpers.js';

const CATALOG = join(SHARED, 'runbooks', 'CONCERNS.md');
const TMP = mkdtempSync(join(tmpdir(), 'stackbook-coverage-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

describe('runbook coverage (every catalog concern)', () => {
  it('the five runbooks each have a service module, and the catalog lists every prefix', () => {
    expect(SERVICES.map((s) => s.prefix)).toEqual(['OSC', 'OWS', 'OUB', 'OPE', 'AION']);
    const prefixes = new Set(parseCatalog(readFileSync(CATALOG, 'utf8')).map((c) => c.prefix));
    expect([...prefixes].sort()).toEqual(['AION', 'OPE', 'OSC', 'OUB', 'OWS', 'X']);
  });

  it('X-9: every concern of the catalog is covered by the four stacks and the tests, none missing', async () => {
    const report = await coverageReport(ROOT, CATALOG);
    const catalog = parseCatalog(readFileSync(CATALOG, 'utf8'));
    expect(report.rows.map((r) => r.id)).toEqual(catalog.map((c) => c.id));
    // OWS-15 (a worker Deployment) cannot be deployed: the app has no worker program at any commit
    // (services/ows.contract.ts); it is BLOCKED with the app change, never counted as covered.
    expect(report.rows.filter((r) => r.status !== 'covered').map((r) => `${r.id}: ${r.status}`)).toEqual(['OWS-15: blocked']);
    expect(report.rows.find((r) => r.id === 'OWS-15')!.note).toMatch(/no worker program at any commit/);
    expect(report.ok).toBe(true);
    // Non-app concerns are carried by objects or implemented by config/program, never by a note alone.
    for (const r of report.rows) {
      const app = catalog.find((c) => c.id === r.id)!.app;
      if (!app && r.status !== 'blocked') expect(r.objects.length > 0 || r.implementedBy !== undefined, r.id).toBe(true);
    }
    const text = formatCoverage(report);
    expect(text).toMatch(/^OSC: 19\/19 covered/m);
    expect(text).toMatch(/^BLOCKED OWS-15 .*\n {8}needs an app change: /m);
    expect(text).toMatch(/^OWS: 14\/15 covered .*, 1 blocked by the app$/m);
    expect(text).toMatch(/^AION: 18\/18 covered/m);
  });

  it('a concern no object carries and no test names fails the report', async () => {
    // Spelled in two parts: this file must not itself count as a test naming the ghost concern.
    const ghost = ['OSC', '99'].join('-');
    const catalog = join(TMP, 'CONCERNS.md');
    writeFileSync(catalog, `${readFileSync(CATALOG, 'utf8')}\n- ${ghost} A concern nobody implemented.\n`);
    const report = await coverageReport(ROOT, catalog);
    expect(report.ok).toBe(false);
    expect(report.rows.find((r) => r.id === ghost)).toMatchObject({ status: 'missing-objects', objects: [], tests: [] });
    expect(formatCoverage(report)).toMatch(new RegExp(`^MISSING ${ghost} .*<- no object carries it$`, 'm'));
  });

  it('a runbook without a service module fails the report instead of being skipped', async () => {
    const catalog = join(TMP, 'CONCERNS-new.md');
    writeFileSync(catalog, `${readFileSync(CATALOG, 'utf8').replace('| design card |', '| 005_new.txt | New | NEW |\n| design card |')}\n- NEW-1 Something new.\n`);
    const report = await coverageReport(ROOT, catalog);
    expect(report.ok).toBe(false);
    expect(report.rows.find((r) => r.id === 'NEW-1')).toMatchObject({ status: 'missing-objects', note: 'no service module implements the NEW runbook' });
  });

  it('a new service module whose runbook has no concern in the catalog fails, saying what to add', async () => {
    // the catalog without OPE's lines stands for a catalog that does not know a new module yet
    const catalog = join(TMP, 'CONCERNS-no-ope.md');
    writeFileSync(catalog, readFileSync(CATALOG, 'utf8').split('\n').filter((l) => !/^\s*- OPE-\d+ /.test(l)).join('\n'));
    const report = await coverageReport(ROOT, catalog);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      `service module "ope" (prefix OPE, runbook 003_3ee24e5d76c48128.txt) has no concern in ${catalog}: add a row for its runbook to the table and one line per concern, "- OPE-1 <what the runbook asks>", then trace the objects with trace(obj, 'OPE-1') and name the ID in a test`,
    ]);
    expect(formatCoverage(report)).toContain('MISSING service module "ope" (prefix OPE');
  });
});

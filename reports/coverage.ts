/**
 * Runbook coverage: every catalog concern of an implemented service, with the rendered objects
 * that carry it (read from their `stackbook.io/concerns` annotations, over every stack) and the
 * tests that name it. Fails when an implemented concern has no object (or config rule / app
 * note) or no test.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONCERNS_ANNOTATION } from '../components/meta.js';
import { SERVICES } from '../services/index.js';
import { ConfigError } from '../stacks/load.js';
import { render } from '../synth/render.js';
import { knownEnvironments, loadStacks } from '../synth/stacks.js';

export interface CatalogEntry {
  readonly id: string;
  readonly prefix: string;
  readonly text: string;
  readonly app: boolean;
}

/** Concerns implemented by something other than rendered objects. */
export const NON_OBJECT_CONCERNS: Readonly<Record<string, string>> = {
  'X-9': 'stacks/Pulumi.{dev,staging,prod,airgap}.yaml, validated by stacks/schema.ts + stacks/config-rules.ts',
  'X-10': 'pulumi/index.ts: `pulumi up --stack <env>` registers the rendered objects plus Pulumi-owned Secrets',
  'X-13': 'policies/manifest-rules.ts, run by `stackbook synth`, `stackbook check` and the policy pack policies/pack.ts',
  'X-11': 'review/diff.ts + review/base.ts: `stackbook diff --base <ref>` (text/markdown/json, risk flags), .github/workflows/pr.yml posts it on every pull request',
  'X-12': 'bundle/bundle.ts + synth/airgap.ts: mirror-relocated digest-pinned images (synth refuses otherwise), images.txt, apply order files + apply.sh, kustomization.yaml, PREREQUISITES.md, SHA256SUMS',
};

export function parseCatalog(text: string): CatalogEntry[] {
  const out: CatalogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^- (([A-Z]+)-(\d+)) (.*)$/.exec(line.trim());
    if (!m) continue;
    out.push({ id: m[1]!, prefix: m[2]!, text: m[4]!, app: /\*\(app\b/.test(m[4]!) });
  }
  return out;
}

function testFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (/\.test\.ts$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

export interface CoverageRow {
  readonly id: string;
  readonly text: string;
  /** `blocked`: declared by its module as undeployable until the app changes (`blockedConcerns`). */
  readonly status: 'covered' | 'blocked' | 'missing-objects' | 'missing-test';
  readonly objects: readonly string[];
  readonly implementedBy?: string;
  readonly tests: readonly string[];
  readonly note?: string;
}

export interface CoverageReport {
  readonly ok: boolean;
  readonly services: readonly string[];
  readonly rows: readonly CoverageRow[];
  /** A service module whose prefix has no concern in the catalog: what to add. @default none */
  readonly problems?: readonly string[];
}

export async function coverageReport(root: string, catalogPath: string): Promise<CoverageReport> {
  let catalogText: string;
  try {
    catalogText = readFileSync(catalogPath, 'utf8');
  } catch {
    throw new ConfigError([{ file: catalogPath, path: [], message: 'cannot read the concerns catalog (pass --catalog <CONCERNS.md>)' }]);
  }
  const catalog = parseCatalog(catalogText);
  const prefixes = new Set<string>(['X', ...SERVICES.map((s) => s.prefix)]);
  const appNotes = new Map<string, string>();
  for (const s of SERVICES) for (const [id, note] of Object.entries(s.appConcerns)) appNotes.set(id, note);
  const blocked = new Map<string, string>();
  for (const s of SERVICES) for (const [id, why] of Object.entries(s.blockedConcerns ?? {})) blocked.set(id, why);

  const carriers = new Map<string, Set<string>>();
  const stacks = loadStacks(root, knownEnvironments(root));
  for (const [env, stack] of stacks) {
    for (const o of render(stack).objects) {
      const ids = o.metadata.annotations?.[CONCERNS_ANNOTATION];
      if (!ids) continue;
      for (const id of ids.split(',')) {
        const set = carriers.get(id) ?? new Set<string>();
        set.add(`${env}:${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`);
        carriers.set(id, set);
      }
    }
  }

  const tests = new Map<string, Set<string>>();
  for (const f of testFiles(join(root, 'test'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\b((?:OSC|OWS|OUB|OPE|AION|X)-\d+)\b/g)) {
      const set = tests.get(m[1]!) ?? new Set<string>();
      set.add(f.slice(root.length + 1));
      tests.set(m[1]!, set);
    }
  }

  const rows: CoverageRow[] = [];
  for (const c of catalog) {
    const objects = [...(carriers.get(c.id) ?? [])].sort();
    const t = [...(tests.get(c.id) ?? [])].sort();
    const implementedBy = NON_OBJECT_CONCERNS[c.id];
    const note = blocked.get(c.id) ?? appNotes.get(c.id) ?? (prefixes.has(c.prefix) ? undefined : `no service module implements the ${c.prefix} runbook`);
    let status: CoverageRow['status'];
    if (blocked.has(c.id) && objects.length === 0 && t.length > 0) status = 'blocked';
    else if (objects.length === 0 && implementedBy === undefined && !(c.app && appNotes.has(c.id))) status = 'missing-objects';
    else if (t.length === 0) status = 'missing-test';
    else status = 'covered';
    rows.push({ id: c.id, text: c.text, status, objects, tests: t, ...(implementedBy ? { implementedBy } : {}), ...(note ? { note } : {}) });
  }
  // A new module (services/index.ts) is traced to nothing until its runbook's concerns are in the catalog.
  const problems = SERVICES.filter((s) => !catalog.some((c) => c.prefix === s.prefix)).map(
    (s) =>
      `service module "${s.key}" (prefix ${s.prefix}, runbook ${s.runbook}) has no concern in ${catalogPath}: add a row for its runbook to the table and one line per concern, "- ${s.prefix}-1 <what the runbook asks>", then trace the objects with trace(obj, '${s.prefix}-1') and name the ID in a test`,
  );
  return {
    // blocked concerns are reported, not counted as missing: the deployment cannot do more until the app changes
    ok: rows.length > 0 && rows.every((r) => r.status === 'covered' || r.status === 'blocked') && problems.length === 0,
    services: SERVICES.map((s) => s.prefix),
    rows,
    ...(problems.length > 0 ? { problems } : {}),
  };
}

export function formatCoverage(r: CoverageReport): string {
  const lines: string[] = [];
  for (const row of r.rows) {
    const mark = row.status === 'covered' ? 'ok     ' : row.status === 'blocked' ? 'BLOCKED' : 'MISSING';
    const what =
      row.objects.length > 0 ? `${row.objects.length} objects` : row.implementedBy ? 'config/program' : row.note && row.status === 'covered' ? 'app' : 'nothing';
    lines.push(`${mark} ${row.id.padEnd(7)} ${what.padEnd(14)} tests: ${row.tests.join(', ') || 'none'}${row.status === 'missing-objects' ? '  <- no object carries it' : row.status === 'missing-test' ? '  <- no test names it' : ''}`);
    if (row.note && row.status !== 'covered') lines.push(`        ${row.status === 'blocked' ? 'needs an app change: ' : ''}${row.note}`);
  }
  const counts = (s: CoverageRow['status']) => r.rows.filter((x) => x.status === s).length;
  for (const prefix of [...new Set(r.rows.map((x) => x.id.replace(/-\d+$/, '')))]) {
    const mine = r.rows.filter((x) => x.id.startsWith(`${prefix}-`));
    const app = mine.filter((x) => x.status === 'covered' && x.objects.length === 0 && !x.implementedBy).length;
    const program = mine.filter((x) => x.status === 'covered' && x.objects.length === 0 && x.implementedBy).length;
    const nBlocked = mine.filter((x) => x.status === 'blocked').length;
    lines.push(`${prefix}: ${mine.filter((x) => x.status === 'covered').length}/${mine.length} covered (${mine.length - app - program - nBlocked} by objects, ${program} by config/program, ${app} app-only)${nBlocked ? `, ${nBlocked} blocked by the app` : ''}`);
  }
  for (const p of r.problems ?? []) lines.push(`MISSING ${p}`);
  lines.push(`services: ${r.services.join(', ')} + X; ${r.rows.length} concerns: ${counts('covered')} covered, ${counts('blocked')} blocked by the app, ${counts('missing-objects') + counts('missing-test')} missing`);
  return `${lines.join('\n')}\n`;
}

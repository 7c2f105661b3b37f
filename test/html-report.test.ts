/**
 * `stackbook report <env> --html <file>` (issue 17): the page opened in a real browser (Debian's
 * chromium driven by playwright-core): every workload of the stack is a node of the graph, a known
 * flow is drawn as an edge with a visible path, concern links land on objects, and a screenshot is
 * kept as an artifact (dist/report-<env>.png).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { workloadsOf, type Obj } from '../review/connectivity.js';
import { parseCatalog } from '../reports/coverage.js';
import { htmlReport } from '../review/html-report.js';
import { ENVS, renderEnv, ROOT } from './helpers.js';
import { knownEnvironments } from '../synth/stacks.js';

/** The stacks in the order `--all` takes them (stacks/ listing order). */
const knownOrder = () => knownEnvironments(ROOT);

const CHROMIUM = process.env.STACKBOOK_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = resolve('dist');
const catalog = parseCatalog(readFileSync(resolve('..', 'shared', 'runbooks', 'CONCERNS.md'), 'utf8'));

/** The page of a real stack, laid out once per file (a layout is ~0.3 s of CPU). */
const pages = new Map<string, string>();
const pageOf = (env: string): string => pages.get(env) ?? pages.set(env, htmlReport(env, renderEnv(env).objects, catalog)).get(env)!;

let browser: Browser;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stackbook-report-'));
  // the flags this machine's closed network needs (no background connections), as root
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HTML report in a real browser', () => {
  for (const env of ['prod', 'airgap']) {
    it(`${env}: every workload is a node, a known flow is an edge, concerns link to objects; screenshot kept`, async () => {
      const objects = renderEnv(env).objects;
      const file = join(dir, `${env}.html`);
      const html = pageOf(env);
      expect(htmlReport(env, objects, catalog)).toBe(html); // deterministic
      expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/); // self-contained
      writeFileSync(file, html);
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      await page.goto(`file://${file}`);
      const expected = workloadsOf(objects as unknown as Obj[]).map((w) => `${w.namespace}/${w.name}`).sort();
      const drawn = (await page.locator('svg#connectivity g.node:not(.outside)').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')))).sort();
      expect(drawn).toEqual(expected);
      // each node is laid out: visible and with a size
      for (const id of ['ows/ows', 'ows/redis', 'ope/ope']) {
        const box = await page.locator(`g.node[data-node="${id}"] rect`).boundingBox();
        expect(box && box.width > 50 && box.height > 10, id).toBe(true);
      }
      const edge = page.locator('g.flow[data-flow="ows/ows → ows/redis"] path');
      await expect.poll(() => edge.count()).toBe(1);
      const length = await edge.evaluate((p) => (p as SVGPathElement).getTotalLength());
      expect(length).toBeGreaterThan(20);
      expect(await page.locator('g.flow[data-flow="ows/ows → aion/redis"]').count()).toBe(0);
      // a runbook concern links to an object row that exists
      const link = page.locator('#concern-OPE-5 a').first();
      const target = (await link.getAttribute('href'))!;
      expect(await page.locator(target).count()).toBe(1);
      await link.click();
      expect(page.url()).toContain(target);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.locator('#connectivity-graph').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTIFACTS, `report-${env}.png`), fullPage: false });
      await page.close();
    }, 60_000);
  }
});

describe('stackbook report --html: every stack in one process (the PR workflow writes them all)', () => {
  /** `stackbook <argv>` in process in `root`: exit code and what it printed. */
  async function cli(argv: string[], root: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = { stdout: '', stderr: '' };
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out.stdout += String(c)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((out.stderr += String(c)), true));
    try {
      return { code: await main(argv, root), ...out };
    } finally {
      vi.restoreAllMocks();
    }
  }

  it('--all with {env} in the file name: one page per stack, each the page of that stack', async () => {
    const out = join(dir, 'all');
    mkdirSync(out);
    const r = await cli(['report', '--all', '--html', join(out, 'report-{env}.html')], ROOT);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(ENVS.map((e) => `report-${e}.html`).sort());
    for (const env of ENVS) expect(readFileSync(join(out, `report-${env}.html`), 'utf8'), env).toBe(pageOf(env));
    expect(r.stdout.trim().split('\n')).toEqual(knownOrder().map((e) => `${e}: report written to ${join(out, `report-${e}.html`)}`));
  });

  it('several stacks and no {env}: a usage error, nothing written', async () => {
    const out = join(dir, 'no-placeholder');
    mkdirSync(out);
    const r = await cli(['report', 'dev', 'prod', '--html', join(out, 'page.html')], ROOT);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^stackbook: report --html with several environments needs \{env\} in the file name, e\.g\. report-\{env\}\.html \(got ".*page\.html"\)\nusage:/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('a stack that fails is named, the others are still written, exit 2', async () => {
    const root = join(dir, 'project');
    cpSync(join(ROOT, 'stacks'), join(root, 'stacks'), { recursive: true, filter: (src) => !src.endsWith('.ts') });
    writeFileSync(join(root, 'stacks', 'Pulumi.staging.yaml'), 'config:\n  stackbook:tier: [oops\n');
    const out = join(dir, 'partial');
    mkdirSync(out);
    const r = await cli(['report', 'staging', 'dev', '--html', join(out, 'report-{env}.html')], root);
    expect(r.code).toBe(2);
    expect(readdirSync(out)).toEqual(['report-dev.html']);
    // (this copy of the project has no ../shared/runbooks catalog beside it: the page without one)
    expect(readFileSync(join(out, 'report-dev.html'), 'utf8')).toBe(htmlReport('dev', renderEnv('dev').objects, []));
    expect(r.stderr).toMatch(/^stacks\/Pulumi\.staging\.yaml: not valid YAML: /m);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('stackbook: report: written: dev; not written: staging');
  });
});

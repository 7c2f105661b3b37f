/**
 * `stackbook report <env> --html <file>` (issue 17): the page opened in a real browser (Debian's
 * chromium driven by playwright-core): every workload of the stack is a node of the graph, a known
 * flow is drawn as an edge with a visible path, concern links land on objects, and a screenshot is
 * kept as an artifact (dist/report-<env>.png).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workloadsOf, type Obj } from '../review/connectivity.js';
import { parseCatalog } from '../reports/coverage.js';
import { htmlReport } from '../review/html-report.js';
import { renderEnv } from './helpers.js';

const CHROMIUM = process.env.STACKBOOK_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = resolve('dist');
const catalog = parseCatalog(readFileSync(resolve('..', 'shared', 'runbooks', 'CONCERNS.md'), 'utf8'));

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
      const html = htmlReport(env, objects, catalog);
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

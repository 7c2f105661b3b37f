/**
 * Issue 14: one declaration serves every checker. An `exception.stackbook.io/<id>` annotation is
 * carried to checkov as `checkov.io/skip<N>: <CHECK_ID>=<reason>` (policies/checkov.ts, applied by
 * render.ts), and real checkov honours it: the same privileged Deployment fails CKV_K8S_16 without
 * the generated annotations and has it skipped with them. checkov is installed by .ci/run (PyPI,
 * into ~/.cache/stackbook-checkov); without it these tests fail, never skip. The full run over every
 * bundle is its own CI step: `node tools/checkov.mjs` (about 45 s for four bundles).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dump } from 'js-yaml';
import { CHECKOV_CHECKS, checkovSkips, withCheckovSkips } from '../policies/checkov.js';
import { RULES } from '../policies/manifest-rules.js';
import { renderEnv } from './helpers.js';
// @ts-expect-error plain ESM tool without types
import { findCheckov } from '../tools/checkov.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'stackbook-checkov-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function privileged(annotations: Record<string, string>) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'runtime', namespace: 'oub', annotations: { ...annotations } },
    spec: {
      selector: { matchLabels: { app: 'runtime' } },
      template: {
        metadata: { labels: { app: 'runtime' } },
        spec: { containers: [{ name: 'runtime', image: `docker.io/library/busybox@sha256:${'a'.repeat(64)}`, securityContext: { privileged: true, runAsUser: 20000 } }] },
      },
    },
  };
}

/**
 * checkov's verdict on CKV_K8S_16 for each object (failed, skipped with its reason, passed, or no
 * result), from ONE checkov run over a directory holding each object as `<label>.yaml`: every run
 * pays ~3-4 s of Python start-up, and the JSON names the file of each check result (`file_path`).
 */
function verdicts(objects: Record<string, object>): Record<string, string> {
  const dir = mkdtempSync(join(tmp, 'verdicts-'));
  for (const [label, obj] of Object.entries(objects)) writeFileSync(join(dir, `${label}.yaml`), dump(obj));
  const bin = findCheckov();
  if (!bin) throw new Error('checkov is not installed: .ci/run installs it (python3 -m venv ~/.cache/stackbook-checkov && ~/.cache/stackbook-checkov/bin/pip install checkov)');
  const r = spawnSync(bin, ['-d', dir, '--framework', 'kubernetes', '--check', 'CKV_K8S_16', '--skip-download', '-o', 'json'], { encoding: 'utf8', env: { ...process.env, BC_SKIP_MAPPING: 'TRUE' } });
  type Check = { file_path: string; check_result: { suppress_comment?: string } };
  const res = JSON.parse(r.stdout).results as { failed_checks: Check[]; skipped_checks: Check[]; passed_checks: Check[] };
  const of = (checks: Check[], label: string) => checks.filter((c) => c.file_path === `/${label}.yaml`);
  return Object.fromEntries(
    Object.keys(objects).map((label) => {
      if (of(res.failed_checks, label).length > 0) return [label, 'failed'];
      const skipped = of(res.skipped_checks, label);
      if (skipped.length > 0) return [label, `skipped: ${skipped[0]!.check_result.suppress_comment}`];
      return [label, of(res.passed_checks, label).length > 0 ? 'passed' : 'no result'];
    }),
  );
}

describe('exception declarations reach checkov (issue 14)', () => {
  const REASON = 'the rootless Docker daemon needs privileged (see OUB-10); mode=rootless';
  it('a pod-security-restricted exception becomes checkov skips of the Pod Security checks, numbered, "=" removed from the reason', () => {
    const skips = checkovSkips(privileged({ 'exception.stackbook.io/pod-security-restricted': REASON }), { digestsRequired: true });
    expect(Object.keys(skips)).toEqual(CHECKOV_CHECKS['pod-security-restricted']!.map((_c, i) => `checkov.io/skip${i + 1}`));
    expect(skips['checkov.io/skip1']).toBe('CKV_K8S_16=pod-security-restricted: the rootless Docker daemon needs privileged (see OUB-10); mode is rootless');
    for (const v of Object.values(skips)) expect(v.split('=')).toHaveLength(2);
    expect(checkovSkips(privileged({}), { digestsRequired: true })).toEqual({});
  });

  it('every mapped id is a project rule or a documented checker-only declaration', () => {
    const ruleIds = new Set(RULES.map((r) => r.id));
    // secret-env became a project rule (policies/production.ts, issue 14 item 17).
    expect(Object.keys(CHECKOV_CHECKS).filter((id) => !ruleIds.has(id))).toEqual(['image-user']);
  });

  it('real checkov: without the generated annotations the privileged Deployment fails CKV_K8S_16; with them it is skipped with the declared reason', () => {
    const declared = privileged({ 'exception.stackbook.io/pod-security-restricted': REASON });
    const v = verdicts({ plain: declared, carried: withCheckovSkips(structuredClone(declared), { digestsRequired: true }) });
    expect(v.plain).toBe('failed');
    expect(v.carried).toMatch(/^skipped: pod-security-restricted: the rootless Docker daemon/);
  }, 120_000);

  it('the stacks: the OUB exception reaches checkov on the rendered Deployment; dev images by tag and image-user UIDs are declared, prod digests are not skipped', () => {
    for (const env of ['dev', 'prod']) {
      const oub = renderEnv(env).objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'oubliette')!;
      const values = Object.entries(oub.metadata.annotations ?? {}).filter(([k]) => k.startsWith('checkov.io/skip')).map(([, v]) => v.split('=')[0]);
      expect(values, env).toEqual(expect.arrayContaining(['CKV_K8S_16', 'CKV_K8S_20', 'CKV_K8S_25', 'CKV_K8S_40']));
      expect(values.includes('CKV_K8S_43'), env).toBe(env === 'dev');
    }
  });
});

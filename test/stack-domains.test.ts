/**
 * A new environment copied from another (issue 17): when it keeps its origin's `cluster.domain`,
 * `check` warns, naming both stack files; distinct domains are quiet.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { domainWarnings } from '../synth/stacks.js';
import { ROOT } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'stackbook-domains-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('stacks sharing a domain', () => {
  it('cp staging qa: warned, naming both files; a distinct domain: quiet', () => {
    mkdirSync(join(tmp, 'stacks'));
    copyFileSync(join(ROOT, 'stacks', 'Pulumi.staging.yaml'), join(tmp, 'stacks', 'Pulumi.staging.yaml'));
    const staging = readFileSync(join(ROOT, 'stacks', 'Pulumi.staging.yaml'), 'utf8');
    const domain = /^\s+domain: (\S+)$/m.exec(staging)![1]!;
    writeFileSync(join(tmp, 'stacks', 'Pulumi.qa.yaml'), staging.replace('stackbook:environment: staging', 'stackbook:environment: qa'));
    expect(domainWarnings(tmp, ['qa'])).toEqual([
      `stacks/Pulumi.qa.yaml: config.stackbook:cluster.domain "${domain}" is also the domain of stacks/Pulumi.staging.yaml: two stacks on one domain fight over the same hosts and certificates`,
    ]);
    writeFileSync(join(tmp, 'stacks', 'Pulumi.qa.yaml'), staging.replace('stackbook:environment: staging', 'stackbook:environment: qa').replace(`domain: ${domain}`, 'domain: qa.example.com'));
    expect(domainWarnings(tmp, ['qa', 'staging'])).toEqual([]);
  });

  it('the project stacks each have their own domain', () => {
    expect(domainWarnings(ROOT, ['dev', 'staging', 'prod', 'airgap'])).toEqual([]);
  });
});

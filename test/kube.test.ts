/**
 * Issue 18: the ground floor (kube/). Config-time validation (stacks/, zod) and render-time
 * validation (components/) ask the same kube/ functions, so they accept and refuse the same
 * values; and the behaviours the merge of two copies changed are pinned here.
 */
import { describe, expect, it } from 'vitest';
import { byteQuantity, cpuQuantity, dnsLabel, hostname, ipv4Cidr } from '../stacks/primitives.js';
import { ephemeralStorageLimit } from '../components/meta.js';
import { AllowList } from '../components/network-policy.js';
import { vaultCa } from '../policies/production.js';
import { cidrContains, cidrOverlaps, isCidr, isDnsLabel, isDnsSubdomain, parseQuantity, quantityValue, byteValue, sameQuantity, IPV4_CIDR } from '../kube/index.js';
import { errorOf, newChart } from './components/util.js';

const BYTES = ['512Mi', '1Gi', '1.5Gi', '1G', '500M', '1024', '0.5Ti', '64Ki', '1k', '250m', '1e9', '-1Gi', '1Pi', 'Gi', '1gi', ' 1Gi', '1.Gi', ''];
const CPUS = ['250m', '2', '0.5', '1.5m', '1k', '-1', '1e3', 'm', ''];
const NAMES = ['web', 'a', 'a-b', '0a', 'a'.repeat(63), 'a'.repeat(64), '-a', 'a-', 'A', 'a_b', 'a.b', ''];

describe('config-time and render-time checks agree (one function behind both)', () => {
  it('byte quantities: the stack schema accepts exactly what components read as bytes', () => {
    for (const q of BYTES) {
      expect([q, byteQuantity.safeParse(q).success]).toEqual([q, byteValue(q) !== undefined]);
      // the component that reads byte sizes refuses exactly the others
      const refused = (() => { try { ephemeralStorageLimit([q]); return false; } catch { return true; } })();
      expect([q, refused]).toEqual([q, byteValue(q) === undefined]);
    }
  });

  it('CPU quantities: what the schema accepts has a value components can compare', () => {
    for (const q of CPUS) if (cpuQuantity.safeParse(q).success) expect([q, quantityValue(q)]).not.toEqual([q, undefined]);
  });

  it('DNS labels and names: the schema and the component checks agree', () => {
    for (const n of NAMES) expect([n, dnsLabel.safeParse(n).success]).toEqual([n, isDnsLabel(n)]);
    for (const h of ['a.example.com', 'example', 'a..b', 'A.example', `${'a'.repeat(63)}.${'b'.repeat(63)}`, `${'a.'.repeat(127)}a`, '']) {
      expect([h, hostname.safeParse(h).success]).toEqual([h, isDnsSubdomain(h)]);
    }
  });

  it('IPv4 CIDRs: the schema pattern and the component check agree on IPv4', () => {
    for (const c of ['10.0.0.0/8', '10.0.0.1/32', '256.0.0.0/8', '10.0.0.0/33', '10.0.0.0', '::/0']) {
      expect([c, ipv4Cidr.safeParse(c).success]).toEqual([c, IPV4_CIDR.test(c)]);
      if (IPV4_CIDR.test(c)) expect(isCidr(c)).toBe(true);
    }
  });
});

describe('one quantity parser', () => {
  it('reads the API server grammar exactly (what the diff engine and the drift check compare)', () => {
    expect(parseQuantity('1.5Gi')).toEqual({ num: 1610612736n, den: 1n });
    expect(parseQuantity('500m')).toEqual({ num: 1n, den: 2n });
    expect(parseQuantity('2e3')).toEqual({ num: 2000n, den: 1n });
    expect(parseQuantity('1Gix')).toBeUndefined();
    expect(sameQuantity('1024Mi', '1Gi')).toBe(true);
    expect(sameQuantity('1Ki', '1k')).toBe(false);
  });

  it('gives decimal suffixes exact values (the old float product made 1.1k 1100.0000000000002)', () => {
    expect(quantityValue('1.1k')).toBe(1100);
    expect(quantityValue('0.3')).toBe(0.3);
  });
});

describe('one CIDR helper', () => {
  it('contains and overlaps', () => {
    expect(cidrContains('10.0.0.0/8', '10.1.0.0/16')).toBe(true);
    expect(cidrContains('10.1.0.0/16', '10.0.0.0/8')).toBe(false);
    expect(cidrOverlaps('10.1.0.0/16', '10.0.0.0/8')).toBe(true);
    expect(cidrOverlaps('10.0.0.0/16', '10.1.0.0/16')).toBe(false);
  });
});

describe('what merging two copies changed', () => {
  it('AllowList refuses ::/0 without exceptions, as the operand rules always did (it checked 0.0.0.0/0 only)', () => {
    const e = errorOf(() => new AllowList(newChart(), 'A', { name: 'web', namespace: 'apps', pods: { app: 'web' }, egress: [{ peers: [{ cidr: '::/0' }], ports: [{ port: 443 }] }] }));
    expect(e.message).toMatch(/whole internet/);
  });

  it('vault-ca treats a private name with a trailing dot as private, as the config rule always did', () => {
    const store = {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ClusterSecretStore',
      metadata: { name: 'vault' },
      spec: { provider: { vault: { server: 'https://vault.internal.:8200' } } },
    };
    const found = vaultCa.check([store] as never, { tier: 'production', registry: undefined });
    expect(found.map((v) => v.message)).toEqual([expect.stringMatching(/private host/)]);
  });
});

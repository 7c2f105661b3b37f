/**
 * Network policy: default deny per namespace with DNS allowed, explicit allow-lists.
 * Semantics from the Kubernetes NetworkPolicy API: an empty podSelector selects every pod; a
 * peer with namespaceSelector AND podSelector is one peer (AND); two peers are OR.
 */
import { describe, expect, it } from 'vitest';
import { AllowList, DefaultDeny, type AllowListProps, type DefaultDenyProps } from '../../components/network-policy.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const NS_LABEL = 'kubernetes.io/metadata.name'; // set by Kubernetes on every namespace

function deny(props: DefaultDenyProps) {
  const chart = newChart();
  new DefaultDeny(chart, 'Deny', props);
  const objects = objectsOf(chart);
  return { objects, deny: only(objects, 'NetworkPolicy', 'default-deny'), dns: only(objects, 'NetworkPolicy', 'allow-dns') };
}

const APP = { 'app.kubernetes.io/name': 'web' };
function allow(props: Partial<AllowListProps>) {
  const chart = newChart();
  new AllowList(chart, 'Allow', { name: 'web', namespace: 'apps', pods: APP, ...props });
  return only(objectsOf(chart), 'NetworkPolicy', 'web');
}

describe('DefaultDeny (X-3)', () => {
  it('denies all ingress and egress for every pod of the namespace', () => {
    const { objects, deny: d } = deny({ namespace: 'apps' });
    expect(objects).toHaveLength(2);
    expect(d.metadata.namespace).toBe('apps');
    expect(d.spec.podSelector).toEqual({});
    expect([...d.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
    expect(d.spec.ingress).toBeUndefined();
    expect(d.spec.egress).toBeUndefined();
  });

  it('allows DNS (UDP and TCP 53) from every pod, only to the DNS pods of kube-system, as ONE peer', () => {
    const { dns } = deny({ namespace: 'apps' });
    expect(dns.spec.podSelector).toEqual({});
    expect(dns.spec.policyTypes).toEqual(['Egress']);
    expect(dns.spec.ingress).toBeUndefined();
    expect(dns.spec.egress).toHaveLength(1);
    const rule = dns.spec.egress[0];
    expect(rule.to).toEqual([{ namespaceSelector: { matchLabels: { [NS_LABEL]: 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
    expect(rule.ports.map((p: Json) => `${p.protocol}/${p.port}`).sort()).toEqual(['TCP/53', 'UDP/53']);
  });

  it('uses the configured DNS namespace and pod label', () => {
    const { dns } = deny({ namespace: 'apps', dnsNamespace: 'dns-system', dnsPodLabel: 'app.kubernetes.io/name=coredns' });
    expect(dns.spec.egress[0].to).toEqual([
      { namespaceSelector: { matchLabels: { [NS_LABEL]: 'dns-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'coredns' } } },
    ]);
  });

  it('both policies carry X-3 and the given concerns', () => {
    const { objects } = deny({ namespace: 'apps', concerns: ['OPE-93'] });
    for (const o of objects) expect(concernsOf(o)).toEqual(['OPE-93', 'X-3']);
  });

  it('rejects a DNS pod label that is not key=value', () => {
    const e = errorOf(() => deny({ namespace: 'apps', dnsPodLabel: 'kube-dns' }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('dnsPodLabel');
    expect(e.message).toContain('(got "kube-dns")');
  });
});

describe('AllowList (X-3)', () => {
  it('selects only the given pods', () => {
    const p = allow({ ingress: [{ peers: [{ namespace: 'ingress-nginx' }], ports: [{ port: 8080 }] }] });
    expect(p.spec.podSelector).toEqual({ matchLabels: APP });
    expect(p.metadata.namespace).toBe('apps');
  });

  it('a peer naming a namespace AND pods is ONE peer with both selectors', () => {
    const p = allow({ ingress: [{ peers: [{ namespace: 'monitoring', pods: { app: 'prometheus' } }], ports: [{ port: 8080 }] }] });
    expect(p.spec.ingress).toHaveLength(1);
    expect(p.spec.ingress[0].from).toEqual([
      { namespaceSelector: { matchLabels: { [NS_LABEL]: 'monitoring' } }, podSelector: { matchLabels: { app: 'prometheus' } } },
    ]);
  });

  it('renders namespace-only, own-namespace pod and CIDR peers', () => {
    const p = allow({
      ingress: [{ peers: [{ namespace: 'ingress-nginx' }, { pods: { role: 'frontend' } }], ports: [{ port: 8080 }] }],
      egress: [{ peers: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }, { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }], ports: [{ port: 443 }] }],
    });
    expect(p.spec.ingress[0].from).toEqual([
      { namespaceSelector: { matchLabels: { [NS_LABEL]: 'ingress-nginx' } } },
      { podSelector: { matchLabels: { role: 'frontend' } } },
    ]);
    expect(p.spec.egress[0].to).toEqual([
      { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
      { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } },
    ]);
  });

  it('ports default to TCP and keep an explicit protocol', () => {
    const p = allow({ egress: [{ peers: [{ cidr: '10.0.0.1/32' }], ports: [{ port: 443 }, { port: 514, protocol: 'UDP' }] }] });
    expect(p.spec.egress[0].ports).toEqual([{ port: 443, protocol: 'TCP' }, { port: 514, protocol: 'UDP' }]);
  });

  it('policyTypes list only the directions that have rules (the other stays denied by DefaultDeny)', () => {
    const ing = allow({ ingress: [{ peers: [{ namespace: 'x' }], ports: [{ port: 1 }] }] });
    expect(ing.spec.policyTypes).toEqual(['Ingress']);
    expect(ing.spec.egress).toBeUndefined();
    const eg = allow({ egress: [{ peers: [{ cidr: '10.0.0.1/32' }], ports: [{ port: 443 }] }] });
    expect(eg.spec.policyTypes).toEqual(['Egress']);
    expect(eg.spec.ingress).toBeUndefined();
    const both = allow({ ingress: [{ peers: [{ namespace: 'x' }], ports: [{ port: 1 }] }], egress: [{ peers: [{ cidr: '10.0.0.1/32' }], ports: [{ port: 443 }] }] });
    expect([...both.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
  });

  it('carries X-3 and the given concerns', () => {
    const p = allow({ ingress: [{ peers: [{ namespace: 'x' }], ports: [{ port: 1 }] }], concerns: ['OPE-95'] });
    expect(concernsOf(p)).toEqual(['OPE-95', 'X-3']);
  });
});

describe('AllowList rejects rules that would widen access', () => {
  const ok = { peers: [{ namespace: 'x' }], ports: [{ port: 80 }] };

  it('an empty pod selector for the policy', () => {
    const e = errorOf(() => allow({ pods: {}, ingress: [ok] }));
    expect(e.message).toContain('AllowList "web"');
    expect(e.message).toContain('pods');
  });

  it('a rule with no peers', () => {
    const e = errorOf(() => allow({ ingress: [ok, { peers: [], ports: [{ port: 80 }] }] }));
    expect(e.message).toContain('ingress[1]');
    expect(e.message).toMatch(/peer/);
  });

  it('a rule with no ports', () => {
    const e = errorOf(() => allow({ egress: [{ peers: [{ cidr: '10.0.0.1/32' }], ports: [] }] }));
    expect(e.message).toContain('egress[0]');
    expect(e.message).toMatch(/port/);
  });

  it('the whole internet without exceptions', () => {
    const e = errorOf(() => allow({ egress: [{ peers: [{ cidr: '0.0.0.0/0' }], ports: [{ port: 443 }] }] }));
    expect(e.message).toContain('egress[0]');
    expect(e.message).toContain('(got "0.0.0.0/0")');
  });

  it('an empty pod selector in a peer', () => {
    const e = errorOf(() => allow({ ingress: [{ peers: [{ pods: {} }], ports: [{ port: 80 }] }] }));
    expect(e.message).toContain('ingress[0]');
    expect(e.message).toMatch(/empty pod selector/);
  });

  it.each([0, 70000])('port %s', (port) => {
    const e = errorOf(() => allow({ ingress: [{ peers: [{ namespace: 'x' }], ports: [{ port }] }] }));
    expect(e.message).toContain('ingress[0]');
    expect(e.message).toContain(`(got ${port})`);
  });

  it('neither ingress nor egress', () => {
    const e = errorOf(() => allow({}));
    expect(e.message).toContain('ingress/egress');
  });
});

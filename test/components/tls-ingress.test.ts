/**
 * TLS ingress and issuers (X-4): HTTPS only (redirect + HSTS) on ingress-nginx or the AWS Load
 * Balancer Controller, internal exposure without a public load balancer, a cert-manager
 * Certificate for the host, ACME or private-CA ClusterIssuers. Annotation names are the
 * controllers' documented ones.
 */
import { describe, expect, it } from 'vitest';
import { ClusterIssuer, TlsIngress, type ClusterIssuerProps, type TlsIngressProps } from '../../components/tls-ingress.js';
import { concernsOf, errorOf, newChart, objectsOf, only } from './util.js';

const ONE_YEAR = 365 * 24 * 60 * 60;

function ingress(overrides: Partial<TlsIngressProps> = {}) {
  const chart = newChart();
  new TlsIngress(chart, 'I', {
    name: 'web',
    namespace: 'apps',
    host: 'web.example.com',
    serviceName: 'web-svc',
    servicePort: 8080,
    ingressClass: 'nginx',
    exposure: 'public',
    clusterIssuer: 'le-prod',
    ...overrides,
  });
  const objects = objectsOf(chart);
  const ing = only(objects, 'Ingress');
  // An ALB Ingress has no Certificate (ACM serves the host): `cert` is then undefined.
  return { objects, ing, a: ing.metadata.annotations as Record<string, string>, cert: objects.find((o) => o.kind === 'Certificate') ?? (overrides.ingressClass === 'alb' ? undefined : only(objects, 'Certificate')) };
}

function issuer(props: ClusterIssuerProps) {
  const chart = newChart();
  new ClusterIssuer(chart, 'CI', props);
  return only(objectsOf(chart), 'ClusterIssuer');
}

describe('TlsIngress (X-4)', () => {
  it('routes the host to the service, with TLS for that host from the Certificate secret', () => {
    const { ing, cert } = ingress();
    expect(ing.apiVersion).toBe('networking.k8s.io/v1');
    expect(ing.spec.rules).toEqual([
      {
        host: 'web.example.com',
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web-svc', port: { number: 8080 } } } }] },
      },
    ]);
    expect(ing.spec.tls).toHaveLength(1);
    expect(ing.spec.tls[0].hosts).toEqual(['web.example.com']);
    expect(ing.spec.tls[0].secretName).toBe(cert.spec.secretName);
  });

  it('a cert-manager Certificate for exactly the host, issued by the given ClusterIssuer', () => {
    const { cert } = ingress();
    expect(cert.apiVersion).toBe('cert-manager.io/v1');
    expect(cert.metadata).toMatchObject({ name: 'web', namespace: 'apps' });
    expect(cert.spec.dnsNames).toEqual(['web.example.com']);
    expect(cert.spec.issuerRef).toEqual({ group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'le-prod' });
  });

  it('nginx: class nginx, forced HTTP→HTTPS redirect, HSTS for a year, timeouts', () => {
    const { ing, a } = ingress({ timeoutSeconds: 3600 });
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(a['nginx.ingress.kubernetes.io/force-ssl-redirect']).toBe('true');
    expect(a['nginx.ingress.kubernetes.io/ssl-redirect']).toBe('true');
    expect(a['stackbook.io/hsts']).toBe(`max-age=${ONE_YEAR}; includeSubDomains`);
    expect(a['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('3600');
    expect(a['nginx.ingress.kubernetes.io/proxy-send-timeout']).toBe('3600');
    expect(Object.keys(a).some((k) => k.startsWith('alb.'))).toBe(false);
  });

  it('nginx internal: the internal ingress class, never the public one', () => {
    const { ing } = ingress({ exposure: 'internal' });
    expect(ing.spec.ingressClassName).toBe('nginx-internal');
  });

  it('a cluster-specific IngressClass name overrides the convention, and must be a valid name', () => {
    const { ing } = ingress({ exposure: 'internal', className: 'internal-lb' });
    expect(ing.spec.ingressClassName).toBe('internal-lb');
    expect(errorOf(() => ingress({ className: 'Bad_Class' })).message).toMatch(/className must be an IngressClass name \(got "Bad_Class"\)/);
  });

  it('alb public: internet-facing, IP targets, both listeners, redirect to 443, HSTS header on the HTTPS listener', () => {
    const { ing, a } = ingress({ ingressClass: 'alb', hstsMaxAgeSeconds: 2 * ONE_YEAR, timeoutSeconds: 120, healthCheckPath: '/ready' });
    expect(ing.spec.ingressClassName).toBe('alb');
    expect(a['alb.ingress.kubernetes.io/scheme']).toBe('internet-facing');
    expect(a['alb.ingress.kubernetes.io/target-type']).toBe('ip');
    expect(JSON.parse(a['alb.ingress.kubernetes.io/listen-ports']!)).toEqual([{ HTTP: 80 }, { HTTPS: 443 }]);
    expect(a['alb.ingress.kubernetes.io/ssl-redirect']).toBe('443');
    expect(a['alb.ingress.kubernetes.io/listener-attributes.HTTPS-443']).toContain(
      `routing.http.response.strict_transport_security.header_value=max-age=${2 * ONE_YEAR}`,
    );
    expect(a['alb.ingress.kubernetes.io/load-balancer-attributes']).toBe('idle_timeout.timeout_seconds=120');
    expect(a['stackbook.io/hsts']).toContain(`max-age=${2 * ONE_YEAR}`);
    expect(Object.keys(a).some((k) => k.startsWith('nginx.'))).toBe(false);
  });

  it('alb internal: the internal scheme', () => {
    const { a } = ingress({ ingressClass: 'alb', exposure: 'internal', healthCheckPath: '/ready' });
    expect(a['alb.ingress.kubernetes.io/scheme']).toBe('internal');
  });

  it('several paths all route to the service', () => {
    const { ing } = ingress({ paths: ['/api', '/ws'] });
    expect(ing.spec.rules[0].http.paths.map((p: { path: string }) => p.path)).toEqual(['/api', '/ws']);
  });

  it('Ingress and Certificate carry X-4 and the given concerns', () => {
    const { objects } = ingress({ concerns: ['OPE-91'] });
    expect(objects).toHaveLength(2);
    for (const o of objects) expect(concernsOf(o)).toEqual(['OPE-91', 'X-4']);
  });
});

describe('TlsIngress rejects unsafe props', () => {
  it.each(['web', 'Web.Example.com', 'web_1.example.com'])('host %s', (host) => {
    const e = errorOf(() => ingress({ host }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('TlsIngress "web"');
    expect(e.message).toContain('host');
    expect(e.message).toContain(`(got "${host}")`);
  });

  it('relative paths', () => {
    const e = errorOf(() => ingress({ paths: ['api'] }));
    expect(e.message).toContain('paths');
    expect(e.message).toContain('(got ["api"])');
  });

  it('no paths', () => {
    const e = errorOf(() => ingress({ paths: [] }));
    expect(e.message).toContain('paths');
  });

  it('HSTS shorter than a day', () => {
    const e = errorOf(() => ingress({ hstsMaxAgeSeconds: 300 }));
    expect(e.message).toContain('hstsMaxAgeSeconds');
    expect(e.message).toContain('(got 300)');
  });
});

describe('ClusterIssuer (X-4)', () => {
  it('acme: account e-mail, server, account key secret and an HTTP-01 solver through the ingress class', () => {
    const ci = issuer({ name: 'le', issuer: { kind: 'acme', email: 'ops@example.com', server: 'https://acme.example.com/dir' }, solverIngressClass: 'alb' });
    expect(ci.apiVersion).toBe('cert-manager.io/v1');
    expect(ci.metadata.name).toBe('le');
    expect(ci.metadata.namespace).toBeUndefined();
    expect(ci.spec.ca).toBeUndefined();
    expect(ci.spec.acme.email).toBe('ops@example.com');
    expect(ci.spec.acme.server).toBe('https://acme.example.com/dir');
    expect(ci.spec.acme.privateKeySecretRef.name).toBeTruthy();
    expect(ci.spec.acme.solvers).toEqual([{ http01: { ingress: { ingressClassName: 'alb' } } }]);
  });

  it('acme solves through nginx by default', () => {
    const ci = issuer({ name: 'le', issuer: { kind: 'acme', email: 'ops@example.com', server: 'https://acme.example.com/dir' } });
    expect(ci.spec.acme.solvers[0].http01.ingress.ingressClassName).toBe('nginx');
  });

  it('ca: signs with the private CA key pair secret, no ACME', () => {
    const ci = issuer({ name: 'corp', issuer: { kind: 'ca', secretName: 'corp-root-ca' } });
    expect(ci.spec).toEqual({ ca: { secretName: 'corp-root-ca' } });
    expect(concernsOf(ci)).toEqual(['X-4']);
  });

  it('rejects a non-https ACME server', () => {
    const e = errorOf(() => issuer({ name: 'le', issuer: { kind: 'acme', email: 'ops@example.com', server: 'http://acme.example.com/dir' } }));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain('ClusterIssuer "le"');
    expect(e.message).toContain('issuer.server');
    expect(e.message).toContain('(got "http://acme.example.com/dir")');
  });
});

describe('TlsIngress blockedPaths (issue 14 #14)', () => {
  function render(overrides: Partial<TlsIngressProps>) {
    const chart = newChart();
    new TlsIngress(chart, 'I', {
      name: 'web', namespace: 'apps', host: 'web.example.com', serviceName: 'web-svc', servicePort: 8080,
      ingressClass: 'nginx', exposure: 'public', clusterIssuer: 'le-prod',
      // an ALB needs a health-check path (no workload with a readiness probe behind this Service)
      ...(overrides.ingressClass === 'alb' ? { healthCheckPath: '/healthz' } : {}),
      ...overrides,
    });
    return objectsOf(chart).filter((o) => o.kind === 'Ingress');
  }

  it('renders nothing extra by default', () => {
    for (const ingressClass of ['nginx', 'alb'] as const) {
      const [ing, ...rest] = render({ ingressClass, ...(ingressClass === 'alb' ? { healthCheckPath: '/healthz' } : {}) });
      expect(rest).toEqual([]);
      expect(ing!.spec.rules[0].http.paths.map((p: { path: string }) => p.path)).toEqual(['/']);
      expect(Object.keys(ing!.metadata.annotations).filter((k) => k.includes('actions.') || k.includes('denylist'))).toEqual([]);
    }
  });

  it('nginx: a second Ingress for the same host denies the blocked prefixes to every client', () => {
    const [ing, blocked] = render({ blockedPaths: ['/metrics'] });
    expect(blocked!.metadata.name).toBe('web-blocked');
    expect(blocked!.metadata.annotations['nginx.ingress.kubernetes.io/denylist-source-range']).toBe('0.0.0.0/0,::/0');
    expect(blocked!.spec.rules).toEqual([{ host: 'web.example.com', http: { paths: [{ path: '/metrics', pathType: 'Prefix', backend: { service: { name: 'web-svc', port: { number: 8080 } } } }] } }]);
    expect(blocked!.spec.tls).toEqual(ing!.spec.tls);
    expect(blocked!.spec.ingressClassName).toBe(ing!.spec.ingressClassName);
    // HTTPS-only like the main Ingress
    expect(blocked!.metadata.annotations['nginx.ingress.kubernetes.io/force-ssl-redirect']).toBe('true');
  });

  it('alb: a fixed-response 404 action on the blocked prefixes, listed before the routes', () => {
    const [ing, ...rest] = render({ ingressClass: 'alb', blockedPaths: ['/metrics'] });
    expect(rest).toEqual([]);
    const paths = ing!.spec.rules[0].http.paths;
    expect(paths.map((p: { path: string }) => p.path)).toEqual(['/metrics', '/']);
    const name = paths[0].backend.service.name;
    expect(paths[0].backend.service.port).toEqual({ name: 'use-annotation' });
    expect(JSON.parse(ing!.metadata.annotations[`alb.ingress.kubernetes.io/actions.${name}`])).toEqual({
      type: 'fixed-response',
      fixedResponseConfig: { contentType: 'text/plain', statusCode: '404', messageBody: 'Not Found' },
    });
  });

  it('refuses / and relative paths, naming the prop and the value', () => {
    for (const bad of ['/', 'metrics', '/metrics/']) {
      const e = errorOf(() => render({ blockedPaths: [bad] }));
      expect(e.message).toContain('blockedPaths');
      expect(e.message).toContain(JSON.stringify(bad));
    }
  });
});

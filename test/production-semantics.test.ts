/**
 * Issue 14 (production semantics), the cluster-wide items: each fix on the real stacks, the config
 * error or policy that guards it, and a counter-example that fails without the fix.
 *   1  cosign admission is satisfiable (mirror + re-sign, operator-injected images named and covered)
 *   2  ALB: ACM certificates, no cert-manager HTTP-01, one IngressGroup, readiness health checks, readiness gates
 *   3  default deny admits the ingress controller to the ACME HTTP-01 solver pods
 *   6  a private Vault host needs its CA
 *   13 NetworkPolicies admit the ALB subnets, never the VPC
 *   15 the air-gapped CA issuer signs with an intermediate, not the corporate root
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, ApiObject, Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { globMatches, OPERATOR_IMAGES } from '../components/image-policy.js';
import { PLATFORM_IMAGES } from '../components/images.js';
import { ALB_CONTEXT, TlsIngress } from '../components/tls-ingress.js';
import { isUpstream } from '../components/upstream.js';
import { blocking, evaluate, type Obj } from '../policies/manifest-rules.js';
import { ConfigError, formatProblem, parseStack, rawFromStackFile } from '../stacks/load.js';
import type { Stack } from '../stacks/schema.js';
import { operatorSupplied } from '../bundle/prerequisites.js';
import { render, type Manifest } from '../synth/render.js';
import { ENVS, ROOT, renderEnv } from './helpers.js';

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function raw(env: string): J {
  const file = `stacks/Pulumi.${env}.yaml`;
  return rawFromStackFile(readFileSync(join(ROOT, file), 'utf8'), file).raw as J;
}
function parse(r: J, env: string): Stack {
  return parseStack(r, `stacks/Pulumi.${env}.yaml`);
}
/** The config error lines of a raw stack (parse, then render); fails when it is accepted. */
function errors(r: J, env: string): string[] {
  try {
    render(parse(r, env));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map(formatProblem);
  }
  throw new Error('expected a config error, but the stack rendered');
}
const rulesOf = (objects: readonly Manifest[], id: string) => evaluate(objects as Obj[]).filter((v) => v.rule === id);
const json = (o: Manifest): J => o as unknown as J;

describe('item 1: cosign admission can admit every image it enforces on', () => {
  it('policy-controller glob semantics: * stops at /, ** does not, Docker Hub names are qualified, tags and digests follow the repository', () => {
    expect(globMatches('index.docker.io/library/redis*', 'redis:8.2')).toBe(true);
    expect(globMatches('index.docker.io/library/redis*', 'docker.io/library/redis:8.2@sha256:' + 'a'.repeat(64))).toBe(true);
    expect(globMatches('index.docker.io/library/redis*', 'docker.io/library/redis/sub:1')).toBe(false);
    expect(globMatches('registry.corp.internal:5000/mirror/**', 'registry.corp.internal:5000/mirror/docker.io/library/redis:8')).toBe(true);
    expect(globMatches('ghcr.io/acme/*', 'ghcr.io/acme/ope:1')).toBe(true);
    expect(globMatches('ghcr.io/acme/*', 'ghcr.io/other/ope:1')).toBe(false);
    expect(globMatches('*', 'redis')).toBe(true); // policy-controller reads a bare * as index.docker.io/library/*
  });

  it('every platform and operator-injected image is recognised as public upstream (the list cannot drift)', () => {
    for (const r of [...Object.values(PLATFORM_IMAGES), ...Object.values(OPERATOR_IMAGES)]) expect(isUpstream(r.repository), r.repository).toBe(true);
    expect(isUpstream('ghcr.io/acme/options-pricing-engine')).toBe(false);
  });

  it.each(ENVS)('%s: every image of an opted-in namespace, and every image an operator injects there, is admissible', (env) => {
    const { objects } = renderEnv(env);
    expect(rulesOf(objects, 'image-policy-satisfiable')).toEqual([]);
    const cip = json(objects.find((o) => o.kind === 'ClusterImagePolicy')!);
    const injected: string[] = cip.metadata.annotations['stackbook.io/operator-images'].split(',');
    // CNPG (Cluster) and Strimzi (Kafka) run in every stack; cert-manager's solver wherever ACME serves a Certificate
    expect(injected.some((i) => i.includes('ghcr.io/cloudnative-pg/cloudnative-pg:'))).toBe(true);
    expect(injected.some((i) => i.includes('quay.io/strimzi/operator:'))).toBe(true);
    expect(injected.some((i) => i.includes('cert-manager-acmesolver')), env).toBe(renderEnv(env).stack.cluster.issuer.kind === 'acme');
    for (const i of injected) expect(cip.spec.images.some((g: J) => globMatches(g.glob, i)), i).toBe(true);
  });

  it('prod (enforce): upstream images come from the stack registry, first-party images stay where they are signed', () => {
    const { objects, stack } = renderEnv('prod');
    const registry = stack.cluster.registry!;
    const images = objects.flatMap((o) => {
      const pod = json(o).spec?.template?.spec ?? json(o).spec?.jobTemplate?.spec?.template?.spec;
      return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])].map((c: J) => c.image as string);
    });
    expect(images.length).toBeGreaterThan(10);
    for (const i of images) expect(i.startsWith(`${registry}/`) || !isUpstream(i), i).toBe(true);
    expect(images.some((i) => i.startsWith(`${registry}/docker.io/library/redis:`))).toBe(true);
    expect(images.some((i) => i.startsWith('ghcr.io/acme/'))).toBe(true);
  });

  it('without the mirror, the enforcing policy demands the release key on docker.io/library/redis: config error, and the policy refuses the bundle', () => {
    const r = raw('prod');
    delete r.cluster.registry;
    expect(errors(r, 'prod')).toContain(
      "stacks/Pulumi.prod.yaml: config.stackbook:cluster.registry: required when cosign admission enforces (production): upstream images (docker.io/library/redis, quay.io/strimzi/kafka, ...) cannot carry your release key's signature; mirror them into a registry you control and sign the copies",
    );
    // the bundle such a stack would give (rules bypassed): the policy names the images nobody can sign
    const stack = structuredClone(renderEnv('prod').stack) as J;
    delete stack.cluster.registry;
    const vs = rulesOf(render(stack as Stack).objects, 'image-policy-satisfiable');
    expect(vs.length).toBeGreaterThan(0);
    expect(vs.some((v) => /docker\.io\/library\/redis:.* is on a public upstream path and ClusterImagePolicy stackbook-prod \(enforce\) accepts only the stack's own key/.test(v.message))).toBe(true);
    expect(blocking(vs)).toEqual(vs);
  });

  it('an enforcing stack must pin the images operators inject; a policy without them is refused', () => {
    const r = raw('prod');
    delete r.cluster.signing.operatorImages;
    expect(errors(r, 'prod')).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing.operatorImages.cloudnative-pg.digest: required where cosign admission enforces: the operator injects ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0 into this stack\'s pods; pin the copy it runs',
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.signing.operatorImages.strimzi-operator.digest: required where cosign admission enforces: the operator injects quay.io/strimzi/operator:1.2.0 into this stack\'s pods; pin the copy it runs',
    ]);
    const objects = structuredClone(renderEnv('airgap').objects) as J[];
    delete objects.find((o) => o.kind === 'ClusterImagePolicy')!.metadata.annotations['stackbook.io/operator-images'];
    const vs = rulesOf(objects as Manifest[], 'image-policy-satisfiable').map((v) => `${v.object}: ${v.message}`);
    expect(vs).toEqual([
      expect.stringMatching(/^Cluster aion\/aion-pg: the operator injects ghcr\.io\/cloudnative-pg\/cloudnative-pg into pods of namespace aion/),
      expect.stringMatching(/^Kafka aion\/aion: the operator injects quay\.io\/strimzi\/operator into pods/),
    ]);
  });

  it('dev (warn): the HTTP-01 solver image cert-manager injects matches a glob (no-match-policy would deny it even in warn)', () => {
    const objects = structuredClone(renderEnv('dev').objects) as J[];
    const cip = objects.find((o) => o.kind === 'ClusterImagePolicy')!;
    cip.spec.images = cip.spec.images.filter((g: J) => !g.glob.includes('acmesolver'));
    const vs = rulesOf(objects as Manifest[], 'image-policy-satisfiable');
    expect(vs.map((v) => v.message)).toEqual([expect.stringMatching(/^operator-injected image \(cert-manager-acmesolver\) quay\.io\/jetstack\/cert-manager-acmesolver:v1\.21\.1 matches no ClusterImagePolicy glob/)]);
  });
});

describe('item 2: the ALB serves ACM certificates', () => {
  it('prod: no Certificate or ClusterIssuer; each Ingress names the ACM certificate, joins the stack group, health-checks the readiness path; namespaces are readiness-gated', () => {
    const { objects, stack } = renderEnv('prod');
    expect(objects.filter((o) => o.kind === 'Certificate' || o.kind === 'ClusterIssuer')).toEqual([]);
    const arn = (stack.cluster.issuer as { certificateArns: string[] }).certificateArns.join(',');
    const ingresses = objects.filter((o) => o.kind === 'Ingress').map(json);
    expect(ingresses).toHaveLength(5);
    for (const i of ingresses) {
      const a = i.metadata.annotations;
      expect(a['alb.ingress.kubernetes.io/certificate-arn']).toBe(arn);
      expect(a['alb.ingress.kubernetes.io/group.name']).toBe('stackbook-prod');
      expect(i.spec.tls.every((t: J) => t.secretName === undefined)).toBe(true);
    }
    // one value of the Exclusive idle timeout across the group: the longest any member asked for
    expect(new Set(ingresses.map((i) => i.metadata.annotations['alb.ingress.kubernetes.io/load-balancer-attributes'])).size).toBe(1);
    for (const n of objects.filter((o) => o.kind === 'Namespace')) expect(n.metadata.labels?.['elbv2.k8s.aws/pod-readiness-gate-inject']).toBe('enabled');
    expect(rulesOf(objects, 'alb-ingress')).toEqual([]);
  });

  it('an ACME or CA issuer on an ALB stack is refused; production names its ACM certificate', () => {
    const acme = raw('prod');
    acme.cluster.issuer = { kind: 'acme', email: 'platform@example.com' };
    expect(errors(acme, 'prod')).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.issuer.kind: is acme, but the ALB serves only ACM certificates (never a cert-manager Secret; an HTTP-01 solver Ingress gets its own ALB): use kind: acm with certificateArns (got "acme")',
    ]);
    const noArn = raw('prod');
    delete noArn.cluster.issuer.certificateArns;
    expect(errors(noArn, 'prod')).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.issuer.certificateArns: required in production: the ACM certificate(s) for *.stackbook.example.com the ALB serves (arn:aws:acm:<region>:<account>:certificate/<id>)',
    ]);
    const nginx = raw('staging');
    nginx.cluster.issuer = { kind: 'acm' };
    expect(errors(nginx, 'staging')).toEqual([
      'stacks/Pulumi.staging.yaml: config.stackbook:cluster.issuer.kind: acm certificates are served only by an ALB (ingressClass alb); ingressClass nginx needs kind acme or ca (got "acm")',
    ]);
  });

  it('the policy refuses what the old bundle had: a TLS Secret and Certificate on an ALB, an HTTP-01 solver of class alb, no group, "/" health checks, no readiness gate', () => {
    const objects = structuredClone(renderEnv('prod').objects) as J[];
    const ing = objects.find((o) => o.kind === 'Ingress' && o.metadata.namespace === 'ope')!;
    ing.spec.tls[0].secretName = 'ope-tls';
    delete ing.metadata.annotations['alb.ingress.kubernetes.io/group.name'];
    delete ing.metadata.annotations['alb.ingress.kubernetes.io/healthcheck-path'];
    delete objects.find((o) => o.kind === 'Namespace' && o.metadata.name === 'ope')!.metadata.labels['elbv2.k8s.aws/pod-readiness-gate-inject'];
    objects.push(
      { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'ope', namespace: 'ope' }, spec: { secretName: 'ope-tls', dnsNames: [ing.spec.rules[0].host], issuerRef: { kind: 'ClusterIssuer', name: 'le' } } },
      { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'le' }, spec: { acme: { solvers: [{ http01: { ingress: { ingressClassName: 'alb' } } }] } } },
    );
    const msgs = rulesOf(objects as Manifest[], 'alb-ingress').map((v) => `${v.object}: ${v.message}`);
    expect(msgs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ClusterIssuer le: solves HTTP-01 through class alb/),
        expect.stringMatching(/^Ingress ope\/ope: tls names Secret ope-tls, which the ALB never serves/),
        expect.stringMatching(/^Ingress ope\/ope: Certificate ope is issued for host/),
        expect.stringMatching(/^Ingress ope\/ope: has no IngressGroup/),
        expect.stringMatching(/^Ingress ope\/ope: the ALB health-checks \/ \(the default\) but the pods behind ope are ready on \//),
        expect.stringMatching(/^Ingress ope\/ope: namespace ope lacks elbv2\.k8s\.aws\/pod-readiness-gate-inject/),
      ]),
    );
  });

  it('TlsIngress on an ALB: health check from the readiness probe of the container behind the Service port, the group idle timeout is its longest', () => {
    const app = new App();
    app.node.setContext(ALB_CONTEXT, { groupName: 'stackbook-t', certificateArns: ['arn:aws:acm:eu-west-1:123456789012:certificate/abc-123'] });
    const chart = new Chart(app, 't', { disableResourceNameHashes: true });
    const labels = { 'app.kubernetes.io/name': 'web' };
    new ApiObject(chart, 'svc', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'apps' }, spec: { selector: labels, ports: [{ port: 80, targetPort: 'http' }] } });
    new ApiObject(chart, 'dep', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'apps' },
      spec: { template: { metadata: { labels }, spec: { containers: [
        { name: 'sidecar', ports: [{ name: 'metrics', containerPort: 9090 }], readinessProbe: { httpGet: { path: '/healthz', port: 9090 } } },
        { name: 'web', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/ready', port: 'http' } } },
      ] } } },
    });
    const base = { namespace: 'apps', serviceName: 'web', servicePort: 80, ingressClass: 'alb' as const, exposure: 'public' as const, clusterIssuer: 'unused' };
    new TlsIngress(chart, 'a', { ...base, name: 'a', host: 'a.example.com', timeoutSeconds: 60 });
    new TlsIngress(chart, 'b', { ...base, name: 'b', host: 'b.example.com', timeoutSeconds: 3600 });
    const out = chart.toJson() as J[];
    const ings = out.filter((o) => o.kind === 'Ingress');
    expect(out.filter((o) => o.kind === 'Certificate')).toEqual([]);
    for (const i of ings) {
      expect(i.metadata.annotations['alb.ingress.kubernetes.io/healthcheck-path']).toBe('/ready');
      expect(i.metadata.annotations['alb.ingress.kubernetes.io/load-balancer-attributes']).toBe('idle_timeout.timeout_seconds=3600');
      expect(i.metadata.annotations['alb.ingress.kubernetes.io/certificate-arn']).toBe('arn:aws:acm:eu-west-1:123456789012:certificate/abc-123');
      expect(i.metadata.annotations['alb.ingress.kubernetes.io/group.name']).toBe('stackbook-t');
    }
    // nothing serves the port: the component refuses to leave the ALB on "/"
    expect(() => new TlsIngress(new Chart(new App(), 'x'), 'c', { ...base, name: 'c', host: 'c.example.com' })).toThrow(/healthCheckPath is required with an ALB/);
  });
});

describe('item 3: default deny admits the ingress controller to the ACME HTTP-01 solver', () => {
  it.each(['dev', 'staging'])('%s: every namespace with an ACME Certificate admits ingress-nginx to acme.cert-manager.io/http01-solver pods on 8089, nothing else', (env) => {
    const { objects, stack } = renderEnv(env);
    const namespaces = [...new Set(objects.filter((o) => o.kind === 'Certificate').map((o) => o.metadata.namespace))].sort();
    expect(namespaces.length).toBeGreaterThan(0);
    for (const ns of namespaces) {
      const np = json(objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'allow-acme-http01-solver' && o.metadata.namespace === ns)!);
      expect(np.spec).toEqual({
        podSelector: { matchLabels: { 'acme.cert-manager.io/http01-solver': 'true' } },
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': stack.cluster.ingressNamespace } } }], ports: [{ port: 8089, protocol: 'TCP' }] }],
      });
    }
    expect(rulesOf(objects, 'acme-http01-reachable')).toEqual([]);
  });

  it('without the allowance the policy names every Certificate that would never issue', () => {
    const objects = (structuredClone(renderEnv('staging').objects) as J[]).filter((o) => o.metadata.name !== 'allow-acme-http01-solver');
    const vs = rulesOf(objects as Manifest[], 'acme-http01-reachable');
    expect(vs.map((v) => v.object).sort()).toEqual(['Certificate aion/aion-gateway', 'Certificate ope/ope', 'Certificate osc/osc', 'Certificate oub/oubliette', 'Certificate ows/ows']);
    expect(vs[0]!.fix).toMatch(/acme\.cert-manager\.io\/http01-solver: "true" that admits the ingress controller on TCP 8089/);
  });
});

describe('item 6: a private Vault host needs its CA', () => {
  it('airgap: the ClusterSecretStore names the CA (caProvider); without cluster.vault.ca the stack is refused', () => {
    const store = json(renderEnv('airgap').objects.find((o) => o.kind === 'ClusterSecretStore')!);
    expect(store.spec.provider.vault.caProvider).toEqual({ type: 'ConfigMap', name: 'corp-ca-bundle', namespace: 'external-secrets', key: 'ca.crt' });
    const r = raw('airgap');
    delete r.cluster.vault.ca;
    expect(errors(r, 'airgap')).toEqual([
      'stacks/Pulumi.airgap.yaml: config.stackbook:cluster.vault.ca: required: Vault at https://vault.corp.internal:8200 is a private host in an air-gapped cluster, whose certificate no public CA signs; without the CA no ExternalSecret syncs ({kind: ConfigMap|Secret, name, namespace, key})',
    ]);
    // a public Vault host keeps the controller's trust store
    expect(() => parse(raw('prod'), 'prod')).not.toThrow();
    const priv = raw('prod');
    priv.cluster.vault.server = 'https://10.40.3.7:8200';
    expect(errors(priv, 'prod')[0]).toMatch(/cluster\.vault\.ca: required: Vault at https:\/\/10\.40\.3\.7:8200 is a private host,/);
  });

  it('PREREQUISITES names the CA bundle to provide', () => {
    expect(operatorSupplied(renderEnv('airgap')).join('\n')).toContain("The CA bundle that signs Vault's certificate (https://vault.corp.internal:8200): ConfigMap `external-secrets/corp-ca-bundle`, key `ca.crt`");
  });
});

describe('item 13: the ALB subnets, never the VPC', () => {
  it('prod: every ingress ipBlock is one of the declared ALB subnets', () => {
    const { objects, stack } = renderEnv('prod');
    const blocks = new Set(objects.filter((o) => o.kind === 'NetworkPolicy').flatMap((o) => (json(o).spec.ingress ?? []).flatMap((r: J) => (r.from ?? []).map((p: J) => p.ipBlock?.cidr)).filter(Boolean)));
    expect([...blocks].sort()).toEqual([...stack.cluster.loadBalancerCidrs!].sort());
    expect(rulesOf(objects, 'ingress-from-load-balancer')).toEqual([]);
  });

  it('the VPC range (what prod had) is refused, as is any block wider than /20', () => {
    const vpc = raw('prod');
    vpc.cluster.loadBalancerCidrs = ['10.40.0.0/16'];
    expect(errors(vpc, 'prod')).toEqual([
      'stacks/Pulumi.prod.yaml: config.stackbook:cluster.loadBalancerCidrs[0]: 10.40.0.0/16 holds the API server endpoint 10.40.0.16/28: it is the VPC, not the ALB subnets (every pod and host in it would bypass the ALB); list the ALB\'s subnets (got "10.40.0.0/16")',
    ]);
    const wide = raw('prod');
    wide.cluster.loadBalancerCidrs = ['10.50.0.0/16'];
    expect(errors(wide, 'prod')[0]).toMatch(/loadBalancerCidrs\[0\]: 10\.50\.0\.0\/16 is wider than \/20/);
  });
});

describe('item 15: an intermediate CA, not the corporate root', () => {
  it('airgap signs with an intermediate CA Secret, PREREQUISITES says why, and the policy refuses a root CA key', () => {
    const { objects } = renderEnv('airgap');
    const issuer = json(objects.find((o) => o.kind === 'ClusterIssuer')!);
    expect(issuer.spec.ca.secretName).toBe('stackbook-intermediate-ca');
    expect(operatorSupplied(renderEnv('airgap')).join('\n')).toMatch(/An intermediate CA issued for this cluster in Secret `cert-manager\/stackbook-intermediate-ca`.*never the corporate root/);
    const root = structuredClone(objects) as J[];
    root.find((o) => o.kind === 'ClusterIssuer')!.spec.ca.secretName = 'corp-root-ca';
    expect(rulesOf(root as Manifest[], 'ca-issuer-intermediate').map((v) => v.message)).toEqual([
      'signs with Secret corp-root-ca, a root CA key: in a cluster Secret it can sign for any name the root is trusted for',
    ]);
  });
});

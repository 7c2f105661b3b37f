/**
 * the semantic diff (`review/diff.ts`) without git: identity, field paths, each
 * normalisation, each risk flag (raised, and not raised when it should not be), and the three
 * output formats including markdown truncation.
 */
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  assessRisks,
  buildReport,
  DEFAULTS,
  diffFields,
  diffObjects,
  durationMs,
  formatMarkdown,
  formatText,
  JSON_SCHEMA_ID,
  MARKDOWN_MARKER,
  MARKDOWN_MAX_CHARS,
  MARKDOWN_MAX_ROWS,
  parseBundle,
  quantityValue,
  RISK_IDS,
  toJson,
  type Obj,
  type RiskId,
} from '../review/diff.js';
import { bundleFiles } from '../bundle/bundle.js';
import { renderEnv } from './helpers.js';

type J = Record<string, any>;

function deployment(): J {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: 'shop', annotations: { 'stackbook.io/concerns': 'X-1' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'api' } },
      template: {
        metadata: { labels: { app: 'api' } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'api',
              image: 'ghcr.io/acme/api:1.0.0@sha256:aaaa',
              imagePullPolicy: 'IfNotPresent',
              args: ['--port', '8000'],
              env: [
                { name: 'MODE', value: 'fast' },
                { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
              ],
              envFrom: [{ configMapRef: { name: 'api-settings' } }],
              ports: [{ name: 'http', containerPort: 8000, protocol: 'TCP' }],
              resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m', memory: '512Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                privileged: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              livenessProbe: { httpGet: { path: '/healthz', port: 8000, scheme: 'HTTP' }, periodSeconds: 20, failureThreshold: 3 },
            },
            {
              name: 'sidecar',
              image: 'ghcr.io/acme/sidecar:2.0.0@sha256:bbbb',
              resources: { limits: { cpu: '100m', memory: '64Mi' }, requests: { cpu: '50m', memory: '32Mi' } },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
            },
          ],
          volumes: [{ name: 'tls', secret: { secretName: 'api-tls' } }, { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
        },
      },
    },
  };
}

const hpa = (min: number | undefined, target = 'api'): J => ({
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: target, namespace: 'shop' },
  spec: { ...(min === undefined ? {} : { minReplicas: min }), maxReplicas: 10, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target } },
});

const pdb = (spec: J): J => ({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'api', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'api' } }, ...spec } });

function netpol(name = 'api'): J {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'shop' },
    spec: {
      podSelector: { matchLabels: { app: 'api' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress' } } }], ports: [{ port: 8000, protocol: 'TCP' }] },
        { from: [{ ipBlock: { cidr: '10.40.0.0/16' } }], ports: [{ port: 8000, protocol: 'TCP' }] },
      ],
      egress: [{ to: [{ ipBlock: { cidr: '198.51.100.20/32' } }], ports: [{ port: 443, protocol: 'TCP' }] }],
    },
  };
}

function alerts(): J {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'api', namespace: 'shop' },
    spec: {
      groups: [
        {
          name: 'api',
          rules: [
            { alert: 'ApiErrors', expr: 'sum(rate(errors_total[5m])) > 0.05', for: '5m', labels: { severity: 'critical' }, annotations: { summary: 'errors' } },
            { alert: 'ApiSlow', expr: 'p95 > 0.5', for: '10m', labels: { severity: 'warning' }, annotations: { summary: 'slow' } },
            { record: 'api:rate5m', expr: 'sum(rate(requests_total[5m]))' },
          ],
        },
      ],
    },
  };
}

const namespace = (): J => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'shop', labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/audit': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' } },
});

const o = (x: J) => x as Obj;
/** Base and head copies of the same fixtures; the head is edited by the test. */
function pair(...fixtures: J[]): { base: Obj[]; head: J[] } {
  return { base: fixtures.map((f) => o(structuredClone(f))), head: fixtures.map((f) => structuredClone(f)) };
}
const ids = (base: readonly Obj[], head: readonly J[]): RiskId[] => assessRisks('prod', base, head.map(o)).map((r) => r.id);
const fields = (a: J, b: J) => diffFields(o(a), o(b)).map((c) => ({ ...c }));
const container = (d: J, i = 0): J => d.spec.template.spec.containers[i];

describe('identity', () => {
  it('objects are matched by API group, kind, namespace and name; the version is a field', () => {
    const a = hpa(2);
    const b = { ...hpa(2), apiVersion: 'autoscaling/v1' };
    const d = diffObjects([o(a)], [o(b)]);
    expect(d.map((x) => [x.op, x.id])).toEqual([['changed', 'HorizontalPodAutoscaler shop/api']]);
    expect(d[0]!.changes).toEqual([{ path: 'apiVersion', op: 'changed', old: 'autoscaling/v2', new: 'autoscaling/v1' }]);
    // another group is another object
    const other = { ...hpa(2), apiVersion: 'example.com/v1' };
    expect(diffObjects([o(a)], [o(other)]).map((x) => x.op).sort()).toEqual(['added', 'removed']);
  });

  it('added, removed and changed objects, sorted by kind, namespace, name; unchanged ones left out', () => {
    const d = diffObjects([o(hpa(2)), o(netpol('old')), o(namespace())], [o(hpa(3)), o(netpol('new')), o(namespace())]);
    expect(d.map((x) => `${x.op} ${x.id}`)).toEqual(['changed HorizontalPodAutoscaler shop/api', 'added NetworkPolicy shop/new', 'removed NetworkPolicy shop/old']);
    expect(d.find((x) => x.op === 'added')!.object!.metadata.name).toBe('new');
  });

  it('identical real stacks give no changes at all', () => {
    const objs = parseBundle(bundleFiles(renderEnv('prod')));
    expect(objs.length).toBeGreaterThan(5);
    expect(diffObjects(objs, structuredClone(objs))).toEqual([]);
  });
});

describe('field paths and values', () => {
  it('lists Kubernetes merges by name are matched by name: [name=api]', () => {
    const a = deployment();
    const b = deployment();
    container(b).resources.limits.memory = '2Gi';
    container(b).env[0].value = 'slow';
    expect(fields(a, b)).toEqual([
      { path: 'spec.template.spec.containers[name=api].env[name=MODE].value', op: 'changed', old: 'fast', new: 'slow' },
      { path: 'spec.template.spec.containers[name=api].resources.limits.memory', op: 'changed', old: '1Gi', new: '2Gi' },
    ]);
  });

  it('reordering containers, env, volumes is not a change; a list without keys is compared by index', () => {
    const a = deployment();
    const b = deployment();
    b.spec.template.spec.containers.reverse();
    container(b, 1).env.reverse();
    b.spec.template.spec.volumes.reverse();
    expect(fields(a, b)).toEqual([]);
    container(b, 1).args = ['--port', '9000'];
    expect(fields(a, b)).toEqual([{ path: 'spec.template.spec.containers[name=api].args[1]', op: 'changed', old: '8000', new: '9000' }]);
  });

  it('lists by identity, not index: one glob removed from a ClusterImagePolicy is one line; a NetworkPolicy CIDR change is that peer', () => {
    const cip = (globs: string[]): J => ({ apiVersion: 'policy.sigstore.dev/v1beta1', kind: 'ClusterImagePolicy', metadata: { name: 'p' }, spec: { images: globs.map((glob) => ({ glob })), authorities: [{ name: 'release', key: { data: 'k' } }] } });
    const globs = Array.from({ length: 15 }, (_, i) => `registry.example.com/img-${String(i).padStart(2, '0')}*`);
    expect(fields(cip(globs), cip(globs.filter((_, i) => i !== 3)))).toEqual([{ path: 'spec.images[glob=registry.example.com/img-03*]', op: 'removed', old: { glob: globs[3] } }]);
    const hosts = (h: string[]): J => ({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c', namespace: 'shop' }, spec: { dnsNames: h } });
    expect(fields(hosts(['a.example.com', 'b.example.com', 'c.example.com']), hosts(['a.example.com', 'c.example.com']))).toEqual([{ path: 'spec.dnsNames[]', op: 'removed', old: 'b.example.com' }]);
    const np = (cidr: string): J => ({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'api', namespace: 'shop' },
      spec: { podSelector: {}, ingress: [
        { from: [{ ipBlock: { cidr } }, { namespaceSelector: { matchLabels: { a: 'b' } } }], ports: [{ port: 8000, protocol: 'TCP' }] },
        { from: [{ namespaceSelector: { matchLabels: { m: 'n' } } }], ports: [{ port: 9090, protocol: 'TCP' }] },
      ] },
    });
    expect(fields(np('10.40.0.0/16'), np('10.40.1.0/24'))).toEqual([
      { path: 'spec.ingress[ports=8000/TCP].from[]', op: 'removed', old: { ipBlock: { cidr: '10.40.0.0/16' } } },
      { path: 'spec.ingress[ports=8000/TCP].from[]', op: 'added', new: { ipBlock: { cidr: '10.40.1.0/24' } } },
    ]);
  });

  it('keys that are not identifiers are quoted; added and removed fields carry their value', () => {
    const a = deployment();
    const b = deployment();
    b.metadata.annotations['example.com/owner'] = 'team-a';
    delete b.metadata.annotations['stackbook.io/concerns'];
    expect(fields(a, b)).toEqual([
      { path: 'metadata.annotations["example.com/owner"]', op: 'added', new: 'team-a' },
      { path: 'metadata.annotations["stackbook.io/concerns"]', op: 'removed', old: 'X-1' },
    ]);
  });
});

describe('normalisation: equal things never show as changed', () => {
  it('quantities by value: 1Gi = 1024Mi, 0.5 = 500m, 2 = "2", 1e3 = 1k; 1G ≠ 1Gi', () => {
    expect(quantityValue('1Gi')).toBe(quantityValue('1024Mi'));
    expect(quantityValue('0.5')).toBe(quantityValue('500m'));
    expect(quantityValue(2)).toBe(quantityValue('2'));
    expect(quantityValue('1e3')).toBe(quantityValue('1k'));
    expect(quantityValue('1G')).not.toBe(quantityValue('1Gi'));
    expect(quantityValue('lots')).toBeUndefined();
    const a = deployment();
    const b = deployment();
    Object.assign(container(b).resources, { limits: { cpu: 1, memory: '1024Mi' }, requests: { cpu: '0.5', memory: '524288Ki' } });
    b.spec.template.spec.volumes[1].emptyDir.sizeLimit = '268435456';
    expect(fields(a, b)).toEqual([]);
    container(b).resources.limits.memory = '1G';
    expect(fields(a, b)).toEqual([{ path: 'spec.template.spec.containers[name=api].resources.limits.memory', op: 'changed', old: '1Gi', new: '1G' }]);
  });

  it('only where Kubernetes reads a quantity: an env value "1k" vs "1000" is a change', () => {
    const a = deployment();
    const b = deployment();
    container(a).env[0].value = '1k';
    container(b).env[0].value = '1000';
    expect(fields(a, b)).toHaveLength(1);
  });

  it('durations by length: for 5m = 300s = 0h5m0s; 5m ≠ 6m', () => {
    expect(durationMs('5m')).toBe(300_000);
    expect(durationMs('1h30m')).toBe(5_400_000);
    expect(durationMs('0h5m0s')).toBe(300_000);
    expect(durationMs('soon')).toBeUndefined();
    const a = alerts();
    const b = alerts();
    b.spec.groups[0].rules[0].for = '300s';
    expect(fields(a, b)).toEqual([]);
    b.spec.groups[0].rules[0].for = '6m';
    expect(fields(a, b)).toEqual([{ path: 'spec.groups[name=api].rules[alert=ApiErrors].for', op: 'changed', old: '5m', new: '6m' }]);
  });

  it('an absent field equals its documented API default, and shows the default when it differs', () => {
    expect(DEFAULTS).toEqual(expect.arrayContaining([{ kind: 'pod', path: 'terminationGracePeriodSeconds', value: '30' }, { kind: 'HorizontalPodAutoscaler', path: 'spec.minReplicas', value: '1' }]));
    const a = deployment();
    const b = deployment();
    b.spec.template.spec.terminationGracePeriodSeconds = 30;
    container(b).terminationMessagePolicy = 'File';
    delete container(a).livenessProbe.failureThreshold; // 3 is the default
    container(a).livenessProbe.timeoutSeconds = 1;
    delete container(b).ports[0].protocol;
    b.spec.template.spec.containers[1].imagePullPolicy = 'IfNotPresent'; // tagged image: the default
    expect(fields(a, b)).toEqual([]);
    b.spec.template.spec.terminationGracePeriodSeconds = 60;
    expect(fields(a, b)).toEqual([{ path: 'spec.template.spec.terminationGracePeriodSeconds', op: 'changed', old: 30, new: 60, defaulted: 'old' }]);
    expect(formatText(buildReport({ ref: 'HEAD' }, 'working tree', new Map([['prod', [o(a)]]]), new Map([['prod', [o(b)]]])))).toContain(
      'spec.template.spec.terminationGracePeriodSeconds: 30 (default) → 60',
    );
  });

  it('conditional defaults: imagePullPolicy is Always for :latest, a Service targetPort defaults to its port', () => {
    const a = deployment();
    const b = deployment();
    container(a).image = container(b).image = 'nginx:latest';
    delete container(a).imagePullPolicy;
    container(b).imagePullPolicy = 'Always';
    expect(fields(a, b)).toEqual([]);
    container(b).imagePullPolicy = 'IfNotPresent';
    expect(fields(a, b)).toEqual([{ path: 'spec.template.spec.containers[name=api].imagePullPolicy', op: 'changed', old: 'Always', new: 'IfNotPresent', defaulted: 'old' }]);
    const svc = (port: J): J => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { ports: [{ name: 'http', ...port }] } });
    expect(fields(svc({ port: 80 }), svc({ port: 80, targetPort: 80, protocol: 'TCP' }))).toEqual([]);
    expect(fields(svc({ port: 80 }), svc({ port: 80, targetPort: 8080 }))).toHaveLength(1);
  });

  it('empty lists and maps equal absent ones', () => {
    const a = deployment();
    const b = deployment();
    b.metadata.labels = {};
    container(b).command = [];
    delete a.spec.template.spec.containers[1].securityContext.readOnlyRootFilesystem;
    delete b.spec.template.spec.containers[1].securityContext.readOnlyRootFilesystem;
    expect(fields(a, b)).toEqual([]);
  });

  it('sets ignore order: capabilities, policyTypes, NetworkPolicy rules and peers; a member added shows as [] +', () => {
    const a = netpol();
    const b = netpol();
    b.spec.ingress.reverse();
    b.spec.policyTypes.reverse();
    delete b.spec.egress[0].ports[0].protocol; // TCP is the default
    expect(fields(a, b)).toEqual([]);
    a.spec.policyTypes = ['Ingress'];
    expect(fields(a, b)).toEqual([{ path: 'spec.policyTypes[]', op: 'added', new: 'Egress' }]);
    const d1 = deployment();
    const d2 = deployment();
    container(d1).securityContext.capabilities.drop = ['ALL', 'NET_RAW'];
    container(d2).securityContext.capabilities.drop = ['NET_RAW', 'ALL'];
    expect(fields(d1, d2)).toEqual([]);
  });

  it('an ordered list stays ordered: args reversed is a change', () => {
    const a = deployment();
    const b = deployment();
    container(b).args.reverse();
    expect(fields(a, b)).toHaveLength(2);
  });
});

describe('risk flags', () => {
  it('ids are stable and documented in this order', () => {
    expect(RISK_IDS).toEqual([
      'data-loss', 'replace-required', 'deleted',
      'security-relaxed', 'policy-exception-added', 'networkpolicy-widened', 'pdb-lowered', 'hpa-min-lowered',
      'replicas-dropped', 'image-changed', 'secret-ref-changed', 'alert-removed', 'alert-loosened', 'pods-restart',
    ]);
  });

  it('a change that is not risky raises none but the restart it causes', () => {
    const { base, head } = pair(namespace(), deployment(), hpa(2), pdb({ maxUnavailable: 1 }), netpol(), alerts());
    container(head[1]!).resources.limits.memory = '2Gi';
    head[1]!.metadata.annotations['stackbook.io/concerns'] = 'X-1,X-2';
    head[2]!.spec.maxReplicas = 20;
    head[5]!.spec.groups[0].rules[0].annotations.summary = 'more errors';
    // a new memory limit is a pod-template change: the pods roll, and the reviewer is told why
    expect(assessRisks('prod', base, head.map(o)).map((r) => `${r.id}: ${r.message}`)).toEqual([
      'pods-restart: every pod restarts (rolling): spec.containers[name=api].resources.limits.memory',
    ]);
    head[1]!.spec.template = structuredClone(deployment().spec.template);
    expect(ids(base, head)).toEqual([]);
    expect(ids(base, structuredClone(base))).toEqual([]);
  });

  describe('security-relaxed', () => {
    const cases: Array<[string, (d: J) => void, string]> = [
      ['writable root filesystem', (d) => (container(d).securityContext.readOnlyRootFilesystem = false), 'containers[name=api].securityContext.readOnlyRootFilesystem'],
      ['privilege escalation allowed (field removed)', (d) => delete container(d).securityContext.allowPrivilegeEscalation, 'containers[name=api].securityContext.allowPrivilegeEscalation'],
      ['privileged', (d) => (container(d).securityContext.privileged = true), 'containers[name=api].securityContext.privileged'],
      ['runAsNonRoot dropped on pod and container', (d) => {
        delete container(d).securityContext.runAsNonRoot;
        delete d.spec.template.spec.securityContext.runAsNonRoot;
      }, 'containers[name=api].securityContext.runAsNonRoot'],
      ['seccomp Unconfined', (d) => (container(d).securityContext.seccompProfile.type = 'Unconfined'), 'containers[name=api].securityContext.seccompProfile'],
      ['capability added', (d) => (container(d).securityContext.capabilities.add = ['NET_ADMIN']), 'containers[name=api].securityContext.capabilities.add[NET_ADMIN]'],
      ['capabilities no longer dropped', (d) => (container(d).securityContext.capabilities.drop = ['NET_RAW']), 'containers[name=api].securityContext.capabilities.drop'],
      ['hostNetwork', (d) => (d.spec.template.spec.hostNetwork = true), 'spec.template.spec.hostNetwork'],
      ['hostPath volume', (d) => d.spec.template.spec.volumes.push({ name: 'docker', hostPath: { path: '/var/run/docker.sock' } }), 'volumes[name=docker].hostPath'],
      ['token automount', (d) => (d.spec.template.spec.automountServiceAccountToken = true), 'spec.template.spec.automountServiceAccountToken'],
      ['runs as root', (d) => (d.spec.template.spec.securityContext.runAsUser = 0), 'containers[name=api].securityContext.runAsUser'],
    ];
    for (const [what, edit, path] of cases) {
      it(`raised: ${what}`, () => {
        const { base, head } = pair(deployment());
        edit(head[0]!);
        const risks = assessRisks('prod', base, head.map(o)).filter((r) => r.id === 'security-relaxed');
        expect(risks.length).toBeGreaterThan(0);
        expect(risks.map((r) => r.path).join('\n')).toContain(path);
      });
    }

    it('raised: a new workload that is not restricted, a Namespace leaving restricted, a ServiceAccount automounting', () => {
      const loose = deployment();
      loose.metadata.name = 'loose';
      container(loose).securityContext = {};
      const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop' }, automountServiceAccountToken: false };
      const { base, head } = pair(namespace(), sa);
      head[0]!.metadata.labels['pod-security.kubernetes.io/enforce'] = 'baseline';
      head[1]!.automountServiceAccountToken = true;
      const risks = assessRisks('prod', base, [...head, loose].map(o)).filter((r) => r.id === 'security-relaxed');
      expect(risks.map((r) => r.object)).toEqual(expect.arrayContaining(['Deployment shop/loose', 'Namespace shop', 'ServiceAccount shop/api']));
    });

    it('not raised: tightening, a new restricted workload, or a relaxation the base already had', () => {
      const { base, head } = pair(deployment());
      container(head[0]!).securityContext.runAsUser = 20000;
      const fresh = deployment();
      fresh.metadata.name = 'fresh';
      expect(ids(base, [...head, fresh])).not.toContain('security-relaxed');
      const already = deployment();
      container(already).securityContext.readOnlyRootFilesystem = false;
      const still = structuredClone(already);
      container(still).resources.limits.memory = '2Gi';
      expect(ids([o(already)], [still])).not.toContain('security-relaxed');
    });
  });

  it('policy-exception-added: a new exception annotation; not a changed reason', () => {
    const { base, head } = pair(deployment());
    head[0]!.metadata.annotations['exception.stackbook.io/resources'] = 'batch job sized by the operator';
    const risks = assessRisks('prod', base, head.map(o));
    expect(risks).toEqual([
      { id: 'policy-exception-added', env: 'prod', object: 'Deployment shop/api', path: 'metadata.annotations["exception.stackbook.io/resources"]', message: 'resources: batch job sized by the operator' },
    ]);
    const later = structuredClone(head[0]!);
    later.metadata.annotations['exception.stackbook.io/resources'] = 'reason reworded by a reviewer';
    expect(ids([o(head[0]!)], [later])).toEqual([]);
  });

  describe('networkpolicy-widened', () => {
    const widen: Array<[string, (p: J) => void, RegExp]> = [
      ['a port added', (p) => p.spec.ingress[0].ports.push({ port: 9090, protocol: 'TCP' }), /ingress from namespaces kubernetes.io\/metadata.name=ingress .* on TCP\/9090/],
      ['a peer added', (p) => p.spec.egress[0].to.push({ ipBlock: { cidr: '203.0.113.0/24' } }), /egress to ipBlock 203.0.113.0\/24 on TCP\/443/],
      ['a CIDR widened', (p) => (p.spec.ingress[1].from[0].ipBlock.cidr = '10.0.0.0/8'), /ipBlock 10.0.0.0\/8/],
      ['a selector broadened', (p) => (p.spec.ingress[0].from[0].namespaceSelector = {}), /namespaces all/],
      ['ports opened up (ports removed)', (p) => delete p.spec.egress[0].ports, /on any port/],
      ['peers opened up (from removed)', (p) => delete p.spec.ingress[1].from, /ingress from anywhere/],
      ['an isolation removed', (p) => (p.spec.policyTypes = ['Ingress']), /no longer isolates Egress/],
      ['the podSelector changed', (p) => (p.spec.podSelector = {}), /podSelector changed/],
    ];
    for (const [what, edit, message] of widen) {
      it(`raised: ${what}`, () => {
        const { base, head } = pair(netpol());
        edit(head[0]!);
        const risks = assessRisks('prod', base, head.map(o)).filter((r) => r.id === 'networkpolicy-widened');
        expect(risks.map((r) => r.message).join('\n')).toMatch(message);
      });
    }

    it('raised: a policy removed, or a new policy that allows traffic', () => {
      expect(ids([o(netpol())], [])).toEqual(['deleted', 'networkpolicy-widened']);
      expect(ids([], [netpol()])).toContain('networkpolicy-widened');
    });

    it('not raised: reordering, narrowing, removing a peer or port, a new deny-only policy, a rule moved to a renamed policy', () => {
      const { base, head } = pair(netpol());
      head[0]!.spec.ingress.reverse();
      head[0]!.spec.ingress[0].from[0].ipBlock.cidr = '10.40.1.0/24';
      head[0]!.spec.egress[0].ports[0] = { port: 443 };
      head[0]!.spec.ingress[1].ports = [{ port: 8000, protocol: 'TCP' }];
      head[0]!.spec.ingress[1].from[0].namespaceSelector.matchLabels.team = 'edge';
      const deny = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', namespace: 'shop' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } };
      expect(ids(base, [...head, deny])).toEqual([]);
      const renamed = structuredClone(netpol());
      renamed.metadata.name = 'api-v2';
      expect(ids([o(netpol())], [renamed])).toEqual(['deleted', 'networkpolicy-widened']); // only "removed" for the old name
      expect(assessRisks('prod', [o(netpol())], [o(renamed)]).map((r) => r.object)).toEqual(['NetworkPolicy shop/api', 'NetworkPolicy shop/api']);
    });
  });

  it('pdb-lowered: maxUnavailable raised, minAvailable lowered, switched, removed; not when tightened', () => {
    expect(ids([o(pdb({ maxUnavailable: 1 }))], [pdb({ maxUnavailable: 2 })])).toEqual(['pdb-lowered']);
    expect(ids([o(pdb({ minAvailable: 2 }))], [pdb({ minAvailable: 1 })])).toEqual(['pdb-lowered']);
    expect(ids([o(pdb({ minAvailable: '50%' }))], [pdb({ minAvailable: 1 })])).toEqual(['pdb-lowered']);
    expect(ids([o(pdb({ minAvailable: 2 }))], [pdb({ maxUnavailable: 1 })])).toEqual(['pdb-lowered']);
    expect(ids([o(pdb({ maxUnavailable: 1 }))], [])).toEqual(['deleted', 'pdb-lowered']);
    expect(ids([o(pdb({ maxUnavailable: 2 }))], [pdb({ maxUnavailable: 1 })])).toEqual([]);
    expect(ids([o(pdb({ minAvailable: 1 }))], [pdb({ minAvailable: 2 })])).toEqual([]);
    expect(ids([], [pdb({ maxUnavailable: 1 })])).toEqual([]);
  });

  it('hpa-min-lowered: minReplicas lowered (absent = 1) or the HPA removed; not raised or max lowered', () => {
    expect(assessRisks('prod', [o(hpa(3))], [o(hpa(2))])).toEqual([
      { id: 'hpa-min-lowered', env: 'prod', object: 'HorizontalPodAutoscaler shop/api', path: 'spec.minReplicas', message: 'minReplicas 3 → 2' },
    ]);
    expect(ids([o(hpa(2))], [hpa(undefined)])).toEqual(['hpa-min-lowered']);
    expect(ids([o(hpa(2))], [])).toEqual(['deleted', 'hpa-min-lowered']);
    expect(ids([o(hpa(2))], [hpa(3)])).toEqual([]);
    expect(ids([o(hpa(1))], [hpa(undefined)])).toEqual([]);
    const lowerMax = hpa(2);
    lowerMax.spec.maxReplicas = 4;
    expect(ids([o(hpa(2))], [lowerMax])).toEqual([]);
  });

  it('replicas-dropped: fewer replicas (absent = 1) or the workload removed; not with an HPA, not when raised', () => {
    const { base, head } = pair(deployment());
    head[0]!.spec.replicas = 1;
    expect(assessRisks('prod', base, head.map(o)).filter((r) => r.id === 'replicas-dropped').map((r) => r.message)).toEqual(['replicas 3 → 1']);
    delete head[0]!.spec.replicas;
    expect(ids(base, head)).toEqual(['replicas-dropped']);
    expect(ids(base, [])).toContain('replicas-dropped');
    head[0]!.spec.replicas = 5;
    expect(ids(base, head)).toEqual([]);
    // with an HPA, spec.replicas is not what runs: the HPA's minimum is judged instead
    delete head[0]!.spec.replicas;
    expect(ids([...base, o(hpa(3))], [...head, hpa(3)])).toEqual([]);
  });

  it('image-changed: a tag, a digest (named as such), a new container; not an unchanged image', () => {
    const { base, head } = pair(deployment());
    container(head[0]!).image = 'ghcr.io/acme/api:1.0.0@sha256:cccc';
    head[0]!.spec.template.spec.containers[1].image = 'ghcr.io/acme/sidecar:2.1.0@sha256:dddd';
    head[0]!.spec.template.spec.initContainers = [{ name: 'migrate', image: 'ghcr.io/acme/migrate:1@sha256:eeee' }];
    const risks = assessRisks('prod', base, head.map(o)).filter((r) => r.id === 'image-changed');
    expect(risks.map((r) => [r.path, r.message])).toEqual([
      ['spec.template.spec.containers[name=api].image', 'digest of ghcr.io/acme/api:1.0.0 sha256:aaaa → sha256:cccc'],
      ['spec.template.spec.containers[name=sidecar].image', 'ghcr.io/acme/sidecar:2.0.0@sha256:bbbb → ghcr.io/acme/sidecar:2.1.0@sha256:dddd'],
      ['spec.template.spec.initContainers[name=migrate].image', 'new container image ghcr.io/acme/migrate:1@sha256:eeee'],
    ]);
    const same = pair(deployment());
    container(same.head[0]!).args = ['--port', '9000'];
    expect(ids(same.base, same.head)).toEqual(['pods-restart']);
  });

  it('secret-ref-changed: secretKeyRef name or key, envFrom secretRef, volume secretName, Ingress TLS secret; not a configMapRef', () => {
    const edits: Array<(d: J) => void> = [
      (d) => (container(d).env[1].valueFrom.secretKeyRef.key = 'pass'),
      (d) => (container(d).env[1].valueFrom.secretKeyRef.name = 'db-v2'),
      (d) => container(d).envFrom.push({ secretRef: { name: 'extra' } }),
      (d) => (d.spec.template.spec.volumes[0].secret.secretName = 'api-tls-2'),
    ];
    for (const edit of edits) {
      const { base, head } = pair(deployment());
      edit(head[0]!);
      expect(ids(base, head), edit.toString()).toEqual(['secret-ref-changed', 'pods-restart']);
    }
    const ing = (secretName: string): J => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'api', namespace: 'shop' }, spec: { tls: [{ hosts: ['a.example.com'], secretName }] } });
    expect(assessRisks('prod', [o(ing('a-tls'))], [o(ing('b-tls'))]).map((r) => [r.id, r.path])).toEqual([
      ['secret-ref-changed', 'spec.tls[secretName=a-tls].secretName'],
      ['secret-ref-changed', 'spec.tls[secretName=b-tls].secretName'],
    ]);
    const { base, head } = pair(deployment());
    container(head[0]!).envFrom[0].configMapRef.name = 'other-settings';
    expect(ids(base, head)).toEqual(['pods-restart']);
  });

  it('alert-removed: an alert (or the whole PrometheusRule) removed; not a recording rule or an annotation', () => {
    const { base, head } = pair(alerts());
    head[0]!.spec.groups[0].rules.splice(1, 2);
    expect(assessRisks('prod', base, head.map(o)).map((r) => [r.id, r.message])).toEqual([['alert-removed', 'alert ApiSlow removed']]);
    expect(ids(base, [])).toEqual(['deleted', 'alert-removed', 'alert-removed']);
    const ann = pair(alerts());
    ann.head[0]!.spec.groups[0].rules[1].annotations.summary = 'p95 slow';
    expect(ids(ann.base, ann.head)).toEqual([]);
  });

  it('alert-loosened: for lengthened, severity lowered, threshold or expression changed; not tightened or the same duration', () => {
    const loosen: Array<[(r: J) => void, string]> = [
      [(r) => (r.for = '15m'), 'alert ApiErrors: for 5m → 15m'],
      [(r) => (r.labels.severity = 'warning'), 'alert ApiErrors: severity critical → warning'],
      [(r) => delete r.labels.severity, 'alert ApiErrors: severity critical → none'],
      [(r) => (r.expr = 'sum(rate(errors_total[5m])) > 0.1'), 'alert ApiErrors: threshold > 0.05 → > 0.1 (review)'],
      [(r) => (r.expr = 'sum(rate(errors_total{code!="404"}[5m])) > 0.05'), 'alert ApiErrors: expression changed (review)'],
    ];
    for (const [edit, message] of loosen) {
      const { base, head } = pair(alerts());
      edit(head[0]!.spec.groups[0].rules[0]);
      expect(assessRisks('prod', base, head.map(o)).map((r) => `${r.id}: ${r.message}`)).toEqual([`alert-loosened: ${message}`]);
    }
    const tighten: Array<(r: J) => void> = [
      (r) => (r.for = '1m'),
      (r) => (r.for = '300s'),
      (r) => (r.expr = '  sum(rate(errors_total[5m]))\n   > 0.05 '),
    ];
    for (const edit of tighten) {
      const { base, head } = pair(alerts());
      edit(head[0]!.spec.groups[0].rules[0]);
      expect(ids(base, head)).toEqual([]);
    }
    const up = pair(alerts());
    up.head[0]!.spec.groups[0].rules[1].labels.severity = 'critical';
    expect(ids(up.base, up.head)).toEqual([]);
  });
});

/** A report with one changed HPA (risky) and `n` added ConfigMaps in prod. */
function report(n = 0) {
  const cms = Array.from({ length: n }, (_, i) => o({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${String(i).padStart(4, '0')}`, namespace: 'shop' }, data: { key: 'x'.repeat(200) } }));
  return buildReport(
    { ref: 'origin/main', commit: '0123456789abcdef0123' },
    'working tree',
    new Map([['dev', [o(hpa(1))]], ['prod', [o(hpa(3))]]]),
    new Map([['dev', [o(hpa(1))]], ['prod', [o(hpa(2)), ...cms]]]),
  );
}

describe('output formats', () => {
  it('text: quiet when nothing changed', () => {
    const same = buildReport({ ref: 'HEAD' }, 'working tree', new Map([['prod', [o(hpa(3))]]]), new Map([['prod', [o(hpa(3))]]]));
    expect(formatText(same)).toBe('');
  });

  it('text: risk flags first, then each environment with its objects and field changes', () => {
    const t = formatText(report(1));
    expect(t).toBe(
      [
        'stackbook diff: origin/main (0123456789ab) → working tree',
        '',
        'Risk flags (1):',
        '  ! hpa-min-lowered  prod  HorizontalPodAutoscaler shop/api: minReplicas 3 → 2',
        '',
        'prod: 1 added, 1 changed',
        '  + ConfigMap shop/cm-0000',
        '  ~ HorizontalPodAutoscaler shop/api  [hpa-min-lowered]',
        '      spec.minReplicas: 3 → 2',
        '',
        'unchanged: dev',
        '',
      ].join('\n'),
    );
  });

  it('markdown: the marker, risk flags before the summary table, one folded block per object', () => {
    const md = formatMarkdown(report(1));
    expect(md.startsWith(`${MARKDOWN_MARKER}\n`)).toBe(true);
    const flags = md.indexOf('| `hpa-min-lowered` | prod | `HorizontalPodAutoscaler shop/api` | minReplicas 3 → 2 |');
    const summary = md.indexOf('| environment | added | removed | changed | risk flags |');
    expect(flags).toBeGreaterThan(0);
    expect(summary).toBeGreaterThan(flags);
    expect(md).toContain('| prod | 1 | 0 | 1 | 1 |');
    expect(md).toContain('| dev | 0 | 0 | 0 | 0 |');
    expect(md).toContain('<details><summary>~ <code>HorizontalPodAutoscaler shop/api</code> 1 field ⚠️ hpa-min-lowered</summary>');
    expect(md).toContain('| `spec.minReplicas` | `3` | `2` |');
    expect(md).toMatch(/<details><summary>\+ <code>ConfigMap shop\/cm-0000<\/code> added<\/summary>\n\n```yaml\napiVersion: v1\n/);
    expect(md.match(/<details>/g)).toHaveLength(2);
    expect(md.match(/<\/details>/g)).toHaveLength(2);
    expect(md).not.toContain('Truncated');
    // a pipe in a value does not break the table
    const piped = buildReport({ ref: 'b' }, 'w', new Map([['e', [o(alerts())]]]), new Map([['e', [o({ ...alerts(), metadata: { name: 'api', namespace: 'shop', labels: { a: 'x|y' } } })]]]));
    expect(formatMarkdown(piped)).toContain('| `metadata.labels` |  | `{"a":"x\\|y"}` |');
  });

  it('markdown: says so when nothing changed (the workflow updates its comment), still with the marker', () => {
    const same = buildReport({ ref: 'HEAD' }, 'working tree', new Map([['prod', [o(hpa(3))]]]), new Map([['prod', [o(hpa(3))]]]));
    expect(formatMarkdown(same)).toBe(`${MARKDOWN_MARKER}\n### stackbook diff\n\nRendered objects of \`HEAD\` → working tree.\n\nNo changes in prod.\n`);
  });

  it('markdown: truncated from the bottom, whole blocks, below the limit, summary and flags kept, with a note', () => {
    const big = report(600);
    const full = formatMarkdown(big, { maxChars: 10_000_000 });
    expect(full.length).toBeGreaterThan(MARKDOWN_MAX_CHARS);
    const md = formatMarkdown(big);
    expect(md.length).toBeLessThanOrEqual(MARKDOWN_MAX_CHARS);
    expect(md.length).toBeGreaterThan(MARKDOWN_MAX_CHARS - 12_000);
    expect(md).toContain('| `hpa-min-lowered` |');
    expect(md).toContain('| prod | 600 | 0 | 1 | 1 |');
    expect(md).toMatch(/\n\n> \*\*Truncated\*\*: \d+ more parts of this diff did not fit in a pull-request comment\. Run `npx stackbook diff --base origin\/main` for all of it\.\n$/);
    expect(md.match(/<details>/g)!.length).toBe(md.match(/<\/details>/g)!.length);
    // what is shown is the start of the full comment
    expect(full.startsWith(md.slice(0, md.indexOf('\n\n> **Truncated**')))).toBe(true);
    // one object with very many fields does not take the whole comment
    const wide = (n: number) => o({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'wide', namespace: 'shop' }, data: Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`k${String(i).padStart(3, '0')}`, `v${n}`])) });
    const wideMd = formatMarkdown(buildReport({ ref: 'HEAD' }, 'w', new Map([['e', [wide(1)]]]), new Map([['e', [wide(2)]]])));
    expect(wideMd.match(/^\| `data\.k\d{3}` \|/gm)).toHaveLength(MARKDOWN_MAX_ROWS);
    expect(wideMd).toContain('| … 150 more fields (run `npx stackbook diff --base HEAD`) | | |');
    const tiny = formatMarkdown(big, { maxChars: 3_000 });
    expect(tiny.length).toBeLessThanOrEqual(3_000);
    expect(tiny).toContain('hpa-min-lowered');
  });

  it('json: a stable, versioned document', () => {
    const j = toJson(report(1)) as J;
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
    expect(j).toMatchObject({ schema: JSON_SCHEMA_ID, base: { ref: 'origin/main', commit: '0123456789abcdef0123' }, head: 'working tree', changed: true });
    expect(j.risks).toEqual([{ id: 'hpa-min-lowered', env: 'prod', object: 'HorizontalPodAutoscaler shop/api', path: 'spec.minReplicas', message: 'minReplicas 3 → 2' }]);
    expect(j.environments.map((e: J) => [e.env, e.added, e.removed, e.changed])).toEqual([['dev', 0, 0, 0], ['prod', 1, 0, 1]]);
    const changed = j.environments[1].objects[1];
    expect(changed).toEqual({
      op: 'changed', id: 'HorizontalPodAutoscaler shop/api', apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: 'shop', name: 'api',
      risks: ['hpa-min-lowered'], changes: [{ path: 'spec.minReplicas', op: 'changed', old: 3, new: 2 }],
    });
    expect(j.environments[1].objects[0]).toMatchObject({ op: 'added', kind: 'ConfigMap', object: { data: { key: 'x'.repeat(200) } } });
    expect((toJson(buildReport({ ref: 'HEAD' }, 'w', new Map(), new Map())) as J).changed).toBe(false);
  });

  it('an environment on one side only is all added (new) or all removed', () => {
    const r = buildReport({ ref: 'HEAD' }, 'w', new Map([['old', [o(hpa(2))]]]), new Map([['new', [o(hpa(2))]]]));
    expect(r.envs.map((e) => [e.env, e.note, e.added, e.removed])).toEqual([['new', 'base-missing', 1, 0], ['old', 'head-missing', 0, 1]]);
    expect(formatText(r)).toContain('new (new environment): 1 added');
  });

  it('parseBundle reads the numbered phase files only, in order', () => {
    const files = [
      { path: '02-config.yaml', content: yaml.dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' } }) },
      { path: '01-cluster.yaml', content: `${yaml.dump({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } })}---\n` },
      { path: 'kustomization.yaml', content: yaml.dump({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [] }) },
      { path: 'secrets.json', content: '[]' },
    ];
    expect(parseBundle(files).map((x) => x.metadata.name)).toEqual(['a', 'b']);
  });
});

describe('what breaks or destroys (issue 17): real stacks', () => {
  const prod = () => structuredClone(renderEnv('prod').objects) as unknown as J[];
  const text = (base: readonly J[], head: readonly J[], baseEnv = 'prod', headEnv = 'prod') =>
    formatText(buildReport({ ref: 'HEAD' }, 'working tree', new Map([[baseEnv, base.map(o)]]), new Map([[headEnv, head.map(o)]])));

  it('a new environment is one summary line by kind, with no flags; so is a removed one', () => {
    const staging = structuredClone(renderEnv('staging').objects) as unknown as Obj[];
    const r = buildReport({ ref: 'HEAD' }, 'working tree', new Map([['staging', staging]]), new Map([['staging', staging], ['qa', staging]]));
    const out = formatText(r);
    expect(out).not.toContain('Risk flags');
    const qa = out.split('\n').filter((l) => l.startsWith('qa') || l.startsWith('  '));
    expect(qa[0]).toBe(`qa (new environment): ${staging.length} added`);
    expect(qa[1]).toMatch(new RegExp(`^  \\+ new environment: ${staging.length} objects \\(.*Deployment \\d+.*\\)$`));
    expect(qa).toHaveLength(2);
    const md = formatMarkdown(r);
    expect(md).toContain('No risk flags.');
    expect(md.length).toBeLessThan(2_000);
    const gone = buildReport({ ref: 'HEAD' }, 'working tree', new Map([['qa', staging]]), new Map());
    expect(gone.envs[0]!.risks).toEqual([]);
    expect(formatText(gone)).toContain(`  - environment removed: ${staging.length} objects (`);
  });

  it('a service removed from a stack: data-loss on its Namespace naming what goes, not silence', () => {
    const base = prod();
    const head = base.filter((x) => x.metadata.namespace !== 'ope' && !(x.kind === 'Namespace' && x.metadata.name === 'ope'));
    const risks = assessRisks('prod', base.map(o), head.map(o));
    expect(risks.filter((r) => r.object === 'Namespace ope').map((r) => r.id)).toEqual(['data-loss']);
    expect(risks.find((r) => r.object === 'Namespace ope')!.message).toMatch(/^namespace ope removed: deletes every object in it \(.*Deployment 1.*\)/);
    // objects in the removed namespace are counted in that line, not flagged one by one
    expect(risks.filter((r) => r.object.includes(' ope/'))).toEqual([]);
    const out = text(base, head);
    expect(out).toContain('  - namespace ope removed: ');
    expect(out).not.toContain('- Deployment ope/ope');
  });

  it('a new namespace in an existing environment is one summary line, not a flag per object', () => {
    const head = prod();
    const base = head.filter((x) => x.metadata.namespace !== 'ope' && !(x.kind === 'Namespace' && x.metadata.name === 'ope'));
    expect(assessRisks('prod', base.map(o), head.map(o))).toEqual([]);
    const out = text(base, head);
    expect(out).toMatch(/\n {2}\+ new namespace ope: \d+ objects \(/);
    expect(out).not.toContain('+ Deployment ope/ope');
  });

  it('shrinking a StatefulSet volumeClaimTemplate: replace-required on the immutable field', () => {
    const base = prod();
    const head = structuredClone(base);
    const sts = head.find((x) => x.kind === 'StatefulSet' && x.spec.volumeClaimTemplates?.length)!;
    const before = sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage;
    sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage = '1Mi';
    const risks = assessRisks('prod', base.map(o), head.map(o));
    expect(risks.map((r) => [r.id, r.object])).toEqual([['replace-required', `StatefulSet ${sts.metadata.namespace}/${sts.metadata.name}`]]);
    expect(risks[0]!.message).toMatch(/^immutable field spec\.volumeClaimTemplates\[metadata\.name=[^\]]+\]\.spec\.resources\.requests\.storage changed: the API server refuses/);
    expect(before).not.toBe('1Mi');
  });

  it('replace-required: selectors, serviceName, Job template, Service clusterIP, PVC shrink or class; not a PVC expansion or a StatefulSet template', () => {
    const cases: Array<[J, (x: J) => void, boolean]> = [
      [deployment(), (d) => (d.spec.selector.matchLabels.app = 'api2'), true],
      [{ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', namespace: 'shop' }, spec: { serviceName: 'a', selector: { matchLabels: { a: 'b' } }, template: { spec: { containers: [{ name: 'c', image: 'x@sha256:1' }] } } } }, (d) => (d.spec.serviceName = 'b'), true],
      [{ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', namespace: 'shop' }, spec: { replicas: 1, template: { spec: { containers: [{ name: 'c', image: 'x@sha256:1' }] } } } }, (d) => (d.spec.template.spec.containers[0].image = 'x@sha256:2'), false],
      [{ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'shop' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'x@sha256:1' }] } } } }, (d) => (d.spec.template.spec.containers[0].image = 'x@sha256:2'), true],
      [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { ports: [{ port: 80 }] } }, (d) => (d.spec.clusterIP = '10.0.0.9'), true],
      [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p', namespace: 'shop' }, spec: { storageClassName: 'gp3', resources: { requests: { storage: '10Gi' } } } }, (d) => (d.spec.resources.requests.storage = '5Gi'), true],
      [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p', namespace: 'shop' }, spec: { storageClassName: 'gp3', resources: { requests: { storage: '10Gi' } } } }, (d) => (d.spec.storageClassName = 'io2'), true],
      [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p', namespace: 'shop' }, spec: { resources: { requests: { storage: '10Gi' } } } }, (d) => (d.spec.resources.requests.storage = '20Gi'), false],
      [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop' }, immutable: true, data: { a: '1' } }, (d) => (d.data.a = '2'), true],
      [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop' }, data: { a: '1' } }, (d) => (d.data.a = '2'), false],
    ];
    for (const [fixture, edit, expected] of cases) {
      const { base, head } = pair(fixture);
      edit(head[0]!);
      expect(ids(base, head).includes('replace-required'), `${fixture.kind}: ${edit.toString()}`).toBe(expected);
    }
  });

  it('deleted and data-loss: any removed object is flagged; PVCs, StatefulSets, CNPG and Kafka clusters as data-loss', () => {
    const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p', namespace: 'shop' }, spec: {} };
    const cnpg = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg', namespace: 'shop' }, spec: {} };
    const kafka = { apiVersion: 'kafka.strimzi.io/v1', kind: 'Kafka', metadata: { name: 'k', namespace: 'shop' }, spec: {} };
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop' }, data: {} };
    expect(assessRisks('prod', [pvc, cnpg, kafka, cm].map(o), []).map((r) => `${r.id} ${r.object}`)).toEqual([
      'data-loss Cluster shop/pg',
      'data-loss Kafka shop/k',
      'data-loss PersistentVolumeClaim shop/p',
      'deleted ConfigMap shop/c',
    ]);
  });

  it('pods-restart names the cause: a ConfigMap checksum, a Secret rotation, an image', () => {
    const base = prod();
    const head = structuredClone(base);
    const dep = head.find((x) => x.kind === 'Deployment' && Object.keys(x.spec.template.metadata.annotations ?? {}).some((k) => k.startsWith('checksum.stackbook.io/configmap-')))!;
    const key = Object.keys(dep.spec.template.metadata.annotations).find((k) => k.startsWith('checksum.stackbook.io/configmap-'))!;
    dep.spec.template.metadata.annotations[key] = 'changed';
    const risks = assessRisks('prod', base.map(o), head.map(o));
    expect(risks.map((r) => `${r.id} ${r.object}: ${r.message}`)).toEqual([
      `pods-restart Deployment ${dep.metadata.namespace}/${dep.metadata.name}: every pod restarts (rolling): ConfigMap ${key.slice('checksum.stackbook.io/configmap-'.length)} changed`,
    ]);
  });
});

/**
 * Every rendered object of every stack against its schema (built-in kinds: kubernetes-models;
 * custom resources: the CRD fixtures in /work/shared/crds), unknown fields rejected; and proof that
 * the validator (test/schema.ts) catches what it claims to catch.
 */
import { describe, expect, it } from 'vitest';
import { ENVS, find, renderEnv } from './helpers.js';
import { invalidManifests, validateManifest } from './schema.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A deep copy of a rendered prod object, for mutating (cert-manager objects from staging: prod's ALB serves ACM certificates). */
function prod(kind: string, name: string): Obj {
  return structuredClone(find(renderEnv(kind === 'Certificate' || kind === 'ClusterIssuer' ? 'staging' : 'prod').objects, kind, name)) as Obj;
}

/** Set `value` at a path of keys/indices, creating objects on the way. */
function setAt(obj: Obj, path: readonly (string | number)[], value: unknown): Obj {
  let node = obj;
  for (const k of path.slice(0, -1)) node = node[k] ??= {};
  node[path[path.length - 1]!] = value;
  return obj;
}

describe('schema: every rendered object of every stack', () => {
  it.each(ENVS)('%s: all objects validate (types, required fields, no unknown fields, metadata shape)', (env) => {
    const { objects } = renderEnv(env);
    expect(objects.length).toBeGreaterThan(0);
    // Both halves of the validator are exercised by the real stacks.
    expect(objects.some((o) => o.apiVersion === 'apps/v1')).toBe(true);
    expect(objects.some((o) => o.apiVersion.endsWith('cert-manager.io/v1') || o.apiVersion === 'monitoring.coreos.com/v1')).toBe(true);
    expect(invalidManifests(objects)).toEqual({});
  });
});

describe('schema: the validator catches errors in rendered objects', () => {
  it('a rendered Deployment and Certificate are valid before each mutation below', () => {
    expect(validateManifest(prod('Deployment', 'ope'))).toEqual([]);
    expect(validateManifest(prod('Certificate', 'ope'))).toEqual([]);
  });

  it('unknown field at spec level: Deployment spec.replicaz', () => {
    expect(validateManifest(setAt(prod('Deployment', 'ope'), ['spec', 'replicaz'], 3))).toEqual(['spec.replicaz: unknown field']);
  });

  it('unknown field deep inside a list item: containers[0].imagePullPolicyy', () => {
    const d = setAt(prod('Deployment', 'ope'), ['spec', 'template', 'spec', 'containers', 0, 'imagePullPolicyy'], 'Always');
    expect(validateManifest(d)).toEqual(['spec.template.spec.containers[0].imagePullPolicyy: unknown field']);
  });

  it('unknown field in metadata: metadata.labelz', () => {
    expect(validateManifest(setAt(prod('Deployment', 'ope'), ['metadata', 'labelz'], {}))).toEqual(['metadata.labelz: unknown field']);
  });

  it('wrong type: Deployment spec.revisionHistoryLimit "5"', () => {
    expect(validateManifest(setAt(prod('Deployment', 'ope'), ['spec', 'revisionHistoryLimit'], '5'))).toContain(
      'spec.revisionHistoryLimit: must be integer',
    );
  });

  it('value outside an enum: Service spec.type "ClusterIp"', () => {
    expect(validateManifest(setAt(prod('Service', 'ope'), ['spec', 'type'], 'ClusterIp'))).toEqual([
      'spec.type: must be equal to one of the allowed values ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")',
    ]);
  });

  it('wrong type inside a list: containers[0].ports[0].containerPort "8000"', () => {
    const d = setAt(prod('Deployment', 'ope'), ['spec', 'template', 'spec', 'containers', 0, 'ports', 0, 'containerPort'], '8000');
    expect(validateManifest(d)).toContain('spec.template.spec.containers[0].ports[0].containerPort: must be integer');
  });

  it('missing required field: a container without name', () => {
    const d = prod('Deployment', 'ope');
    delete d.spec.template.spec.containers[0].name;
    expect(validateManifest(d)).toEqual(['spec.template.spec.containers[0].name: required field missing']);
  });

  it('lifecycle.preStop.sleep (1.29+) is checked by the shipped schema, not waved through', () => {
    const container = ['spec', 'template', 'spec', 'containers', 0];
    const withSleep = (sleep: unknown): Obj => setAt(prod('Deployment', 'ope'), [...container, 'lifecycle'], { preStop: { sleep } });
    const at = 'spec.template.spec.containers[0].lifecycle.preStop.sleep';
    expect(validateManifest(withSleep({ seconds: 5 }))).toEqual([]);
    expect(validateManifest(withSleep({ seconds: '5' }))).toContain(`${at}.seconds: must be integer`);
    expect(validateManifest(withSleep({ seconds: 5, secondz: 5 }))).toEqual([`${at}.secondz: unknown field`]);
    expect(validateManifest(withSleep({}))).toEqual([`${at}.seconds: required field missing`]);
  });

  it('a field newer than the Kubernetes 1.32 target is refused: lifecycle.stopSignal (1.33)', () => {
    const d = setAt(prod('Deployment', 'ope'), ['spec', 'template', 'spec', 'containers', 0, 'lifecycle', 'stopSignal'], 'SIGTERM');
    expect(validateManifest(d)).toEqual(['spec.template.spec.containers[0].lifecycle.stopSignal: field is Kubernetes 1.33+, newer than the 1.32 target']);
  });

  it('int-or-string: Service targetPort accepts 8000 and "http", refuses true', () => {
    expect(validateManifest(setAt(prod('Service', 'ope'), ['spec', 'ports', 0, 'targetPort'], 8000))).toEqual([]);
    expect(validateManifest(setAt(prod('Service', 'ope'), ['spec', 'ports', 0, 'targetPort'], 'http'))).toEqual([]);
    expect(validateManifest(setAt(prod('Service', 'ope'), ['spec', 'ports', 0, 'targetPort'], true)).join('\n')).toMatch(/spec\.ports\[0\]\.targetPort: must be/);
  });

  it('Certificate: a typo in spec (dnsName), in a nested object (issuerRef.nmae), a wrong type, an enum, a missing field', () => {
    expect(validateManifest(setAt(prod('Certificate', 'ope'), ['spec', 'dnsName'], ['x.example.com']))).toEqual(['spec.dnsName: unknown field']);
    expect(validateManifest(setAt(prod('Certificate', 'ope'), ['spec', 'issuerRef', 'nmae'], 'x'))).toEqual(['spec.issuerRef.nmae: unknown field']);
    expect(validateManifest(setAt(prod('Certificate', 'ope'), ['spec', 'privateKey', 'size'], '256'))).toEqual(['spec.privateKey.size: must be integer']);
    expect(validateManifest(setAt(prod('Certificate', 'ope'), ['spec', 'privateKey', 'algorithm'], 'ECDSAA'))).toEqual([
      'spec.privateKey.algorithm: must be equal to one of the allowed values ("RSA", "ECDSA", "Ed25519")',
    ]);
    const c = prod('Certificate', 'ope');
    delete c.spec.secretName;
    expect(validateManifest(c)).toEqual(['spec.secretName: required field missing']);
  });

  it('CRD root and metadata: unknown top-level field, unknown metadata field', () => {
    expect(validateManifest(setAt(prod('Certificate', 'ope'), ['spce'], {}))).toEqual(['spce: unknown field']);
    expect(validateManifest(setAt(prod('Certificate', 'ope'), ['metadata', 'annotationz'], {}))).toEqual(['metadata.annotationz: unknown field']);
  });

  it('PrometheusRule: a rule with `annotation` instead of `annotations` (would be pruned silently)', () => {
    const r = prod('PrometheusRule', 'ope');
    const rule = r.spec.groups[0].rules[0];
    rule.annotation = rule.annotations;
    delete rule.annotations;
    expect(validateManifest(r)).toEqual(['spec.groups[0].rules[0].annotation: unknown field']);
  });

  it('PrometheusRule: Go regex patterns work, `(?i)` included (partial_response_strategy)', () => {
    const path = ['spec', 'groups', 0, 'partial_response_strategy'];
    expect(validateManifest(setAt(prod('PrometheusRule', 'ope'), path, 'WARN'))).toEqual([]);
    expect(validateManifest(setAt(prod('PrometheusRule', 'ope'), path, 'maybe'))).toEqual([
      'spec.groups[0].partial_response_strategy: must match pattern "^(?i)(abort|warn)?$"',
    ]);
  });

  it('ServiceMonitor: CRD int-or-string targetPort accepts 8000 and "http", refuses true; endpoint typo', () => {
    const path = ['spec', 'endpoints', 0, 'targetPort'];
    expect(validateManifest(setAt(prod('ServiceMonitor', 'ope'), path, 8000))).toEqual([]);
    expect(validateManifest(setAt(prod('ServiceMonitor', 'ope'), path, 'http'))).toEqual([]);
    expect(validateManifest(setAt(prod('ServiceMonitor', 'ope'), path, true)).join('\n')).toMatch(/spec\.endpoints\[0\]\.targetPort: must be/);
    expect(validateManifest(setAt(prod('ServiceMonitor', 'ope'), ['spec', 'endpoints', 0, 'intervall'], '30s'))).toEqual([
      'spec.endpoints[0].intervall: unknown field',
    ]);
  });

  it('metadata shape: bad name, missing namespace, namespace on a cluster-scoped kind, bad label value and key', () => {
    expect(validateManifest(setAt(prod('Deployment', 'ope'), ['metadata', 'name'], 'Ope_API'))).toEqual([
      'metadata.name: "Ope_API" is not a valid DNS-1123 subdomain',
    ]);
    expect(validateManifest(setAt(prod('Service', 'ope'), ['metadata', 'name'], '1ope'))).toEqual(['metadata.name: "1ope" is not a valid DNS-1035 label']);
    const noNs = prod('ConfigMap', 'ope-settings');
    delete noNs.metadata.namespace;
    expect(validateManifest(noNs)).toEqual(['metadata.namespace: required (else the object lands in the current kubectl namespace)']);
    expect(validateManifest(setAt(prod('Namespace', 'ope'), ['metadata', 'namespace'], 'default'))).toEqual([
      'metadata.namespace: set on a cluster-scoped kind',
    ]);
    expect(validateManifest(setAt(prod('ClusterIssuer', 'stackbook-staging-acme'), ['metadata', 'namespace'], 'ope'))).toEqual([
      'metadata.namespace: set on a cluster-scoped kind',
    ]);
    expect(validateManifest(setAt(prod('Deployment', 'ope'), ['metadata', 'labels', 'team'], 'x'.repeat(64)))).toEqual([
      `metadata.labels.team: value "${'x'.repeat(64)}" is not a valid label value`,
    ]);
    expect(validateManifest(setAt(prod('Deployment', 'ope'), ['metadata', 'annotations', 'bad key'], 'v'))).toEqual([
      'metadata.annotations["bad key"]: key name part is not a qualified name (≤ 63 of [A-Za-z0-9-_.], alphanumeric at both ends)',
    ]);
    expect(validateManifest(setAt(prod('Deployment', 'ope'), ['metadata', 'labels', 'tier'], 3))).toEqual(['metadata.labels.tier: must be string']);
  });

  it('ConfigMap and Secret keys and Secret base64 data', () => {
    expect(validateManifest(setAt(prod('ConfigMap', 'ope-settings'), ['data', 'BAD KEY'], 'x'))).toEqual([
      'data["BAD KEY"]: key must consist of [-._a-zA-Z0-9]',
    ]);
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ope' }, type: 'Opaque', data: { password: 'c2VjcmV0' } };
    expect(validateManifest(secret)).toEqual([]);
    expect(validateManifest(setAt(structuredClone(secret), ['data', 'password'], 'not base64!'))).toEqual(['data.password: must match format "byte"']);
  });

  it('kinds without a schema are errors: unknown CRD group, unknown kind of a known group, unsupported built-ins, unserved versions', () => {
    const md = { name: 'x', namespace: 'ope' };
    expect(validateManifest({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: md })).toEqual([
      expect.stringMatching(/^\(root\): no CRD fixture for example\.com\/v1 Widget/),
    ]);
    expect(validateManifest({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', metadata: md })).toEqual([
      expect.stringMatching(/^\(root\): no CRD fixture for keda\.sh\/v1alpha1 ScaledJob/),
    ]);
    expect(validateManifest({ apiVersion: 'v1', kind: 'Pod', metadata: md })).toEqual([expect.stringMatching(/no validator for built-in v1 Pod/)]);
    expect(validateManifest({ apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: md })).toEqual([
      expect.stringMatching(/no validator for built-in autoscaling\/v1 HorizontalPodAutoscaler/),
    ]);
    expect(validateManifest({ apiVersion: 'external-secrets.io/v1beta1', kind: 'ExternalSecret', metadata: md, spec: {} })).toEqual([
      'apiVersion: external-secrets.io/v1beta1 ExternalSecret is not served (CRD serves v1)',
    ]);
    expect(validateManifest({ apiVersion: 'cert-manager.io/v1alpha2', kind: 'Certificate', metadata: md })).toEqual([
      'apiVersion: cert-manager.io/v1alpha2 is not a version of Certificate (CRD has v1)',
    ]);
    expect(validateManifest({ kind: 'ConfigMap', metadata: md })).toEqual(['(root): apiVersion and kind must be non-empty strings']);
    expect(validateManifest('apiVersion: v1')).toEqual(['(root): must be an object']);
  });

  // Strimzi KafkaNodePool and KafkaUser have no CRD fixture: invalidManifests checks them against the
  // hand-checked schemas of test/crd-hand-checked.ts (plus metadata), and that check can fail.
  it('kinds without a fixture but with a hand-checked schema (KafkaNodePool, KafkaUser): validated, not waved through', () => {
    const objects = renderEnv('prod').objects;
    const user = structuredClone(objects.find((o) => o.kind === 'KafkaUser')) as Obj;
    const pool = structuredClone(objects.find((o) => o.kind === 'KafkaNodePool')) as Obj;
    expect(user).toBeDefined();
    expect(pool).toBeDefined();
    // validateManifest still says there is no fixture; invalidManifests accepts the rendered objects.
    expect(validateManifest(user)).toEqual([expect.stringContaining('no CRD fixture for kafka.strimzi.io/v1 KafkaUser')]);
    expect(invalidManifests([user, pool])).toEqual({});
    const key = (o: Obj) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    const errorsOf = (o: Obj) => invalidManifests([o])[key(o)] ?? [];
    // The v1beta2-era singular `operation` is not part of kafka.strimzi.io/v1.
    const acl0 = ['spec', 'authorization', 'acls', 0];
    expect(errorsOf(setAt(structuredClone(user), [...acl0, 'operation'], 'Read'))).toEqual(['spec.authorization.acls[0].operation: unknown field']);
    expect(errorsOf(setAt(structuredClone(user), [...acl0, 'operations'], ['Reed'])).join('\n')).toMatch(/spec\.authorization\.acls\[0\]\.operations\[0\]: must be equal to one of the allowed values/);
    expect(errorsOf(setAt(structuredClone(user), ['spec', 'authentication', 'type'], 'mtls')).join('\n')).toMatch(/spec\.authentication\.type/);
    expect(errorsOf(setAt(structuredClone(user), ['metadata', 'labels', 'strimzi.io/cluster'], undefined))).not.toEqual([]);
    expect(errorsOf(setAt(structuredClone(pool), ['spec', 'replicaCount'], 3))).toEqual(['spec.replicaCount: unknown field']);
    expect(errorsOf(setAt(structuredClone(pool), ['metadata', 'name'], 'Dual_Role')).join('\n')).toMatch(/metadata\.name/);
    expect(errorsOf({ ...structuredClone(user), apiVersion: 'kafka.strimzi.io/v1beta2' })).toEqual([
      expect.stringMatching(/^apiVersion: kafka\.strimzi\.io\/v1beta2 KafkaUser is not served/),
    ]);
  });
});

/** Minimal valid objects for every supported built-in kind, and a typo each must be caught at. */
const CORE_CASES: readonly { obj: Obj; typo: (string | number)[] }[] = [
  { obj: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ope' } }, typo: ['spec', 'finalizerz'] },
  { obj: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ope', namespace: 'ope' }, automountServiceAccountToken: false }, typo: ['automountServiceAccountTokens'] },
  { obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ope' }, data: { A: 'b' } }, typo: ['datas'] },
  { obj: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ope' }, type: 'Opaque', stringData: { a: 'b' } }, typo: ['stringDatas'] },
  {
    obj: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ope', namespace: 'ope' }, spec: { selector: { app: 'ope' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
    typo: ['spec', 'ports', 0, 'targetport'],
  },
  {
    obj: {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'ope' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
    typo: ['spec', 'resources', 'request'],
  },
  {
    obj: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'ope', namespace: 'ope' },
      spec: { selector: { matchLabels: { app: 'ope' } }, template: { metadata: { labels: { app: 'ope' } }, spec: { containers: [{ name: 'ope', image: 'ope:1' }] } } },
    },
    typo: ['spec', 'template', 'spec', 'containers', 0, 'resources', 'limit'],
  },
  {
    obj: {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'ope' },
      spec: {
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'db:1' }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    },
    typo: ['spec', 'volumeClaimTemplates', 0, 'spec', 'storageClass'],
  },
  {
    obj: {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate', namespace: 'ope' },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'm:1' }] } } },
    },
    typo: ['spec', 'backoffLimits'],
  },
  {
    obj: {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly', namespace: 'ope' },
      spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'n', image: 'n:1' }] } } } } },
    },
    typo: ['spec', 'jobTemplate', 'spec', 'template', 'spec', 'restartpolicy'],
  },
  {
    obj: {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'ope', namespace: 'ope' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ope' },
        minReplicas: 2,
        maxReplicas: 4,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    },
    typo: ['spec', 'metrics', 0, 'resource', 'target', 'averageUtilisation'],
  },
  {
    obj: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'ope', namespace: 'ope' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'ope' } } } },
    typo: ['spec', 'maxUnavailabe'],
  },
  {
    obj: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'ope', namespace: 'ope' },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { a: 'b' } } }], ports: [{ port: 8000 }] }] },
    },
    typo: ['spec', 'ingress', 0, 'from', 0, 'namespaceSelecter'],
  },
  {
    obj: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'ope', namespace: 'ope' },
      spec: { rules: [{ host: 'ope.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'ope', port: { number: 80 } } } }] } }] },
    },
    typo: ['spec', 'rules', 0, 'http', 'paths', 0, 'backend', 'service', 'port', 'numbr'],
  },
  {
    obj: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reader', namespace: 'ope' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] },
    typo: ['rules', 0, 'verb'],
  },
  {
    obj: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'reader', namespace: 'ope' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'ope', namespace: 'ope' }],
    },
    typo: ['subjects', 0, 'namespce'],
  },
  { obj: { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'critical' }, value: 1000 }, typo: ['globaldefault'] },
  { obj: { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'gvisor' }, handler: 'runsc' }, typo: ['handlr'] },
];

/** The custom resources later components will render: a minimal valid object and a typo each. */
const CRD_CASES: readonly { obj: Obj; typo: (string | number)[] }[] = [
  {
    obj: {
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'ope-signed' },
      spec: {
        images: [{ glob: 'ghcr.io/acme/**' }],
        authorities: [{ keyless: { url: 'https://fulcio.sigstore.dev', identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: '^https://github.com/acme/' }] } }],
      },
    },
    typo: ['spec', 'authorities', 0, 'keyless', 'identities', 0, 'subjectRegex'],
  },
  {
    obj: {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ClusterSecretStore',
      metadata: { name: 'vault' },
      spec: {
        provider: {
          vault: {
            server: 'https://vault.corp.internal:8200',
            path: 'secret',
            version: 'v2',
            auth: { kubernetes: { mountPath: 'kubernetes', role: 'stackbook', serviceAccountRef: { name: 'external-secrets', namespace: 'external-secrets' } } },
          },
        },
      },
    },
    typo: ['spec', 'provider', 'vault', 'auth', 'kubernetes', 'mountpath'],
  },
  {
    obj: {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ExternalSecret',
      metadata: { name: 'db', namespace: 'ope' },
      spec: {
        refreshInterval: '1h',
        secretStoreRef: { kind: 'ClusterSecretStore', name: 'vault' },
        target: { name: 'db', creationPolicy: 'Owner' },
        data: [{ secretKey: 'password', remoteRef: { key: 'ope/db', property: 'password' } }],
      },
    },
    typo: ['spec', 'data', 0, 'remoteRef', 'propery'],
  },
  {
    obj: {
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'Kafka',
      metadata: { name: 'events', namespace: 'kafka' },
      spec: {
        kafka: { listeners: [{ name: 'tls', port: 9093, type: 'internal', tls: true }], config: { 'min.insync.replicas': 2 } },
        entityOperator: { topicOperator: {}, userOperator: {} },
      },
    },
    typo: ['spec', 'kafka', 'listeners', 0, 'tsl'],
  },
  {
    obj: {
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'KafkaTopic',
      metadata: { name: 'orders', namespace: 'kafka', labels: { 'strimzi.io/cluster': 'events' } },
      spec: { partitions: 6, replicas: 3, config: { 'retention.ms': 604800000 } },
    },
    typo: ['spec', 'partitons'],
  },
  {
    obj: { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg', namespace: 'db' }, spec: { instances: 3, storage: { size: '10Gi' } } },
    typo: ['spec', 'storage', 'sise'],
  },
  {
    obj: { apiVersion: 'postgresql.cnpg.io/v1', kind: 'ScheduledBackup', metadata: { name: 'pg-nightly', namespace: 'db' }, spec: { schedule: '0 0 2 * * *', cluster: { name: 'pg' } } },
    typo: ['spec', 'cluster', 'nam'],
  },
  {
    obj: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'worker', namespace: 'ope' },
      spec: {
        scaleTargetRef: { name: 'worker' },
        minReplicaCount: 1,
        maxReplicaCount: 10,
        triggers: [{ type: 'kafka', metadata: { bootstrapServers: 'events-kafka-bootstrap.kafka:9093', consumerGroup: 'ope', topic: 'orders', lagThreshold: '50' } }],
      },
    },
    typo: ['spec', 'scaleTargetRef', 'nmae'],
  },
];

describe('schema: custom resources fields the API server would prune', () => {
  it('a CRD object node declaring no fields: CNPG volumeClaimTemplate.metadata.labels', () => {
    const cluster = structuredClone(CRD_CASES.find((c) => c.obj.kind === 'Cluster')!.obj);
    cluster.spec.ephemeralVolumeSource = {
      volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    };
    expect(validateManifest(cluster)).toEqual([]);
    cluster.spec.ephemeralVolumeSource.volumeClaimTemplate.metadata = { labels: { app: 'pg' } };
    expect(validateManifest(cluster)).toEqual(['spec.ephemeralVolumeSource.volumeClaimTemplate.metadata.labels: unknown field']);
  });
});

function typoError(path: readonly (string | number)[]): string {
  return `${path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('')}: unknown field`;
}

describe('schema: every supported kind validates a minimal object and catches a typo', () => {
  it.each(CORE_CASES.map((c) => [`${c.obj.apiVersion} ${c.obj.kind}`, c] as const))('built-in %s', (_, { obj, typo }) => {
    expect(validateManifest(obj)).toEqual([]);
    expect(validateManifest(setAt(structuredClone(obj), typo, 'x'))).toEqual([typoError(typo)]);
  });

  it.each(CRD_CASES.map((c) => [`${c.obj.apiVersion} ${c.obj.kind}`, c] as const))('custom resource %s', (_, { obj, typo }) => {
    expect(validateManifest(obj)).toEqual([]);
    expect(validateManifest(setAt(structuredClone(obj), typo, 'x'))).toEqual([typoError(typo)]);
  });
});

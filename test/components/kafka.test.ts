/**
 * Kafka (Strimzi 1.2, `kafka.strimzi.io/v1`, KRaft with node pools): Kafka, KafkaNodePool,
 * KafkaTopic, NetworkPolicies and PodMonitor. Expected values come from the component's documented
 * defaults, the Strimzi 1.2.0 CRDs in ../shared/crds and Strimzi's fixed ports (9090 controller,
 * 9091 replication, 9404 metrics).
 */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { KAFKA_IMAGE, KAFKA_METADATA_VERSION, KAFKA_VERSION, Kafka, topicResourceName, type KafkaProps, type KafkaTopicSpec } from '../../components/kafka.js';
import { blocking, evaluate } from '../../policies/manifest-rules.js';
import { NODE_POOL_SCHEMA } from '../crd-hand-checked.js';
import { validateManifest } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const BASE: KafkaProps = {
  name: 'aion',
  namespace: 'aion',
  clients: [{ pods: { 'app.kubernetes.io/name': 'control' } }],
  kubeApiCidrs: ['10.96.0.1/32'],
};

const AION_TOPICS: KafkaTopicSpec[] = [
  { name: 'aion.metrics.runtime', partitions: 6, retentionDays: 3, concerns: ['AION-5'] },
  { name: 'kernel.proposals', partitions: 3, retentionDays: 30, concerns: ['AION-5', 'AION-7'] },
];

function build(overrides: Partial<KafkaProps> = {}) {
  const chart = newChart();
  const k = new Kafka(chart, 'K', { ...BASE, ...overrides });
  const objects = objectsOf(chart);
  const kafka = only(objects, 'Kafka');
  return { k, objects, kafka, spec: kafka.spec.kafka as Json, pools: objects.filter((o) => o.kind === 'KafkaNodePool'), topics: objects.filter((o) => o.kind === 'KafkaTopic') };
}

function rejects(overrides: Partial<KafkaProps>, prop: string, got: string): Error {
  const e = errorOf(() => build(overrides));
  expect(e.name).toBe('ComponentError');
  expect(e.message).toContain('Kafka "aion"');
  expect(e.message).toContain(prop);
  expect(e.message).toContain(`(got ${got})`);
  return e;
}

const RESTRICTED = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  privileged: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  seccompProfile: { type: 'RuntimeDefault' },
};
const RESTRICTED_POD = { runAsNonRoot: true, fsGroup: 0, seccompProfile: { type: 'RuntimeDefault' } };

describe('Kafka defaults (AION-2)', () => {
  it('renders the Kafka, one dual-role node pool, two NetworkPolicies and a PodMonitor', () => {
    expect(build().objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).sort()).toEqual([
      'kafka.strimzi.io/v1 Kafka aion/aion',
      'kafka.strimzi.io/v1 KafkaNodePool aion/dual-role',
      'monitoring.coreos.com/v1 PodMonitor aion/aion-kafka',
      'networking.k8s.io/v1 NetworkPolicy aion/aion-kafka',
      'networking.k8s.io/v1 NetworkPolicy aion/aion-kafka-api',
    ]);
  });

  it('pins Kafka 4.3.1 / metadata 4.3-IV0 and leaves the image to the operator', () => {
    const { spec, k } = build();
    expect([spec.version, spec.metadataVersion]).toEqual(['4.3.1', '4.3-IV0']);
    expect([KAFKA_VERSION, KAFKA_METADATA_VERSION]).toEqual(['4.3.1', '4.3-IV0']);
    expect(KAFKA_IMAGE).toEqual({ repository: 'quay.io/strimzi/kafka', tag: '1.2.0-kafka-4.3.1' });
    expect(spec.image).toBeUndefined();
    expect(k.bootstrapTls).toBe('aion-kafka-bootstrap:9093');
    const digest = `sha256:${'c'.repeat(64)}`;
    expect(build({ image: `quay.io/strimzi/kafka:1.2.0-kafka-4.3.1@${digest}` }).spec.image).toBe(`quay.io/strimzi/kafka:1.2.0-kafka-4.3.1@${digest}`);
    const mirrored = `registry.corp.internal:5000/mirror/quay.io/strimzi/kafka:1.2.0-kafka-4.3.1@${digest}`;
    expect(build({ image: mirrored }).spec.image).toBe(mirrored);
  });

  it('KRaft via node pools: 3 dual-role nodes, 20Gi JBOD volume holding the metadata, never deleted with the cluster', () => {
    const { pools } = build();
    expect(pools).toHaveLength(1);
    expect(pools[0]!.metadata.labels).toEqual({ 'strimzi.io/cluster': 'aion' });
    expect(pools[0]!.spec).toEqual({
      replicas: 3,
      roles: ['controller', 'broker'],
      storage: { type: 'jbod', volumes: [{ id: 0, type: 'persistent-claim', size: '20Gi', deleteClaim: false, kraftMetadata: 'shared' }] },
      resources: { requests: { cpu: '500m', memory: '2Gi' }, limits: { cpu: '2', memory: '2Gi' } },
    });
  });

  it('dedicated controllers: a controller pool (5Gi, 250m/1, 1Gi) and a broker pool', () => {
    const { pools } = build({ brokers: 4, controllers: 3, storageClass: 'gp3' });
    expect(pools.map((p) => [p.metadata.name, p.spec.replicas, p.spec.roles])).toEqual([
      ['controller', 3, ['controller']],
      ['broker', 4, ['broker']],
    ]);
    expect(pools[0]!.spec.storage.volumes[0]).toEqual({ id: 0, type: 'persistent-claim', size: '5Gi', class: 'gp3', deleteClaim: false, kraftMetadata: 'shared' });
    expect(pools[0]!.spec.resources).toEqual({ requests: { cpu: '250m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(pools[1]!.spec.storage.volumes[0].size).toBe('20Gi');
  });

  it('replication: factor min(3, brokers), min.insync one below it (1 for a single broker); no topic auto-creation', () => {
    expect(build().spec.config).toEqual({
      'auto.create.topics.enable': false,
      'default.replication.factor': 3,
      'min.insync.replicas': 2,
      'offsets.topic.replication.factor': 3,
      'transaction.state.log.min.isr': 2,
      'transaction.state.log.replication.factor': 3,
    });
    const one = build({ brokers: 1 }).spec.config;
    expect([one['default.replication.factor'], one['min.insync.replicas'], one['offsets.topic.replication.factor']]).toEqual([1, 1, 1]);
    const five = build({ brokers: 5 }).spec.config;
    expect([five['default.replication.factor'], five['min.insync.replicas']]).toEqual([3, 2]);
    const custom = build({ brokers: 5, replicationFactor: 5, minInsyncReplicas: 3 }).spec.config;
    expect([custom['default.replication.factor'], custom['min.insync.replicas'], custom['transaction.state.log.min.isr']]).toEqual([5, 3, 3]);
  });

  it('one internal TLS listener on 9093 with mutual-TLS authentication, open only to the named clients; ACLs on', () => {
    const { spec } = build();
    expect(spec.listeners).toEqual([
      { name: 'tls', port: 9093, type: 'internal', tls: true, authentication: { type: 'tls' }, networkPolicyPeers: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'control' } } }] },
    ]);
    expect(spec.authorization).toEqual({ type: 'simple' });
  });

  it('SCRAM authentication, no ACLs and a plain 9092 listener are explicit choices', () => {
    const { spec } = build({ authentication: 'scram-sha-512', authorization: 'none', plainListener: true, clients: [{ namespace: 'aion', pods: { app: 'x' } }] });
    const peers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'aion' } }, podSelector: { matchLabels: { app: 'x' } } }];
    expect(spec.listeners).toEqual([
      { name: 'plain', port: 9092, type: 'internal', tls: false, networkPolicyPeers: peers },
      { name: 'tls', port: 9093, type: 'internal', tls: true, authentication: { type: 'scram-sha-512' }, networkPolicyPeers: peers },
    ]);
    expect(spec.authorization).toBeUndefined();
  });

  it("metrics through Strimzi's metrics reporter (all metrics unless an allow-list is given)", () => {
    expect(build().spec.metricsConfig).toEqual({ type: 'strimziMetricsReporter' });
    expect(build({ metricsAllowList: ['kafka_server_.*'] }).spec.metricsConfig).toEqual({ type: 'strimziMetricsReporter', values: { allowList: ['kafka_server_.*'] } });
  });

  it('Topic and User Operators on; Kafka Exporter on for consumer lag (all groups), each with requests and limits', () => {
    const { kafka } = build();
    const res = { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '500m', memory: '512Mi' } };
    expect(kafka.spec.entityOperator.topicOperator).toEqual({ resources: res });
    expect(kafka.spec.entityOperator.userOperator).toEqual({ resources: res });
    expect(kafka.spec.kafkaExporter).toMatchObject({ groupRegex: '.*', topicRegex: '.*', resources: res });
    expect(build({ exporterGroupRegex: '^control-plane$' }).kafka.spec.kafkaExporter.groupRegex).toBe('^control-plane$');
    expect(build({ kafkaExporter: false }).kafka.spec.kafkaExporter).toBeUndefined();
  });

  it('rack awareness is off by default; on, it uses the node label', () => {
    expect(build().spec.rack).toBeUndefined();
    expect(build({ rackTopologyKey: 'topology.kubernetes.io/zone' }).spec.rack).toEqual({ type: 'topology-label', topologyKey: 'topology.kubernetes.io/zone' });
  });
});

describe('Kafka pod security (X-1) through the CR templates', () => {
  it('brokers: restricted pod and container', () => {
    expect(build().spec.template).toEqual({ pod: { securityContext: RESTRICTED_POD }, kafkaContainer: { securityContext: RESTRICTED } });
  });

  it('entity operator and Kafka Exporter: restricted pod and containers', () => {
    const { kafka } = build();
    expect(kafka.spec.entityOperator.template).toEqual({
      pod: { securityContext: RESTRICTED_POD },
      topicOperatorContainer: { securityContext: RESTRICTED },
      userOperatorContainer: { securityContext: RESTRICTED },
    });
    expect(kafka.spec.kafkaExporter.template).toEqual({ pod: { securityContext: RESTRICTED_POD }, container: { securityContext: RESTRICTED } });
  });

  it("rack awareness' init container is restricted too", () => {
    expect(build({ rackTopologyKey: 'topology.kubernetes.io/zone' }).spec.template.initContainer).toEqual({ securityContext: RESTRICTED });
  });

  it('node pools carry no template (a pool template would replace the hardened Kafka template)', () => {
    for (const p of build({ brokers: 2, controllers: 1 }).pools) expect(p.spec.template).toBeUndefined();
  });
});

describe('Kafka topics (AION-5)', () => {
  it('one KafkaTopic per topic, labelled with the cluster, partitions/replicas/retention as given', () => {
    const { topics } = build({ topics: AION_TOPICS });
    expect(topics.map((t) => [t.metadata.name, t.metadata.labels, t.spec])).toEqual([
      ['aion.metrics.runtime', { 'strimzi.io/cluster': 'aion' }, { partitions: 6, replicas: 3, config: { 'retention.ms': 3 * 86_400_000 } }],
      ['kernel.proposals', { 'strimzi.io/cluster': 'aion' }, { partitions: 3, replicas: 3, config: { 'retention.ms': 30 * 86_400_000 } }],
    ]);
  });

  it('defaults: 3 partitions, the cluster replication factor, 7 days; retentionHours sets hours', () => {
    const { topics } = build({ brokers: 1, topics: [{ name: 'a' }, { name: 'b', retentionHours: 6 }] });
    expect(topics[0]!.spec).toEqual({ partitions: 3, replicas: 1, config: { 'retention.ms': 604_800_000 } });
    expect(topics[1]!.spec.config).toEqual({ 'retention.ms': 6 * 3_600_000 });
  });

  it('extra topic config is merged, sorted', () => {
    const { topics } = build({ topics: [{ name: 'audit', config: { 'cleanup.policy': 'compact', 'min.insync.replicas': 2 } }] });
    expect(Object.keys(topics[0]!.spec.config)).toEqual(['cleanup.policy', 'min.insync.replicas', 'retention.ms']);
  });

  it('a topic name that is not a Kubernetes name gets a stable resource name and spec.topicName', () => {
    const { topics } = build({ topics: [{ name: 'Kernel_Proposals' }] });
    expect(topics[0]!.metadata.name).toBe(topicResourceName('Kernel_Proposals'));
    expect(topics[0]!.metadata.name).toMatch(/^kernel-proposals-[0-9a-f]{8}$/);
    expect(topics[0]!.spec.topicName).toBe('Kernel_Proposals');
    expect(topicResourceName('Kernel_Proposals')).not.toBe(topicResourceName('kernel_proposals'));
    expect(topicResourceName('kernel.proposals')).toBe('kernel.proposals');
  });

  it('topics carry their own concerns, else the component concerns', () => {
    const { topics } = build({ topics: [...AION_TOPICS, { name: 'misc' }], concerns: ['AION-2'] });
    expect(topics.map((t) => concernsOf(t))).toEqual([['AION-5'], ['AION-5', 'AION-7'], ['AION-2']]);
  });
});

describe('Kafka network policies (X-3): what Strimzi does not create', () => {
  const tcp = (...ports: number[]) => ports.map((port) => ({ port, protocol: 'TCP' }));

  it('every pod of the cluster: DNS and brokers (9090/9091) out, Prometheus (9404) in', () => {
    const p = only(build().objects, 'NetworkPolicy', 'aion-kafka');
    expect(p.spec).toEqual({
      podSelector: { matchLabels: { 'strimzi.io/cluster': 'aion' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: tcp(9404) }],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
          ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }],
        },
        { to: [{ podSelector: { matchLabels: { 'strimzi.io/name': 'aion-kafka' } } }], ports: tcp(9090, 9091) },
      ],
    });
  });

  it('only the entity operator reaches the Kubernetes API; with rack awareness the brokers too', () => {
    const p = only(build().objects, 'NetworkPolicy', 'aion-kafka-api');
    expect(p.spec).toEqual({
      podSelector: { matchLabels: { 'strimzi.io/cluster': 'aion' }, matchExpressions: [{ key: 'strimzi.io/name', operator: 'In', values: ['aion-entity-operator'] }] },
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '10.96.0.1/32' } }], ports: tcp(443, 6443) }],
    });
    const rack = only(build({ rackTopologyKey: 'topology.kubernetes.io/zone' }).objects, 'NetworkPolicy', 'aion-kafka-api');
    expect(rack.spec.podSelector.matchExpressions[0].values).toEqual(['aion-entity-operator', 'aion-kafka']);
  });

  it('monitoring namespace, API ports and DNS are configurable', () => {
    const { objects } = build({ monitoringNamespace: 'observability', kubeApiPorts: [6443], dnsNamespace: 'dns', dnsPodLabel: 'app=coredns' });
    const main = only(objects, 'NetworkPolicy', 'aion-kafka');
    expect(main.spec.ingress[0].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }]);
    expect(main.spec.egress[0].to[0].podSelector).toEqual({ matchLabels: { app: 'coredns' } });
    expect(only(objects, 'NetworkPolicy', 'aion-kafka-api').spec.egress[0].ports).toEqual(tcp(6443));
  });
});

describe('Kafka monitoring (X-8)', () => {
  it('one PodMonitor for brokers and Kafka Exporter on tcp-prometheus', () => {
    const pm = only(build().objects, 'PodMonitor');
    expect(pm.metadata).toMatchObject({ name: 'aion-kafka', namespace: 'aion', labels: { release: 'prometheus' } });
    expect(pm.spec).toEqual({
      selector: { matchLabels: { 'strimzi.io/cluster': 'aion', 'strimzi.io/kind': 'Kafka' } },
      podMetricsEndpoints: [{ port: 'tcp-prometheus', path: '/metrics', interval: '30s' }],
    });
    expect(build({ podMonitor: false }).objects.filter((o) => o.kind === 'PodMonitor')).toEqual([]);
  });
});

describe('Kafka traceability', () => {
  it('by default X-1 on the Kafka, X-3 on the policies, X-8 on the PodMonitor, nothing service-specific', () => {
    const { objects } = build({ topics: [{ name: 'a' }] });
    expect(objects.map((o) => [o.kind, o.metadata.name, concernsOf(o)])).toEqual(
      expect.arrayContaining([
        ['Kafka', 'aion', ['X-1']],
        ['KafkaNodePool', 'dual-role', []],
        ['KafkaTopic', 'a', []],
        ['NetworkPolicy', 'aion-kafka', ['X-3']],
        ['NetworkPolicy', 'aion-kafka-api', ['X-3']],
        ['PodMonitor', 'aion-kafka', ['X-8']],
      ]),
    );
  });

  it('service concerns go on every object', () => {
    for (const o of build({ concerns: ['AION-2'], topics: [{ name: 'a' }] }).objects) expect(concernsOf(o), o.kind).toContain('AION-2');
  });
});

describe('Kafka manifests are valid and pass the policies', () => {
  it('Kafka and KafkaTopic validate against the Strimzi 1.2.0 CRDs; policies and PodMonitor against theirs', () => {
    for (const overrides of [
      { topics: AION_TOPICS },
      { brokers: 4, controllers: 3, plainListener: true, rackTopologyKey: 'topology.kubernetes.io/zone', metricsAllowList: ['kafka_.*'], storageClass: 'gp3', topics: [{ name: 'Kernel_Proposals', config: { 'cleanup.policy': 'compact' } }] },
      { brokers: 1, authorization: 'none' as const, kafkaExporter: false },
    ]) {
      const { objects } = build(overrides);
      const checked = objects.filter((o) => o.kind !== 'KafkaNodePool');
      expect(checked.length).toBeGreaterThan(3);
      for (const o of checked) expect(validateManifest(o), `${o.kind} ${o.metadata.name}`).toEqual([]);
    }
  });

  it('the schema check can fail: a v1beta2-era field and a bad listener type are reported', () => {
    const { kafka, topics } = build({ topics: [{ name: 'a' }] });
    expect(validateManifest({ ...kafka, spec: { ...kafka.spec, kafka: { ...kafka.spec.kafka, replicas: 3 } } })).toContain('spec.kafka.replicas: unknown field');
    expect(validateManifest({ ...kafka, apiVersion: 'kafka.strimzi.io/v1beta2' })[0]).toMatch(/not a version of Kafka|not served/);
    const badListener = { ...kafka.spec.kafka.listeners[0], type: 'private' };
    expect(validateManifest({ ...kafka, spec: { ...kafka.spec, kafka: { ...kafka.spec.kafka, listeners: [badListener] } } }).join('\n')).toMatch(/listeners\[0\]\.type/);
    expect(validateManifest({ ...topics[0], spec: { ...topics[0]!.spec, partitions: '3' } }).join('\n')).toMatch(/spec\.partitions: must be integer/);
  });

  // The fixtures hold no KafkaNodePool CRD (../shared/crds/README.md: only kafkas and kafkatopics),
  // yet Strimzi 1.x cannot run a cluster without node pools. This says so, and checks each pool
  // against NODE_POOL_SCHEMA (test/crd-hand-checked.ts), written by hand from upstream strimzi/strimzi-kafka-operator
  // install/cluster-operator/04A-Crd-kafkanodepool.yaml (spec.replicas ≥ 0, roles ⊆ {controller,
  // broker}, storage types and volume fields, resources) and the 1.x example
  // packaging/examples/kafka/kafka-persistent.yaml (`kafka.strimzi.io/v1`, `strimzi.io/cluster`
  // label), limited to the fields the component renders and closed to anything else.
  it('KafkaNodePool has no CRD fixture: validated against a hand-checked schema of kafka.strimzi.io/v1 instead', () => {
    const pools = [...build().pools, ...build({ brokers: 2, controllers: 1, storageClass: 'gp3' }).pools];
    expect(pools).toHaveLength(3);
    const validate = new Ajv({ allErrors: true, strict: true }).compile(NODE_POOL_SCHEMA);
    for (const p of pools) {
      expect(validateManifest(p)).toEqual([expect.stringContaining('no CRD fixture for kafka.strimzi.io/v1 KafkaNodePool')]);
      expect(validate(p), `${p.metadata.name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    // …and that schema can fail.
    const p = pools[0]!;
    expect(validate({ ...p, spec: { ...p.spec, roles: ['leader'] } })).toBe(false);
    expect(validate({ ...p, metadata: { ...p.metadata, labels: {} } })).toBe(false);
    expect(validate({ ...p, spec: { ...p.spec, replicaCount: 3 } })).toBe(false);
  });

  it('passes every project policy with no exception', () => {
    const { objects } = build({ topics: AION_TOPICS, concerns: ['AION-2'] });
    for (const tier of ['development', 'production'] as const) {
      const vs = evaluate(objects as never, { tier, registry: undefined });
      expect(blocking(vs), tier).toEqual([]);
      expect(vs, tier).toEqual([]);
    }
    for (const o of objects) expect(Object.keys(o.metadata.annotations ?? {}).filter((k) => k.startsWith('exception.stackbook.io/'))).toEqual([]);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(build({ topics: AION_TOPICS }).objects)).toBe(JSON.stringify(build({ topics: AION_TOPICS }).objects));
  });
});

describe('Kafka rejects props it cannot render safely', () => {
  it.each([0, -1, 2.5])('brokers %s', (brokers) => {
    rejects({ brokers, controllers: 1 }, 'brokers', String(brokers));
  });

  it('an even number of dual-role nodes (no KRaft majority), and even or zero controllers', () => {
    const e = rejects({ brokers: 2 }, 'brokers', '2');
    expect(e.message).toContain('set `controllers`');
    rejects({ brokers: 3, controllers: 2 }, 'controllers', '2');
    rejects({ brokers: 3, controllers: 0 }, 'controllers', '0');
  });

  it('replication factor above the broker count or below 1', () => {
    rejects({ brokers: 3, replicationFactor: 4 }, 'replicationFactor', '4');
    rejects({ replicationFactor: 0 }, 'replicationFactor', '0');
  });

  it('min.insync.replicas not below the replication factor (one broker down would stop producers), or above it', () => {
    const e = rejects({ replicationFactor: 3, minInsyncReplicas: 3 }, 'minInsyncReplicas', '3');
    expect(e.message).toContain('must be below replicationFactor (3)');
    rejects({ replicationFactor: 2, minInsyncReplicas: 3 }, 'minInsyncReplicas', '3');
    rejects({ minInsyncReplicas: 0 }, 'minInsyncReplicas', '0');
  });

  it('topics: bad names, duplicates and . / _ collisions', () => {
    rejects({ topics: [{ name: 'bad topic' }] }, 'topics[].name', '"bad topic"');
    rejects({ topics: [{ name: '..' }] }, 'topics[].name', '".."');
    rejects({ topics: [{ name: 'a.b' }, { name: 'a.b' }] }, 'topics[].name', '"a.b"');
    const e = rejects({ topics: [{ name: 'a.b' }, { name: 'a_b' }] }, 'topics[].name', '"a_b"');
    expect(e.message).toContain('collides with "a.b"');
  });

  it('topic partitions, replicas above the broker count or below min.insync.replicas', () => {
    rejects({ topics: [{ name: 't', partitions: 0 }] }, 'topics.t.partitions', '0');
    rejects({ topics: [{ name: 't', replicas: 4 }] }, 'topics.t.replicas', '4');
    const e = rejects({ topics: [{ name: 't', replicas: 1 }] }, 'topics.t.replicas', '1');
    expect(e.message).toContain('min.insync.replicas (2)');
    rejects({ topics: [{ name: 't', replicas: 2, config: { 'min.insync.replicas': 3 } }] }, 'topics.t.replicas', '2');
  });

  it('topic retention: exclusive units, positive integers, not through config', () => {
    rejects({ topics: [{ name: 't', retentionDays: 1, retentionHours: 1 }] }, 'topics.t.retentionDays', '1');
    rejects({ topics: [{ name: 't', retentionHours: 0 }] }, 'topics.t.retentionHours', '0');
    rejects({ topics: [{ name: 't', retentionDays: 1.5 }] }, 'topics.t.retentionDays', '1.5');
    rejects({ topics: [{ name: 't', config: { 'retention.ms': 1000 } }] }, 'topics.t.config.retention.ms', '1000');
  });

  it('no clients (an empty networkPolicyPeers admits everyone), or an empty pod selector', () => {
    rejects({ clients: [] }, 'clients', '[]');
    rejects({ clients: [{ pods: {} }] }, 'clients', '{}');
  });

  it('Kubernetes API CIDRs: required and well-formed', () => {
    rejects({ kubeApiCidrs: [] }, 'kubeApiCidrs', '[]');
    rejects({ kubeApiCidrs: ['api.example.com'] }, 'kubeApiCidrs', '"api.example.com"');
  });

  it('storage, resources, image, rack key, regexes and labels', () => {
    rejects({ storageSize: '100Mi' }, 'storageSize', '"100Mi"');
    rejects({ controllerStorageSize: 'big' }, 'controllerStorageSize', '"big"');
    rejects({ resources: { cpuRequest: '4', cpuLimit: '2', memoryRequest: '2Gi', memoryLimit: '2Gi' } }, 'resources.cpuRequest', '"4"');
    rejects({ operatorResources: { cpuRequest: '100m', cpuLimit: '500m', memoryRequest: 'x', memoryLimit: '512Mi' } }, 'operatorResources.memoryRequest', '"x"');
    rejects({ image: 'quay.io/strimzi/kafka:bad tag' }, 'image', '"quay.io/strimzi/kafka:bad tag"');
    rejects({ image: 'Quay.io/Strimzi/Kafka' }, 'image', '"Quay.io/Strimzi/Kafka"');
    rejects({ rackTopologyKey: 'zone label' }, 'rackTopologyKey', '"zone label"');
    rejects({ exporterGroupRegex: '(' }, 'exporterGroupRegex', '"("');
    rejects({ metricsAllowList: [] }, 'metricsAllowList', '[]');
    rejects({ metricsAllowList: ['['] }, 'metricsAllowList', '"["');
    rejects({ prometheusSelector: 'prometheus' }, 'prometheusSelector', '"prometheus"');
  });

  it('a cluster name that leaves no room for Strimzi suffixes', () => {
    const name = 'k'.repeat(41);
    expect(errorOf(() => build({ name })).message).toBe(`Kafka "${name}": name must be a DNS-1123 label of at most 40 characters (got "${name}")`);
  });
});

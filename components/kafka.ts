/**
 * Kafka on Strimzi 1.2 (`kafka.strimzi.io/v1`, KRaft only): the `Kafka` cluster, its
 * `KafkaNodePool`s, one `KafkaTopic` per declared topic, the egress/monitoring NetworkPolicies the
 * operator does not create, a PodMonitor, and a consumer-lag alert helper.
 *
 * What Strimzi 1.x requires, checked against the 1.2.0 CRDs in `../shared/crds/strimzi` and the
 * upstream 1.x examples (`packaging/examples/kafka/kafka-persistent.yaml`):
 * - Only `kafka.strimzi.io/v1` is served; ZooKeeper is gone, every cluster is KRaft, and the nodes
 *   come from `KafkaNodePool` resources (labelled `strimzi.io/cluster: <kafka>`): `spec.kafka` has
 *   no `replicas`, `storage` or `resources` any more. The v1beta2-era annotations
 *   `strimzi.io/node-pools` / `strimzi.io/kraft` are not needed. Each pool has `replicas`, `roles`
 *   (`controller`, `broker` or both) and `storage`; the upstream examples use JBOD with one
 *   persistent volume holding the KRaft metadata (`kraftMetadata: shared`). The fixtures have no
 *   KafkaNodePool CRD: its shape is checked in the tests against a hand-checked schema.
 * - `spec.kafka.version` 4.3.1 (the newest Kafka Strimzi 1.2.0 supports) with `metadataVersion`
 *   `4.3-IV0`, pinned so an operator upgrade never upgrades Kafka implicitly. The operator maps the
 *   version to its own image `quay.io/strimzi/kafka:1.2.0-kafka-4.3.1` (Strimzi's images are the
 *   only ones its operator supports); `image` overrides it, for a digest or an air-gapped mirror.
 * - Network: Strimzi creates an ingress NetworkPolicy per cluster (replication 9091 and controller
 *   9090 from its own pods and the cluster operator; each listener from `networkPolicyPeers`,
 *   everyone when empty, so the clients list is required and never empty; metrics 9404). It creates
 *   no egress rules: in a default-deny namespace the brokers, entity operator and exporter need the
 *   policies rendered here (DNS, brokers on 9090/9091, the Kubernetes API for the entity operator
 *   and for rack awareness' init container, Prometheus in on 9404).
 * - Metrics: `strimziMetricsReporter` (Strimzi's native Prometheus reporter, what the upstream 1.x
 *   examples use; no JMX exporter ConfigMap) on the `tcp-prometheus` port 9404, and Kafka Exporter
 *   for consumer-group lag (`kafka_consumergroup_lag`), both scraped by one PodMonitor.
 * - Pod security through the CR templates: pod `runAsNonRoot` + seccomp RuntimeDefault, containers
 *   restricted (read-only root FS: Strimzi mounts `/tmp` itself). Strimzi 1.2 no longer auto-mounts
 *   service-account tokens (it projects one where a container needs it).
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, parseLabel, trace } from './meta.js';
import type { Peer } from './network-policy.js';
import { PrometheusRules, type AlertRule } from './monitoring.js';
import type { WorkloadResources } from './workload.js';
import {
  checkName,
  checkSubdomain,
  dnsEgress,
  egressRule,
  ingressRule,
  kubeApiEgress,
  resourcesOf,
  restrictedContainer,
  ruleOf,
  storageSizeOf,
  tcp,
} from './operand.js';
import { isDnsSubdomain } from '../kube/names.js';

const C = 'Kafka';

export const STRIMZI_VERSION = '1.2.0';
export const KAFKA_VERSION = '4.3.1';
export const KAFKA_METADATA_VERSION = '4.3-IV0';
/** The broker image the operator uses for `KAFKA_VERSION` (repository + tag, the shape of a stack `ImageRef`). */
export const KAFKA_IMAGE = { repository: 'quay.io/strimzi/kafka', tag: `${STRIMZI_VERSION}-kafka-${KAFKA_VERSION}` } as const;
/** Ports of the broker pods (Strimzi's fixed internal ports and the listeners rendered here). */
export const KAFKA_PORTS = { controller: 9090, replication: 9091, plain: 9092, tls: 9093, metrics: 9404 } as const;

export interface KafkaTopicSpec {
  /** Kafka topic name, e.g. `aion.metrics.runtime`. */
  readonly name: string;
  /** @default 3 */
  readonly partitions?: number;
  /** Replication factor, ≤ broker count. @default the cluster's `replicationFactor` */
  readonly replicas?: number;
  /** Retention in hours (`retention.ms`). Exclusive with `retentionDays`. @default 168 (7 days) */
  readonly retentionHours?: number;
  /** Retention in days (`retention.ms`). Exclusive with `retentionHours`. @default 7 days via retentionHours */
  readonly retentionDays?: number;
  /** Further topic config (`cleanup.policy`, `min.insync.replicas`…). @default none */
  readonly config?: Readonly<Record<string, string | number | boolean>>;
  /** Catalog concerns of this topic (e.g. AION-5, AION-7). @default the component's `concerns` */
  readonly concerns?: readonly string[];
}

export interface KafkaProps {
  /** Kafka cluster name (Services `<name>-kafka-bootstrap`, label `strimzi.io/cluster`). */
  readonly name: string;
  readonly namespace: string;
  /** Broker count. Also the controller quorum when `controllers` is unset (dual-role nodes). @default 3 */
  readonly brokers?: number;
  /** Dedicated KRaft controllers (odd: 1, 3, 5). @default none (the brokers are also controllers) */
  readonly controllers?: number;
  /** Broker image (a digest or a mirror of `KAFKA_IMAGE`). @default the operator's image for `KAFKA_VERSION` */
  readonly image?: string;
  /** `default.replication.factor`, `offsets.topic.replication.factor`, `transaction.state.log.replication.factor`. @default min(3, brokers) */
  readonly replicationFactor?: number;
  /** `min.insync.replicas` and `transaction.state.log.min.isr`; < replicationFactor unless it is 1. @default max(1, replicationFactor − 1) */
  readonly minInsyncReplicas?: number;
  /** Data volume per broker. @default 20Gi */
  readonly storageSize?: string;
  /** Metadata volume per dedicated controller. @default 5Gi */
  readonly controllerStorageSize?: string;
  /** @default the cluster's default StorageClass */
  readonly storageClass?: string;
  /** Per broker. @default 500m / 2 CPU, 2Gi / 2Gi memory */
  readonly resources?: WorkloadResources;
  /** Per dedicated controller. @default 250m / 1 CPU, 1Gi / 1Gi memory */
  readonly controllerResources?: WorkloadResources;
  /** Client authentication on the TLS listener (9093): mutual TLS or SCRAM-SHA-512 (credentials from KafkaUser Secrets). @default tls */
  readonly authentication?: 'tls' | 'scram-sha-512';
  /** Kafka ACLs (`simple`): each client needs a KafkaUser with ACLs. `none` lets any authenticated client do anything. @default simple */
  readonly authorization?: 'simple' | 'none';
  /** Also open a plain-text listener on 9092 (no TLS, no authentication): for development only. @default false */
  readonly plainListener?: boolean;
  /** Workloads allowed to connect to the listeners (Strimzi's `networkPolicyPeers`; at least one). */
  readonly clients: readonly Peer[];
  /** Spread brokers over racks (`broker.rack` from this node label; its init container needs the Kubernetes API). @default none */
  readonly rackTopologyKey?: string;
  /** Topics declared as KafkaTopic resources (`auto.create.topics.enable` is false). @default none */
  readonly topics?: readonly KafkaTopicSpec[];
  /** Deploy Kafka Exporter (consumer-group lag metrics). @default true */
  readonly kafkaExporter?: boolean;
  /** Consumer groups Kafka Exporter reports. @default .* */
  readonly exporterGroupRegex?: string;
  /** Metric name patterns the Strimzi metrics reporter exposes. @default the reporter's default (all) */
  readonly metricsAllowList?: readonly string[];
  /** Topic/User Operator and Kafka Exporter containers, each. @default 100m / 500m CPU, 256Mi / 512Mi memory */
  readonly operatorResources?: WorkloadResources;
  /** Kubernetes API server endpoint CIDRs (the entity operator needs the API). */
  readonly kubeApiCidrs: readonly string[];
  /** API server ports as seen after the Service DNAT. @default [443, 6443] */
  readonly kubeApiPorts?: readonly number[];
  /** Namespace of Prometheus (scrapes 9404). @default monitoring */
  readonly monitoringNamespace?: string;
  /** @default kube-system */
  readonly dnsNamespace?: string;
  /** @default k8s-app=kube-dns */
  readonly dnsPodLabel?: string;
  /** Render a PodMonitor for brokers and Kafka Exporter. @default true */
  readonly podMonitor?: boolean;
  /** Label selecting the PodMonitor into Prometheus. @default release=prometheus */
  readonly prometheusSelector?: string;
  /** Catalog concerns carried by every object (the service decides, e.g. AION-2, AION-5). @default none */
  readonly concerns?: readonly string[];
  /** Runbook URL of the broker alerts (`<name>-brokers`, on Kafka Exporter's metrics); none without it or without the exporter. @default none */
  readonly runbookUrl?: string;
}

const DEFAULT_BROKER_RESOURCES: WorkloadResources = { cpuRequest: '500m', cpuLimit: '2', memoryRequest: '2Gi', memoryLimit: '2Gi' };
const DEFAULT_CONTROLLER_RESOURCES: WorkloadResources = { cpuRequest: '250m', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1Gi' };
const DEFAULT_OPERATOR_RESOURCES: WorkloadResources = { cpuRequest: '100m', cpuLimit: '500m', memoryRequest: '256Mi', memoryLimit: '512Mi' };
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const HOUR_MS = 3_600_000;

/** Pod-level restricted profile for every Strimzi pod template. fsGroup 0: Strimzi's images own their data directories by group 0. */
function restrictedPod(): Record<string, unknown> {
  return { runAsNonRoot: true, fsGroup: 0, seccompProfile: { type: 'RuntimeDefault' } };
}

/** A Kubernetes object name for a topic: the topic name when it is one, else a sanitized form. */
export function topicResourceName(topic: string): string {
  if (isDnsSubdomain(topic)) return topic;
  const base = topic.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/\.{2,}/g, '.').replace(/^[-.]+|[-.]+$/g, '');
  let h = 0;
  for (const ch of topic) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `${(base || 'topic').slice(0, 240)}-${h.toString(16).padStart(8, '0')}`;
}

interface RenderedTopic {
  readonly resourceName: string;
  readonly spec: Record<string, unknown>;
  readonly concerns: readonly string[];
}

/** A Strimzi Kafka cluster (KRaft, node pools), its topics and network/monitoring glue. */
export class Kafka extends Construct {
  readonly name: string;
  readonly namespace: string;
  /** `<name>-kafka-bootstrap:9093` (TLS). */
  readonly bootstrapTls: string;
  readonly kafka: ApiObject;
  readonly nodePools: readonly ApiObject[];
  readonly topics: readonly ApiObject[];
  readonly networkPolicies: readonly k8s.KubeNetworkPolicy[];
  readonly podMonitor?: ApiObject;
  /** The broker alerts (with `runbookUrl` and Kafka Exporter). */
  readonly brokerRules?: PrometheusRules;

  constructor(scope: Construct, id: string, props: KafkaProps) {
    super(scope, id);
    const n = props.name;
    // Pods are `<name>-<pool>-<id>`, Services `<name>-kafka-bootstrap`: keep room for the suffixes.
    checkName(C, n, 'name', n, 40);
    checkName(C, n, 'namespace', props.namespace);
    const brokers = props.brokers ?? 3;
    if (!Number.isInteger(brokers) || brokers < 1) throw new ComponentError(C, n, 'brokers', 'must be an integer ≥ 1', brokers);
    const controllers = props.controllers;
    if (controllers !== undefined && (!Number.isInteger(controllers) || controllers < 1 || controllers % 2 === 0)) {
      throw new ComponentError(C, n, 'controllers', 'must be an odd integer (1, 3, 5): a KRaft quorum needs a majority', controllers);
    }
    if (controllers === undefined && brokers % 2 === 0) {
      throw new ComponentError(C, n, 'brokers', 'must be odd when the brokers are also the KRaft controllers (set `controllers` for an even broker count)', brokers);
    }
    const rf = props.replicationFactor ?? Math.min(3, brokers);
    if (!Number.isInteger(rf) || rf < 1 || rf > brokers) throw new ComponentError(C, n, 'replicationFactor', `must be an integer from 1 to the broker count (${brokers})`, rf);
    const minIsr = props.minInsyncReplicas ?? Math.max(1, rf - 1);
    if (!Number.isInteger(minIsr) || minIsr < 1 || minIsr > rf) throw new ComponentError(C, n, 'minInsyncReplicas', `must be an integer from 1 to replicationFactor (${rf})`, minIsr);
    if (rf > 1 && minIsr >= rf) {
      throw new ComponentError(C, n, 'minInsyncReplicas', `must be below replicationFactor (${rf}), or one broker down stops every acks=all producer`, minIsr);
    }
    if (props.image !== undefined && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/.test(props.image)) {
      throw new ComponentError(C, n, 'image', 'must be an image reference (repository[:tag][@sha256:…])', props.image);
    }
    const storageSize = storageSizeOf(C, n, 'storageSize', props.storageSize ?? '20Gi');
    const controllerStorageSize = storageSizeOf(C, n, 'controllerStorageSize', props.controllerStorageSize ?? '5Gi');
    if (props.storageClass !== undefined) checkSubdomain(C, n, 'storageClass', props.storageClass);
    const brokerResources = resourcesOf(C, n, 'resources', props.resources ?? DEFAULT_BROKER_RESOURCES);
    const controllerResources = resourcesOf(C, n, 'controllerResources', props.controllerResources ?? DEFAULT_CONTROLLER_RESOURCES);
    const operatorResources = resourcesOf(C, n, 'operatorResources', props.operatorResources ?? DEFAULT_OPERATOR_RESOURCES);
    if (props.clients.length === 0) throw new ComponentError(C, n, 'clients', 'must name at least one client workload (an empty networkPolicyPeers list admits everyone)', []);
    const clientPeers = ruleOf(C, n, 'clients', props.clients, tcp(KAFKA_PORTS.tls)).peers;
    if (props.rackTopologyKey !== undefined && !/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(props.rackTopologyKey)) {
      throw new ComponentError(C, n, 'rackTopologyKey', 'must be a node label key such as topology.kubernetes.io/zone', props.rackTopologyKey);
    }
    const exporter = props.kafkaExporter ?? true;
    const groupRegex = props.exporterGroupRegex ?? '.*';
    try {
      new RegExp(groupRegex);
    } catch {
      throw new ComponentError(C, n, 'exporterGroupRegex', 'is not a regular expression', groupRegex);
    }
    if (props.metricsAllowList !== undefined) {
      if (props.metricsAllowList.length === 0) throw new ComponentError(C, n, 'metricsAllowList', 'must hold at least one pattern (omit it for the default)', []);
      for (const p of props.metricsAllowList) {
        try {
          new RegExp(p);
        } catch {
          throw new ComponentError(C, n, 'metricsAllowList', 'holds a pattern that is not a regular expression', p);
        }
      }
    }
    const authentication = props.authentication ?? 'tls';
    const authorization = props.authorization ?? 'simple';
    const monitoringNamespace = props.monitoringNamespace ?? 'monitoring';
    checkName(C, n, 'monitoringNamespace', monitoringNamespace);
    const prometheusLabels = parseLabel(C, n, 'prometheusSelector', props.prometheusSelector ?? 'release=prometheus');
    const concerns = props.concerns ?? [];

    // ---- topics (validated before anything renders)
    const seenTopics = new Map<string, string>();
    const topics: RenderedTopic[] = (props.topics ?? []).map((t) => {
      const field = `topics.${t.name}`;
      if (!TOPIC_NAME.test(t.name) || t.name === '.' || t.name === '..') throw new ComponentError(C, n, 'topics[].name', 'must be 1–249 of [A-Za-z0-9._-] (and not . or ..)', t.name);
      // Kafka treats `.` and `_` alike in metric names and refuses topics that collide that way.
      const collisionKey = t.name.replace(/\./g, '_');
      if (seenTopics.has(collisionKey)) throw new ComponentError(C, n, 'topics[].name', `is declared twice (or collides with "${seenTopics.get(collisionKey)}": "." and "_" clash in Kafka)`, t.name);
      seenTopics.set(collisionKey, t.name);
      const partitions = t.partitions ?? 3;
      if (!Number.isInteger(partitions) || partitions < 1) throw new ComponentError(C, n, `${field}.partitions`, 'must be an integer ≥ 1', partitions);
      const replicas = t.replicas ?? rf;
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > brokers) throw new ComponentError(C, n, `${field}.replicas`, `must be an integer from 1 to the broker count (${brokers})`, replicas);
      const topicMinIsr = Number(t.config?.['min.insync.replicas'] ?? minIsr);
      if (!Number.isInteger(topicMinIsr) || topicMinIsr < 1 || topicMinIsr > replicas) {
        throw new ComponentError(C, n, `${field}.replicas`, `must be at least min.insync.replicas (${topicMinIsr}), or acks=all producers can never write`, replicas);
      }
      if (t.retentionHours !== undefined && t.retentionDays !== undefined) {
        throw new ComponentError(C, n, `${field}.retentionDays`, 'and retentionHours are exclusive: set one', t.retentionDays);
      }
      for (const [prop, v] of [['retentionHours', t.retentionHours], ['retentionDays', t.retentionDays]] as const) {
        if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new ComponentError(C, n, `${field}.${prop}`, 'must be a positive integer', v);
      }
      if (t.config && 'retention.ms' in t.config) throw new ComponentError(C, n, `${field}.config.retention.ms`, 'is set through retentionHours/retentionDays', t.config['retention.ms']);
      const retentionMs = t.retentionDays !== undefined ? t.retentionDays * 24 * HOUR_MS : (t.retentionHours ?? 168) * HOUR_MS;
      const resourceName = topicResourceName(t.name);
      const config: Record<string, string | number | boolean> = { ...t.config, 'retention.ms': retentionMs };
      return {
        resourceName,
        concerns: t.concerns ?? concerns,
        spec: {
          ...(resourceName !== t.name ? { topicName: t.name } : {}),
          partitions,
          replicas,
          config: Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]!])),
        },
      };
    });
    const names = new Set<string>();
    for (const t of topics) {
      if (names.has(t.resourceName)) throw new ComponentError(C, n, 'topics[].name', 'maps to a KafkaTopic name already used', t.resourceName);
      names.add(t.resourceName);
    }

    // ---- network (validated before anything renders)
    const brokerPods = { 'strimzi.io/name': `${n}-kafka` };
    const entityOperatorPods = `${n}-entity-operator`;
    const apiUsers = props.rackTopologyKey ? [entityOperatorPods, `${n}-kafka`] : [entityOperatorPods];
    const dns = dnsEgress(C, n, props.dnsNamespace, props.dnsPodLabel);
    const api = kubeApiEgress(C, n, props.kubeApiCidrs, props.kubeApiPorts ?? [443, 6443]);
    const toBrokers = egressRule(ruleOf(C, n, 'brokers', [{ pods: brokerPods }], tcp(KAFKA_PORTS.controller, KAFKA_PORTS.replication)));
    const fromPrometheus = ingressRule(ruleOf(C, n, 'monitoring', [{ namespace: monitoringNamespace }], tcp(KAFKA_PORTS.metrics)));

    this.name = n;
    this.namespace = props.namespace;
    this.bootstrapTls = `${n}-kafka-bootstrap:${KAFKA_PORTS.tls}`;

    // ---- node pools
    const volume = (size: string) => ({
      type: 'jbod',
      volumes: [{ id: 0, type: 'persistent-claim', size, ...(props.storageClass ? { class: props.storageClass } : {}), deleteClaim: false, kraftMetadata: 'shared' }],
    });
    const pool = (poolName: string, replicas: number, roles: string[], size: string, resources: unknown): ApiObject =>
      new ApiObject(this, `Pool-${poolName}`, {
        apiVersion: 'kafka.strimzi.io/v1',
        kind: 'KafkaNodePool',
        metadata: { name: poolName, namespace: props.namespace, labels: { 'strimzi.io/cluster': n } },
        spec: { replicas, roles, storage: volume(size), resources },
      });
    this.nodePools =
      controllers === undefined
        ? [pool('dual-role', brokers, ['controller', 'broker'], storageSize, brokerResources)]
        : [pool('controller', controllers, ['controller'], controllerStorageSize, controllerResources), pool('broker', brokers, ['broker'], storageSize, brokerResources)];

    // ---- the cluster
    const listeners: Record<string, unknown>[] = [
      { name: 'tls', port: KAFKA_PORTS.tls, type: 'internal', tls: true, authentication: { type: authentication }, networkPolicyPeers: clientPeers },
    ];
    if (props.plainListener) listeners.unshift({ name: 'plain', port: KAFKA_PORTS.plain, type: 'internal', tls: false, networkPolicyPeers: clientPeers });
    const config = {
      'auto.create.topics.enable': false,
      'default.replication.factor': rf,
      'min.insync.replicas': minIsr,
      'offsets.topic.replication.factor': rf,
      'transaction.state.log.min.isr': minIsr,
      'transaction.state.log.replication.factor': rf,
    };
    this.kafka = new ApiObject(this, 'Kafka', {
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'Kafka',
      metadata: { name: n, namespace: props.namespace },
      spec: {
        kafka: {
          version: KAFKA_VERSION,
          metadataVersion: KAFKA_METADATA_VERSION,
          ...(props.image ? { image: props.image } : {}),
          listeners,
          ...(authorization === 'simple' ? { authorization: { type: 'simple' } } : {}),
          config,
          ...(props.rackTopologyKey ? { rack: { type: 'topology-label', topologyKey: props.rackTopologyKey } } : {}),
          metricsConfig: {
            type: 'strimziMetricsReporter',
            ...(props.metricsAllowList ? { values: { allowList: [...props.metricsAllowList] } } : {}),
          },
          template: {
            pod: { securityContext: restrictedPod() },
            kafkaContainer: { securityContext: restrictedContainer() },
            ...(props.rackTopologyKey ? { initContainer: { securityContext: restrictedContainer() } } : {}),
          },
        },
        entityOperator: {
          topicOperator: { resources: operatorResources },
          userOperator: { resources: operatorResources },
          template: {
            pod: { securityContext: restrictedPod() },
            topicOperatorContainer: { securityContext: restrictedContainer() },
            userOperatorContainer: { securityContext: restrictedContainer() },
          },
        },
        ...(exporter
          ? {
              kafkaExporter: {
                groupRegex,
                topicRegex: '.*',
                resources: operatorResources,
                template: { pod: { securityContext: restrictedPod() }, container: { securityContext: restrictedContainer() } },
              },
            }
          : {}),
      },
    });
    trace(this.kafka, 'X-1', ...concerns);
    if (concerns.length > 0) trace(this.nodePools, ...concerns);

    this.topics = topics.map((t) => {
      const o = new ApiObject(this, `Topic-${t.resourceName}`, {
        apiVersion: 'kafka.strimzi.io/v1',
        kind: 'KafkaTopic',
        metadata: { name: t.resourceName, namespace: props.namespace, labels: { 'strimzi.io/cluster': n } },
        spec: t.spec,
      });
      if (t.concerns.length > 0) trace(o, ...t.concerns);
      return o;
    });

    // ---- network policies: what Strimzi's own (ingress-only) policies leave out
    const policies = [
      new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
        metadata: { name: `${n}-kafka`, namespace: props.namespace },
        spec: {
          podSelector: { matchLabels: { 'strimzi.io/cluster': n } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [fromPrometheus],
          egress: [dns, toBrokers],
        },
      }),
      new k8s.KubeNetworkPolicy(this, 'ApiPolicy', {
        metadata: { name: `${n}-kafka-api`, namespace: props.namespace },
        spec: {
          podSelector: {
            matchLabels: { 'strimzi.io/cluster': n },
            matchExpressions: [{ key: 'strimzi.io/name', operator: 'In', values: apiUsers }],
          },
          policyTypes: ['Egress'],
          egress: [api],
        },
      }),
    ];
    this.networkPolicies = policies;
    trace(policies, 'X-3', ...concerns);

    if (props.podMonitor ?? true) {
      this.podMonitor = new ApiObject(this, 'PodMonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PodMonitor',
        metadata: { name: `${n}-kafka`, namespace: props.namespace, labels: prometheusLabels },
        spec: {
          // Brokers and Kafka Exporter both serve `tcp-prometheus`; the entity operator has no such port.
          selector: { matchLabels: { 'strimzi.io/cluster': n, 'strimzi.io/kind': 'Kafka' } },
          podMetricsEndpoints: [{ port: 'tcp-prometheus', path: '/metrics', interval: '30s' }],
        },
      });
      trace(this.podMonitor, 'X-8', ...concerns);
    }
    if (props.runbookUrl !== undefined && exporter) {
      this.brokerRules = new PrometheusRules(this, 'BrokerRules', {
        name: `${n}-brokers`,
        namespace: props.namespace,
        rules: kafkaBrokerAlerts({ name: n, namespace: props.namespace, brokers: props.brokers ?? 3, runbookUrl: props.runbookUrl }),
        ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
        concerns: ['X-8', ...concerns],
      });
    }
  }
}

/**
 * Broker alerts of Kafka cluster `name` (issue 14: each store ships its own), on Kafka Exporter's
 * metrics (danielqsj/kafka_exporter, deployed by Strimzi as `<name>-kafka-exporter`, scraped by the
 * PodMonitor): `kafka_brokers` (brokers in the cluster metadata) and
 * `kafka_topic_partition_under_replicated_partition` (1 per under-replicated partition).
 */
export function kafkaBrokerAlerts(o: { name: string; namespace: string; brokers: number; runbookUrl: string }): AlertRule[] {
  const sel = `namespace="${o.namespace}",pod=~"${o.name}-kafka-exporter-.*"`;
  const labels = { namespace: o.namespace };
  return [
    {
      alert: 'KafkaBrokersMissing',
      expr: `max(kafka_brokers{${sel}}) < ${o.brokers}`,
      for: '10m',
      severity: 'warning',
      summary: `Kafka ${o.namespace}/${o.name}: a broker is missing from the cluster metadata`,
      description: 'A broker has left the cluster metadata: its partitions run on fewer replicas, and one more loss can stop acks=all producers. Look at the broker pods and their volumes.',
      runbookUrl: o.runbookUrl,
      labels,
    },
    {
      alert: 'KafkaUnderReplicatedPartitions',
      expr: `sum(kafka_topic_partition_under_replicated_partition{${sel}}) > 0`,
      for: '10m',
      severity: 'warning',
      summary: `Kafka ${o.namespace}/${o.name} has under-replicated partitions`,
      description: 'Some partitions have replicas out of sync for 10 minutes: a broker is down, slow or out of disk. Another failure can lose acknowledged writes.',
      runbookUrl: o.runbookUrl,
      labels,
    },
    {
      alert: 'KafkaExporterMetricsAbsent',
      expr: `absent(kafka_brokers{${sel}})`,
      for: '15m',
      severity: 'warning',
      summary: `Kafka ${o.namespace}/${o.name}: no Kafka Exporter metrics`,
      description: 'Kafka Exporter is not scraped: the broker and consumer-lag alerts cannot fire. Look at the kafka-exporter pod and the PodMonitor.',
      runbookUrl: o.runbookUrl,
      labels,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Consumer lag alert (Kafka Exporter's `kafka_consumergroup_lag`)

export interface ConsumerLagAlertProps {
  /** Consumer group id, e.g. `control-plane`. */
  readonly group: string;
  /** Absolute runbook URL of this alert. */
  readonly runbookUrl: string;
  /** Lag (messages, summed over the partitions of a topic) above which the alert fires. @default 1000 */
  readonly threshold?: number;
  /** How long the lag must stay above the threshold. @default 10m */
  readonly for?: string;
  /** @default warning */
  readonly severity?: AlertRule['severity'];
  /** Extra label matchers, e.g. `{ namespace: 'aion' }`. @default none */
  readonly matchers?: Readonly<Record<string, string>>;
  /** Alert name. @default KafkaConsumerLag<Group in UpperCamelCase> */
  readonly alert?: string;
  /** Catalog concerns of the alert (e.g. AION-18). @default none */
  readonly concerns?: readonly string[];
}

const promString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * An alert on a consumer group's lag per topic, from Kafka Exporter (enabled by default in the
 * `Kafka` component). Goes into a `PrometheusRules` component's `rules`.
 */
export function consumerLagAlert(props: ConsumerLagAlertProps): AlertRule {
  const A = 'consumerLagAlert';
  if (props.group === '' || props.group.length > 255 || /[\n\r]/.test(props.group)) throw new ComponentError(A, props.group, 'group', 'must be a consumer group id (1–255 characters, one line)', props.group);
  const threshold = props.threshold ?? 1000;
  if (!Number.isInteger(threshold) || threshold < 1) throw new ComponentError(A, props.group, 'threshold', 'must be a positive integer (messages)', threshold);
  const matchers = props.matchers ?? {};
  for (const k of Object.keys(matchers)) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) || k === 'consumergroup') throw new ComponentError(A, props.group, `matchers.${k}`, 'must be a Prometheus label name other than consumergroup', k);
  }
  const camel = props.group
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
  const alert = props.alert ?? `KafkaConsumerLag${/^[A-Za-z]/.test(camel) ? camel : `Group${camel}`}`;
  const selector = [`consumergroup=${promString(props.group)}`, ...Object.keys(matchers).sort().map((k) => `${k}=${promString(matchers[k]!)}`)].join(',');
  return {
    alert,
    expr: `sum by (consumergroup, topic) (kafka_consumergroup_lag{${selector}}) > ${threshold}`,
    for: props.for ?? '10m',
    severity: props.severity ?? 'warning',
    summary: `Kafka consumer group ${props.group} is lagging`,
    description: `Consumer group ${props.group} is more than ${threshold} messages behind on topic {{ $labels.topic }} (now {{ $value }}). Check its consumers (kafka-consumer-groups.sh --describe --group ${props.group}) and the producers' rate.`,
    runbookUrl: props.runbookUrl,
    ...(props.concerns ? { concerns: props.concerns } : {}),
  };
}

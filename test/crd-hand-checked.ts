/**
 * Hand-written JSON schemas (ajv, strict mode) for the custom resource kinds the project renders
 * but for which /work/shared/crds holds no CRD fixture (its README: Strimzi only `kafkas` and
 * `kafkatopics`). Each was checked by hand against the upstream CRD named in `source`, limited to
 * the fields the project renders and closed to anything else (`additionalProperties: false`), so
 * a typo or a field of an older API version is still caught.
 *
 * Used by test/schema.ts (`invalidManifests`, together with the usual metadata checks), by
 * test/components/kafka.test.ts and by bundle.test.ts (plurals and served versions of these kinds).
 * `validateManifest` itself keeps reporting "no CRD fixture" for them.
 *
 * When a fixture for one of these kinds appears in /work/shared/crds, drop its entry here
 * (bundle.test.ts fails until then).
 */

const QUANTITIES = { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'integer' }] } };
const VOLUME = {
  type: 'object',
  required: ['type'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer', minimum: 0 },
    type: { enum: ['ephemeral', 'persistent-claim'] },
    size: { type: 'string' },
    sizeLimit: { type: 'string' },
    class: { type: 'string' },
    deleteClaim: { type: 'boolean' },
    kraftMetadata: { enum: ['shared'] },
  },
};

/** `metadata` of a Strimzi resource owned by a Kafka cluster: the `strimzi.io/cluster` label is required. */
const STRIMZI_METADATA = {
  type: 'object',
  required: ['name', 'namespace', 'labels'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    namespace: { type: 'string' },
    labels: { type: 'object', required: ['strimzi.io/cluster'], properties: { 'strimzi.io/cluster': { type: 'string', minLength: 1 } }, additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
};

/**
 * `kafka.strimzi.io/v1` KafkaNodePool, from upstream strimzi/strimzi-kafka-operator
 * install/cluster-operator/04A-Crd-kafkanodepool.yaml (spec.replicas ≥ 0, roles ⊆ {controller,
 * broker}, storage types and volume fields, resources) and the 1.x example
 * packaging/examples/kafka/kafka-persistent.yaml (`kafka.strimzi.io/v1`, `strimzi.io/cluster` label).
 */
export const NODE_POOL_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'kafka.strimzi.io/v1' },
    kind: { const: 'KafkaNodePool' },
    metadata: STRIMZI_METADATA,
    spec: {
      type: 'object',
      required: ['replicas', 'roles', 'storage'],
      additionalProperties: false,
      properties: {
        replicas: { type: 'integer', minimum: 0 },
        roles: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['controller', 'broker'] } },
        storage: {
          type: 'object',
          required: ['type'],
          additionalProperties: false,
          properties: {
            type: { enum: ['ephemeral', 'persistent-claim', 'jbod'] },
            volumes: { type: 'array', items: VOLUME },
            size: { type: 'string' },
            class: { type: 'string' },
            deleteClaim: { type: 'boolean' },
            kraftMetadata: { enum: ['shared'] },
          },
        },
        resources: { type: 'object', additionalProperties: false, properties: { requests: QUANTITIES, limits: QUANTITIES } },
      },
    },
  },
};

const ACL_OPERATIONS = ['Read', 'Write', 'Create', 'Delete', 'Alter', 'Describe', 'ClusterAction', 'AlterConfigs', 'DescribeConfigs', 'IdempotentWrite', 'All'];

/**
 * `kafka.strimzi.io/v1` KafkaUser, from upstream strimzi/strimzi-kafka-operator
 * install/cluster-operator/044-Crd-kafkauser.yaml: `spec.authentication.type` ∈ {tls, tls-external,
 * scram-sha-512} (required within authentication); `spec.authorization` requires `type: simple`
 * and `acls`; an ACL rule requires `resource` (`type` ∈ {topic, group, cluster, transactionalId}
 * required, `name`, `patternType` ∈ {literal, prefix}), with optional `type` ∈ {allow, deny},
 * `host` and `operations` (each one of the eleven Kafka operations); `spec.quotas` are integers ≥ 0
 * (`controllerMutationRate` a number ≥ 0). The singular `operation` of v1beta2 is gone in v1
 * (Strimzi 0.49 release notes: migrate to `operations` before the v1 API; 1.0 serves only v1), so
 * it is not accepted here. Authentication `password` and the Secret `template` are not rendered
 * by the project and left out (closed).
 */
export const KAFKA_USER_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'kafka.strimzi.io/v1' },
    kind: { const: 'KafkaUser' },
    metadata: STRIMZI_METADATA,
    spec: {
      type: 'object',
      additionalProperties: false,
      properties: {
        authentication: {
          type: 'object',
          required: ['type'],
          additionalProperties: false,
          properties: { type: { enum: ['tls', 'tls-external', 'scram-sha-512'] } },
        },
        authorization: {
          type: 'object',
          required: ['acls', 'type'],
          additionalProperties: false,
          properties: {
            type: { enum: ['simple'] },
            acls: {
              type: 'array',
              items: {
                type: 'object',
                required: ['resource'],
                additionalProperties: false,
                properties: {
                  type: { enum: ['allow', 'deny'] },
                  resource: {
                    type: 'object',
                    required: ['type'],
                    additionalProperties: false,
                    properties: {
                      name: { type: 'string' },
                      patternType: { enum: ['literal', 'prefix'] },
                      type: { enum: ['topic', 'group', 'cluster', 'transactionalId'] },
                    },
                  },
                  host: { type: 'string' },
                  operations: { type: 'array', items: { enum: ACL_OPERATIONS } },
                },
              },
            },
          },
        },
        quotas: {
          type: 'object',
          additionalProperties: false,
          properties: {
            producerByteRate: { type: 'integer', minimum: 0 },
            consumerByteRate: { type: 'integer', minimum: 0 },
            requestPercentage: { type: 'integer', minimum: 0 },
            controllerMutationRate: { type: 'number', minimum: 0 },
          },
        },
      },
    },
  },
};

const SECRET_KEY_REF = { type: 'object', required: ['key', 'name'], additionalProperties: false, properties: { key: { type: 'string' }, name: { type: 'string' } } };
/**
 * Barman Cloud plugin `ObjectStore` (barmancloud.cnpg.io/v1): `spec.configuration` is the
 * barman-cloud `BarmanObjectStoreConfiguration` (destinationPath, endpointURL, endpointCA,
 * s3Credentials, wal, data), plus `retentionPolicy` and `instanceSidecarConfiguration`; metadata
 * namespaced. Only the fields the project renders, closed.
 */
export const OBJECT_STORE_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'barmancloud.cnpg.io/v1' },
    kind: { const: 'ObjectStore' },
    metadata: {
      type: 'object',
      required: ['name', 'namespace'],
      properties: { name: { type: 'string' }, namespace: { type: 'string' }, labels: { type: 'object' }, annotations: { type: 'object' } },
      additionalProperties: false,
    },
    spec: {
      type: 'object',
      required: ['configuration'],
      additionalProperties: false,
      properties: {
        configuration: {
          type: 'object',
          required: ['destinationPath'],
          additionalProperties: false,
          properties: {
            destinationPath: { type: 'string', minLength: 1 },
            endpointURL: { type: 'string' },
            endpointCA: SECRET_KEY_REF,
            s3Credentials: {
              type: 'object',
              additionalProperties: false,
              properties: {
                accessKeyId: SECRET_KEY_REF,
                secretAccessKey: SECRET_KEY_REF,
                region: SECRET_KEY_REF,
                sessionToken: SECRET_KEY_REF,
                inheritFromIAMRole: { type: 'boolean' },
              },
            },
            wal: {
              type: 'object',
              additionalProperties: false,
              properties: {
                compression: { enum: ['bzip2', 'gzip', 'lz4', 'snappy', 'xz', 'zstd'] },
                encryption: { enum: ['AES256', 'aws:kms'] },
                maxParallel: { type: 'integer', minimum: 1 },
              },
            },
            data: {
              type: 'object',
              additionalProperties: false,
              properties: {
                compression: { enum: ['bzip2', 'gzip', 'snappy'] },
                encryption: { enum: ['AES256', 'aws:kms'] },
                immediateCheckpoint: { type: 'boolean' },
                jobs: { type: 'integer', minimum: 1 },
              },
            },
          },
        },
        retentionPolicy: { type: 'string', pattern: '^[1-9][0-9]*[dwm]$' },
        instanceSidecarConfiguration: {
          type: 'object',
          additionalProperties: false,
          properties: {
            resources: { type: 'object', additionalProperties: false, properties: { requests: QUANTITIES, limits: QUANTITIES } },
            logLevel: { enum: ['error', 'warning', 'info', 'debug', 'trace'] },
            retentionPolicyIntervalSeconds: { type: 'integer' },
          },
        },
      },
    },
  },
};

export interface HandCheckedCrd {
  readonly group: string;
  readonly kind: string;
  /** `spec.names.plural` of the upstream CRD. */
  readonly plural: string;
  readonly scope: 'Namespaced' | 'Cluster';
  /** Versions the upstream CRD serves (Strimzi 1.x: only `v1`). */
  readonly served: readonly string[];
  /** The upstream file the schema was checked against. */
  readonly source: string;
  /** A closed ajv schema of the whole object (apiVersion, kind, metadata, spec). */
  readonly schema: Record<string, unknown>;
}

const STRIMZI = 'strimzi/strimzi-kafka-operator 1.x install/cluster-operator';

/** `group/Kind` (as in bundle/prerequisites.ts PLURALS) → the hand-checked definition. */
export const HAND_CHECKED_CRDS: Readonly<Record<string, HandCheckedCrd>> = {
  'kafka.strimzi.io/KafkaNodePool': {
    group: 'kafka.strimzi.io',
    kind: 'KafkaNodePool',
    plural: 'kafkanodepools',
    scope: 'Namespaced',
    served: ['v1'],
    source: `${STRIMZI}/04A-Crd-kafkanodepool.yaml`,
    schema: NODE_POOL_SCHEMA,
  },
  'kafka.strimzi.io/KafkaUser': {
    group: 'kafka.strimzi.io',
    kind: 'KafkaUser',
    plural: 'kafkausers',
    scope: 'Namespaced',
    served: ['v1'],
    source: `${STRIMZI}/044-Crd-kafkauser.yaml`,
    schema: KAFKA_USER_SCHEMA,
  },
  'barmancloud.cnpg.io/ObjectStore': {
    group: 'barmancloud.cnpg.io',
    kind: 'ObjectStore',
    plural: 'objectstores',
    scope: 'Namespaced',
    served: ['v1'],
    source: 'cloudnative-pg/plugin-barman-cloud config/crd/bases/barmancloud.cnpg.io_objectstores.yaml',
    schema: OBJECT_STORE_SCHEMA,
  },
};

/** The hand-checked definition for an `apiVersion`/`kind`, if any (any version: the caller checks `served`). */
export function handCheckedCrd(apiVersion: string, kind: string): HandCheckedCrd | undefined {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
  return HAND_CHECKED_CRDS[`${group}/${kind}`];
}

/**
 * ClickHouse (AION-2 data service) on the hardened StatefulSet base, or external.
 *
 * - `clickhouse-server` is started directly (not the image's entrypoint, which writes user
 *   files under /etc and needs a writable root FS). Settings come from a ConfigMap mounted as
 *   single files beside the image's own `config.d`/`users.d`: logs to the console, and the
 *   `default` user's settings without its password: no password in the ConfigMap.
 * - Password (issue 14 item 17): the Secret key is mounted read-only as a file; an init
 *   container writes `users.d/password.xml` (`<password>` XML-escaped, the way the image's own
 *   entrypoint writes `users.d/default-user.xml` from CLICKHOUSE_PASSWORD: ClickHouse/ClickHouse
 *   docker/server/entrypoint.sh @00b7432) into a memory emptyDir, mounted into `users.d` by
 *   subPath; no environment variable holds it.
 * - Data on a PVC (`/var/lib/clickhouse`, also holding tmp and preprocessed configs).
 * - Probes: readiness `GET /ping` on the HTTP port, liveness a TCP check on the native port.
 * - Metrics (issue 14 store alerts): the server's own Prometheus endpoint (`<prometheus>` in
 *   server.xml, `/metrics` on 9363: ClickHouse src/Server/PrometheusMetricsWriter.cpp, prefixes
 *   `ClickHouseProfileEvents_` counters, `ClickHouseMetrics_` and `ClickHouseAsyncMetrics_`
 *   gauges), a ServiceMonitor, Prometheus admitted on 9363 only, and `clickhouseAlerts`.
 * - Single node: replicated tables need ClickHouse Keeper; `replicas > 1` is a ComponentError.
 */
import { Construct } from 'constructs';
import { ConfigMap } from './config-map.js';
import { ComponentError } from './meta.js';
import { PrometheusRules, ServiceMonitor, storeAlertRules, type AlertRule } from './monitoring.js';
import { ExternalStore, StatefulStore, secretRenderInit, type ClientRef, type ExternalStoreProps, type Endpoint, type SecretKeyRef } from './stateful.js';
import type { WorkloadResources } from './workload.js';
import type { ImageRef } from '../kube/image.js';

/** clickhouse-server 25.8.3.66, the upstream image from ClickHouse Inc.: 25.8 is an LTS release (a year of fixes); includes clickhouse-client for the TTL job; runs as UID 101. */
export const CLICKHOUSE_IMAGE: ImageRef = { repository: 'docker.io/clickhouse/clickhouse-server', tag: '25.8.3.66' };
export const CLICKHOUSE_HTTP_PORT = 8123;
export const CLICKHOUSE_NATIVE_PORT = 9000;
/** The `<prometheus>` endpoint's port (the port ClickHouse's sample config uses). */
export const CLICKHOUSE_METRICS_PORT = 9363;

export interface ClickHouseConnection {
  /** Host of the native protocol endpoint (not a secret). */
  readonly host: string;
  /** User name (not a secret). */
  readonly user: string;
  readonly passwordSecret: SecretKeyRef;
  /** TLS on the native protocol (`clickhouse-client --secure`). */
  readonly secure: boolean;
  /** Native protocol (clickhouse-client); `http` the HTTP interface. */
  readonly endpoint: Endpoint;
  readonly http: Endpoint;
}

export interface ClickHouseProps {
  /** @default clickhouse */
  readonly name?: string;
  readonly namespace: string;
  readonly image: string;
  /** Secret key with the `default` user's password. */
  readonly passwordSecret: SecretKeyRef;
  readonly clients: readonly ClientRef[];
  /** Must be 1. @default 1 */
  readonly replicas?: number;
  /** @default 20Gi */
  readonly storageSize?: string;
  /** @default the cluster default */
  readonly storageClassName?: string;
  /** @default 500m/2 CPU, 2Gi/2Gi memory */
  readonly resources?: WorkloadResources;
  /** @default none */
  readonly concerns?: readonly string[];
  /** Where Prometheus runs (admitted on the metrics port). @default monitoring */
  readonly monitoringNamespace?: string;
  /** `key=value` selecting the ServiceMonitor and PrometheusRule into Prometheus. @default release=prometheus */
  readonly prometheusSelector?: string;
  /** Runbook URL of the alerts (`clickhouseAlerts`, PrometheusRule `<name>`). @default none: scraped, no alerts */
  readonly runbookUrl?: string;
}

/**
 * ClickHouse alerts (kube-prometheus mixin style: the component ships its own), on the metrics its
 * endpoint serves and Prometheus' `up` of the ServiceMonitor's job (the Service name):
 * - `ClickHouseDown`: no successful scrape (server down, or the endpoint unreachable);
 * - `ClickHouseTooManyParts`: `ClickHouseAsyncMetrics_MaxPartCountForPartition` above 300: merges
 *   do not keep up with inserts; MergeTree delays inserts from `parts_to_delay_insert` and
 *   refuses them from `parts_to_throw_insert`;
 * - `ClickHouseFailedQueries`: more than 5 % of queries fail (`ClickHouseProfileEvents_FailedQuery`
 *   over `ClickHouseProfileEvents_Query`, both counters, no `_total` suffix).
 */
export function clickhouseAlerts(name: string, namespace: string, runbookUrl: string, concerns: readonly string[] = []): AlertRule[] {
  const sel = `job="${name}",namespace="${namespace}"`;
  return [
    {
      alert: 'ClickHouseDown',
      expr: `(max(up{${sel}}) or vector(0)) == 0`,
      for: '5m',
      severity: 'critical',
      summary: `ClickHouse ${namespace}/${name} is down`,
      description: `Prometheus cannot scrape ClickHouse ${namespace}/${name} (or no target exists): analytics writes and the TTL and backup jobs fail. Check the pod, its PVC and its events, and the server log.`,
      runbookUrl,
      concerns,
    },
    {
      alert: 'ClickHouseTooManyParts',
      expr: `max(ClickHouseAsyncMetrics_MaxPartCountForPartition{${sel}}) > 300`,
      for: '15m',
      severity: 'warning',
      summary: `ClickHouse ${namespace}/${name}: a partition has more than 300 parts`,
      description: `Background merges do not keep up with inserts (many small INSERTs, or merges starved of CPU or disk). MergeTree delays inserts from parts_to_delay_insert and refuses them from parts_to_throw_insert: batch the inserts, check system.merges and the disk.`,
      runbookUrl,
      concerns,
    },
    {
      alert: 'ClickHouseFailedQueries',
      expr: `sum(rate(ClickHouseProfileEvents_FailedQuery{${sel}}[5m])) / sum(rate(ClickHouseProfileEvents_Query{${sel}}[5m])) > 0.05`,
      for: '10m',
      severity: 'warning',
      summary: `ClickHouse ${namespace}/${name}: more than 5 % of queries fail`,
      description: `Look at system.query_log (type ExceptionBeforeStart / ExceptionWhileProcessing) for the failing queries: memory limits, too many parts, schema changes or a client bug.`,
      runbookUrl,
      concerns,
    },
  ];
}

export const CLICKHOUSE_SERVER_XML = `<clickhouse>
    <listen_host>0.0.0.0</listen_host>
    <listen_host>::</listen_host>
    <listen_try>1</listen_try>
    <logger>
        <level>information</level>
        <console>1</console>
        <log remove="remove"/>
        <errorlog remove="remove"/>
    </logger>
    <prometheus>
        <endpoint>/metrics</endpoint>
        <port>${CLICKHOUSE_METRICS_PORT}</port>
        <metrics>true</metrics>
        <events>true</events>
        <asynchronous_metrics>true</asynchronous_metrics>
    </prometheus>
</clickhouse>
`;

export const CLICKHOUSE_USERS_XML = `<clickhouse>
    <users>
        <default>
            <access_management>0</access_management>
        </default>
    </users>
</clickhouse>
`;

/** Where the password Secret key is mounted read-only. */
export const CLICKHOUSE_PASSWORD_FILE = '/run/secrets/clickhouse/password';

/**
 * The init container's shell: `users.d/password.xml` for the `default` user from the mounted
 * password file (`CLICKHOUSE_PASSWORD_FILE`), XML-escaped, mode 0600, into `/run/clickhouse-auth`.
 */
export const CLICKHOUSE_AUTH_SCRIPT = [
  'set -eu',
  'umask 077',
  "escaped=$(sed -e 's/&/\\&amp;/g' -e 's/</\\&lt;/g' -e 's/>/\\&gt;/g' \"$CLICKHOUSE_PASSWORD_FILE\")",
  "printf '<clickhouse><users><default><password>%s</password></default></users></clickhouse>\\n' \"$escaped\" > /run/clickhouse-auth/password.xml",
].join('\n');

export class ClickHouse extends Construct {
  readonly store: StatefulStore;
  readonly config: ConfigMap;
  readonly serviceMonitor: ServiceMonitor;
  readonly rules?: PrometheusRules;
  private readonly passwordSecret: SecretKeyRef;
  constructor(scope: Construct, id: string, props: ClickHouseProps) {
    super(scope, id);
    const C = 'ClickHouse';
    const name = props.name ?? 'clickhouse';
    const replicas = props.replicas ?? 1;
    if (replicas !== 1) throw new ComponentError(C, name, 'replicas', 'must be 1: replication (ClickHouse Keeper) is not implemented; use an external ClickHouse for HA', replicas);
    this.passwordSecret = props.passwordSecret;
    const concerns = props.concerns ?? [];
    this.config = new ConfigMap(this, 'Config', {
      name: `${name}-config`,
      namespace: props.namespace,
      data: { 'server.xml': CLICKHOUSE_SERVER_XML, 'users.xml': CLICKHOUSE_USERS_XML },
      concerns,
    });
    this.store = new StatefulStore(
      this,
      'Store',
      {
        name,
        namespace: props.namespace,
        runAsUser: 101,
        clients: props.clients,
        metrics: { namespace: props.monitoringNamespace ?? 'monitoring', port: 'metrics' },
        terminationGracePeriodSeconds: 120,
        podAnnotations: this.config.annotation,
        emptyDirs: [{ name: 'logs', sizeLimit: '256Mi' }, { name: 'tmp', sizeLimit: '1Gi' }, { name: 'auth', sizeLimit: '1Mi', medium: 'Memory' }],
        configMaps: [{ name: 'config', configMap: this.config.name }],
        secrets: [{ name: 'password', items: [{ secret: props.passwordSecret.name, key: props.passwordSecret.key, path: 'password' }] }],
        initContainers: [
          secretRenderInit({ image: props.image, script: CLICKHOUSE_AUTH_SCRIPT, env: { CLICKHOUSE_PASSWORD_FILE }, outDir: '/run/clickhouse-auth', secretVolume: 'password', secretDir: '/run/secrets/clickhouse' }),
        ],
        volumeClaims: [{ name: 'data', size: props.storageSize ?? '20Gi', ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}) }],
        container: {
          name: 'clickhouse',
          image: props.image,
          command: ['/usr/bin/clickhouse-server', '--config-file=/etc/clickhouse-server/config.xml'],
          ports: [
            { name: 'http', port: CLICKHOUSE_HTTP_PORT },
            { name: 'native', port: CLICKHOUSE_NATIVE_PORT },
            { name: 'metrics', port: CLICKHOUSE_METRICS_PORT },
          ],
          liveness: { tcp: { port: CLICKHOUSE_NATIVE_PORT } },
          readiness: { http: { path: '/ping', port: CLICKHOUSE_HTTP_PORT } },
          startupSeconds: 300,
          resources: props.resources ?? { cpuRequest: '500m', cpuLimit: '2', memoryRequest: '2Gi', memoryLimit: '2Gi' },
          mounts: [
            { volume: 'data', path: '/var/lib/clickhouse' },
            { volume: 'config', path: '/etc/clickhouse-server/config.d/stackbook.xml', subPath: 'server.xml', readOnly: true },
            { volume: 'config', path: '/etc/clickhouse-server/users.d/stackbook.xml', subPath: 'users.xml', readOnly: true },
            { volume: 'auth', path: '/etc/clickhouse-server/users.d/password.xml', subPath: 'password.xml', readOnly: true },
            { volume: 'logs', path: '/var/log/clickhouse-server' },
            { volume: 'tmp', path: '/tmp' },
          ],
        },
        concerns,
      },
      C,
    );
    this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
      name,
      namespace: props.namespace,
      selector: this.store.serviceSelector, // the client Service only: the headless one has the same port (one target per Pod)
      port: 'metrics',
      ...(props.prometheusSelector ? { prometheusSelector: props.prometheusSelector } : {}),
      concerns: ['X-8', ...concerns],
    });
    this.rules = storeAlertRules(this, C, { ...props, name, concerns }, (runbookUrl) => clickhouseAlerts(name, props.namespace, runbookUrl, concerns));
  }

  connection(): ClickHouseConnection {
    return { host: this.store.host, user: 'default', passwordSecret: this.passwordSecret, secure: false, endpoint: this.store.endpoint('native'), http: this.store.endpoint('http') };
  }
}

export interface ExternalClickHouseProps extends ExternalStoreProps {
  /** @default clickhouse */
  readonly name?: string;
  /** Native protocol port. @default 9440 (TLS) */
  readonly port?: number;
  /** @default default */
  readonly user?: string;
  /** TLS on the native protocol. @default true */
  readonly secure?: boolean;
  readonly passwordSecret: SecretKeyRef;
}

/** External ClickHouse, native protocol only. */
export class ExternalClickHouse extends ExternalStore<ExternalClickHouseProps> {
  constructor(scope: Construct, id: string, props: ExternalClickHouseProps) {
    super(scope, id, props, { component: 'ExternalClickHouse', name: 'clickhouse', port: 9440 });
  }

  connection(): ClickHouseConnection {
    const e = this.external.endpoint;
    return { host: e.host, user: this.props.user ?? 'default', passwordSecret: this.props.passwordSecret, secure: this.props.secure ?? true, endpoint: e, http: e };
  }
}

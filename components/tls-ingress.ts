/**
 * TLS ingress (X-4): an Ingress for ingress-nginx or the AWS Load Balancer Controller with
 * HTTP→HTTPS redirect and HSTS, and the ClusterIssuer (ACME for public clusters, a private CA for
 * private and air-gapped ones).
 *
 * nginx: a cert-manager Certificate for the host, served from its TLS Secret.
 * ALB: the AWS Load Balancer Controller serves ACM certificates only (annotation
 * `alb.ingress.kubernetes.io/certificate-arn`, or ACM discovery by the `spec.tls` hosts) and never
 * reads a TLS Secret, so no Certificate is rendered and `spec.tls` names no Secret. One ALB per stack
 * and scheme (`group.name`; the group's Exclusive annotations — scheme, idle timeout, SSL policy —
 * agree across its Ingresses), and the target health check asks the backend pods' readiness path
 * (`healthcheck-path`, default `/` otherwise). Annotation reference:
 * https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/
 */
import { ApiObject, Chart, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, trace } from './meta.js';
import { DNS_SUBDOMAIN } from '../kube/names.js';

export type IngressClass = 'nginx' | 'alb';
export type Exposure = 'public' | 'internal';

/**
 * Construct-context key (set on the App by synth/render.ts for ALB stacks): the stack's ALB settings,
 * `{ certificateArns?: string[]; groupName: string }`, the defaults of the TlsIngress props of the same names.
 */
export const ALB_CONTEXT = 'stackbook.io/alb';
export interface AlbContext {
  readonly certificateArns?: readonly string[];
  readonly groupName: string;
}
/** ACM certificate ARN (`arn:aws:acm:<region>:<account>:certificate/<id>`). */
export const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;

/** Idle timeouts of each ALB group, per App: the group's one `load-balancer-attributes` value is their maximum. */
const GROUP_TIMEOUTS = new WeakMap<object, Map<string, number[]>>();

export interface ClusterIssuerProps {
  /** ClusterIssuer name. */
  readonly name: string;
  readonly issuer:
    | { readonly kind: 'acme'; readonly email: string; readonly server: string }
    | { readonly kind: 'ca'; readonly secretName: string };
  /** Ingress class used to solve HTTP-01 challenges (ACME only). @default nginx */
  readonly solverIngressClass?: string;
  /** @default none */
  readonly concerns?: readonly string[];
}

export class ClusterIssuer extends Construct {
  readonly name: string;
  readonly object: ApiObject;
  constructor(scope: Construct, id: string, props: ClusterIssuerProps) {
    super(scope, id);
    this.name = props.name;
    const i = props.issuer;
    if (i.kind === 'acme' && !/^https:\/\//.test(i.server)) throw new ComponentError('ClusterIssuer', props.name, 'issuer.server', 'must be an https URL', i.server);
    const spec =
      i.kind === 'acme'
        ? {
            acme: {
              email: i.email,
              server: i.server,
              privateKeySecretRef: { name: `${props.name}-account-key` },
              solvers: [{ http01: { ingress: { ingressClassName: props.solverIngressClass ?? 'nginx' } } }],
            },
          }
        : { ca: { secretName: i.secretName } };
    this.object = new ApiObject(this, 'Resource', {
      apiVersion: 'cert-manager.io/v1',
      kind: 'ClusterIssuer',
      metadata: { name: props.name },
      spec,
    });
    trace(this.object, 'X-4', ...(props.concerns ?? []));
  }
}

export interface TlsIngressProps {
  /** Ingress, Certificate and TLS Secret base name. */
  readonly name: string;
  readonly namespace: string;
  /** Fully qualified host, e.g. `ope.example.com`. */
  readonly host: string;
  readonly serviceName: string;
  readonly servicePort: number;
  readonly ingressClass: IngressClass;
  /** `internal`: internal ALB scheme / the `<class>-internal` nginx class. */
  readonly exposure: Exposure;
  /** ClusterIssuer that signs the certificate. */
  readonly clusterIssuer: string;
  /** IngressClass name, where the cluster's differs from the convention. @default `alb`, `nginx` or `nginx-internal` (see ingressClassName()) */
  readonly className?: string;
  /** Paths routed to the service (Prefix). @default ['/'] */
  readonly paths?: readonly string[];
  /**
   * Prefixes under `paths` that must not be reachable through this Ingress (e.g. `/metrics` served on
   * the app port): answered 404 by an ALB fixed-response action placed before the routes, or 403 by
   * a second nginx Ingress `<name>-blocked` for the same host that denies every source address.
   * @default none
   */
  readonly blockedPaths?: readonly string[];
  /** Idle/read timeout for long-lived connections (WebSockets), seconds. @default 60 */
  readonly timeoutSeconds?: number;
  /** HSTS max-age in seconds. @default 31536000 (one year) */
  readonly hstsMaxAgeSeconds?: number;
  /**
   * Extra controller annotations, e.g. `nginx.ingress.kubernetes.io/proxy-body-size` for uploads
   * above nginx's 1m default; a key the component sets itself (redirect, HSTS, timeouts) is refused.
   * @default none
   */
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * ALB only: ACM certificates served for the host (comma-joined into `certificate-arn`).
   * @default the stack's (construct context `stackbook.io/alb`), else none: ACM discovery by host
   */
  readonly certificateArns?: readonly string[];
  /**
   * ALB only: IngressGroup, so one ALB serves every Ingress of the group. Internal exposure appends
   * `-internal` (scheme is Exclusive within a group). @default the stack's (`stackbook-<env>`), else none
   */
  readonly groupName?: string;
  /**
   * ALB only: the path the ALB health-checks each pod on (IP targets). @default the HTTP readiness
   * probe path of the pods behind `serviceName` in the same chart (refused when there is none)
   */
  readonly healthCheckPath?: string;
  /** @default none */
  readonly concerns?: readonly string[];
}

/**
 * The HTTP readiness probe `{path, port}` of the container serving `servicePort` of a Service of this
 * chart (the container whose port is the Service port's targetPort), if any.
 */
function readinessBehind(scope: Construct, namespace: string, serviceName: string, servicePort: number): { path: string; port: number | string } | undefined {
  // Kind, name and namespace are read off the constructs; only the candidates are resolved to JSON
  // (toJson resolves a whole object: doing it for every object of the chart was ~12% of an ALB render).
  const objects = Chart.of(scope)
    .node.findAll()
    .filter((c): c is ApiObject => c instanceof ApiObject && c.metadata.namespace === namespace);
  const json = (o: ApiObject) => o.toJson() as { kind: string; metadata: { name: string; namespace?: string }; spec?: any };
  const found = objects.find((o) => o.kind === 'Service' && o.name === serviceName);
  const svc = found ? json(found) : undefined;
  const selector: Record<string, string> | undefined = svc?.spec?.selector;
  if (!selector) return undefined;
  const sp = (svc!.spec.ports ?? []).find((p: any) => p.port === servicePort);
  const target = sp?.targetPort ?? servicePort;
  for (const o of objects) {
    if (!['Deployment', 'StatefulSet'].includes(o.kind)) continue;
    const w = json(o);
    const labels: Record<string, string> = w.spec?.template?.metadata?.labels ?? {};
    if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
    for (const c of w.spec?.template?.spec?.containers ?? []) {
      const serves = (c.ports ?? []).some((p: any) => p.containerPort === target || (p.name !== undefined && p.name === target));
      const g = c.readinessProbe?.httpGet;
      if (serves && g?.path) return { path: g.path, port: g.port };
    }
  }
  return undefined;
}

export function ingressClassName(cls: IngressClass, exposure: Exposure): string {
  return cls === 'alb' ? 'alb' : exposure === 'internal' ? 'nginx-internal' : 'nginx';
}

export class TlsIngress extends Construct {
  readonly ingress: k8s.KubeIngress;
  /** The cert-manager Certificate (nginx); none with an ALB, which serves ACM certificates. */
  readonly certificate?: ApiObject;
  /** The TLS Secret the Certificate fills (nginx); none with an ALB. */
  readonly secretName?: string;
  /** nginx only, when `blockedPaths` is set: the Ingress that denies them. */
  readonly blockedIngress?: k8s.KubeIngress;
  constructor(scope: Construct, id: string, props: TlsIngressProps) {
    super(scope, id);
    const C = 'TlsIngress';
    if (!DNS_SUBDOMAIN.test(props.host) || !props.host.includes('.')) {
      throw new ComponentError(C, props.name, 'host', 'must be a fully qualified lowercase DNS name', props.host);
    }
    if (props.className !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(props.className)) {
      throw new ComponentError(C, props.name, 'className', 'must be an IngressClass name', props.className);
    }
    const paths = props.paths ?? ['/'];
    if (paths.length === 0 || paths.some((p) => !p.startsWith('/'))) throw new ComponentError(C, props.name, 'paths', 'must be absolute paths', paths);
    const blocked = props.blockedPaths ?? [];
    if (blocked.some((p) => !/^(\/[A-Za-z0-9._~-]+)+$/.test(p))) throw new ComponentError(C, props.name, 'blockedPaths', 'must be absolute paths other than / without a trailing slash', blocked);
    const timeout = props.timeoutSeconds ?? 60;
    const hsts = props.hstsMaxAgeSeconds ?? 31536000;
    if (hsts < 86400) throw new ComponentError(C, props.name, 'hstsMaxAgeSeconds', 'must be at least one day', hsts);

    const annotations: Record<string, string> =
      props.ingressClass === 'nginx'
        ? {
            'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true',
            'nginx.ingress.kubernetes.io/ssl-redirect': 'true',
            'nginx.ingress.kubernetes.io/proxy-read-timeout': String(timeout),
            'nginx.ingress.kubernetes.io/proxy-send-timeout': String(timeout),
            // HSTS is emitted by ingress-nginx for TLS hosts (controller ConfigMap `hsts`); this
            // makes the expectation reviewable and is checked by the ingress-tls policy.
            'stackbook.io/hsts': `max-age=${hsts}; includeSubDomains`,
          }
        : {
            'alb.ingress.kubernetes.io/scheme': props.exposure === 'public' ? 'internet-facing' : 'internal',
            'alb.ingress.kubernetes.io/target-type': 'ip',
            'alb.ingress.kubernetes.io/listen-ports': '[{"HTTP":80},{"HTTPS":443}]',
            'alb.ingress.kubernetes.io/ssl-redirect': '443',
            'alb.ingress.kubernetes.io/ssl-policy': 'ELBSecurityPolicy-TLS13-1-2-2021-06',
            'alb.ingress.kubernetes.io/load-balancer-attributes': `idle_timeout.timeout_seconds=${timeout}`,
            'alb.ingress.kubernetes.io/listener-attributes.HTTPS-443': `routing.http.response.strict_transport_security.header_value=max-age=${hsts}; includeSubDomains`,
            'stackbook.io/hsts': `max-age=${hsts}; includeSubDomains`,
          };

    const extra = { ...(props.annotations ?? {}) };
    if (props.ingressClass === 'alb') {
      const alb = this.node.tryGetContext(ALB_CONTEXT) as AlbContext | undefined;
      const arns = props.certificateArns ?? alb?.certificateArns ?? [];
      arns.forEach((arn, i) => {
        if (!ACM_ARN.test(arn)) throw new ComponentError(C, props.name, `certificateArns[${i}]`, 'must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)', arn);
      });
      if (arns.length > 0) annotations['alb.ingress.kubernetes.io/certificate-arn'] = [...arns].join(',');
      const base = props.groupName ?? alb?.groupName;
      if (base !== undefined) {
        if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(base)) throw new ComponentError(C, props.name, 'groupName', 'must be a DNS label of at most 63 characters', base);
        const group = props.exposure === 'internal' ? `${base}-internal` : base;
        annotations['alb.ingress.kubernetes.io/group.name'] = group;
        // load-balancer-attributes is Exclusive within a group: every member renders the group's longest idle timeout.
        const root = this.node.root;
        const groups = GROUP_TIMEOUTS.get(root) ?? new Map<string, number[]>();
        GROUP_TIMEOUTS.set(root, groups);
        const timeouts = groups.get(group) ?? [];
        groups.set(group, timeouts);
        timeouts.push(timeout);
        annotations['alb.ingress.kubernetes.io/load-balancer-attributes'] = Lazy.any({ produce: () => `idle_timeout.timeout_seconds=${Math.max(...timeouts)}` });
      }
      // An explicit health-check path may still come in `annotations` (kept for callers that set it there).
      const explicit = props.healthCheckPath ?? extra['alb.ingress.kubernetes.io/healthcheck-path'];
      delete extra['alb.ingress.kubernetes.io/healthcheck-path'];
      const probe = readinessBehind(this, props.namespace, props.serviceName, props.servicePort);
      const path = explicit ?? probe?.path;
      if (path === undefined || !path.startsWith('/')) {
        throw new ComponentError(C, props.name, 'healthCheckPath', `is required with an ALB (no HTTP readiness probe found behind Service ${props.serviceName}; the ALB would check "/")`, path);
      }
      annotations['alb.ingress.kubernetes.io/healthcheck-path'] = path;
      // The ALB checks the traffic port unless told otherwise; a readiness probe on another numbered port is followed.
      if (explicit === undefined && typeof probe?.port === 'number' && probe.port !== props.servicePort) {
        annotations['alb.ingress.kubernetes.io/healthcheck-port'] = String(probe.port);
      }
    }
    for (const key of Object.keys(extra)) {
      if (key in annotations) throw new ComponentError(C, props.name, `annotations.${key}`, 'is set by the component (HTTPS redirect, HSTS, timeouts) and cannot be overridden', extra[key]);
    }

    if (props.ingressClass === 'alb') {
      this.ingress = this.renderIngress(props, paths, blocked, annotations, extra, undefined);
      trace(this.ingress, 'X-4', ...(props.concerns ?? []));
      return;
    }
    this.secretName = `${props.name}-tls`;
    this.certificate = new ApiObject(this, 'Certificate', {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: props.name, namespace: props.namespace },
      spec: {
        secretName: this.secretName,
        dnsNames: [props.host],
        issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: props.clusterIssuer },
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
        duration: '2160h',
        renewBefore: '720h',
      },
    });

    this.ingress = this.renderIngress(props, paths, blocked, annotations, extra, this.secretName);
    trace([this.ingress, this.certificate], 'X-4', ...(props.concerns ?? []));
    // nginx: annotations are per Ingress, so the blocked prefixes get their own Ingress for the same
    // host, whose locations deny every client (the longest prefix wins over the routes above).
    if (blocked.length > 0) {
      this.blockedIngress = new k8s.KubeIngress(this, 'Blocked', {
        metadata: {
          name: `${props.name}-blocked`,
          namespace: props.namespace,
          annotations: { ...annotations, 'nginx.ingress.kubernetes.io/denylist-source-range': '0.0.0.0/0,::/0' },
        },
        spec: {
          ingressClassName: props.className ?? ingressClassName(props.ingressClass, props.exposure),
          tls: [{ hosts: [props.host], secretName: this.secretName }],
          rules: [{ host: props.host, http: { paths: blocked.map((p) => this.toService(props, p)) } }],
        },
      });
      trace(this.blockedIngress, 'X-4', ...(props.concerns ?? []));
    }
  }

  private toService(props: TlsIngressProps, path: string) {
    return { path, pathType: 'Prefix', backend: { service: { name: props.serviceName, port: { number: props.servicePort } } } };
  }

  private renderIngress(
    props: TlsIngressProps,
    paths: readonly string[],
    blocked: readonly string[],
    annotations: Record<string, string>,
    extra: Record<string, string>,
    secretName: string | undefined,
  ): k8s.KubeIngress {
    // ALB: a fixed-response action, listed before the routes so its rule takes priority.
    const albBlocked = props.ingressClass === 'alb' && blocked.length > 0;
    const blockAction = 'stackbook-blocked-path';
    return new k8s.KubeIngress(this, 'Ingress', {
      metadata: {
        name: props.name,
        namespace: props.namespace,
        annotations: {
          ...annotations,
          ...extra,
          ...(albBlocked
            ? { [`alb.ingress.kubernetes.io/actions.${blockAction}`]: '{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"404","messageBody":"Not Found"}}' }
            : {}),
        },
      },
      spec: {
        ingressClassName: props.className ?? ingressClassName(props.ingressClass, props.exposure),
        // ALB: the hosts drive ACM discovery; no Secret (the controller never reads one).
        tls: [{ hosts: [props.host], ...(secretName !== undefined ? { secretName } : {}) }],
        rules: [
          {
            host: props.host,
            http: {
              paths: [
                ...(albBlocked ? blocked.map((p) => ({ path: p, pathType: 'Prefix', backend: { service: { name: blockAction, port: { name: 'use-annotation' } } } })) : []),
                ...paths.map((p) => this.toService(props, p)),
              ],
            },
          },
        ],
      },
    });
  }
}

/**
 * TLS ingress: an Ingress for ingress-nginx or the AWS Load Balancer Controller with
 * HTTP→HTTPS redirect and HSTS, a cert-manager Certificate for its host, and the ClusterIssuer
 * (ACME for public clusters, a private CA for private and air-gapped ones).
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, trace } from './meta.js';

export type IngressClass = 'nginx' | 'alb';
export type Exposure = 'public' | 'internal';

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
  /** @default none */
  readonly concerns?: readonly string[];
}

export function ingressClassName(cls: IngressClass, exposure: Exposure): string {
  return cls === 'alb' ? 'alb' : exposure === 'internal' ? 'nginx-internal' : 'nginx';
}

export class TlsIngress extends Construct {
  readonly ingress: k8s.KubeIngress;
  /** nginx only, when `blockedPaths` is set: the Ingress that denies them. */
  readonly blockedIngress?: k8s.KubeIngress;
  readonly certificate: ApiObject;
  readonly secretName: string;
  constructor(scope: Construct, id: string, props: TlsIngressProps) {
    super(scope, id);
    const C = 'TlsIngress';
    if (!/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(props.host)) {
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
    this.secretName = `${props.name}-tls`;

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

    const extra = props.annotations ?? {};
    for (const key of Object.keys(extra)) {
      if (key in annotations) throw new ComponentError(C, props.name, `annotations.${key}`, 'is set by the component (HTTPS redirect, HSTS, timeouts) and cannot be overridden', extra[key]);
    }

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

    const className = props.className ?? ingressClassName(props.ingressClass, props.exposure);
    const toService = (p: string) => ({
      path: p,
      pathType: 'Prefix',
      backend: { service: { name: props.serviceName, port: { number: props.servicePort } } },
    });
    // ALB: a fixed-response action, listed before the routes so its rule takes priority.
    const albBlocked = props.ingressClass === 'alb' && blocked.length > 0;
    const blockAction = 'stackbook-blocked-path';
    this.ingress = new k8s.KubeIngress(this, 'Ingress', {
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
        ingressClassName: className,
        tls: [{ hosts: [props.host], secretName: this.secretName }],
        rules: [
          {
            host: props.host,
            http: {
              paths: [
                ...(albBlocked ? blocked.map((p) => ({ path: p, pathType: 'Prefix', backend: { service: { name: blockAction, port: { name: 'use-annotation' } } } })) : []),
                ...paths.map(toService),
              ],
            },
          },
        ],
      },
    });
    trace([this.ingress, this.certificate], 'X-4', ...(props.concerns ?? []));
    // nginx: annotations are per Ingress, so the blocked prefixes get their own Ingress for the same
    // host, whose locations deny every client (the longest prefix wins over the routes above).
    if (props.ingressClass === 'nginx' && blocked.length > 0) {
      this.blockedIngress = new k8s.KubeIngress(this, 'Blocked', {
        metadata: {
          name: `${props.name}-blocked`,
          namespace: props.namespace,
          annotations: { ...annotations, 'nginx.ingress.kubernetes.io/denylist-source-range': '0.0.0.0/0,::/0' },
        },
        spec: {
          ingressClassName: className,
          tls: [{ hosts: [props.host], secretName: this.secretName }],
          rules: [{ host: props.host, http: { paths: blocked.map(toService) } }],
        },
      });
      trace(this.blockedIngress, 'X-4', ...(props.concerns ?? []));
    }
  }
}

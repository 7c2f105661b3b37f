import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { ComponentError, trace } from './meta.js';
import { IMAGE_POLICY_CONTEXT, IMAGE_POLICY_INCLUDE_LABEL } from './image-policy.js';

/**
 * Namespace label that makes the AWS Load Balancer Controller's webhook inject its target-health
 * readiness gate into pods (target-type ip): a rolling update then waits until the new pods are
 * healthy in the ALB target group. https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/
 */
export const ALB_READINESS_GATE_LABEL = 'elbv2.k8s.aws/pod-readiness-gate-inject';
/** Construct-context key (set by synth/render.ts for ALB stacks): `true` labels every Namespace with the readiness gate. */
export const ALB_READINESS_GATE_CONTEXT = 'stackbook.io/alb-readiness-gate';

export interface NamespaceProps {
  /** Namespace name. */
  readonly name: string;
  /**
   * Pod Security Standards level enforced, audited and warned.
   * Lowering it is a policy exception and must be requested with `exceptionReason`
   * (`privileged`: only for a namespace confined to a workload that cannot run otherwise, e.g. OUB-10).
   * @default 'restricted'
   */
  readonly podSecurity?: 'restricted' | 'baseline' | 'privileged';
  /** Required when `podSecurity` is not `restricted`: why, for the reviewer. */
  readonly exceptionReason?: string;
  /** Extra labels (e.g. `policy.sigstore.dev/include`). @default none */
  readonly labels?: Readonly<Record<string, string>>;
  /** Catalog concerns this namespace carries. @default none */
  readonly concerns?: readonly string[];
  /**
   * Opt in to cosign signature admission: label `policy.sigstore.dev/include: "true"`, so
   * policy-controller checks every image of this namespace against the ClusterImagePolicy.
   * `false` writes `"false"` (an explicit, visible opt-out).
   * @default true when the App renders a ClusterImagePolicy (construct context
   * `stackbook.io/image-policy`, set by synth/render.ts from `cluster.signing`), else no label
   */
  readonly imagePolicy?: boolean;
  /**
   * Label `elbv2.k8s.aws/pod-readiness-gate-inject: enabled`, so ALB-backed pods roll only once healthy
   * in their target group. @default true when the App serves through an ALB (construct context
   * `stackbook.io/alb-readiness-gate`, set by synth/render.ts), else no label
   */
  readonly albReadinessGate?: boolean;
}

/** A namespace that enforces Pod Security "restricted" by default. */
export class Namespace extends Construct {
  readonly name: string;
  readonly object: k8s.KubeNamespace;
  constructor(scope: Construct, id: string, props: NamespaceProps) {
    super(scope, id);
    const level = props.podSecurity ?? 'restricted';
    if (level !== 'restricted' && (props.exceptionReason ?? '').trim().length < 10) {
      throw new ComponentError('Namespace', props.name, 'exceptionReason', `is required (a reason a reviewer can judge) when podSecurity is "${level}"`, props.exceptionReason);
    }
    this.name = props.name;
    const include = props.imagePolicy ?? (this.node.tryGetContext(IMAGE_POLICY_CONTEXT) === true ? true : undefined);
    const gate = props.albReadinessGate ?? this.node.tryGetContext(ALB_READINESS_GATE_CONTEXT) === true;
    this.object = new k8s.KubeNamespace(this, 'Resource', {
      metadata: {
        name: props.name,
        labels: {
          ...props.labels,
          ...(include === undefined ? {} : { [IMAGE_POLICY_INCLUDE_LABEL]: String(include) }),
          ...(gate ? { [ALB_READINESS_GATE_LABEL]: 'enabled' } : {}),
          'pod-security.kubernetes.io/enforce': level,
          'pod-security.kubernetes.io/enforce-version': 'latest',
          'pod-security.kubernetes.io/audit': 'restricted',
          'pod-security.kubernetes.io/audit-version': 'latest',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/warn-version': 'latest',
        },
        ...(level !== 'restricted' ? { annotations: { 'exception.stackbook.io/pod-security-restricted': props.exceptionReason! } } : {}),
      },
    });
    trace(this.object, 'X-1', ...(include === true ? ['X-7'] : []), ...(props.concerns ?? []));
  }
}

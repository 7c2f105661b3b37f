import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { checksum, ComponentError, trace } from './meta.js';

export interface ConfigMapProps {
  readonly name: string;
  readonly namespace: string;
  /** Non-secret settings only: the `no-secret-literal` policy rejects secret-looking values. */
  readonly data: Readonly<Record<string, string>>;
  /** @default none */
  readonly concerns?: readonly string[];
}

/** A ConfigMap that knows its own checksum, for the pod-template annotation that rolls pods on change. */
export class ConfigMap extends Construct {
  readonly name: string;
  readonly checksum: string;
  readonly object: k8s.KubeConfigMap;
  constructor(scope: Construct, id: string, props: ConfigMapProps) {
    super(scope, id);
    for (const key of Object.keys(props.data)) {
      if (!/^[-._a-zA-Z0-9]+$/.test(key)) throw new ComponentError('ConfigMap', props.name, `data.${key}`, 'is not a valid ConfigMap key');
    }
    const data = Object.fromEntries(Object.keys(props.data).sort().map((k) => [k, props.data[k]!]));
    this.name = props.name;
    this.checksum = checksum(data);
    this.object = new k8s.KubeConfigMap(this, 'Resource', { metadata: { name: props.name, namespace: props.namespace }, data });
    if (props.concerns && props.concerns.length > 0) trace(this.object, ...props.concerns);
  }

  /** The pod-template annotation for this ConfigMap. */
  get annotation(): Record<string, string> {
    return { [`checksum.stackbook.io/configmap-${this.name}`]: this.checksum };
  }
}

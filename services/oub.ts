/**
 * OUB — runbook `002_6b4e0b06bc314619.txt` (concerns OUB-*). Work in progress.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Namespace } from '../components/namespace.js';
import { DefaultDeny } from '../components/network-policy.js';
import type { BuildContext, ServiceModule } from './types.js';

export const oub: ServiceModule = {
  key: 'oub',
  prefix: 'OUB',
  runbook: '002_6b4e0b06bc314619.txt',
  appConcerns: {},
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.oub!;
    const cluster = ctx.stack.cluster;
    const chart = new Chart(scope, 'oub', { disableResourceNameHashes: true });
    new Namespace(chart, 'Namespace', { name: cfg.namespace });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: cfg.namespace, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });
  },
};

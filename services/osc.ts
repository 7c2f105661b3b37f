/**
 * OSC — runbook `000_4eed07ff97eda6d9.txt` (concerns OSC-*). Work in progress.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Namespace } from '../components/namespace.js';
import { DefaultDeny } from '../components/network-policy.js';
import type { BuildContext, ServiceModule } from './types.js';

export const osc: ServiceModule = {
  key: 'osc',
  prefix: 'OSC',
  runbook: '000_4eed07ff97eda6d9.txt',
  appConcerns: {},
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.osc!;
    const cluster = ctx.stack.cluster;
    const chart = new Chart(scope, 'osc', { disableResourceNameHashes: true });
    new Namespace(chart, 'Namespace', { name: cfg.namespace });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: cfg.namespace, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });
  },
};

/**
 * OWS — runbook `001_8ef09203eb418336.txt` (concerns OWS-*). Work in progress.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Namespace } from '../components/namespace.js';
import { DefaultDeny } from '../components/network-policy.js';
import type { BuildContext, ServiceModule } from './types.js';

export const ows: ServiceModule = {
  key: 'ows',
  prefix: 'OWS',
  runbook: '001_8ef09203eb418336.txt',
  appConcerns: {},
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.ows!;
    const cluster = ctx.stack.cluster;
    const chart = new Chart(scope, 'ows', { disableResourceNameHashes: true });
    new Namespace(chart, 'Namespace', { name: cfg.namespace });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: cfg.namespace, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });
  },
};

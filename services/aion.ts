/**
 * AION — runbook `004_dada5245eb69c1ad.txt` (concerns AION-*). Work in progress.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Namespace } from '../components/namespace.js';
import { DefaultDeny } from '../components/network-policy.js';
import type { BuildContext, ServiceModule } from './types.js';

export const aion: ServiceModule = {
  key: 'aion',
  prefix: 'AION',
  runbook: '004_dada5245eb69c1ad.txt',
  appConcerns: {},
  build(scope: Construct, ctx: BuildContext): void {
    const cfg = ctx.stack.services.aion!;
    const cluster = ctx.stack.cluster;
    const chart = new Chart(scope, 'aion', { disableResourceNameHashes: true });
    new Namespace(chart, 'Namespace', { name: cfg.namespace });
    new DefaultDeny(chart, 'DefaultDeny', { namespace: cfg.namespace, dnsNamespace: cluster.dns.namespace, dnsPodLabel: cluster.dns.podLabel });
  },
};

/**
 * Issue 14 item 12: physical backups that are never restored are a promise nobody has checked. A
 * CloudNativePG Cluster that archives WAL (the Barman Cloud plugin as WAL archiver, or the in-tree
 * `backup.barmanObjectStore`) must ship the point-in-time restore drill that replays that archive
 * (components/postgres-drill.ts) and the alert that reports its failure.
 */
import { PITR_DRILL_ALERTS, PITR_DRILL_LABEL } from '../components/postgres-drill.js';
import type { Obj, Rule } from './model.js';

type AnyRec = Record<string, any>;

export const postgresPitrDrill: Rule = {
  id: 'postgres-pitr-drill',
  description: 'A CloudNativePG Cluster that archives WAL has a point-in-time restore drill CronJob and a PostgresPitrDrillFailed alert on it.',
  enforcement: 'mandatory',
  check(objects) {
    const out: ReturnType<Rule['check']> = [];
    for (const c of objects) {
      if (c.kind !== 'Cluster' || !c.apiVersion.startsWith('postgresql.cnpg.io/')) continue;
      const spec = (c.spec ?? {}) as AnyRec;
      const archives = (spec.plugins ?? []).some((p: AnyRec) => p.isWALArchiver === true) || spec.backup?.barmanObjectStore !== undefined;
      if (!archives) continue;
      const ns = c.metadata.namespace;
      const name = c.metadata.name;
      const drill = objects.find((o: Obj) => o.kind === 'CronJob' && o.metadata.namespace === ns && o.metadata.labels?.[PITR_DRILL_LABEL] === name);
      if (!drill) {
        out.push({
          object: c,
          message: `Cluster ${ns}/${name} archives WAL and base backups, but no CronJob labelled ${PITR_DRILL_LABEL}=${name} restores them: the physical backups are never proven`,
          fix: 'give the Postgres component backup.drill (image with PostgreSQL + barman-cloud): it renders the <cluster>-pitr-drill CronJob and its alerts',
        });
        continue;
      }
      const watched = objects.some(
        (o: Obj) =>
          o.kind === 'PrometheusRule' &&
          o.metadata.namespace === ns &&
          ((o.spec as AnyRec)?.groups ?? []).some((g: AnyRec) => (g.rules ?? []).some((r: AnyRec) => r.alert === PITR_DRILL_ALERTS.failed && String(r.expr).includes(`owner_name="${drill.metadata.name}"`))),
      );
      if (!watched) {
        out.push({
          object: drill,
          message: `the restore drill ${ns}/${drill.metadata.name} of Cluster ${name} has no ${PITR_DRILL_ALERTS.failed} alert: a failing drill would go unnoticed`,
          fix: 'render pitrDrillAlerts (components/postgres-drill.ts) into the cluster\'s backup PrometheusRule',
        });
      }
    }
    return out;
  },
};

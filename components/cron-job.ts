/**
 * The shape every scheduled job of ours shares (backups and their restore drills, the PITR drill,
 * the ClickHouse backup, OUB maintenance): a CronJob that never runs two Jobs at once
 * (`concurrencyPolicy: Forbid`), is not suspended, and whose Job and pod carry the CronJob's labels.
 * The schedule, deadlines, history and retry limits, and the pod are the caller's.
 */
import type { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';

export interface ScheduledJobProps {
  readonly name: string;
  readonly namespace: string;
  /** On the CronJob, its Job template and its pod template. */
  readonly labels: Record<string, string>;
  readonly schedule: string;
  readonly timeZone: string;
  readonly startingDeadlineSeconds: number;
  readonly successfulJobsHistoryLimit: number;
  readonly failedJobsHistoryLimit: number;
  readonly backoffLimit: number;
  readonly activeDeadlineSeconds: number;
  readonly ttlSecondsAfterFinished: number;
  readonly pod: k8s.PodSpec;
}

export function scheduledJob(scope: Construct, id: string, props: ScheduledJobProps): k8s.KubeCronJob {
  const { labels } = props;
  return new k8s.KubeCronJob(scope, id, {
    metadata: { name: props.name, namespace: props.namespace, labels },
    spec: {
      schedule: props.schedule,
      timeZone: props.timeZone,
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: props.startingDeadlineSeconds,
      successfulJobsHistoryLimit: props.successfulJobsHistoryLimit,
      failedJobsHistoryLimit: props.failedJobsHistoryLimit,
      suspend: false,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: props.backoffLimit,
          activeDeadlineSeconds: props.activeDeadlineSeconds,
          ttlSecondsAfterFinished: props.ttlSecondsAfterFinished,
          template: { metadata: { labels }, spec: props.pod },
        },
      },
    },
  });
}

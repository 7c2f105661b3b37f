// components/cron-job.ts scheduledJob: the CronJob shape of every backup, restore drill, PITR drill and
// maintenance job. X-6: "Backup CronJobs: hardened, no overlap, retention, and verified restores".
// Judged by the Kubernetes CronJob model (test/schema.ts), the policy engine's view of the pod
// (its labels are what NetworkPolicies select; Pod Security "restricted"), and the spec fields.
import { describe, expect, it } from 'vitest';
import { k8s } from 'cdk8s-plus-27';
import { scheduledJob, type ScheduledJobProps } from '../../components/cron-job.js';
import { restrictedContainerSecurity, restrictedJobPod } from '../../kube/security.js';
import { evaluate, podLabelsOf, podSpecOf, RULES, type Obj } from '../../policies/manifest-rules.js';
import { validateManifest } from '../schema.js';
import { newChart, objectsOf, only } from './util.js';

const labels = { 'app.kubernetes.io/name': 'store-backup', 'app.kubernetes.io/part-of': 'aion' };
const props: ScheduledJobProps = {
  name: 'store-backup',
  namespace: 'aion',
  labels,
  schedule: '17 3 * * *',
  timeZone: 'Etc/UTC',
  startingDeadlineSeconds: 600,
  successfulJobsHistoryLimit: 3,
  failedJobsHistoryLimit: 5,
  backoffLimit: 2,
  activeDeadlineSeconds: 3600,
  ttlSecondsAfterFinished: 86400,
  pod: {
    ...restrictedJobPod('Backup', 'b', { serviceAccountName: 'store-backup', uid: 999 }),
    containers: [
      {
        name: 'backup',
        image: 'registry.example.com/backup@sha256:' + 'b'.repeat(64),
        securityContext: restrictedContainerSecurity(),
        resources: {
          requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('64Mi') },
          limits: { cpu: k8s.Quantity.fromString('500m'), memory: k8s.Quantity.fromString('256Mi') },
        },
      },
    ],
  },
};

function render(p: ScheduledJobProps = props): Obj {
  const chart = newChart();
  scheduledJob(chart, 'Cron', p);
  return only(objectsOf(chart), 'CronJob', p.name) as Obj;
}

describe('scheduledJob', () => {
  const cron = render();
  const spec = cron.spec as Record<string, any>;

  it('renders one CronJob, valid for the Kubernetes model', () => {
    expect(validateManifest(cron)).toEqual([]);
  });

  it('never overlaps (X-6): a run still going when the next is due means the next is skipped', () => {
    // Kubernetes CronJob concurrencyPolicy: Allow (default) runs both, Replace kills the running one
    expect(spec.concurrencyPolicy).toBe('Forbid');
  });

  it('is scheduled (not suspended), on the given schedule, time zone, deadlines and limits', () => {
    expect(spec.suspend).toBe(false);
    expect(spec).toMatchObject({ schedule: '17 3 * * *', timeZone: 'Etc/UTC', startingDeadlineSeconds: 600, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 5 });
    expect(spec.jobTemplate.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 86400 });
  });

  it('the CronJob, its Jobs and their pods carry the labels (the pods are what NetworkPolicies select)', () => {
    expect(cron.metadata.labels).toEqual(labels);
    expect(spec.jobTemplate.metadata.labels).toEqual(labels);
    expect(podLabelsOf(cron)).toEqual(labels);
  });

  it('the pod is the caller\'s, and the policy engine finds it and passes it as Pod Security "restricted"', () => {
    expect(podSpecOf(cron)?.serviceAccountName).toBe('store-backup');
    const podSecurity = RULES.filter((r) => r.id === 'pod-security-restricted');
    expect(evaluate([cron], undefined, podSecurity)).toEqual([]);
  });
});

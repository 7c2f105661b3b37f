// kube/security.ts restrictedJobPod: the Job pod skeleton every backup, restore drill, retention and
// maintenance Job starts from. Judged by the policy engine's Pod Security "restricted" rule (X-1:
// "non-root, read-only root FS, no privilege escalation, all capabilities dropped, seccomp
// RuntimeDefault, no service-account token unless needed") and the Kubernetes model of a Job.
import { describe, expect, it } from 'vitest';
import { ComponentError } from '../../kube/errors.js';
import { restrictedContainerSecurity, restrictedJobPod } from '../../kube/security.js';
import { evaluate, RULES, type Obj } from '../../policies/manifest-rules.js';
import { validateManifest } from '../schema.js';

const podSecurity = RULES.filter((r) => r.id === 'pod-security-restricted');

function job(pod: Record<string, unknown>): Obj {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'store-backup', namespace: 'aion' },
    spec: {
      template: {
        spec: {
          ...pod,
          containers: [
            {
              name: 'backup',
              image: 'registry.example.com/backup@sha256:' + 'a'.repeat(64),
              securityContext: restrictedContainerSecurity(),
              resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
            },
          ],
        },
      },
    },
  } as Obj;
}
const messages = (o: Obj) => evaluate([o], undefined, podSecurity).map((v) => v.message);

describe('restrictedJobPod', () => {
  const pod = restrictedJobPod('Backup', 'b', { serviceAccountName: 'store-backup', uid: 999 });

  it('a Job pod built on it, with a restricted container, passes the Pod Security "restricted" rule', () => {
    expect(podSecurity).toHaveLength(1);
    expect(messages(job(pod))).toEqual([]);
  });

  it('the rule is not vacuous: the same Job without the skeleton is refused (it would mount the token)', () => {
    expect(messages(job({}))).toEqual(['mounts a service-account token']);
  });

  it('runs under its own service account, with no API token and no service-link variables', () => {
    expect(pod.serviceAccountName).toBe('store-backup');
    // no service-account token unless needed (a backup Job never calls the API)
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('a failed run is a new pod counted against backoffLimit, never an in-place restart', () => {
    // Kubernetes Jobs allow only Never or OnFailure; Never makes each failure a new pod
    expect(pod.restartPolicy).toBe('Never');
  });

  it('runs as the given non-root UID, GID and fsGroup, with the RuntimeDefault seccomp profile', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('refuses UID 0 and non-integers: "restricted" forbids running as root', () => {
    for (const uid of [0, -1, 1.5]) {
      expect(() => restrictedJobPod('Backup', 'b', { serviceAccountName: 'sa', uid })).toThrow(ComponentError);
    }
  });

  it('is a valid Job pod for the Kubernetes model', () => {
    expect(validateManifest(job(pod))).toEqual([]);
  });

  it('returns a fresh object per call (callers spread and extend it)', () => {
    const a = restrictedJobPod('Backup', 'a', { serviceAccountName: 'sa', uid: 26 });
    const b = restrictedJobPod('Backup', 'b', { serviceAccountName: 'sa', uid: 26 });
    expect(a.securityContext).not.toBe(b.securityContext);
  });
});

/**
 * Pod Security "restricted", written once: the container and pod security contexts every
 * component renders, the values the policies demand.
 */
import type { k8s } from 'cdk8s-plus-27';
import { ComponentError } from './errors.js';

/**
 * The container security context of Pod Security "restricted": non-root, read-only root
 * filesystem, no privilege escalation, not privileged, every capability dropped, seccomp
 * RuntimeDefault. A fresh object per call (callers may extend it).
 */
export function restrictedContainerSecurity(): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The restricted pod security context for `uid` (also GID and fsGroup). */
export function restrictedPodSecurity(C: string, id: string, uid: number): k8s.PodSecurityContext {
  if (!Number.isInteger(uid) || uid < 1) throw new ComponentError(C, id, 'runAsUser', 'must be a non-root UID (≥ 1)', uid);
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * What every Job and CronJob pod of ours starts from: its own service account with no API token
 * mounted, no service-link environment variables, `restartPolicy: Never` (a failed run is a new pod,
 * counted against the Job's backoffLimit, never a silent in-place restart) and the restricted pod
 * security context for `uid`.
 * Spread it first and add containers, volumes, affinity after.
 */
export function restrictedJobPod(
  C: string,
  id: string,
  pod: { readonly serviceAccountName: string; readonly uid: number },
): Pick<k8s.PodSpec, 'serviceAccountName' | 'automountServiceAccountToken' | 'enableServiceLinks' | 'restartPolicy' | 'securityContext'> {
  return {
    serviceAccountName: pod.serviceAccountName,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    restartPolicy: 'Never',
    securityContext: restrictedPodSecurity(C, id, pod.uid),
  };
}

// A deployment as the workflows queue it and the activities run it.

export interface DeployJob {
  deploymentId: string;
  environment: string;
  commitSha: string;
  trigger: 'deploy.clicked' | 'release.updated' | 'release.final';
  requestedBy: string;
  /** binary flow: the candidate this deployment ships. */
  candidateId?: string;
}

// Every workflow type a Culvert worker runs.
export { pullRequestRelease, stableRelease, binaryRelease } from './release/flows.ts';
export { releaseCheck, candidateBuild } from './jobs.ts';
export { deployment } from './deploy.ts';
export { gate } from './gate.ts';
export { scheduledCutWorkflow } from './scheduled-cut.ts';
export { indexTrunkWorkflow } from './index-trunk.ts';
export { previewPicksWorkflow } from './preview-picks.ts';
export { trainWorkflow } from './train.ts';
export { githubBuildWorkflow, githubDeliveryWorkflow, githubDeploymentWorkflow, githubPickWorkflow, githubProtectionWorkflow, githubPullWorkflow } from './github.ts';
// Types of 2026-11, kept so that releases and deployments started then replay and finish (a legacy
// release moves to today's type at its next step: workflows/legacy/migrate.ts).
export { releaseWorkflow } from './legacy/release.ts';
export { deploymentWorkflow } from './legacy/deployment.ts';

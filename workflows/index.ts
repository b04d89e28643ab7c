export { deploymentWorkflow } from './deployment.ts';
export { releaseWorkflow } from './release.ts';
export { scheduledCutWorkflow } from './scheduled-cut.ts';

export { deploymentWorkflow } from './deployment.ts';
export { releaseWorkflow } from './release.ts';
export { scheduledCutWorkflow } from './scheduled-cut.ts';
export { indexTrunkWorkflow } from './index-trunk.ts';

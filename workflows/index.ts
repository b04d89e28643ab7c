export { releaseWorkflow } from './release.ts';
export { scheduledCutWorkflow } from './scheduled-cut.ts';

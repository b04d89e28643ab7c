export { releaseWorkflow } from './release.ts';

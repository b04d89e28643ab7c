export { GitError, git, type GitOptions, type GitResult } from './run.ts';
export { InvalidRefError, assertSafeBranchName, isFullSha, isSafeBranchName, isShaLike } from './refs.ts';
export {
  Mirror,
  type Checkout,
  type CommitInfo,
  type CommitTreeOptions,
  type Identity,
  type MergeTreesResult,
  type PickResult,
  type PushResult,
} from './mirror.ts';

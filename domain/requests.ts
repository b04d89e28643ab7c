// Change requests as callers file them, and what git says about them before they are filed.
import type { CommitDetail } from './changes.ts';

export type FileRequest =
  | { id: string; kind: 'merge'; branch: string }
  | { id: string; kind: 'pick'; commits: string[]; reason: string; severity: string; dependsOn?: string[] }
  | { id: string; kind: 'revert'; revertOf: string; reason: string };

/** What the git inspection of a request found (an activity, before the request is filed). */
export type Inspected =
  | { kind: 'merge'; sourceSha: string }
  | { kind: 'pick'; commits: CommitDetail[]; trunkOrder: number; alreadyPresent: boolean }
  | { kind: 'revert' };

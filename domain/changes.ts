// A change request as the workflows record it: the row they write, field by field.
import type { ChangeKind, ChangeState, CheckOutcome } from './types.ts';

export interface CommitDetail { sha: string; subject: string; author: string; authorDate: string; files: number; insertions: number; deletions: number; paths: string[] }

export interface ChangeRecord {
  id: string;
  seq: number;
  kind: ChangeKind;
  state: ChangeState;
  check: CheckOutcome;
  branch?: string | null;
  sourceSha?: string | null;
  commits?: string[];
  reason?: string | null;
  severity?: string | null;
  requester: string;
  checkRunId?: string | null;
  resultSha?: string | null;
  conflictPaths?: string[] | null;
  decidedBy?: string | null;
  decisionComment?: string | null;
  votes?: { by: string; decision: 'approve' | 'reject' }[];
  dependsOn?: string[];
  revertOf?: string | null;
  trunkOrder?: number | null;
  /** Written when the request is filed; later writes leave it as it is. */
  commitDetails?: CommitDetail[];
  /** Appended to the history unless the history already ends in this state (a retried write). */
  by?: string;
  note?: string;
}

// Change requests as the workflows keep them and record them. The database row has the same fields.
import type { ChangeKind, ChangeState, CheckOutcome } from './types.ts';

export interface CommitDetail { sha: string; subject: string; author: string; authorDate: string; files: number; insertions: number; deletions: number; paths: string[] }

/** A vote; `at` is when it was cast (absent on votes recorded before it was kept). */
export interface Ballot { by: string; decision: 'approve' | 'reject'; at?: string }

/** One entry of a change's history; `rev` orders them (absent on entries written before revisions). */
export interface ChangeEvent { at: string; state: string; by?: string; note?: string; rev?: number }

/**
 * A change request as a release workflow holds it. `rev` is the release-wide revision of its last
 * change: every writer (the workflow's recorder, the API storing an Update's answer, an activity that
 * merged it) writes a row only over an older revision, so the row always ends at the newest version.
 */
export interface Change {
  id: string;
  seq: number;
  kind: ChangeKind;
  state: ChangeState;
  check: CheckOutcome;
  /** merge: the branch and its head when requested. */
  branch: string | null;
  sourceSha: string | null;
  /** pick: full SHAs in trunk order. */
  commits: string[];
  /** pick/revert: position in trunk history; approved picks apply in this order. */
  trunkOrder: number;
  dependsOn: string[];
  revertOf: string | null;
  reason: string | null;
  severity: string | null;
  requester: string;
  votes: Ballot[];
  decidedBy: string | null;
  decisionComment: string | null;
  checkRunId: string | null;
  resultSha: string | null;
  conflictPaths: string[] | null;
  /** Why a unit of work ended `failed` (or why its check could not run). */
  failure: string | null;
  rev: number;
}

/** What one write carries for one change: its newest fields and every history entry since the last write. */
export interface ChangeWrite {
  change: Change;
  events: ChangeEvent[];
  /** Only on the first write: the subjects, authors and diff sizes of its commits. */
  details?: CommitDetail[];
}

/**
 * The legacy record shape (releaseWorkflow before revisions): fields without a revision, one history
 * entry per write. Kept while releases started before 2026-12 still run that code.
 */
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
  votes?: Ballot[];
  dependsOn?: string[];
  revertOf?: string | null;
  trunkOrder?: number | null;
  /** Written when the request is filed; later writes leave it as it is. */
  commitDetails?: CommitDetail[];
  /** Appended to the history unless the history already ends in this state (a retried write). */
  by?: string;
  note?: string;
}

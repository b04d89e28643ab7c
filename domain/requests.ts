// Change requests as callers file them, and what git says about them before they are filed.
import type { CommitDetail } from './changes.ts';

export type FileRequest =
  | { id: string; kind: 'merge'; branch: string }
  | { id: string; kind: 'pick'; commits: string[]; reason: string; severity: string; dependsOn?: string[] }
  | { id: string; kind: 'revert'; revertOf: string; reason: string };

/** What the git inspection of a request found (an activity, before the request is filed). */
export type Inspected =
  | { kind: 'merge'; sourceSha: string; tip?: CommitDetail }
  | { kind: 'pick'; commits: CommitDetail[]; trunkOrder: number; alreadyPresent: boolean; presentAs?: Record<string, string> }
  | { kind: 'revert' };

/** What one inspection answers on the wire: commits by SHA, their details once for all the requests that name them. */
export type InspectedWire =
  /** `tip`: the branch's head commit with the diff the merge would bring (from the merge base); absent from inspections before it. */
  | { kind: 'merge'; sourceSha: string; tip?: CommitDetail }
  /** `presentAs`: commits whose patch the release already has under another SHA, and that SHA (absent before it was looked for). */
  | { kind: 'pick'; shas: string[]; trunkOrder: number; alreadyPresent: boolean; presentAs?: Record<string, string> }
  | { kind: 'revert' };

export type InspectAnswer = { ok: true; inspected: InspectedWire } | { ok: false; code: string; message: string; details?: Record<string, unknown> };

export interface Inspection {
  answers: InspectAnswer[];
  details: Record<string, CommitDetail>;
}

// What the client reads from the API's answers: only the fields it shows.

export interface BlockedView { what: string; reason: string; since: string; attempts: number }

export interface ReleaseView {
  name: string;
  flow: string;
  state: string;
  headSha: string;
  production: boolean;
  branch: string;
  /** What the release waits on while a fault lasts (absent from servers before 2026-12). */
  blocked?: BlockedView[];
}

export interface ChangeView {
  id: string;
  seq: number;
  kind: 'merge' | 'pick' | 'revert';
  state: string;
  check: string | null;
  severity: string | null;
  requester: string;
  ageSeconds: number;
  branch: string | null;
  commits: string[];
  revertOf: string | null;
  commitDetails: { sha: string; subject: string }[];
  diff: { files: number; insertions: number; deletions: number };
  wantedBy: string[];
  passedBy: string[];
}

export type DecisionView = { id: string; ok: true; state: string } | { id: string; ok: false; code: string; message: string };

export interface CommitView {
  sha: string;
  subject: string | null;
  origin: { sha: string } | null;
  releases: { product: string; release: string; how: 'direct' | 'pick'; pickSha?: string; via?: string; since: string | null }[];
  environments: {
    product: string; environment: string; production: boolean; runsNow: boolean | null;
    firstReached: { at: string | null; release: string } | null;
  }[];
  inProduction: boolean;
}

export interface GateView {
  id: string;
  product: string;
  release: string;
  subject: string;
  state: string;
  group: string[];
  quorum: number;
  votes: { by: string; decision: 'approve' | 'reject' }[];
  escalatedTo: string[] | null;
}

export interface AuditView {
  at: string;
  actor: string;
  action: string;
  release: string | null;
  target: string | null;
  outcome: 'pending' | 'done' | 'refused';
  refusal: { code: string; message: string } | null;
}

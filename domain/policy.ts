import type { ApprovalPolicy } from './types.ts';

export interface Ballot { by: string; decision: 'approve' | 'reject' }

export type Verdict = 'approved' | 'rejected' | 'pending';

/** Pure: what the votes on one change request decide under a product's policy. */
export function verdict(policy: ApprovalPolicy | undefined, votes: Ballot[], requester: string): Verdict {
  const rule = policy ?? { rule: 'any-owner' };
  const counted = rule.excludeRequester ? votes.filter((v) => v.by !== requester) : votes;
  if (counted.some((v) => v.decision === 'reject')) return 'rejected';
  const wants = counted.filter((v) => v.decision === 'approve').length;
  switch (rule.rule) {
    case 'any-owner':
      return wants >= 1 ? 'approved' : 'pending';
    case 'quorum':
      return wants >= Math.max(1, rule.quorum ?? 1) ? 'approved' : 'pending';
    default: {
      const never: never = rule.rule;
      return never;
    }
  }
}

/** One vote per person: a later vote replaces the earlier one. */
export function castVote<B extends Ballot>(votes: B[], ballot: B): B[] {
  return [...votes.filter((v) => v.by !== ballot.by), ballot];
}

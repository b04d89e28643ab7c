/** @jsxImportSource hono/jsx */
// Release notes rendered: the same groups as the Markdown (merged requests, picks with their requests,
// other commits, what the older release already had under another SHA), with links to each commit.
import type { ChangeSet, CommitRef } from '../../notes/notes.ts';
import { Sha, enc } from '../layout.tsx';

const Commit = ({ c }: { c: CommitRef }) => (
  <><a href={`/ui/commits?sha=${enc(c.sha)}`}><Sha sha={c.sha} /></a> {c.subject} <span class="muted">— {c.author.replace(/\s*<[^>]*>$/, '')}</span></>
);

export function NotesView({ set, alreadyLabel }: { set: ChangeSet; alreadyLabel: string }) {
  const picks = set.picks.reduce((n, g) => n + g.commits.length, 0);
  return (
    <div id="notes">
      <p>{set.count} commits: {set.merges.length} merged requests, {picks} picks, {set.commits.length} other commits
        {set.alreadyIn.length > 0 ? `, ${set.alreadyIn.length} already in ${alreadyLabel}` : ''}.{set.truncated ? ' (Lists are cut short.)' : ''}</p>
      {set.merges.length > 0 ? <><h2>Merged requests</h2><ul>{set.merges.map((g) => (
        <li><strong>#{g.change.seq}</strong> {g.change.branch ? <code>{g.change.branch}</code> : null} requested by {g.change.requester}
          {g.change.approvedBy ? `, approved by ${g.change.approvedBy}` : ''}{g.change.reason ? `: ${g.change.reason}` : ''}
          <ul>{g.commits.map((c) => <li><Commit c={c} /></li>)}</ul></li>
      ))}</ul></> : null}
      {set.picks.length > 0 ? <><h2>Picks</h2><ul>{set.picks.map((g) => (
        <li>{g.change ? <><strong>#{g.change.seq}</strong>{g.change.kind === 'revert' ? ' (revert)' : ''} {g.change.severity ?? ''} requested by {g.change.requester}
          {g.change.approvedBy ? `, approved by ${g.change.approvedBy}` : ''}{g.change.reason ? `: ${g.change.reason}` : ''}</> : 'picked by hand'}
          <ul>{g.commits.map((c) => <li><Commit c={c} />{c.originSha ? <> from <Sha sha={c.originSha} /></> : null}
            {c.pickedBy === 'similar' ? <span class="pill warn">probably: {c.evidence ?? 'similar'}</span> : null}</li>)}</ul></li>
      ))}</ul></> : null}
      {set.commits.length > 0 ? <><h2>Other commits</h2><ul>{set.commits.map((c) => <li><Commit c={c} /></li>)}</ul></> : null}
      {set.alreadyIn.length > 0 ? <><h2>Already in {alreadyLabel} under another SHA</h2><ul>{set.alreadyIn.map((c) => <li><Commit c={c} /> as <Sha sha={c.as} /></li>)}</ul></> : null}
    </div>
  );
}

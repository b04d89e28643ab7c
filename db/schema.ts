import { sql } from 'drizzle-orm';
import type { ChangeEvent, CommitDetail } from '../domain/changes.ts';
import type { DeploymentFacts } from '../domain/deploy.ts';
import type { Blocked } from '../domain/records.ts';
import type { GithubOutcome } from '../domain/github.ts';
import type { MemberOutcome } from '../domain/trains.ts';
import {
  bigserial, boolean, index, integer, jsonb, pgEnum, pgTable, primaryKey, serial, text, timestamp, uniqueIndex,
} from 'drizzle-orm/pg-core';

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

export const flowEnum = pgEnum('flow', ['pull-request', 'cherry-pick', 'binary']);
export const releaseStateEnum = pgEnum('release_state', ['open', 'frozen', 'closed']);
export const changeKindEnum = pgEnum('change_kind', ['merge', 'pick', 'revert']);
export const changeStateEnum = pgEnum('change_state', [
  'requested', 'checking', 'awaiting-decision', 'approved', 'rejected', 'merged', 'conflict', 'failed', 'already-present', 'withdrawn',
]);
export const checkOutcomeEnum = pgEnum('check_outcome', ['none', 'running', 'passed', 'failed', 'queued']);
export const runStateEnum = pgEnum('run_state', ['running', 'succeeded', 'failed', 'timed_out', 'cancelled']);
export const deploymentStateEnum = pgEnum('deployment_state', ['pending', 'running', 'succeeded', 'failed']);
export const approvalStateEnum = pgEnum('approval_state', ['pending', 'approved', 'rejected', 'expired']);
export const roleEnum = pgEnum('role', ['admin', 'owner', 'ci', 'viewer']);
// Written before the action is carried out, settled after: an API that dies in between leaves `pending`.
export const auditOutcomeEnum = pgEnum('audit_outcome', ['pending', 'done', 'refused']);

export const products = pgTable('products', {
  name: text('name').primaryKey(),
  flow: flowEnum('flow').notNull(),
  /** The effective configuration: the template's merged with the product's own fields. */
  config: jsonb('config').notNull(),
  template: text('template'),
  /** What the product sets itself, on top of its template. */
  own: jsonb('own'),
  /** A component's product: the product it is part of (domain/components.ts); tokens of that product reach it. */
  partOf: text('part_of'),
  ...timestamps,
}, (t) => [index('products_part_of').on(t.partOf)]);

// The branches each product moves on its repository (domain/repositories.ts): two products never move
// the same branch. Written with the product, under a table lock (db/repos/branch-claims.ts); the
// unique index refuses two equal claims whatever the code does.
export const productBranches = pgTable('product_branches', {
  product: text('product').primaryKey().references(() => products.name, { onDelete: 'cascade' }),
  /** repositoryKey() of the product's repository. */
  repository: text('repository').notNull(),
  prefix: text('prefix').notNull(),
  /** true: exactly the branch `prefix` (a pull-request product's trunk); false: every branch starting with it. */
  exact: boolean('exact').notNull(),
}, (t) => [uniqueIndex('product_branches_repository_prefix').on(t.repository, t.prefix)]);

// One configuration shared by several products (e.g. three repositories released the same way).
export const productTemplates = pgTable('product_templates', {
  name: text('name').primaryKey(),
  config: jsonb('config').notNull(),
  ...timestamps,
});

export const releases = pgTable('releases', {
  product: text('product').notNull().references(() => products.name),
  name: text('name').notNull(),
  flow: flowEnum('flow').notNull(),
  branch: text('branch').notNull(),
  state: releaseStateEnum('state').notNull().default('open'),
  production: boolean('production').notNull().default(true),
  cutFrom: text('cut_from').notNull(),
  headSha: text('head_sha').notNull(),
  /**
   * The head of the last recorded move (the trace): it differs from headSha while the trace of a move is
   * still owed. Null: never traced (cut before Culvert traced commits).
   */
  tracedSha: text('traced_sha'),
  workflowId: text('workflow_id').notNull(),
  createdBy: text('created_by').notNull(),
  /**
   * The run of the release workflow that last recorded (its epoch): a reading of change requests taken
   * with an older epoch may miss what that run did at its end, so the workflow refuses it as stale.
   */
  epoch: integer('epoch').notNull().default(0),
  /** 1: the releaseWorkflow type of 2026-11; 2: pullRequestRelease / stableRelease / binaryRelease. */
  engine: integer('engine').notNull().default(1),
  /** What the release waits on while transient faults last (remote, database, worker); [] when nothing. */
  blocked: jsonb('blocked').$type<Blocked[]>().notNull().default(sql`'[]'::jsonb`),
  ...timestamps,
}, (t) => [
  primaryKey({ columns: [t.product, t.name] }),
  // A pull-request product has exactly one long-lived release: two cuts racing past the API's check
  // cannot both land.
  uniqueIndex('releases_one_pull_request').on(t.product).where(sql`${t.flow} = 'pull-request'`),
]);

export const changeRequests = pgTable('change_requests', {
  id: text('id').primaryKey(),
  product: text('product').notNull(),
  release: text('release').notNull(),
  seq: integer('seq').notNull(),
  kind: changeKindEnum('kind').notNull(),
  state: changeStateEnum('state').notNull(),
  branch: text('branch'),
  sourceSha: text('source_sha'),
  commits: jsonb('commits').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  reason: text('reason'),
  severity: text('severity'),
  requester: text('requester').notNull(),
  checkOutcome: checkOutcomeEnum('check_outcome').notNull().default('none'),
  checkRunId: text('check_run_id'),
  resultSha: text('result_sha'),
  conflictPaths: jsonb('conflict_paths').$type<string[]>(),
  decidedBy: text('decided_by'),
  decisionComment: text('decision_comment'),
  votes: jsonb('votes').$type<Vote[]>().notNull().default(sql`'[]'::jsonb`),
  dependsOn: jsonb('depends_on').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  revertOf: text('revert_of'),
  /** Position of the first commit in trunk history (ancestors count): picks apply in this order. */
  trunkOrder: integer('trunk_order'),
  /** What a release owner needs to triage fast: subjects, authors, diff size, touched paths. */
  commitDetails: jsonb('commit_details').$type<CommitDetail[]>().notNull().default(sql`'[]'::jsonb`),
  history: jsonb('history').$type<ChangeEvent[]>().notNull().default(sql`'[]'::jsonb`),
  /** Why a unit of work ended `failed`, or why its check could not run. */
  failure: text('failure'),
  /** The release-wide revision of the last write (domain/changes.ts): a write over a newer one changes nothing. */
  rev: integer('rev').notNull().default(0),
  ...timestamps,
}, (t) => [
  uniqueIndex('change_requests_release_seq').on(t.product, t.release, t.seq),
  // Queued work a new run of the release loads: approved requests by revision, queued checks by number.
  index('change_requests_queue').on(t.product, t.release, t.state, t.rev),
  index('change_requests_state').on(t.product, t.release, t.state),
  index('change_requests_trunk_order').on(t.product, t.release, t.trunkOrder),
]);

export type { ChangeEvent } from '../domain/changes.ts';
export interface Vote { by: string; decision: 'approve' | 'reject'; at: string; comment?: string }
export type { CommitDetail } from '../domain/changes.ts';

export const stepRuns = pgTable('step_runs', {
  id: text('id').primaryKey(),
  product: text('product').notNull(),
  release: text('release').notNull(),
  changeId: text('change_id'),
  deploymentId: text('deployment_id'),
  step: text('step').notNull(),
  argv: jsonb('argv').$type<string[]>().notNull(),
  commitSha: text('commit_sha').notNull(),
  state: runStateEnum('state').notNull(),
  exitCode: integer('exit_code'),
  durationMs: integer('duration_ms'),
  logPath: text('log_path').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
}, (t) => [index('step_runs_release').on(t.product, t.release)]);

export const artifacts = pgTable('artifacts', {
  id: text('id').primaryKey(),
  runId: text('run_id').notNull().references(() => stepRuns.id),
  candidateId: text('candidate_id'),
  name: text('name').notNull(),
  size: integer('size').notNull(),
  sha256: text('sha256').notNull(),
  location: text('location').notNull(),
  ...timestamps,
});

export const environments = pgTable('environments', {
  product: text('product').notNull().references(() => products.name),
  name: text('name').notNull(),
  order: integer('order').notNull(),
  production: boolean('production').notNull(),
  ...timestamps,
}, (t) => [primaryKey({ columns: [t.product, t.name] })]);

export const deployments = pgTable('deployments', {
  id: text('id').primaryKey(),
  product: text('product').notNull(),
  release: text('release').notNull(),
  environment: text('environment').notNull(),
  commitSha: text('commit_sha').notNull(),
  trigger: text('trigger').notNull(),
  requestedBy: text('requested_by').notNull(),
  state: deploymentStateEnum('state').notNull(),
  runId: text('run_id'),
  /** Why it failed when no step ran (refused, its gate rejected, its release closed first) or the step could not start. */
  failure: text('failure'),
  /** What decided it when its workflow started (domain/deploy.ts); written once. Null on rows from before. */
  facts: jsonb('facts').$type<DeploymentFacts>(),
  finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  ...timestamps,
}, (t) => [
  // An environment's history, newest first.
  index('deployments_env_history').on(t.product, t.environment, t.createdAt, t.id),
  // What an environment runs: its latest succeeded deployment by finish time (currentOf in repos/trace.ts).
  index('deployments_env_current').on(t.product, t.environment, t.state, sql`coalesce(${t.finishedAt}, ${t.createdAt})`, t.createdAt, t.id),
]);

export const approvals = pgTable('approvals', {
  id: text('id').primaryKey(),
  product: text('product').notNull(),
  release: text('release'),
  subject: text('subject').notNull(),
  group: jsonb('group').$type<string[]>().notNull(),
  quorum: integer('quorum').notNull(),
  state: approvalStateEnum('state').notNull(),
  votes: jsonb('votes').$type<{ by: string; decision: 'approve' | 'reject'; at: string; comment?: string }[]>().notNull().default(sql`'[]'::jsonb`),
  workflowId: text('workflow_id').notNull(),
  requestedBy: text('requested_by'),
  /** Whose vote does not count (whoever started the action), if the policy says so. */
  excluded: text('excluded'),
  rejectStops: boolean('reject_stops').notNull().default(true),
  deadline: timestamp('deadline', { withTimezone: true, mode: 'date' }),
  reminders: integer('reminders').notNull().default(0),
  escalatedTo: jsonb('escalated_to').$type<string[]>(),
  /** How many changes the gate had (votes, reminders, escalation) when written: a write over a newer one changes nothing. */
  rev: integer('rev').notNull().default(0),
  ...timestamps,
}, (t) => [index('approvals_state').on(t.state)]);

export const candidateStateEnum = pgEnum('candidate_state', ['building', 'built', 'failed']);

// A binary release's builds: RC1, RC2, ... and the final (number 0).
export const candidates = pgTable('candidates', {
  id: text('id').primaryKey(),
  product: text('product').notNull(),
  release: text('release').notNull(),
  number: integer('number').notNull(),
  final: boolean('final').notNull().default(false),
  label: text('label').notNull(),
  commitSha: text('commit_sha').notNull(),
  buildRunId: text('build_run_id'),
  state: candidateStateEnum('state').notNull(),
  failure: text('failure'),
  deployedTo: text('deployed_to'),
  ...timestamps,
}, (t) => [uniqueIndex('candidates_release_number').on(t.product, t.release, t.number, t.final)]);

export const apiTokens = pgTable('api_tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  role: roleEnum('role').notNull(),
  products: jsonb('products').$type<string[]>(),
  secretHash: text('secret_hash').notNull().unique(),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  /** After this the token no longer authenticates (null: it does not expire). */
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
  /** When it last authenticated a request (to the minute: not written on every request). */
  lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  ...timestamps,
}, (t) => [index('api_tokens_name').on(t.name)]);

export const auditLog = pgTable('audit_log', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  actor: text('actor').notNull(),
  tokenId: text('token_id'),
  action: text('action').notNull(),
  product: text('product'),
  release: text('release'),
  target: text('target'),
  details: jsonb('details'),
  outcome: auditOutcomeEnum('outcome').notNull().default('done'),
  /** Why it was refused: the error code and message the caller got. */
  refusal: jsonb('refusal').$type<{ code: string; message: string }>(),
}, (t) => [index('audit_log_product').on(t.product, t.at)]);

// Every commit a release's branch brought in, with the origin of picked commits (traceability).
export const releaseCommits = pgTable('release_commits', {
  product: text('product').notNull(),
  release: text('release').notNull(),
  sha: text('sha').notNull(),
  originSha: text('origin_sha'),
  changeId: text('change_id'),
  addedAt: timestamp('added_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  /** Which move of the branch brought the commit in (0: the cut itself; see release_moves). */
  move: integer('move').notNull().default(0),
  /** Order within the move, parents before children. */
  ord: integer('ord').notNull().default(0),
  subject: text('subject'),
  author: text('author'),
  /** `git patch-id --stable` of a non-merge commit. */
  patchId: text('patch_id'),
  /** How originSha was found: 'trailer', 'patch-id', or 'similar' (an edited backport: a "probably"). */
  originVia: text('origin_via'),
  /** For 'similar': the evidence (same author and date; or same subject and most paths). */
  originEvidence: text('origin_evidence'),
  /** Whether it has more than one parent (null: traced before this was kept). */
  merge: boolean('merge'),
}, (t) => [
  primaryKey({ columns: [t.product, t.release, t.sha] }), index('release_commits_origin').on(t.originSha), index('release_commits_sha').on(t.sha),
]);

// Commit tracing. A line is one append-only first-parent history of a repository's trunk (a new
// generation starts when the trunk is rewritten). Every commit of the line has the position of the first
// anchor (first-parent commit) whose history contains it: a release cut from anchor P contains exactly
// the commits with pos <= P, plus its release_commits.
export const traceLines = pgTable('trace_lines', {
  id: serial('id').primaryKey(),
  repository: text('repository').notNull(),
  trunk: text('trunk').notNull(),
  generation: integer('generation').notNull(),
  headSha: text('head_sha'),
  /** Positions handed out so far (the last anchor's pos). */
  anchors: integer('anchors').notNull().default(0),
  /** Commits indexed so far (the last seq). */
  commits: integer('commits').notNull().default(0),
  ...timestamps,
}, (t) => [uniqueIndex('trace_lines_repository').on(t.repository, t.trunk, t.generation)]);

export const traceCommits = pgTable('trace_commits', {
  sha: text('sha').notNull(),
  line: integer('line').notNull(),
  pos: integer('pos').notNull(),
  /** Topological order in the line, parents first. */
  seq: integer('seq').notNull(),
  anchor: boolean('anchor').notNull(),
  subject: text('subject').notNull(),
  author: text('author').notNull(),
  changeId: text('change_id'),
  patchId: text('patch_id'),
  /** Whether it has more than one parent (null: indexed before this was kept). */
  merge: boolean('merge'),
}, (t) => [
  primaryKey({ columns: [t.sha, t.line] }), index('trace_commits_pos').on(t.line, t.pos),
  // The same patch under other SHAs of the line (a fix reverted and applied again): its copies.
  index('trace_commits_patch').on(t.line, t.patchId),
]);

/** Where each release was cut: its line and anchor position (0: none; its history is all in release_commits). */
export const releaseCuts = pgTable('release_cuts', {
  product: text('product').notNull(),
  release: text('release').notNull(),
  line: integer('line'),
  cutSha: text('cut_sha').notNull(),
  cutPos: integer('cut_pos').notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
}, (t) => [primaryKey({ columns: [t.product, t.release] }), index('release_cuts_line').on(t.line, t.cutPos)]);

/** Every head a release's branch has had: move 0 is the cut, then one row per (fast-forward) move. */
export const releaseMoves = pgTable('release_moves', {
  product: text('product').notNull(),
  release: text('release').notNull(),
  move: integer('move').notNull(),
  fromSha: text('from_sha'),
  toSha: text('to_sha').notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.product, t.release, t.move] }), uniqueIndex('release_moves_head').on(t.product, t.release, t.toSha)]);

/** What a pick request awaiting a decision would do if approved now (activities/preview.ts). */
export type PreviewOutcome = 'applies' | 'conflicts' | 'already-present' | 'error';

// Per undecided pick request, the answer to "does it apply?" on the release's head `head_sha`: a head
// that moved makes it stale (the API then asks again); the next answer replaces it. Written by the
// worker, read by the change list. The primary key's prefix (product, release) is the index that "all
// previews of a release" reads.
export const pickPreviews = pgTable('pick_previews', {
  product: text('product').notNull(),
  release: text('release').notNull(),
  changeId: text('change_id').notNull(),
  headSha: text('head_sha').notNull(),
  outcome: text('outcome').$type<PreviewOutcome>().notNull(),
  /** applies: the paths it changes; conflicts: the conflicting paths. */
  paths: jsonb('paths').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  /** already-present: the release's commit holding the same patch, when one does. */
  presentSha: text('present_sha'),
  /** Why, in a few words (error: what is wrong with the pick). */
  detail: text('detail'),
  computedAt: timestamp('computed_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.product, t.release, t.changeId] })]);

export type Product = typeof products.$inferSelect;
export type ProductTemplate = typeof productTemplates.$inferSelect;
export type Release = typeof releases.$inferSelect;
export type ChangeRequest = typeof changeRequests.$inferSelect;
export type StepRun = typeof stepRuns.$inferSelect;
export type Artifact = typeof artifacts.$inferSelect;
export type Environment = typeof environments.$inferSelect;
export type Deployment = typeof deployments.$inferSelect;
export type Approval = typeof approvals.$inferSelect;
export type Candidate = typeof candidates.$inferSelect;
export type ApiToken = typeof apiTokens.$inferSelect;
export type AuditEntry = typeof auditLog.$inferSelect;
export type TraceLine = typeof traceLines.$inferSelect;
export type ReleaseCut = typeof releaseCuts.$inferSelect;
export type ReleaseMove = typeof releaseMoves.$inferSelect;
export type PickPreview = typeof pickPreviews.$inferSelect;

/** A train: one release of many products, acted on together (domain/trains.ts, workflows/train.ts). */
export const trains = pgTable('trains', {
  name: text('name').primaryKey(),
  /** The name of every member's release. */
  release: text('release').notNull(),
  production: boolean('production').notNull().default(true),
  /** The plan its members were taken from, when they were. */
  plan: text('plan'),
  state: text('state').$type<'open' | 'closed'>().notNull().default('open'),
  workflowId: text('workflow_id').notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [index('trains_created').on(t.createdAt)]);

/** A member's outcome of one action of its train, with the action's number and kind. */
export type TrainMemberLast = MemberOutcome & { seq: number; kind: string; at: string };

export const trainMembers = pgTable('train_members', {
  train: text('train').notNull().references(() => trains.name, { onDelete: 'cascade' }),
  product: text('product').notNull(),
  /** Its release once cut (the train's release name), null before or when the cut failed. */
  release: text('release'),
  /** The last action the train took on it and its outcome. */
  last: jsonb('last').$type<TrainMemberLast>(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.train, t.product] }), index('train_members_product').on(t.product)]);

export const trainActions = pgTable('train_actions', {
  train: text('train').notNull().references(() => trains.name, { onDelete: 'cascade' }),
  seq: integer('seq').notNull(),
  action: jsonb('action').$type<Record<string, unknown>>().notNull(),
  requestedBy: text('requested_by').notNull(),
  /** The pre-flight the owner confirmed: who was ready and why the others could not. */
  report: jsonb('report').$type<Record<string, unknown>>().notNull(),
  /** The members it acts on (the ready ones, or all when confirmed for all). */
  members: jsonb('members').$type<string[]>().notNull(),
  state: text('state').$type<'running' | 'done'>().notNull().default('running'),
  done: integer('done').notNull().default(0),
  failed: integer('failed').notNull().default(0),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
}, (t) => [primaryKey({ columns: [t.train, t.seq] })]);

/** Each member's outcome of each action, kept (the member's row holds only its last). */
export const trainOutcomes = pgTable('train_outcomes', {
  train: text('train').notNull().references(() => trains.name, { onDelete: 'cascade' }),
  seq: integer('seq').notNull(),
  product: text('product').notNull(),
  outcome: jsonb('outcome').$type<TrainMemberLast>().notNull(),
}, (t) => [primaryKey({ columns: [t.train, t.seq, t.product] })]);

export type Train = typeof trains.$inferSelect;
export type TrainMember = typeof trainMembers.$inferSelect;
export type TrainActionRow = typeof trainActions.$inferSelect;

/**
 * A deployment waiting for another product's version in an environment (domain/dependencies.ts): one
 * row per deployment and dependency, written before the dependency is looked at, so that the
 * dependency's deployment, finishing at any moment, finds the row or the waiter finds it done.
 */
export const dependencyWaits = pgTable('dependency_waits', {
  deploymentId: text('deployment_id').notNull(),
  workflowId: text('workflow_id').notNull(),
  product: text('product').notNull(),
  release: text('release').notNull(),
  environment: text('environment').notNull(),
  onProduct: text('on_product').notNull(),
  onVersion: text('on_version').notNull(),
  onEnvironment: text('on_environment').notNull(),
  state: text('state').$type<'waiting' | 'met' | 'overridden' | 'timed-out'>().notNull().default('waiting'),
  /** What the dependency last did while waited for ("failed in production at ..."). */
  note: text('note'),
  since: timestamp('since', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  endedAt: timestamp('ended_at', { withTimezone: true, mode: 'date' }),
  endedBy: text('ended_by'),
  /** Who the wait was handed to at its timeout (onTimeout.escalateTo); it goes on waiting. */
  escalatedTo: jsonb('escalated_to').$type<string[]>(),
  escalatedAt: timestamp('escalated_at', { withTimezone: true, mode: 'date' }),
}, (t) => [
  primaryKey({ columns: [t.deploymentId, t.onProduct] }),
  index('dependency_waits_on').on(t.onProduct, t.onVersion, t.onEnvironment, t.state),
  index('dependency_waits_release').on(t.product, t.release),
]);
export type DependencyWait = typeof dependencyWaits.$inferSelect;

// The snapshot of a release across repositories (domain/components.ts): for each component, the release
// of its product cut with the same name, the branch and the commit it was cut from, or why it could not be.
export const releaseComponents = pgTable('release_components', {
  product: text('product').notNull(),
  release: text('release').notNull(),
  component: text('component').notNull(),
  componentProduct: text('component_product').notNull(),
  repository: text('repository').notNull(),
  state: text('state').$type<'cutting' | 'cut' | 'failed'>().notNull(),
  branch: text('branch'),
  cutFrom: text('cut_from'),
  failure: text('failure'),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.product, t.release, t.component] })]);
export type ReleaseComponentRow = typeof releaseComponents.$inferSelect;

// GitHub's webhook deliveries (api/github): each handled once, by its delivery id, with what it led to.
export const githubDeliveries = pgTable('github_deliveries', {
  id: text('id').primaryKey(),
  event: text('event').notNull(),
  action: text('action'),
  repository: text('repository').notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  handledAt: timestamp('handled_at', { withTimezone: true, mode: 'date' }),
  outcomes: jsonb('outcomes').$type<GithubOutcome[]>(),
});
export type GithubDeliveryRow = typeof githubDeliveries.$inferSelect;

// The pull requests Culvert filed a merge request for: an approving review finds the request of the head it reviewed.
export const githubPulls = pgTable('github_pulls', {
  product: text('product').notNull(),
  number: integer('number').notNull(),
  release: text('release').notNull(),
  changeId: text('change_id').notNull(),
  headSha: text('head_sha').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.product, t.number] })]);
export type GithubPull = typeof githubPulls.$inferSelect;

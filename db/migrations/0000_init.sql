CREATE TYPE "public"."approval_state" AS ENUM('pending', 'approved', 'rejected', 'expired');--> statement-breakpoint
CREATE TYPE "public"."change_kind" AS ENUM('merge', 'pick', 'revert');--> statement-breakpoint
CREATE TYPE "public"."change_state" AS ENUM('requested', 'checking', 'awaiting-decision', 'approved', 'rejected', 'merged', 'conflict', 'failed', 'already-present');--> statement-breakpoint
CREATE TYPE "public"."check_outcome" AS ENUM('none', 'running', 'passed', 'failed');--> statement-breakpoint
CREATE TYPE "public"."deployment_state" AS ENUM('pending', 'running', 'succeeded', 'failed');--> statement-breakpoint
CREATE TYPE "public"."flow" AS ENUM('pull-request', 'cherry-pick', 'binary');--> statement-breakpoint
CREATE TYPE "public"."release_state" AS ENUM('open', 'frozen', 'closed');--> statement-breakpoint
CREATE TYPE "public"."role" AS ENUM('admin', 'owner', 'ci', 'viewer');--> statement-breakpoint
CREATE TYPE "public"."run_state" AS ENUM('running', 'succeeded', 'failed', 'timed_out', 'cancelled');--> statement-breakpoint
CREATE TABLE "api_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" "role" NOT NULL,
	"products" jsonb,
	"secret_hash" text NOT NULL,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "api_tokens_secret_hash_unique" UNIQUE("secret_hash")
);
--> statement-breakpoint
CREATE TABLE "approvals" (
	"id" text PRIMARY KEY NOT NULL,
	"product" text NOT NULL,
	"release" text,
	"subject" text NOT NULL,
	"group" jsonb NOT NULL,
	"quorum" integer NOT NULL,
	"state" "approval_state" NOT NULL,
	"votes" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"workflow_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "artifacts" (
	"id" text PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"name" text NOT NULL,
	"size" integer NOT NULL,
	"sha256" text NOT NULL,
	"location" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"token_id" text,
	"action" text NOT NULL,
	"product" text,
	"release" text,
	"target" text,
	"details" jsonb
);
--> statement-breakpoint
CREATE TABLE "change_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"product" text NOT NULL,
	"release" text NOT NULL,
	"seq" integer NOT NULL,
	"kind" "change_kind" NOT NULL,
	"state" "change_state" NOT NULL,
	"branch" text,
	"source_sha" text,
	"commits" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"reason" text,
	"severity" text,
	"requester" text NOT NULL,
	"check_outcome" "check_outcome" DEFAULT 'none' NOT NULL,
	"check_run_id" text,
	"result_sha" text,
	"conflict_paths" jsonb,
	"decided_by" text,
	"decision_comment" text,
	"history" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deployments" (
	"id" text PRIMARY KEY NOT NULL,
	"product" text NOT NULL,
	"release" text NOT NULL,
	"environment" text NOT NULL,
	"commit_sha" text NOT NULL,
	"trigger" text NOT NULL,
	"requested_by" text NOT NULL,
	"state" "deployment_state" NOT NULL,
	"run_id" text,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "environments" (
	"product" text NOT NULL,
	"name" text NOT NULL,
	"order" integer NOT NULL,
	"production" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "environments_product_name_pk" PRIMARY KEY("product","name")
);
--> statement-breakpoint
CREATE TABLE "products" (
	"name" text PRIMARY KEY NOT NULL,
	"flow" "flow" NOT NULL,
	"config" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "release_commits" (
	"product" text NOT NULL,
	"release" text NOT NULL,
	"sha" text NOT NULL,
	"origin_sha" text,
	"change_id" text,
	"added_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "release_commits_product_release_sha_pk" PRIMARY KEY("product","release","sha")
);
--> statement-breakpoint
CREATE TABLE "releases" (
	"product" text NOT NULL,
	"name" text NOT NULL,
	"flow" "flow" NOT NULL,
	"branch" text NOT NULL,
	"state" "release_state" DEFAULT 'open' NOT NULL,
	"production" boolean DEFAULT true NOT NULL,
	"cut_from" text NOT NULL,
	"head_sha" text NOT NULL,
	"workflow_id" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "releases_product_name_pk" PRIMARY KEY("product","name")
);
--> statement-breakpoint
CREATE TABLE "step_runs" (
	"id" text PRIMARY KEY NOT NULL,
	"product" text NOT NULL,
	"release" text NOT NULL,
	"change_id" text,
	"deployment_id" text,
	"step" text NOT NULL,
	"argv" jsonb NOT NULL,
	"commit_sha" text NOT NULL,
	"state" "run_state" NOT NULL,
	"exit_code" integer,
	"duration_ms" integer,
	"log_path" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_run_id_step_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."step_runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "environments" ADD CONSTRAINT "environments_product_products_name_fk" FOREIGN KEY ("product") REFERENCES "public"."products"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "releases" ADD CONSTRAINT "releases_product_products_name_fk" FOREIGN KEY ("product") REFERENCES "public"."products"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_log_product" ON "audit_log" USING btree ("product","at");--> statement-breakpoint
CREATE UNIQUE INDEX "change_requests_release_seq" ON "change_requests" USING btree ("product","release","seq");--> statement-breakpoint
CREATE INDEX "change_requests_state" ON "change_requests" USING btree ("product","release","state");--> statement-breakpoint
CREATE INDEX "deployments_env" ON "deployments" USING btree ("product","environment");--> statement-breakpoint
CREATE INDEX "release_commits_origin" ON "release_commits" USING btree ("origin_sha");--> statement-breakpoint
CREATE INDEX "step_runs_release" ON "step_runs" USING btree ("product","release");
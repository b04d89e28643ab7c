CREATE TYPE "public"."candidate_state" AS ENUM('building', 'built', 'failed');--> statement-breakpoint
CREATE TABLE "candidates" (
	"id" text PRIMARY KEY NOT NULL,
	"product" text NOT NULL,
	"release" text NOT NULL,
	"number" integer NOT NULL,
	"final" boolean DEFAULT false NOT NULL,
	"label" text NOT NULL,
	"commit_sha" text NOT NULL,
	"build_run_id" text,
	"state" "candidate_state" NOT NULL,
	"failure" text,
	"deployed_to" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "requested_by" text;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "excluded" text;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "reject_stops" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "deadline" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "reminders" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "escalated_to" jsonb;--> statement-breakpoint
ALTER TABLE "artifacts" ADD COLUMN "candidate_id" text;--> statement-breakpoint
CREATE UNIQUE INDEX "candidates_release_number" ON "candidates" USING btree ("product","release","number","final");--> statement-breakpoint
CREATE INDEX "approvals_state" ON "approvals" USING btree ("state");
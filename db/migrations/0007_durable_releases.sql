ALTER TYPE "public"."change_state" ADD VALUE 'withdrawn';--> statement-breakpoint
ALTER TYPE "public"."check_outcome" ADD VALUE 'queued';--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "rev" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "change_requests" ADD COLUMN "failure" text;--> statement-breakpoint
ALTER TABLE "change_requests" ADD COLUMN "rev" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "failure" text;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "epoch" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "engine" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "blocked" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
CREATE INDEX "change_requests_queue" ON "change_requests" USING btree ("product","release","state","rev");
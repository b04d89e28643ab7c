ALTER TABLE "release_commits" ADD COLUMN "merge" boolean;--> statement-breakpoint
ALTER TABLE "trace_commits" ADD COLUMN "merge" boolean;
ALTER TABLE "release_commits" ADD COLUMN "origin_evidence" text;--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "merge" boolean;--> statement-breakpoint
ALTER TABLE "trace_commits" ADD COLUMN "merge" boolean;--> statement-breakpoint
CREATE INDEX "trace_commits_patch" ON "trace_commits" USING btree ("line","patch_id");
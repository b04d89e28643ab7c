ALTER TABLE "release_commits" ADD COLUMN "origin_evidence" text;--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "merge" boolean;--> statement-breakpoint
ALTER TABLE "releases" ADD COLUMN "traced_sha" text;--> statement-breakpoint
ALTER TABLE "trace_commits" ADD COLUMN "merge" boolean;--> statement-breakpoint
CREATE INDEX "trace_commits_patch" ON "trace_commits" USING btree ("line","patch_id");--> statement-breakpoint
UPDATE "releases" r SET "traced_sha" = (SELECT m."to_sha" FROM "release_moves" m WHERE m."product" = r."product" AND m."release" = r."name" ORDER BY m."move" DESC LIMIT 1);

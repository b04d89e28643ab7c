DROP INDEX "deployments_env";--> statement-breakpoint
CREATE INDEX "deployments_env_history" ON "deployments" USING btree ("product","environment","created_at","id");--> statement-breakpoint
CREATE INDEX "deployments_env_current" ON "deployments" USING btree ("product","environment","state",coalesce("finished_at", "created_at"),"created_at","id");
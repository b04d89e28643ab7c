ALTER TABLE "dependency_waits" ADD COLUMN "escalated_to" jsonb;--> statement-breakpoint
ALTER TABLE "dependency_waits" ADD COLUMN "escalated_at" timestamp with time zone;
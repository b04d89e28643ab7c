CREATE TYPE "public"."audit_outcome" AS ENUM('pending', 'done', 'refused');--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "outcome" "audit_outcome" DEFAULT 'done' NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "refusal" jsonb;
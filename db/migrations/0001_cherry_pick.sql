CREATE TABLE "product_templates" (
	"name" text PRIMARY KEY NOT NULL,
	"config" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "change_requests" ADD COLUMN "votes" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "change_requests" ADD COLUMN "depends_on" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "change_requests" ADD COLUMN "revert_of" text;--> statement-breakpoint
ALTER TABLE "change_requests" ADD COLUMN "trunk_order" integer;--> statement-breakpoint
ALTER TABLE "change_requests" ADD COLUMN "commit_details" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "products" ADD COLUMN "template" text;--> statement-breakpoint
ALTER TABLE "products" ADD COLUMN "own" jsonb;--> statement-breakpoint
CREATE INDEX "change_requests_trunk_order" ON "change_requests" USING btree ("product","release","trunk_order");
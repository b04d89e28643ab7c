CREATE TABLE "github_deliveries" (
	"id" text PRIMARY KEY NOT NULL,
	"event" text NOT NULL,
	"action" text,
	"repository" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"handled_at" timestamp with time zone,
	"outcomes" jsonb
);
--> statement-breakpoint
CREATE TABLE "github_pulls" (
	"product" text NOT NULL,
	"number" integer NOT NULL,
	"release" text NOT NULL,
	"change_id" text NOT NULL,
	"head_sha" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "github_pulls_product_number_pk" PRIMARY KEY("product","number")
);

CREATE TABLE "pick_previews" (
	"product" text NOT NULL,
	"release" text NOT NULL,
	"change_id" text NOT NULL,
	"head_sha" text NOT NULL,
	"outcome" text NOT NULL,
	"paths" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"present_sha" text,
	"detail" text,
	"computed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pick_previews_product_release_change_id_pk" PRIMARY KEY("product","release","change_id")
);

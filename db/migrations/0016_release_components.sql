CREATE TABLE "release_components" (
	"product" text NOT NULL,
	"release" text NOT NULL,
	"component" text NOT NULL,
	"component_product" text NOT NULL,
	"repository" text NOT NULL,
	"state" text NOT NULL,
	"branch" text,
	"cut_from" text,
	"failure" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "release_components_product_release_component_pk" PRIMARY KEY("product","release","component")
);
--> statement-breakpoint
ALTER TABLE "products" ADD COLUMN "part_of" text;--> statement-breakpoint
CREATE INDEX "products_part_of" ON "products" USING btree ("part_of");
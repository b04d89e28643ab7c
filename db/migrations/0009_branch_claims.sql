CREATE TABLE "product_branches" (
	"product" text PRIMARY KEY NOT NULL,
	"repository" text NOT NULL,
	"prefix" text NOT NULL,
	"exact" boolean NOT NULL
);
--> statement-breakpoint
ALTER TABLE "product_branches" ADD CONSTRAINT "product_branches_product_products_name_fk" FOREIGN KEY ("product") REFERENCES "public"."products"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "product_branches_repository_prefix" ON "product_branches" USING btree ("repository","prefix");
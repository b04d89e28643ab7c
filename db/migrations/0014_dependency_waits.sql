CREATE TABLE "dependency_waits" (
	"deployment_id" text NOT NULL,
	"workflow_id" text NOT NULL,
	"product" text NOT NULL,
	"release" text NOT NULL,
	"environment" text NOT NULL,
	"on_product" text NOT NULL,
	"on_version" text NOT NULL,
	"on_environment" text NOT NULL,
	"state" text DEFAULT 'waiting' NOT NULL,
	"note" text,
	"since" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"ended_by" text,
	CONSTRAINT "dependency_waits_deployment_id_on_product_pk" PRIMARY KEY("deployment_id","on_product")
);
--> statement-breakpoint
CREATE INDEX "dependency_waits_on" ON "dependency_waits" USING btree ("on_product","on_version","on_environment","state");--> statement-breakpoint
CREATE INDEX "dependency_waits_release" ON "dependency_waits" USING btree ("product","release");
CREATE TABLE "train_actions" (
	"train" text NOT NULL,
	"seq" integer NOT NULL,
	"action" jsonb NOT NULL,
	"requested_by" text NOT NULL,
	"report" jsonb NOT NULL,
	"members" jsonb NOT NULL,
	"state" text DEFAULT 'running' NOT NULL,
	"done" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "train_actions_train_seq_pk" PRIMARY KEY("train","seq")
);
--> statement-breakpoint
CREATE TABLE "train_members" (
	"train" text NOT NULL,
	"product" text NOT NULL,
	"release" text,
	"last" jsonb,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "train_members_train_product_pk" PRIMARY KEY("train","product")
);
--> statement-breakpoint
CREATE TABLE "train_outcomes" (
	"train" text NOT NULL,
	"seq" integer NOT NULL,
	"product" text NOT NULL,
	"outcome" jsonb NOT NULL,
	CONSTRAINT "train_outcomes_train_seq_product_pk" PRIMARY KEY("train","seq","product")
);
--> statement-breakpoint
CREATE TABLE "trains" (
	"name" text PRIMARY KEY NOT NULL,
	"release" text NOT NULL,
	"production" boolean DEFAULT true NOT NULL,
	"plan" text,
	"state" text DEFAULT 'open' NOT NULL,
	"workflow_id" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "train_actions" ADD CONSTRAINT "train_actions_train_trains_name_fk" FOREIGN KEY ("train") REFERENCES "public"."trains"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "train_members" ADD CONSTRAINT "train_members_train_trains_name_fk" FOREIGN KEY ("train") REFERENCES "public"."trains"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "train_outcomes" ADD CONSTRAINT "train_outcomes_train_trains_name_fk" FOREIGN KEY ("train") REFERENCES "public"."trains"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "train_members_product" ON "train_members" USING btree ("product");--> statement-breakpoint
CREATE INDEX "trains_created" ON "trains" USING btree ("created_at");
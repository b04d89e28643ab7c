CREATE TABLE "release_cuts" (
	"product" text NOT NULL,
	"release" text NOT NULL,
	"line" integer,
	"cut_sha" text NOT NULL,
	"cut_pos" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	CONSTRAINT "release_cuts_product_release_pk" PRIMARY KEY("product","release")
);
--> statement-breakpoint
CREATE TABLE "release_moves" (
	"product" text NOT NULL,
	"release" text NOT NULL,
	"move" integer NOT NULL,
	"from_sha" text,
	"to_sha" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "release_moves_product_release_move_pk" PRIMARY KEY("product","release","move")
);
--> statement-breakpoint
CREATE TABLE "trace_commits" (
	"sha" text NOT NULL,
	"line" integer NOT NULL,
	"pos" integer NOT NULL,
	"seq" integer NOT NULL,
	"anchor" boolean NOT NULL,
	"subject" text NOT NULL,
	"author" text NOT NULL,
	"change_id" text,
	"patch_id" text,
	CONSTRAINT "trace_commits_sha_line_pk" PRIMARY KEY("sha","line")
);
--> statement-breakpoint
CREATE TABLE "trace_lines" (
	"id" serial PRIMARY KEY NOT NULL,
	"repository" text NOT NULL,
	"trunk" text NOT NULL,
	"generation" integer NOT NULL,
	"head_sha" text,
	"anchors" integer DEFAULT 0 NOT NULL,
	"commits" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "move" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "ord" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "subject" text;--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "author" text;--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "patch_id" text;--> statement-breakpoint
ALTER TABLE "release_commits" ADD COLUMN "origin_via" text;--> statement-breakpoint
CREATE INDEX "release_cuts_line" ON "release_cuts" USING btree ("line","cut_pos");--> statement-breakpoint
CREATE UNIQUE INDEX "release_moves_head" ON "release_moves" USING btree ("product","release","to_sha");--> statement-breakpoint
CREATE INDEX "trace_commits_pos" ON "trace_commits" USING btree ("line","pos");--> statement-breakpoint
CREATE UNIQUE INDEX "trace_lines_repository" ON "trace_lines" USING btree ("repository","trunk","generation");--> statement-breakpoint
CREATE INDEX "release_commits_sha" ON "release_commits" USING btree ("sha");
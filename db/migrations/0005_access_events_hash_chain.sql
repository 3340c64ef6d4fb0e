CREATE TABLE "audit_chain_heads" (
	"site_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL,
	"unchained_events" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "access_events" ADD COLUMN "seq" bigint;--> statement-breakpoint
ALTER TABLE "access_events" ADD COLUMN "prev_hash" text;--> statement-breakpoint
ALTER TABLE "access_events" ADD COLUMN "hash" text;--> statement-breakpoint
ALTER TABLE "audit_chain_heads" ADD CONSTRAINT "audit_chain_heads_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "access_events_site_seq_uq" ON "access_events" USING btree ("site_id","seq") WHERE "access_events"."seq" is not null;
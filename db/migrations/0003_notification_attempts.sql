CREATE TABLE "notification_attempts" (
	"id" text PRIMARY KEY NOT NULL,
	"site_id" text NOT NULL,
	"notice_id" text NOT NULL,
	"resident_id" text,
	"channel" text NOT NULL,
	"attempt" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"ok" boolean NOT NULL,
	"error" text,
	"next_attempt_at" timestamp with time zone,
	"package_ids" text[] DEFAULT '{}'::text[] NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notification_attempts" ADD CONSTRAINT "notification_attempts_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "notification_attempts_site_at_idx" ON "notification_attempts" USING btree ("site_id","at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "notification_attempts_notice_idx" ON "notification_attempts" USING btree ("notice_id");
ALTER TABLE "notification_attempts" ADD COLUMN "kind" text DEFAULT 'checked_in' NOT NULL;--> statement-breakpoint
ALTER TABLE "packages" ADD COLUMN "returned_by_staff_id" text;--> statement-breakpoint
ALTER TABLE "packages" ADD COLUMN "handed_to" text;--> statement-breakpoint
ALTER TABLE "packages" ADD COLUMN "reminded_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "packages" ADD COLUMN "reminders" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "notification_attempts_packages_idx" ON "notification_attempts" USING gin ("package_ids");
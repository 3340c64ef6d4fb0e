DROP INDEX "access_events_site_at_idx";--> statement-breakpoint
DROP INDEX "access_events_door_at_idx";--> statement-breakpoint
DROP INDEX "access_events_type_at_idx";--> statement-breakpoint
DROP INDEX "access_events_resident_at_idx";--> statement-breakpoint
DROP INDEX "access_events_carrier_code_idx";--> statement-breakpoint
DROP INDEX "staff_audit_log_site_at_idx";--> statement-breakpoint
DROP INDEX "vision_flags_site_at_idx";--> statement-breakpoint
DROP INDEX "vision_flags_status_idx";--> statement-breakpoint
CREATE INDEX "access_events_site_at_idx" ON "access_events" USING btree ("site_id","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "access_events_door_at_idx" ON "access_events" USING btree ("site_id","door_id","at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "access_events_type_at_idx" ON "access_events" USING btree ("site_id","type","at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "access_events_resident_at_idx" ON "access_events" USING btree ("resident_id","at" DESC NULLS FIRST) WHERE "access_events"."resident_id" is not null;--> statement-breakpoint
CREATE INDEX "access_events_carrier_code_idx" ON "access_events" USING btree ("carrier_code_id","at" DESC NULLS FIRST) WHERE "access_events"."carrier_code_id" is not null;--> statement-breakpoint
CREATE INDEX "staff_audit_log_site_at_idx" ON "staff_audit_log" USING btree ("site_id","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "vision_flags_site_at_idx" ON "vision_flags" USING btree ("site_id","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "vision_flags_status_idx" ON "vision_flags" USING btree ("site_id","status","at" DESC NULLS FIRST);
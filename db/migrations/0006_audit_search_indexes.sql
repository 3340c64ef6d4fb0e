CREATE INDEX "access_events_package_at_idx" ON "access_events" USING btree ("package_id","at" DESC NULLS FIRST) WHERE "access_events"."package_id" is not null;--> statement-breakpoint
CREATE INDEX "access_events_credential_at_idx" ON "access_events" USING btree ("credential_id","at" DESC NULLS FIRST) WHERE "access_events"."credential_id" is not null;--> statement-breakpoint
CREATE INDEX "access_events_camera_at_idx" ON "access_events" USING btree ("camera_id","at" DESC NULLS FIRST) WHERE "access_events"."camera_id" is not null;--> statement-breakpoint
CREATE INDEX "packages_site_tracking_idx" ON "packages" USING btree ("site_id","tracking_number");--> statement-breakpoint
CREATE INDEX "packages_site_carrier_idx" ON "packages" USING btree ("site_id","carrier");--> statement-breakpoint
CREATE INDEX "packages_resident_idx" ON "packages" USING btree ("resident_id") WHERE "packages"."resident_id" is not null;--> statement-breakpoint
CREATE INDEX "staff_audit_log_action_at_idx" ON "staff_audit_log" USING btree ("site_id","action","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);
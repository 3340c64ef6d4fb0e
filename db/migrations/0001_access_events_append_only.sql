-- Access events are evidence: once written they are never changed or removed.
CREATE FUNCTION parcelroom_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'access_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER access_events_append_only
  BEFORE UPDATE OR DELETE ON access_events
  FOR EACH ROW EXECUTE FUNCTION parcelroom_refuse_event_change();
--> statement-breakpoint
CREATE TRIGGER access_events_no_truncate
  BEFORE TRUNCATE ON access_events
  FOR EACH STATEMENT EXECUTE FUNCTION parcelroom_refuse_event_change();

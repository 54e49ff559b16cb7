-- Jobs start when the transaction that enqueued them commits, on every replica: an insert of
-- due jobs notifies `firebreak_jobs` (delivered on commit, never on rollback), and each
-- Firebreak process LISTENs (src/db/listener.ts) and wakes its job worker. One notification per
-- statement; PostgreSQL folds identical ones within a transaction. The worker's poll stays as
-- the safety net. `now()` is the transaction's start, a job's run_at the moment it was enqueued
-- within it: hence the second of slack.
CREATE FUNCTION firebreak_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM inserted WHERE run_at <= now() + interval '1 second') THEN
    PERFORM pg_notify('firebreak_jobs', '');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION firebreak_jobs_notify();

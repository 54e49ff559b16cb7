-- The job claim (src/queue/claim.ts) as a function. Sent as a statement of its own, PostgreSQL
-- planned the claim on every call, and planning it cost more than running it (more than half
-- of all the time the server spent on statements under alert load). A PL/pgSQL function keeps
-- the plan of its statement for the session (one per pooled connection). A kept plan is made
-- once, when the jobs table may be nearly empty, where a sequential scan and a sort are the
-- cheapest way to find the most urgent jobs; kept while thousands of jobs queue up, that plan
-- walks every one of them on every claim (bench/results/claim-prepared.md). Sequential scans
-- are off for the function's own statement, so the plan it keeps walks the
-- (status, priority, run_at) index whatever the table's size when it was made.
--
-- Candidates first: the most urgent due jobs, walked in index order and cut at p_candidates
-- (a few times the limit), instead of sorting every due job by rate key on each claim. Blocked
-- jobs (a 429 hold on their rate key, or another job of their key running) are filtered before
-- the cut, so they never crowd out claimable ones. Kinds at their own concurrency limit
-- (p_saturated) are no candidates; when every general slot is taken (p_general = 0) only
-- critical kinds (p_critical) are (the reserved slots). Then one per rate key (the most urgent,
-- and among equals the one queued first: a key's work runs in the order it was queued), then no
-- more of a kind than the room its limit leaves (p_open_room for the kinds p_open_kinds; the
-- limit for kinds without one), and at most p_general jobs of kinds that are not critical.
-- The same statement tells when the next job falls due (a retry's backoff, a 429 hold, pacing),
-- so the worker arms its timer without another round trip. One row when nothing was claimed
-- (job_id NULL), to carry next_due_ms.
CREATE FUNCTION claim_jobs(
  p_worker text,
  p_lock_ms int,
  p_limit int,
  p_candidates int,
  p_saturated text[],
  p_open_kinds text[],
  p_open_room int[],
  p_general int,
  p_critical text[])
RETURNS TABLE (
  job_id bigint,
  job_kind text,
  job_payload jsonb,
  job_attempts int,
  job_max_attempts int,
  job_rate_key text,
  job_created_at timestamptz,
  next_due_ms float8)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
BEGIN
  RETURN QUERY
  WITH claimed AS (
    UPDATE jobs SET status = 'RUNNING', locked_by = p_worker,
           locked_until = now() + (p_lock_ms * interval '1 millisecond'), attempts = jobs.attempts + 1
    WHERE jobs.id IN (
      -- The picks in order of urgency, each locked (and checked again) in turn until p_limit
      -- are held: the lateral lookup by id makes the picks drive the locking, so a plan made
      -- on a small table cannot walk the whole table to find them.
      SELECT locked.id FROM (
        SELECT ranked.id FROM (
          SELECT keyed.id, keyed.kind, keyed.priority, keyed.run_at,
                 row_number() OVER (PARTITION BY keyed.kind ORDER BY keyed.priority, keyed.run_at, keyed.id) AS kind_rank,
                 row_number() OVER (PARTITION BY keyed.kind = ANY (p_critical) ORDER BY keyed.priority, keyed.run_at, keyed.id) AS lane_rank
          FROM (
            SELECT DISTINCT ON (coalesce(c.rate_key, c.id::text)) c.id, c.kind, c.priority, c.run_at
            FROM (
              (SELECT j.id, j.kind, j.rate_key, j.priority, j.run_at FROM jobs j
               WHERE j.status = 'PENDING' AND j.run_at <= now()
                 AND NOT EXISTS (SELECT 1 FROM rate_limit_holds h WHERE h.key = j.rate_key AND h.until > now())
                 AND NOT EXISTS (
                   SELECT 1 FROM jobs r
                   WHERE j.rate_key IS NOT NULL AND r.rate_key = j.rate_key AND r.id <> j.id
                     AND r.status = 'RUNNING' AND r.locked_until >= now())
                 AND NOT (j.kind = ANY (p_saturated))
                 AND (p_general > 0 OR j.kind = ANY (p_critical))
               ORDER BY j.priority, j.run_at
               LIMIT p_candidates)
              UNION ALL
              (SELECT j.id, j.kind, j.rate_key, j.priority, j.run_at FROM jobs j
               WHERE j.status = 'RUNNING' AND j.locked_until < now() AND j.attempts < j.max_attempts
                 AND NOT EXISTS (SELECT 1 FROM rate_limit_holds h WHERE h.key = j.rate_key AND h.until > now())
                 AND NOT EXISTS (
                   SELECT 1 FROM jobs r
                   WHERE j.rate_key IS NOT NULL AND r.rate_key = j.rate_key AND r.id <> j.id
                     AND r.status = 'RUNNING' AND r.locked_until >= now())
                 AND NOT (j.kind = ANY (p_saturated))
                 AND (p_general > 0 OR j.kind = ANY (p_critical))
               ORDER BY j.priority, j.run_at
               LIMIT p_candidates)) c
            ORDER BY coalesce(c.rate_key, c.id::text), c.priority, c.id) keyed) ranked
        WHERE ranked.kind_rank <= coalesce(p_open_room[array_position(p_open_kinds, ranked.kind)], p_limit)
          AND (ranked.kind = ANY (p_critical) OR ranked.lane_rank <= p_general)
        ORDER BY ranked.priority, ranked.run_at, ranked.id) pick
      CROSS JOIN LATERAL (
        SELECT u.id FROM jobs u
        WHERE u.id = pick.id
          -- Repeated here on purpose: PostgreSQL re-checks only this query's own conditions
          -- against a row another worker just claimed; without them a job could run twice.
          AND ((u.status = 'PENDING' AND u.run_at <= now())
               OR (u.status = 'RUNNING' AND u.locked_until < now() AND u.attempts < u.max_attempts))
        FOR UPDATE SKIP LOCKED) locked
      LIMIT p_limit)
    RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.rate_key, jobs.created_at),
  next_due AS (
    SELECT (EXTRACT(EPOCH FROM (LEAST(
        (SELECT min(p.run_at) FROM jobs p WHERE p.status = 'PENDING' AND p.run_at > now()),
        (SELECT min(l.until) FROM rate_limit_holds l WHERE l.until > now())) - clock_timestamp())) * 1000)::float8 AS ms)
  SELECT cl.id, cl.kind, cl.payload, cl.attempts, cl.max_attempts, cl.rate_key, cl.created_at::timestamptz, n.ms
  FROM next_due n LEFT JOIN claimed cl ON TRUE;
END
$$;

-- Alertmanager deliveries are kept as the JSON text received, not as jsonb:
-- the webhook stores them on its hot path, and parsing each payload into jsonb
-- and compressing it with pglz cost PostgreSQL about 9 times the CPU of
-- storing the text compressed with lz4 (bench/results/ingest.md). Nothing
-- queries inside a payload; processing parses and validates it in the app.
ALTER TABLE "alert_deliveries" ALTER COLUMN "payload" SET DATA TYPE TEXT USING "payload"::text;

-- lz4 when the server was built with it (Debian's PostgreSQL is; the embedded
-- PGlite is not, and keeps the default pglz).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
    ALTER TABLE "alert_deliveries" ALTER COLUMN "payload" SET COMPRESSION lz4;
  END IF;
END
$$;

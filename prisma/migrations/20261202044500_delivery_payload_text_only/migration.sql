-- The embedded database is a PostgreSQL server now: every delivery keeps its body as the JSON
-- text received (lz4-compressed by the server), and the app-compressed copy is gone.
DELETE FROM "alert_deliveries" WHERE "payload" IS NULL;
ALTER TABLE "alert_deliveries" DROP COLUMN "payload_br";
ALTER TABLE "alert_deliveries" ALTER COLUMN "payload" SET NOT NULL;

-- New deliveries keep their body brotli-compressed by the app (payload_br):
-- 13 times fewer bytes to send, write-ahead log and store than the text, which
-- is what lets the embedded database keep up with the webhook
-- (bench/results/ingest.md). Deliveries stored earlier keep their text.
ALTER TABLE "alert_deliveries" ALTER COLUMN "payload" DROP NOT NULL;
ALTER TABLE "alert_deliveries" ADD COLUMN "payload_br" BYTEA;
-- Already compressed: never try to compress it again.
ALTER TABLE "alert_deliveries" ALTER COLUMN "payload_br" SET STORAGE EXTERNAL;
ALTER TABLE "alert_deliveries" ADD CONSTRAINT "alert_deliveries_payload_present"
  CHECK ("payload" IS NOT NULL OR "payload_br" IS NOT NULL);

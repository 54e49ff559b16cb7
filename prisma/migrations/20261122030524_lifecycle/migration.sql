-- AlterTable
ALTER TABLE "idempotency_keys" ADD COLUMN     "result" JSONB;

-- AlterTable
ALTER TABLE "incidents" ADD COLUMN     "bookmark_id" TEXT;

-- Incident numbers from a counter row taken in the declaring transaction instead of a sequence:
-- a rolled-back declare (and the start-up rehearsal, which always rolls back) gives its number
-- back, and a server crash no longer makes the next number jump by up to 32.

-- CreateTable
CREATE TABLE "counters" (
    "name" TEXT NOT NULL,
    "value" INTEGER NOT NULL,

    CONSTRAINT "counters_pkey" PRIMARY KEY ("name")
);

-- The counter carries on from the highest number given so far (gaps the sequence left stay).
INSERT INTO "counters" ("name", "value") SELECT 'incident', coalesce(max("number"), 0) FROM "incidents";

-- AlterTable
ALTER TABLE "incidents" ALTER COLUMN "number" DROP DEFAULT;
DROP SEQUENCE "incidents_number_seq";

-- CreateEnum
CREATE TYPE "PageStatus" AS ENUM ('PENDING', 'TRIGGERED', 'FAILED', 'RESOLVED');

-- CreateTable
CREATE TABLE "pages" (
    "id" UUID NOT NULL,
    "incident_id" UUID NOT NULL,
    "target_kind" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "dedup_key" TEXT NOT NULL,
    "message" TEXT,
    "requested_by_id" TEXT,
    "pagerduty_incident_id" TEXT,
    "status" "PageStatus" NOT NULL DEFAULT 'PENDING',
    "cycle" INTEGER NOT NULL DEFAULT 1,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "triggered_at" TIMESTAMPTZ(3),
    "acknowledged_at" TIMESTAMPTZ(3),
    "resolved_at" TIMESTAMPTZ(3),

    CONSTRAINT "pages_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "pages_dedup_key_key" ON "pages"("dedup_key");

-- CreateIndex
CREATE INDEX "pages_incident_id_idx" ON "pages"("incident_id");

-- CreateIndex
CREATE INDEX "pages_pagerduty_incident_id_idx" ON "pages"("pagerduty_incident_id");

-- AddForeignKey
ALTER TABLE "pages" ADD CONSTRAINT "pages_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

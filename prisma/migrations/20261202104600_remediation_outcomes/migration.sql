-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "RemediationStatus" ADD VALUE 'DRY_RUN';
ALTER TYPE "RemediationStatus" ADD VALUE 'APPROVAL_REQUIRED';
ALTER TYPE "RemediationStatus" ADD VALUE 'REFUSED';
ALTER TYPE "RemediationStatus" ADD VALUE 'UNKNOWN';

-- AlterTable
ALTER TABLE "remediation_executions" ADD COLUMN     "dry_run" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "label" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "summary" TEXT;

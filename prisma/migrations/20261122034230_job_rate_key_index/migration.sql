-- CreateIndex
CREATE INDEX "jobs_rate_key_status_idx" ON "jobs"("rate_key", "status");

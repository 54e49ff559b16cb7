// Supply chain checks run by scripts/test.sh (so by CI):
//  1. a CycloneDX SBOM of the production dependencies, written to build/sbom.cdx.json;
//  2. `npm audit` of the production dependencies: fails on a known high or critical
//     vulnerability; when the registry's audit endpoint does not answer (a mirror or proxy
//     without it, no network), says so and skips, since nothing can be concluded.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

export type AuditVerdict =
  | { kind: "skipped"; reason: string }
  | { kind: "clean"; counts: Record<string, number> }
  | { kind: "vulnerable"; counts: Record<string, number>; packages: string[] };

interface AuditReport {
  error?: { summary?: string; detail?: string };
  message?: string;
  statusCode?: number;
  metadata?: { vulnerabilities?: Record<string, number> };
  vulnerabilities?: Record<string, { severity?: string; name?: string }>;
}

/** What `npm audit --json` printed means for CI. */
export function auditVerdict(output: string): AuditVerdict {
  let report: AuditReport;
  try {
    report = JSON.parse(output) as AuditReport;
  } catch {
    return { kind: "skipped", reason: `npm audit printed no JSON: ${output.trim().slice(0, 200) || "(nothing)"}` };
  }
  const counts = report.metadata?.vulnerabilities;
  if (report.error !== undefined || counts === undefined) {
    const reason = report.message ?? report.error?.summary ?? "no report";
    return { kind: "skipped", reason: `the audit endpoint did not answer: ${reason}` };
  }
  const serious = (counts["high"] ?? 0) + (counts["critical"] ?? 0);
  if (serious === 0) return { kind: "clean", counts };
  const packages = Object.entries(report.vulnerabilities ?? {})
    .filter(([, entry]) => entry.severity === "high" || entry.severity === "critical")
    .map(([name, entry]) => `${name} (${entry.severity})`);
  return { kind: "vulnerable", counts, packages };
}

function npm(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("npm", args, { cwd, timeout: 120_000, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function main(): Promise<number> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const sbom = await npm(["sbom", "--sbom-format=cyclonedx", "--omit=dev"], root);
  if (sbom.code !== 0) {
    console.error(`npm sbom failed (exit ${sbom.code}): ${sbom.stderr.trim()}`);
    return 1;
  }
  const parsed = JSON.parse(sbom.stdout) as { bomFormat?: string; components?: unknown[] };
  if (parsed.bomFormat !== "CycloneDX" || !Array.isArray(parsed.components)) {
    console.error("npm sbom printed something other than a CycloneDX document");
    return 1;
  }
  await mkdir(path.join(root, "build"), { recursive: true });
  await writeFile(path.join(root, "build", "sbom.cdx.json"), sbom.stdout);
  console.log(`SBOM: build/sbom.cdx.json (CycloneDX, ${parsed.components.length} production components)`);

  const audit = await npm(["audit", "--omit=dev", "--json"], root);
  const verdict = auditVerdict(audit.stdout);
  switch (verdict.kind) {
    case "skipped":
      console.log(`npm audit skipped: ${verdict.reason}`);
      return 0;
    case "clean":
      console.log(`npm audit: no high or critical vulnerability in production dependencies (${JSON.stringify(verdict.counts)})`);
      return 0;
    case "vulnerable":
      console.error(`npm audit: high or critical vulnerabilities in production dependencies: ${verdict.packages.join(", ")}`);
      return 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}

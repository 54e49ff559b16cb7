// Vitest global setup: a private certificate authority for the run, and a certificate it signed
// for 127.0.0.1 and localhost, which the HTTPS fakes (PagerDuty, remediation providers) serve.
//
// The CA is trusted the way a self-hoster trusts a corporate CA: through Node's
// NODE_EXTRA_CA_CERTS, set here before the test workers start, so both `fetch` (undici) and
// node:https (pdjs) in the workers and every process they spawn trust it, and nothing in src/
// knows it is being tested. Tests read the PEMs with `inject("tls")`.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import selfsigned from "selfsigned";
import type { TestProject } from "vitest/node";

export interface TestTls {
  /** The CA certificate's file (what NODE_EXTRA_CA_CERTS names). */
  caPath: string;
  caPem: string;
  /** The server certificate and key for 127.0.0.1 / localhost. */
  certPem: string;
  keyPem: string;
}

export async function createTestTls(dir: string): Promise<TestTls> {
  const ca = await selfsigned.generate([{ name: "commonName", value: "Firebreak test CA" }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await selfsigned.generate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }, { type: 2, value: "localhost" }] }],
  });
  const caPath = path.join(dir, "ca.pem");
  await writeFile(caPath, ca.cert);
  return { caPath, caPem: ca.cert, certPem: leaf.cert, keyPem: leaf.private };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), "fb-tls-"));
  const tls = await createTestTls(dir);
  // Added to what the machine already trusts this way (a corporate or sandbox proxy's CA, through
  // which the npm registry may be reached), never instead of it.
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  const inherited = existing ? await readFile(existing, "utf8").catch(() => "") : "";
  const bundle = path.join(dir, "extra-ca-bundle.pem");
  await writeFile(bundle, `${inherited.trimEnd()}${inherited ? "\n" : ""}${tls.caPem}`);
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  project.provide("tls", tls);
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}

import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Authentication of Alertmanager's webhook: a bearer token
 * (`http_config.authorization`) or HTTP basic auth (`http_config.basic_auth`),
 * compared in constant time (hashing first makes the lengths equal).
 */
export type WebhookAuth =
  | { kind: "bearer"; token: string }
  | { kind: "basic"; username: string; password: string }
  | { kind: "insecure" };

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function isAuthorized(auth: WebhookAuth, header: string | undefined): boolean {
  if (auth.kind === "insecure") return true;
  if (!header) return false;
  const space = header.indexOf(" ");
  if (space <= 0) return false;
  const scheme = header.slice(0, space).toLowerCase();
  const credentials = header.slice(space + 1).trim();
  if (auth.kind === "bearer") return scheme === "bearer" && same(credentials, auth.token);
  if (scheme !== "basic") return false;
  let decoded: string;
  try {
    decoded = Buffer.from(credentials, "base64").toString("utf8");
  } catch {
    return false;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  // Evaluate both comparisons: no early exit that would tell which part was wrong.
  const userOk = same(decoded.slice(0, colon), auth.username);
  const passwordOk = same(decoded.slice(colon + 1), auth.password);
  return userOk && passwordOk;
}

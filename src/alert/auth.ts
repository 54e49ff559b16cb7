import { hash, timingSafeEqual } from "node:crypto";

/**
 * Authentication of Alertmanager's webhook: a bearer token
 * (`http_config.authorization`) or HTTP basic auth (`http_config.basic_auth`),
 * compared in constant time (hashing first makes the lengths equal).
 */
export type WebhookAuth =
  | { kind: "bearer"; token: string }
  | { kind: "basic"; username: string; password: string }
  | { kind: "insecure" };

/** Checks an Authorization header. */
export type Authorizer = (header: string | undefined) => boolean;

function digest(value: string): Buffer {
  return hash("sha256", value, "buffer");
}

/**
 * The check for one configuration. The configured secrets are hashed once, here; each request
 * hashes only what it sent (a one-shot hash: the webhook runs this on every delivery).
 */
export function createAuthorizer(auth: WebhookAuth): Authorizer {
  if (auth.kind === "insecure") return () => true;
  const parse = (header: string | undefined): { scheme: string; credentials: string } | undefined => {
    if (!header) return undefined;
    const space = header.indexOf(" ");
    if (space <= 0) return undefined;
    return { scheme: header.slice(0, space).toLowerCase(), credentials: header.slice(space + 1).trim() };
  };
  if (auth.kind === "bearer") {
    const token = digest(auth.token);
    return (header) => {
      const parsed = parse(header);
      return parsed !== undefined && parsed.scheme === "bearer" && timingSafeEqual(digest(parsed.credentials), token);
    };
  }
  const username = digest(auth.username);
  const password = digest(auth.password);
  return (header) => {
    const parsed = parse(header);
    if (!parsed || parsed.scheme !== "basic") return false;
    const decoded = Buffer.from(parsed.credentials, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return false;
    // Evaluate both comparisons: no early exit that would tell which part was wrong.
    const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), username);
    const passwordOk = timingSafeEqual(digest(decoded.slice(colon + 1)), password);
    return userOk && passwordOk;
  };
}

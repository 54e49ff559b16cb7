// See package.json: `prisma dev` is not part of Firebreak's toolchain. The Prisma CLI loads this
// module at start, so it must load; using it fails with a clear message.
function unavailable() {
  throw new Error("`prisma dev` is not available in Firebreak: npm start runs Firebreak's own PostgreSQL server.");
}
export const startPrismaDevServer = unavailable;
export const ServerState = { fromServerDump: unavailable };

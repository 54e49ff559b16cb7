// The narrow Sql port (src/db/client.ts) on PostgreSQL (a fresh database on the test server):
// the values go as parameters of a prepared statement, named or not, and must come back exactly
// as sent, for values chosen to break naive quoting. The embedded database is the same code
// path (a PostgreSQL server of Firebreak's own behind the same pool).

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openDatabase, type Database, type SqlStatement } from "../../src/db/client.ts";
import { captureLogs } from "../support/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";

const NASTY_TEXT = [
  "plain",
  "it's",
  "''",
  "'); DROP TABLE alert_deliveries; --",
  "back\\slash \\' \\x41",
  "$1 $2 $$ $tag$",
  "{}:{alertname=\"HighLatency\", service=~\"checkout|cart\"}",
  "ünïcødé ✓ 🚨 \u2028",
  "",
];
const BYTES = [Buffer.from([0, 1, 2, 0x27, 0x5c, 0xff, 0xfe]), Buffer.alloc(0), Buffer.from("\\x41'", "utf8")];

const ROUND_TRIP: SqlStatement = {
  text: "SELECT $1::text AS t, $2::bytea AS b, $3::int AS i, $4::text AS n, $5::float8 AS f, 'a $6 in a literal'::text AS lit, $6::int AS j",
  values: [] as SqlStatement["values"],
};

function statementFor(text: string, bytes: Buffer): SqlStatement {
  return { ...ROUND_TRIP, values: [text, bytes, -42, null, 0.5, 7] };
}

function check(database: () => Database) {
  it.each([
    ["an unnamed statement", undefined],
    ["a named statement (prepared once, then reused)", "fb_sql_port_round_trip"],
  ])("returns every value as sent, quotes and backslashes included: %s", async (_label, name) => {
    for (const text of NASTY_TEXT) {
      for (const bytes of BYTES) {
        const [row] = await database().sql.query<{ t: string; b: Uint8Array; i: number; n: string | null; f: number; lit: string; j: number }>({ ...statementFor(text, bytes), ...(name ? { name } : {}) });
        expect(row).toBeDefined();
        expect(row?.t).toBe(text);
        expect(Buffer.from(row?.b ?? new Uint8Array()).equals(bytes)).toBe(true);
        expect(row?.i).toBe(-42);
        expect(row?.n).toBeNull();
        expect(row?.f).toBe(0.5);
        expect(row?.lit).toBe("a $6 in a literal");
        expect(row?.j).toBe(7);
      }
    }
  });

  it("returns a statement's rows in order, and a failing statement rejects and changes nothing", async () => {
    await database().prisma.$executeRawUnsafe("CREATE TABLE IF NOT EXISTS sql_port_probe (id int PRIMARY KEY, label text NOT NULL)");
    const rows = await database().sql.query<{ id: number; label: string }>({
      text: "INSERT INTO sql_port_probe (id, label) VALUES ($1::int, $2::text), ($3::int, $4::text) RETURNING id, label",
      values: [1, "one's", 2, "two"],
    });
    expect(rows).toEqual([
      { id: 1, label: "one's" },
      { id: 2, label: "two" },
    ]);
    // The second row collides with id 1: one statement, so the first (id 3) is not kept either.
    await expect(database().sql.query({ text: "INSERT INTO sql_port_probe (id, label) VALUES ($1::int, $2::text), ($3::int, $4::text)", values: [3, "three", 1, "again"] })).rejects.toThrow(/duplicate key|unique/);
    const count = await database().sql.query<{ n: number }>({ text: "SELECT count(*)::int AS n FROM sql_port_probe WHERE id = $1::int", values: [3] });
    expect(count).toEqual([{ n: 0 }]);
  });
}

describe("Sql port on PostgreSQL (prepared statement, values as parameters)", () => {
  let testDatabase: TestDatabase | undefined;
  let database: Database | undefined;
  beforeAll(async () => {
    testDatabase = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_sqlport" });
    database = await openDatabase({ kind: "postgres", url: testDatabase.url, poolSize: 2 }, captureLogs().logger);
  });
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });
  check(() => database as Database);
});

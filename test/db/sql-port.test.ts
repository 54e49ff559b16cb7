// The narrow Sql port (src/db/client.ts) on both databases: PostgreSQL takes the values as
// parameters of a prepared statement; the embedded PGlite gets them written into the text
// (inlineValues) and runs one simple query. Both must return exactly what was sent, for
// values chosen to break naive quoting.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createPGliteSql, inlineValues, openDatabase, type Database, type SqlStatement } from "../../src/db/client.ts";
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

describe("Sql port on the embedded database (values inlined, one simple query)", () => {
  let dir = "";
  let database: Database | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fb-sql-port-"));
    database = await openDatabase({ kind: "embedded", dataDir: dir }, captureLogs().logger);
  });
  afterAll(async () => {
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });
  check(() => database as Database);
});

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

/** These tests look at the statements sent; the WAL flush is pglite-durability.test.ts's. */
const NO_WAL = { flush: async () => undefined };

describe("Sql port on PGlite: named statements", () => {
  it("prepares a name once, executes it with the values written in, and refuses names that are not plain identifiers", async () => {
    const sent: string[] = [];
    const sql = createPGliteSql({
      exec: async (text: string) => {
        sent.push(text);
        return [{ rows: [{ ok: 1 }], fields: [], affectedRows: 0 }];
      },
    }, NO_WAL);
    await sql.query({ name: "fb_probe", text: "SELECT $1::text AS a", values: ["x'"] });
    await sql.query({ name: "fb_probe", text: "SELECT $1::text AS a", values: ["y"] });
    expect(sent).toEqual([
      "PREPARE fb_probe AS SELECT $1::text AS a",
      "EXECUTE fb_probe(convert_from(decode('7827', 'hex'), 'UTF8'))",
      "EXECUTE fb_probe(convert_from(decode('79', 'hex'), 'UTF8'))",
    ]);
    await expect(sql.query({ name: "fb; DROP TABLE x", text: "SELECT 1", values: [] })).rejects.toThrow(/lower-case letters/);
    expect(sent).toHaveLength(3);
  });

  it("prepares again after a PREPARE that failed", async () => {
    let fail = true;
    const sent: string[] = [];
    const sql = createPGliteSql({
      exec: async (text: string) => {
        sent.push(text);
        if (text.startsWith("PREPARE") && fail) {
          fail = false;
          throw new Error("relation does not exist");
        }
        return [{ rows: [], fields: [], affectedRows: 0 }];
      },
    }, NO_WAL);
    await expect(sql.query({ name: "fb_retry", text: "SELECT 1", values: [] })).rejects.toThrow(/does not exist/);
    await sql.query({ name: "fb_retry", text: "SELECT 1", values: [] });
    expect(sent).toEqual(["PREPARE fb_retry AS SELECT 1", "PREPARE fb_retry AS SELECT 1", "EXECUTE fb_retry"]);
  });
});

describe("inlineValues", () => {
  it("writes each value as hex digits with the placeholder's cast kept", () => {
    expect(inlineValues({ text: "SELECT $1::text, $2::bytea, $3::int, $4::text", values: ["a'", Buffer.from([0xff]), 3, null] })).toBe(
      "SELECT convert_from(decode('6127', 'hex'), 'UTF8')::text, decode('ff', 'hex')::bytea, (3)::int, NULL::text",
    );
  });

  it("leaves the statement's own literals alone", () => {
    expect(inlineValues({ text: "SELECT '$1 ''$2''' AS x, $1::int", values: [5] })).toBe("SELECT '$1 ''$2''' AS x, (5)::int");
  });

  it("refuses a placeholder without a value, a value without a placeholder, dollar quotes and non-finite numbers", () => {
    expect(() => inlineValues({ text: "SELECT $2::int", values: [1] })).toThrow(/\$2 has no value/);
    expect(() => inlineValues({ text: "SELECT $1::int", values: [1, 2] })).toThrow(/2 values for 1 placeholders/);
    expect(() => inlineValues({ text: "SELECT $$x$$", values: [] })).toThrow(/dollar-quoted/);
    expect(() => inlineValues({ text: "SELECT $1::float8", values: [Number.NaN] })).toThrow(/not a finite number/);
  });
});

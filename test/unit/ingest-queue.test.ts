import { describe, expect, it } from "vitest";
import { createIngestQueue, IngestOverloadedError, type DeliveryRow } from "../../src/alert/ingest.ts";
import { assertStorable, hasUnicodeEscape, UnstorablePayloadError } from "../../src/alert/ingest-storable.ts";
import { ingestTuning, type IngestTuning } from "../../src/alert/ingest-tuning.ts";
import { createForeground } from "../../src/lib/foreground.ts";

/**
 * The webhook's write path (src/alert/ingest.ts) with a scripted store: each
 * call to the store is a statement whose commit the test decides, so batching,
 * copies and admission are checked without any timing.
 */

interface Statement {
  rows: readonly DeliveryRow[];
  commit(): void;
  fail(error: Error): void;
}

function scriptedStore() {
  const statements: Statement[] = [];
  let nextId = 1n;
  const store = (rows: readonly DeliveryRow[]): Promise<readonly bigint[]> =>
    new Promise((resolve, reject) => {
      statements.push({
        rows,
        commit: () => resolve(rows.map(() => nextId++)),
        fail: reject,
      });
    });
  return { statements, store };
}

function row(name: string): DeliveryRow {
  return { groupKey: `{}:{alertname="${name}"}`, body: JSON.stringify({ groupKey: name, alerts: [{ fingerprint: name }] }), priority: 1 };
}

/** Lets setImmediate callbacks and promise continuations run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Observed<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
}

function observe<T>(promise: Promise<T>): Observed<T> {
  const observed: Observed<T> = { settled: false };
  promise.then(
    (value) => Object.assign(observed, { settled: true, value }),
    (error: unknown) => Object.assign(observed, { settled: true, error }),
  );
  return observed;
}

function setup(overrides: Partial<IngestTuning> = {}) {
  const { statements, store } = scriptedStore();
  const clock = { now: 0 };
  let stored = 0;
  const foreground = createForeground();
  const queue = createIngestQueue({ store, onStored: () => (stored += 1), clock: () => clock.now, foreground }, ingestTuning({ maxFlushes: 1, ...overrides }));
  return { queue, statements, clock, foreground, storedBatches: () => stored };
}

describe("ingest queue: group commit", () => {
  it("stores deliveries arriving together with one statement and answers each only after that statement commits", async () => {
    const { queue, statements, storedBatches } = setup();
    const first = observe(queue.submit(row("a")));
    await settle();
    expect(statements).toHaveLength(1);
    expect(statements[0]!.rows.map((r) => r.groupKey)).toEqual([row("a").groupKey]);

    // While the first statement is out, 50 more arrive: they wait, together.
    const rest = Array.from({ length: 50 }, (_, i) => observe(queue.submit(row(`b${i}`))));
    await settle();
    expect(statements).toHaveLength(1);
    expect(queue.stats().waiting).toBe(50);
    expect(first.settled).toBe(false);

    statements[0]!.commit();
    await settle();
    expect(first.value).toEqual({ id: 1n, copy: false });
    expect(storedBatches()).toBe(1);
    expect(statements).toHaveLength(2);
    expect(statements[1]!.rows).toHaveLength(50);
    expect(rest.some((entry) => entry.settled)).toBe(false);

    statements[1]!.commit();
    await settle();
    expect(rest.map((entry) => entry.value?.id)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 2)));
    expect(rest.every((entry) => entry.value?.copy === false)).toBe(true);
    expect(queue.stats()).toEqual({ waiting: 0, flushing: 0, oldestWaitMs: 0 });
  });

  it("splits what waits into statements of at most maxBatch deliveries", async () => {
    const { queue, statements } = setup({ maxBatch: 4, maxFlushes: 2 });
    const all = Array.from({ length: 10 }, (_, i) => observe(queue.submit(row(`s${i}`))));
    await settle();
    expect(statements.map((statement) => statement.rows.length)).toEqual([4, 4]);
    statements[0]!.commit();
    await settle();
    expect(statements.map((statement) => statement.rows.length)).toEqual([4, 4, 2]);
    statements[1]!.commit();
    statements[2]!.commit();
    await settle();
    expect(new Set(all.map((entry) => entry.value?.id)).size).toBe(10);
  });

  it("answers every member of a failed statement with its error, and later deliveries are stored as usual", async () => {
    const { queue, statements, storedBatches } = setup();
    const blocker = observe(queue.submit(row("blocker")));
    await settle();
    const members = ["m1", "m2", "m3"].map((name) => observe(queue.submit(row(name))));
    statements[0]!.commit();
    await settle();
    expect(blocker.value?.id).toBe(1n);

    statements[1]!.fail(new Error("connection lost"));
    await settle();
    expect(members.map((entry) => (entry.error as Error | undefined)?.message)).toEqual(["connection lost", "connection lost", "connection lost"]);
    expect(storedBatches()).toBe(1);

    // Alertmanager retries: the same payloads are stored now (a failed original is not remembered).
    const retried = ["m1", "m2", "m3"].map((name) => observe(queue.submit(row(name))));
    await settle();
    expect(statements[2]!.rows).toHaveLength(3);
    statements[2]!.commit();
    await settle();
    expect(retried.map((entry) => entry.value?.copy)).toEqual([false, false, false]);
  });
});

describe("ingest queue: identical copies", () => {
  it("does not store a copy of a delivery in flight; the copy is answered with the original's id once it commits", async () => {
    const { queue, statements } = setup();
    const original = observe(queue.submit(row("ha")));
    await settle();
    const copy = observe(queue.submit(row("ha")));
    await settle();
    expect(statements).toHaveLength(1);
    expect(queue.stats().waiting).toBe(0);
    expect(copy.settled).toBe(false);

    statements[0]!.commit();
    await settle();
    expect(original.value).toEqual({ id: 1n, copy: false });
    expect(copy.value).toEqual({ id: 1n, copy: true });
  });

  it("fails the copies of an original whose statement failed", async () => {
    const { queue, statements } = setup();
    const original = observe(queue.submit(row("ha")));
    const copy = observe(queue.submit(row("ha")));
    await settle();
    statements[0]!.fail(new Error("disk full"));
    await settle();
    expect((original.error as Error).message).toBe("disk full");
    expect((copy.error as Error).message).toBe("disk full");
  });

  it("answers a copy arriving within the copy window from memory, and stores a re-send arriving after it", async () => {
    const { queue, statements, clock } = setup({ copyWindowMs: 1_000 });
    const original = observe(queue.submit(row("re")));
    await settle();
    clock.now = 10;
    statements[0]!.commit();
    await settle();
    expect(original.value?.id).toBe(1n);

    clock.now = 900;
    const copy = observe(queue.submit(row("re")));
    await settle();
    expect(copy.value).toEqual({ id: 1n, copy: true });
    expect(statements).toHaveLength(1);

    clock.now = 1_100;
    const resend = observe(queue.submit(row("re")));
    await settle();
    expect(statements).toHaveLength(2);
    statements[1]!.commit();
    await settle();
    expect(resend.value).toEqual({ id: 2n, copy: false });
  });

  it("stores payloads that differ in any byte separately", async () => {
    const { queue, statements } = setup();
    const a = row("x");
    observe(queue.submit(a));
    observe(queue.submit({ ...a, body: a.body.replace("}]}", ',"extra":1}]}') }));
    await settle();
    expect(statements[0]!.rows).toHaveLength(2);
  });

  it("remembers at most maxRemembered payloads", async () => {
    const { queue, statements } = setup({ maxRemembered: 2, copyWindowMs: 60_000 });
    for (const name of ["r1", "r2", "r3"]) observe(queue.submit(row(name)));
    await settle();
    statements[0]!.commit();
    await settle();
    // r1 was forgotten (oldest first): its re-send is stored; r3 is still remembered.
    const r1 = observe(queue.submit(row("r1")));
    const r3 = observe(queue.submit(row("r3")));
    await settle();
    expect(r3.value?.copy).toBe(true);
    expect(statements[1]!.rows.map((r) => r.groupKey)).toEqual([row("r1").groupKey]);
    expect(r1.settled).toBe(false);
  });
});

describe("ingest queue: admission", () => {
  it("refuses new deliveries at once when the oldest waiting one has waited longer than maxWaitMs", async () => {
    const { queue, statements, clock } = setup({ maxWaitMs: 500 });
    observe(queue.submit(row("stuck")));
    await settle();
    const waiting = observe(queue.submit(row("waiting")));
    clock.now = 400;
    const admitted = observe(queue.submit(row("admitted")));
    clock.now = 600;
    const refused = observe(queue.submit(row("refused")));
    await settle();
    expect(refused.error).toBeInstanceOf(IngestOverloadedError);
    expect((refused.error as IngestOverloadedError).retryAfterS).toBeGreaterThanOrEqual(1);
    expect(admitted.settled).toBe(false);

    // A copy of a delivery already waiting costs nothing: it is not refused.
    const copy = observe(queue.submit(row("waiting")));
    await settle();
    expect(copy.settled).toBe(false);

    // Once the database catches up, deliveries are admitted again.
    statements[0]!.commit();
    await settle();
    statements[1]!.commit();
    await settle();
    expect(waiting.value?.id).toBe(2n);
    expect(copy.value).toEqual({ id: 2n, copy: true });
    expect(admitted.value?.id).toBe(3n);
    const later = observe(queue.submit(row("later")));
    await settle();
    statements[2]!.commit();
    await settle();
    expect(later.value?.copy).toBe(false);
  });

  it("refuses new deliveries when maxQueued already wait", async () => {
    const { queue } = setup({ maxQueued: 3 });
    observe(queue.submit(row("out")));
    await settle();
    const queued = ["q1", "q2", "q3"].map((name) => observe(queue.submit(row(name))));
    const refused = observe(queue.submit(row("q4")));
    await settle();
    expect(queued.every((entry) => !entry.settled)).toBe(true);
    expect(refused.error).toBeInstanceOf(IngestOverloadedError);
  });
});

describe("ingest queue: admission by size", () => {
  it("refuses new deliveries once the bodies held add up to maxQueuedChars, and admits again when they are stored", async () => {
    const body = (name: string): DeliveryRow => ({ ...row(name), body: JSON.stringify({ groupKey: name, padding: "x".repeat(80) }) });
    const size = body("a0").body.length;
    const { queue, statements } = setup({ maxQueuedChars: size * 3 });
    const admitted = ["a0", "a1", "a2"].map((name) => observe(queue.submit(body(name))));
    const refused = observe(queue.submit(body("a3")));
    await settle();
    expect(refused.error).toBeInstanceOf(IngestOverloadedError);
    expect((refused.error as IngestOverloadedError).retryAfterS).toBe(1);
    expect(admitted.some((entry) => entry.settled)).toBe(false);

    // A body larger than the bound alone is still admitted when nothing else is held.
    for (const statement of statements) statement.commit();
    await settle();
    for (const statement of statements) statement.commit();
    await settle();
    expect(admitted.every((entry) => entry.value?.copy === false)).toBe(true);
    const big = observe(queue.submit({ ...row("big"), body: JSON.stringify({ groupKey: "big", padding: "y".repeat(size * 4) }) }));
    await settle();
    statements.at(-1)!.commit();
    await settle();
    expect(big.value?.copy).toBe(false);
  });
});

describe("ingest queue: background work yields to the webhook", () => {
  it("waits until no delivery is waiting or being stored, and runs at most backgroundSlots at once", async () => {
    const { queue, statements } = setup({ backgroundSlots: 1, maxDeferMs: 60_000, quietMs: 0 });
    observe(queue.submit(row("busy")));
    const turn = observe(queue.backgroundTurn());
    await settle();
    expect(turn.settled).toBe(false);
    statements[0]!.commit();
    await settle();
    expect(typeof turn.value).toBe("function");

    const second = observe(queue.backgroundTurn());
    await settle();
    expect(second.settled).toBe(false);
    turn.value?.();
    await settle();
    expect(typeof second.value).toBe("function");
    second.value?.();
  });

  it("waits while a Slack command or interaction waits for its answer, as for a delivery", async () => {
    const { queue, foreground } = setup({ maxDeferMs: 60_000, quietMs: 0 });
    const first = foreground.begin();
    const second = foreground.begin();
    const turn = observe(queue.backgroundTurn());
    await settle();
    expect(turn.settled).toBe(false);
    first();
    first(); // answered twice (ack, then the listener's end): counted once
    await settle();
    expect(turn.settled).toBe(false);
    second();
    await settle();
    expect(typeof turn.value).toBe("function");
    turn.value?.();
  });

  it("waits for quietMs without a new delivery", async () => {
    const { queue, statements, clock } = setup({ maxDeferMs: 60_000, quietMs: 100 });
    observe(queue.submit(row("last")));
    await settle();
    statements[0]!.commit();
    const turn = observe(queue.backgroundTurn());
    await settle();
    expect(turn.settled).toBe(false);
    clock.now = 100; // 100 ms after the last delivery arrived
    await new Promise((resolve) => setTimeout(resolve, 150)); // the queue looks again after quietMs
    expect(typeof turn.value).toBe("function");
  });

  it("after maxDeferMs of pressure without a quiet moment, waits only for the deliveries already waiting, until the next quiet moment", async () => {
    const { queue, statements, clock } = setup({ maxDeferMs: 50, quietMs: 10 });
    observe(queue.submit(row("a")));
    const turn = observe(queue.backgroundTurn());
    await settle();
    expect(turn.settled).toBe(false);
    clock.now = 60; // 60 ms of pressure
    observe(queue.submit(row("b")));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(turn.settled).toBe(false); // deliveries are waiting: they go first
    statements[0]!.commit();
    await settle();
    expect(turn.settled).toBe(false); // "b" is being stored now
    statements[1]!.commit();
    await settle();
    // Nothing waits any more: it goes, although "b" arrived just now (no quiet moment needed).
    expect(typeof turn.value).toBe("function");
    turn.value?.();

    // A quiet moment ends the catch-up: after the next delivery, a turn waits for quiet again.
    clock.now = 100;
    const quiet = observe(queue.backgroundTurn());
    await settle();
    expect(typeof quiet.value).toBe("function");
    quiet.value?.();
    observe(queue.submit(row("c")));
    await settle();
    statements[2]!.commit();
    await settle();
    const waits = observe(queue.backgroundTurn());
    await settle();
    expect(waits.settled).toBe(false);
    clock.now = 200;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(typeof waits.value).toBe("function");
  });
});

describe("unstorable payloads", () => {
  it("names a string PostgreSQL cannot store (NUL, unpaired surrogate), and lets ordinary text through", () => {
    const payload = (text: string) => ({ alerts: [{ labels: { instance: text } }] });
    for (const text of ["a\u0000b", "\ud800x", "x\udc00"]) {
      const value = payload(text);
      expect(() => assertStorable(value, JSON.stringify(value))).toThrow(UnstorablePayloadError);
      try {
        assertStorable(value, JSON.stringify(value));
      } catch (error) {
        expect((error as UnstorablePayloadError).field).toBe("alerts.0.labels.instance");
      }
    }
    for (const text of ["plain", "é 😀 \\u0000 as text", "tab\tnewline\n"]) {
      const value = payload(text);
      expect(() => assertStorable(value, JSON.stringify(value))).not.toThrow();
    }
  });
});

describe("hasUnicodeEscape", () => {
  const letter = (code: number) => code >= 0x40 && code <= 0x7f;
  it("looks at the code unit of each escape, in text and in bytes", () => {
    const go = String.raw`{"generatorURL":"http://prom:9090/graph?g0.expr=up\u003e0\u0026g0.tab=1"}`;
    for (const json of [go, Buffer.from(go)]) {
      expect(hasUnicodeEscape(json, letter)).toBe(false);
      expect(hasUnicodeEscape(json, (code) => code === 0x26)).toBe(true);
    }
    expect(hasUnicodeEscape(String.raw`{"\u005f_proto__":{}}`, letter)).toBe(true);
    expect(hasUnicodeEscape(Buffer.from(String.raw`{"c\u006Fnstructor":1}`), letter)).toBe(true);
    expect(hasUnicodeEscape("no escapes at all", () => true)).toBe(false);
  });

  it("errs towards yes on a malformed or cut-off escape", () => {
    expect(hasUnicodeEscape(String.raw`{"a":"\u00zz"}`, () => false)).toBe(true);
    expect(hasUnicodeEscape(String.raw`"\u12`, () => false)).toBe(true);
  });

  it("lets Go's escapes of <, > and & through the storable check without a walk, and still catches NUL behind them", () => {
    const value = { alerts: [{ annotations: { summary: "p99 <rising> & paging" } }] };
    const goText = JSON.stringify(value).replaceAll("<", "\\u003c").replaceAll(">", "\\u003e").replaceAll("&", "\\u0026");
    expect(() => assertStorable(value, Buffer.from(goText))).not.toThrow();
    const withNul = { alerts: [{ annotations: { summary: "a\u0000b & c" } }] };
    const nulText = JSON.stringify(withNul).replaceAll("&", "\\u0026");
    expect(() => assertStorable(withNul, Buffer.from(nulText))).toThrow(UnstorablePayloadError);
  });
});

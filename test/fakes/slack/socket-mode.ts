/**
 * The fake Slack's Socket Mode (docs.slack.dev/apis/events-api/using-socket-mode): the WebSocket
 * Slack pushes events, interactions and slash commands through, on the fake's own HTTP server.
 *
 *   apps.connections.open (app-level `xapp-` token)  -> { ok, url: "ws://127.0.0.1:PORT/link/?ticket=…&app_id=…" }
 *   connect to the URL (a ticket is good for one connection) -> {"type":"hello","num_connections":N,…}
 *   slack.socket.send("slash_commands", payload) -> {"envelope_id","type","payload","accepts_response_payload",…}
 *   the app acks                                   <- {"envelope_id":"…","payload":{…}?}   (within 3 s)
 *   slack.socket.disconnect()                      -> {"type":"disconnect","reason":"refresh_requested",…}
 *   slack.socket.drop()                            -> the TCP connection ends, no close frame
 *   slack.socket.refuseConnections(true)           -> handshakes answered 503 until turned off (`refusals` records them)
 *
 * apps.connections.open's contract (errors, no arguments) is in contract.json like every other
 * method's, hand-written in scripts/extract-slack-contract.ts (Slack's 2021 spec predates it).
 *
 * No `ws` package is installed (@slack/socket-mode 3 uses undici's WebSocket client), and Node has
 * no WebSocket server: this file speaks the little of RFC 6455 a server needs (handshake, frames,
 * ping/pong, close handshake) on the HTTP server's `upgrade` event.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { loadSlackContract, type MethodContract, type SlackContract } from "./contract.ts";
import { SlackError } from "./handlers.ts";

export const APPS_CONNECTIONS_OPEN = "apps.connections.open";

/** The methods only an app-level token may call (and it may call nothing else). */
export const APP_TOKEN_METHODS: ReadonlySet<string> = new Set([APPS_CONNECTIONS_OPEN]);

/**
 * Socket Mode is off in the app's settings. Slack documents no error code for calling
 * apps.connections.open then (its method page lists only the common errors); this name is the
 * fake's own, so a test can say "Socket Mode is off" and see the app fail to connect.
 */
export const SOCKET_MODE_DISABLED_ERROR = "socket_mode_not_enabled";

/**
 * The contract's apps.connections.open (absent from Slack's 2021 OpenAPI spec: it is hand-written
 * in scripts/extract-slack-contract.ts's HAND_METHODS, from Slack's method docs, and generated
 * into contract.json like every other method). Throws when contract.json predates it.
 */
function appsConnectionsOpen(contract: SlackContract): MethodContract {
  const entry = contract.methods[APPS_CONNECTIONS_OPEN];
  if (entry === undefined || !contract.knownMethods.includes(APPS_CONNECTIONS_OPEN)) {
    throw new Error(`test/fakes/slack/contract.json lacks ${APPS_CONNECTIONS_OPEN}: run npx tsx scripts/extract-slack-contract.ts`);
  }
  if (!entry.errors.includes(SOCKET_MODE_DISABLED_ERROR)) {
    throw new Error(`contract.json's ${APPS_CONNECTIONS_OPEN} does not list ${SOCKET_MODE_DISABLED_ERROR}: run npx tsx scripts/extract-slack-contract.ts`);
  }
  return entry;
}

/** contract.json's entry for apps.connections.open (read from contract.json, not written here). */
export const APPS_CONNECTIONS_OPEN_CONTRACT: MethodContract = appsConnectionsOpen(loadSlackContract());

/** The contract, checked to carry apps.connections.open (contract.json has it since it was regenerated). */
export function withSocketMode(contract: SlackContract): SlackContract {
  appsConnectionsOpen(contract);
  return contract;
}

export type EnvelopeType = "slash_commands" | "interactive" | "events_api";

export interface Envelope {
  envelope_id: string;
  type: EnvelopeType;
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
  retry_attempt: number;
  retry_reason: string;
}

export interface SendOptions {
  /** Default: true for slash_commands and interactive, false for events_api (as Slack sends them). */
  acceptsResponsePayload?: boolean;
  /** Send on this connection (an id from `socket.connectionIds()`) instead of the next one in turn. */
  connection?: number;
}

export interface AckRecord {
  envelopeId: string;
  /** The `payload` of the ack, if the app sent one (a slash command's response, a view's response_action...). */
  payload?: Record<string, unknown>;
  /** The connection the ack arrived on. */
  connection: number;
  /** Epoch ms. */
  at: number;
  /** Which delivery it answered (0 = first, 1 = first redelivery...). */
  retryAttempt: number;
  /**
   * True when no delivery of the envelope was waiting for it: it arrived after the ack deadline
   * (Slack has given up on it by then), or after another copy's ack already answered the latest
   * delivery (two connections raced on a redelivered envelope).
   */
  late: boolean;
}

export interface Delivery {
  envelopeId: string;
  /** The connection it was sent on. */
  connection: number;
  /** Resolves with the ack; rejects if none arrives within the ack deadline (Slack: 3 s). */
  ack: Promise<AckRecord>;
}

export interface ConnectionRecord {
  id: number;
  /** Epoch ms of the hello. */
  openedAt: number;
  closedAt?: number;
  /** Who ended it: the app (close frame), the fake (close frame after disconnect()), or nobody (drop, TCP reset). */
  closedBy?: "client" | "server" | "dropped";
  /** Every text frame the app sent on it, parsed. */
  received: unknown[];
  /** Pings the app sent (each answered with a pong, as Slack does; @slack/socket-mode reconnects without them). */
  pings: number;
}

/** A WebSocket handshake the fake refused (see `refuseConnections`). */
export interface RefusalRecord {
  /** Epoch ms. */
  at: number;
  /** The HTTP status the handshake was answered with. */
  status: number;
}

export interface FakeSocketMode {
  /** Open connections (hello sent, not closed). */
  connections(): number;
  /** Ids of the open connections, oldest first. */
  connectionIds(): number[];
  /** Every connection so far, open and closed (cleared by reset() except the open ones). */
  readonly history: readonly ConnectionRecord[];
  /** Every envelope sent, redeliveries included, in order. */
  readonly envelopes: readonly Envelope[];
  /** Every ack received, in order (late ones too, flagged). */
  readonly acks: readonly AckRecord[];
  /** Handshakes refused while `refuseConnections` was on, in order (cleared by reset()). */
  readonly refusals: readonly RefusalRecord[];
  /**
   * While on, every WebSocket handshake is answered with HTTP `status` (default 503) instead of
   * opening a connection, as when Slack's socket endpoint is unavailable (apps.connections.open
   * still hands out URLs; its ticket is spent). Connections already open stay open. Off again, the
   * next handshake succeeds. reset() turns it off.
   */
  refuseConnections(on: boolean, status?: number): void;
  /** Sends an envelope to one open connection (round-robin, as Slack spreads payloads). Rejects when none is open. */
  send(type: EnvelopeType, payload: Record<string, unknown>, options?: SendOptions): Promise<Delivery>;
  /** Sends an envelope again, as Slack retries an unacked one: same envelope_id, retry_attempt + 1, retry_reason "timeout". */
  redeliver(envelopeId: string, options?: Pick<SendOptions, "connection">): Promise<Delivery>;
  /**
   * Sends `{"type":"disconnect","reason":…,"debug_info":{…}}` to every open connection (or one), as
   * Slack does before recycling a connection. Unless the reason is "warning" (Slack warns ~10 s
   * ahead and keeps the connection), the fake closes any connection the app has not closed
   * itself within `closeAfterMs` (default 1000). Resolves once they are all closed.
   */
  disconnect(reason?: string, options?: { connection?: number; closeAfterMs?: number }): Promise<void>;
  /** Ends every open connection (or one) abruptly: the TCP socket is destroyed, no close frame. */
  drop(connection?: number): void;
  /** Resolves once at least `n` connections are open; rejects after timeoutMs (default 3000). */
  waitForConnections(n: number, timeoutMs?: number): Promise<number>;
  /** Resolves once `count` acks (default 1) for the envelope arrived; rejects after timeoutMs (default 3000). */
  waitForAck(envelopeId: string, timeoutMs?: number): Promise<AckRecord>;
}

export interface SocketModeOptions {
  appId: string;
  enabled: boolean;
  ackDeadlineMs: number;
  /** "127.0.0.1:PORT", known once the HTTP server listens. */
  host: () => string;
}

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const DEBUG_HOST = "applink-fake-1";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  let header: Buffer;
  if (length < 126) {
    header = Buffer.from([0x80 | opcode, length]);
  } else if (length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

function closePayload(code: number, reason = ""): Buffer {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code, 0);
  out.write(reason, 2);
  return out;
}

/** One WebSocket connection: RFC 6455 framing on a raw socket (server side: unmasked out, masked in). */
class Connection {
  private buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private closeSent = false;
  closed = false;

  constructor(
    readonly record: ConnectionRecord,
    private readonly socket: Duplex,
    private readonly onText: (conn: Connection, text: string) => void,
    private readonly onClosed: (conn: Connection, by: "client" | "server" | "dropped") => void,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => this.finish(this.closeSent ? "server" : "dropped"));
    socket.on("error", () => this.finish("dropped"));
  }

  get id(): number {
    return this.record.id;
  }

  sendJson(value: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed || this.closeSent) {
        reject(new Error(`Fake Slack Socket Mode: connection ${this.id} is closed`));
        return;
      }
      this.socket.write(frame(OP_TEXT, Buffer.from(JSON.stringify(value))), (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Starts the close handshake (the app answers with its close frame, then the fake ends the TCP connection). */
  close(code = 1000, reason = ""): void {
    if (this.closed || this.closeSent) return;
    this.closeSent = true;
    this.socket.write(frame(OP_CLOSE, closePayload(code, reason)));
    // An app that never answers the close frame is cut off.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  drop(): void {
    this.finish("dropped");
    this.socket.destroy();
  }

  private finish(by: "client" | "server" | "dropped"): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed(this, by);
  }

  private protocolError(reason: string): void {
    this.close(1002, reason);
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const b0 = this.buffer[0] ?? 0;
      const b1 = this.buffer[1] ?? 0;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (!masked) {
        // RFC 6455 5.1: a server must close the connection on an unmasked client frame.
        this.protocolError("client frames must be masked");
        this.buffer = Buffer.alloc(0);
        return;
      }
      if (this.buffer.length < offset + 4 + length) return;
      const mask = this.buffer.subarray(offset, offset + 4);
      const payload = Buffer.from(this.buffer.subarray(offset + 4, offset + 4 + length));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
      this.buffer = this.buffer.subarray(offset + 4 + length);
      this.onFrame(fin, opcode, payload);
      if (this.closed) return;
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_PING:
        this.record.pings++;
        if (!this.closeSent) this.socket.write(frame(OP_PONG, payload));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE:
        if (this.closeSent) {
          // The app answered the fake's close frame: the handshake is complete.
          this.finish("server");
        } else {
          this.closeSent = true;
          this.finish("client");
          this.socket.write(frame(OP_CLOSE, payload.subarray(0, 2)));
        }
        this.socket.end();
        return;
      case OP_TEXT:
      case OP_BINARY:
        this.fragments = [payload];
        this.fragmentOpcode = opcode;
        break;
      case OP_CONTINUATION:
        this.fragments.push(payload);
        break;
      default:
        this.protocolError(`unknown opcode ${opcode}`);
        return;
    }
    if (!fin) return;
    const message = Buffer.concat(this.fragments);
    this.fragments = [];
    if (this.fragmentOpcode === OP_TEXT) this.onText(this, message.toString("utf8"));
  }
}

interface PendingAck {
  envelope: Envelope;
  resolve: (ack: AckRecord) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface StateWaiter {
  check: () => boolean;
  resolve: () => void;
}

export interface SocketModeServer {
  readonly api: FakeSocketMode;
  /** apps.connections.open's answer (throws SlackError when Socket Mode is off). */
  openConnection(): Record<string, unknown>;
  /** The HTTP server's `upgrade` listener. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Clears envelopes, acks and closed connections (open connections stay open). */
  reset(): void;
  /** Ends every connection and pending ack. */
  close(): void;
}

export function createSocketModeServer(options: SocketModeOptions): SocketModeServer {
  const tickets = new Set<string>();
  const open: Connection[] = [];
  const history: ConnectionRecord[] = [];
  const envelopes: Envelope[] = [];
  const acks: AckRecord[] = [];
  const refusals: RefusalRecord[] = [];
  let refusing: number | undefined;
  /** envelope_id -> connection id -> the retry_attempt last sent on that connection. */
  const sentOn = new Map<string, Map<number, number>>();
  const pending = new Map<string, PendingAck>();
  const waiters = new Set<StateWaiter>();
  let nextConnectionId = 1;
  let turn = 0;

  function notify(): void {
    for (const w of waiters) {
      if (w.check()) {
        waiters.delete(w);
        w.resolve();
      }
    }
  }

  function waitUntil(check: () => boolean, describe: () => string, timeoutMs: number): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: StateWaiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`Fake Slack Socket Mode: ${describe()} timed out after ${timeoutMs}ms`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  function onText(conn: Connection, text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      conn.record.received.push(text);
      return;
    }
    conn.record.received.push(message);
    if (!isRecord(message) || typeof message["envelope_id"] !== "string") return;
    const envelopeId = message["envelope_id"];
    const payload = message["payload"];
    const waiting = pending.get(envelopeId);
    const known = waiting?.envelope ?? [...envelopes].reverse().find((e) => e.envelope_id === envelopeId);
    // An ack answers the delivery made on its own connection (a redelivery may have gone elsewhere).
    const attempt = sentOn.get(envelopeId)?.get(conn.id) ?? known?.retry_attempt ?? 0;
    const ack: AckRecord = {
      envelopeId,
      ...(isRecord(payload) ? { payload } : {}),
      connection: conn.id,
      at: Date.now(),
      retryAttempt: attempt,
      late: waiting === undefined,
    };
    acks.push(ack);
    if (waiting !== undefined) {
      pending.delete(envelopeId);
      clearTimeout(waiting.timer);
      waiting.resolve(ack);
    }
    notify();
  }

  function onClosed(conn: Connection, by: "client" | "server" | "dropped"): void {
    conn.record.closedAt = Date.now();
    conn.record.closedBy = by;
    const i = open.indexOf(conn);
    if (i !== -1) open.splice(i, 1);
    notify();
  }

  function reject(socket: Duplex, status: string): void {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  function pick(connection: number | undefined): Connection {
    if (connection !== undefined) {
      const conn = open.find((c) => c.id === connection);
      if (conn === undefined) throw new Error(`Fake Slack Socket Mode: no open connection ${connection} (open: ${open.map((c) => c.id).join(", ") || "none"})`);
      return conn;
    }
    if (open.length === 0) throw new Error("Fake Slack Socket Mode: no open connection (call socket.waitForConnections() first)");
    const conn = open[turn % open.length];
    turn++;
    if (conn === undefined) throw new Error("Fake Slack Socket Mode: no open connection");
    return conn;
  }

  async function deliver(envelope: Envelope, connection: number | undefined): Promise<Delivery> {
    const conn = pick(connection);
    const previous = pending.get(envelope.envelope_id);
    if (previous !== undefined) {
      clearTimeout(previous.timer);
      pending.delete(envelope.envelope_id);
      previous.reject(new Error(`Fake Slack Socket Mode: envelope ${envelope.envelope_id} was redelivered before it was acked`));
    }
    envelopes.push(envelope);
    const on = sentOn.get(envelope.envelope_id) ?? new Map<number, number>();
    on.set(conn.id, envelope.retry_attempt);
    sentOn.set(envelope.envelope_id, on);
    const ack = new Promise<AckRecord>((resolve, rejectAck) => {
      const timer = setTimeout(() => {
        pending.delete(envelope.envelope_id);
        rejectAck(
          new Error(
            `Fake Slack Socket Mode: no ack for ${envelope.type} envelope ${envelope.envelope_id} (retry_attempt ${envelope.retry_attempt}) within ${options.ackDeadlineMs}ms`,
          ),
        );
      }, options.ackDeadlineMs);
      pending.set(envelope.envelope_id, { envelope, resolve, reject: rejectAck, timer });
    });
    // A test that does not await the ack must not fail on an unhandled rejection; one that does still sees it.
    ack.catch(() => undefined);
    await conn.sendJson(envelope);
    return { envelopeId: envelope.envelope_id, connection: conn.id, ack };
  }

  const api: FakeSocketMode = {
    connections: () => open.length,
    connectionIds: () => open.map((c) => c.id),
    history,
    envelopes,
    acks,
    refusals,

    refuseConnections(on, status = 503) {
      if (on && (!Number.isInteger(status) || status < 400 || status > 599)) {
        throw new TypeError(`Fake Slack Socket Mode: refuseConnections: ${status} is not an HTTP error status`);
      }
      refusing = on ? status : undefined;
    },

    send(type, payload, sendOptions = {}) {
      const envelope: Envelope = {
        envelope_id: randomUUID(),
        type,
        payload,
        accepts_response_payload: sendOptions.acceptsResponsePayload ?? type !== "events_api",
        retry_attempt: 0,
        retry_reason: "",
      };
      try {
        return deliver(envelope, sendOptions.connection);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },

    redeliver(envelopeId, redeliverOptions = {}) {
      const last = [...envelopes].reverse().find((e) => e.envelope_id === envelopeId);
      if (last === undefined) return Promise.reject(new Error(`Fake Slack Socket Mode: redeliver: no envelope ${envelopeId} was sent`));
      try {
        return deliver({ ...last, retry_attempt: last.retry_attempt + 1, retry_reason: "timeout" }, redeliverOptions.connection);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },

    async disconnect(reason = "refresh_requested", disconnectOptions = {}) {
      const targets = disconnectOptions.connection === undefined ? [...open] : [pick(disconnectOptions.connection)];
      const message = { type: "disconnect", reason, debug_info: { host: DEBUG_HOST } };
      await Promise.all(targets.map((c) => c.sendJson(message)));
      if (reason === "warning") return;
      const closeAfterMs = disconnectOptions.closeAfterMs ?? 1000;
      const timer = setTimeout(() => {
        for (const c of targets) c.close(1000, reason);
      }, closeAfterMs);
      // Both the app's close and the fake's close end here; give the fake's close handshake time to finish.
      try {
        await waitUntil(() => targets.every((c) => c.closed), () => `disconnect(${reason})`, closeAfterMs + 2000);
      } finally {
        clearTimeout(timer);
      }
    },

    drop(connection) {
      const targets = connection === undefined ? [...open] : [pick(connection)];
      for (const c of targets) c.drop();
    },

    async waitForConnections(n, timeoutMs = 3000) {
      await waitUntil(() => open.length >= n, () => `waitForConnections(${n}) (open: ${open.length})`, timeoutMs);
      return open.length;
    },

    async waitForAck(envelopeId, timeoutMs = 3000) {
      let found: AckRecord | undefined;
      await waitUntil(
        () => (found = acks.find((a) => a.envelopeId === envelopeId)) !== undefined,
        () => `waitForAck(${envelopeId})`,
        timeoutMs,
      );
      if (found === undefined) throw new Error(`Fake Slack Socket Mode: waitForAck(${envelopeId}) found nothing`);
      return found;
    },
  };

  return {
    api,

    openConnection() {
      if (!options.enabled) throw new SlackError(SOCKET_MODE_DISABLED_ERROR);
      const ticket = randomBytes(16).toString("hex");
      tickets.add(ticket);
      return { url: `ws://${options.host()}/link/?ticket=${ticket}&app_id=${options.appId}` };
    },

    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const key = req.headers["sec-websocket-key"];
      const ticket = url.searchParams.get("ticket") ?? "";
      if (url.pathname !== "/link/" || (req.headers["upgrade"] ?? "").toLowerCase() !== "websocket") {
        reject(socket, "404 Not Found");
        return;
      }
      if (typeof key !== "string" || req.headers["sec-websocket-version"] !== "13") {
        reject(socket, "400 Bad Request");
        return;
      }
      // A ticket from apps.connections.open opens one connection; a reused or made-up one is refused.
      if (!tickets.delete(ticket)) {
        reject(socket, "401 Unauthorized");
        return;
      }
      if (refusing !== undefined) {
        refusals.push({ at: Date.now(), status: refusing });
        reject(socket, `${refusing} ${STATUS_CODES[refusing] ?? "Error"}`);
        notify();
        return;
      }
      const accept = createHash("sha1").update(key + WS_GUID).digest("base64");
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      const record: ConnectionRecord = { id: nextConnectionId++, openedAt: Date.now(), received: [], pings: 0 };
      history.push(record);
      if (head.length > 0) socket.unshift(head);
      const conn = new Connection(record, socket, onText, onClosed);
      open.push(conn);
      conn
        .sendJson({
          type: "hello",
          num_connections: open.length,
          debug_info: { host: DEBUG_HOST, build_number: 1, approximate_connection_time: 18060 },
          connection_info: { app_id: options.appId },
        })
        .then(notify, () => undefined);
    },

    reset() {
      envelopes.length = 0;
      acks.length = 0;
      refusals.length = 0;
      refusing = undefined;
      sentOn.clear();
      for (const p of pending.values()) clearTimeout(p.timer);
      pending.clear();
      const kept = history.filter((r) => r.closedAt === undefined);
      history.length = 0;
      history.push(...kept);
    },

    close() {
      for (const c of [...open]) c.drop();
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error("Fake Slack closed before the envelope was acked"));
      }
      pending.clear();
      tickets.clear();
    },
  };
}

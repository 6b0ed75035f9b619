/**
 * The fast lane: plain `GET`/`HEAD` requests whose answer the server already holds in memory are
 * answered straight on the socket; every other request, and the rest of its connection, goes to
 * `node:http` unchanged.
 *
 * Why: for a small response `node:http`'s own per-request work (request and response objects,
 * header objects, stream state, events) costs more than the answer itself. Measured on one
 * machine of the project's kind: a bare `node:http` server sending a 2.7 kB page reached 0.58x
 * nginx, the same bytes written on the socket 1.3x (docs/performance.md).
 *
 * What it takes is deliberately narrow, a strict subset of HTTP/1.1 that `node:http` would read
 * the same way:
 *   - one whole request in one chunk (no partial and no pipelined requests), at most 8 KiB;
 *   - `GET` or `HEAD`, an origin-form target of unreserved, sub-delimiter, `:@/?%` characters,
 *     `HTTP/1.1`;
 *   - header names that are tokens, values of visible ASCII, space and tab (no obs-fold, no
 *     bare CR or LF, no other bytes), exactly one `Host`, at most one of each header the
 *     answer reads;
 *   - no header that frames a body or changes the exchange (`Content-Length`,
 *     `Transfer-Encoding`, `Expect`, `Upgrade`, `TE`, `Trailer`), no conditional or range
 *     header (the server's 304 and range logic stay in one place), `Connection` absent or
 *     `keep-alive`.
 * Anything else is handed over: the chunk is put back in front of the socket's data and the
 * socket is given to the HTTP server's own connection handling (what `server.emit("connection",
 * socket)` does), so from then on `node:http` parses, times out, answers and closes it.
 */
import type { EventEmitter } from "node:events";
import type * as net from "node:net";

/** A request the fast lane can answer: what the answer may depend on. */
export interface SimpleRequest {
    method: "GET" | "HEAD";
    url: string;
    acceptEncoding: string | undefined;
    forwardedProto: string | undefined;
    forwardedFor: string | undefined;
    userAgent: string | undefined;
}

/**
 * Answers `request` on `socket` (with {@link writeResponse}) and returns true, or returns false
 * and writes nothing: then `node:http` answers it. A promise when the answer waits for
 * something (the socket reads nothing meanwhile); a rejected one hands the request over too.
 */
export type Answer = (request: SimpleRequest, socket: net.Socket) => boolean | Promise<boolean>;

/** Larger requests go to `node:http` (its own limit is 16 KiB). */
export const MAX_SIMPLE_REQUEST_BYTES = 8192;

const REQUEST_LINE = /^(GET|HEAD) (\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*) HTTP\/1\.1\r\n/;
/** One header line: a token, a colon, a value of visible ASCII, space and tab, CRLF. */
const FIELD = /([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([\t\x20-\x7e]*)\r\n/y;
/** Headers that make a request something else than a plain read: `node:http` decides. */
const HANDED_OVER = new Set([
    "content-length",
    "transfer-encoding",
    "expect",
    "upgrade",
    "te",
    "trailer",
    "http2-settings",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "range",
    "if-range",
]);

/** The headers the answer reads, or whose repetition changes the request: at most one each. */
interface ReadHeaders {
    host: string | undefined;
    connection: string | undefined;
    acceptEncoding: string | undefined;
    forwardedProto: string | undefined;
    forwardedFor: string | undefined;
    userAgent: string | undefined;
}
/** Lower-case header name → where it is kept (a Map: client names never reach a prototype). */
const READ = new Map<string, keyof ReadHeaders>([
    ["host", "host"],
    ["connection", "connection"],
    ["accept-encoding", "acceptEncoding"],
    ["x-forwarded-proto", "forwardedProto"],
    ["x-forwarded-for", "forwardedFor"],
    ["user-agent", "userAgent"],
]);

/** The request in `chunk` when it is one the fast lane takes (see the module doc), else undefined. */
export function parseSimpleRequest(chunk: Buffer): SimpleRequest | undefined {
    const n = chunk.length;
    if (n > MAX_SIMPLE_REQUEST_BYTES || n < 20) return undefined;
    // Ends with the blank line; every line before it ends with CRLF.
    if (chunk[n - 4] !== 13 || chunk[n - 3] !== 10 || chunk[n - 2] !== 13 || chunk[n - 1] !== 10) {
        return undefined;
    }
    const head = chunk.toString("latin1", 0, n - 2);
    const line = REQUEST_LINE.exec(head);
    if (line === null) return undefined;
    const read: ReadHeaders = {
        host: undefined,
        connection: undefined,
        acceptEncoding: undefined,
        forwardedProto: undefined,
        forwardedFor: undefined,
        userAgent: undefined,
    };
    // Field lines up to the end; anything else (an empty line: a second request; a bare CR or
    // LF, obs-fold, other bytes) stops the sticky match short of it.
    let pos = line[0].length;
    while (pos < head.length) {
        FIELD.lastIndex = pos;
        const field = FIELD.exec(head);
        if (field === null) return undefined;
        pos = FIELD.lastIndex;
        const name = field[1]!.toLowerCase();
        const key = READ.get(name);
        if (key !== undefined) {
            if (read[key] !== undefined) return undefined;
            read[key] = field[2]!.trim();
        } else if (HANDED_OVER.has(name)) {
            return undefined;
        }
    }
    if (read.host === undefined) return undefined;
    const connection = read.connection;
    if (connection !== undefined && connection.toLowerCase() !== "keep-alive") return undefined;
    return {
        method: line[1] as "GET" | "HEAD",
        url: line[2]!,
        acceptEncoding: read.acceptEncoding,
        forwardedProto: read.forwardedProto,
        forwardedFor: read.forwardedFor,
        userAgent: read.userAgent,
    };
}

/** The `Date` header's value, formatted once per second. */
let dateSecond = -1;
let dateValue = "";
function httpDate(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== dateSecond) {
        dateSecond = second;
        dateValue = new Date(second * 1000).toUTCString();
    }
    return dateValue;
}

/** A header list's response head up to its request id, encoded once per list. */
const heads = new WeakMap<readonly string[], Buffer>();

/** A page body up to this size is copied behind its head and written with it. */
const COPY_BODY_BYTES = 16 * 1024;

/**
 * Writes a `200` whose headers are `headers` (a flat `[name, value, …]` list whose last pair is
 * `X-Request-Id` and a placeholder, as the server prepares them) with `requestId` filled in,
 * then `Date`, `Connection: keep-alive` and `Keep-Alive` as `node:http` adds them, and `body`
 * (none for `HEAD`): only the few bytes after the constant head are encoded per request, and
 * a body of at most `COPY_BODY_BYTES` is copied behind them, so the response is one `write`
 * (a larger one goes in the same `writev`). The lists must be constant (their head is cached
 * by identity) and hold only values `node:http` accepted.
 */
export function writeResponse(
    socket: net.Socket,
    headers: readonly string[],
    requestId: string,
    body: Buffer | undefined,
    keepAliveSeconds: number,
): void {
    let head = heads.get(headers);
    if (head === undefined) {
        let text = "HTTP/1.1 200 OK\r\n";
        for (let i = 0; i < headers.length - 2; i += 2)
            text += `${headers[i]}: ${headers[i + 1]}\r\n`;
        head = Buffer.from(`${text}${headers[headers.length - 2]}: `, "latin1");
        heads.set(headers, head);
    }
    const rest =
        requestId +
        "\r\nDate: " +
        httpDate() +
        `\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSeconds}\r\n\r\n`;
    // One buffer, one `write`: a `writev` of three costs more in Node's stream machinery than
    // copying a small page (measured: 7 % more responses a second for the 2.7 KB index).
    const copied = body !== undefined && body.length <= COPY_BODY_BYTES ? body : undefined;
    const out = Buffer.allocUnsafe(head.length + rest.length + (copied?.length ?? 0));
    head.copy(out, 0);
    out.write(rest, head.length, "latin1");
    if (copied !== undefined) copied.copy(out, head.length + rest.length);
    if (body === undefined || copied !== undefined) {
        socket.write(out);
        return;
    }
    socket.cork();
    socket.write(out);
    socket.write(body);
    socket.uncork();
}

/** An event listener, as `EventEmitter#on` takes any. */
type Listener = Parameters<EventEmitter["on"]>[1];

/** One connection in the fast lane: its listeners, removed when it is handed over. */
class Lane {
    /** Its answer is being awaited (the catalog listed again, a gzip variant compressed). */
    busy = false;
    /** The client half-closed while its answer was awaited: end once it is written. */
    ended = false;

    constructor(
        readonly fast: FastLane,
        readonly socket: net.Socket,
    ) {}

    readonly onData = (chunk: Buffer): void => this.fast.serve(this, chunk);
    readonly onTimeout = (): void => {
        this.socket.destroy();
    };
    // A client that half-closes gets the other half closed (the HTTP server runs allowHalfOpen).
    readonly onEnd = (): void => {
        if (this.busy) this.ended = true;
        else this.socket.end();
    };
    readonly onError = (): void => {
        this.socket.destroy();
    };
    readonly onClose = (): void => {
        this.fast.forget(this);
    };

    /** The socket events the lane listens to, and its listener for each. */
    private listeners(): [string, Listener][] {
        return [
            ["data", this.onData],
            ["timeout", this.onTimeout],
            ["end", this.onEnd],
            ["error", this.onError],
            ["close", this.onClose],
        ];
    }

    attach(): void {
        for (const [event, listener] of this.listeners()) this.socket.on(event, listener);
    }

    detach(): void {
        for (const [event, listener] of this.listeners()) this.socket.off(event, listener);
        this.socket.setTimeout(0);
    }
}

/**
 * Puts itself in front of the connection handling of `server` (an `http.Server`). `answer` is
 * asked for every simple request; `keepAliveMs` closes a connection idle in the lane as
 * `server.keepAliveTimeout` would.
 */
export class FastLane {
    private readonly lanes = new Set<Lane>();
    private readonly httpConnection: (socket: net.Socket) => void;
    private closed = false;
    /** Requests answered here, and connections handed over (for tests and the benchmark). */
    answered = 0;
    handedOver = 0;

    constructor(
        server: net.Server,
        private readonly answer: Answer,
        private readonly keepAliveMs: number,
    ) {
        // `http.Server` handles its connections with the one `connection` listener its
        // constructor added; that listener is what a handed-over socket is given to.
        const listeners = server.listeners("connection");
        if (listeners.length !== 1) {
            throw new Error(
                `the HTTP server has ${listeners.length} connection listeners, not its own one`,
            );
        }
        const own = listeners[0] as (socket: net.Socket) => void;
        this.httpConnection = (socket) => own.call(server, socket);
        server.off("connection", own);
        server.on("connection", (socket: net.Socket) => this.accept(socket));
    }

    private accept(socket: net.Socket): void {
        if (this.closed) {
            this.handOver(undefined, socket, undefined);
            return;
        }
        const lane = new Lane(this, socket);
        this.lanes.add(lane);
        socket.setNoDelay(true);
        socket.setTimeout(this.keepAliveMs);
        lane.attach();
    }

    /** @internal A chunk arrived on a connection of the lane. */
    serve(lane: Lane, chunk: Buffer): void {
        const socket = lane.socket;
        const request =
            this.closed || socket.writableNeedDrain ? undefined : parseSimpleRequest(chunk);
        let result: boolean | Promise<boolean> = false;
        if (request !== undefined) {
            try {
                result = this.answer(request, socket);
            } catch {
                result = false; // node:http answers it, and reports what goes wrong
            }
        }
        if (result === true) {
            this.answered++;
        } else if (result === false) {
            this.handOver(lane, socket, chunk);
        } else {
            // Nothing more is read from this client until its answer is written.
            lane.busy = true;
            socket.pause();
            result.then(
                (done) => {
                    lane.busy = false;
                    if (!done) {
                        this.handOver(lane, socket, chunk);
                        return;
                    }
                    this.answered++;
                    if (lane.ended) socket.end();
                    else socket.resume();
                },
                () => {
                    lane.busy = false;
                    this.handOver(lane, socket, chunk);
                },
            );
        }
    }

    /** @internal */
    forget(lane: Lane): void {
        this.lanes.delete(lane);
    }

    private handOver(lane: Lane | undefined, socket: net.Socket, chunk: Buffer | undefined): void {
        this.handedOver++;
        if (lane !== undefined) {
            lane.detach();
            this.lanes.delete(lane);
        }
        if (socket.destroyed) return; // the client left while its answer was awaited
        if (chunk === undefined) {
            this.httpConnection(socket);
            return;
        }
        if (lane?.ended) {
            // The client's end came while the lane held the socket: the stream has ended, so the
            // chunk cannot be put back. The HTTP server gets both as a JS stream delivers them:
            // the chunk to its parser, then the end (it ends the connection after its answer).
            this.httpConnection(socket);
            socket.emit("data", chunk);
            socket.emit("end");
            return;
        }
        // Back in front of what the socket reads next, for the HTTP server's parser.
        socket.pause();
        socket.unshift(chunk);
        this.httpConnection(socket);
        socket.resume();
    }

    /**
     * From now on every request goes to `node:http` (draining: it answers with `Connection:
     * close`); connections idle in the lane are closed by {@link closeIdle}.
     */
    drain(): void {
        this.closed = true;
    }

    /** Close the connections idle in the lane: all but those whose answer is awaited. */
    closeIdle(): void {
        for (const lane of this.lanes) {
            if (lane.busy) continue;
            lane.socket.destroy();
            this.lanes.delete(lane);
        }
    }

    /** Close every connection of the lane (the shutdown's timeout ran out). */
    closeAll(): void {
        for (const lane of this.lanes) lane.socket.destroy();
        this.lanes.clear();
    }
}

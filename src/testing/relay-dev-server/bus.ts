/**
 * The reference relay's WebSocket bus: the hello handshake, runner frames checked with the
 * protocol schemas (a bad frame is answered with a non-fatal `bad_frame` error, never applied),
 * pushes, and commands waiting for their results.
 */
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Clock, TimerHandle } from '../../ports/clock.js';
import { RELAY_PROTOCOL_VERSION } from '../../ports/relay-http.js';
import type { ServerFrame, TimelineFrame } from '../../ports/relay-bus.js';
import { decodeRunnerFrame } from '../../protocol/relay-codec.js';
import { ClosedError, RunnerError } from '../../errors/index.js';
import type { DevCommandOutcome, ReceivedStatus } from './types.js';
import { HttpFailure, rawToString } from './http.js';
import { newId, type DevState } from './state.js';

interface BusConn {
  ws: WebSocket;
  agentId: string | undefined;
  helloTimer: TimerHandle | undefined;
}

interface PendingCommand {
  agentId: string;
  frame: Extract<ServerFrame, { type: 'command' }>;
  sent: boolean;
  timer: TimerHandle;
  resolve: (outcome: DevCommandOutcome) => void;
  reject: (error: Error) => void;
}

/** What the bus needs from the server around it. */
export interface DevBusOptions {
  state: DevState;
  /** "Now" for timestamps (may be a fake clock). */
  clock: Clock;
  /** Real timers (hello timeout, command timeouts). */
  timers: Clock;
  helloTimeoutMs: number;
  maxPayload: number;
  /** True while the server plays dead: every frame is swallowed. */
  isHung: () => boolean;
  /** Called once per accepted hello. */
  onAccepted: () => void;
}

/** The bus of one reference relay. */
export class DevBus {
  /** The WebSocket server; the HTTP server hands it the upgrades of `/v1/bus`. */
  readonly wss: WebSocketServer;
  readonly #conns = new Set<BusConn>();
  readonly #pending = new Map<string, PendingCommand>();
  readonly #statuses = new Map<string, ReceivedStatus[]>();
  readonly #timelines = new Map<string, TimelineFrame[]>();

  constructor(private readonly o: DevBusOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayload });
    this.wss.on('connection', (ws: WebSocket) => this.#accept(ws));
  }

  /** Send a frame to every authenticated connection of an agent. */
  push(agentId: string, frame: ServerFrame): void {
    this.pushRaw(agentId, JSON.stringify(frame));
  }

  /** Send text as a frame to every authenticated connection of an agent; returns how many got it. */
  pushRaw(agentId: string, text: string): number {
    let sent = 0;
    for (const conn of this.#conns) {
      if (conn.agentId === agentId && this.#sendText(conn, text)) sent += 1;
    }
    return sent;
  }

  /** Send a command and resolve with the runner's result; queued until the agent is connected. */
  command(agentId: string, name: string, args: Record<string, unknown>, timeoutMs: number): Promise<DevCommandOutcome> {
    return new Promise<DevCommandOutcome>((resolve, reject) => {
      const id = newId('cmd');
      const timer = this.o.timers.setTimeout(() => {
        this.#pending.delete(id);
        reject(new RunnerError('TIMEOUT', `command ${name} to ${agentId} got no result in time`));
      }, timeoutMs);
      this.#pending.set(id, { agentId, frame: { type: 'command', id, name, args }, sent: false, timer, resolve, reject });
      this.#flushCommands(agentId);
    });
  }

  /** Refuse something on a connection; with a close code the error is fatal. */
  closeAgent(agentId: string, code: string, message: string, closeCode: number): void {
    for (const conn of this.#conns) if (conn.agentId === agentId) this.#error(conn, code, message, closeCode);
  }

  /** Status frames received from an agent, oldest first. */
  statuses(agentId: string): ReceivedStatus[] {
    return [...(this.#statuses.get(agentId) ?? [])];
  }

  /** Timeline frames received from an agent, oldest first. */
  timeline(agentId: string): TimelineFrame[] {
    return [...(this.#timelines.get(agentId) ?? [])];
  }

  /** Authenticated connections (of one agent, or all). */
  connections(agentId?: string): number {
    return [...this.#conns].filter((c) => c.agentId !== undefined && (agentId === undefined || c.agentId === agentId)).length;
  }

  /** Whether an agent has an authenticated connection now. */
  isConnected(agentId: string): boolean {
    return this.connections(agentId) > 0;
  }

  /** Cut every connection abruptly (clients see an abnormal close). */
  terminateAll(): void {
    for (const conn of this.#conns) conn.ws.terminate();
  }

  /** Reject pending commands, drop connections, stop accepting. */
  close(): void {
    for (const pending of this.#pending.values()) {
      this.o.timers.clearTimeout(pending.timer);
      pending.reject(new ClosedError('relay dev server'));
    }
    this.#pending.clear();
    this.terminateAll();
    this.wss.close();
  }

  #accept(ws: WebSocket): void {
    const conn: BusConn = { ws, agentId: undefined, helloTimer: undefined };
    this.#conns.add(conn);
    conn.helloTimer = this.o.timers.setTimeout(() => {
      if (conn.agentId === undefined) this.#error(conn, 'hello_timeout', 'no hello received in time', 4408);
    }, this.o.helloTimeoutMs);
    ws.on('message', (raw) => this.#onFrame(conn, raw));
    ws.on('error', () => {});
    ws.on('close', () => {
      this.o.timers.clearTimeout(conn.helloTimer);
      this.#conns.delete(conn);
    });
  }

  #sendText(conn: BusConn, text: string): boolean {
    if (conn.ws.readyState !== conn.ws.OPEN) return false;
    conn.ws.send(text);
    return true;
  }

  #send(conn: BusConn, frame: ServerFrame): void {
    this.#sendText(conn, JSON.stringify(frame));
  }

  #error(conn: BusConn, code: string, message: string, closeCode?: number): void {
    this.#send(conn, { type: 'error', code, message, ...(closeCode ? { fatal: true } : {}) });
    if (closeCode) conn.ws.close(closeCode, code);
  }

  #flushCommands(agentId: string): void {
    for (const pending of this.#pending.values()) {
      if (pending.agentId !== agentId || pending.sent) continue;
      const target = [...this.#conns].find((c) => c.agentId === agentId);
      if (!target) return;
      pending.sent = true;
      this.#send(target, pending.frame);
    }
  }

  #onFrame(conn: BusConn, raw: RawData): void {
    if (this.o.isHung()) return; // a hung relay swallows everything, pings included
    const decoded = decodeRunnerFrame(rawToString(raw));
    const type = decoded.ok ? decoded.frame.type : decoded.type;
    if (type === undefined && !decoded.ok) return this.#error(conn, 'bad_frame', decoded.reason);
    if (conn.agentId === undefined) return this.#hello(conn, decoded);
    if (!decoded.ok) return this.#error(conn, 'bad_frame', decoded.reason);
    const frame = decoded.frame;
    const agentId = conn.agentId;
    switch (frame.type) {
      case 'ping':
        return this.#send(conn, { type: 'pong', id: frame.id, serverTime: this.o.clock.now() });
      case 'status': {
        const list = this.#statuses.get(agentId) ?? [];
        list.push({ receivedAt: this.o.clock.now(), status: frame.status });
        if (list.length > 1000) list.shift();
        this.#statuses.set(agentId, list);
        return;
      }
      case 'timeline': {
        const list = this.#timelines.get(agentId) ?? [];
        list.push(frame);
        if (list.length > 5000) list.shift();
        this.#timelines.set(agentId, list);
        return;
      }
      case 'command.result': {
        const pending = this.#pending.get(frame.id);
        if (!pending || pending.agentId !== agentId) return this.#error(conn, 'unknown_command', 'command.result names no pending command');
        this.#pending.delete(frame.id);
        this.o.timers.clearTimeout(pending.timer);
        pending.resolve(frame.ok ? { ok: true, result: frame.result } : { ok: false, error: frame.error });
        return;
      }
      case 'hello':
        return this.#error(conn, 'bad_frame', 'already authenticated');
    }
  }

  #hello(conn: BusConn, decoded: ReturnType<typeof decodeRunnerFrame>): void {
    const type = decoded.ok ? decoded.frame.type : decoded.type;
    if (type !== 'hello') return this.#error(conn, 'hello_required', 'first frame must be hello', 4400);
    // The version first: a client of another version may well send a hello this schema refuses.
    const protocol = decoded.ok ? (decoded.frame as { protocol: unknown }).protocol : decoded.value?.['protocol'];
    if (protocol !== RELAY_PROTOCOL_VERSION) {
      const sent = String(protocol).slice(0, 20);
      return this.#error(conn, 'protocol_mismatch', `client speaks protocol ${sent}; server speaks ${RELAY_PROTOCOL_VERSION}`, 4426);
    }
    if (!decoded.ok || decoded.frame.type !== 'hello') {
      return this.#error(conn, 'unauthorized', decoded.ok ? 'hello refused' : decoded.reason, 4401);
    }
    const hello = decoded.frame;
    try {
      const agent = this.o.state.checkToken(hello.token);
      if (agent.id !== hello.agentId) throw new HttpFailure(403, 'forbidden', 'token belongs to another agent');
      conn.agentId = agent.id;
      this.o.timers.clearTimeout(conn.helloTimer);
      this.o.onAccepted();
      this.#send(conn, { type: 'welcome', protocol: RELAY_PROTOCOL_VERSION, agentId: agent.id, serverTime: this.o.clock.now() });
      this.#flushCommands(agent.id);
    } catch (error) {
      const f = error instanceof HttpFailure ? error : new HttpFailure(401, 'unauthorized', 'hello refused');
      this.#error(conn, f.code, f.message, 4401);
    }
  }
}

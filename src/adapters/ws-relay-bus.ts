import WebSocket from 'isomorphic-ws';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { RELAY_PROTOCOL_VERSION } from '../ports/relay-http.js';
import type { OutgoingRunnerFrame, RelayBus, RelayBusEvents, RunnerFrame, StatusFrame } from '../ports/relay-bus.js';
import { decodeServerFrame } from '../protocol/relay-codec.js';
import { ClosedError, InvalidArgumentError } from '../errors/index.js';
import { backoffDelay } from '../shared/backoff.js';
import { describeError } from '../shared/describe-error.js';
import { requireClock } from './require-clock.js';

/**
 * Options of {@link createWsRelayBus}.
 * @public
 */
export interface WsRelayBusOptions {
  /** Bus URL (`ws://…/v1/bus` or `wss://…/v1/bus`). */
  url: string;
  /** Agent id to authenticate as. */
  agentId: string;
  /** The current token; read on every (re)connect. */
  token: () => string | undefined;
  /** Timers and time (`createSystemClock()` in production). */
  clock: Clock;
  /** Where the bus logs (component `bus`). @defaultValue silent */
  logger?: Logger;
  /** Jitter source in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /** First reconnect delay step. @defaultValue 500 */
  baseDelayMs?: number;
  /** Largest reconnect delay step. @defaultValue 30000 */
  maxDelayMs?: number;
  /** Time from opening a socket to the server's `welcome` before giving up on the attempt. @defaultValue 10000 */
  connectTimeoutMs?: number;
  /** Interval between application-level pings while connected. @defaultValue 15000 */
  pingIntervalMs?: number;
  /** How long a ping may go unanswered before the link is declared dead. @defaultValue 10000 */
  pingTimeoutMs?: number;
  /** Timeline and command-result frames kept while disconnected (oldest dropped first). @defaultValue 200 */
  maxBufferedFrames?: number;
}

/**
 * Counters of a {@link WsRelayBus}.
 * @public
 */
export interface WsRelayBusStats {
  /** Server frames received and delivered (or handled by the bus itself: welcome, pong). */
  framesAccepted: number;
  /** Server frames dropped because they failed the protocol schema, were not JSON, or exceeded their byte cap (each logged at WARN). */
  framesDropped: number;
  /** Server frames of a type this version does not know, ignored for forward compatibility (logged at debug). */
  framesIgnored: number;
  /** The reason the last frame was dropped, for diagnostics. */
  lastDropReason?: string;
}

/**
 * The {@link RelayBus} of {@link createWsRelayBus}, with counters.
 * @public
 */
export interface WsRelayBus extends RelayBus {
  /** A snapshot of the frame counters: a frame that fails validation is dropped and counted, never thrown into the runner. */
  stats(): WsRelayBusStats;
}

type Listeners = { [K in keyof RelayBusEvents]: Set<RelayBusEvents[K]> };
type TimerName = 'reconnect' | 'connect' | 'ping' | 'pingDeadline';

/**
 * The default {@link RelayBus} over isomorphic-ws (the `ws` package on Node and Electron main).
 * @remarks Reconnects forever with capped, jittered exponential backoff (never below half the
 * step); a ping without a pong inside `pingTimeoutMs` tears the link down. While disconnected,
 * the last `status` is kept (and re-sent after the next welcome), and timeline and command-result
 * frames are buffered up to `maxBufferedFrames`.
 * @public
 */
export function createWsRelayBus(options: WsRelayBusOptions): WsRelayBus {
  if (typeof options.url !== 'string' || !/^wss?:\/\//.test(options.url)) throw new InvalidArgumentError('bus url must be a ws(s) URL');
  if (typeof options.agentId !== 'string' || options.agentId === '') throw new InvalidArgumentError('bus agentId must be a non-empty string');
  return new WebSocketRelayBus(options);
}

class WebSocketRelayBus implements WsRelayBus {
  readonly #opts: WsRelayBusOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #listeners: Listeners = {
    'message.new': new Set(),
    command: new Set(),
    'permission.decision': new Set(),
    error: new Set(),
    state: new Set(),
  };
  #ws: WebSocket | undefined;
  #connected = false;
  #started = false;
  #closed = false;
  #failures = 0;
  #tokenOverride: string | undefined;
  #lastStatus: StatusFrame | undefined;
  #buffer: RunnerFrame[] = [];
  #lastServerError: string | undefined;
  #pingSeq = 0;
  #outstandingPing: string | undefined;
  #timers: Partial<Record<TimerName, TimerHandle>> = {};
  #stats: WsRelayBusStats = { framesAccepted: 0, framesDropped: 0, framesIgnored: 0 };

  constructor(opts: WsRelayBusOptions) {
    this.#opts = opts;
    // No default clock here: the composition root (createRunner) resolves it, once.
    requireClock(opts?.clock, 'createWsRelayBus');
    this.#clock = opts.clock;
    this.#random = opts.random ?? Math.random;
  }

  get connected(): boolean {
    return this.#connected;
  }

  connect(): void {
    if (this.#closed) throw new ClosedError('relay bus');
    if (this.#started) return;
    this.#started = true;
    this.#open();
  }

  stats(): WsRelayBusStats {
    return { ...this.#stats };
  }

  send(frame: OutgoingRunnerFrame): boolean {
    if (this.#closed) return false;
    if (frame.type === 'status') this.#lastStatus = frame;
    if (this.#connected && this.#ws && this.#transmit(frame)) return true;
    if (frame.type !== 'status') {
      this.#buffer.push(frame);
      const max = this.#opts.maxBufferedFrames ?? 200;
      if (this.#buffer.length > max) {
        const dropped = this.#buffer.length - max;
        this.#buffer.splice(0, dropped);
        this.#log('warn', `bus down: dropped ${dropped} buffered frame(s) over the ${max}-frame buffer`);
      }
    }
    return false;
  }

  on<K extends keyof RelayBusEvents>(event: K, listener: RelayBusEvents[K]): () => void {
    this.#listeners[event].add(listener);
    return () => {
      this.#listeners[event].delete(listener);
    };
  }

  setToken(token: string): void {
    if (typeof token !== 'string' || token === '') throw new InvalidArgumentError('bus token must be a non-empty string');
    this.#tokenOverride = token;
  }

  reconnect(reason = 'reconnect requested'): void {
    if (this.#closed || !this.#started) return;
    if (this.#teardown(reason)) this.#emit('state', { connected: false, reason });
    this.#clearTimer('reconnect');
    this.#open();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const ws = this.#ws;
    if (this.#teardown('closed by runner', 1000)) this.#emit('state', { connected: false, reason: 'closed by runner' });
    this.#clearTimer('reconnect');
    if (ws && ws.readyState !== ws.CLOSED) {
      // Give the close handshake a moment, then cut the socket: close() must not hang on a dead peer.
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimeout(() => {
          terminate(ws);
          resolve();
        }, 1000);
        ws.addEventListener('close', () => {
          this.#clock.clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  // ---- connection loop ---------------------------------------------------------------------
  #open(): void {
    if (this.#closed) return;
    const token = this.#tokenOverride ?? this.#opts.token();
    if (!token) {
      this.#scheduleReconnect('no token yet');
      return;
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#opts.url);
    } catch (error) {
      this.#scheduleReconnect(`cannot open socket: ${describeError(error)}`);
      return;
    }
    this.#ws = ws;
    this.#lastServerError = undefined;
    this.#timers.connect = this.#clock.setTimeout(() => this.#fail(ws, 'no welcome in time'), this.#opts.connectTimeoutMs ?? 10_000);
    this.#timers.connect.unref();
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#transmit({ type: 'hello', protocol: RELAY_PROTOCOL_VERSION, agentId: this.#opts.agentId, token });
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (this.#ws === ws) this.#onData(ws, event.data);
    };
    ws.onerror = () => {
      // A close event always follows; the reason is reported there.
    };
    ws.onclose = (event: { code: number }) => {
      if (this.#ws === ws) this.#fail(ws, this.#lastServerError ?? `closed ${event.code}`);
    };
  }

  #fail(ws: WebSocket, reason: string): void {
    if (this.#ws !== ws || this.#closed) return;
    this.#teardown(reason);
    this.#scheduleReconnect(reason);
  }

  /** Drop the current socket and timers; returns whether the link was up (callers report the loss). */
  #teardown(reason: string, closeCode?: number): boolean {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#clearTimer('connect');
    this.#clearTimer('ping');
    this.#clearTimer('pingDeadline');
    this.#outstandingPing = undefined;
    if (ws) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = () => {};
      if (closeCode !== undefined && ws.readyState === ws.OPEN) ws.close(closeCode, 'bye');
      else terminate(ws);
    }
    if (!this.#connected) return false;
    this.#connected = false;
    this.#log(closeCode === undefined ? 'warn' : 'info', `bus disconnected: ${reason}`);
    return true;
  }

  #scheduleReconnect(reason: string): void {
    if (this.#closed) return;
    this.#failures += 1;
    const policy = { baseDelayMs: this.#opts.baseDelayMs ?? 500, maxDelayMs: this.#opts.maxDelayMs ?? 30_000 };
    const delay = backoffDelay(this.#failures, policy, this.#random());
    this.#log('debug', `bus reconnect in ${delay} ms (${reason})`);
    this.#emit('state', { connected: false, reason, retryInMs: delay });
    this.#clearTimer('reconnect');
    this.#timers.reconnect = this.#clock.setTimeout(() => {
      this.#timers.reconnect = undefined;
      this.#open();
    }, delay);
    this.#timers.reconnect.unref();
  }

  // ---- frames ------------------------------------------------------------------------------
  #onData(ws: WebSocket, data: unknown): void {
    const text = typeof data === 'string' ? data : bytesToText(data);
    const decoded = decodeServerFrame(text);
    if (!decoded.ok) {
      if (decoded.unknownType) {
        // New frame types are additive within protocol v1: a newer relay may send them.
        this.#stats.framesIgnored += 1;
        this.#log('debug', `bus ignored a frame of unknown type "${decoded.type}"`);
        return;
      }
      // Dropped here, never thrown into the runner: a listener must only ever see complete frames.
      this.#stats.framesDropped += 1;
      this.#stats.lastDropReason = decoded.reason;
      this.#log('warn', `bus dropped a malformed ${decoded.type === undefined ? 'frame' : `"${decoded.type}" frame`}: ${decoded.reason}`);
      return;
    }
    this.#stats.framesAccepted += 1;
    const frame = decoded.frame;
    switch (frame.type) {
      case 'welcome':
        this.#onWelcome(ws);
        return;
      case 'pong':
        if (frame.id === this.#outstandingPing) {
          this.#outstandingPing = undefined;
          this.#clearTimer('pingDeadline');
        }
        return;
      case 'error':
        this.#lastServerError = frame.code;
        this.#log(frame.fatal ? 'warn' : 'debug', `bus error from relay: ${frame.code}: ${frame.message}`);
        this.#emit('error', frame);
        return;
      case 'message.new':
        this.#emit('message.new', frame);
        return;
      case 'command':
        this.#emit('command', frame);
        return;
      case 'permission.decision':
        this.#emit('permission.decision', frame);
    }
  }

  #onWelcome(ws: WebSocket): void {
    this.#clearTimer('connect');
    this.#failures = 0;
    this.#connected = true;
    this.#log('info', 'bus connected');
    this.#emit('state', { connected: true, reason: 'welcome' });
    if (this.#ws !== ws) return; // a listener reconnected or closed us
    const interval = this.#opts.pingIntervalMs ?? 15_000;
    this.#timers.ping = this.#clock.setInterval(() => this.#ping(ws), interval);
    this.#timers.ping.unref();
    if (this.#lastStatus) this.#transmit(this.#lastStatus);
    const pending = this.#buffer;
    this.#buffer = [];
    for (const [i, frame] of pending.entries()) {
      if (!this.#transmit(frame)) {
        this.#buffer = pending.slice(i);
        break;
      }
    }
  }

  #ping(ws: WebSocket): void {
    if (this.#ws !== ws || this.#outstandingPing) return;
    const id = `p${++this.#pingSeq}`;
    this.#outstandingPing = id;
    this.#transmit({ type: 'ping', id });
    this.#timers.pingDeadline = this.#clock.setTimeout(() => this.#fail(ws, 'ping timeout'), this.#opts.pingTimeoutMs ?? 10_000);
    this.#timers.pingDeadline.unref();
  }

  #transmit(frame: RunnerFrame): boolean {
    const ws = this.#ws;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (error) {
      this.#log('warn', `bus send failed: ${describeError(error)}`);
      return false;
    }
  }

  #emit<K extends keyof RelayBusEvents>(event: K, payload: Parameters<RelayBusEvents[K]>[0]): void {
    for (const listener of [...this.#listeners[event]]) {
      try {
        (listener as (p: typeof payload) => void)(payload);
      } catch (error) {
        this.#log('error', `bus "${event}" listener threw: ${describeError(error)}`);
      }
    }
  }

  #clearTimer(name: TimerName): void {
    const handle = this.#timers[name];
    if (!handle) return;
    if (name === 'ping') this.#clock.clearInterval(handle);
    else this.#clock.clearTimeout(handle);
    this.#timers[name] = undefined;
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.#opts.logger?.[level]('bus', message);
  }
}

function terminate(ws: WebSocket): void {
  const t = (ws as unknown as { terminate?: () => void }).terminate;
  if (typeof t === 'function') t.call(ws);
  else ws.close();
}

function bytesToText(data: unknown): string {
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  if (Array.isArray(data)) return data.map((part) => bytesToText(part)).join('');
  return String(data);
}


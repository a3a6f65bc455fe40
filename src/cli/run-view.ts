/**
 * What `run` shows a person beyond the runner's own events: who sent each incoming message, the
 * agent's own sends, the bus's reconnect countdown, and (on a terminal) one live status line.
 * The runner's events carry none of the first three, so `run` builds the relay ports itself (the
 * same default adapters `createRunner` would) and watches them on the way through.
 */
import { clearLine, cursorTo } from 'node:readline';
import { createFetchRelayHttp } from '../adapters/fetch-relay-http.js';
import { createWsRelayBus } from '../adapters/ws-relay-bus.js';
import type { Logger } from '../ports/logger.js';
import type { RelayBatchItem, RelayBus, RelayBusStateEvent, RelayHttp, RelayMessage } from '../ports/index.js';
import type { Runner } from '../create-runner.js';
import { cliClock, oneLine, type CliOutput } from './common.js';

/** What the relay ports saw, as it happens. */
export interface RelayWatch {
  /** A message pushed to the agent (`message.new`). */
  onIncoming(message: RelayMessage): void;
  /** A conversation message of the agent accepted by the relay (not session-mirror entries). */
  onSent(message: { to: string; body: string; replyTo?: string }): void;
  /** The bus connected, or lost the link (with the reconnect delay). */
  onBusState(event: RelayBusStateEvent): void;
}

/**
 * The relay ports for `createRunner({ http, bus })`: the default adapters, watched by `watch`.
 * The token is captured from `register` and `renewToken`, exactly what the runner itself uses.
 */
export function watchedRelayPorts(
  relayUrl: string,
  apiKey: string | undefined,
  logger: Logger,
  watch: RelayWatch,
): { http: RelayHttp; bus: (agentId: string, token: string) => RelayBus } {
  let token: string | undefined;
  const base = createFetchRelayHttp({ baseUrl: relayUrl, token: () => token, clock: cliClock, ...(apiKey ? { apiKey: () => apiKey } : {}) });
  const http: RelayHttp = {
    ...base,
    async register(input) {
      const result = await base.register(input);
      token = result.token;
      return result;
    },
    async renewToken(agentId) {
      const grant = await base.renewToken(agentId);
      token = grant.token;
      return grant;
    },
    async sendBatch(items: readonly RelayBatchItem[]) {
      const answer = await base.sendBatch(items);
      for (const result of answer.results) {
        const item = items[result.index];
        if (!item || item.kind !== 'message' || result.status >= 300 || result.duplicate) continue;
        const p = item.payload as { to?: unknown; body?: unknown; replyTo?: unknown };
        if (typeof p.to === 'string' && typeof p.body === 'string') {
          watch.onSent({ to: p.to, body: p.body, ...(typeof p.replyTo === 'string' ? { replyTo: p.replyTo } : {}) });
        }
      }
      return answer;
    },
  };
  const bus = (agentId: string, initial: string) => {
    const created = createWsRelayBus({ url: `${relayUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/bus`, agentId, token: () => token ?? initial, clock: cliClock, logger });
    created.on('message.new', (frame) => watch.onIncoming(frame.message));
    created.on('state', (event) => watch.onBusState(event));
    return created;
  };
  return { http, bus };
}

/** The live status line of `run` on a terminal. */
export interface StatusLine {
  /** An output whose lines print above the status line (which is then redrawn). */
  readonly output: CliOutput;
  /** Start following `runner` (status, deliveries, outbox) and drawing. */
  attach(runner: Runner, name: string): void;
  /** Record a bus state change (for "reconnecting, retry in N s"). */
  busState(event: RelayBusStateEvent): void;
  /** Stop drawing and erase the line. */
  close(): void;
}

/**
 * One status line at the bottom of a TTY, redrawn in place with readline's `cursorTo` and
 * `clearLine`: `worker-1 · busy · msg_… consumed · outbox 0 pending · bus connected`.
 */
export function createStatusLine(base: CliOutput, stream: NodeJS.WriteStream = process.stdout): StatusLine {
  let runner: Runner | undefined;
  let agent = '';
  let current = '';
  let pending: number | undefined;
  let bus: { connected: boolean; retryAt?: number } = { connected: false };
  let drawn = false;
  let timer: ReturnType<typeof cliClock.setInterval> | undefined;

  const text = () => {
    const status = runner?.status;
    const parts = [agent, status ? status.state + (status.openSubagents ? ` (${status.openSubagents} subagents)` : '') : 'starting'];
    if (current) parts.push(current);
    if (pending !== undefined) parts.push(`outbox ${pending} pending`);
    if (bus.connected) parts.push('bus connected');
    else if (bus.retryAt !== undefined) parts.push(`reconnecting, retry in ${Math.max(0, Math.ceil((bus.retryAt - cliClock.now()) / 1000))} s`);
    else parts.push('bus connecting');
    return oneLine(parts.join(' · '), Math.max(20, (stream.columns || 80) - 1));
  };
  const erase = () => {
    if (!drawn) return;
    cursorTo(stream, 0);
    clearLine(stream, 0);
    drawn = false;
  };
  let closed = false;
  const draw = () => {
    if (closed) return; // the last lines after close() print plainly
    erase();
    stream.write(text());
    drawn = true;
  };
  const output: CliOutput = {
    line: (line) => (erase(), base.line(line), draw()),
    json: (value) => (erase(), base.json(value), draw()),
    error: (line) => (erase(), base.error(line), draw()),
  };
  return {
    output,
    attach(r, name) {
      runner = r;
      agent = name;
      r.on('status', draw);
      r.on('delivery', (event) => {
        current = `${event.messageId} ${event.state}`;
        draw();
      });
      r.on('mirror', (event) => {
        if (event.entry === 'reply') current = '';
      });
      // The countdown and the outbox move without events; a slow tick keeps them honest.
      timer = cliClock.setInterval(() => {
        void r.outboxStats().then(
          (stats) => (pending = stats.pending),
          () => undefined,
        );
        draw();
      }, 1_000);
      timer.unref();
      draw();
    },
    busState(event) {
      bus = event.connected ? { connected: true } : { connected: false, ...(event.retryInMs !== undefined ? { retryAt: cliClock.now() + event.retryInMs } : {}) };
      draw();
    },
    close() {
      cliClock.clearInterval(timer);
      erase();
      closed = true;
    },
  };
}

/**
 * What the runner publishes on its `/monitor` stream, and the recent history a newly connected
 * page gets first (so a page opened late still shows the messages it missed). Events are
 * `{type, [type]: payload}`: `status`, `delivery`, `sent`, `mirror`, `timeline`, `permissions`
 * (pushed by the runner), and `agent`, `link` (bus up/down) and `outbox` (health), which the feed
 * samples itself while somebody watches.
 */
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { OutboxStats } from '../core/outbox.js';
import { describeError } from '../shared/describe-error.js';

/** What {@link MonitorFeed} needs. */
export interface MonitorFeedDeps {
  clock: Clock;
  logger: Logger;
  /** Send an event to the connected clients (the control server, once it runs). */
  publish: (event: object) => void;
  /** How many clients watch (sampling stops when nobody does). */
  clients: () => number;
  /** Outbox health, once the outbox exists. */
  outboxStats: () => Promise<OutboxStats> | undefined;
  /** Whether the relay bus is up. */
  connected: () => boolean;
  /** Who this runner is. */
  agent: () => { name: string; agentId?: string; provider: string; version: string };
  /** How often the outbox and the bus are sampled. @defaultValue 1000 */
  sampleMs?: number;
}

/** How many recent events of each kind a new client gets. */
const KEEP = { deliveries: 300, mirror: 150, timeline: 150 } as const;

/** Drop the oldest entries beyond `max`. */
function bound(list: object[], max: number): void {
  if (list.length > max) list.splice(0, list.length - max);
}

/**
 * The runner's monitor stream: publishes events, keeps recent ones for late joiners, and samples
 * outbox health and the bus link (published on change only).
 */
export class MonitorFeed {
  readonly #d: MonitorFeedDeps;
  /** Deliveries and sends together, in order: a `sent` marks a delivery answered. */
  readonly #deliveries: object[] = [];
  readonly #mirror: object[] = [];
  readonly #timeline: object[] = [];
  #permissions: object | undefined;
  #outbox: { event: object; text: string } | undefined;
  #connected: boolean | undefined;
  #timer: TimerHandle | undefined;
  #sampling = false;

  constructor(deps: MonitorFeedDeps) {
    this.#d = deps;
  }

  /** Publish a runner event and remember it for late joiners. */
  record(type: 'status' | 'delivery' | 'sent' | 'mirror' | 'timeline' | 'permissions', payload: unknown): void {
    const event = { type, [type]: payload };
    if (type === 'delivery' || type === 'sent') {
      this.#deliveries.push(event);
      bound(this.#deliveries, KEEP.deliveries);
    } else if (type === 'mirror') {
      this.#mirror.push(event);
      bound(this.#mirror, KEEP.mirror);
    } else if (type === 'timeline') {
      this.#timeline.push(event);
      bound(this.#timeline, KEEP.timeline);
    } else if (type === 'permissions') {
      this.#permissions = event;
    }
    this.#d.publish(event);
  }

  /** What a new client gets after its hello: who, the link, outbox, permissions, then recent events. */
  backlog(): object[] {
    const connected = this.#d.connected();
    this.#connected = connected;
    return [
      { type: 'agent', agent: this.#d.agent() },
      { type: 'link', link: { connected } },
      ...(this.#outbox ? [this.#outbox.event] : []),
      this.#permissions ?? { type: 'permissions', permissions: [] },
      ...this.#deliveries,
      ...this.#mirror,
      ...this.#timeline,
    ];
  }

  /** Start sampling (the runner started). */
  start(): void {
    this.#timer ??= this.#d.clock.setInterval(() => void this.sample(), this.#d.sampleMs ?? 1000).unref();
  }

  /** Stop sampling. Idempotent. */
  stop(): void {
    this.#d.clock.clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Sample the bus link and the outbox; publish what changed. Nothing while nobody watches. */
  async sample(): Promise<void> {
    if (this.#sampling || this.#d.clients() === 0) return;
    this.#sampling = true;
    try {
      const connected = this.#d.connected();
      if (connected !== this.#connected) {
        this.#connected = connected;
        this.#d.publish({ type: 'link', link: { connected } });
      }
      const stats = await this.#d.outboxStats();
      if (!stats) return;
      const event = { type: 'outbox', outbox: stats };
      const text = JSON.stringify(stats);
      if (text === this.#outbox?.text) return;
      this.#outbox = { event, text };
      this.#d.publish(event);
    } catch (error) {
      this.#d.logger.debug('control', `monitor sample failed: ${describeError(error)}`);
    } finally {
      this.#sampling = false;
    }
  }
}

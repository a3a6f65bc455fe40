import type { Logger } from '../../ports/logger.js';
import type { ProviderEvent } from '../../ports/provider.js';
import { describeError } from '../../shared/describe-error.js';
import { COMPONENT } from './text.js';

/**
 * Fans provider events out to listeners, buffering them until the first subscriber: `start()`
 * resolves before the runner can subscribe, and the startup `session` event must not be missed.
 * @remarks Anything may dispatch into it (a stdout reader, a timer, a control route the provider
 * registered for its hooks), which is why sessions hand it around rather than a private closure.
 */
export class EventFanout {
  readonly #listeners = new Set<(event: ProviderEvent) => void>();
  #backlog: ProviderEvent[] | undefined = [];
  #replayScheduled = false;

  /** `who` names the process in log lines (e.g. `'codex'`); `bufferEvents` bounds the backlog. */
  constructor(
    private readonly logger: Logger,
    private readonly who: string,
    private readonly pid: number | undefined,
    private readonly bufferEvents: number,
  ) {}

  /** Deliver one event to every listener, or keep it while nobody subscribed yet. */
  dispatch(event: ProviderEvent): void {
    if (this.#backlog) {
      this.#backlog.push(event);
      if (this.#backlog.length > this.bufferEvents) {
        this.#backlog.shift();
        this.logger.warn(COMPONENT, `${this.who} (pid ${this.pid}): nobody subscribed to events; dropped the oldest buffered event`);
      }
      return;
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error(COMPONENT, `${this.who} event listener threw on ${event.type}: ${describeError(error)}`);
      }
    }
  }

  /** Add a listener (the `onEvent` of a session); returns its unsubscribe function. */
  subscribe(listener: (event: ProviderEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#backlog && !this.#replayScheduled) {
      // Replay after onEvent returns (a microtask, before any further I/O); events that arrive
      // meanwhile join the backlog, so order is kept.
      this.#replayScheduled = true;
      queueMicrotask(() => {
        this.#replayScheduled = false;
        // Unsubscribed already: keep the backlog for the next subscriber.
        if (this.#listeners.size === 0) return;
        const pending = this.#backlog ?? [];
        this.#backlog = undefined;
        for (const event of pending) this.dispatch(event);
      });
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }
}

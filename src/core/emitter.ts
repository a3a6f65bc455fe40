import type { EventMap } from 'typed-emitter';

export type { EventMap };

/**
 * The listener half of a typed emitter, as exposed on public objects (the same signatures as
 * typed-emitter's, so hosts can treat it like a typed `EventEmitter` for subscribing).
 * @public
 */
export interface TypedEvents<E extends EventMap> {
  /** Subscribe to an event. */
  on<K extends keyof E>(event: K, listener: E[K]): this;
  /** Subscribe to the next occurrence of an event only. */
  once<K extends keyof E>(event: K, listener: E[K]): this;
  /** Unsubscribe a listener. */
  off<K extends keyof E>(event: K, listener: E[K]): this;
  /** Unsubscribe every listener of one event, or of all events. */
  removeAllListeners<K extends keyof E>(event?: K): this;
  /** How many listeners an event has. */
  listenerCount<K extends keyof E>(event: K): number;
}

/**
 * A small typed emitter for the core, which may not import `node:events`.
 * @remarks A listener that throws is reported through `onListenerError` and never breaks the
 * emitting code path (an outbox pump must not die because a host's listener threw).
 */
export class Emitter<E extends EventMap> implements TypedEvents<E> {
  readonly #listeners = new Map<keyof E, Array<{ fn: E[keyof E]; once: boolean }>>();

  constructor(private readonly onListenerError: (event: string, error: unknown) => void = () => {}) {}

  on<K extends keyof E>(event: K, listener: E[K]): this {
    this.#add(event, listener, false);
    return this;
  }

  once<K extends keyof E>(event: K, listener: E[K]): this {
    this.#add(event, listener, true);
    return this;
  }

  off<K extends keyof E>(event: K, listener: E[K]): this {
    const list = this.#listeners.get(event);
    if (list) {
      const index = list.findIndex((entry) => entry.fn === listener);
      if (index >= 0) list.splice(index, 1);
    }
    return this;
  }

  removeAllListeners<K extends keyof E>(event?: K): this {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Call every listener of `event`; returns whether there were any. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): boolean {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return false;
    for (const entry of [...list]) {
      if (entry.once) this.off(event, entry.fn as E[K]);
      try {
        (entry.fn as (...a: Parameters<E[K]>) => void)(...args);
      } catch (error) {
        this.onListenerError(String(event), error);
      }
    }
    return true;
  }

  #add<K extends keyof E>(event: K, fn: E[K], once: boolean): void {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once });
    this.#listeners.set(event, list);
  }
}

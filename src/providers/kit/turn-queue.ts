import type { ProviderEvent, ProviderTurn } from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import type { JsonLinesProcess } from './process-session.js';
import { COMPONENT } from './text.js';

/** What a {@link TurnQueue} drives. */
export interface TurnQueueSettings {
  /** Names the provider in log lines and errors, e.g. `'codex'`. */
  who: string;
  /** True while a turn runs or is being started: a delivered turn then waits. */
  busy(): boolean;
  /** Write one turn to the provider (rejects when it could not be written). */
  start(turn: ProviderTurn): Promise<void>;
  /** Report a `warning` event (through the provider's own dispatch, so it keeps its order). */
  dispatch(event: ProviderEvent): void;
}

/**
 * One relay message = one turn, for providers that run one turn at a time and take no input
 * mid-turn (`midTurnMessages: 'queue'`): a turn delivered while another runs, or while others
 * wait, is held and started in order once the provider is free (the provider calls
 * {@link TurnQueue.startNext} when a turn ends). A queued turn that cannot be started is logged and
 * reported as a `warning`; its delivery stays injected, and the runner requeues it if the process
 * goes away.
 */
export class TurnQueue {
  readonly #proc: JsonLinesProcess;
  readonly #settings: TurnQueueSettings;
  readonly #waiting: ProviderTurn[] = [];

  constructor(proc: JsonLinesProcess, settings: TurnQueueSettings) {
    this.#proc = proc;
    this.#settings = settings;
  }

  /** Turns waiting to be started. */
  get length(): number {
    return this.#waiting.length;
  }

  /** Start the turn now when the provider is free and nothing waits, else queue it. Rejects when the process is not running. */
  async deliver(turn: ProviderTurn): Promise<void> {
    const { who } = this.#settings;
    if (!this.#proc.running) {
      throw new ProviderError(`cannot deliver ${turn.deliveryId}: ${who} is ${this.#proc.stopping ? 'stopping' : 'not running'}`, { data: { pid: this.#proc.pid } });
    }
    if (this.#settings.busy() || this.#waiting.length > 0) {
      this.#waiting.push(turn);
      this.#proc.deps.logger.debug(COMPONENT, `${who} (pid ${this.#proc.pid}): queued ${turn.deliveryId} behind the running turn`);
      return;
    }
    await this.#settings.start(turn);
  }

  /** Start the next waiting turn, if the provider is free and running. */
  startNext(): void {
    if (this.#settings.busy() || !this.#proc.running) return;
    const next = this.#waiting.shift();
    if (!next) return;
    this.#settings.start(next).catch((error: unknown) => {
      const message = `${this.#settings.who}: queued ${next.deliveryId} could not be started: ${describeError(error)}`;
      this.#proc.deps.logger.error(COMPONENT, message);
      this.#settings.dispatch({ type: 'warning', message });
      this.startNext();
    });
  }
}

/**
 * Events held back while a turn is being written, in order. The runner counts a turn as consumed
 * (its `turn.started`) only once `deliver()` resolved and the delivery was injected; a provider can
 * announce the turn, and start reporting it, before it answers the write. So from the write on,
 * events wait here, and are released one clock tick after `deliver()` resolved.
 */
export class HeldEvents {
  readonly #proc: JsonLinesProcess;
  #held: ProviderEvent[] | undefined;

  constructor(proc: JsonLinesProcess) {
    this.#proc = proc;
  }

  /** True while events are held. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /** Start holding (events already held stay). */
  hold(): void {
    this.#held ??= [];
  }

  /** Hold the event, or dispatch it when nothing is held. */
  dispatch(event: ProviderEvent): void {
    if (this.#held) this.#held.push(event);
    else this.#proc.dispatch(event);
  }

  /** Dispatch `first` (if any), then the held events, and stop holding. */
  release(first?: ProviderEvent): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    if (first) this.#proc.dispatch(first);
    for (const event of held) this.#proc.dispatch(event);
  }

  /** Stop holding and drop what was held (a write that failed: its turn never ran). */
  drop(): void {
    this.#held = undefined;
  }

  /** Run `then` one clock tick from now: after the caller of `deliver()` has seen it resolve. */
  afterTick(then: () => void): void {
    this.#proc.deps.clock.setTimeout(then, 0);
  }
}

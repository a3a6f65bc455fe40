import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { describeError } from '../shared/describe-error.js';
import { DEFAULT_SEND_COMMAND } from './turns.js';

/**
 * What the Stop decision reads: the agent's outstanding reply obligations, as last fetched.
 * @public
 */
export interface ObligationSnapshot<T> {
  /** The obligations (copies; mutate freely). */
  items: T[];
  /** Epoch ms of the last successful refresh, undefined before the first. */
  fetchedAt: number | undefined;
  /** True when the last refresh failed and these items are from an earlier one. */
  stale: boolean;
}

/**
 * Options of {@link createObligationCache}.
 * @public
 */
export interface ObligationCacheOptions<T> {
  /** The only network path: fetch the current obligations from the relay. */
  fetch: () => Promise<T[]>;
  /** Identity of an obligation (the message id it is owed for). */
  key: (item: T) => string;
  /** Source of time and timers. */
  clock: Clock;
  /** Where failures are logged (at debug: a stale cache is expected while the relay is away). */
  logger: Logger;
  /** Background refresh period. @defaultValue 10000 */
  refreshIntervalMs?: number;
  /** Delay that coalesces bursts of `markDirty()`. @defaultValue 400 */
  debounceMs?: number;
}

/**
 * A local, always-answering snapshot of reply obligations (SPEC §4).
 * @public
 */
export interface ObligationCache<T> {
  /** The current snapshot; synchronous, never throws, never touches the network. */
  get(): ObligationSnapshot<T>;
  /** Fetch now; concurrent calls share one request; on failure the last snapshot is kept. */
  refresh(): Promise<void>;
  /** Ask for a refresh soon (debounced): a message arrived or the agent replied. */
  markDirty(): void;
  /**
   * Drop an obligation locally at once (the agent just answered it), and keep it hidden from
   * refreshes that started before the relay saw the answer.
   */
  resolveLocally(key: string): void;
  /**
   * Show an obligation locally at once (a message expecting a reply was just accepted), before the
   * relay's list has it: a turn that ends before the next refresh is still reminded. The relay's
   * answer governs again from the first refresh that began after this call.
   */
  expectLocally(item: T): void;
  /**
   * Undo {@link ObligationCache.resolveLocally}: the answer never reached the relay (it refused
   * it), so the obligation shows again and the agent is reminded.
   */
  unresolveLocally(key: string): void;
  /** Start the background refresh interval (unref'd) and refresh once. */
  start(): void;
  /** Stop timers. Idempotent. */
  stop(): void;
}

/**
 * Create the obligation snapshot cache.
 * @public
 */
export function createObligationCache<T extends object>(options: ObligationCacheOptions<T>): ObligationCache<T> {
  const { clock, logger, key } = options;
  const refreshIntervalMs = options.refreshIntervalMs ?? 10_000;
  const debounceMs = options.debounceMs ?? 400;
  let items: T[] = [];
  let fetchedAt: number | undefined;
  let stale = false;
  let inFlight: Promise<void> | undefined;
  let interval: TimerHandle | undefined;
  let debounce: TimerHandle | undefined;
  let stopped = false;
  /** Locally resolved keys, with the time they were resolved. */
  const resolved = new Map<string, number>();

  /** Obligations known locally before the relay lists them, with the refresh count when they arrived. */
  const expected = new Map<string, { item: T; refreshes: number }>();
  /** Refreshes begun so far: orders local expectations against fetches (a clock tick is too coarse). */
  let refreshesBegun = 0;

  const visible = (list: T[]) => {
    const listed = new Set(list.map(key));
    const early = [...expected.values()].map((e) => e.item).filter((item) => !listed.has(key(item)));
    return [...list, ...early].filter((item) => !resolved.has(key(item)));
  };

  const refresh = (): Promise<void> => {
    if (inFlight) return inFlight;
    const startedAt = clock.now();
    const begun = ++refreshesBegun;
    inFlight = (async () => {
      try {
        const fresh = await options.fetch();
        const freshKeys = new Set(fresh.map(key));
        // A local resolution is forgotten once a fetch that began after it no longer lists the
        // obligation; until then it keeps hiding it (the relay may not have the reply yet).
        for (const [k, at] of resolved) if (at <= startedAt && !freshKeys.has(k)) resolved.delete(k);
        // A local expectation has served its purpose once a fetch that began after it answered.
        for (const [k, e] of expected) if (e.refreshes < begun) expected.delete(k);
        items = fresh.map((item) => ({ ...item }));
        fetchedAt = clock.now();
        stale = false;
      } catch (error) {
        stale = true;
        logger.debug('obligations', `refresh failed, serving last snapshot: ${describeError(error)}`);
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };

  return {
    get() {
      try {
        return { items: visible(items).map((item) => ({ ...item })), fetchedAt, stale };
      } catch {
        return { items: [], fetchedAt, stale: true };
      }
    },
    refresh,
    markDirty() {
      if (stopped) return;
      clock.clearTimeout(debounce);
      debounce = clock
        .setTimeout(() => {
          debounce = undefined;
          void refresh();
        }, debounceMs)
        .unref();
    },
    resolveLocally(k) {
      resolved.set(k, clock.now());
    },
    unresolveLocally(k) {
      resolved.delete(k);
    },
    expectLocally(item) {
      expected.set(key(item), { item: { ...item }, refreshes: refreshesBegun });
    },
    start() {
      stopped = false;
      if (!interval) interval = clock.setInterval(() => void refresh(), refreshIntervalMs).unref();
      void refresh();
    },
    stop() {
      stopped = true;
      clock.clearInterval(interval);
      clock.clearTimeout(debounce);
      interval = undefined;
      debounce = undefined;
    },
  };
}

/**
 * The runner's answer to "may the agent stop now?", from the local obligation snapshot.
 * @public
 */
export interface StopVerdict {
  /** True when the agent still owes replies and must continue. */
  block: boolean;
  /** What the agent is told, when blocking. */
  reason?: string;
  /** The messages still owed. */
  messageIds: string[];
}

/**
 * The Stop decision: block while replies are owed, unless the Stop hook is already continuing
 * (blocking again would loop), telling the agent exactly how to answer each one.
 */
export function stopVerdict(
  owed: ReadonlyArray<{ messageId: string; from: string; excerpt: string }>,
  stopHookActive: boolean,
  sendCommand = DEFAULT_SEND_COMMAND,
): StopVerdict {
  const messageIds = owed.map((o) => o.messageId);
  if (stopHookActive || owed.length === 0) return { block: false, messageIds };
  const lines = owed.map(
    (o) => `- message ${o.messageId} from ${o.from}: "${o.excerpt}" → the reply tool with message_id ${o.messageId} (or ${sendCommand} --to ${o.from} --reply-to ${o.messageId} "<answer>")`,
  );
  return {
    block: true,
    reason: `You still owe ${owed.length === 1 ? 'a reply' : `${owed.length} replies`} on the relay. Answer before finishing:\n${lines.join('\n')}`,
    messageIds,
  };
}

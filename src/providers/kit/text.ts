import type { Clock } from '../../ports/clock.js';
import { isJsonObject } from './json.js';

// Small helpers every provider uses; nothing here is part of the public API.

/** Log component of every provider adapter. */
export const COMPONENT = 'provider';
const SHOWN_LINE_CHARS = 500;
const SUMMARY_CHARS = 200;

/** Cut a line shown in a log or warning to `max` characters. */
export function shorten(text: string, max = SHOWN_LINE_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Resolves `true` if `promise` settles within `ms`, else `false`; the timer never outlives the race. */
export async function settlesWithin(promise: Promise<unknown>, ms: number, clock: Clock): Promise<boolean> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = clock.setTimeout(() => resolve(false), ms).unref();
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}

/** Wait `ms` on the clock (the timer does not keep the process alive). */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms).unref();
  });
}


/**
 * The one-line summary of a tool call's input the dashboard shows: the command, path, URL or
 * pattern when the input has one (then a description or prompt), else the input as JSON; whitespace
 * collapsed, capped at `max` characters. Every provider and the hook translation use this one.
 * @internal
 */
export function summarizeToolInput(input: unknown, max = SUMMARY_CHARS): string {
  if (input === undefined || input === null) return '';
  let text: string;
  if (typeof input === 'string') text = input;
  else if (!isJsonObject(input)) text = JSON.stringify(input) ?? '';
  else {
    const pick = input.command ?? input.file_path ?? input.filePath ?? input.path ?? input.url ?? input.pattern ?? input.description ?? input.prompt;
    text = typeof pick === 'string' ? pick : Array.isArray(pick) && pick.every((p) => typeof p === 'string') ? pick.join(' ') : JSON.stringify(input);
  }
  return shorten(text.replace(/\s+/g, ' ').trim(), max);
}

// Reading untyped JSON from a CLI's stdout: small guards every provider uses.

/** A JSON object as read from or written to a provider's stdio. */
export type Json = Record<string, unknown>;

/** Whether `v` is a JSON object (not null, not an array). */
export const isJsonObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `v` as a JSON object, or undefined. */
export const asObject = (v: unknown): Json | undefined => (isJsonObject(v) ? v : undefined);

/** `v` when it is a string. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `v` when it is a finite number, else 0. */
export const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Parse one stdout line as a JSON object; the error is a short reason for the log. */
export function parseJsonLine(line: string): { value: Json } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  return isJsonObject(raw) ? { value: raw } : { error: 'not a JSON object' };
}

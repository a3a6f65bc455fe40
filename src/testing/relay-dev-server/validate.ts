/**
 * A tiny hand-rolled validator for the dev server's request bodies (no schema dependency).
 * Every failure is a {@link HttpFailure} with a one-line reason naming the field.
 */

/** A request the server refuses; carries the HTTP status, a stable code and a one-line reason. */
export class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message.replace(/\s*\n\s*/g, ' '));
  }
}

/** Throw a 400 `invalid_body` naming `path`. */
export function invalid(path: string, problem: string): never {
  throw new HttpFailure(400, 'invalid_body', `${path} ${problem}`);
}

/** The value as a plain object, or a 400. */
export function obj(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(path, 'must be a JSON object');
  return value as Record<string, unknown>;
}

interface StrOptions {
  max?: number;
  min?: number;
  pattern?: RegExp;
}

/** A required string field. */
export function reqStr(o: Record<string, unknown>, key: string, path: string, options: StrOptions = {}): string {
  const value = o[key];
  if (typeof value !== 'string') invalid(`${path}.${key}`, value === undefined ? 'is required' : 'must be a string');
  return checkStr(value, `${path}.${key}`, options);
}

/** An optional string field (`null` counts as absent). */
export function optStr(o: Record<string, unknown>, key: string, path: string, options: StrOptions = {}): string | undefined {
  const value = o[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalid(`${path}.${key}`, 'must be a string');
  return checkStr(value, `${path}.${key}`, options);
}

function checkStr(value: string, path: string, { max = 1024, min = 0, pattern }: StrOptions): string {
  if (value.length < min) invalid(path, min === 1 ? 'must not be empty' : `must have at least ${min} characters`);
  if (value.length > max) invalid(path, `must have at most ${max} characters`);
  if (pattern && !pattern.test(value)) invalid(path, `must match ${pattern.source}`);
  return value;
}

/** An optional boolean field. */
export function optBool(o: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const value = o[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') invalid(`${path}.${key}`, 'must be a boolean');
  return value;
}

/** A required finite, non-negative number (epoch ms and the like). */
export function reqTime(o: Record<string, unknown>, key: string, path: string): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    invalid(`${path}.${key}`, value === undefined ? 'is required' : 'must be a non-negative number (epoch ms)');
  }
  return value;
}

/** An optional JSON object field. */
export function optObj(o: Record<string, unknown>, key: string, path: string): Record<string, unknown> | undefined {
  const value = o[key];
  if (value === undefined || value === null) return undefined;
  return obj(value, `${path}.${key}`);
}

/** A required array of strings. */
export function reqStrArray(o: Record<string, unknown>, key: string, path: string, maxItems: number): string[] {
  const value = o[key];
  if (!Array.isArray(value)) invalid(`${path}.${key}`, value === undefined ? 'is required' : 'must be an array');
  if (value.length > maxItems) invalid(`${path}.${key}`, `must have at most ${maxItems} items`);
  value.forEach((item, i) => {
    if (typeof item !== 'string') invalid(`${path}.${key}[${i}]`, 'must be a string');
  });
  return value as string[];
}

/** A one-of string field. */
export function reqEnum<T extends string>(o: Record<string, unknown>, key: string, path: string, values: readonly T[]): T {
  const value = o[key];
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    invalid(`${path}.${key}`, `must be one of ${values.join(', ')}`);
  }
  return value as T;
}

/**
 * Tiny hand-written validators for control-port bodies: each throws `InvalidArgumentError` with a
 * one-line reason that the server returns as a 400. No schema library: the shapes are small.
 */
import { InvalidArgumentError } from '../errors/index.js';

/** A parsed JSON object body. */
export type JsonObject = Record<string, unknown>;

/** Parse a request body as a JSON object, or throw a one-line reason. */
export function parseJsonObject(text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : 'parse error';
    throw new InvalidArgumentError(`malformed JSON: ${detail}`);
  }
  return asObject(value, 'body');
}

/** `value` as a plain object, or throw. */
export function asObject(value: unknown, what: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${what} must be a JSON object`);
  }
  return value as JsonObject;
}

/** A required string field. */
export function reqString(body: JsonObject, field: string, opts: { nonEmpty?: boolean } = {}): string {
  const value = body[field];
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(value === undefined ? `field "${field}" is required` : `field "${field}" must be a string`);
  }
  if (opts.nonEmpty && value.length === 0) throw new InvalidArgumentError(`field "${field}" must not be empty`);
  return value;
}

/** An optional string field (`null` counts as absent). */
export function optString(body: JsonObject, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InvalidArgumentError(`field "${field}" must be a string`);
  return value;
}

/** An optional boolean field (`null` counts as absent). */
export function optBoolean(body: JsonObject, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`field "${field}" must be a boolean`);
  return value;
}

/** A required integer field. */
export function reqInteger(body: JsonObject, field: string): number {
  const value = body[field];
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidArgumentError(value === undefined ? `field "${field}" is required` : `field "${field}" must be an integer`);
  }
  return value;
}

/** An optional field that may be a string or any JSON value, returned as text (JSON for non-strings). */
export function optText(body: JsonObject, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

import { InvalidArgumentError } from '../errors/index.js';

/**
 * Throw `InvalidArgumentError` naming the first place where `value` is not plain JSON.
 * @remarks `JSON.stringify` silently drops functions and `undefined` and turns `NaN` into `null`,
 * which would store something other than what the caller meant; so the outbox checks first.
 */
export function assertJsonValue(value: unknown, path: string, seen: Set<object> = new Set()): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidArgumentError(`${path} is ${value}, which JSON cannot carry`);
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new InvalidArgumentError(`${path} is a circular reference`);
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, index) => assertJsonValue(item, `${path}[${index}]`, seen));
      } else {
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto !== Object.prototype && proto !== null) {
          const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
          throw new InvalidArgumentError(`${path} is a ${name}, not a plain JSON object`);
        }
        for (const [key, item] of Object.entries(value)) assertJsonValue(item, `${path}.${key}`, seen);
      }
      seen.delete(value);
      return;
    }
    default:
      throw new InvalidArgumentError(`${path} is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}, which is not JSON`);
  }
}

/**
 * A 64-bit FNV-1a hash of a string's UTF-16 code units, as 16 hex digits.
 * @remarks Not cryptographic: it only has to make idempotency keys of different payloads differ.
 */
export function hashString(text: string): string {
  // Two 32-bit lanes (FNV-1a with different offsets) keep this fast without BigInt.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

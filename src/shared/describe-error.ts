/**
 * One-line text of anything thrown, for log lines and error messages: an `Error`'s message,
 * anything else stringified. Never includes a stack.
 */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

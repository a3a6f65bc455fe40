/**
 * The socket-level reason of a failed `fetch`: undici puts it in `cause` (an errno such as
 * ECONNREFUSED, or EPERM from a sandbox), sometimes one level deeper in an AggregateError's
 * `errors` (one per address tried). Shared by every client of the runner's control port, so each
 * sorts the same failure the same way.
 */
export function socketReason(error: unknown): { code?: string; message?: string } {
  const cause = (error as { cause?: { code?: unknown; message?: unknown; errors?: unknown } } | undefined)?.cause;
  const own = error as { code?: unknown } | undefined;
  const nested = Array.isArray(cause?.errors) ? (cause.errors as Array<{ code?: unknown }>).find((e) => typeof e?.code === 'string')?.code : undefined;
  const code = [cause?.code, nested, own?.code].find((c): c is string => typeof c === 'string');
  const message = typeof cause?.message === 'string' ? cause.message : undefined;
  return { ...(code !== undefined ? { code } : {}), ...(message !== undefined ? { message } : {}) };
}

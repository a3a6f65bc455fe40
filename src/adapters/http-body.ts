import type { IncomingMessage } from 'node:http';

/** What {@link readRequestBody} read: the text, or the fact that the body was over the cap. */
export type RequestBody = { ok: true; text: string } | { ok: false; bytes: number };

/**
 * Read an HTTP request body as UTF-8 text, refusing one over `maxBytes` without buffering it.
 * @remarks A declared `Content-Length` over the cap is refused before any byte is read. Otherwise
 * chunks are collected until the cap is crossed; then collection stops and the request is paused,
 * so the caller answers 413 at once (and should close the connection: the rest of the upload is
 * not worth reading). Rejects only when the request itself fails.
 * @internal
 */
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<RequestBody> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve({ ok: false, bytes: declared });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: RequestBody) => {
      settled = true;
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) {
        chunks.length = 0;
        req.pause();
        settle({ ok: false, bytes: size });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!settled) settle({ ok: true, text: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', (error) => {
      if (settled) return;
      settled = true;
      reject(error);
    });
  });
}

import type { Clock } from '../../ports/clock.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { asObject, str, type Json } from '../kit/json.js';
import type { JsonLinesProcess } from '../kit/process-session.js';
import { COMPONENT } from '../kit/text.js';


interface PendingRequest {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<Clock['setTimeout']>;
}

/** Where the client hands what the server sends on its own. */
export interface RpcHandlers {
  /** A server → client request (it waits for {@link CodexRpc.respond}). */
  onServerRequest(id: number | string, method: string, params: unknown): void;
  /** A notification. */
  onNotification(method: string, params: unknown): void;
}

/**
 * A JSON-RPC 2.0 client over the JSON lines of `codex app-server`: numbered requests with a
 * timeout on the clock, notifications, answers to server requests, and the routing of what comes
 * back. Requests still open when the process exits are rejected.
 */
export class CodexRpc {
  readonly #pending = new Map<number, PendingRequest>();
  #nextId = 1;

  constructor(
    private readonly proc: JsonLinesProcess,
    private readonly requestTimeoutMs: number,
  ) {}

  /** Route one stdout object; a string return says it is not a JSON-RPC message. */
  route(message: Json, handlers: RpcHandlers): string | void {
    const method = str(message.method);
    const id = message.id;
    const hasId = typeof id === 'number' || typeof id === 'string';
    if (method !== undefined && hasId) handlers.onServerRequest(id, method, message.params);
    else if (method !== undefined) handlers.onNotification(method, message.params);
    else if (hasId) this.#onResponse(id, message);
    else return 'a JSON-RPC message without method or id';
  }

  /** Reject every request still waiting (the process is gone). */
  failAll(): void {
    for (const [id, pending] of this.#pending) {
      this.proc.deps.clock.clearTimeout(pending.timer);
      pending.reject(new ProviderError(`codex exited before answering ${pending.method}`, { data: { pid: this.proc.pid } }));
      this.#pending.delete(id);
    }
  }

  /** Send a notification. */
  notify(method: string, params?: unknown): Promise<void> {
    return this.proc.writeRaw(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }, `send ${method}`);
  }

  /** Send a request; resolves with its result, rejects with `ProviderError` (error answer, timeout, exit). */
  request(method: string, params: unknown): Promise<unknown> {
    const { proc } = this;
    if (proc.exit) return Promise.reject(new ProviderError(`cannot call ${method}: codex is not running`, { data: { pid: proc.pid } }));
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = proc.deps.clock.setTimeout(() => {
        this.#pending.delete(id);
        reject(new ProviderError(`codex did not answer ${method} within ${this.requestTimeoutMs} ms`, { data: { pid: proc.pid, method } }));
      }, this.requestTimeoutMs);
      timer.unref();
      this.#pending.set(id, { method, resolve, reject, timer });
      proc.writeRaw({ jsonrpc: '2.0', id, method, params }, `send ${method} to codex`).catch((error: unknown) => {
        proc.deps.clock.clearTimeout(timer);
        this.#pending.delete(id);
        reject(error);
      });
    });
  }

  /** Answer a server request. */
  respond(id: number | string, result: unknown): void {
    this.#answer(id, { jsonrpc: '2.0', id, result }, 'answer');
  }

  /** Refuse a server request (method not supported). */
  respondError(id: number | string, message: string): void {
    this.#answer(id, { jsonrpc: '2.0', id, error: { code: -32601, message } }, 'error answer');
  }

  #answer(id: number | string, message: Json, what: string): void {
    if (this.proc.exit) return;
    this.proc.writeRaw(message, `write ${what}`).catch((error: unknown) => {
      this.proc.deps.logger.warn(COMPONENT, `codex (pid ${this.proc.pid}): ${what} to request ${String(id)} not written: ${describeError(error)}`);
    });
  }

  #onResponse(id: number | string, message: Json): void {
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) {
      this.proc.deps.logger.debug(COMPONENT, `codex (pid ${this.proc.pid}): response to unknown request ${String(id)}`);
      return;
    }
    this.#pending.delete(id as number);
    this.proc.deps.clock.clearTimeout(pending.timer);
    const error = asObject(message.error);
    if (error) {
      pending.reject(
        new ProviderError(`codex ${pending.method} failed: ${str(error.message) ?? JSON.stringify(error)}`, { data: { pid: this.proc.pid, method: pending.method } }),
      );
      return;
    }
    pending.resolve(message.result);
  }
}

/**
 * Off-thread checkpoint export: a worker_thread keeps a replica of the sql.js database (fed the
 * same row changes, in the same order, as the main one) and exports the image on request, so a
 * checkpoint costs the event loop a message, not an O(database) copy (issue 9: the export alone
 * was 3 ms per 5,000 rows on an idle machine and several times that under load).
 *
 * The worker is inline (`eval`) CommonJS that `require`s sql.js by its resolved path: no worker
 * file to locate next to the compiled code or under a TypeScript loader, and it runs in Node and
 * in an Electron main process alike. When the worker cannot start or fails, the caller falls
 * back to exporting on the main thread.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { SqlValue } from 'sql.js';

/** One statement of a replicated transaction: statement id (see STATEMENTS) and its parameters. */
export type ReplicaStatement = [number, SqlValue[]];

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const initSqlJs = require(workerData.sqlJsPath);
let db;
let stmts;
const ready = initSqlJs().then((SQL) => {
  db = new SQL.Database(workerData.image);
  db.exec(workerData.pragmas);
  stmts = workerData.statements.map((sql) => db.prepare(sql));
});
ready.catch((error) => parentPort.postMessage({ fatal: String(error && error.message || error) }));
let chain = ready;
parentPort.on('message', (m) => {
  chain = chain.then(() => {
    if (m.batch) {
      db.exec('BEGIN');
      for (const [id, params] of m.batch) stmts[id].run(params);
      db.exec('COMMIT');
    } else if (m.exportId !== undefined) {
      db.run(workerData.metaSql, [m.format, m.gen, m.maxSeq]);
      for (const s of stmts) s.free();
      const bytes = db.export();
      stmts = workerData.statements.map((sql) => db.prepare(sql));
      parentPort.postMessage({ exportId: m.exportId, bytes }, [bytes.buffer]);
    }
  }).catch((error) => parentPort.postMessage({ fatal: String(error && error.message || error) }));
});
`;

interface Pending {
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

/** The replica in a worker thread. */
export class ExportReplica {
  #worker: Worker;
  #pending = new Map<number, Pending>();
  #nextId = 0;
  #failed: Error | undefined;

  /**
   * Start a replica from `image` (the main database's current image; transferred, so the caller
   * must not use it afterwards).
   */
  constructor(image: Uint8Array, setup: { pragmas: string; statements: readonly string[]; metaSql: string }) {
    const sqlJsPath = createRequire(import.meta.url).resolve('sql.js');
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { sqlJsPath, image, pragmas: setup.pragmas, statements: setup.statements, metaSql: setup.metaSql },
      transferList: [image.buffer as ArrayBuffer],
    });
    this.#worker.unref(); // never keeps a process alive
    this.#worker.on('message', (m: { exportId?: number; bytes?: Uint8Array; fatal?: string }) => {
      if (m.fatal !== undefined) return this.#fail(new Error(`export worker failed: ${m.fatal}`));
      const waiter = m.exportId === undefined ? undefined : this.#pending.get(m.exportId);
      if (!waiter || !m.bytes) return;
      this.#pending.delete(m.exportId!);
      waiter.resolve(m.bytes);
    });
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', (code) => this.#fail(new Error(`export worker exited (code ${code})`)));
  }

  /** The replica's failure, once it has one (it is then out of date for good). */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Apply one transaction's statements, in order after everything sent before. */
  apply(batch: ReplicaStatement[]): void {
    if (this.#failed || batch.length === 0) return;
    this.#worker.postMessage({ batch });
  }

  /** Stamp the meta row and export the image, reflecting every batch sent before this call. */
  export(format: number, gen: number, maxSeq: number): Promise<Uint8Array> {
    if (this.#failed) return Promise.reject(this.#failed);
    const exportId = this.#nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(exportId, { resolve, reject });
      this.#worker.postMessage({ exportId, format, gen, maxSeq });
    });
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    this.#fail(new Error('export worker closed'));
    await this.#worker.terminate();
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    for (const waiter of this.#pending.values()) waiter.reject(this.#failed);
    this.#pending.clear();
  }
}

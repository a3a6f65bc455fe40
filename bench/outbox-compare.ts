// The sql.js outbox store of another commit beside this work tree's, in ONE process, interleaved
// chunk by chunk with the raw write+fdatasync floor, so a loaded machine or a noisy disk hits both
// alike (SPEC §11: compare side by side in one run). Sequential durable appends on an empty store
// and at a 5,000-row backlog (as ratios to the floor), then 20,000-append bursts.
//
//   node --import tsx bench/outbox-compare.ts <git ref> [rounds]      (e.g. 55f04d0 8)
//
// The other commit's `src/` is extracted with `git archive` into bench/.compare/<ref>/ (ignored by
// git), so both stores resolve the same node_modules. Prints a table; writes nothing else.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SqlJsOutboxStore } from '../src/adapters/sqljs-outbox-store/store.js';
import type { OutboxStore } from '../src/ports/outbox-store.js';
import { createSystemClock } from '../src/adapters/system-clock.js';
import { benchRow, measureBurst, measureFsyncFloor, measureSequential } from './outbox.js';

type StoreClass = new (options: { clock: ReturnType<typeof createSystemClock>; path: string }) => OutboxStore;

const [ref, roundsArg] = process.argv.slice(2);
if (!ref) throw new Error('usage: bench/outbox-compare.ts <git ref> [rounds]');
const rounds = Number(roundsArg ?? 8);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: root, encoding: 'utf8' }).trim();
const otherDir = path.join(here, '.compare', commit);
if (!fs.existsSync(path.join(otherDir, 'src'))) {
  fs.mkdirSync(otherDir, { recursive: true });
  const tarFile = path.join(otherDir, 'src.tar');
  execFileSync('git', ['archive', '-o', tarFile, commit, 'src'], { cwd: root });
  execFileSync('tar', ['-xf', tarFile, '-C', otherDir]);
  fs.rmSync(tarFile);
}
const other = (await import(pathToFileURL(path.join(otherDir, 'src/adapters/sqljs-outbox-store/store.ts')).href)) as { SqlJsOutboxStore: StoreClass };
const sides: Array<[string, StoreClass]> = [
  [commit, other.SqlJsOutboxStore],
  ['work tree', SqlJsOutboxStore as unknown as StoreClass],
];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-compare-'));
const loadAtStart = os.loadavg();
const open = async (Store: StoreClass, name: string) => {
  const store = new Store({ clock: createSystemClock(), path: path.join(dir, `${name}.db`) });
  await store.counts();
  return store;
};
/** Rate over equal-sized chunks: total operations over total time. */
const pooled = (perSec: number[]) => perSec.length / perSec.reduce((sum, r) => sum + 1 / r, 0);
const chunk = 500;
try {
  const stores = new Map<string, { empty: OutboxStore; backlog: OutboxStore; emptyRates: number[]; backlogRates: number[]; bursts: number[] }>();
  for (const [name, Store] of sides) {
    const empty = await open(Store, `${name}-empty`.replace(' ', '-'));
    for (let i = 0; i < 200; i++) await empty.append([benchRow(-1 - i)]); // warm up the JIT and the file
    await empty.remove((await empty.list({ state: 'pending', limit: 1000 })).map((r) => r.seq));
    const backlog = await open(Store, `${name}-backlog`.replace(' ', '-'));
    for (let i = 0; i < 5000; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => backlog.append([benchRow(1_000_000 + i + k)])));
    await backlog.list({ state: 'pending', limit: 1 });
    stores.set(name, { empty, backlog, emptyRates: [], backlogRates: [], bursts: [] });
  }
  const floors: number[] = [];
  let offset = 0;
  for (let r = 0; r < rounds; r++) {
    floors.push(measureFsyncFloor(dir, chunk).perSec);
    // Alternate which side goes first, so neither always runs right after the floor.
    for (const [name] of r % 2 ? [...sides].reverse() : sides) {
      const s = stores.get(name)!;
      for (const side of ['empty', 'backlog'] as const) {
        const seqs: number[] = [];
        const result = await measureSequential(async (i) => {
          const [row] = await s[side].append([benchRow(i)]);
          seqs.push(row!.seq);
        }, chunk, offset);
        offset += chunk;
        s[side === 'empty' ? 'emptyRates' : 'backlogRates'].push(result.perSec);
        await s[side].remove(seqs);
      }
    }
  }
  for (const s of stores.values()) {
    await s.empty.close?.();
    await s.backlog.close?.();
  }
  for (let r = 0; r < 4; r++) {
    for (const [name, Store] of r % 2 ? [...sides].reverse() : sides) {
      const store = await open(Store, `${name}-burst-${r}`.replace(' ', '-'));
      stores.get(name)!.bursts.push((await measureBurst((i) => store.append([benchRow(i)]), 20_000)).perSec);
      await store.close?.();
    }
  }
  const floor = pooled(floors);
  const fmt = (x: number) => x.toFixed(2);
  console.log(`load average at start ${loadAtStart.map(fmt).join(' ')}, at end ${os.loadavg().map(fmt).join(' ')}; ${rounds} rounds of ${chunk}-append chunks`);
  console.log(`write+fdatasync floor: ${Math.round(floor)}/s (chunks ${floors.join(', ')})`);
  console.log('| store | sequential, empty /s | ÷ floor | sequential, 5k backlog /s | ÷ floor | burst of 20,000 /s (4 runs) |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, s] of stores) {
    const empty = pooled(s.emptyRates);
    const backlog = pooled(s.backlogRates);
    console.log(`| ${name} | ${Math.round(empty)} | ${fmt(empty / floor)} | ${Math.round(backlog)} | ${fmt(backlog / floor)} | ${s.bursts.join(', ')} |`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

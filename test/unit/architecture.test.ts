import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/check-architecture.mjs');

/** A small, clean project tree in a temp dir; `plant` overrides or adds files. */
function project(plant: Record<string, string | null> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'arr-arch-'));
  roots.push(root);
  const files: Record<string, string | null> = {
    'package.json': JSON.stringify({
      name: 'x',
      type: 'module',
      main: './dist/index.js',
      types: './dist/index.d.ts',
      exports: {
        '.': { types: './dist/index.d.ts', default: './dist/index.js' },
        './testing': { types: './dist/testing/index.d.ts', default: './dist/testing/index.js' },
        './package.json': './package.json',
      },
    }),
    'dist/index.js': '',
    'dist/index.d.ts': '',
    'dist/testing/index.js': '',
    'dist/testing/index.d.ts': '',
    'src/errors/index.ts': 'export class RunnerError extends Error {}\n',
    'src/ports/clock.ts': [
      '/** A clock. Nobody calls Date.now() or setTimeout(fn, 1) outside the adapter. */',
      'export interface Clock {',
      '  now(): number;',
      '  setTimeout(callback: () => void, ms: number): unknown;',
      '  setInterval(callback: () => void, ms: number): unknown;',
      '}',
    ].join('\n'),
    'src/ports/index.ts': "export type * from './clock.js';\nimport { RunnerError } from '../errors/index.js';\nvoid RunnerError;\n",
    'src/protocol/wire.ts': "import * as v from 'valibot';\nimport { RunnerError } from '../errors/index.js';\nexport const WireSchema = v.object({ id: v.string() });\nexport type Wire = v.InferOutput<typeof WireSchema>;\nvoid RunnerError;\n",
    'src/protocol/codec.ts': "import { WireSchema } from './wire.js';\nexport const schemas = [WireSchema];\n",
    'src/ports/wire-port.ts': "export type { Wire } from '../protocol/wire.js';\nimport type { Wire } from '../protocol/wire.js';\nexport interface WirePort { get(): Wire }\n",
    'src/adapters/wire-reader.ts': "import { WireSchema } from '../protocol/wire.js';\nexport const read = WireSchema;\n",
    'src/ports/outbox-send.ts': 'export type OutboxSend = (x: number) => Promise<void>;\n',
    'src/core/dispatcher.ts': [
      "import type { Clock } from '../ports/clock.js';",
      "import type TypedEmitter from 'typed-emitter';",
      "import { RunnerError } from '../errors/index.js';",
      "import type { Wire } from '../protocol/wire.js';",
      'export type E = TypedEmitter<{ a: () => void }>;',
      'export type W = Wire;',
      "const help = 'call setTimeout( and Date.now( and import x from \"node:fs\"';",
      'const tpl = `new Date() ${help} setInterval(`;',
      'const re = /setTimeout\\(/g;',
      'export function run(clock: Clock): number {',
      '  clock.setTimeout(() => undefined, 10);',
      '  void tpl; void re; void RunnerError;',
      '  return new Date(clock.now()).getTime() / 2 / 1;',
      '}',
    ].join('\n'),
    'src/adapters/system-clock.ts': 'export const now = () => Date.now();\nexport const t = () => setTimeout(() => {}, 1);\n',
    'src/adapters/sender.ts': "import type { OutboxSend } from '../ports/outbox-send.js';\nimport { readFileSync } from 'node:fs';\nexport type S = OutboxSend;\nvoid readFileSync;\n",
    ...plant,
  };
  for (const [path, content] of Object.entries(files)) {
    if (content === null) continue;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function check(root: string) {
  const result = spawnSync(process.execPath, [SCRIPT, '--root', root], { encoding: 'utf8' });
  return { status: result.status, out: result.stdout + result.stderr };
}

describe('scripts/check-architecture.mjs', () => {
  it('passes a clean tree (comments, strings, templates and regexes mentioning timers are fine)', () => {
    const { status, out } = check(project());
    expect(out).toMatch(/^check-architecture: OK/);
    expect(status).toBe(0);
  });

  it.each([
    ['core importing node:*', { 'src/core/bad.ts': "import { readFileSync } from 'node:fs';\nvoid readFileSync;\n" }, /src\/core\/bad\.ts:1: core imports 'node:fs'/],
    ['core importing a package', { 'src/core/bad.ts': "import WebSocket from 'ws';\nvoid WebSocket;\n" }, /core imports 'ws'/],
    ['core importing typed-emitter at runtime', { 'src/core/bad.ts': "import { EventEmitter } from 'typed-emitter';\nvoid EventEmitter;\n" }, /use 'import type' for typed-emitter/],
    ['core importing an adapter', { 'src/core/bad.ts': "export { now } from '../adapters/system-clock.js';\n" }, /core imports '\.\.\/adapters\/system-clock\.js' \(src\/adapters\/system-clock\.ts\)/],
    ['core with a dynamic import', { 'src/core/bad.ts': "export const load = () => import('node:path');\n" }, /core imports 'node:path'/],
    ['ports importing core', { 'src/ports/bad.ts': "import type { run } from '../core/dispatcher.js';\nexport type X = typeof run;\n" }, /ports import '\.\.\/core\/dispatcher\.js'/],
    ['shared importing node:*', { 'src/shared/bad.ts': "import { join } from 'node:path';\nvoid join;\n" }, /shared imports 'node:path'.*pure/],
    ['shared importing core', { 'src/shared/bad.ts': "export { run } from '../core/dispatcher.js';\n" }, /shared imports '\.\.\/core\/dispatcher\.js'/],
    ['ports importing a package', { 'src/ports/bad.ts': "import type { Logger } from 'tslog';\nexport type X = Logger<unknown>;\n" }, /ports import 'tslog'/],
    ['adapter importing core at runtime', { 'src/adapters/bad.ts': "import { run } from '../core/dispatcher.js';\nvoid run;\n" }, /adapter imports '\.\.\/core\/dispatcher\.js'/],
    ['adapter importing core types', { 'src/adapters/bad.ts': "import type { run } from '../core/dispatcher.js';\nexport type X = typeof run;\n" }, /adapter imports '\.\.\/core\/dispatcher\.js'.*contracts belong in src\/ports/],
    ['adapter re-exporting core types', { 'src/adapters/bad.ts': "export type { E } from '../core/dispatcher.js';\n" }, /adapter imports '\.\.\/core\/dispatcher\.js'/],
    ['core importing a protocol schema at runtime', { 'src/core/bad.ts': "import { WireSchema } from '../protocol/wire.js';\nvoid WireSchema;\n" }, /core imports '\.\.\/protocol\/wire\.js' \(src\/protocol\/wire\.ts\) at runtime/],
    ['ports re-exporting a protocol schema at runtime', { 'src/ports/bad.ts': "export { WireSchema } from '../protocol/wire.js';\n" }, /ports imports '\.\.\/protocol\/wire\.js'.*only with 'import type'/],
    ['ports importing valibot', { 'src/ports/bad.ts': "import type { GenericSchema } from 'valibot';\nexport type X = GenericSchema;\n" }, /ports import 'valibot'/],
    ['core importing valibot', { 'src/core/bad.ts': "import * as v from 'valibot';\nvoid v;\n" }, /core imports 'valibot'/],
    ['protocol importing another package', { 'src/protocol/bad.ts': "import { z } from 'zod';\nvoid z;\n" }, /protocol imports 'zod': src\/protocol may import only valibot/],
    ['protocol importing a port', { 'src/protocol/bad.ts': "import type { Clock } from '../ports/clock.js';\nexport type C = Clock;\n" }, /protocol imports '\.\.\/ports\/clock\.js' \(src\/ports\/clock\.ts\)/],
    ['protocol importing an adapter', { 'src/protocol/bad.ts': "export { now } from '../adapters/system-clock.js';\n" }, /protocol imports '\.\.\/adapters\/system-clock\.js'/],
    ['Date.now() outside the clock adapter', { 'src/adapters/bad.ts': '// fine here\nexport const t = () => Date.now();\n' }, /src\/adapters\/bad\.ts:2: calls Date\.now\(\)/],
    ['setTimeout in core', { 'src/core/bad.ts': 'export const t = () => setTimeout(() => {}, 5);\n' }, /calls setTimeout\(\)/],
    ['globalThis.setInterval', { 'src/testing/bad.ts': 'export const t = () => globalThis.setInterval(() => {}, 5);\n' }, /calls setInterval\(\)/],
    ['setImmediate', { 'src/adapters/bad.ts': 'export const t = () => setImmediate(() => {});\n' }, /calls setImmediate\(\)/],
    ['argument-less new Date()', { 'src/adapters/bad.ts': 'export const t = () => new Date().toISOString();\n' }, /calls new Date\(\) without an argument/],
    ['node:timers import', { 'src/adapters/bad.ts': "import { setTimeout as sleep } from 'node:timers/promises';\nvoid sleep;\n" }, /imports 'node:timers\/promises'/],
    ['a missing exports target', { 'dist/testing/index.js': null }, /exports\["\.\/testing"\]\.default → \.\/dist\/testing\/index\.js does not exist/],
    [
      'types not first',
      {
        'package.json': JSON.stringify({ exports: { '.': { default: './dist/index.js', types: './dist/index.d.ts' } } }),
      },
      /"types" must be the first condition/,
    ],
  ])('fails on %s', (_name, plant, message) => {
    const { status, out } = check(project(plant as Record<string, string | null>));
    expect(status).toBe(1);
    expect(out).toMatch(/check-architecture: \d+ violation/);
    expect(out).toMatch(message);
  });
});

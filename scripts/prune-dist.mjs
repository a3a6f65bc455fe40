// Runs after `tsc -p tsconfig.build.json`. The generated Codex protocol files
// (src/providers/codex/protocol/) are types only: each compiles to `export {};`. Shipping those
// 120 empty modules and their maps doubled the package's file count for nothing, so they ship as
// .d.ts only. Safety net: if any remaining .js still imports a removed file, the build fails.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const typesOnlyDirs = [join(dist, 'providers/codex/protocol')];

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });

const removed = new Set();
for (const dir of typesOnlyDirs) {
  for (const file of walk(dir)) {
    if (!file.endsWith('.js')) continue;
    // Comments (the generator's banner, the source-map link) are not code.
    const code = readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '').trim();
    if (code !== 'export {};') throw new Error(`${relative(dist, file)} has runtime code; it cannot ship as types only`);
    rmSync(file);
    rmSync(`${file}.map`, { force: true });
    removed.add(file);
  }
}

const importPattern = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\s*\(\s*['"](\.[^'"]+)['"]\s*\)|^import\s*['"](\.[^'"]+)['"]/gm;
for (const file of walk(dist)) {
  if (!file.endsWith('.js')) continue;
  for (const match of readFileSync(file, 'utf8').matchAll(importPattern)) {
    const target = resolve(dirname(file), match[1] ?? match[2] ?? match[3]);
    if (removed.has(target)) throw new Error(`${relative(dist, file)} imports ${relative(dist, target)}, which ships as types only`);
  }
}
console.log(`prune-dist: ${removed.size} type-only modules ship as .d.ts only`);

#!/usr/bin/env node
// Keeps the hexagon honest (SPEC §2, STYLE habits 4 and 13). Plain Node, no dependencies.
//
//   node scripts/check-architecture.mjs [--root <dir>]
//
// (a) src/core imports only src/core, src/ports, src/errors, src/shared (plus `import type` from typed-emitter
//     and `import type` / `export type` from src/protocol)
// (b) src/ports imports only src/ports and src/errors (plus `import type` / `export type` from src/protocol)
// (b3) src/protocol (the wire schemas) imports only valibot, src/protocol and src/errors
// (b2) src/shared (pure helpers every layer may use) imports only src/shared
// (c) src/adapters never imports src/core, not even types: contracts between them live in src/ports
// (d) outside src/adapters/system-clock.ts no Date.now(), setTimeout(, setInterval(, setImmediate(,
//     argument-less new Date(), or node:timers imports — comments and strings are ignored
// (e) every package.json `exports` target exists (dist/ after the build) and `types` comes first
//
// Exits 1 with one line per violation, or prints a one-line OK summary.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const rootFlag = args.indexOf('--root');
const root = resolve(rootFlag >= 0 && args[rootFlag + 1] ? args[rootFlag + 1] : join(dirname(fileURLToPath(import.meta.url)), '..'));

const CLOCK_ADAPTER = 'src/adapters/system-clock.ts';
const CORE_TYPE_PACKAGES = new Set(['typed-emitter']);
const PROTOCOL_PACKAGES = new Set(['valibot']);
const SOURCE_EXT = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;

const violations = [];
const report = (file, line, message) => violations.push(`${file}:${line}: ${message}`);

/** Every source file under `dir`, as repo-relative posix paths. */
function walk(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(full));
    else if (SOURCE_EXT.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(toPosix(relative(root, full)));
  }
  return out.sort();
}
const toPosix = (p) => p.split(sep).join('/');

/**
 * Blank out comments, and optionally string/template/regex literal contents, keeping offsets and
 * newlines so line numbers stay right. Template `${…}` expressions stay code.
 */
function mask(source, { strings }) {
  const out = source.split('');
  const blank = (from, to) => {
    for (let i = from; i < to; i++) if (out[i] !== '\n') out[i] = ' ';
  };
  const braceStack = []; // for each open `{`: true when it opened a template `${`
  let i = 0;
  const regexAllowedAfter = /[(,=:[!&|?{};+\-*%<>~^]$/;
  const keywordBeforeRegex = /(?:^|[^\w$])(?:return|typeof|case|do|else|in|of|void|yield|await|delete|throw|new)$/;

  const skipString = (quote, start) => {
    let j = start + 1;
    while (j < source.length && source[j] !== quote && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
    return Math.min(j + 1, source.length);
  };
  /** Scan template text from `start` (just after ` or }) to the closing ` or a `${`. */
  const scanTemplate = (start) => {
    let j = start;
    while (j < source.length) {
      if (source[j] === '\\') j += 2;
      else if (source[j] === '`') return { end: j + 1, opensExpr: false };
      else if (source[j] === '$' && source[j + 1] === '{') return { end: j + 2, opensExpr: true };
      else j++;
    }
    return { end: source.length, opensExpr: false };
  };

  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? source.length : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? source.length : end + 2;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      const stop = skipString(c, i);
      if (strings) blank(i + 1, stop - 1);
      i = stop;
      continue;
    }
    if (c === '`' || (c === '}' && braceStack.length > 0 && braceStack[braceStack.length - 1] === true)) {
      if (c === '}') braceStack.pop();
      const { end, opensExpr } = scanTemplate(i + 1);
      if (strings) blank(i + 1, opensExpr ? end - 2 : end - 1);
      if (opensExpr) braceStack.push(true);
      i = end;
      continue;
    }
    if (c === '/') {
      const before = source.slice(Math.max(0, i - 12), i).trimEnd();
      if (before === '' || regexAllowedAfter.test(before) || keywordBeforeRegex.test(before)) {
        // A regex literal: skip to the closing unescaped `/` outside a character class.
        let j = i + 1;
        let inClass = false;
        while (j < source.length && source[j] !== '\n') {
          if (source[j] === '\\') j += 2;
          else if (source[j] === '[') (inClass = true), j++;
          else if (source[j] === ']') (inClass = false), j++;
          else if (source[j] === '/' && !inClass) break;
          else j++;
        }
        if (strings) blank(i + 1, j);
        i = j + 1;
        continue;
      }
    }
    if (c === '{') braceStack.push(false);
    else if (c === '}') braceStack.pop();
    i++;
  }
  return out.join('');
}

const lineOf = (text, index) => text.slice(0, index).split('\n').length;

/**
 * Imports and re-exports with their specifier and whether they are type-only (`import type`,
 * `export type`). Statements are found in `masked` (strings blanked, so text inside a string never
 * looks like an import); specifiers are read from `code` at the same offsets.
 * @remarks `import { type A }` is not type-only: under verbatimModuleSyntax it still loads the module.
 */
function findImports(code, masked) {
  const found = [];
  const patterns = [
    // import x from '…', import type … from '…', export … from '…', export type … from '…'
    { re: /(?:^|[;\s])(?:import|export)\s+(type\s+)?[^;'"`]*?\s+from\s*(['"])[^'"]*\2/dg, quote: 2, type: 1 },
    // import '…' (side effect only)
    { re: /(?:^|[;\s])import\s*(['"])[^'"]*\1/dg, quote: 1 },
    // import('…'), require('…')
    { re: /(?:^|[^\w$.])(?:import|require)\s*\(\s*(['"])[^'"]*\1\s*\)/dg, quote: 1 },
  ];
  for (const { re, quote, type } of patterns) {
    for (const m of masked.matchAll(re)) {
      const open = m.indices[quote][0];
      const close = masked.indexOf(masked[open], open + 1);
      found.push({ index: m.index, specifier: code.slice(open + 1, close), typeOnly: type !== undefined && Boolean(m[type]) });
    }
  }
  return found;
}

/** Resolve a relative specifier to a repo-relative source path (.js → .ts, like NodeNext). */
function resolveRelative(fromFile, specifier) {
  const base = join(root, dirname(fromFile), specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')];
  for (const candidate of candidates) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return toPosix(relative(root, candidate));
  }
  return toPosix(relative(root, base.replace(/\.js$/, '.ts')));
}
const inDir = (file, dir) => file.startsWith(`${dir}/`);

function checkImports(file, code, masked) {
  const layer = inDir(file, 'src/core')
    ? 'core'
    : inDir(file, 'src/ports')
      ? 'ports'
      : inDir(file, 'src/adapters')
        ? 'adapters'
        : inDir(file, 'src/shared')
          ? 'shared'
          : inDir(file, 'src/protocol')
            ? 'protocol'
            : undefined;
  for (const imp of findImports(code, masked)) {
    const line = lineOf(code, imp.index);
    const spec = imp.specifier;
    if (/^(?:node:)?timers(?:\/promises)?$/.test(spec) && file !== CLOCK_ADAPTER) {
      report(file, line, `imports '${spec}': timers come from the Clock port (only ${CLOCK_ADAPTER} may touch them)`);
    }
    if (!layer) continue;
    const relativeSpec = spec.startsWith('.');
    const target = relativeSpec ? resolveRelative(file, spec) : undefined;
    if ((layer === 'core' || layer === 'ports') && relativeSpec && inDir(target, 'src/protocol')) {
      // Core and ports speak the wire types, never the schema library: types only.
      if (!imp.typeOnly) {
        report(file, line, `${layer} imports '${spec}' (${target}) at runtime: ${layer} may import src/protocol only with 'import type' / 'export type'`);
      }
      continue;
    }
    if (layer === 'protocol') {
      const ok = relativeSpec ? ['src/protocol', 'src/errors'].some((d) => inDir(target, d)) : PROTOCOL_PACKAGES.has(spec);
      if (!ok) report(file, line, `protocol imports '${spec}'${target ? ` (${target})` : ''}: src/protocol may import only valibot, src/protocol and src/errors`);
      continue;
    }
    if (layer === 'core') {
      if (!relativeSpec) {
        if (imp.typeOnly && CORE_TYPE_PACKAGES.has(spec)) continue;
        report(file, line, `core imports '${spec}': core may import only src/core, src/ports, src/errors, src/shared (and src/protocol types)${CORE_TYPE_PACKAGES.has(spec) ? ` (use 'import type' for ${spec})` : ''}`);
      } else if (!['src/core', 'src/ports', 'src/errors', 'src/shared'].some((d) => inDir(target, d))) {
        report(file, line, `core imports '${spec}' (${target}): core may import only src/core, src/ports, src/errors, src/shared`);
      }
    } else if (layer === 'shared') {
      if (!relativeSpec || !inDir(target, 'src/shared')) {
        report(file, line, `shared imports '${spec}'${target ? ` (${target})` : ''}: src/shared is pure and may import only src/shared`);
      }
    } else if (layer === 'ports') {
      if (!relativeSpec || !['src/ports', 'src/errors'].some((d) => inDir(target, d))) {
        report(file, line, `ports import '${spec}'${target ? ` (${target})` : ''}: ports may import only src/ports and src/errors`);
      }
    } else if (layer === 'adapters' && relativeSpec && inDir(target, 'src/core')) {
      report(file, line, `adapter imports '${spec}' (${target}): adapters never import core (contracts belong in src/ports)`);
    }
  }
}

const TIME_PATTERNS = [
  { re: /(?<![\w$.])(?:(?:globalThis|global|window|self)\s*\.\s*)?Date\s*\.\s*now\s*\(/g, what: 'Date.now()' },
  { re: /(?<![\w$])new\s+Date\s*(?:\(\s*\)|(?=\s*[;,)\]}.]))/g, what: 'new Date() without an argument' },
  { re: /(?<![\w$.])(?:(?:globalThis|global|window|self)\s*\.\s*)?(setTimeout|setInterval|setImmediate)\s*\(/g, what: '' },
];

/** Index just past the `)` matching the `(` at `open`, or -1. */
function closeParen(code, open) {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === '(') depth++;
    else if (code[i] === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

function checkTime(file, code) {
  if (file === CLOCK_ADAPTER) return;
  for (const { re, what } of TIME_PATTERNS) {
    for (const m of code.matchAll(re)) {
      const name = what || `${m[1]}()`;
      if (!what) {
        // `setTimeout(cb: () => void, ms: number): TimerHandle` in an interface or class is a
        // declaration of the Clock method, not a call of the global.
        const end = closeParen(code, m.index + m[0].length - 1);
        const after = end < 0 ? '' : code.slice(end).trimStart();
        if (after.startsWith(':') || after.startsWith('{')) continue;
      }
      report(file, lineOf(code, m.index), `calls ${name}: take time from the Clock port (only ${CLOCK_ADAPTER} may)`);
    }
  }
}

function checkExports() {
  const pkgPath = join(root, 'package.json');
  if (!existsSync(pkgPath)) {
    report('package.json', 1, 'missing');
    return 0;
  }
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  if (!pkg.exports || typeof pkg.exports !== 'object') {
    report('package.json', 1, '"exports" map missing');
    return 0;
  }
  let targets = 0;
  const visit = (subpath, value, where) => {
    if (typeof value === 'string') {
      targets++;
      if (!existsSync(join(root, value))) {
        report('package.json', 1, `exports["${subpath}"]${where} → ${value} does not exist${value.includes('dist/') ? ' (run the build: npx tsc -p tsconfig.build.json)' : ''}`);
      }
      return;
    }
    if (value === null) return;
    if (Array.isArray(value)) {
      value.forEach((v, n) => visit(subpath, v, `${where}[${n}]`));
      return;
    }
    const keys = Object.keys(value);
    if (keys.includes('types') && keys[0] !== 'types') {
      report('package.json', 1, `exports["${subpath}"]${where}: "types" must be the first condition (found ${keys.join(', ')})`);
    }
    if (!keys.includes('types') && keys.some((k) => k === 'default' || k === 'import')) {
      report('package.json', 1, `exports["${subpath}"]${where}: condition object has no "types" entry`);
    }
    for (const key of keys) visit(subpath, value[key], `${where}.${key}`);
  };
  if (typeof pkg.exports === 'string' || Object.keys(pkg.exports).every((k) => !k.startsWith('.'))) visit('.', pkg.exports, '');
  else for (const [subpath, value] of Object.entries(pkg.exports)) visit(subpath, value, '');
  for (const field of ['main', 'types']) {
    if (typeof pkg[field] === 'string' && !existsSync(join(root, pkg[field]))) report('package.json', 1, `"${field}" → ${pkg[field]} does not exist`);
  }
  return targets;
}

const files = walk(join(root, 'src'));
if (files.length === 0) report('src', 1, 'no source files found (wrong --root?)');
for (const file of files) {
  const source = readFileSync(join(root, file), 'utf8');
  const noComments = mask(source, { strings: false });
  const noStrings = mask(source, { strings: true });
  checkImports(file, noComments, noStrings);
  checkTime(file, noStrings);
}
const targets = checkExports();

if (violations.length > 0) {
  console.error(`check-architecture: ${violations.length} violation(s):`);
  for (const v of violations) console.error(`  ${v}`);
  process.exit(1);
}
console.log(`check-architecture: OK (${files.length} source files: hexagon imports and clock rule clean; ${targets} exports targets present, types first)`);

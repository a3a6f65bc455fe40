#!/usr/bin/env node
// Installs the `electron` package into examples/electron/node_modules, for its types only: the
// Electron example (examples/electron/main.ts) is type-checked by `npm run typecheck`, never run.
// Kept out of the root package so `npm ci` on a machine without internet works: electron's
// postinstall would try to download its binary. Here ELECTRON_SKIP_BINARY_DOWNLOAD=1 is always
// set. Cached: nothing happens when the lockfile's hash matches the stamp of the last install.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'electron');
const lock = join(dir, 'package-lock.json');
const stamp = join(dir, 'node_modules', '.agent-relay-electron-stamp');
const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
const installed = existsSync(stamp) && readFileSync(stamp, 'utf8') === want && existsSync(join(dir, 'node_modules', 'electron', 'electron.d.ts'));
if (!installed) {
  console.error('install-electron-types: installing electron (types only, no binary) into examples/electron/node_modules');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  execFileSync(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' },
  });
  writeFileSync(stamp, want);
}

/**
 * The runner's private files on a real filesystem: owner-only modes for what it creates, and no
 * change to directories it did not create (a shared 1777 directory stays 1777).
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir, writePrivateJson } from '../../src/adapters/runner-files.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const mode = (path: string) => statSync(path).mode & 0o7777;

/** A directory shaped like /tmp: world-writable with the sticky bit. */
function sharedDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arr-shared-'));
  chmodSync(dir, 0o1777);
  dirs.push(dir);
  return dir;
}

describe('ensurePrivateDir', () => {
  it('creates missing directories 0700 and leaves an existing shared parent as it was', async () => {
    const shared = sharedDir();
    await ensurePrivateDir(join(shared, 'a', 'b'));
    expect(mode(shared)).toBe(0o1777);
    expect(mode(join(shared, 'a'))).toBe(0o700);
    expect(mode(join(shared, 'a', 'b'))).toBe(0o700);
  });

  it('never changes the mode of a directory that already exists', async () => {
    const shared = sharedDir();
    await ensurePrivateDir(shared);
    expect(mode(shared)).toBe(0o1777);
  });

  it('writes the info file 0600 into a shared directory without touching the directory', async () => {
    const shared = sharedDir();
    const file = join(shared, 'runner-info.json');
    await ensurePrivateDir(shared);
    await writePrivateJson(file, { pid: 1 });
    expect(mode(file)).toBe(0o600);
    expect(mode(shared)).toBe(0o1777);
  });
});

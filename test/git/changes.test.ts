// What make sees of a worktree: the paths a build's snapshot did not have are newer than it,
// and nothing else is, whatever earlier checkouts in the same slot rewrote.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { touchChangedSince } from '../../src/git/changes.ts';
import { tempDir } from '../helpers/cli.ts';

const LONG_AGO = Date.parse('2000-01-01T00:00:00Z');
const git = (dir: string, args: string[]) =>
  execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.org', ...args], {
    cwd: dir,
    encoding: 'utf8',
  }).trim();

describe('touchChangedSince', () => {
  it('dates what equals the snapshot long ago, and what differs from it now', async () => {
    const dir = tempDir('listci-changes-');
    git(dir, ['init', '-q', '-b', 'main']);
    writeFileSync(join(dir, 'lib.h'), 'int a;\n');
    writeFileSync(join(dir, 'util.c'), 'int u;\n');
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-q', '-m', 'base']);
    const base = git(dir, ['rev-parse', 'HEAD']);
    writeFileSync(join(dir, 'lib.h'), 'int a;\nint b;\n');
    git(dir, ['commit', '-q', '-am', 'a series touching the header']);
    const header = git(dir, ['rev-parse', 'HEAD']);
    git(dir, ['checkout', '-q', '--detach', base]);
    writeFileSync(join(dir, 'util.c'), 'int u;\nint v;\n');
    git(dir, ['commit', '-q', '-am', 'a series touching util.c']);
    const other = git(dir, ['rev-parse', 'HEAD']);

    // The slot held the header series; then the util.c series on the same base is checked out,
    // and git rewrites lib.h back to the base's content, dated now.
    git(dir, ['checkout', '-q', '--detach', header]);
    const before = Date.now() - 1000;
    git(dir, ['checkout', '-q', '--detach', other]);
    const mtime = (p: string) => lstatSync(join(dir, p)).mtimeMs;
    assert.ok(mtime('lib.h') > before, 'git rewrote lib.h just now');

    // The snapshot is the base's: only util.c differs from what it was built from.
    const changed = await touchChangedSince(dir, base, other, { backdateOthers: true });
    assert.deepEqual(changed, ['util.c']);
    assert.equal(mtime('lib.h'), LONG_AGO, 'same as in the snapshot: not newer than it');
    assert.ok(mtime('util.c') > before, 'what the snapshot did not have is newer than it');

    // From the header series' snapshot both differ.
    const fromHeader = await touchChangedSince(dir, header, other, { backdateOthers: true });
    assert.deepEqual(fromHeader.sort(), ['lib.h', 'util.c']);
    assert.ok(mtime('lib.h') > before && mtime('util.c') > before);

    git(dir, ['checkout', '-q', '--detach', base]);
    git(dir, ['checkout', '-q', '--detach', other]);
    await touchChangedSince(dir, base, other);
    assert.ok(mtime('lib.h') > before, 'without backdateOthers (build.parallel > 1) nothing is dated back');
  });
});

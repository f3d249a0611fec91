import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ensureMirror, fetchMirror, maintainMirror } from '../../src/git/mirror.ts';
import { seriesFromRange } from '../../src/git/range.ts';
import { chooseBase } from '../../src/git/base.ts';
import { applySeries } from '../../src/git/apply.ts';
import { WorktreePool } from '../../src/git/worktrees.ts';
import { readBaseTrailers } from '../../src/git/trailers.ts';
import {
  commitFile,
  contributorClone,
  makeUpstream,
  REPO_CFG,
  rm,
  schedC,
  sh,
  tmp,
  type Upstream,
} from './helpers.ts';

let up: Upstream;
before(async () => {
  up = await makeUpstream('mirror');
});
after(() => rm(up.root));

describe('mirror', () => {
  it('mirrors staging, master and stable-4.19 from a local path', async () => {
    const heads = sh(
      up.mirror.path,
      'for-each-ref',
      '--format=%(refname:short) %(objectname)',
      'refs/heads/',
    );
    assert.equal(heads, `master ${up.oldStaging}\nstable-4.19 ${up.stable419}\nstaging ${up.staging}\n`);
    assert.equal(await ensureMirror(up.mirror), false, 'created once, never cloned again');
  });

  it('fetches only when older than the limit, and then sees staging move', async () => {
    const moved = commitFile(
      up.upstream,
      'xen/common/sched.c',
      schedC({ 20: 'int twenty;' }),
      'staging moves again',
    );
    const fresh = await fetchMirror(up.mirror, { maxAgeSeconds: 3600 });
    assert.equal(fresh.fetched, false);
    assert.equal(sh(up.mirror.path, 'rev-parse', 'staging').trim(), up.staging);
    const due = await fetchMirror(up.mirror, { maxAgeSeconds: 0 });
    assert.equal(due.fetched, true);
    assert.equal(sh(up.mirror.path, 'rev-parse', 'staging').trim(), moved);
    await maintainMirror(up.mirror, { expire: 'now' });
  });

  it('follows repo.url when the config changes it, not the upstream it was made from', async () => {
    const other = tmp('mirror-other-upstream');
    sh(other, 'clone', '-q', '--bare', up.upstream, join(other, 'up.git'));
    const elsewhere = join(other, 'up.git');
    const work = join(other, 'work');
    sh(other, 'clone', '-q', elsewhere, work);
    const moved = commitFile(
      work,
      'xen/common/sched.c',
      schedC({ 30: 'int thirty;' }),
      'only the new upstream',
    );
    sh(work, 'push', '-q', 'origin', 'HEAD:staging');
    const cfg = { ...up.mirror, url: elsewhere };
    assert.equal(await ensureMirror(cfg), false, 'the mirror is kept, not made again');
    assert.equal(sh(up.mirror.path, 'config', '--get', 'remote.origin.url').trim(), elsewhere);
    assert.equal(sh(up.mirror.path, 'rev-parse', 'staging').trim(), moved, 'fetched from the new upstream');
    assert.equal(await ensureMirror(cfg), false);
    rm(other);
  });
});

describe('listci check --range A..B (pre-submission)', () => {
  it('turns a local branch into the mails format-patch would send, base included, and applies them', async () => {
    const clone = contributorClone(up, 'dev', up.staging);
    commitFile(clone, 'xen/common/grant.c', 'int grant;\n', 'xen/grant: add grant.c');
    commitFile(clone, 'xen/common/grant.c', 'int grant;\nint grant2;\n', 'xen/grant: add grant2');
    const { series, baseCommit } = await seriesFromRange(clone, 'origin/staging..HEAD');
    assert.equal(baseCommit, up.staging);
    assert.deepEqual(
      series.patches.map((p) => `${p.number}/${p.total} ${p.subject}`),
      ['1/2 xen/grant: add grant.c', '2/2 xen/grant: add grant2'],
    );
    assert.equal(series.author, 'Alice Contributor <alice@example.org>');
    const trailers = await readBaseTrailers(series);
    assert.deepEqual(trailers.baseCommit, { sha: up.staging, source: 'patch 1/2' });

    const { choice } = await chooseBase(series, { mirror: up.mirror, repo: REPO_CFG });
    assert.equal(choice.commit, up.staging);
    const pool = new WorktreePool({ mirror: up.mirror.path, dir: join(up.root, 'wts'), size: 1 });
    const w = await pool.acquire();
    const { result } = await applySeries(w.path, choice.commit, series.patches);
    w.release();
    assert.equal(result.ok, true, result.error ?? '');
  });

  it('names the range and the missing side when A..B is wrong', async () => {
    await assert.rejects(
      seriesFromRange(up.upstream, 'nope..staging'),
      /range nope\.\.staging: nope is not a commit/,
    );
    await assert.rejects(seriesFromRange(up.upstream, '--exec=x..staging'), /is not of the form A\.\.B/);
    await assert.rejects(seriesFromRange(up.upstream, 'staging..staging'), /has no commits to check/);
  });
});

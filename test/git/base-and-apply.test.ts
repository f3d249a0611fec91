import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBase } from '../../src/git/base.ts';
import { applySeries } from '../../src/git/apply.ts';
import { WorktreePool, type Worktree } from '../../src/git/worktrees.ts';
import type { SeriesToCheck } from '../../src/series/types.ts';
import {
  commitFile,
  contributorClone,
  makeUpstream,
  post,
  REPO_CFG,
  rm,
  schedC,
  sh,
  status,
  type Upstream,
} from './helpers.ts';

let up: Upstream;
let pool: WorktreePool;
let wt: Worktree;
/** Three patches written on old staging; patch 2 touches line 10, which staging rewrote since. */
let threePatches: { clone: string; range: string };

before(async () => {
  up = await makeUpstream('apply');
  pool = new WorktreePool({ mirror: up.mirror.path, dir: up.worktrees, size: 1 });
  wt = await pool.acquire();
  const clone = contributorClone(up, 'alice', up.oldStaging);
  commitFile(clone, 'xen/common/sched.c', schedC({ 5: 'int sched_line_5 = 55;' }), 'xen/sched: tune line 5');
  commitFile(
    clone,
    'xen/common/sched.c',
    schedC({ 5: 'int sched_line_5 = 55;', 10: 'int sched_line_10 = 11;' }),
    'xen/sched: tune line 10',
  );
  commitFile(clone, 'xen/common/credit.c', 'int credit;\n', 'xen/sched: add credit.c');
  threePatches = { clone, range: `${up.oldStaging}..HEAD` };
});

after(() => {
  wt.release();
  rm(up.root);
});

const ctx = () => ({ mirror: up.mirror, repo: REPO_CFG });

describe('base cascade and git am -3', () => {
  it('applies a series on its base-commit even though staging moved on and would conflict', async () => {
    const series = post(threePatches.clone, threePatches.range, {
      id: 'v1',
      cover: true,
      base: up.oldStaging,
    });
    const { choice } = await chooseBase(series, ctx());
    assert.equal(choice.commit, up.oldStaging);
    assert.equal(choice.steps[0]!.rule, 'base-commit');
    assert.equal(choice.steps[0]!.outcome, 'chosen');
    assert.match(choice.reason, /base-commit trailer of cover letter \(found in mirror\)/);

    const { result, commits } = await applySeries(wt.path, choice.commit, series.patches);
    assert.equal(result.ok, true, result.error ?? '');
    assert.equal(result.applied, 3);
    assert.equal(commits.length, 3);
    // author and date from the mail, committer is the bot
    const log = sh(wt.path, 'log', '-1', '--format=%an <%ae>|%aI|%cn <%ce>', commits[0]!).trim();
    assert.equal(
      log,
      'Alice Contributor <alice@example.org>|2024-05-01T10:00:00+00:00|listci <listci@localhost>',
    );
  });

  it('applies a for-4.19 series on stable-4.19, where staging would not take it', async () => {
    const clone = contributorClone(up, 'backport', up.stable419);
    commitFile(
      clone,
      'xen/common/sched.c',
      schedC({ 3: 'int sched_line_3 = 4190;' }),
      'x86/spec-ctrl: backport',
    );
    const series = post(clone, 'HEAD~1..HEAD', {
      id: 'bp',
      subjectPrefix: 'PATCH for-4.19',
      tags: ['for-4.19'],
    });
    const { choice } = await chooseBase(series, ctx());
    assert.equal(choice.ref, 'stable-4.19');
    assert.equal(choice.commit, up.stable419);
    assert.deepEqual(
      choice.steps.map((s) => `${s.rule}:${s.outcome}`),
      ['base-commit:skipped', 'based-on:skipped', 'subject-tag:chosen'],
    );
    assert.equal(choice.reason, 'subject tag "for-4.19" → stable-4.19');
    const { result } = await applySeries(wt.path, choice.commit, series.patches);
    assert.equal(result.ok, true, result.error ?? '');
  });

  it('falls back to the default branch when the base-commit is unknown upstream, and says so', async () => {
    const clone = contributorClone(up, 'private', up.staging);
    commitFile(clone, 'xen/common/new.c', 'int x;\n', 'xen: add new.c');
    const bogus = 'deadbeef'.repeat(5);
    const series = post(clone, 'HEAD~1..HEAD', { id: 'unk', base: up.staging });
    for (const p of series.patches) p.raw = Buffer.from(p.raw.toString('utf8').replace(up.staging, bogus));
    const { choice } = await chooseBase(series, ctx());
    assert.equal(choice.ref, 'staging');
    assert.equal(choice.commit, up.staging);
    const first = choice.steps[0]!;
    assert.equal(first.rule, 'base-commit');
    assert.equal(first.outcome, 'unavailable');
    assert.match(
      first.detail,
      /deadbeefdead \(patch 1\/1\) is not in the mirror and upstream does not have it/,
    );
    assert.equal(choice.steps.at(-1)!.rule, 'default-branch');
    assert.match(choice.reason, /^default branch staging at [0-9a-f]{12}, because base-commit deadbeefdead/);
    const { result } = await applySeries(wt.path, choice.commit, series.patches);
    assert.equal(result.ok, true, result.error ?? '');
  });

  it('fetches a base-commit by sha when upstream has it on no branch the mirror tracks', async () => {
    // a commit only reachable from a review ref, e.g. one a maintainer pushed for testing
    sh(up.upstream, 'checkout', '-q', '--detach', up.staging);
    const hidden = commitFile(up.upstream, 'xen/common/hidden.c', 'int h;\n', 'hidden base');
    sh(up.upstream, 'update-ref', 'refs/review/hidden', hidden);
    sh(up.upstream, 'checkout', '-q', 'staging');
    const clone = contributorClone(up, 'onhidden', up.staging);
    sh(clone, 'fetch', '-q', 'origin', 'refs/review/hidden');
    sh(clone, 'checkout', '-q', '--detach', 'FETCH_HEAD');
    commitFile(clone, 'xen/common/hidden.c', 'int h = 1;\n', 'xen: set h');
    const series = post(clone, 'HEAD~1..HEAD', { id: 'hid', base: hidden });
    const { choice } = await chooseBase(series, ctx());
    assert.equal(choice.commit, hidden);
    assert.match(choice.reason, /fetched from upstream by sha/);
    const { result } = await applySeries(wt.path, choice.commit, series.patches);
    assert.equal(result.ok, true, result.error ?? '');
  });

  it('names patch 2/3, its subject and the file when the series conflicts; 3/3 skipped; worktree clean', async () => {
    const series = post(threePatches.clone, threePatches.range, { id: 'nobase' });
    const { choice } = await chooseBase(series, ctx());
    assert.equal(choice.ref, 'staging');
    const { result, commits } = await applySeries(wt.path, choice.commit, series.patches);
    assert.equal(result.ok, false);
    assert.deepEqual(result.failedPatch, {
      number: 2,
      total: 3,
      subject: 'xen/sched: tune line 10',
      messageId: 'nobase.2@example.org',
    });
    assert.equal(result.applied, 1);
    assert.equal(result.skipped, 1);
    assert.deepEqual(result.conflicts, ['xen/common/sched.c']);
    assert.match(result.error!, /xen\/common\/sched\.c/);
    assert.doesNotMatch(result.error!, /hint:|When you have resolved/);
    assert.equal(result.mangled, null);
    assert.equal(commits.length, 1);
    assert.equal(status(wt.path), '', 'worktree is clean after a failed apply');
    assert.equal(sh(wt.path, 'rev-parse', '--git-path', 'rebase-apply').trim().length > 0, true);
    assert.throws(() => sh(wt.path, 'am', '--show-current-patch'), 'no am in progress');
  });

  it('applies a series posted with Based-on: <earlier series> on top of that series', async () => {
    const clone = contributorClone(up, 'stack', up.staging);
    commitFile(clone, 'xen/common/helper.c', 'int helper(void);\n', 'xen: add helper');
    const earlier = post(clone, 'HEAD~1..HEAD', { id: 'helper', cover: true });
    commitFile(clone, 'xen/common/helper.c', 'int helper(void);\nint helper2(void);\n', 'xen: use helper');
    const later = post(clone, 'HEAD~1..HEAD', {
      id: 'user',
      cover: true,
      coverLines: ['Based-on: <helper.0@example.org>'],
    });
    const known = new Map<string, SeriesToCheck>([['helper.0@example.org', earlier]]);
    const decision = await chooseBase(later, {
      ...ctx(),
      resolveBasedOn: async (id) => known.get(id) ?? null,
    });
    assert.equal(decision.choice.commit, up.staging);
    assert.equal(decision.prerequisites.length, 1);
    assert.match(decision.choice.reason, /^Based-on "xen: add helper" v1, applied first on staging/);
    assert.deepEqual(
      decision.choice.steps.map((s) => `${s.rule}:${s.outcome}`),
      ['base-commit:skipped', 'based-on:chosen'],
    );

    // without the earlier series it cannot apply at all
    const alone = await applySeries(wt.path, decision.choice.commit, later.patches);
    assert.equal(alone.result.ok, false);

    const { result, commits, baseTip } = await applySeries(wt.path, decision.choice.commit, later.patches, {
      prerequisites: decision.prerequisites,
    });
    assert.equal(result.ok, true, result.error ?? '');
    assert.equal(result.applied, 1);
    assert.equal(commits.length, 1);
    assert.notEqual(baseTip, up.staging, 'the baseline is staging plus the earlier series');
  });

  it('reports an unknown Based-on series and falls through to staging', async () => {
    const clone = contributorClone(up, 'orphan', up.staging);
    commitFile(clone, 'xen/common/o.c', 'int o;\n', 'xen: add o.c');
    const s = post(clone, 'HEAD~1..HEAD', {
      id: 'orph',
      cover: true,
      coverLines: ['Based-on: <never@seen>'],
    });
    const { choice } = await chooseBase(s, { ...ctx(), resolveBasedOn: async () => null });
    assert.equal(choice.ref, 'staging');
    const basedOn = choice.steps.find((x) => x.rule === 'based-on')!;
    assert.equal(basedOn.outcome, 'unavailable');
    assert.match(basedOn.detail, /<never@seen>.*listci has not seen/);
  });

  it('reports a patch wrapped by the mail client as mangled', async () => {
    const clone = contributorClone(up, 'wrapped', up.staging);
    const long = `int a_rather_long_variable_name_that_goes_past_the_wrap_column = some_function(arg1, arg2, arg3);`;
    commitFile(clone, 'xen/common/long.c', `${long}\nint after_the_long_line;\n`, 'xen: add long.c');
    const series = post(clone, 'HEAD~1..HEAD', { id: 'wrap' });
    const p = series.patches[0]!;
    // A client that hard-wraps at 72 columns: the tail of the + line becomes a line of its own.
    p.raw = Buffer.from(
      p.raw.toString('utf8').replace(`+${long}`, `+${long.slice(0, 60)}\n${long.slice(60)}`),
    );
    const { choice } = await chooseBase(series, ctx());
    const { result } = await applySeries(wt.path, choice.commit, series.patches);
    assert.equal(result.ok, false);
    assert.match(result.mangled ?? '', /corrupt patch at line \d+/);
    assert.equal(status(wt.path), '');
  });

  it('reports a patch whose blank context lines format=flowed joined as mangled', async () => {
    const clone = contributorClone(up, 'flowed', up.staging);
    // a blank line in the file is the context line " " in the diff: it ends with a space,
    // which format=flowed reads as "this line continues on the next one"
    commitFile(
      clone,
      'xen/common/sched.c',
      schedC({ 10: 'int sched_line_10 = 1000;', 12: '' }),
      'xen: blank line',
    );
    commitFile(
      clone,
      'xen/common/sched.c',
      schedC({ 10: 'int sched_line_10 = 1000;', 12: '', 13: 'int x;' }),
      'xen: x',
    );
    const series = post(clone, 'HEAD~1..HEAD', { id: 'flow' });
    const p = series.patches[0]!;
    const flowed = p.raw
      .toString('utf8')
      .replace(
        /^(Subject: .*)$/m,
        '$1\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8; format=flowed',
      );
    p.raw = Buffer.from(flowed);
    const alone = post(clone, 'HEAD~2..HEAD~1', { id: 'blank' });
    const { choice } = await chooseBase(series, ctx());
    const { result } = await applySeries(wt.path, choice.commit, series.patches, {
      prerequisites: alone.patches,
    });
    assert.equal(result.ok, false);
    assert.match(result.mangled ?? '', /format=flowed/, result.error ?? '');
    assert.equal(result.failedPatch?.number, 1);
    assert.equal(status(wt.path), '');

    // when the mail stage already saw the damage, its words lead
    p.mangled = 'format=flowed re-wrapped the patch';
    const again = await applySeries(wt.path, choice.commit, series.patches, { prerequisites: alone.patches });
    assert.match(again.result.mangled ?? '', /^format=flowed re-wrapped the patch/);
  });

  it('uses --base REF and nothing else when the person gives one', async () => {
    const series = post(threePatches.clone, threePatches.range, { id: 'ex', base: up.oldStaging });
    const { choice } = await chooseBase(series, { ...ctx(), explicitBase: 'master' });
    assert.equal(choice.commit, up.oldStaging);
    assert.deepEqual(
      choice.steps.map((s) => s.rule),
      ['explicit'],
    );
    await assert.rejects(
      chooseBase(series, { ...ctx(), explicitBase: 'no-such-branch' }),
      /--base no-such-branch/,
    );
  });
});

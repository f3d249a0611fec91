// build.perPatch: a maintainer reviewing a 2-patch series wants to know which patch to fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult } from '../../src/contract.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const INBOX = join(ROOT, 'demo/inbox');

test('per-patch mode names the patch that introduced the duplicate symbol', () => {
  const dir = tempDir('listci-per-patch-');
  execFileSync(join(ROOT, 'demo/make-repo.sh'), [join(dir, 'tree')]);
  writeFileSync(
    join(dir, 'listci.yaml'),
    'repo: { url: ./tree, defaultBranch: main }\nbuild: { runner: local, perPatch: true, toolchains: [ { name: gcc, cc: gcc } ] }\n',
  );
  // The bad demo series: 1/2 adds drivers/util.c with a second static parse_one, 2/2 calls it.
  const mails = readdirSync(INBOX)
    .filter((n) => /^0[234]-/.test(n))
    .sort();
  writeFileSync(
    join(dir, 'bad.mbox'),
    mails.map((m) => `From x Fri Nov 27 09:00:00 2026\n${readFileSync(join(INBOX, m), 'utf8')}\n`).join(''),
  );
  const r = runCli(['check', '--mbox', 'bad.mbox', '--json', '--no-record'], { cwd: dir });
  assert.equal(r.code, 1, r.stderr);
  const result = JSON.parse(r.stdout) as CheckResult;
  const gcc = result.builds.find((b) => b.phase === 'series' && b.toolchain === 'gcc');
  assert.deepEqual(
    gcc?.duplicates.new.map((d) => [d.key, d.introducedBy]),
    [['util.c#parse_one', 1]],
  );
  assert.match(r.stderr, /\[gcc\] series make/, 'the extra build shows in the progress');

  const human = runCli(['check', '--mbox', 'bad.mbox', '--no-record'], { cwd: dir });
  assert.match(human.stdout, /new duplicate symbol util\.c#parse_one \(introduced by patch 1\/2\)/);
});

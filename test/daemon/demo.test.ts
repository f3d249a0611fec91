import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from '../helpers/cli.ts';

// What a newcomer sees after `npm start`: the README's main command is `listci daemon --demo`.
test('the demo checks a good and a bad series and writes both replies', () => {
  const cwd = tempDir('listci-demo-');
  writeFileSync(join(cwd, 'listci.yaml'), 'web: { port: 0 }\n'); // a free port: tests run side by side
  const r = runCli(['daemon', '--demo', '--once'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /local runner/);
  assert.match(r.stdout, /see README\.md/);
  assert.match(
    r.stdout,
    /checked "xen\/console: say which console is in use" by Alice Contributor <alice@example\.org>: PASS/,
  );
  assert.match(r.stdout, /checked "serial port parsing" by Bob Newcomer <bob@example\.org>: FAIL/);
  assert.match(r.stdout, /new duplicate symbol util\.c#parse_one \(gcc: common\/util\.o, drivers\/util\.o\)/);
  assert.match(r.stdout, /demo done/);

  const outbox = join(cwd, 'var', 'outbox');
  const replies = readdirSync(outbox).sort();
  assert.equal(replies.length, 2);
  const mails = replies.map((f) => readFileSync(join(outbox, f), 'utf8'));
  const bad = mails.find((m) => /serial port parsing/.test(m));
  assert.ok(bad, 'a reply to the bad series');
  assert.match(bad, /^In-Reply-To: <cover\.\d+\.git\.bob@example\.org>/m);
  assert.match(bad, /^X-Listci-Run: \d+/m);
  assert.match(bad, /util\.c#parse_one/);
  assert.match(bad, /drivers\/util\.o/);
  assert.match(bad, /^ {2}gcc +FAIL /m, 'the table shows the judgement, though make itself passed');

  // The demo's build links (make passes) but the series fails under each toolchain: the
  // maintainer's list shows the judgement, not make's exit code.
  const list = runCli(['query', 'series', '--json'], { cwd });
  assert.equal(list.code, 0, list.stderr);
  const rows = (
    JSON.parse(list.stdout) as {
      items: { title: string; toolchains: { status: string; verdict: string }[] }[];
    }
  ).items;
  const bob = rows.find((r) => r.title === 'serial port parsing');
  assert.ok(bob && bob.toolchains.length > 0);
  for (const t of bob.toolchains) assert.deepEqual([t.status, t.verdict], ['pass', 'fail']);

  // Running it again re-seeds nothing and replies to nothing twice.
  const again = runCli(['daemon', '--demo', '--once'], { cwd });
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /checked "/);
  assert.equal(readdirSync(outbox).length, 2);
});

test('a web port already in use stops the daemon with one line naming web.port (exit 2)', async () => {
  const { createServer } = await import('node:net');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  try {
    const cwd = tempDir('listci-demo-port-');
    writeFileSync(join(cwd, 'listci.yaml'), `web: { port: ${port} }\n`);
    const r = runCli(['daemon', '--demo', '--once'], { cwd });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr.trim().split('\n').pop() ?? '',
      new RegExp(`web\\.port: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`),
    );
  } finally {
    busy.close();
  }
});

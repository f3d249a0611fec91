// Every reply links to `${webUrl}/runs/${id}` (and its Closes: tag names the same URL). The
// link once led to a 404. Here a run is recorded and its reply queued the way the daemon's
// worker does it (recordCheckResult, then queueReply with the configured webUrl), the link
// is read out of the stored reply, pointed at a real server, and followed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { CheckResult } from '../../src/contract.ts';
import { openDb } from '../../src/db/open.ts';
import { recordCheckResult } from '../../src/db/runs.ts';
import { ingestMessages } from '../../src/ingest/process.ts';
import { loadSeriesToCheck } from '../../src/series/load.ts';
import { reproduceLine } from '../../src/report/render.ts';
import { queueReply } from '../../src/report/reply.ts';
import { startWebServer, type WebServer } from '../../src/web/server.ts';
import { replyConfig } from '../report/support.ts';

const WEB_URL = 'https://ci.example.org/listci';
const LIST = 'xen-devel@lists.xenproject.org';
const HEAD = '20240301101500.1-1-jane@example.org';

let dir: string;
let server: WebServer;
let runId: number;
let seriesId: number;
let replyText: string;

const result = JSON.parse(
  readFileSync(new URL('../fixtures/report/fail-two-new-duplicates-clang.json', import.meta.url), 'utf8'),
) as CheckResult;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'listci-run-link-'));
  const dbPath = join(dir, 'listci.db');
  const db = openDb(dbPath);
  const mail = [
    'From: Jane Doe <jane@example.org>',
    `To: ${LIST}`,
    `Subject: [PATCH] ${result.series.title}`,
    'Date: Fri, 01 Mar 2024 10:15:00 +0000',
    `Message-ID: <${HEAD}>`,
    '',
    'Signed-off-by: Jane Doe <jane@example.org>',
    '---',
    'diff --git a/xen/arch/x86/hvm/hvm.c b/xen/arch/x86/hvm/hvm.c',
    '--- a/xen/arch/x86/hvm/hvm.c',
    '+++ b/xen/arch/x86/hvm/hvm.c',
    '@@ -1,1 +1,2 @@',
    ' int x;',
    '+int y;',
    '',
  ].join('\r\n');
  const cfg = {
    list: { name: 'xen-devel', addresses: [LIST] },
    series: { groupWindowMinutes: 120, maxPatches: 200 },
  };
  const versionId = ingestMessages(db, [Buffer.from(mail)], 'test:run-link', cfg).versions[0]!;
  seriesId = db
    .prepare('SELECT series_id FROM series_versions WHERE id = ?')
    .pluck()
    .get(versionId) as number;
  const series = loadSeriesToCheck(db, versionId);
  runId = recordCheckResult(db, { result, versionId, origin: 'mail' });
  await queueReply(db, {
    reply: replyConfig({ outbox: join(dir, 'outbox'), webUrl: WEB_URL }),
    listAddress: LIST,
    input: {
      result,
      runId,
      reproduce: reproduceLine(HEAD),
      head: {
        subject: `[PATCH] ${result.series.title}`,
        messageId: HEAD,
        references: [],
        author: series.author,
      },
    },
  });
  const raw = db.prepare('SELECT raw FROM replies WHERE run_id = ?').pluck().get(runId) as Buffer;
  replyText = (await simpleParser(raw)).text ?? '';
  db.close();
  server = await startWebServer({ dbPath, host: '127.0.0.1', port: 0, workDir: dir });
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The reply's link, moved from the configured webUrl onto the test server. */
function onTestServer(link: string): string {
  assert.ok(link.startsWith(`${WEB_URL}/`), link);
  return server.url + link.slice(WEB_URL.length);
}

test("the reply's results link and Closes: tag both name the run's URL", () => {
  const links = [
    /^Full logs and results: (\S+)$/m.exec(replyText)?.[1],
    /^ {2}Closes: (\S+)$/m.exec(replyText)?.[1],
  ];
  assert.deepEqual(links, [`${WEB_URL}/runs/${runId}`, `${WEB_URL}/runs/${runId}`], replyText);
});

test('following the link gets 200 and the page of that run: verdict, new duplicates, the reply, its series', async () => {
  const link = /^Full logs and results: (\S+)$/m.exec(replyText)![1]!;
  const res = await fetch(onTestServer(link));
  assert.equal(res.status, 200);
  assert.match(String(res.headers.get('content-type')), /^text\/html/);
  const body = await res.text();
  assert.match(body, new RegExp(`<section class="run" id="run-${runId}">`));
  assert.match(body, new RegExp(`Run ${runId} <span class="badge fail"`));
  assert.match(body, /fail: 2 new duplicate symbols under clang-14/);
  assert.match(body, /vmx\.c#cpu_callback/);
  assert.match(body, /Reply pending/, 'the reply listci queued for this run is shown');
  // From the run to the whole series, where the same run is one section among its versions.
  const seriesLink = new RegExp(`href="(/series/${seriesId}#run-${runId})"`).exec(body)?.[1];
  assert.ok(seriesLink, body);
  const series = await fetch(server.url + seriesLink);
  assert.equal(series.status, 200);
  assert.match(await series.text(), new RegExp(`id="run-${runId}"`));
});

test('a run that does not exist, or is not a number, is a 404 page, not an error', async () => {
  for (const path of [`/runs/${runId + 1000}`, '/runs/abc', '/runs/0', '/runs/99999999999999999999']) {
    const res = await fetch(server.url + path);
    assert.equal(res.status, 404, path);
    assert.match(await res.text(), /No run has the id/, path);
  }
});

import { skipUnlessCi } from '../helpers/prerequisite.ts';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { openDb } from '../../src/db/open.ts';
import { PublicInboxPoller, PublicInboxReader } from '../../src/ingest/public-inbox.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  publicInboxMissing,
  seriesMails,
  startPublicInbox,
  TEST_LIST_CONFIG,
  type TestInbox,
} from '../helpers/public-inbox.ts';
import { waitFor } from '../daemon/harness.ts';

// The daemon's loop over an archive that goes away: lore answering 503 for a while. It
// backs off (each wait twice the last, from the poll interval), and once the archive
// answers again it stores what was posted meanwhile, once.

const skip = skipUnlessCi(publicInboxMissing());
const CFG = TEST_LIST_CONFIG;

let inbox: TestInbox;
let proxy: Server;
let down = false;
let proxyUrl: string;
before(async () => {
  if (skip) return;
  inbox = await startPublicInbox({ name: 'test-devel' });
  const upstream = new URL(inbox.url);
  // In front of public-inbox-httpd: passes everything through, or answers 503 while `down`.
  proxy = createServer((req, res) => {
    if (down) return void res.writeHead(503).end('down for maintenance');
    const fwd = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(fwd);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${upstream.pathname}`;
});
after(async () => {
  proxy?.close();
  await inbox?.stop();
});

test(
  'an archive that answers 503 is retried with a growing wait, and read once it is back',
  { skip },
  async () => {
    const dir = tempDir('listci-pi-poll-');
    const db = openDb(join(dir, 'listci.db'));
    const lines: { msg: string; retryInMs?: number }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as { msg: string; retryInMs?: number });
          done();
        },
      }),
    );
    const reader = new PublicInboxReader(db, CFG, {
      url: proxyUrl,
      mirrorDir: join(dir, 'mirror'),
      since: null,
    });
    let woken = 0;
    const poller = new PublicInboxPoller(reader, 100, log, () => woken++);
    try {
      down = true;
      poller.start();
      await waitFor(() => lines.filter((l) => l.retryInMs).length >= 4, '4 failed syncs', 10_000);
      const waits = lines.flatMap((l) => (l.retryInMs ? [l.retryInMs] : [])).slice(0, 4);
      assert.deepEqual(waits, [100, 200, 400, 800], 'each wait twice the last');

      const mails = seriesMails({ tag: 'while-down', n: 2, to: inbox.address });
      for (const m of mails) await inbox.deliver(m);
      down = false;
      await waitFor(
        () => (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n === 3,
        'the mail posted during the outage stored',
        15_000,
      );
      assert.ok(woken >= 1, 'the daemon is woken for new mail');
      await new Promise((r) => setTimeout(r, 500)); // a few more polls: nothing read twice
      assert.equal((db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 3);
    } finally {
      const t = Date.now();
      await poller.stop();
      assert.ok(Date.now() - t < 2000, 'stop does not wait out a backoff');
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

// The archive's manifest names its epochs, served by whoever answers at the URL: it may not send
// listci's mirror to another host or to a file on this machine, nor fill its memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { listEpochs } from '../../src/ingest/public-inbox-git.ts';

async function serving(body: Buffer): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = createServer((_, res) => res.end(body));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  if (!addr || typeof addr !== 'object') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${addr.port}/test-devel`,
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

test('epochs outside the archive are left out; an oversized manifest is refused', async () => {
  const manifest = {
    '/test-devel/git/0.git': { fingerprint: 'aa', modified: 1 },
    '//evil.example.org/test-devel/git/1.git': { fingerprint: 'bb', modified: 2 },
    'file:///etc/test-devel/git/2.git': { fingerprint: 'cc', modified: 3 },
    '/test-devel/git/3.git': { fingerprint: 'dd', modified: 4 },
  };
  const s = await serving(gzipSync(JSON.stringify(manifest)));
  try {
    const epochs = await listEpochs(s.url, 5000);
    assert.deepEqual(
      epochs.map((e) => [e.n, e.url]),
      [
        [0, `${s.url}/git/0.git`],
        [3, `${s.url}/git/3.git`],
      ],
    );
  } finally {
    await s.close();
  }

  const bomb = await serving(gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)));
  try {
    await assert.rejects(
      listEpochs(bomb.url, 5000),
      /manifest\.js\.gz: does not unpack within 16777216 bytes/,
    );
  } finally {
    await bomb.close();
  }
});

// The web page as served: mail-written strings render as text, the CSP forbids script.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { filledWebApp, type FilledDb } from '../helpers/fill-db.ts';

let filled: FilledDb;
let app: FastifyInstance;
let close: () => Promise<void>;

before(async () => {
  ({ filled, app, close } = await filledWebApp('listci-page-'));
});

after(() => close());

test('a subject and author name full of HTML render as text on the list and the detail view', async () => {
  const list = await app.inject({ url: '/' });
  assert.equal(list.statusCode, 200);
  const hostileId = /href="\/series\/(\d+)">&#60;script&#62;/.exec(list.body)?.[1];
  assert.ok(hostileId, 'the hostile subject is listed, escaped');
  for (const res of [list, await app.inject({ url: `/series/${hostileId}` })]) {
    assert.doesNotMatch(res.body, /<script/i);
    assert.doesNotMatch(res.body, /<img/i);
    assert.doesNotMatch(res.body, /<b>bold/);
    assert.match(res.body, /&#60;img src=x onerror=alert\(1\)&#62;/);
    assert.doesNotMatch(res.body, /\u001b/, 'no raw ESC byte reaches the page');
  }
});

test('every page carries a CSP that allows no script and no foreign origin', async () => {
  for (const url of ['/', '/series/1', '/api/series', '/static/listci.css']) {
    const res = await app.inject({ url });
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/, url);
    assert.doesNotMatch(csp, /script-src|unsafe-inline/, url);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  }
});

test('the list filters by author, verdict and toolchain through the form fields', async () => {
  const byAuthor = await app.inject({ url: '/?author=Grall&subject=&verdict=&toolchain=' });
  assert.match(byAuthor.body, /xen\/arm: vgic: constify the MMIO handlers/);
  assert.doesNotMatch(byAuthor.body, /credit2/);
  const gccFail = await app.inject({ url: '/?verdict=fail&toolchain=gcc-12' });
  assert.equal((gccFail.body.match(/<tr class="series"/g) ?? []).length, 1);
  assert.match(gccFail.body, /<option value="gcc-12"\s+selected>/);
});

test('the detail view shows versions, the base and why, the new duplicate symbol and the reply', async () => {
  const res = await app.inject({
    url: `/series/${encodeURIComponent(filled.series.hvm.headMessageIds[0]!)}`,
  });
  assert.equal(res.statusCode, 200);
  const b = res.body;
  assert.match(b, /id="v1"/);
  assert.match(b, /id="v2"/);
  assert.match(b, /default branch staging \(no base-commit trailer\)/);
  assert.match(b, /<span class="symbol">hvm.c#cpu_callback<\/span> under clang/);
  assert.match(b, /Reply sent/);
  assert.match(b, /href="\/api\/builds\/\d+\/log"/);
  assert.equal((await app.inject({ url: '/series/nothing%40here' })).statusCode, 404);
});

test('two inline SVG charts: weekly pass/fail per toolchain, and mail-to-reply latency', async () => {
  const res = await app.inject({ url: '/' });
  const charts = res.body.match(/<svg\s+class="chart"[^>]*aria-label="([^"]+)"/g) ?? [];
  assert.equal(charts.length, 2);
  assert.match(res.body, /aria-label="pass and fail per toolchain per week"/);
  assert.match(res.body, /aria-label="mail-to-reply latency"/);
  assert.equal((res.body.match(/<circle /g) ?? []).length, 5, 'one dot per reply sent');
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig, withSecrets } from '../../src/config/load.ts';
import { mailboxLookup } from '../../src/daemon/sources.ts';

const root = new URL('../../config/', import.meta.url).pathname;

test('the zero-account lore config needs no secret, replies dry-run and serves the web page', () => {
  const cfg = withSecrets(loadConfig({ path: join(root, 'xen-devel-lore.yaml'), env: {} }), {});
  assert.deepEqual(
    { ...cfg.mail.source },
    {
      type: 'public-inbox',
      url: 'https://lore.kernel.org/xen-devel',
      pollSeconds: 300,
      since: '1d',
      mirror: null,
    },
  );
  assert.equal(cfg.reply.dryRun, true);
  assert.equal(cfg.reply.smtp, null);
  assert.equal(cfg.web.enabled, true);
  assert.ok(mailboxLookup(cfg), 'the outbox looks replies up in the archive');
});

test('a public-inbox source: a local path is made absolute, a bad since is refused', () => {
  const ctx = { source: 'test', baseDir: '/srv/listci' };
  const cfg = parseConfig({ mail: { source: { type: 'public-inbox', url: 'archive/xen-devel' } } }, ctx);
  assert.equal(
    cfg.mail.source.type === 'public-inbox' && cfg.mail.source.url,
    '/srv/listci/archive/xen-devel',
  );
  assert.throws(
    () => parseConfig({ mail: { source: { type: 'public-inbox', url: 'x', since: 'yesterday' } } }, ctx),
    ConfigError,
  );
});

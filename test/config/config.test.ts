import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/load.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

function configFile(yaml: string): { dir: string; path: string } {
  const dir = tempDir();
  const path = join(dir, 'listci.yaml');
  writeFileSync(path, yaml);
  return { dir, path };
}

test('with no config file, everything stays local under ./var', () => {
  const dir = tempDir();
  const cfg = loadConfig({ cwd: dir, env: {} });
  assert.equal(cfg.source, 'embedded defaults');
  assert.equal(cfg.database, join(dir, 'var/listci.db'));
  assert.deepEqual(cfg.mail.source, { type: 'maildir', path: join(dir, 'var/inbox'), pollSeconds: 2 });
  assert.equal(cfg.reply.dryRun, true, 'replies are written as .eml files, not sent');
  assert.equal(cfg.reply.outbox, join(dir, 'var/outbox'));
  assert.equal(cfg.web.host, '127.0.0.1');
});

test('--config wins over LISTCI_CONFIG, which wins over ./listci.yaml', () => {
  const a = configFile('list: { name: from-flag }\n');
  const b = configFile('list: { name: from-env }\n');
  writeFileSync(join(a.dir, 'listci.yaml'), 'list: { name: from-cwd }\n');
  assert.equal(
    loadConfig({ path: b.path, cwd: a.dir, env: { LISTCI_CONFIG: a.path } }).list.name,
    'from-env',
  );
  assert.equal(loadConfig({ cwd: a.dir, env: { LISTCI_CONFIG: b.path } }).list.name, 'from-env');
  assert.equal(loadConfig({ cwd: a.dir, env: {} }).list.name, 'from-cwd');
});

test('the shipped example configs are valid', () => {
  const root = new URL('../../config/', import.meta.url).pathname;
  for (const name of ['listci.example.yaml', 'xen-devel.yaml', 'contributor.yaml']) {
    const cfg = loadConfig({
      path: join(root, name),
      env: { LISTCI_IMAP_PASSWORD: 'x', LISTCI_SMTP_PASSWORD: 'y' },
    });
    assert.ok(cfg.build.toolchains.length >= 1, name);
  }
  const xen = loadConfig({
    path: join(root, 'xen-devel.yaml'),
    env: { LISTCI_IMAP_PASSWORD: 'x', LISTCI_SMTP_PASSWORD: 'y' },
  });
  assert.deepEqual(xen.list.addresses.sort(), ['xen-devel@lists.xen.org', 'xen-devel@lists.xenproject.org']);
  assert.ok(xen.build.recipe.configFragment.includes('CONFIG_LIVEPATCH=y'));
  assert.ok(xen.build.recipe.configFragment.includes('CONFIG_ENFORCE_UNIQUE_SYMBOLS=y'));
});

test('the contributor config needs no secret at all', () => {
  const root = new URL('../../config/', import.meta.url).pathname;
  const cfg = loadConfig({ path: join(root, 'contributor.yaml'), env: {} });
  assert.deepEqual(
    cfg.build.toolchains.map((t) => t.name),
    ['gcc-12', 'gcc-11', 'clang-14'],
  );
  assert.equal(cfg.reply.policy, 'never');
});

test('a secret is read from the named file or environment variable', () => {
  const { dir, path } = configFile(`
mail:
  source: { type: imap, host: imap.example.org, user: bot, password: { file: imap.pw } }
reply:
  smtp: { host: smtp.example.org, password: { env: SMTP_PW } }
`);
  writeFileSync(join(dir, 'imap.pw'), 's3cret\n');
  const cfg = loadConfig({ path, env: { SMTP_PW: 'other' } });
  assert.equal(cfg.secrets.imapPassword, 's3cret');
  assert.equal(cfg.secrets.smtpPassword, 'other');
});

// Each bad config fails with one line that names the key and the problem, and exit code 2.
const bad: [string, string, RegExp][] = [
  ['a wrong type', 'build:\n  makeJobs: "lots"\n', /build\.makeJobs: expected number, got string "lots"$/],
  ['an unknown key', 'reply:\n  polcy: always\n', /reply\.polcy: unknown key$/],
  [
    'a missing secret file',
    'reply:\n  smtp: { host: smtp.example.org, password: { file: /nonexistent/smtp.pw } }\n',
    /reply\.smtp\.password: secret file not found: \/nonexistent\/smtp\.pw$/,
  ],
  [
    'an unset secret variable',
    'reply:\n  smtp: { host: smtp.example.org, password: { env: LISTCI_TEST_UNSET_PW } }\n',
    /reply\.smtp\.password: environment variable LISTCI_TEST_UNSET_PW is not set$/,
  ],
  [
    'an inline secret',
    'reply:\n  smtp: { host: h, password: hunter2 }\n',
    /reply\.smtp\.password: a secret is never inline/,
  ],
  ['a bad enum value', 'reply:\n  policy: sometimes\n', /reply\.policy: .*"always"/],
  ['broken YAML', 'reply: [\n', /not valid YAML/],
];

for (const [what, yaml, expected] of bad) {
  test(`a config with ${what} is refused with one line naming the key (exit 2)`, () => {
    const { path } = configFile(yaml);
    assert.throws(
      () => loadConfig({ path, env: {} }),
      (e: unknown) => e instanceof ConfigError && expected.test(e.message),
    );
    const r = runCli(['db', 'status', '--config', path]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got:\n${r.stderr}`);
    assert.match(r.stderr.trim(), expected);
    assert.ok(r.stderr.includes(path), 'names the file');
  });
}

test('a config file that does not exist is an error, not a silent fallback to defaults', () => {
  const r = runCli(['db', 'status', '--config', '/nonexistent/listci.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\/nonexistent\/listci\.yaml: file not found/);
});

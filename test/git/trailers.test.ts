import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readBaseTrailers } from '../../src/git/trailers.ts';
import type { SeriesToCheck } from '../../src/series/types.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const PATCH_ID = 'fedcba9876543210fedcba9876543210fedcba98';

/** A cover letter as a list delivers it from a client that quoted-printable encodes bodies. */
const qpCover = Buffer.from(
  [
    'From: Alice <alice@example.org>',
    'Subject: [PATCH v2 0/2] xen/arm: use the new helper',
    'Message-ID: <cover.v2@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'This goes on top of Bob=E2=80=99s series.',
    '',
    'Based-on: 20240501.1234-1-bob@example.org',
    '',
    `base-commit: ${SHA}`,
    `prerequisite-patch-id: ${PATCH_ID}`,
    '',
  ].join('\r\n'),
);

function series(cover: Buffer | null, patchBodies: string[]): SeriesToCheck {
  return {
    title: 't',
    version: 2,
    author: 'Alice <alice@example.org>',
    tags: [],
    cover: cover ? { messageId: 'cover.v2@example.org', subject: 's', raw: cover } : null,
    patches: patchBodies.map((b, i) => ({
      number: i + 1,
      total: patchBodies.length,
      subject: `p${i + 1}`,
      messageId: null,
      raw: Buffer.from(`From: Alice <alice@example.org>\nSubject: [PATCH] p${i + 1}\n\n${b}\n`),
      mangled: null,
    })),
    missing: [],
  };
}

describe('base trailers', () => {
  it('reads base-commit, prerequisite-patch-id and a bracketless Based-on from a quoted-printable cover', async () => {
    const t = await readBaseTrailers(series(qpCover, ['diff --git a/x b/x']));
    assert.deepEqual(t.baseCommit, { sha: SHA, source: 'cover letter' });
    assert.deepEqual(t.prerequisitePatchIds, [PATCH_ID]);
    assert.deepEqual(t.basedOn, [{ messageId: '20240501.1234-1-bob@example.org', source: 'cover letter' }]);
  });

  it('takes a base-commit pasted into patch 2/2 when there is no cover letter', async () => {
    const t = await readBaseTrailers(
      series(null, ['no trailer here', `---\nbase-commit: ${SHA.toUpperCase()}`]),
    );
    assert.deepEqual(t.baseCommit, { sha: SHA, source: 'patch 2/2' });
    assert.deepEqual(t.basedOn, []);
  });

  it('ignores a quoted base-commit that is not a full sha', async () => {
    const t = await readBaseTrailers(series(null, ['> base-commit: 0123456', 'base-commit: 0123456']));
    assert.equal(t.baseCommit, null);
  });
});

// What a maintainer reads when the live-patching options did not make it into the build's .config.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyFragment } from '../../src/build/recipe.ts';

const config = [
  'CONFIG_X86_64=y',
  'CONFIG_LIVEPATCH=y',
  '# CONFIG_ENFORCE_UNIQUE_SYMBOLS is not set',
  'CONFIG_NR_CPUS=256',
].join('\n');

it('accepts a fragment that took effect, including "is not set" lines and values', () => {
  assert.deepEqual(
    verifyFragment(config, ['CONFIG_LIVEPATCH=y', 'CONFIG_NR_CPUS=256', '# CONFIG_DEBUG is not set']),
    [],
  );
});

it('names the option, what was asked and what .config has instead', () => {
  assert.deepEqual(
    verifyFragment(config, ['CONFIG_LIVEPATCH=y', 'CONFIG_ENFORCE_UNIQUE_SYMBOLS=y', 'CONFIG_NO_SUCH=y']),
    [
      "CONFIG_ENFORCE_UNIQUE_SYMBOLS=y requested but .config has '# CONFIG_ENFORCE_UNIQUE_SYMBOLS is not set'",
      'CONFIG_NO_SUCH=y requested but .config has no CONFIG_NO_SUCH line',
    ],
  );
});

it('rejects a fragment line that is not a config assignment', () => {
  assert.deepEqual(verifyFragment(config, ['LIVEPATCH=y']), [
    "config fragment line 'LIVEPATCH=y' is neither CONFIG_X=value nor '# CONFIG_X is not set'",
  ]);
});

// The same behaviour with build.runner: local (host processes). Isolation is not claimed, and the
// isolation tests say so when they skip.
import { LocalRunner } from '../../src/build/local.ts';
import { runnerSuite, toolchain } from './suite.ts';

runnerSuite(
  'local runner',
  () => new LocalRunner(),
  [toolchain('gcc', 'gcc', null), toolchain('clang', 'clang', null)],
  () => 'host',
);

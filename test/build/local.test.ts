// The same behaviour with build.runner: local (host processes). Isolation is not claimed: the
// isolation tests are the container runner's, and here one test checks the runner says so.
import { LocalRunner } from '../../src/build/local.ts';
import { runnerSuite, toolchain } from './suite.ts';

runnerSuite(
  'local runner',
  () => new LocalRunner(),
  [toolchain('gcc', 'gcc', null), toolchain('clang', 'clang', null)],
  () => 'host',
  false,
);

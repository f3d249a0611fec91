import type { ProgressEvent } from '../build/toolchain-build.ts';
import { applyLine, baseLine } from '../result-words.ts';
import type { CheckProgress } from './check.ts';

/** A build's progress event in words: "make", "done: pass", why it starts clean. */
export function progressWords(e: ProgressEvent): string {
  switch (e.state) {
    case 'step':
      return e.step;
    case 'done':
      return `done: ${e.status}`;
    case 'start':
      return e.mode.reason;
    default:
      return e.state;
  }
}

/** One line of a check's progress, as `listci check` prints it and the daemon logs it. */
export function progressLine(p: CheckProgress): string {
  switch (p.stage) {
    case 'mirror':
      return `mirror ${p.detail}`;
    case 'base':
      return `base ${baseLine(p.base)}`;
    case 'apply':
      return `apply ${applyLine(p.apply)}`;
    case 'build':
      return `[${p.event.toolchain}] ${p.event.phase} ${progressWords(p.event)}`;
  }
}

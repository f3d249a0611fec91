// Headers that mark a mail as listci's own. The classifier reads them so that
// listci never answers itself; the reply writer sets them on every mail it sends.

/** Carries the run id; present on every mail listci sends. */
export const RUN_HEADER = 'X-Listci-Run';
/** RFC 3834: tells other robots (and listci) not to answer. */
export const AUTO_SUBMITTED = 'Auto-Submitted';
export const AUTO_SUBMITTED_VALUE = 'auto-generated';

/** True for a mail that listci (any instance) sent: header names are case-insensitive. */
export function isListciMail(headerNames: Iterable<string>): boolean {
  for (const h of headerNames) if (h.toLowerCase() === RUN_HEADER.toLowerCase()) return true;
  return false;
}

// mbox files: `git format-patch --stdout`, b4/lore downloads (mboxrd), mutt and
// Thunderbird exports (mboxo). Each message starts with a "From " postmark line.

export type MboxFlavour = 'mboxrd' | 'mboxo';

// "From 1a2b3c Mon Sep 17 00:00:00 2001", "From jane@example.org Tue Jan  2 10:00:00 2024":
// a sender token and a time. A commit message line "From now on ..." is not a postmark.
const POSTMARK = /^From \S+ .*\d\d:\d\d(:\d\d)?/;

/**
 * Yields each message's bytes without its postmark line, with the ">From " quoting
 * undone: mboxrd strips one '>' from any ">...>From ", mboxo only from ">From ".
 */
export function* splitMbox(buf: Buffer, flavour: MboxFlavour = 'mboxrd'): Generator<Buffer> {
  let start = -1;
  let pos = 0;
  while (pos < buf.length) {
    let eol = buf.indexOf(10, pos);
    if (eol < 0) eol = buf.length;
    if (buf[pos] === 0x46 /* F */ && isPostmark(buf, pos, eol)) {
      if (start >= 0) yield unescape(buf.subarray(start, pos), flavour);
      start = eol + 1;
    }
    pos = eol + 1;
  }
  if (start >= 0 && start < buf.length) yield unescape(buf.subarray(start), flavour);
}

function isPostmark(buf: Buffer, pos: number, eol: number): boolean {
  if (buf[pos + 1] !== 0x72 || buf[pos + 2] !== 0x6f || buf[pos + 3] !== 0x6d || buf[pos + 4] !== 0x20)
    return false;
  return POSTMARK.test(buf.toString('latin1', pos, Math.min(eol, pos + 200)));
}

const RD = /^>(>*From )/gm;
const O = /^>(From )/gm;

function unescape(msg: Buffer, flavour: MboxFlavour): Buffer {
  // The blank line before the next postmark belongs to the mbox, not to the mail.
  let end = msg.length;
  if (end >= 2 && msg[end - 1] === 10 && msg[end - 2] === 10) end -= 1;
  else if (end >= 4 && msg.toString('latin1', end - 4, end) === '\r\n\r\n') end -= 2;
  const body = msg.subarray(0, end);
  if (body.indexOf('>From ') < 0 && body.indexOf('>>') < 0) return body;
  const s = body.toString('latin1');
  return Buffer.from(s.replace(flavour === 'mboxrd' ? RD : O, '$1'), 'latin1');
}

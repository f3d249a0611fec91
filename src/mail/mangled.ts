// Patches damaged on the way by the sender's mail client. `git am` then fails with
// "corrupt patch at line N", which tells the contributor nothing; saying "your mail
// client re-wrapped line 12 of xen/common/foo.c" does.
import type { ParsedMessage } from './parse.ts';

/** A human reason when the patch in this mail looks damaged, else null. */
export function detectMangled(msg: ParsedMessage): string | null {
  const sources = [{ text: msg.body, flowed: msg.bodyFlowed }, ...msg.patchParts];
  for (const s of sources) {
    const hunk = checkHunks(s.text);
    if (!hunk) continue;
    return s.flowed
      ? `format=flowed re-wrapped the patch: ${hunk}`
      : `wrapped lines broke the patch: ${hunk}`;
  }
  for (const s of sources) {
    if (!s.flowed) continue;
    const soft = softBreak(s.text);
    if (soft) return `format=flowed re-wrapped the patch: ${soft}`;
  }
  return null;
}

const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

/**
 * Walks every hunk and checks that its lines add up to the counts in its header. A long
 * line wrapped by the client adds a line that starts with neither ' ', '+' nor '-'.
 */
export function checkHunks(text: string): string | null {
  const lines = text.split(/\r?\n/);
  let file = '(unknown file)';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('+++ ')) file = line.slice(4).replace(/^b\//, '').trim();
    const h = HUNK.exec(line);
    if (!h) continue;
    let oldLeft = h[1] === undefined ? 1 : Number(h[1]);
    let newLeft = h[2] === undefined ? 1 : Number(h[2]);
    let j = i + 1;
    while ((oldLeft > 0 || newLeft > 0) && j < lines.length) {
      const l = lines[j]!;
      const c = l[0];
      if (c === ' ' || l === '') {
        oldLeft--;
        newLeft--;
      } else if (c === '-') oldLeft--;
      else if (c === '+') newLeft--;
      else if (c !== '\\') {
        return `hunk "${line}" in ${file} breaks at line ${j + 1} of the body ("${l.slice(0, 40)}") with ${oldLeft} old / ${newLeft} new lines still expected`;
      }
      j++;
    }
    if (oldLeft < 0 || newLeft < 0) return `hunk "${line}" in ${file} has more lines than its header says`;
    if (oldLeft > 0 || newLeft > 0)
      return `hunk "${line}" in ${file} ends early: ${oldLeft} old / ${newLeft} new lines missing`;
    // The last line of a hunk wrapped: the counts add up, and the tail dangles after it.
    const last = lines[j - 1] ?? '';
    const next = lines[j];
    if (next && last.length >= 60 && !/^(@@|diff |-- ?$|--- |\\|index |Index: |[ +-])/.test(next))
      return `hunk "${line}" in ${file} is followed by a stray line ${j + 1} ("${next.slice(0, 40)}"): a long line was wrapped`;
    i = j - 1;
  }
  return null;
}

/**
 * format=flowed marks a soft line break with a trailing space; inside a diff that means
 * the client joined or split lines. Only diff lines count: prose may end in a space.
 */
function softBreak(text: string): string | null {
  const lines = text.split(/\r?\n/);
  let inDiff = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('diff --git ') || HUNK.test(l)) inDiff = true;
    if (l === '-- ') inDiff = false;
    if (inDiff && /[^ ] $/.test(l) && /^[+-]/.test(l) && !/^(---|\+\+\+) /.test(l))
      return `line ${i + 1} of the body ends in a soft line break ("${l.slice(0, 40)}")`;
  }
  return null;
}

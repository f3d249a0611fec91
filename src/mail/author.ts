// Who wrote the mail. Mailman rewrites From for senders with a strict DMARC policy
// ("Jane Doe via Xen-devel <xen-devel@lists.xenproject.org>") and keeps the real
// address in Reply-To or Cc; grouping by author needs the real one.
//
// Everything here reads headers anyone can write, so it runs in time linear in the
// header: string scans, and patterns that read each character a bounded number of times.
import type { ParsedMessage } from './parse.ts';

export interface Author {
  name: string | null;
  addr: string; // lower-case; "unknown@invalid" when the mail names nobody
}

/**
 * Is this one of the list's own addresses? `lists` is every address the list is known by
 * (config list.addresses: xen-devel is reachable under two domains, and both are listed).
 */
export function sameListAddress(a: string, lists: readonly string[]): boolean {
  const addr = a.toLowerCase();
  return lists.some((l) => l.toLowerCase() === addr);
}

/** The mail's author; `lists` is every address of the list (config list.addresses). */
export function authorOf(msg: ParsedMessage, lists: readonly string[]): Author {
  const addr = msg.fromAddr ?? 'unknown@invalid';
  const name = msg.fromName;
  if (!sameListAddress(addr, lists)) return { name, addr };
  const realName = name === null ? null : withoutVia(name);
  // parse.ts imports this module: reading the headers here rather than through its
  // headerValue keeps the two from importing each other.
  const header = (n: string) => msg.headers.find((h) => h[0] === n)?.[1] ?? null;
  const original = header('x-original-from');
  if (original) {
    const o = parseAddress(original);
    if (o.addr) return { name: o.name ?? realName, addr: o.addr };
  }
  for (const h of ['reply-to', 'cc']) {
    for (const one of (header(h) ?? '').split(',')) {
      const a = parseAddress(one);
      if (a.addr && !sameListAddress(a.addr, lists) && (h === 'reply-to' || a.name === realName))
        return { name: a.name ?? realName, addr: a.addr };
    }
  }
  return { name: realName, addr };
}

/** "Jane Doe via Xen-devel" → "Jane Doe"; "'Jane Doe' via Xen-devel" → "Jane Doe". */
function withoutVia(name: string): string {
  // One leading \s rather than \s+: \s+ would rescan a long run of blanks from each of them.
  const cut = name.replace(/\svia\s+\S+$/i, '').trimEnd();
  return cut.length >= 2 && cut.startsWith("'") && cut.endsWith("'") ? cut.slice(1, -1) : cut;
}

export interface ParsedAddress {
  name: string | null;
  /** Lower-case; null when no plausible single address was found. */
  addr: string | null;
}

/**
 * One mailbox out of a From-like header: `Name <addr>`, `"Name" <addr>`, `addr (Name)` or a
 * bare `addr`. The address must be one plain addr-spec (see isPlainAddress): whatever else
 * a header puts in angle brackets is not somebody listci can reply to.
 */
export function parseAddress(v: string): ParsedAddress {
  return angleForm(v) ?? parenForm(v) ?? { name: null, addr: bareAddress(v) };
}

// The characters that end a token of an address: blanks, brackets and quotes.
const ADDR_END = /[\s<>"()]/;

/** The first `<addr>` in the value, and the name before it. */
function angleForm(v: string): ParsedAddress | null {
  let open = v.indexOf('<');
  while (open >= 0) {
    const close = v.indexOf('>', open + 1);
    if (close < 0) return null;
    // "<a <b@c>": the address starts after the last '<' before the '>'. Walking forward to
    // it, never back, reads each character once however many brackets there are.
    let next = v.indexOf('<', open + 1);
    while (next >= 0 && next < close) {
      open = next;
      next = v.indexOf('<', open + 1);
    }
    const inside = v.slice(open + 1, close);
    if (isPlainAddress(inside)) return { name: displayName(v.slice(0, open)), addr: inside.toLowerCase() };
    open = next;
  }
  return null;
}

/** `addr (Name)`: the address first, the name in the comment after it. */
function parenForm(v: string): ParsedAddress | null {
  const s = v.trimStart();
  const end = s.search(ADDR_END);
  if (end <= 0) return null;
  const addr = s.slice(0, end);
  const rest = s.slice(end).trimStart();
  const close = rest.lastIndexOf(')');
  if (!rest.startsWith('(') || close < 0 || !isPlainAddress(addr)) return null;
  return { name: cleanName(rest.slice(1, close)), addr: addr.toLowerCase() };
}

// A whole token (between blanks, brackets and quotes) with an '@' in it. The lookbehind
// lets a match start only where a token starts, so each token is read once, not once from
// each of its characters.
const TOKEN_WITH_AT = /(?<![^\s<>"])[^\s<>"]*@[^\s<>"]*/g;

/** The first token anywhere in the value that is an address. */
function bareAddress(v: string): string | null {
  for (const m of v.matchAll(TOKEN_WITH_AT)) if (isPlainAddress(m[0])) return m[0].toLowerCase();
  return null;
}

/**
 * local@domain with exactly one '@' and nothing that separates or quotes addresses: no
 * blanks, control characters, commas, semicolons, colons, quotes, brackets or backslashes.
 * Quoted local parts and domain literals are legal in RFC 5322, unused on the list, and
 * would let an address read differently to different parsers.
 */
export function isPlainAddress(a: string): boolean {
  // SMTP's own limits (RFC 5321): 64 characters of local part, 255 of domain.
  if (a.length > 320) return false;
  const at = a.indexOf('@');
  return (
    at > 0 && at < a.length - 1 && a.indexOf('@', at + 1) < 0 && !/[\s\x00-\x1f\x7f,;:"<>()[\]\\]/.test(a)
  );
}

/** The display name in front of `<addr>`: blanks and one pair of double quotes around it dropped. */
function displayName(before: string): string | null {
  let s = before.trim();
  const quoted = s.length >= 2 && s.startsWith('"') && s.endsWith('"');
  if (quoted) s = s.slice(1, -1).replace(/\\(.)/g, '$1');
  else if (s.startsWith('"')) s = s.slice(1);
  else if (s.endsWith('"')) s = s.slice(0, -1);
  return cleanName(s);
}

/** A name is shown on the web page and put in a reply's To: it keeps no line breaks or NULs. */
function cleanName(s: string): string | null {
  const flat = /[\x00-\x1f\x7f]/.test(s) ? s.replace(/[\x00-\x1f\x7f]+/g, ' ') : s;
  return flat.trim() || null;
}

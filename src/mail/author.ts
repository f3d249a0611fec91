// Who wrote the mail. Mailman rewrites From for senders with a strict DMARC policy
// ("Jane Doe via Xen-devel <xen-devel@lists.xenproject.org>") and keeps the real
// address in Reply-To or Cc; grouping by author needs the real one.
import { headerValue, parseAddress, type ParsedMessage } from './parse.ts';

export interface Author {
  name: string | null;
  addr: string; // lower-case; "unknown@invalid" when the mail names nobody
}

/** xen-devel is reachable under two domains; both are the same list. */
export const XEN_DEVEL_ADDRESSES = ['xen-devel@lists.xenproject.org', 'xen-devel@lists.xen.org'];

export function sameListAddress(a: string, lists: string[]): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/@lists\.xen\.org$/, '@lists.xenproject.org');
  return lists.some((l) => norm(l) === norm(a));
}

export function authorOf(msg: ParsedMessage, lists: string[] = XEN_DEVEL_ADDRESSES): Author {
  const addr = msg.fromAddr ?? 'unknown@invalid';
  const name = msg.fromName;
  if (!sameListAddress(addr, lists)) return { name, addr };
  const realName = name?.replace(/\s+via\s+\S+$/i, '').replace(/^'(.*)'$/, '$1') ?? null;
  const original = headerValue(msg, 'x-original-from');
  if (original) {
    const o = parseAddress(original);
    if (o.addr) return { name: o.name ?? realName, addr: o.addr };
  }
  for (const h of ['reply-to', 'cc']) {
    for (const one of (headerValue(msg, h) ?? '').split(',')) {
      const a = parseAddress(one);
      if (a.addr && !sameListAddress(a.addr, lists) && (h === 'reply-to' || a.name === realName))
        return { name: a.name ?? realName, addr: a.addr };
    }
  }
  return { name: realName, addr };
}

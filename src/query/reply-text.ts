/**
 * The readable text of a reply as stored in the outbox (raw RFC 5322 bytes). Only what
 * listci's own writer produces needs handling: one text part, 7bit/8bit, quoted-printable
 * or base64. Anything else is shown raw rather than guessed at.
 */
export function replyBodyText(raw: Buffer): string {
  const text = raw.toString('utf8');
  const sep = /\r?\n\r?\n/.exec(text);
  if (!sep) return text;
  const head = text.slice(0, sep.index).replace(/\r?\n[ \t]+/g, ' ');
  const body = text.slice(sep.index + sep[0].length);
  const cte = /^content-transfer-encoding:\s*([^\s;]+)/im.exec(head)?.[1]?.toLowerCase();
  if (/^content-type:\s*multipart\//im.test(head)) return body;
  if (cte === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') {
    const bytes = body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8').replace(/\r\n/g, '\n');
  }
  return body.replace(/\r\n/g, '\n');
}

import { ImapFlow } from 'imapflow';

export interface ImapMailboxOptions {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password: string;
  mailbox: string;
}

/**
 * Whether a mail with this Message-ID is in the mailbox, asked with a server-side header
 * search. The reply outbox uses it before a retry: a reply whose send looked failed may
 * still have reached the list, and a maintainer must never get the same reply twice.
 * Connection and server errors throw: "could not tell" must not read as "absent".
 */
export async function findMessageIdOverImap(opts: ImapMailboxOptions, messageId: string): Promise<boolean> {
  const bare = messageId.trim().replace(/^<|>$/g, '');
  if (!bare) throw new Error('findMessageIdOverImap: empty Message-ID');
  const client = new ImapFlow({
    host: opts.host,
    port: opts.port,
    secure: opts.secure,
    auth: { user: opts.user, pass: opts.password },
    logger: false,
    disableAutoIdle: true,
  });
  let failure: unknown = null;
  client.on('error', (err: unknown) => (failure = err));
  await client.connect();
  try {
    await client.mailboxOpen(opts.mailbox, { readOnly: true });
    // HEADER search is a substring match: with the angle brackets it can only hit this id,
    // not a longer one that contains it.
    const uids = await client.search({ header: { 'message-id': `<${bare}>` } }, { uid: true });
    if (uids === false || uids === undefined) {
      throw new Error(
        `IMAP search for Message-ID <${bare}> in ${opts.mailbox} on ${opts.host}:${opts.port} failed` +
          (failure ? `: ${String(failure)}` : ''),
      );
    }
    return uids.length > 0;
  } finally {
    await client.logout().catch(() => client.close());
  }
}

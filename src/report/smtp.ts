import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RawConfig } from '../config/schema.ts';
import { addressOf } from './message.ts';

// One SMTP session for one stored reply, and what the outbox needs to know about how it
// ended: whether the server had been handed the message before things went wrong. The
// outbox (outbox.ts) decides from that whether a failed send may still reach the list.

export type SmtpConfig = NonNullable<RawConfig['reply']['smtp']>;

export interface SmtpSession {
  smtp: SmtpConfig;
  password: string | null;
  socketTimeoutMs: number;
}

/** A failed SMTP session; `handedOver` once the server had been given the message. */
export type SendError = SMTPConnection.SMTPError & { handedOver?: boolean };

/**
 * One SMTP session for one reply. SMTPConnection pipes the message only once the server
 * has answered DATA with 354, so the first read of it marks the point from which the
 * server may end up with the whole reply whatever goes wrong next: an error from then on
 * says `handedOver`, one before it means the reply was not sent.
 */
export function sendOverSmtp(
  o: SmtpSession,
  envelope: { from: string; to: string[] },
  raw: Buffer,
): Promise<SMTPConnection.SentMessageInfo> {
  return new Promise((resolve, reject) => {
    let handedOver = false;
    let settled = false;
    const conn = new SMTPConnection({
      host: o.smtp.host,
      port: o.smtp.port,
      secure: o.smtp.secure,
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: o.socketTimeoutMs,
    });
    const finish = (err: SendError | null | undefined, info?: SMTPConnection.SentMessageInfo): void => {
      if (settled) return;
      settled = true;
      conn.close();
      if (err) reject(Object.assign(err, { handedOver }));
      else resolve(info!);
    };
    // Errors reach the callbacks too, but an 'error' event nobody listens to would crash the daemon.
    conn.on('error', (err: SendError) => finish(err));
    const message = new Readable({
      read() {
        handedOver = true;
        this.push(raw);
        this.push(null);
      },
    });
    const send = (): void => conn.send(envelope, message, (err, info) => finish(err, info));
    conn.connect((err) => {
      if (err) return finish(err);
      if (!o.smtp.user) return send();
      conn.login({ user: o.smtp.user, pass: o.password ?? '' }, (e) => (e ? finish(e) : send()));
    });
  });
}

/** The address of a stored reply's From header: the envelope's MAIL FROM. */
export function fromHeaderAddress(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw
    .subarray(0, end < 0 ? raw.length : end)
    .toString('utf8')
    .replace(/\r?\n[ \t]+/g, ' ');
  const m = /^from:[ \t]*(.*)$/im.exec(head);
  if (!m) throw new Error('stored reply has no From header');
  return addressOf(m[1]!);
}

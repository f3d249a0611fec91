import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

// A real SMTP server (the smtp-server package) on a free loopback port, for the reply
// tests: it records every message it accepts, can refuse for a while like a mail server
// under maintenance, can hold the reply to MAIL FROM or to the end of DATA (to kill the
// sender at a chosen moment), and can relay each message on (into Dovecot: the list).

export interface ReceivedMail {
  raw: Buffer;
  envelope: { from: string; to: string[] };
}

export interface TestSmtp {
  host: string;
  port: number;
  received: ReceivedMail[];
  /** Refuse new mail: 421 at connect (default) or 451 at MAIL FROM, until accept() or for forMs. */
  refuse(opts?: { code?: 421 | 451; forMs?: number }): void;
  accept(): void;
  /**
   * Answer MAIL FROM only after `ms` (the message has not reached the server yet);
   * null answers every held command now and stops holding.
   */
  holdMailFrom(ms: number | null): void;
  /** Answer the end of DATA only after `ms` (the message is already recorded and relayed); null releases. */
  holdDataEnd(ms: number | null): void;
  /**
   * Fail every message from now on after its data, the way that leaves the sender unsure:
   * answer the end of DATA with 421, or drop the connection with no answer. `deliver` keeps
   * the message first (recorded and relayed: a server that queued it before failing);
   * without it the message is lost. null answers normally again.
   */
  failAfterData(how: { answer: '421' | '451' | 'drop'; deliver: boolean } | null): void;
  /** Messages whose data the server read to the end, delivered or not. */
  dataEnds(): number;
  /** Resolves once `n` messages were received (recorded and relayed) in total. */
  waitForMessages(n: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Resolves once `n` MAIL FROM commands were seen in total. */
  waitForMailFrom(n: number, timeoutMs?: number): Promise<void>;
  /** Forget received messages and MAIL FROM counts, stop refusing and holding: a fresh server for the next test. */
  reset(): void;
  stop(): Promise<void>;
}

export interface SmtpOptions {
  /** Called with each accepted message before the server answers the end of DATA. */
  relay?: (mail: ReceivedMail) => Promise<void>;
}

const smtpError = (code: number, message: string): Error =>
  Object.assign(new Error(message), { responseCode: code });

export async function startSmtp(opts: SmtpOptions = {}): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const events = new EventEmitter();
  let mailFroms = 0;
  let refusing: { code: 421 | 451; until: number } | null = null;
  let mailFromHold: number | null = null;
  let dataEndHold: number | null = null;
  let afterData: { answer: '421' | '451' | 'drop'; deliver: boolean } | null = null;
  let dataEndCount = 0;
  // Held answers, so that a release (or stop) answers them now instead of leaving timers behind.
  const held = new Map<NodeJS.Timeout, () => void>();
  const hold = (ms: number, answer: () => void) => {
    const timer = setTimeout(() => {
      held.delete(timer);
      answer();
    }, ms);
    held.set(timer, answer);
  };
  const release = () => {
    for (const [timer, answer] of held) {
      clearTimeout(timer);
      answer();
    }
    held.clear();
  };
  const refusal = (): 421 | 451 | null => {
    if (refusing && Date.now() >= refusing.until) refusing = null;
    return refusing?.code ?? null;
  };

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onConnect(_session: SMTPServerSession, cb: (err?: Error | null) => void) {
      if (refusal() === 421) return cb(smtpError(421, 'Service not available, try again later'));
      cb();
    },
    onMailFrom(_address: SMTPServerAddress, _session: SMTPServerSession, cb: (err?: Error | null) => void) {
      mailFroms++;
      events.emit('mail-from');
      if (refusal() !== null) return cb(smtpError(451, 'Local problem, try again later'));
      if (mailFromHold !== null) hold(mailFromHold, () => cb());
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail: ReceivedMail = {
          raw: Buffer.concat(chunks),
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          },
        };
        void (async () => {
          dataEndCount++;
          const failure = afterData;
          const fail = (how: { answer: '421' | '451' | 'drop' }) => {
            if (how.answer === '421') return cb(smtpError(421, 'Service shutting down, closing channel'));
            if (how.answer === '451') return cb(smtpError(451, 'Requested action aborted: local error'));
            // No answer at all: the client is left waiting on a dead connection.
            for (const c of server.connections as Set<{ session: unknown; _socket: { destroy(): void } }>)
              if (c.session === session) c._socket.destroy();
          };
          if (failure && !failure.deliver) return fail(failure);
          try {
            if (opts.relay) await opts.relay(mail);
          } catch (e) {
            return cb(smtpError(451, `relay failed: ${String(e)}`));
          }
          received.push(mail);
          events.emit('message');
          if (failure) return fail(failure);
          if (dataEndHold !== null) hold(dataEndHold, () => cb());
          else cb();
        })();
      });
    },
  });
  // A client killed mid-session makes the socket error out; that is the test, not a failure.
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const port = (server.server.address() as AddressInfo).port;

  const waitUntil = async (ready: () => boolean, event: string, what: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`test SMTP server: timed out waiting for ${what}`);
      // once() with a signal removes its listener when the timer wins, so long waits leak none.
      const tick = new AbortController();
      const timer = setTimeout(() => tick.abort(), Math.min(left, 200));
      await once(events, event, { signal: tick.signal }).catch(() => undefined);
      clearTimeout(timer);
    }
  };

  return {
    host: '127.0.0.1',
    port,
    received,
    refuse: ({ code = 421, forMs = Number.POSITIVE_INFINITY } = {}) => {
      refusing = { code, until: Date.now() + forMs };
    },
    accept: () => {
      refusing = null;
    },
    holdMailFrom: (ms) => {
      mailFromHold = ms;
      if (ms === null) release();
    },
    holdDataEnd: (ms) => {
      dataEndHold = ms;
      if (ms === null) release();
    },
    failAfterData: (how) => {
      afterData = how;
    },
    dataEnds: () => dataEndCount,
    waitForMessages: async (n, timeoutMs = 10_000) => {
      await waitUntil(() => received.length >= n, 'message', `${n} message(s)`, timeoutMs);
      return received;
    },
    waitForMailFrom: (n, timeoutMs = 10_000) =>
      waitUntil(() => mailFroms >= n, 'mail-from', `${n} MAIL FROM`, timeoutMs),
    reset: () => {
      received.length = 0;
      mailFroms = 0;
      refusing = null;
      mailFromHold = dataEndHold = null;
      afterData = null;
      dataEndCount = 0;
      release();
    },
    stop: () => {
      release();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

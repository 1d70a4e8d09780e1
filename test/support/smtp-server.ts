import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A tiny SMTP server for tests (the outside world of the SMTP notifier): EHLO/HELO, AUTH PLAIN and LOGIN,
 * MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT. It keeps every message it accepts, decoded
 * (encoded-word subject, quoted-printable or base64 body), and can be told to refuse messages.
 */
export interface ReceivedMail {
  from: string;
  to: string[];
  user: string | undefined;
  raw: string;
  headers: Record<string, string>;
  subject: string;
  text: string;
}

export interface SmtpServer {
  port: number;
  url(user?: string, password?: string): string;
  messages: ReceivedMail[];
  /** Answer the end of DATA with this reply instead of 250 (e.g. '554 5.7.1 refused'). */
  refuseWith: string | undefined;
  close(): Promise<void>;
}

function decodeQuotedPrintable(text: string): Buffer {
  const bytes: number[] = [];
  const input = text.replace(/=\r?\n/g, '');
  for (let index = 0; index < input.length; index += 1) {
    const char = input[index]!;
    if (char === '=' && /^[0-9A-Fa-f]{2}$/.test(input.slice(index + 1, index + 3))) {
      bytes.push(parseInt(input.slice(index + 1, index + 3), 16));
      index += 2;
    } else {
      bytes.push(...Buffer.from(char, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=\s*/g, (_whole, _charset: string, encoding: string, data: string) =>
    encoding.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')).toString('utf8'),
  );
}

function parseMessage(raw: string): { headers: Record<string, string>; subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split + 4);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const text =
    encoding === 'base64'
      ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
      : encoding === 'quoted-printable'
        ? decodeQuotedPrintable(body).toString('utf8')
        : body;
  return { headers, subject: decodeWords(headers.subject ?? ''), text: text.replace(/\r\n/g, '\n').trimEnd() };
}

export async function startSmtpServer(credentials?: { user: string; password: string }): Promise<SmtpServer> {
  const messages: ReceivedMail[] = [];
  const sockets = new Set<net.Socket>();
  const state: SmtpServer = {
    port: 0,
    messages,
    refuseWith: undefined,
    url: (user, password) => `smtp://${user ? `${encodeURIComponent(user)}:${encodeURIComponent(password ?? '')}@` : ''}127.0.0.1:${state.port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let mode: 'command' | 'data' | 'auth-plain' | 'auth-user' | 'auth-password' = 'command';
    let from = '';
    let to: string[] = [];
    let user: string | undefined;
    let pendingUser = '';
    let data: string[] = [];
    const reply = (line: string) => socket.write(`${line}\r\n`);
    const login = (name: string, password: string) => {
      if (credentials && name === credentials.user && password === credentials.password) {
        user = name;
        reply('235 2.7.0 Authentication successful');
      } else {
        reply('535 5.7.8 Authentication credentials invalid');
      }
      mode = 'command';
    };
    const plain = (encoded: string) => {
      const [, name = '', password = ''] = Buffer.from(encoded, 'base64').toString('utf8').split('\0');
      login(name, password);
    };

    const handle = (line: string) => {
      if (mode === 'data') {
        if (line === '.') {
          const raw = data.join('\r\n');
          mode = 'command';
          if (state.refuseWith) {
            reply(state.refuseWith);
          } else {
            messages.push({ from, to, user, raw, ...parseMessage(raw) });
            reply('250 2.0.0 OK queued');
          }
          from = '';
          to = [];
          data = [];
        } else {
          data.push(line.startsWith('..') ? line.slice(1) : line);
        }
        return;
      }
      if (mode === 'auth-plain') return plain(line);
      if (mode === 'auth-user') {
        pendingUser = Buffer.from(line, 'base64').toString('utf8');
        mode = 'auth-password';
        return reply('334 UGFzc3dvcmQ6');
      }
      if (mode === 'auth-password') return login(pendingUser, Buffer.from(line, 'base64').toString('utf8'));
      const [verb = '', ...rest] = line.split(' ');
      const argument = rest.join(' ');
      switch (verb.toUpperCase()) {
        case 'EHLO':
          reply('250-localhost greets you');
          reply('250-8BITMIME');
          reply('250-SMTPUTF8');
          if (credentials) reply('250-AUTH PLAIN LOGIN');
          return reply('250 SIZE 10485760');
        case 'HELO':
          return reply('250 localhost');
        case 'AUTH': {
          const [method = '', initial] = argument.split(' ');
          if (method.toUpperCase() === 'PLAIN') {
            if (initial) return plain(initial);
            mode = 'auth-plain';
            return reply('334 ');
          }
          if (method.toUpperCase() === 'LOGIN') {
            mode = 'auth-user';
            return reply('334 VXNlcm5hbWU6');
          }
          return reply('504 5.5.4 Unrecognized authentication type');
        }
        case 'MAIL':
          if (credentials && !user) return reply('530 5.7.0 Authentication required');
          from =
            argument
              .replace(/^FROM:\s*/i, '')
              .replace(/[<>]/g, '')
              .split(' ')[0] ?? '';
          return reply('250 2.1.0 OK');
        case 'RCPT':
          to.push(
            argument
              .replace(/^TO:\s*/i, '')
              .replace(/[<>]/g, '')
              .split(' ')[0] ?? '',
          );
          return reply('250 2.1.5 OK');
        case 'DATA':
          mode = 'data';
          return reply('354 End data with <CR><LF>.<CR><LF>');
        case 'RSET':
          from = '';
          to = [];
          return reply('250 2.0.0 OK');
        case 'NOOP':
          return reply('250 2.0.0 OK');
        case 'QUIT':
          reply('221 2.0.0 Bye');
          return socket.end();
        default:
          return reply('502 5.5.2 Command not recognized');
      }
    };

    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let end = buffer.indexOf('\r\n');
      while (end >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        handle(line);
        end = buffer.indexOf('\r\n');
      }
    });
    reply('220 localhost ESMTP test server');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

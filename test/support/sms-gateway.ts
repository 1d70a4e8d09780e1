import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP SMS gateway for tests (the outside world of the HTTP SMS notifier): it records every request and
 * answers 200, or what the test asks for (a status, or never answering).
 */
export interface GatewayRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export interface SmsGateway {
  url: string;
  requests: GatewayRequest[];
  /** The answer to give: a status code, or 'hang' to never answer. */
  answer: number | 'hang';
  /** The last six-digit code sent to a number. */
  lastCode(to: string): string;
  /** The last text sent to a number. */
  lastText(to: string): string | undefined;
  close(): Promise<void>;
}

export async function startSmsGateway(): Promise<SmsGateway> {
  const requests: GatewayRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = Buffer.concat(chunks).toString('utf8');
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      if (gateway.answer === 'hang') return;
      res.writeHead(gateway.answer, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: gateway.answer < 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const texts = (to: string) =>
    requests
      .map((request) => request.body as { to?: string; text?: string })
      .filter((body) => body?.to === to)
      .map((body) => body.text ?? '');
  const gateway: SmsGateway = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms/send`,
    requests,
    answer: 200,
    lastText: (to) => texts(to).at(-1),
    lastCode(to) {
      const code = texts(to).at(-1)?.match(/\d{6}/)?.[0];
      if (!code) throw new Error(`no code sent to ${to}`);
      return code;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return gateway;
}

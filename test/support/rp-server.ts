import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request a test RP endpoint received. */
export interface ReceivedRequest {
  method: string;
  path: string;
  contentType: string;
  body: string;
  at: number;
}

export interface RpServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  received: ReceivedRequest[];
  /** Resolves with the next request (or one already received and not yet taken), rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<ReceivedRequest>;
  close(): Promise<void>;
}

/**
 * A tiny relying-party HTTP endpoint on 127.0.0.1 (e.g. a back-channel logout URI). `hang` accepts requests
 * and never answers them, like an RP that is stuck.
 */
export async function startRpServer(options: { hang?: boolean; status?: number } = {}): Promise<RpServer> {
  const received: ReceivedRequest[] = [];
  let taken = 0;
  const waiters: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      for (const wake of waiters.splice(0)) wake();
      if (!options.hang) res.writeHead(options.status ?? 200, { 'cache-control': 'no-store' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length <= taken) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no request received within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const request = received[taken];
      taken += 1;
      return request!;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP proxy that sends each request to the next backend in turn, like a load balancer without affinity. */
export interface RoundRobin {
  url: string;
  /** Which backend served each request, in order (index into the backend list). */
  served: number[];
  setBackends(backends: string[]): void;
  close(): Promise<void>;
}

export async function startRoundRobin(): Promise<RoundRobin> {
  let backends: string[] = [];
  let next = 0;
  const served: number[] = [];
  const server = http.createServer((req, res) => {
    const index = next % backends.length;
    next += 1;
    served.push(index);
    const target = new URL(req.url ?? '/', backends[index]);
    const upstream = http.request(target, { method: req.method, headers: req.headers }, (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    setBackends(list) {
      backends = list;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import http from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * A deliberately lean load generator: node:http with keep-alive, no HTML parser, a name → value cookie jar. On a
 * 2-core machine the client shares the CPU with the server, so every microsecond it spends is taken from the
 * thing being measured (and equally from both sides of a ratio).
 */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export class HttpClient {
  readonly agent: http.Agent;

  constructor(maxSockets = 256) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(url: string, options: RequestOptions = {}, retry = true): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    return new Promise<Reply>((resolve, reject) => {
      const req = http.request(url, { method: options.method ?? 'GET', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed just as it was reused: send once more on a new one.
        if (retry && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          this.request(url, options, false).then(resolve, reject);
        } else {
          reject(error);
        }
      });
      req.end(options.body);
    });
  }

  /** POST application/x-www-form-urlencoded. */
  form(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> {
    return this.request(url, { method: 'POST', body: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  }

  close(): void {
    this.agent.destroy();
  }
}

export function basicAuth(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/**
 * Cookies by name only (paths and domains ignored): enough for one browser talking to one provider, since the
 * newest cookie of a name is the one that matters. Deletions (expired dates, max-age=0) remove it.
 */
export class Cookies {
  readonly #jar = new Map<string, string>();

  update(reply: Reply): void {
    const set = reply.headers['set-cookie'];
    if (!set) return;
    for (const line of set) {
      const semicolon = line.indexOf(';');
      const pair = semicolon === -1 ? line : line.slice(0, semicolon);
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      const attributes = line.slice(semicolon + 1).toLowerCase();
      if (!value || attributes.includes('max-age=0') || attributes.includes('expires=thu, 01 jan 1970')) this.#jar.delete(name);
      else this.#jar.set(name, value);
    }
  }

  header(): string {
    return [...this.#jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface LoadResult {
  /** Operations completed successfully. */
  count: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  perSecond: number;
  /** Latency of each successful operation, ms. */
  latencies: number[];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Closed loop: `concurrency` workers each run `task` back to back until `durationMs` has passed; throughput is
 * the successful operations over the time until the last worker finished.
 */
export async function closedLoop(concurrency: number, durationMs: number, task: (worker: number) => Promise<void>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const began = performance.now();
        try {
          await task(worker);
          latencies.push(performance.now() - began);
        } catch (error) {
          errors += 1;
          firstError ??= message(error);
          if (errors > 50 && latencies.length === 0) throw new Error(`every operation fails: ${firstError}`);
        }
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  return { count: latencies.length, errors, firstError, elapsedMs, perSecond: (latencies.length * 1000) / elapsedMs, latencies };
}

/**
 * Open loop: starts `task` at a fixed rate whatever the previous ones are doing (no coordinated omission), for
 * `durationMs`, then waits for the stragglers. Latency is measured from the intended start time.
 */
export async function openLoop(ratePerSecond: number, durationMs: number, task: () => Promise<void>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const interval = 1000 / ratePerSecond;
  const total = Math.floor(durationMs / interval);
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let index = 0; index < total; index += 1) {
    const intended = start + index * interval;
    const wait = intended - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      task().then(
        () => {
          latencies.push(performance.now() - intended);
        },
        (error: unknown) => {
          errors += 1;
          firstError ??= message(error);
        },
      ),
    );
  }
  await Promise.all(inFlight);
  const elapsedMs = performance.now() - start;
  return { count: latencies.length, errors, firstError, elapsedMs, perSecond: (latencies.length * 1000) / elapsedMs, latencies };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { browserCsrf } from '../support/recovery.js';
import { clearThrottle, cookieHeader, countRows } from '../support/security.js';
import { UPLOAD_LIMITS } from '../../src/modules/recovery/routes.js';

const MB = 1024 * 1024;
/** Generous: a full collection per memory sample is slow in a worker that has a large heap already. */
const SLOW_MS = 180_000;
const BOUNDARY = 'uop-s35-boundary';
const CHUNK = Buffer.alloc(64 * 1024, 'a');

/** V8's collector, exposed at run time: samples then count live memory, not garbage not yet collected. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as unknown;
  if (typeof gc !== 'function') throw new Error('cannot expose the garbage collector');
  return gc as () => void;
}

/** Memory that uploaded bodies occupy: the JS heap plus Buffers. */
function memory(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Streams a multipart appeal whose one document is `megabytes` long (chunked, no Content-Length, so only the
 * streaming limits can stop it); stops writing as soon as the server answers.
 */
function streamUpload(url: string, headers: Record<string, string>, megabytes: number): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    let answered = false;
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        headers: { ...headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' },
      },
      (response) => {
        answered = true;
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] as string | undefined }));
        response.on('error', reject);
      },
    );
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const parts = [
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="applicantName"\r\n\r\n李申诉\r\n`,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="documents"; filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\n`,
    ];
    request.write(parts.join(''));
    let sent = 0;
    const total = Math.ceil((megabytes * MB) / CHUNK.length);
    const write = () => {
      while (sent < total && !answered && !request.destroyed) {
        sent += 1;
        if (!request.write(CHUNK)) {
          request.once('drain', write);
          return;
        }
      }
      if (!request.destroyed) request.end(`\r\n--${BOUNDARY}--\r\n`);
    };
    write();
  });
}

/**
 * Runs `work` while sampling live memory (collected before each sample); returns its result and the highest growth
 * over the baseline. No timing is asserted: the interval only spaces the samples (a full collection per sample, so
 * not too often: in a worker with a large heap each one takes a while).
 */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const gc = collector();
  gc();
  const baseline = memory();
  let peak = baseline;
  const sampler = setInterval(() => {
    gc();
    peak = Math.max(peak, memory());
  }, 100);
  try {
    const result = await work();
    peak = Math.max(peak, memory());
    return { result, growth: peak - baseline };
  } finally {
    clearInterval(sampler);
  }
}

describe('uploads are checked before their body is read and memory stays bounded (S-35)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: '1' } });
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  it(
    'S-35 when 20 oversized uploads arrive at once without a CSRF token, then each is refused with 403 before its body is read, and memory does not grow with them',
    async () => {
      const { result, growth } = await peakGrowth(() =>
        Promise.all(Array.from({ length: 20 }, (_unused, index) => streamUpload(`${app.url}/recover/unit/appeal`, { 'x-forwarded-for': `198.51.100.${index + 1}` }, 8))),
      );
      expect(result.map((answer) => answer.status)).toEqual(Array(20).fill(403));
      // 20 bodies of 8 MB: read into memory they would take 100 MB or more.
      expect(growth).toBeLessThan(32 * MB);
      expect(await countRows(app.db, 'appeal')).toBe(0);
    },
    SLOW_MS,
  );

  it(
    'S-35 when 20 oversized uploads with a valid CSRF token arrive at once, then a few are streamed against the 5 MB limit (413), the rest get 503 with Retry-After at once, and memory stays bounded',
    async () => {
      const browser = new Browser(app.url);
      const csrf = await browserCsrf(browser, '/recover/unit/appeal');
      const cookie = await cookieHeader(browser, `${app.url}/recover/unit/appeal`);
      const { result, growth } = await peakGrowth(() =>
        Promise.all(
          Array.from({ length: 20 }, (_unused, index) =>
            streamUpload(`${app.url}/recover/unit/appeal?_csrf=${encodeURIComponent(csrf)}`, { cookie, 'x-forwarded-for': `198.51.101.${index + 1}` }, 8),
          ),
        ),
      );
      const statuses = result.map((answer) => answer.status);
      // Requests keep arriving while the first ones finish, so more than concurrency + queue may be admitted in all;
      // what never happens is more than that waiting or running at the same time.
      expect(statuses.filter((status) => status === 413).length).toBeGreaterThanOrEqual(UPLOAD_LIMITS.concurrency);
      expect(statuses.filter((status) => status === 503).length).toBeGreaterThanOrEqual(1);
      expect(statuses.every((status) => status === 413 || status === 503)).toBe(true);
      for (const answer of result.filter((entry) => entry.status === 503)) expect(answer.retryAfter).toMatch(/^\d+$/);
      // At most a few bodies of at most 5 MB are in memory at once (20 × 5 MB without the bound).
      expect(growth).toBeLessThan(48 * MB);
      expect(await countRows(app.db, 'appeal')).toBe(0);
    },
    SLOW_MS,
  );

  it(
    'S-35 when the per-IP appeal limit is reached, then the next upload is refused with 429 before its body is read',
    async () => {
      const browser = new Browser(app.url);
      const csrf = await browserCsrf(browser, '/recover/unit/appeal');
      const cookie = await cookieHeader(browser, `${app.url}/recover/unit/appeal`);
      await app.db.query("INSERT INTO rate_limit (key, window_start, count) VALUES ('appeal:ip:198.51.102.1', now(), 10)");
      const answer = await streamUpload(`${app.url}/recover/unit/appeal?_csrf=${encodeURIComponent(csrf)}`, { cookie, 'x-forwarded-for': '198.51.102.1' }, 8);
      expect(answer.status).toBe(429);
    },
    SLOW_MS,
  );
});

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startTestApp, type TestApp } from '../support/app.js';
import { TEST_SECRET } from '../support/fixtures.js';

/**
 * The access log and the HTTP metrics record the status the client received (issue #13): the provider's
 * `invalid_client` rewrite (RFC 6749 §5.2, S-8) runs inside the request-log middleware, so a 400 turned into 401 is
 * logged as 401.
 */
describe('request log', () => {
  const lines: Record<string, unknown>[] = [];
  let app: TestApp;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    app = await startTestApp({ logger: pino({ level: 'info' }, sink) });
  });
  afterAll(() => app.close());

  async function logged(requestId: string): Promise<Record<string, unknown> | undefined> {
    for (let tries = 0; tries < 50; tries += 1) {
      const line = lines.find((entry) => entry.msg === 'request' && entry.requestId === requestId);
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return undefined;
  }

  it.each(['/token', '/token/introspection', '/token/revocation'])(
    'S-8 when %s gets no client authentication at all, then the response is 401 invalid_client and the log says 401',
    async (path) => {
      const requestId = `request-log-${path.replaceAll('/', '-')}`;
      const response = await fetch(`${app.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': requestId },
        body: path === '/token' ? 'grant_type=authorization_code&code=abc' : 'token=abc',
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error?: string }).error).toBe('invalid_client');
      expect(await logged(requestId)).toMatchObject({ method: 'POST', path, status: 401 });
    },
  );

  it('when an authenticated token request is invalid, then it stays 400 in the response and the log (only missing client authentication is rewritten)', async () => {
    const requestId = 'request-log-plain-400';
    const response = await fetch(`${app.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-request-id': requestId,
        authorization: `Basic ${Buffer.from(`test-rp:${TEST_SECRET}`).toString('base64')}`,
      },
      body: `grant_type=authorization_code&code=abc&redirect_uri=http://rp.test/cb&code_verifier=${'a'.repeat(43)}`,
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error?: string }).error).toBe('invalid_grant');
    expect(await logged(requestId)).toMatchObject({ path: '/token', status: 400 });
  });
});

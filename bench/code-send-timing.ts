// S-22 / S-56: what a real one-time-code send and a decoy (unknown account) cost the request. Both go through the
// person password-reset path of the services on a real database (PostgreSQL with BENCH_DATABASE_URL, PGlite
// otherwise), with a real HTTP SMS gateway that takes --gateway-ms to answer. The job worker is stopped while
// measuring: what is timed is the request's own work (rate limits, the code row and its SMS job, or the decoy
// job), never the gateway. Real and decoy requests alternate; rate limits are cleared outside the timed part.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { startTestApp } from '../test/support/app.js';
import { createTestDatabase } from '../test/support/database.js';
import { createPerson } from '../test/support/people.js';
import { fixed, log, machine, median, option, percentile, table, writeResult } from './lib/report.js';

const rounds = Number(option('rounds', 'BENCH_ROUNDS', '200'));
const gatewayMs = Number(option('gateway-ms', 'BENCH_GATEWAY_MS', '300'));
if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;

let gatewayCalls = 0;
const gateway = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    gatewayCalls += 1;
    setTimeout(() => res.writeHead(200).end('{}'), gatewayMs);
  });
});
await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/sms`;

const database = await createTestDatabase();
const app = await startTestApp({ database, env: { SMS_GATEWAY_URL: gatewayUrl } });
await app.app.worker.stop();
const services = app.app.services;
const person = await createPerson(services, { verified: true });
log(`${rounds} rounds on ${database.db.kind}, gateway answering after ${gatewayMs} ms`);

const real: number[] = [];
const decoy: number[] = [];
for (let round = 0; round < rounds; round += 1) {
  for (const [kind, account] of round % 2 === 0
    ? [
        ['real', person.loginName],
        ['decoy', `nobody${round}`],
      ]
    : [
        ['decoy', `nobody${round}`],
        ['real', person.loginName],
      ]) {
    await database.db.query('DELETE FROM rate_limit');
    const started = performance.now();
    await services.persons.startPasswordReset(account!, 'zh-CN', '127.0.0.1');
    (kind === 'real' ? real : decoy).push(performance.now() - started);
  }
}
const callsDuringRequests = gatewayCalls;
const jobs = await services.jobs.counts();
await app.close();
await database.drop();
gateway.close();

const row = (name: string, values: number[]) => [name, fixed(median(values), 2), fixed(percentile(values, 90), 2), fixed(percentile(values, 99), 2)];
const difference = median(real) - median(decoy);
const info = machine();
const file = writeResult(
  `code-send-timing-${database.db.kind}`,
  `# Real versus decoy code sends in the request (S-22, S-56)

- ${Object.entries(info)
    .map(([key, value]) => `${key}: ${value}`)
    .join('\n- ')}
- database: ${database.db.kind}; rounds: ${rounds}; SMS gateway answering after ${gatewayMs} ms

${table(['request', 'median ms', 'p90 ms', 'p99 ms'], [row('real send (code + SMS job)', real), row('decoy (decoy job)', decoy)])}

- difference of the medians: ${fixed(difference, 2)} ms
- gateway calls made while the requests ran: ${callsDuringRequests} (the worker was stopped: the request path never calls the gateway)
- jobs written: ${jobs.pending} pending (one per request)
`,
);
log(`wrote ${file}: real ${fixed(median(real), 2)} ms, decoy ${fixed(median(decoy), 2)} ms, difference ${fixed(difference, 2)} ms`);

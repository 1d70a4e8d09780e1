import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { testClientsFile } from '../support/fixtures.js';
import { startServerProcess } from '../support/process.js';

/** Issue #16: optional OpenTelemetry traces over OTLP/HTTP, with the caller's trace and the request id carried. */

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
}

/** OTLP/JSON ids are hex; older encoders sent base64. */
const hex = (id: string) => (/^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex'));
const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((entry) => entry.key === key)?.value;
  return value?.stringValue ?? (value?.intValue !== undefined ? Number(value.intValue) : undefined);
};

describe('OpenTelemetry traces (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)', () => {
  it('when a request carries a traceparent and a request id, then the exported server span continues that trace with the request id and its database spans are children', async () => {
    const received: OtlpSpan[] = [];
    const paths: string[] = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        paths.push(req.url ?? '');
        const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const resource of payload.resourceSpans) for (const scope of resource.scopeSpans) received.push(...scope.spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-otel-'));
    fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
    const running = await startServerProcess({
      CERTS_DIR: path.join(dir, 'certs'),
      DATA_DIR: path.join(dir, 'data'),
      CLIENTS_FILE: path.join(dir, 'clients.json'),
      DEMO_DATA: 'false',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`,
    });
    const traceId = crypto.randomBytes(16).toString('hex');
    const parentId = crypto.randomBytes(8).toString('hex');
    try {
      const response = await fetch(`${running.url}/readyz`, { headers: { traceparent: `00-${traceId}-${parentId}-01`, 'x-request-id': 'trace-test-request-1' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toBe('trace-test-request-1');
    } finally {
      expect(await running.stop()).toBe(0); // the shutdown flushes the spans still buffered
      await new Promise<void>((resolve) => collector.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(paths.every((url) => url === '/v1/traces')).toBe(true);
    const server = received.find((span) => hex(span.traceId) === traceId && span.kind === 2);
    expect(server).toBeDefined();
    expect(server!.name).toBe('GET /readyz');
    expect(hex(server!.parentSpanId ?? '')).toBe(parentId);
    expect(attribute(server!, 'request.id')).toBe('trace-test-request-1');
    expect(attribute(server!, 'http.route')).toBe('/readyz');
    expect(attribute(server!, 'http.response.status_code')).toBe(200);
    const children = received.filter((span) => hex(span.parentSpanId ?? '') === hex(server!.spanId));
    expect(children.map((span) => span.name)).toContain('db.query');
  });
});

import http from 'node:http';
import { DOCUMENT_LIMITS } from '../../src/modules/recovery/documents.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createPerson } from '../support/people.js';
import { executable, pdf, png } from '../support/recovery.js';
import { clearThrottle, countRows } from '../support/security.js';
import { createUnit, uscc, type TestUnit } from '../support/units.js';

describe('management API: 申诉 submission as multipart/form-data (issue #17, R-R3, S-29, S-35)', () => {
  let app: TestApp;
  let unit: TestUnit;

  beforeAll(async () => {
    app = await startTestApp();
    unit = await createUnit(app.app.services, await createPerson(app.app.services, { verified: true }), { name: '接口申诉测试有限公司' });
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  const fields = (certNo: string): Record<string, string> => ({ applicantName: '王申诉', contact: '13912345678', certType: 'uscc', certNo, kind: 'password' });
  const submit = async (values: Record<string, string>, files: { name: string; type: string; content: Buffer }[]) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(values)) form.append(name, value);
    for (const file of files) form.append('documents', new Blob([new Uint8Array(file.content)], { type: file.type }), file.name);
    const response = await fetch(`${app.url}/api/v1/appeals`, { method: 'POST', body: form });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, cookie: response.headers.get('set-cookie'), text };
  };

  it('R-R3 when an appeal with documents is posted without a token or cookie, then 201 with a reference, stored with its documents, and its status can be looked up', async () => {
    const answer = await submit(fields(unit.certNo), [
      { name: '营业执照.pdf', type: 'application/pdf', content: pdf() },
      { name: 'id.png', type: 'image/png', content: png() },
    ]);
    expect(answer).toMatchObject({ status: 201, body: { reference: expect.stringMatching(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/) } });
    const { rows } = await app.db.query<{ id: string; unit_id: string | null }>('SELECT id, unit_id FROM appeal WHERE reference = $1', [
      String(answer.body.reference).replaceAll('-', ''),
    ]);
    expect(rows[0]?.unit_id).toBe(unit.id);
    expect(await countRows(app.db, 'appeal_document', 'appeal_id = $1', [rows[0]!.id])).toBe(2);
    const status = await fetch(`${app.url}/api/v1/appeals/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reference: answer.body.reference, contact: '13912345678' }),
    });
    expect(await status.json()).toMatchObject({ reference: answer.body.reference, status: 'pending', kind: 'password' });
  });

  it("S-29 when an appeal names an unknown certificate, then the answer is exactly like a known one's", async () => {
    const known = await submit(fields(unit.certNo), [{ name: 'a.pdf', type: 'application/pdf', content: pdf() }]);
    const unknown = await submit(fields(uscc()), [{ name: 'a.pdf', type: 'application/pdf', content: pdf() }]);
    const shape = (answer: typeof known) => [answer.status, Object.keys(answer.body), answer.cookie];
    expect(shape(unknown)).toEqual(shape(known));
    expect(unknown.status).toBe(201);
  });

  it('S-35 when the input is bad, then a 4xx naming the field with a readable message, never 500, and nothing is stored', async () => {
    const before = await countRows(app.db, 'appeal');
    const one = [{ name: 'a.pdf', type: 'application/pdf', content: pdf() }];
    const cases: [Record<string, string>, typeof one, number, string][] = [
      [{ ...fields(unit.certNo), applicantName: '' }, one, 400, 'applicantName'],
      [{ ...fields(unit.certNo), contact: 'nobody' }, one, 400, 'contact'],
      [{ ...fields(unit.certNo), certNo: 'not-a-uscc' }, one, 400, 'certNo'],
      [{ ...fields(unit.certNo), kind: 'nonsense' }, one, 400, 'kind'],
      [fields(unit.certNo), [{ name: 'a.pdf', type: 'application/pdf', content: executable() }], 400, 'documents'],
      [fields(unit.certNo), Array.from({ length: DOCUMENT_LIMITS.maxFiles + 1 }, () => one[0]!), 400, 'documents'],
    ];
    for (const [values, files, status, field] of cases) {
      const answer = await submit(values, files);
      expect([field, answer.status, answer.body.field]).toEqual([field, status, field]);
      expect(answer.body.message).toEqual(expect.any(String));
      expect(answer.text).not.toMatch(/at .+\.(ts|js):\d+/);
    }
    const json = await fetch(`${app.url}/api/v1/appeals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields(unit.certNo)) });
    expect(json.status).toBe(415);
    expect(await countRows(app.db, 'appeal')).toBe(before);
  });
  it('S-35 when an upload announces more than five full documents, then 413 naming documents before the body is sent, and the connection closes', async () => {
    const announced = DOCUMENT_LIMITS.maxFiles * (DOCUMENT_LIMITS.maxBytes + 1) + 128 * 1024;
    const answer = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const request = http.request(
        `${app.url}/api/v1/appeals`,
        { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=xyz', 'content-length': String(announced) } },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => {
            resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body });
            request.destroy();
          });
        },
      );
      request.on('error', reject);
      // Only the headers: the server must answer without waiting for the announced body.
      request.flushHeaders();
    });
    expect([answer.status, answer.connection, (JSON.parse(answer.body) as { field?: string }).field]).toEqual([413, 'close', 'documents']);
  });
});

import { APPEAL_LIMITS } from '../../src/modules/recovery/appeals.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, mobile, type TestPerson } from '../support/people.js';
import {
  browserCsrf,
  corruptPdf,
  encryptedPdf,
  executable,
  html,
  jpeg,
  lastMessage,
  linkIn,
  pdf,
  png,
  pngFacts,
  post,
  text,
  textPdf,
  uploadAppeal,
  type Upload,
} from '../support/recovery.js';
import { PDF_PREVIEW } from '../../src/modules/recovery/pdf-preview.js';
import { clearThrottle, countRows, signInOperator, signInToAccount } from '../support/security.js';
import { pathOf, signInUnit } from '../support/unit-console.js';
import { createUnit, uscc, type TestUnit } from '../support/units.js';

const NEW_PASSWORD = 'a brand new unit passphrase';
const MB = 1024 * 1024;
const DOCUMENTS: Upload[] = [
  { name: '营业执照.pdf', type: 'application/pdf', content: pdf() },
  { name: 'seal.png', type: 'image/png', content: png() },
  { name: 'id.jpg', type: 'image/jpeg', content: jpeg() },
];

describe('appeals (申诉) for unit account and password recovery (R-R1–R-R3, S-22, S-35)', () => {
  let app: TestApp;
  let contact: TestPerson;
  let unit: TestUnit;
  let verifiedUnit: TestUnit;
  let operator: Browser;

  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: 'true' } });
    const services = app.app.services;
    contact = await createPerson(services, { verified: true });
    unit = await createUnit(services, contact, { name: '申诉测试有限公司' });
    verifiedUnit = await createUnit(services, contact, { name: '申诉已认证有限公司', verified: true });
    operator = new Browser(app.url);
    await signInOperator(app, operator);
  }, 90_000);
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  const appealTables = async () => Promise.all(['appeal', 'appeal_document', 'notification_outbox', 'audit_event'].map((table) => countRows(app.db, table)));

  async function fileAppeal(
    values: { certNo: string; kind: 'account' | 'password'; contact: string; applicantName?: string },
    files: Upload[] = DOCUMENTS,
    ip?: string,
  ): Promise<Page> {
    const browser = new Browser(app.url);
    const csrf = await browserCsrf(browser, '/recover/unit/appeal');
    return uploadAppeal(browser, csrf, { certType: 'uscc', applicantName: '李申诉', ...values }, files, ip);
  }

  const referenceOf = (page: Page) => page.html.querySelector('#appeal-reference')?.text ?? '';

  async function operatorOpens(reference: string): Promise<Page> {
    const list = await operator.get('/operator/appeals');
    expect(list.status).toBe(200);
    const row = list.html.querySelectorAll('#appeals tr[data-appeal]').find((tr) => tr.text.includes(reference));
    if (!row) throw new Error(`appeal ${reference} not listed:\n${text(list).slice(0, 1000)}`);
    return operator.get(`/operator/appeals/${row.getAttribute('data-appeal')}`);
  }

  async function approve(reference: string): Promise<Page> {
    const page = await operatorOpens(reference);
    // 批准 asks for confirmation first, naming the applicant and the consequence; nothing is decided until then.
    const confirm = await operator.submit(page, 'form#approve', { note: '材料齐全' });
    expect(text(confirm)).toContain('确认批准申诉');
    expect(text(confirm)).toContain('材料齐全');
    expect(text(confirm)).toContain(reference);
    const done = await operator.submit(confirm, 'form#confirm');
    expect(done.status).toBe(200);
    expect(done.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('approved');
    return done;
  }

  it("R-R3 R-R1 when an unverified unit's appeal for 账号找回 is approved, then the applicant's single-use link shows the login name once", async () => {
    // From the recovery page, the appeal path is offered with the certificate filled in.
    const browser = new Browser(app.url);
    const paths = await post(browser, '/recover/unit/account', await browserCsrf(browser), { certType: 'uscc', certNo: unit.certNo });
    const form = await browser.get(paths.html.querySelector('a#recover-appeal')!.getAttribute('href')!);
    expect(form.html.querySelector('input[name="certNo"]')?.getAttribute('value')).toBe(unit.certNo);
    expect(form.html.querySelector('form#appeal')?.getAttribute('enctype')).toBe('multipart/form-data');
    for (const id of ['f-certNo', 'f-applicantName', 'f-contact', 'f-documents', 'f-kind-account']) {
      expect(form.html.querySelector(`label[for="${id}"]`)).not.toBeNull();
    }
    const applicant = mobile();
    const submitted = await uploadAppeal(
      browser,
      form.html.querySelector('input[name="_csrf"]')!.getAttribute('value')!,
      { kind: 'account', certType: 'uscc', certNo: unit.certNo, applicantName: '李申诉', contact: applicant },
      DOCUMENTS,
    );
    expect(submitted.status).toBe(200);
    const reference = referenceOf(submitted);
    expect(reference).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    expect(await lastMessage(app.db, applicant)).toContain(reference);
    expect(await countRows(app.db, 'appeal_document', 'appeal_id = (SELECT id FROM appeal WHERE reference = $1)', [reference.replaceAll('-', '')])).toBe(3);

    const detail = await operatorOpens(reference);
    expect(text(detail)).toContain('申诉测试有限公司');
    expect(detail.html.querySelectorAll('a.document')).toHaveLength(3);
    await approve(reference);
    const link = linkIn(await lastMessage(app.db, applicant));

    const status = await post(browser, '/recover/unit/appeal/status', await browserCsrf(browser), { reference, contact: applicant });
    expect(status.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('approved');

    const landing = await browser.get(link);
    expect(landing.status).toBe(200);
    expect(landing.body).not.toContain(unit.loginName); // looking at the link does not use it
    const found = await browser.submit(landing, 'form#appeal-link');
    expect(found.status).toBe(200);
    expect(found.html.querySelector('#unit-login-name')?.text).toBe(unit.loginName);
    const again = await browser.submit(landing, 'form#appeal-link');
    expect(again.status).toBe(400);
    expect(text(again)).toContain('链接无效、已使用或已过期');
    expect((await browser.get(link)).status).toBe(400);
    const completed = await post(browser, '/recover/unit/appeal/status', await browserCsrf(browser), { reference, contact: applicant });
    expect(completed.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('completed');
    for (const action of ['appeal.submit', 'appeal.approve', 'recovery.account_reveal']) {
      expect(await countRows(app.db, 'audit_event', 'action = $1 AND acting_unit_id = $2', [action, unit.id])).toBeGreaterThanOrEqual(1);
    }
  });

  it("R-R2 S-24 when an appeal for 密码找回 is approved, then the e-mailed link sets a new password once and ends the unit account's sessions", async () => {
    const own = await createUnit(app.app.services, contact, { name: '申诉改密有限公司' });
    const unitBrowser = new Browser(app.url);
    await signInUnit(unitBrowser, own);
    const email = `applicant.${Date.now()}@example.test`;
    const submitted = await fileAppeal({ certNo: own.certNo, kind: 'password', contact: email.toUpperCase() });
    expect(submitted.status).toBe(200);
    const reference = referenceOf(submitted);
    await approve(reference);
    const message = await lastMessage(app.db, email);
    expect(message).toContain('24');
    const browser = new Browser(app.url);
    const landing = await browser.get(linkIn(message));
    const weak = await browser.submit(landing, 'form#appeal-link', { password: 'short', passwordConfirm: 'short' });
    expect(weak.status).toBe(400);
    expect(text(weak)).toContain('密码至少需要8个字符');
    const done = await browser.submit(weak, 'form#appeal-link', { password: NEW_PASSWORD, passwordConfirm: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect(text(done)).toContain('单位账号密码已重置');
    expect(pathOf(await unitBrowser.get('/unit'))).not.toBe('/unit');
    await expect(app.app.services.units.authenticate(own.loginName, NEW_PASSWORD, { actor: { type: 'anonymous' } })).resolves.toMatchObject({ id: own.id });
    const reused = await browser.submit(landing, 'form#appeal-link', { password: 'yet another passphrase', passwordConfirm: 'yet another passphrase' });
    expect(reused.status).toBe(400);
    await expect(app.app.services.units.authenticate(own.loginName, NEW_PASSWORD, { actor: { type: 'anonymous' } })).resolves.toMatchObject({ id: own.id });
    expect(await countRows(app.db, 'audit_event', "action = 'unit.password_reset' AND acting_unit_id = $1 AND detail->>'path' = 'appeal'", [own.id])).toBe(1);
  });

  it('R-R2 when the unit is verified, then the appeal form refuses with a message and nothing is written', async () => {
    const before = await appealTables();
    const page = await fileAppeal({ certNo: verifiedUnit.certNo, kind: 'password', contact: mobile() });
    expect(page.status).toBe(409);
    expect(text(page)).toContain('该单位已完成实名认证，只能“通过常用联系人找回”，不能申诉。');
    expect(page.html.querySelector('form#appeal')).not.toBeNull();
    expect(await appealTables()).toEqual(before);
  });

  it.each([
    ['a renamed executable', [{ name: 'licence.pdf', type: 'application/pdf', content: executable() }], 400, '不是PDF、JPG或PNG文件', 'is not a PDF, JPG or PNG file'],
    ['an HTML file called .pdf', [{ name: 'licence.pdf', type: 'application/pdf', content: html() }], 400, '不是PDF、JPG或PNG文件', 'is not a PDF, JPG or PNG file'],
    ['a file over 5 MB', [{ name: 'big.pdf', type: 'application/pdf', content: Buffer.concat([pdf(), Buffer.alloc(5 * MB, 0x20)]) }], 413, '超过5MB', 'larger than 5 MB'],
    ['six files', Array.from({ length: 6 }, (_, index) => ({ name: `p${index}.pdf`, type: 'application/pdf', content: pdf() })), 400, '最多只能上传5个文件', 'At most 5 files'],
    ['an empty file', [{ name: 'empty.pdf', type: 'application/pdf', content: Buffer.alloc(0) }], 400, '是空文件', 'is empty'],
    ['no file', [], 400, '请上传单位证件材料', "Upload the unit's certificate documents"],
  ] as [string, Upload[], number, string, string][])(
    'S-35 R-R3 when the upload is %s, then it is refused with a clear message in Chinese and English and nothing is written',
    async (_name, files, status, zh, en) => {
      const before = await appealTables();
      const page = await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: mobile() }, files);
      expect(page.status).toBe(status);
      expect(text(page)).toContain(zh);
      expect(page.html.querySelector('form#appeal')).not.toBeNull();
      const english = new Browser(app.url);
      await english.get('/lang?to=en&return=/recover/unit/appeal');
      const csrf = await browserCsrf(english, '/recover/unit/appeal');
      const translated = await uploadAppeal(english, csrf, { certType: 'uscc', certNo: unit.certNo, kind: 'account', applicantName: 'Li Appeal', contact: mobile() }, files);
      expect(translated.status).toBe(status);
      expect(text(translated)).toContain(en);
      expect(await appealTables()).toEqual(before);
    },
  );

  it('S-35 when documents are downloaded, then an anonymous visitor and a person are turned away and an operator gets an attachment with the sniffed type and nosniff', async () => {
    const submitted = await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: mobile() }, [
      { name: 'looks-like.html', type: 'text/html', content: pdf('declared as html') },
      { name: 'scan.pdf', type: 'application/pdf', content: png() },
    ]);
    expect(submitted.status).toBe(200);
    const detail = await operatorOpens(referenceOf(submitted));
    const links = detail.html.querySelectorAll('a.document').map((a) => a.getAttribute('href')!);
    expect(links).toHaveLength(2);

    const anonymous = await new Browser(app.url).request(links[0]!);
    expect(anonymous.status).toBe(302);
    expect(anonymous.body).not.toContain('%PDF');
    const person = await createPerson(app.app.services);
    const personBrowser = new Browser(app.url);
    await signInToAccount(personBrowser, person.loginName, person.password);
    const asPerson = await personBrowser.request(links[0]!);
    expect([302, 403]).toContain(asPerson.status);
    expect(asPerson.body).not.toContain('%PDF');

    const first = await fetch(new URL(links[0]!, app.url), { headers: { cookie: await operator.jar.getCookieString(app.url) } });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('application/pdf');
    expect(first.headers.get('content-disposition')).toMatch(/^attachment; filename="appeal-[A-Z0-9]{12}-1\.pdf"$/);
    expect(first.headers.get('x-content-type-options')).toBe('nosniff');
    expect(first.headers.get('content-security-policy')).toContain('sandbox');
    expect(Buffer.from(await first.arrayBuffer()).equals(pdf('declared as html'))).toBe(true);
    const second = await fetch(new URL(links[1]!, app.url), { headers: { cookie: await operator.jar.getCookieString(app.url) } });
    expect(second.headers.get('content-type')).toBe('image/png');
    expect(second.headers.get('content-disposition')).toMatch(/^attachment; filename="appeal-[A-Z0-9]{12}-2\.png"$/);
    expect(await countRows(app.db, 'audit_event', "action = 'appeal.document_download'")).toBeGreaterThanOrEqual(2);
  });

  it('S-35 issue 14 when the operator opens an appeal, then images are previewed inline, sandboxed (nosniff, CSP sandbox, the sniffed type), a PDF as PNG pages rendered on the server, each page audited, and bytes that are none of them are never served inline', async () => {
    const submitted = await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: mobile() }, [
      { name: 'licence.pdf', type: 'application/pdf', content: textPdf(['Business licence', 'Second page']) },
      { name: 'photo.png', type: 'image/png', content: png() },
      { name: 'id.jpg', type: 'image/jpeg', content: jpeg() },
    ]);
    expect(submitted.status).toBe(200);
    const detail = await operatorOpens(referenceOf(submitted));
    // No frame: the browser never gets the PDF to parse (Chromium shows nothing for a PDF in a sandboxed frame).
    expect(detail.html.querySelectorAll('#previews iframe')).toHaveLength(0);
    const pages = detail.html.querySelectorAll('#previews img.pdf-page');
    const images = detail.html.querySelectorAll('#previews img:not(.pdf-page)');
    expect(pages.map((image) => image.getAttribute('alt'))).toEqual(['第1份材料：licence.pdf，第1页', '第1份材料：licence.pdf，第2页']);
    expect(images.map((image) => image.getAttribute('alt'))).toEqual(['第2份材料：photo.png', '第3份材料：id.jpg']);
    expect(detail.html.querySelector('#previews .pdf-note')).toBeNull();
    const cookie = await operator.jar.getCookieString(app.url);
    const expected = [
      ['image/png', '1-1.png'],
      ['image/png', '1-2.png'],
      ['image/png', '2.png'],
      ['image/jpeg', '3.jpg'],
    ];
    const sources = [...pages, ...images].map((image) => image.getAttribute('src')!);
    for (const [index, src] of sources.entries()) {
      const preview = await fetch(new URL(src, app.url), { headers: { cookie } });
      expect(preview.status).toBe(200);
      expect(preview.headers.get('content-type')).toBe(expected[index]![0]);
      expect(preview.headers.get('content-disposition')).toMatch(new RegExp(`^inline; filename="appeal-[A-Z0-9]{12}-${expected[index]![1]!.replace('.', '\\.')}"$`));
      expect(preview.headers.get('x-content-type-options')).toBe('nosniff');
      expect(preview.headers.get('content-security-policy')).toMatch(/^sandbox; default-src 'none';.*frame-ancestors 'self'$/);
      expect(preview.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(preview.headers.get('cache-control')).toBe('no-store');
      const body = Buffer.from(await preview.arrayBuffer());
      if (index < pages.length) {
        // A page of the preview width (letter size: 612 × 792 pt), with the text drawn on it.
        const facts = await pngFacts(body);
        expect(facts).toMatchObject({ width: PDF_PREVIEW.width, height: Math.floor((792 * PDF_PREVIEW.width) / 612) });
        expect(facts.inked).toBeGreaterThan(500);
      }
    }
    // Nobody else sees them; each preview, each PDF page, is audited as the operator's look at the document.
    expect((await new Browser(app.url).request(sources[0]!)).status).toBe(302);
    expect((await new Browser(app.url).request(sources[2]!)).status).toBe(302);
    const { rows } = await app.db.query<{ detail: { preview?: boolean; page?: number; seq: number } }>(
      "SELECT detail FROM audit_event WHERE action = 'appeal.document_download' ORDER BY at DESC LIMIT 4",
    );
    expect(rows.map((row) => row.detail.preview)).toEqual([true, true, true, true]);
    expect(rows.map((row) => [row.detail.seq, row.detail.page]).sort()).toEqual([
      [1, 1],
      [1, 2],
      [2, undefined],
      [3, undefined],
    ]);

    // The PDF itself is never served inline, only its rendered pages.
    const pdfInline = await fetch(new URL(sources[0]!.replace(/\/pages\/1$/, '/preview'), app.url), { headers: { cookie } });
    expect(pdfInline.status).toBe(415);
    expect(pdfInline.headers.get('content-type')).not.toContain('pdf');
    await pdfInline.arrayBuffer();

    // Stored bytes that are not PNG or JPEG (whatever the row says): refused inline, the download stays an attachment.
    const src = sources[2]!;
    const documentId = src.split('/')[5]!;
    await app.db.query('UPDATE appeal_document SET content = $2 WHERE id = $1', [documentId, html()]);
    const refused = await fetch(new URL(src, app.url), { headers: { cookie } });
    expect(refused.status).toBe(415);
    expect(refused.headers.get('content-disposition')).toBeNull();
    expect(await refused.text()).not.toContain('alert(document.cookie)');
    const download = await fetch(new URL(src.replace(/\/preview$/, ''), app.url), { headers: { cookie } });
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; /);
    await download.arrayBuffer();
  });

  it("S-35 issue 14 when thirty page images of one PDF are asked for at once, then a queue's worth renders, the rest answer 503 with Retry-After and a readable message, never a 500, each request is audited, and the pages render afterwards", async () => {
    const pages = PDF_PREVIEW.pages;
    const submitted = await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: mobile() }, [
      { name: 'burst.pdf', type: 'application/pdf', content: textPdf(Array.from({ length: pages }, (_, index) => `Burst page ${index + 1}`)) },
    ]);
    expect(submitted.status).toBe(200);
    const detail = await operatorOpens(referenceOf(submitted));
    const sources = detail.html.querySelectorAll('#previews img.pdf-page').map((image) => image.getAttribute('src')!);
    expect(sources).toHaveLength(pages);
    const cookie = await operator.jar.getCookieString(app.url);
    const audited = () => countRows(app.db, 'audit_event', "action = 'appeal.document_download'");
    const auditedBefore = await audited();
    // Three requests for each page at once (a browser opening the page three times over), none of them cached yet.
    const burst = Array.from({ length: 30 }, (_, index) => sources[index % pages]!);
    const answers = await Promise.all(
      burst.map(async (src) => {
        const response = await fetch(new URL(src, app.url), { headers: { cookie, 'accept-language': 'zh-CN' } });
        return {
          status: response.status,
          type: response.headers.get('content-type'),
          retryAfter: response.headers.get('retry-after'),
          body: Buffer.from(await response.arrayBuffer()),
        };
      }),
    );
    expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 503).map((answer) => answer.status)).toEqual([]);
    const rendered = answers.filter((answer) => answer.status === 200);
    const busy = answers.filter((answer) => answer.status === 503);
    // One render runs and a queue's worth waits: those are answered; beyond them the answer is at once.
    expect(rendered.length).toBeGreaterThanOrEqual(PDF_PREVIEW.maxQueue + 1);
    expect(busy.length).toBeGreaterThan(0);
    for (const answer of rendered) {
      expect(answer.type).toBe('image/png');
      expect((await pngFacts(answer.body)).width).toBe(PDF_PREVIEW.width);
    }
    for (const answer of busy) {
      expect(answer.retryAfter).toMatch(/^[1-9][0-9]*$/);
      expect(answer.type).toMatch(/^text\/html/);
      expect(answer.body.toString('utf8')).toContain('服务繁忙，请稍后再试。');
      expect(answer.body.toString('utf8')).not.toMatch(/\bat .*\.(?:js|ts):\d+|node_modules/);
    }
    // Every request for a page is the operator's look at the document, answered or not.
    expect(await audited()).toBe(auditedBefore + burst.length);
    // The queue drains: each page, asked for once more, is there.
    for (const src of sources) {
      const again = await fetch(new URL(src, app.url), { headers: { cookie } });
      expect(again.status).toBe(200);
      await again.arrayBuffer();
    }
  }, 120_000);

  it("issue 14 when a PDF has more pages than are previewed, is corrupted or password-protected, or a page is asked for that is not there, then the operator is told so in the page's language with the download at hand, never a 500", async () => {
    const submitted = await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: mobile() }, [
      { name: 'long.pdf', type: 'application/pdf', content: textPdf(Array.from({ length: PDF_PREVIEW.pages + 2 }, (_, index) => `Page ${index + 1}`)) },
      { name: 'broken.pdf', type: 'application/pdf', content: corruptPdf() },
      { name: 'short.pdf', type: 'application/pdf', content: textPdf(['Only page']) },
      { name: 'locked.pdf', type: 'application/pdf', content: encryptedPdf() },
    ]);
    expect(submitted.status).toBe(200);
    const detail = await operatorOpens(referenceOf(submitted));
    const appealId = pathOf(detail).split('/')[3]!;
    const [long, broken, short, locked] = detail.html.querySelectorAll('#previews figure');
    const pagesOf = (figure: typeof long) => `/operator/appeals/${appealId}/documents/${figure!.getAttribute('data-document')}/pages`;
    expect(long!.querySelectorAll('img.pdf-page')).toHaveLength(PDF_PREVIEW.pages);
    expect(long!.querySelector('.pdf-note')?.text).toContain(`共${PDF_PREVIEW.pages + 2}页，仅预览前${PDF_PREVIEW.pages}页。`);
    expect(long!.querySelector('.pdf-note a[download]')?.getAttribute('href')).toBe(pagesOf(long).replace(/\/pages$/, ''));
    expect(long!.querySelector('img.pdf-page')?.getAttribute('src')).toBe(`${pagesOf(long)}/1`);
    expect(broken!.querySelectorAll('img')).toHaveLength(0);
    expect(broken!.querySelector('.pdf-note')?.text).toContain('该文件不能在线预览，请下载后查看。');
    expect(broken!.querySelector('.pdf-note a[download]')).not.toBeNull();
    expect(short!.querySelectorAll('img.pdf-page')).toHaveLength(1);
    expect(locked!.querySelectorAll('img')).toHaveLength(0);
    expect(locked!.querySelector('.pdf-note')?.text).toContain('该文件不能在线预览，请下载后查看。');

    const cookie = await operator.jar.getCookieString(app.url);
    const cases: [string, number, string, string][] = [
      [`${pagesOf(long)}/0`, 400, '页码无效，请使用1到10之间的整数。', 'Invalid page number'],
      [`${pagesOf(long)}/abc`, 400, '页码无效', 'Invalid page number'],
      [`${pagesOf(long)}/1.5`, 400, '页码无效', 'Invalid page number'],
      [`${pagesOf(long)}/${PDF_PREVIEW.pages + 1}`, 404, `仅预览前${PDF_PREVIEW.pages}页，其余请下载后查看。`, `Only the first ${PDF_PREVIEW.pages} pages are previewed`],
      [`${pagesOf(short)}/2`, 404, '该材料共1页，没有第2页。', 'This document has 1 page(s); there is no page 2.'],
      [`${pagesOf(broken)}/1`, 415, '该文件不能在线预览，请下载后查看。', 'This file cannot be previewed; download it to view it.'],
      [`${pagesOf(locked)}/1`, 415, '该文件不能在线预览，请下载后查看。', 'This file cannot be previewed; download it to view it.'],
    ];
    for (const [path, status, zh, en] of cases) {
      for (const [lang, message] of [
        ['zh-CN', zh],
        ['en', en],
      ] as const) {
        const answer = await fetch(new URL(path, app.url), { headers: { cookie: `${cookie}; lang=${lang}` } });
        expect([path, lang, answer.status]).toEqual([path, lang, status]);
        expect(answer.headers.get('content-type')).toContain('text/html');
        expect(await answer.text()).toContain(message);
      }
    }
    // Every request that reached a document is audited with its page, whatever the answer; nonsense numbers are not.
    const names = new Map(Object.entries({ long, broken, short, locked }).map(([name, figure]) => [figure!.getAttribute('data-document')!, name]));
    const { rows } = await app.db.query<{ document: string; page: string }>(
      "SELECT detail->>'document' AS document, detail->>'page' AS page FROM audit_event WHERE action = 'appeal.document_download' AND detail->>'page' IS NOT NULL AND detail->>'document' = ANY($1)",
      [[...names.keys()]],
    );
    expect(rows.map((row) => `${names.get(row.document)}:${row.page}`).sort()).toEqual(['broken:1', 'broken:1', 'locked:1', 'locked:1', 'short:2', 'short:2']);
  });

  it('R-R3 when a link is wrong, expired or the appeal was rejected, then no recovery happens', async () => {
    const browser = new Browser(app.url);
    const wrong = await browser.get(`/recover/unit/appeal/link?token=${'A'.repeat(43)}`);
    expect(wrong.status).toBe(400);
    expect(wrong.html.querySelector('form#appeal-link')).toBeNull();
    // A token longer than any link's is refused whole, not cut to a length and looked up.
    const long = await browser.get(`/recover/unit/appeal/link?token=${'A'.repeat(43)}${'B'.repeat(2000)}`);
    expect(long.status).toBe(400);
    expect(long.html.querySelector('form#appeal-link')).toBeNull();
    expect(long.html.text).toContain('链接');

    const applicant = mobile();
    const expiring = referenceOf(await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: applicant }));
    await approve(expiring);
    const link = linkIn(await lastMessage(app.db, applicant));
    const landing = await browser.get(link);
    expect(landing.status).toBe(200);
    await app.db.query("UPDATE appeal SET link_expires_at = now() - interval '1 second' WHERE reference = $1", [expiring.replaceAll('-', '')]);
    const expired = await browser.submit(landing, 'form#appeal-link');
    expect(expired.status).toBe(400);
    expect(expired.body).not.toContain(unit.loginName);
    expect((await browser.get(link)).status).toBe(400);
    const state = await post(browser, '/recover/unit/appeal/status', await browserCsrf(browser), { reference: expiring, contact: applicant });
    expect(state.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('expired');

    const rejectedBy = mobile();
    const rejected = referenceOf(await fileAppeal({ certNo: unit.certNo, kind: 'password', contact: rejectedBy }));
    const page = await operatorOpens(rejected);
    const confirmReject = await operator.submit(page, 'form#reject', { note: 'x' });
    expect(text(confirmReject)).toContain('确认不予通过');
    const refused = await operator.submit(confirmReject, 'form#confirm');
    expect(refused.status).toBe(400);
    expect(text(refused)).toContain('请填写2至200字的说明');
    const done = await operator.submit(await operator.submit(refused, 'form#reject', { note: '营业执照与单位名称不一致' }), 'form#confirm');
    expect(done.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('rejected');
    const message = await lastMessage(app.db, rejectedBy);
    expect(message).toContain('营业执照与单位名称不一致');
    expect(message).not.toContain('/recover/unit/appeal/link');
    const seen = await post(browser, '/recover/unit/appeal/status', await browserCsrf(browser), { reference: rejected, contact: rejectedBy });
    expect(text(seen)).toContain('营业执照与单位名称不一致');
    expect(await countRows(app.db, 'audit_event', "action = 'appeal.reject' AND acting_unit_id = $1", [unit.id])).toBeGreaterThanOrEqual(1);
  });

  it('S-22 R-R3 when an appeal names an unknown certificate, then it is received like any other; the operator sees no unit and cannot approve it', async () => {
    const known = await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: mobile() });
    const unknownContact = mobile();
    const unknown = await fileAppeal({ certNo: uscc(), kind: 'account', contact: unknownContact });
    expect(unknown.status).toBe(known.status);
    expect(text(unknown).replace(referenceOf(unknown), 'REF')).toBe(text(known).replace(referenceOf(known), 'REF'));
    expect(await lastMessage(app.db, unknownContact)).toContain(referenceOf(unknown));
    const page = await operatorOpens(referenceOf(unknown));
    expect(text(page)).toContain('没有以该证件注册的单位账号');
    const refused = await operator.submit(await operator.submit(page, 'form#approve', { note: '' }), 'form#confirm');
    expect(refused.status).toBe(409);
    expect(refused.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('pending');
  });

  it('S-22 when the status page gets an unknown reference or the wrong contact, then both answers are the same', async () => {
    const applicant = mobile();
    const reference = referenceOf(await fileAppeal({ certNo: unit.certNo, kind: 'account', contact: applicant }));
    const browser = new Browser(app.url);
    const csrf = await browserCsrf(browser);
    const wrongContact = await post(browser, '/recover/unit/appeal/status', csrf, { reference, contact: mobile() });
    const unknown = await post(browser, '/recover/unit/appeal/status', csrf, { reference: 'ABCD-EFGH-JKMN', contact: applicant });
    expect(wrongContact.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(text(wrongContact).replace(reference, 'REF')).toBe(text(unknown).replace('ABCD-EFGH-JKMN', 'REF'));
    expect(wrongContact.html.querySelector('#appeal-state')).toBeNull();
    const right = await post(browser, '/recover/unit/appeal/status', csrf, { reference: reference.toLowerCase().replaceAll('-', ' '), contact: `+86 ${applicant}` });
    expect(right.status).toBe(200);
    expect(right.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('pending');
  });

  it('S-21 when appeals come too often for one certificate or from one IP, then they are refused with 429', async () => {
    const target = await createUnit(app.app.services, contact, { name: '申诉限流测试单位' });
    for (let index = 0; index < APPEAL_LIMITS.submitPerCertificate.limit; index += 1) {
      expect((await fileAppeal({ certNo: target.certNo, kind: 'account', contact: mobile() }, DOCUMENTS.slice(0, 1), `10.40.0.${index}`)).status).toBe(200);
    }
    expect((await fileAppeal({ certNo: target.certNo, kind: 'account', contact: mobile() }, DOCUMENTS.slice(0, 1), '10.40.1.1')).status).toBe(429);

    await clearThrottle(app.db);
    for (let index = 0; index < APPEAL_LIMITS.submitPerIp.limit; index += 1) {
      expect((await fileAppeal({ certNo: uscc(), kind: 'account', contact: mobile() }, DOCUMENTS.slice(0, 1), '10.41.0.1')).status).toBe(200);
    }
    const limited = await fileAppeal({ certNo: uscc(), kind: 'account', contact: mobile() }, DOCUMENTS.slice(0, 1), '10.41.0.1');
    expect(limited.status).toBe(429);
    expect(text(limited)).toContain('操作过于频繁');
    expect((await fileAppeal({ certNo: uscc(), kind: 'account', contact: mobile() }, DOCUMENTS.slice(0, 1), '10.41.0.2')).status).toBe(200);
  });
});

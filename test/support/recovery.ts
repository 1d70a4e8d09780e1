import zlib from 'node:zlib';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import type { Queryable } from '../../src/shared/db/database.js';
import { Browser, type Page } from './browser.js';
import { jobsSettled } from './jobs.js';

/**
 * Helpers for unit account recovery and appeals (issue #6): form posts from a chosen client IP (the app trusts
 * X-Forwarded-For when started with TRUST_PROXY=true), multipart uploads as a browser sends them, sample documents
 * whose content is (or pretends to be) PDF, JPEG or PNG, and what the notifier sent.
 */

/** The browser's CSRF token, from any page of the provider that has a form. */
export async function browserCsrf(browser: Browser, path = '/recover/unit/account'): Promise<string> {
  const page = await browser.get(path);
  const value = page.html.querySelector('input[name="_csrf"]')?.getAttribute('value');
  if (!value) throw new Error(`no _csrf on ${page.url}:\n${page.body.slice(0, 800)}`);
  return value;
}

/** POSTs a url-encoded form with the browser's cookies, optionally from another client IP; follows redirects. */
export async function post(browser: Browser, path: string, csrf: string, values: Record<string, string>, ip?: string): Promise<Page> {
  const body = new URLSearchParams({ _csrf: csrf, ...values });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (ip) headers['x-forwarded-for'] = ip;
  return browser.follow(await browser.request(path, { method: 'POST', body: body.toString(), headers }));
}

export interface Upload {
  name: string;
  /** The type the browser declares (never trusted by the server). */
  type: string;
  content: Buffer;
}

/** Sends the appeal form as multipart/form-data with the given files (field `documents`). */
export async function uploadAppeal(browser: Browser, csrf: string, values: Record<string, string>, files: Upload[], ip?: string): Promise<Page> {
  const form = new FormData();
  form.append('_csrf', csrf);
  for (const [name, value] of Object.entries(values)) form.append(name, value);
  for (const file of files) form.append('documents', new Blob([new Uint8Array(file.content)], { type: file.type }), file.name);
  // As the page's form does: the CSRF token also in the action URL, so it is checked before the body is read (S-35).
  return browser.request(`/recover/unit/appeal?_csrf=${encodeURIComponent(csrf)}`, { method: 'POST', body: form, headers: ip ? { 'x-forwarded-for': ip } : {} });
}

/** A small well-formed PDF. */
export function pdf(text = 'business licence'): Buffer {
  return Buffer.from(
    `%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% ${text}\ntrailer << /Root 1 0 R >>\n%%EOF\n`,
  );
}

/** A PDF of the given objects (numbered from 1, the first the catalog), with a correct cross-reference table. */
function buildPdf(objects: string[], trailer = ''): Buffer {
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  for (const [index, body] of objects.entries()) {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${index + 1} 0 obj\n${body}\nendobj\n`;
  }
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${trailer}>>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Letter-size pages, each showing one string in 36 pt of the given font (object 3); strings as PDF literals. */
function textPages(font: string, strings: string[]): Buffer {
  const objects = ['<< /Type /Catalog /Pages 2 0 R >>', `<< /Type /Pages /Kids [${strings.map((_, index) => `${4 + index * 2} 0 R`).join(' ')}] /Count ${strings.length} >>`, font];
  for (const string of strings) {
    const content = `BT /F1 36 Tf 72 700 Td ${string} Tj ET`;
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${objects.length + 2} 0 R >>`);
    objects.push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
  }
  return buildPdf(objects);
}

/** A PDF with real pages of Helvetica text (not embedded: pdf.js draws it from its standard font data). */
export function textPdf(pages: string[] = ['Business licence']): Buffer {
  return textPages(
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    pages.map((page) => `(${page.replace(/[()\\]/g, '')})`),
  );
}

/**
 * A PDF with a page of Chinese text per string, in a non-embedded CID font (STSong-Light, Adobe-GB1) through the
 * UniGB-UCS2-H CMap, as many Chinese office tools write it: pdf.js needs its packed CMaps to read the codes.
 */
export function chinesePdf(...pages: string[]): Buffer {
  const hex = (text: string) =>
    `<${[...text]
      .map((char) => char.codePointAt(0)!.toString(16).padStart(4, '0'))
      .join('')
      .toUpperCase()}>`;
  const descriptor = '<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 80 >>';
  const font = `<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor ${descriptor} >>] >>`;
  return textPages(font, pages.map(hex));
}

/**
 * A PDF protected by a user password (standard security handler, RC4 40-bit): its /U entry does not match the empty
 * password, so a reader must ask for one.
 */
export function encryptedPdf(): Buffer {
  const hex = (byte: number) => byte.toString(16).padStart(2, '0').repeat(32);
  return buildPdf(
    ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [] /Count 0 >>', `<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 /O <${hex(0x5a)}> /U <${hex(0xa5)}> >>`],
    `/Encrypt 3 0 R /ID [<${'0f'.repeat(16)}> <${'0f'.repeat(16)}>] `,
  );
}

/** A PDF header followed by garbage: sniffed as PDF, unreadable by any PDF reader. */
export function corruptPdf(): Buffer {
  return Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from(Array.from({ length: 2048 }, (_, index) => (index * 131 + 17) % 256))]);
}

function crc32(data: Buffer): number {
  let crc = ~0;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit += 1) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A 1×1 PNG. */
export function png(): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(1, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.from([0, 255, 255, 255]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The start of a JFIF JPEG (what content sniffing looks at). */
export function jpeg(): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0', 'latin1'), Buffer.alloc(64, 0), Buffer.from([0xff, 0xd9])]);
}

/** A Windows executable's header (MZ … PE). */
export function executable(): Buffer {
  const file = Buffer.alloc(512, 0);
  file.write('MZ', 0, 'latin1');
  file.writeUInt32LE(0x80, 0x3c);
  file.write('PE\0\0', 0x80, 'latin1');
  return file;
}

/** An HTML page with a script (to be uploaded under a .pdf name). */
export function html(): Buffer {
  return Buffer.from('<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(document.cookie)</script></body></html>');
}

/** The last notification sent to a recipient (outbox), or undefined. */
export async function lastMessage(db: Queryable, to: string): Promise<string | undefined> {
  await jobsSettled(db);
  const { rows } = await db.query<{ body: string }>('SELECT body FROM notification_outbox WHERE recipient = $1 ORDER BY created_at DESC LIMIT 1', [to]);
  return rows[0]?.body;
}

/** The single-use link of an approved appeal, from the message sent to the applicant. */
export function linkIn(message: string | undefined): string {
  const match = message?.match(/https?:\/\/\S+\/recover\/unit\/appeal\/link\?token=[A-Za-z0-9_-]+/);
  if (!match) throw new Error(`no appeal link in ${message}`);
  return match[0];
}

/** The page's visible text (tags stripped). */
export const text = (page: Page): string => Browser.text(page);

/** A PNG's size and how many of its pixels are not (near) white, decoded with @napi-rs/canvas. */
export async function pngFacts(png: Buffer): Promise<{ width: number; height: number; inked: number }> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const { data } = context.getImageData(0, 0, image.width, image.height);
  let inked = 0;
  for (let index = 0; index < data.length; index += 4) {
    if (Math.min(data[index]!, data[index + 1]!, data[index + 2]!) < 200) inked += 1;
  }
  return { width: image.width, height: image.height, inked };
}

import zlib from 'node:zlib';
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
  return Buffer.from(`%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% ${text}\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
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
    chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(Buffer.from([0, 255, 255, 255]))), chunk('IEND', Buffer.alloc(0)),
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

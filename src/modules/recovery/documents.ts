import crypto from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import type { Context } from 'koa';
import { AppError } from '../../shared/errors.js';
import type { NewDocument } from './store.js';
import type { PdfFailure, PdfPreviewer } from './pdf-preview.js';
import { QueueFullError } from '../../shared/security/semaphore.js';

/** R-R3 / S-35: at most 5 documents of at most 5 MB each, PDF, JPEG or PNG by their content. */
export const DOCUMENT_LIMITS = { maxFiles: 5, maxBytes: 5 * 1024 * 1024 } as const;

/** The sniffed types we accept, and the extension used when an operator downloads the file. */
export const DOCUMENT_TYPES: Readonly<Record<string, string>> = { 'application/pdf': 'pdf', 'image/jpeg': 'jpg', 'image/png': 'png' };

/** An uploaded file as the multipart parser hands it over (memory storage). */
export interface UploadedFile {
  originalname: string;
  size: number;
  buffer: Buffer;
}

/** The uploader's file name, for display only: no path, no control characters, at most 100 characters. */
export function displayName(original: string): string {
  const base = original.split(/[\\/]/).pop() ?? '';
  const clean = base
    .normalize('NFC')
    .replace(/[\p{Cc}\p{Cf}<>"]/gu, '')
    .trim();
  return [...clean].slice(0, 100).join('') || 'document';
}

/**
 * Checks every uploaded document; the type comes from the content (magic numbers), never from the name or the
 * declared type, so a renamed executable or an HTML page called .pdf is refused.
 */
export async function checkDocuments(files: readonly UploadedFile[]): Promise<NewDocument[]> {
  if (files.length === 0) throw new AppError('appeal_documents_required', { field: 'documents' });
  if (files.length > DOCUMENT_LIMITS.maxFiles) throw new AppError('appeal_too_many_files', { params: { max: DOCUMENT_LIMITS.maxFiles }, field: 'documents' });
  const documents: NewDocument[] = [];
  for (const [index, file] of files.entries()) {
    const name = displayName(file.originalname);
    if (file.size === 0 || file.buffer.length === 0) throw new AppError('appeal_file_empty', { params: { name }, field: 'documents' });
    if (file.buffer.length > DOCUMENT_LIMITS.maxBytes)
      throw new AppError('appeal_file_too_large', { params: { name, mb: DOCUMENT_LIMITS.maxBytes / 1024 / 1024 }, field: 'documents' });
    const sniffed = await fileTypeFromBuffer(file.buffer);
    if (!sniffed || !DOCUMENT_TYPES[sniffed.mime]) throw new AppError('appeal_file_type', { params: { name }, field: 'documents' });
    documents.push({
      id: crypto.randomUUID(),
      seq: index + 1,
      filename: name,
      contentType: sniffed.mime,
      size: file.buffer.length,
      sha256: crypto.createHash('sha256').update(file.buffer).digest('hex'),
      content: file.buffer,
    });
  }
  return documents;
}

/**
 * What an operator may see inline (issue 14): PNG and JPEG as they are, PDF as page images rendered on the server
 * (./pdf-preview.ts), so that the browser never parses an uploaded PDF; nothing else.
 */
export const PREVIEW_TYPES: Readonly<Record<string, 'pdf' | 'image'>> = { 'application/pdf': 'pdf', 'image/png': 'image', 'image/jpeg': 'image' };

/**
 * S-35: the headers of everything shown inline: nosniff and `Content-Security-Policy: sandbox` (no script, no plugin,
 * an opaque origin), framable by our own pages only, never cached.
 */
function inlineHeaders(ctx: Context, filename: string): void {
  ctx.set('Content-Disposition', `inline; filename="${filename}"`);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', "sandbox; default-src 'none'; img-src 'self'; frame-ancestors 'self'");
  ctx.set('X-Frame-Options', 'SAMEORIGIN');
  ctx.set('Cache-Control', 'no-store');
}

/**
 * Shows a stored PNG or JPEG inline on the operator's appeal page (issue 14, S-35): the type is sniffed again from
 * the stored bytes (never the stored or declared type); anything else, a PDF included (shown as rendered page
 * images, see `sendPdfPage`), is refused here and stays download-only.
 */
export async function sendPreview(ctx: Context, document: { reference: string; seq: number; content: Buffer }): Promise<void> {
  const sniffed = await fileTypeFromBuffer(document.content);
  if (!sniffed || PREVIEW_TYPES[sniffed.mime] !== 'image') throw new AppError('appeal_preview_unavailable');
  inlineHeaders(ctx, `appeal-${document.reference}-${document.seq}.${DOCUMENT_TYPES[sniffed.mime]}`);
  ctx.type = sniffed.mime;
  ctx.body = document.content;
}

/**
 * One page of a stored PDF as a PNG rendered on the server (issue 14, S-35), with the inline headers. The bytes are
 * sniffed again; a page past the preview's limit or the document's end is a 404 saying so, a PDF that cannot be
 * rendered (broken, encrypted, over a limit) a 415 saying to download it, a full render queue a 503 with Retry-After.
 */
export async function sendPdfPage(
  ctx: Context,
  previewer: PdfPreviewer,
  document: { id: string; sha256: string; reference: string; seq: number; content: Buffer },
  page: number,
): Promise<void> {
  const sniffed = await fileTypeFromBuffer(document.content);
  if (sniffed?.mime !== 'application/pdf') throw new AppError('appeal_preview_unavailable');
  const source = { id: document.id, sha256: document.sha256, content: async () => document.content };
  let image: Buffer | PdfFailure;
  try {
    image = await previewer.page(source, page);
  } catch (error) {
    if (error instanceof QueueFullError) throw new AppError('busy');
    throw error;
  }
  if (image === 'no_page') {
    const count = await previewer.pageCount(source);
    throw new AppError('appeal_preview_no_page', { params: { page, pages: 'pages' in count ? count.pages : 0 } });
  }
  if (typeof image === 'string') throw new AppError('appeal_preview_unavailable');
  inlineHeaders(ctx, `appeal-${document.reference}-${document.seq}-${page}.png`);
  ctx.type = 'image/png';
  ctx.body = image;
}

/**
 * S-35: sends a stored appeal document as a download, never inline: the sniffed type, nosniff, a sandboxing CSP and
 * a generated file name (the operator console and the management API alike).
 */
export function sendDocument(ctx: Context, document: { reference: string; seq: number; contentType: string; content: Buffer }): void {
  ctx.set('Content-Disposition', `attachment; filename="appeal-${document.reference}-${document.seq}.${DOCUMENT_TYPES[document.contentType] ?? 'bin'}"`);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
  ctx.set('Cache-Control', 'no-store');
  ctx.type = document.contentType;
  ctx.body = document.content;
}

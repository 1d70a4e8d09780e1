/**
 * The worker thread that reads an uploaded PDF for the operator's preview (issue 14, S-35): pdf.js (memory-safe
 * JavaScript, no eval path in pdfjs-dist 6) parses it here, never the operator's browser, and @napi-rs/canvas draws
 * one page into a PNG. It runs under `resourceLimits` and a wall-clock timeout set by ./pdf-preview.ts, which
 * terminates it when either is exceeded, so a hostile PDF costs at most one worker.
 *
 * Written in erasable TypeScript with no relative value import: tsc compiles it to dist/ for `npm start`, and Node
 * runs the .ts source itself (type stripping) under jest, where ./pdf-preview.ts is loaded from src/.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { createCanvas } from '@napi-rs/canvas';
import { getDocument, PasswordException, VerbosityLevel } from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { PdfJob, PdfJobResult } from './pdf-preview.js';

// The package's own standard fonts (Helvetica & co. when not embedded) and packed CMaps (CJK encodings).
const PDFJS_DIR = path.dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));

async function run(job: PdfJob): Promise<PdfJobResult> {
  const loading = getDocument({
    data: job.data,
    standardFontDataUrl: `${PDFJS_DIR}/standard_fonts/`,
    cMapUrl: `${PDFJS_DIR}/cmaps/`,
    cMapPacked: true,
    wasmUrl: `${PDFJS_DIR}/wasm/`,
    // No font face injection, no system fonts, no scripting or XFA: what is drawn comes from the file and the package.
    disableFontFace: true,
    useSystemFonts: false,
    enableXfa: false,
    // A single embedded image above this many pixels is not decoded (a decompression bomb), the page still renders.
    maxImageSize: job.maxImagePixels,
    stopAtErrors: false,
    // Nothing on the console: a malformed file's complaints are not the instance's log (the job's result says it).
    verbosity: VerbosityLevel.ERRORS,
  });
  try {
    const document = await loading.promise;
    if (job.op === 'count') return { ok: true, pages: document.numPages };
    if (job.page > document.numPages) return { ok: false, reason: 'no_page' };
    const page = await document.getPage(job.page);
    const natural = page.getViewport({ scale: 1 });
    // The preview width, unless the page is so tall that the image would exceed the height cap.
    const scale = Math.min(job.width / natural.width, job.maxHeight / natural.height);
    const viewport = page.getViewport({ scale });
    const canvas = createCanvas(Math.max(1, Math.floor(viewport.width)), Math.max(1, Math.floor(viewport.height)));
    await page.render({ canvas: canvas as unknown as Parameters<typeof page.render>[0]['canvas'], viewport, background: 'rgb(255,255,255)' }).promise;
    // A copy in a buffer of its own, transferable to the main thread (the encoder's may be external memory).
    return { ok: true, pages: document.numPages, png: new Uint8Array(await canvas.encode('png')) };
  } catch (error) {
    return { ok: false, reason: error instanceof PasswordException ? 'encrypted' : 'broken' };
  } finally {
    await loading.destroy();
  }
}

parentPort?.on('message', (job: PdfJob) => {
  void run(job).then((result) => {
    parentPort?.postMessage(result, result.ok && result.png ? [result.png.buffer as ArrayBuffer] : []);
  });
});

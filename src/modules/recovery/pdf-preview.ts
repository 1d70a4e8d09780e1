import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { QueueFullError, Semaphore } from '../../shared/security/semaphore.js';

/**
 * Server-side preview of PDF appeal documents (issue 14, S-35): the operator's browser never parses an uploaded PDF
 * (Chromium shows nothing for a PDF in a sandboxed frame, and loosening the sandbox for untrusted uploads is the
 * wrong trade); pdf.js renders the first pages to PNG in a worker thread, and the appeal page shows them as images.
 */
export const PDF_PREVIEW = {
  /** Pages previewed (the first ones); the page says how many there are when there are more. */
  pages: 10,
  /** Width of a page image in pixels; a page taller than `maxHeight` at that width is scaled down to fit it. */
  width: 1100,
  maxHeight: 3000,
  /** An embedded image above this many pixels is not decoded (a decompression bomb); the rest of the page renders. */
  maxImagePixels: 40_000_000,
  /** The worker's V8 heap (pdf.js and the parsed file); the canvas itself is bounded by width × maxHeight. */
  memoryMb: 256,
  /** Wall-clock limits: counting pages parses the file's structure, rendering one page draws it. */
  countTimeoutMs: 5_000,
  renderTimeoutMs: 15_000,
  /** One render at a time per instance; at most this many wait, beyond that 503 with Retry-After. */
  maxQueue: 16,
  /** The worker (about a second to start: pdf.js is loaded) is kept while previews are asked for, then ended. */
  idleMs: 60_000,
  /** Page images kept in memory, per document id, SHA-256 and page, by bytes and age (page counts: a 16th of it). */
  cacheBytes: 48 * 1024 * 1024,
  cacheTtlMs: 5 * 60_000,
} as const;

export type PdfPreviewLimits = { -readonly [K in keyof typeof PDF_PREVIEW]: number };

/** A job for the worker (./pdf-render-worker.ts): count the pages, or render one page. */
export type PdfJob =
  { op: 'count'; data: Uint8Array; maxImagePixels: number } | { op: 'render'; data: Uint8Array; maxImagePixels: number; page: number; width: number; maxHeight: number };

/** Why a PDF has no preview: not readable, encrypted, over a limit (time or memory), or no such page. */
export type PdfFailure = 'broken' | 'encrypted' | 'limit' | 'no_page';

export type PdfJobResult = { ok: true; pages: number; png?: Uint8Array } | { ok: false; reason: PdfFailure };

/** What the appeal page knows about a PDF: its page count, why it cannot be previewed, or that the queue is full. */
export type PdfPages = { pages: number } | { unavailable: Exclude<PdfFailure, 'no_page'> | 'busy' };

/** A stored document as the previewer needs it; `content` is read only when the cache has no answer. */
export interface PdfSource {
  id: string;
  sha256: string;
  content: () => Promise<Buffer>;
}

/**
 * From dist/ (npm start) the compiled worker is beside this file; under jest this file is loaded from src/ and Node
 * runs the worker's TypeScript source itself (type stripping: erasable syntax only, no relative value import).
 */
function workerFile(): URL {
  const compiled = new URL('./pdf-render-worker.js', import.meta.url);
  return fs.existsSync(fileURLToPath(compiled)) ? compiled : new URL('./pdf-render-worker.ts', import.meta.url);
}

/**
 * Keeps what the worker answered for a few minutes, bounded by bytes (least recently used first out). A cache and
 * not a second "count" pass per image because the appeal page and then each of its images ask about the same
 * document within seconds; keyed by the SHA-256 too, so that changed bytes are never answered from the cache.
 */
class ResultCache<T> {
  readonly #entries = new Map<string, { value: T; bytes: number; expires: number }>();
  #bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly ttlMs: number,
  ) {}

  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= Date.now()) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: T, bytes: number): void {
    if (bytes > this.maxBytes) return;
    const old = this.#entries.get(key);
    if (old) {
      this.#entries.delete(key);
      this.#bytes -= old.bytes;
    }
    this.#entries.set(key, { value, bytes, expires: Date.now() + this.ttlMs });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }
}

/**
 * Runs pdf.js in one worker thread per instance, one job at a time, each under a wall-clock timeout: a job that
 * exceeds it, or the worker's memory, ends the worker (a new one starts for the next job) and that PDF is reported
 * as over a limit. A broken or hostile PDF thus costs one worker and a few seconds, never the instance.
 */
export class PdfPreviewer {
  readonly #limits: PdfPreviewLimits;
  readonly #queue: Semaphore;
  readonly #counts: ResultCache<PdfPages>;
  readonly #images: ResultCache<Buffer | PdfFailure>;
  #worker: Worker | undefined;
  #idle: NodeJS.Timeout | undefined;

  constructor(limits: Partial<PdfPreviewLimits> = {}) {
    this.#limits = { ...PDF_PREVIEW, ...limits };
    this.#queue = new Semaphore(1, this.#limits.maxQueue);
    this.#counts = new ResultCache(this.#limits.cacheBytes / 16, this.#limits.cacheTtlMs);
    this.#images = new ResultCache(this.#limits.cacheBytes, this.#limits.cacheTtlMs);
  }

  get limits(): Readonly<PdfPreviewLimits> {
    return this.#limits;
  }

  /** The page count of a PDF, or why it has no preview (a full queue is not remembered). */
  async pageCount(source: PdfSource): Promise<PdfPages> {
    const key = `${source.id}:${source.sha256}`;
    const known = this.#counts.get(key);
    if (known) return known;
    let result: PdfJobResult;
    try {
      result = await this.#run({ op: 'count', data: new Uint8Array(await source.content()), maxImagePixels: this.#limits.maxImagePixels }, this.#limits.countTimeoutMs);
    } catch (error) {
      if (error instanceof QueueFullError) return { unavailable: 'busy' };
      throw error;
    }
    const pages: PdfPages = result.ok && result.pages > 0 ? { pages: result.pages } : { unavailable: result.ok || result.reason === 'no_page' ? 'broken' : result.reason };
    this.#counts.set(key, pages, 64);
    return pages;
  }

  /**
   * One page as PNG, or why not. Throws `QueueFullError` when the queue is full (the route answers 503 with
   * Retry-After; a browser's image requests come in parallel, so the queue holds a page's worth of them).
   */
  async page(source: PdfSource, page: number): Promise<Buffer | PdfFailure> {
    const key = `${source.id}:${source.sha256}:${page}`;
    const known = this.#images.get(key);
    if (known) return known;
    // What the page count already says needs no render (nor another run of a file that failed).
    const counted = this.#counts.get(`${source.id}:${source.sha256}`);
    if (counted) {
      if ('unavailable' in counted && counted.unavailable !== 'busy') return counted.unavailable;
      if ('pages' in counted && page > counted.pages) return 'no_page';
    }
    const { width, maxHeight, maxImagePixels } = this.#limits;
    const result = await this.#run({ op: 'render', data: new Uint8Array(await source.content()), maxImagePixels, page, width, maxHeight }, this.#limits.renderTimeoutMs);
    const answer = result.ok && result.png ? Buffer.from(result.png.buffer, result.png.byteOffset, result.png.byteLength) : result.ok ? 'broken' : result.reason;
    this.#images.set(key, answer, Buffer.isBuffer(answer) ? answer.length : 64);
    return answer;
  }

  /** Ends the worker now (tests); otherwise it ends itself after `idleMs`, and never holds the process open. */
  async close(): Promise<void> {
    clearTimeout(this.#idle);
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #run(job: PdfJob, timeoutMs: number): Promise<PdfJobResult> {
    return this.#queue.run(
      () =>
        new Promise<PdfJobResult>((resolve) => {
          clearTimeout(this.#idle);
          const worker = this.#worker ?? this.#start();
          const finish = (result: PdfJobResult, end = false) => {
            clearTimeout(timer);
            worker.off('message', onMessage).off('error', onFailure).off('exit', onFailure);
            if (end || this.#worker !== worker) {
              if (this.#worker === worker) this.#worker = undefined;
              void worker.terminate();
            } else {
              this.#idle = setTimeout(() => void this.close(), this.#limits.idleMs).unref();
            }
            resolve(result);
          };
          const onMessage = (result: PdfJobResult) => finish(result);
          // Out of memory (ERR_WORKER_OUT_OF_MEMORY) or any crash of the worker: that PDF is over a limit.
          const onFailure = () => finish({ ok: false, reason: 'limit' }, true);
          const timer = setTimeout(() => finish({ ok: false, reason: 'limit' }, true), timeoutMs);
          worker.on('message', onMessage).on('error', onFailure).on('exit', onFailure);
          worker.postMessage(job, [job.data.buffer as ArrayBuffer]);
        }),
    );
  }

  #start(): Worker {
    // pdf.js prints nothing (verbosity ERRORS); unref: the worker never holds the process open.
    const worker = new Worker(workerFile(), { resourceLimits: { maxOldGenerationSizeMb: this.#limits.memoryMb, maxYoungGenerationSizeMb: 32 } });
    worker.unref();
    // A crash between jobs only means the next job starts a new worker.
    worker
      .on('error', () => undefined)
      .on('exit', () => {
        if (this.#worker === worker) this.#worker = undefined;
      });
    this.#worker = worker;
    return worker;
  }
}

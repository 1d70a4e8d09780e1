import { PdfPreviewer } from '../../src/modules/recovery/pdf-preview.js';
import { QueueFullError } from '../../src/shared/security/semaphore.js';
import { chinesePdf, corruptPdf, encryptedPdf, pngFacts, textPdf } from '../support/recovery.js';

/**
 * Issue 14, S-35: PDF appeal documents are rendered on the server, in a worker thread under a memory limit and a
 * wall-clock timeout, one job at a time: a broken, encrypted or hostile PDF is "not previewable", never a crash.
 */
describe('PDF preview worker (issue 14, S-35)', () => {
  const source = (content: Buffer, id = 'doc') => ({ id, sha256: `${id}-${content.length}`, content: async () => content });
  const previewers: PdfPreviewer[] = [];
  const previewer = (limits: ConstructorParameters<typeof PdfPreviewer>[0] = {}) => {
    const made = new PdfPreviewer(limits);
    previewers.push(made);
    return made;
  };
  afterAll(() => Promise.all(previewers.map((made) => made.close())));

  it('counts the pages and renders each one to a PNG of the preview width with ink on it; no page past the end', async () => {
    const pdf = previewer();
    const file = source(textPdf(['First page', 'Second page']));
    expect(await pdf.pageCount(file)).toEqual({ pages: 2 });
    for (const page of [1, 2]) {
      const png = await pdf.page(file, page);
      if (!Buffer.isBuffer(png)) throw new Error(`page ${page}: ${png}`);
      const facts = await pngFacts(png);
      expect(facts.width).toBe(pdf.limits.width);
      expect(facts.height).toBe(Math.floor((792 * pdf.limits.width) / 612));
      expect(facts.inked).toBeGreaterThan(500);
    }
    expect(await pdf.page(file, 3)).toBe('no_page');
  });

  // The glyphs come from the machine's CJK font (fonts-wqy-zenhei, installed by .ci/run) through the canvas.
  it('renders Chinese text of a non-embedded CID font through the packed CMaps', async () => {
    const pdf = previewer();
    const png = await pdf.page(source(chinesePdf('营业执照副本')), 1);
    if (!Buffer.isBuffer(png)) throw new Error(String(png));
    expect((await pngFacts(png)).inked).toBeGreaterThan(500);
  });

  it('reports a corrupted PDF and one without pages as broken, a password-protected one as encrypted', async () => {
    const pdf = previewer();
    expect(await pdf.pageCount(source(encryptedPdf()))).toEqual({ unavailable: 'encrypted' });
    expect(await pdf.page(source(encryptedPdf()), 1)).toBe('encrypted');
    expect(await pdf.pageCount(source(corruptPdf()))).toEqual({ unavailable: 'broken' });
    expect(await pdf.page(source(corruptPdf()), 1)).toBe('broken');
    const empty = Buffer.from(
      '%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n',
    );
    expect(await pdf.pageCount(source(empty))).toEqual({ unavailable: 'broken' });
  });

  it('ends a worker that exceeds the time limit or its memory, and the next job gets a new worker', async () => {
    const slow = previewer({ renderTimeoutMs: 1 });
    expect(await slow.page(source(textPdf()), 1)).toBe('limit');
    // A few MB: the worker starts (below about 3 MB V8 itself cannot, and takes the process with it) but pdf.js does not fit.
    const starved = previewer({ memoryMb: 6 });
    expect(await starved.pageCount(source(textPdf()))).toEqual({ unavailable: 'limit' });
    // The limit hit one job: the same previewer renders the next document in a fresh worker.
    const recovered = previewer({ countTimeoutMs: 1 });
    expect(await recovered.pageCount(source(textPdf(), 'a'))).toEqual({ unavailable: 'limit' });
    expect(await recovered.page(source(textPdf(), 'b'), 1)).toBeInstanceOf(Buffer);
  });

  it('remembers answers per document and SHA-256, and refuses work beyond its queue at once', async () => {
    const pdf = previewer({ maxQueue: 1 });
    const file = source(textPdf(['Cached']), 'cached');
    const first = await pdf.page(file, 1);
    let reads = 0;
    expect(
      await pdf.page(
        {
          ...file,
          content: async () => {
            reads += 1;
            return textPdf();
          },
        },
        1,
      ),
    ).toEqual(first);
    expect(reads).toBe(0);
    // A page past the counted end, or of a file counted as broken, is answered without another run.
    await pdf.pageCount(file);
    const broken = source(corruptPdf(), 'broken');
    await pdf.pageCount(broken);
    const counting = (of: typeof file) => ({
      ...of,
      content: async () => {
        reads += 1;
        return of.content();
      },
    });
    expect(await pdf.page(counting(file), 2)).toBe('no_page');
    expect(await pdf.page(counting(broken), 1)).toBe('broken');
    expect(reads).toBe(0);
    const running = [pdf.page(source(textPdf(), 'q1'), 1), pdf.page(source(textPdf(), 'q2'), 1)];
    await expect(pdf.page(source(textPdf(), 'q3'), 1)).rejects.toBeInstanceOf(QueueFullError);
    for (const png of await Promise.all(running)) expect(png).toBeInstanceOf(Buffer);
  });
});

/**
 * The pictures behind a document's pages: the original image for PNG and JPEG, pages drawn in
 * the browser by pdf.js for PDFs (loaded only here, when a PDF is opened), and nothing for
 * the rest (text, TIFF), which the viewer shows as a sheet of the page's size.
 */
import type { PDFDocumentProxy, RenderTask } from 'pdfjs-dist';
import workerUrl from 'pdfjs-dist/build/pdf.worker.min.mjs?url';
import { plainMessage } from '$lib/api/errors.ts';
import { fetchOriginal } from './document.ts';

/** Media types a browser shows as they are. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg']);

export type SourceKind = 'image' | 'pdf' | 'sheet';

export function sourceKind(mimeType: string): SourceKind {
  if (IMAGE_TYPES.has(mimeType)) return 'image';
  if (mimeType === 'application/pdf') return 'pdf';
  return 'sheet';
}

export class PageSource {
  readonly kind: SourceKind;
  /** The image's object URL once fetched. */
  url = $state<string | null>(null);
  /** True once the PDF is open. */
  pdfReady = $state(false);
  /** Why the pages cannot be shown, in plain words. */
  error = $state<string | null>(null);
  #pdf: PDFDocumentProxy | null = null;
  #closed = false;

  constructor(
    readonly documentId: string,
    mimeType: string,
  ) {
    this.kind = sourceKind(mimeType);
  }

  /** Fetches the original (images and PDFs). */
  async load(): Promise<void> {
    if (this.kind === 'sheet') return;
    try {
      const blob = await fetchOriginal(this.documentId);
      if (this.#closed) return;
      if (this.kind === 'image') {
        this.url = URL.createObjectURL(blob);
        return;
      }
      const pdfjs = await import('pdfjs-dist');
      pdfjs.GlobalWorkerOptions.workerSrc = workerUrl;
      const pdf = await pdfjs.getDocument({ data: new Uint8Array(await blob.arrayBuffer()) }).promise;
      if (this.#closed) {
        void pdf.destroy();
        return;
      }
      this.#pdf = pdf;
      this.pdfReady = true;
    } catch (err) {
      if (!this.#closed) this.error = plainMessage(err);
    }
  }

  /**
   * Draws PDF page `number` on `canvas` at `width`×`height` pixels (the page's coordinates).
   * Answers a function that cancels the drawing.
   */
  renderPdfPage(canvas: HTMLCanvasElement, number: number, width: number, height: number): () => void {
    let task: RenderTask | null = null;
    let cancelled = false;
    const pdf = this.#pdf;
    if (!pdf) return () => undefined;
    void (async () => {
      try {
        const page = await pdf.getPage(number);
        if (cancelled) return;
        const base = page.getViewport({ scale: 1 });
        const scale = width > 0 ? width / base.width : 2;
        const viewport = page.getViewport({ scale });
        canvas.width = width > 0 ? width : Math.round(viewport.width);
        canvas.height = height > 0 ? height : Math.round(viewport.height);
        task = page.render({ canvas, viewport });
        await task.promise;
      } catch (err) {
        if (!cancelled && (err as { name?: string }).name !== 'RenderingCancelledException') this.error = plainMessage(err);
      }
    })();
    return () => {
      cancelled = true;
      task?.cancel();
    };
  }

  destroy(): void {
    this.#closed = true;
    if (this.url) URL.revokeObjectURL(this.url);
    void this.#pdf?.destroy();
    this.#pdf = null;
  }
}

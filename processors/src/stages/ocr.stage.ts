/**
 * The OCR stage: images (PNG, JPEG, single- and multi-page TIFF) and the scanned pages of
 * PDFs become pages of recognised words with boxes and confidences.
 *
 * Images are decoded with sharp rather than handed to Tesseract as they are: Tesseract's
 * Leptonica build reads no TIFF, ignores EXIF orientation and would decode an image of any
 * size. sharp reads the header first, refuses decompression bombs, turns the image upright,
 * flattens it on white and scales it into the pixel budget; Tesseract then gets raw grey
 * pixels and decodes nothing. A TIFF's pages are counted and measured from its directories
 * before any is decoded, so a bomb on its last page, or a chain of countless pages, is
 * refused before the first page costs OCR time.
 */
import sharp from 'sharp';
import type { TesseractOcr } from '../engines/ocr.engine.ts';
import type { PdfDocument } from '../engines/pdf.engine.ts';
import { canvasToGrey, type GreyImage } from '../engines/raster.ts';
import { readTiffPages, TiffError, type TiffPage } from '../engines/tiff.ts';
import { PipelineError, PipelineErrorCode } from '@quire/kernel';
import { DEFAULT_MAX_PAGE_CHARS } from './extract.stage.ts';
import { capPage, type ExtractedPage, type StageContext } from './stage.ts';

/** Options of both OCR entry points. */
export interface OcrStageOptions extends StageContext {
  ocr: TesseractOcr;
  /** Most pixels an image page is OCR'd at; larger pages are scaled down. Default 12 M. */
  maxPagePixels?: number;
  /**
   * Images with more pixels than this (per page) are refused as too large before they are
   * decoded. Default 100 M: a 600 DPI A3 scan is 70 M.
   */
  maxInputPixels?: number;
  /** Most pages read from a multi-page TIFF. Default 2000. */
  maxPages?: number;
  /** See `TextExtractOptions.maxPageChars`. */
  maxPageChars?: number;
}

/** OCRs an image document, one page per TIFF page; progress counts pages. */
export async function ocrImage(data: Uint8Array, options: OcrStageOptions): Promise<ExtractedPage[]> {
  const { signal, progress } = options;
  const maxInputPixels = options.maxInputPixels ?? 100_000_000;
  const maxPages = options.maxPages ?? 2000;
  checkTiffLimits(data, maxPages, maxInputPixels);
  let pageCount: number;
  try {
    const meta = await sharp(data, { limitInputPixels: maxInputPixels }).metadata();
    pageCount = meta.pages ?? 1;
    if ((meta.width ?? 0) * (meta.height ?? 0) > maxInputPixels) throw tooLarge(meta.width, meta.height, maxInputPixels);
  } catch (error) {
    throw asImageError(error, maxInputPixels);
  }
  if (pageCount > maxPages) throw tooManyPages(pageCount, maxPages);
  progress.setTotal(pageCount);
  const pages: ExtractedPage[] = [];
  for (let index = 0; index < pageCount; index += 1) {
    signal.throwIfAborted();
    let image: GreyImage;
    try {
      image = await decodePage(data, index, maxInputPixels, options.maxPagePixels ?? 12_000_000);
    } catch (error) {
      throw asImageError(error, maxInputPixels);
    }
    pages.push(await recognisePage(image, index + 1, options));
    progress.advance();
  }
  return pages;
}

/**
 * Renders and OCRs the given PDF pages at `dpi`, the same resolution the text layer's
 * boxes use. The next page renders on this thread while Tesseract's threads recognise the
 * previous ones. Progress counts pages.
 */
export async function ocrPdfPages(
  doc: PdfDocument,
  pageNumbers: readonly number[],
  options: OcrStageOptions & { dpi: number },
): Promise<ExtractedPage[]> {
  const { signal, progress, ocr, dpi } = options;
  progress.setTotal(pageNumbers.length);
  const results: ExtractedPage[] = [];
  const inFlight: Promise<ExtractedPage>[] = [];
  const settle = async (): Promise<void> => {
    const next = inFlight.shift();
    if (!next) return;
    results.push(await next);
    progress.advance();
  };
  try {
    for (const n of pageNumbers) {
      signal.throwIfAborted();
      let image: GreyImage;
      try {
        const rendered = await doc.render(n, dpi);
        try {
          image = canvasToGrey(rendered.canvas);
        } finally {
          rendered.release();
        }
      } catch (error) {
        throw new PipelineError(PipelineErrorCode.PdfUnreadable, `page ${n} of the PDF cannot be rendered`, { stage: 'ocr', cause: error });
      }
      const pending = recognisePage(image, n, options);
      // Observed at once so a failure while later pages render is not an unhandled rejection.
      pending.catch(() => {});
      inFlight.push(pending);
      while (inFlight.length >= ocr.workers + 1) await settle();
    }
    while (inFlight.length) await settle();
  } finally {
    // On failure, let the recognitions still running finish before the caller moves on.
    await Promise.allSettled(inFlight);
  }
  return results.sort((a, b) => a.page - b.page);
}

async function recognisePage(image: GreyImage, page: number, options: OcrStageOptions): Promise<ExtractedPage> {
  const { signal, ocr } = options;
  try {
    const result = await ocr.recognize(image, { signal });
    const extracted: ExtractedPage = {
      page,
      width: image.width,
      height: image.height,
      text: result.text,
      source: 'ocr',
      confidence: result.confidence,
      words: result.words,
      wordOffsets: result.wordOffsets,
    };
    return capPage(extracted, options.maxPageChars ?? DEFAULT_MAX_PAGE_CHARS);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new PipelineError(PipelineErrorCode.OcrFailed, `OCR of page ${page} failed`, { stage: 'ocr', retryable: true, cause: error });
  }
}

/** Decodes one page of an image upright, flattened on white, in grey, within the pixel budget. */
async function decodePage(data: Uint8Array, index: number, maxInputPixels: number, maxPagePixels: number): Promise<GreyImage> {
  const input = sharp(data, { limitInputPixels: maxInputPixels, page: index, pages: 1 });
  const meta = await input.metadata();
  let pipeline = input.rotate().flatten({ background: '#ffffff' }).greyscale();
  const area = (meta.width ?? 0) * (meta.height ?? 0);
  if (area > maxPagePixels) {
    const factor = Math.sqrt(maxPagePixels / area);
    // EXIF orientations 5 to 8 swap the sides of the upright image.
    const swapped = (meta.orientation ?? 1) >= 5;
    const width = Math.max(1, Math.floor((swapped ? meta.height! : meta.width!) * factor));
    const height = Math.max(1, Math.floor((swapped ? meta.width! : meta.height!) * factor));
    pipeline = pipeline.resize({ width, height, fit: 'inside' });
  }
  const { data: raw, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  const pixels = new Uint8Array(info.width * info.height);
  const channels = info.channels;
  for (let i = 0, j = 0; i < pixels.length; i += 1, j += channels) pixels[i] = raw[j]!;
  return { width: info.width, height: info.height, pixels };
}

/**
 * Refuses a TIFF with more pages than `maxPages`, or a page of more pixels than
 * `maxInputPixels`, from its directories alone. Other images have one page, which sharp
 * measures before decoding it. A directory no TIFF reader opens makes the image unreadable;
 * directories with more entries than a walk may read make it too large, as too many pages do.
 */
function checkTiffLimits(data: Uint8Array, maxPages: number, maxInputPixels: number): void {
  let pages: TiffPage[];
  try {
    pages = readTiffPages(data, maxPages);
  } catch (error) {
    if (!(error instanceof TiffError)) throw error;
    const code = error.kind === 'too-many-entries' ? PipelineErrorCode.DocumentTooLarge : PipelineErrorCode.ImageUnreadable;
    throw new PipelineError(code, error.message, { stage: 'ocr', cause: error });
  }
  if (pages.length > maxPages) throw tooManyPages(null, maxPages);
  pages.forEach((page, index) => {
    if (page.width * page.height > maxInputPixels) throw tooLarge(page.width, page.height, maxInputPixels, index + 1);
  });
}

/** `count` is null when counting stopped past the limit. */
function tooManyPages(count: number | null, limit: number): PipelineError {
  const counted = count === null ? `more than ${limit} pages` : `${count} pages, more than the limit of ${limit}`;
  return new PipelineError(PipelineErrorCode.DocumentTooLarge, `the image has ${counted}`, { stage: 'ocr' });
}

function tooLarge(width: number | undefined, height: number | undefined, limit: number, page?: number): PipelineError {
  const what = page === undefined ? 'the image' : `page ${page} of the image`;
  return new PipelineError(PipelineErrorCode.DocumentTooLarge, `${what} is ${width}x${height} pixels, more than the limit of ${limit}`, {
    stage: 'ocr',
  });
}

function asImageError(error: unknown, limit: number): PipelineError {
  if (error instanceof PipelineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) {
    return new PipelineError(PipelineErrorCode.DocumentTooLarge, `the image has more pixels than the limit of ${limit}`, {
      stage: 'ocr',
      cause: error,
    });
  }
  return new PipelineError(PipelineErrorCode.ImageUnreadable, `the image cannot be decoded: ${message}`, { stage: 'ocr', cause: error });
}

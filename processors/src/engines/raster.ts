/**
 * Uncompressed page images passed between the PDF renderer, the image decoder and OCR.
 * Pixels stay raw greyscale: OCR binarises anyway, and a raw buffer costs no encode or
 * decode step on its way to the OCR worker.
 */

/** An 8-bit greyscale image, row-major, one byte per pixel. */
export interface GreyImage {
  readonly width: number;
  readonly height: number;
  /** `width * height` bytes, 0 = black, 255 = white. */
  readonly pixels: Uint8Array;
}

/**
 * Anything with a 2D context that can read its pixels back: the canvases of
 * `@napi-rs/canvas` (whichever copy of it a library loaded) and browser canvases alike.
 */
export interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray | Uint8Array };
  } | null;
}

/** Whether a value looks like a canvas whose pixels can be read. */
export function isCanvasLike(value: unknown): value is CanvasLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as CanvasLike).getContext === 'function' &&
    typeof (value as CanvasLike).width === 'number'
  );
}

/** Converts interleaved RGBA pixels to greyscale (ITU-R BT.601 luma), compositing alpha on white. */
export function rgbaToGrey(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): GreyImage {
  const pixels = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < pixels.length; i += 1, j += 4) {
    const a = rgba[j + 3]!;
    const luma = (rgba[j]! * 299 + rgba[j + 1]! * 587 + rgba[j + 2]! * 114) / 1000;
    // Transparent areas of a rendered page are paper, not ink.
    pixels[i] = Math.round((luma * a + 255 * (255 - a)) / 255);
  }
  return { width, height, pixels };
}

/** Reads a canvas back as a greyscale image. */
export function canvasToGrey(canvas: CanvasLike): GreyImage {
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('canvas has no 2d context');
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  return rgbaToGrey(data, canvas.width, canvas.height);
}

/**
 * Encodes a greyscale image as binary PGM (P5): the one raw format Leptonica, and so
 * tesseract.js, reads without a codec.
 */
export function encodePgm(image: GreyImage): Uint8Array {
  const header = new TextEncoder().encode(`P5\n${image.width} ${image.height}\n255\n`);
  const out = new Uint8Array(header.length + image.pixels.length);
  out.set(header, 0);
  out.set(image.pixels, header.length);
  return out;
}

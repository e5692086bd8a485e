/**
 * Reads OCR ground truth laid out as the SROIE receipts dataset (ICDAR 2019) ships it:
 *
 *   <dir>/images/<id>.jpg|jpeg|png|tif|tiff|webp   the scan
 *   <dir>/boxes/<id>.csv                            one text line per row:
 *                                                   x1,y1,x2,y2,x3,y3,x4,y4,transcript
 *
 * The transcript follows the first eight commas and may hold commas itself. A page's
 * reference text is its transcripts in file order, one per line. This module is the one
 * place that parses these CSV files.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ValidationError } from '@quire/kernel';

/** Error codes of {@link readSroieDataset}, stable for scripts that run the evaluations. */
export const SroieErrorCode = {
  /** The dataset folder does not exist or is not a folder. */
  DatasetNotFound: 'DATASET_NOT_FOUND',
  /** `images/` is missing or holds no image. */
  NoImages: 'DATASET_NO_IMAGES',
  /** An image has no `boxes/<id>.csv`. */
  GroundTruthMissing: 'GROUND_TRUTH_MISSING',
  /** A row of a boxes CSV is not eight numbers and a transcript. */
  GroundTruthInvalid: 'GROUND_TRUTH_INVALID',
} as const;
export type SroieErrorCode = (typeof SroieErrorCode)[keyof typeof SroieErrorCode];

/** One annotated text line: its four corners, clockwise from the top left, and its transcript. */
export interface SroieLine {
  /** x1, y1, …, x4, y4 in image pixels. */
  quad: [number, number, number, number, number, number, number, number];
  text: string;
}

/** One page of the dataset, its ground truth read. */
export interface SroiePage {
  /** The file name without extension, shared by the image and its CSV. */
  id: string;
  imagePath: string;
  lines: SroieLine[];
  /** The transcripts in file order joined by newlines. */
  reference: string;
}

/** Image extensions the OCR stage decodes. */
const IMAGE_EXTENSION = /^\.(jpe?g|png|tiff?|webp)$/i;

/**
 * Parses a boxes CSV. Blank rows are skipped; any other row that is not eight numbers and
 * a transcript is refused, naming its row, because a silently dropped line would make the
 * page's reference shorter than the scan. `source` names the file in that message.
 */
export function parseSroieBoxes(csv: string, source = 'boxes CSV'): SroieLine[] {
  const lines: SroieLine[] = [];
  csv.split(/\r?\n/).forEach((row, index) => {
    if (row.trim() === '') return;
    const parts = row.split(',');
    const coords = parts.slice(0, 8).map((c) => (c.trim() === '' ? Number.NaN : Number(c)));
    if (parts.length < 9 || coords.some((c) => !Number.isFinite(c))) {
      throw new ValidationError(`${source}, row ${index + 1}: expected x1,y1,x2,y2,x3,y3,x4,y4,transcript`, {
        code: SroieErrorCode.GroundTruthInvalid,
      });
    }
    lines.push({ quad: coords as SroieLine['quad'], text: parts.slice(8).join(',') });
  });
  return lines;
}

/** A page's reference text: the transcripts in order, one per line. */
export function sroieReferenceText(lines: readonly SroieLine[]): string {
  return lines.map((line) => line.text).join('\n');
}

/**
 * Lists the dataset's images in name order (the first `limit` of them when given) and reads
 * the ground truth of each. Throws a {@link ValidationError} with an {@link SroieErrorCode}
 * when the folder, its images or a CSV is missing or malformed; images are not opened here.
 */
export async function readSroieDataset(dir: string, options: { limit?: number } = {}): Promise<SroiePage[]> {
  const isFolder = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isFolder) throw new ValidationError(`no dataset folder at ${dir}`, { code: SroieErrorCode.DatasetNotFound });
  const imagesDir = join(dir, 'images');
  const names = await readdir(imagesDir).catch(() => [] as string[]);
  const images = names.filter((name) => IMAGE_EXTENSION.test(extname(name))).sort();
  if (images.length === 0) {
    throw new ValidationError(`no images (jpg, png, tiff, webp) under ${imagesDir}`, { code: SroieErrorCode.NoImages });
  }
  const selected = options.limit === undefined ? images : images.slice(0, options.limit);
  return Promise.all(
    selected.map(async (name) => {
      const id = name.slice(0, -extname(name).length);
      const boxesPath = join(dir, 'boxes', `${id}.csv`);
      const csv = await readFile(boxesPath, 'utf8').catch((error: unknown) => {
        throw new ValidationError(`image ${name} has no ground truth at ${boxesPath}`, {
          code: SroieErrorCode.GroundTruthMissing,
          cause: error,
        });
      });
      const lines = parseSroieBoxes(csv, boxesPath);
      return { id, imagePath: join(imagesDir, name), lines, reference: sroieReferenceText(lines) };
    }),
  );
}

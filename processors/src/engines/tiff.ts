/**
 * The structure of a TIFF file without its pixels: the header, and the size of every page
 * read from the chain of image file directories (IFDs).
 *
 * file-type recognises a TIFF only when its first directory lies within the bytes it is
 * given, but libtiff, ImageMagick and libvips write each directory after its page's pixels,
 * so an upload's first kilobytes rarely hold one. The header alone says TIFF; the offset of
 * the first directory, checked against the file's size, tells a whole file from a cut one.
 *
 * sharp counts a TIFF's pages but gives the size of one page per call, each call walking the
 * chain from the start; the page limits need every page's size before any is decoded, so
 * this walks the chain once, stopping past the page limit, at a loop or at a broken link.
 * A crafted file can make that walk long without either (directories that overlap, each
 * claiming to span most of the file), so the entries it reads are bounded too.
 */

/** What a TIFF header says. */
export interface TiffHeader {
  /** `II` byte order (else `MM`). */
  littleEndian: boolean;
  /** BigTIFF: 64-bit offsets (version 43 instead of 42). */
  bigTiff: boolean;
  /** Byte offset of the first image file directory, as the header claims it. */
  firstDirectory: number;
}

/** The size of one page, as its directory claims it. */
export interface TiffPage {
  width: number;
  height: number;
}

/** Size of the classic and the BigTIFF header. */
const HEADER_BYTES = { classic: 8, big: 16 } as const;
/** The smallest directory that can describe an image: its count, one entry, the next offset. */
const MIN_DIRECTORY_BYTES = { classic: 2 + 12 + 4, big: 8 + 20 + 8 } as const;

/**
 * The most entries one directory may have: libtiff refuses a larger one as "probably not a
 * valid IFD offset", and so neither sharp nor any other reader built on it opens such a page.
 * Real pages have a few dozen.
 */
export const MAX_TIFF_DIRECTORY_ENTRIES = 4096;

/**
 * The most directory entries read in one walk, all pages together: 500 for each of the
 * default 2000 pages. Directories that overlap each cost a full scan, so without this a
 * file could hold its page limit in directories of {@link MAX_TIFF_DIRECTORY_ENTRIES} each.
 */
export const MAX_TIFF_ENTRIES_READ = 1_000_000;

/** Why the directories of a TIFF were not read to the end. */
export type TiffErrorKind = 'directory-too-large' | 'too-many-entries';

/**
 * The directories of a TIFF cannot be walked within bounds: one claims more entries than
 * {@link MAX_TIFF_DIRECTORY_ENTRIES} (`directory-too-large`, a file no TIFF reader opens) or
 * all of them together more than {@link MAX_TIFF_ENTRIES_READ} (`too-many-entries`).
 */
export class TiffError extends Error {
  readonly kind: TiffErrorKind;
  constructor(kind: TiffErrorKind, message: string) {
    super(message);
    this.name = 'TiffError';
    this.kind = kind;
  }
}

/**
 * Reads a TIFF header (`II*\0`, `MM\0*`, BigTIFF `II+\0`, `MM\0+`) from a file's first bytes.
 * @returns the header, or null when the bytes do not start with one
 */
export function readTiffHeader(head: Uint8Array): TiffHeader | null {
  if (head.length < HEADER_BYTES.classic) return null;
  const littleEndian = head[0] === 0x49 && head[1] === 0x49;
  if (!littleEndian && !(head[0] === 0x4d && head[1] === 0x4d)) return null;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = view.getUint16(2, littleEndian);
  if (version === 42) return { littleEndian, bigTiff: false, firstDirectory: view.getUint32(4, littleEndian) };
  if (version !== 43 || head.length < HEADER_BYTES.big) return null;
  // BigTIFF: offsets are 8 bytes wide, and the two fields after the version say so.
  if (view.getUint16(4, littleEndian) !== 8 || view.getUint16(6, littleEndian) !== 0) return null;
  return { littleEndian, bigTiff: true, firstDirectory: toSafeNumber(view.getBigUint64(8, littleEndian)) };
}

/** Where a header's first directory lies in a file of `size` bytes. */
export type TiffDirectoryPlace = 'inside' | 'past-end' | 'in-header';

/**
 * Whether the first directory of a TIFF lies inside a file of `size` bytes: `in-header`
 * for an offset into the header itself (no TIFF writer does that), `past-end` when a
 * directory would not fit before the end (a file cut short, its directory lost).
 */
export function placeOfFirstDirectory(header: TiffHeader, size: number): TiffDirectoryPlace {
  const kind = header.bigTiff ? 'big' : 'classic';
  if (header.firstDirectory < HEADER_BYTES[kind]) return 'in-header';
  return header.firstDirectory + MIN_DIRECTORY_BYTES[kind] <= size ? 'inside' : 'past-end';
}

/**
 * Walks the directory chain of a whole TIFF and reads each page's width and height.
 * Reading stops after `maxPages + 1` pages (so a caller can tell "more than the limit"),
 * and at a directory that lies outside the file, one already visited, or one without a
 * size; what was read until then is returned, and the decoder has the last word on the rest.
 * @throws TiffError at a directory of more than {@link MAX_TIFF_DIRECTORY_ENTRIES} entries,
 *   or before reading more than {@link MAX_TIFF_ENTRIES_READ} entries in all
 */
export function readTiffPages(data: Uint8Array, maxPages: number): TiffPage[] {
  const header = readTiffHeader(data);
  if (!header) return [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const le = header.littleEndian;
  const big = header.bigTiff;
  const countBytes = big ? 8 : 2;
  const entryBytes = big ? 20 : 12;
  const offsetBytes = big ? 8 : 4;
  const readOffset = (at: number): number => (big ? toSafeNumber(view.getBigUint64(at, le)) : view.getUint32(at, le));

  const pages: TiffPage[] = [];
  const visited = new Set<number>();
  let entriesRead = 0;
  let at = header.firstDirectory;
  while (at !== 0 && pages.length <= maxPages) {
    if (visited.has(at) || at < (big ? HEADER_BYTES.big : HEADER_BYTES.classic) || at + countBytes > data.byteLength) break;
    visited.add(at);
    const count = big ? toSafeNumber(view.getBigUint64(at, le)) : view.getUint16(at, le);
    if (count > MAX_TIFF_DIRECTORY_ENTRIES) {
      throw new TiffError(
        'directory-too-large',
        `the TIFF directory at byte ${at} claims ${count} entries, more than the ${MAX_TIFF_DIRECTORY_ENTRIES} a TIFF reader accepts`,
      );
    }
    const entriesAt = at + countBytes;
    const nextAt = entriesAt + count * entryBytes;
    // A directory running past the end is a file cut short, not one to refuse here.
    if (nextAt + offsetBytes > data.byteLength) break;
    entriesRead += count;
    if (entriesRead > MAX_TIFF_ENTRIES_READ) {
      throw new TiffError('too-many-entries', `the TIFF's directories hold more than ${MAX_TIFF_ENTRIES_READ} entries`);
    }
    let width = 0;
    let height = 0;
    for (let i = 0; i < count; i += 1) {
      const entry = entriesAt + i * entryBytes;
      const tag = view.getUint16(entry, le);
      if (tag !== 256 && tag !== 257) continue;
      const value = inlineInteger(view, entry, big, le);
      if (tag === 256) width = value;
      else height = value;
    }
    if (width === 0 || height === 0) break;
    pages.push({ width, height });
    at = readOffset(nextAt);
  }
  return pages;
}

/** The single integer value stored in a directory entry (SHORT, LONG or LONG8); 0 for anything else. */
function inlineInteger(view: DataView, entry: number, big: boolean, le: boolean): number {
  const type = view.getUint16(entry + 2, le);
  const count = big ? view.getBigUint64(entry + 4, le) : BigInt(view.getUint32(entry + 4, le));
  if (count !== 1n) return 0;
  // Values that fit are stored in the entry itself, left-justified.
  const valueAt = entry + (big ? 12 : 8);
  switch (type) {
    case 3:
      return view.getUint16(valueAt, le);
    case 4:
      return view.getUint32(valueAt, le);
    case 16:
      return big ? toSafeNumber(view.getBigUint64(valueAt, le)) : 0;
    default:
      return 0;
  }
}

/** A 64-bit offset or count as a number; past 2^53 it lies outside any file we read anyway. */
function toSafeNumber(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

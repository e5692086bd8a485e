/**
 * What a file is, from its first bytes and its size: the one rule the hub applies to an
 * upload as it streams by and the pipeline's detect stage applies to the stored bytes, so
 * the two cannot disagree. Both look at the same {@link SNIFF_HEAD_BYTES}; the detect stage
 * then reads the whole text of a text file, which the hub never holds.
 */
import { fileTypeFromBuffer } from 'file-type';
import { placeOfFirstDirectory, readTiffHeader } from './engines/tiff.ts';
import { SupportedMime } from '@quire/kernel';

/** How many leading bytes decide a file's type. */
export const SNIFF_HEAD_BYTES = 8192;

/** The encodings text is read in: UTF-8 with or without a byte order mark, UTF-16 only with one. */
export const TextEncoding = {
  Utf8: 'utf-8',
  Utf16Le: 'utf-16le',
  Utf16Be: 'utf-16be',
} as const;
export type TextEncoding = (typeof TextEncoding)[keyof typeof TextEncoding];

/** The binary formats Quire reads. */
export type BinaryMime = typeof SupportedMime.Pdf | typeof SupportedMime.Png | typeof SupportedMime.Jpeg | typeof SupportedMime.Tiff;

const binaryMimes = new Set<string>([SupportedMime.Pdf, SupportedMime.Png, SupportedMime.Jpeg, SupportedMime.Tiff]);

/** What {@link sniffMedia} found. */
export type SniffResult =
  /** A binary format Quire reads; `truncated` when the bytes say the file was cut short. */
  | { kind: 'binary'; mime: BinaryMime; truncated: boolean; detail?: string }
  /** Text in `encoding`; whether it is plain text or Markdown is the caller's choice. */
  | { kind: 'text'; encoding: TextEncoding }
  /** Anything else; `detected` names what it is, for the refusal's message. */
  | { kind: 'unsupported'; detected: string };

/**
 * Decides what a file is from its first bytes and its size.
 *
 * - A byte order mark makes it text in that encoding, if the sample decodes as text, else
 *   it is refused.
 * - Otherwise file-type's signatures decide, except for TIFF: a TIFF is recognised from its
 *   header (classic and BigTIFF, either byte order) when its first directory lies inside the
 *   file, wherever that is; one past the end marks the file as truncated.
 * - Otherwise it is UTF-8 text if the sample decodes as such (see {@link decodeText}).
 *
 * @param sample `head`: the file's first bytes (only the first {@link SNIFF_HEAD_BYTES} count;
 *   all of them for a shorter file); `size`: the whole file's size in bytes, at least 1
 */
export async function sniffMedia(sample: { head: Uint8Array; size: number }): Promise<SniffResult> {
  const head = sample.head.subarray(0, SNIFF_HEAD_BYTES);
  const partial = sample.size > head.length;

  // No format Quire reads starts with a byte order mark. FF FE and FE FF also begin MPEG
  // audio frames, which file-type would name; what it says is not what the file claims, so
  // signatures are read only without a mark.
  if (!encodingByMark(head)) {
    const type = await fileTypeFromBuffer(head);
    const tiff = readTiffHeader(head);
    // file-type gives no answer for a TIFF whose first directory lies past the sample, and names
    // camera raw formats (TIFF inside) from a directory within it; those stay what file-type says.
    if (tiff && (!type || type.mime === SupportedMime.Tiff)) {
      const place = placeOfFirstDirectory(tiff, sample.size);
      if (place === 'in-header') return { kind: 'unsupported', detected: 'a TIFF header without a valid first directory' };
      return {
        kind: 'binary',
        mime: SupportedMime.Tiff,
        truncated: place === 'past-end',
        ...(place === 'past-end'
          ? { detail: `its first directory lies at byte ${tiff.firstDirectory}, past the end of its ${sample.size} bytes` }
          : {}),
      };
    }
    if (type) {
      return binaryMimes.has(type.mime)
        ? { kind: 'binary', mime: type.mime as BinaryMime, truncated: false }
        : { kind: 'unsupported', detected: type.mime };
    }
  }

  const decoded = decodeText(head, { partial });
  return decoded.ok ? { kind: 'text', encoding: decoded.encoding } : { kind: 'unsupported', detected: `binary data: ${decoded.reason}` };
}

/** The outcome of {@link decodeText}. */
export type DecodedText = { ok: true; text: string; encoding: TextEncoding } | { ok: false; reason: string; encoding: TextEncoding };

/**
 * Decodes text strictly in the encoding its byte order mark names (UTF-8 without one),
 * without the mark. It is not text if a sequence is invalid, if it holds a NUL character, or
 * if more than one character in 200 is another C0 control than tab, line feed, form feed or
 * carriage return (a stray escape in a log is fine, a binary file is not).
 * @param options.partial the bytes are a file's head: a character cut at their end is fine
 */
export function decodeText(data: Uint8Array, options: { partial?: boolean } = {}): DecodedText {
  const encoding = encodingByMark(data) ?? TextEncoding.Utf8;
  let text: string;
  try {
    // The decoder drops the byte order mark itself.
    text = new TextDecoder(encoding, { fatal: true }).decode(data, { stream: options.partial ?? false });
  } catch {
    return { ok: false, encoding, reason: `not valid ${encoding.toUpperCase()}` };
  }
  let controls = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 0) return { ok: false, encoding, reason: 'it holds NUL characters' };
    if (code < 32 && code !== 9 && code !== 10 && code !== 12 && code !== 13) controls += 1;
  }
  if (controls > text.length / 200) return { ok: false, encoding, reason: 'it holds binary control characters' };
  return { ok: true, text, encoding };
}

/** The encoding a byte order mark names, or undefined without one. */
function encodingByMark(bytes: Uint8Array): TextEncoding | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return TextEncoding.Utf8;
  // FF FE 00 00 is UTF-32's mark; read as UTF-16 it starts with a NUL and is refused.
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return TextEncoding.Utf16Le;
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return TextEncoding.Utf16Be;
  return undefined;
}

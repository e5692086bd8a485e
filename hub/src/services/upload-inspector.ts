/**
 * What Quire accepts as an upload, decided from the bytes: a pass-through stream that hashes,
 * counts and enforces the size limit as the upload streams by, keeping only the first and
 * last few KB, and the rules that turn those into a media type or a clear refusal.
 */
import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import {
  MIME_BY_EXTENSION,
  PayloadTooLargeError,
  SupportedMime,
  UnreachableCaseError,
  UnsupportedMediaError,
  ValidationError,
} from '@quire/kernel';
import { SNIFF_HEAD_BYTES, sniffMedia } from '@quire/processors';

const TAIL_BYTES = 2048;

/** Counts, hashes and limits bytes flowing through, remembering the head and tail. */
export class UploadInspector extends Transform {
  private readonly hash = createHash('sha256');
  private readonly headParts: Buffer[] = [];
  private headLength = 0;
  private tailBuf = Buffer.alloc(0);
  size = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      done(new PayloadTooLargeError(`The upload exceeds the limit of ${this.maxBytes} bytes`));
      return;
    }
    this.hash.update(chunk);
    // Keep the bytes that decide an upload's type: the same head the pipeline's detect stage reads.
    if (this.headLength < SNIFF_HEAD_BYTES) {
      const part = chunk.subarray(0, SNIFF_HEAD_BYTES - this.headLength);
      this.headParts.push(part);
      this.headLength += part.length;
    }
    this.tailBuf = Buffer.concat([this.tailBuf, chunk]).subarray(-TAIL_BYTES);
    done(null, chunk);
  }

  get head(): Buffer {
    return Buffer.concat(this.headParts);
  }

  get tail(): Buffer {
    return this.tailBuf;
  }

  /** Hex sha256 of everything that passed; call once, after the stream finished. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

const byExtension = MIME_BY_EXTENSION;

const supported = new Set<string>(Object.values(SupportedMime));

const isText = (m: string | undefined) => m === SupportedMime.Text || m === SupportedMime.Markdown;

/**
 * Decides the media type of an upload from its first bytes, the file name and the declared
 * type, or refuses it: 400 for empty or truncated files, 415 for unsupported or mismatched ones.
 */
export async function classifyUpload(input: {
  filename: string;
  declaredMime: string | undefined;
  size: number;
  head: Buffer;
  tail: Buffer;
}): Promise<SupportedMime> {
  if (input.size === 0) throw new ValidationError('The uploaded file is empty', { code: 'EMPTY_UPLOAD' });

  const claimed = byExtension[extname(input.filename).toLowerCase()];
  const sniffed = await sniffMedia({ head: input.head, size: input.size });
  let mime: SupportedMime;
  switch (sniffed.kind) {
    case 'unsupported':
      throw new UnsupportedMediaError(
        `Unsupported file type (${sniffed.detected}): Quire accepts PDF, PNG, JPEG, TIFF, plain text and Markdown`,
        { code: 'UNSUPPORTED_MEDIA_TYPE' },
      );
    case 'binary':
      mime = sniffed.mime;
      break;
    case 'text':
      mime = claimed === SupportedMime.Markdown ? SupportedMime.Markdown : SupportedMime.Text;
      break;
    default:
      throw new UnreachableCaseError(sniffed);
  }

  const declared = input.declaredMime?.split(';')[0]?.trim().toLowerCase();
  for (const [what, value] of [
    ['file name', claimed],
    ['declared content type', declared && supported.has(declared) ? declared : undefined],
  ] as const) {
    if (value && value !== mime && !(isText(value) && isText(mime))) {
      throw new UnsupportedMediaError(`The ${what} says ${value} but the bytes are ${mime}`, { code: 'MEDIA_TYPE_MISMATCH' });
    }
  }

  const cutShort =
    sniffed.kind === 'binary' && sniffed.truncated ? sniffed.detail : isTruncated(mime, input.tail) ? 'its end marker is missing' : null;
  if (cutShort) throw new ValidationError(`The ${mime} file is truncated (${cutShort})`, { code: 'TRUNCATED_UPLOAD' });
  return mime;
}

function isTruncated(mime: SupportedMime, tail: Buffer): boolean {
  switch (mime) {
    case SupportedMime.Pdf:
      return !tail.includes('%%EOF');
    case SupportedMime.Png:
      return !tail.subarray(-32).includes('IEND');
    case SupportedMime.Jpeg:
      return !tail.subarray(-64).includes(Buffer.from([0xff, 0xd9]));
    default:
      return false;
  }
}

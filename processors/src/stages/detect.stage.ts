/**
 * The detect stage: decides the document's format from its bytes and refuses a document
 * whose declared type or file extension names a different format. The bytes win: a
 * declared type is a claim by the uploader, the bytes are what the other stages parse.
 */
import { extname } from 'node:path';
import { MIME_BY_EXTENSION, PipelineError, PipelineErrorCode, type ProcessJob, SupportedMime, UnreachableCaseError } from '@quire/kernel';
import { decodeText, sniffMedia } from '../media-sniff.ts';

/** Options of {@link detect}. */
export interface DetectOptions {
  /** Refuse documents larger than this many bytes. Default 100 MiB. */
  maxBytes?: number;
}

const declaredAliases: Record<string, SupportedMime> = {
  'application/pdf': SupportedMime.Pdf,
  'application/x-pdf': SupportedMime.Pdf,
  'image/png': SupportedMime.Png,
  'image/jpeg': SupportedMime.Jpeg,
  'image/jpg': SupportedMime.Jpeg,
  'image/pjpeg': SupportedMime.Jpeg,
  'image/tiff': SupportedMime.Tiff,
  'image/tif': SupportedMime.Tiff,
  'text/plain': SupportedMime.Text,
  'text/markdown': SupportedMime.Markdown,
  'text/x-markdown': SupportedMime.Markdown,
};

const extensions = MIME_BY_EXTENSION;

/** What {@link detect} found: the format, and for a text document its decoded text. */
export interface Detected {
  mime: SupportedMime;
  /** The whole text of a plain-text or Markdown document, without its byte order mark. */
  text?: string;
}

/**
 * Sniffs the format of `data` by the rule uploads are checked with ({@link sniffMedia}).
 * Text must then decode whole (UTF-8, or UTF-16 with its byte order mark) without NUL or
 * binary control characters, and is Markdown when the declared type or extension says so
 * or its lines look like Markdown; its decoded text comes back with the type, so that it is
 * not decoded again.
 * @throws PipelineError `EMPTY_DOCUMENT`, `DOCUMENT_TOO_LARGE`, `UNSUPPORTED_MEDIA_TYPE`,
 *   `IMAGE_UNREADABLE` (a TIFF cut short) or `MEDIA_TYPE_MISMATCH`
 */
export async function detect(
  data: Uint8Array,
  job: Pick<ProcessJob, 'mimeType' | 'filename'>,
  options: DetectOptions = {},
): Promise<Detected> {
  const maxBytes = options.maxBytes ?? 100 * 1024 * 1024;
  const fail = (code: PipelineErrorCode, message: string): PipelineError => new PipelineError(code, message, { stage: 'detect' });
  if (data.byteLength === 0) throw fail(PipelineErrorCode.EmptyDocument, 'the document is empty');
  if (data.byteLength > maxBytes) {
    throw fail(PipelineErrorCode.DocumentTooLarge, `the document has ${data.byteLength} bytes, more than the limit of ${maxBytes}`);
  }

  const claims = [
    { what: 'declared type', mime: declaredAliases[job.mimeType.split(';')[0]!.trim().toLowerCase()] },
    { what: 'file extension', mime: extensions[extname(job.filename).toLowerCase()] },
  ];

  const sniffed = await sniffMedia({ head: data, size: data.byteLength });
  let actual: SupportedMime;
  let text: string | undefined;
  switch (sniffed.kind) {
    case 'unsupported':
      throw fail(PipelineErrorCode.UnsupportedMediaType, `unsupported document type (${sniffed.detected})`);
    case 'binary':
      if (sniffed.truncated) throw fail(PipelineErrorCode.ImageUnreadable, `the ${sniffed.mime} file is truncated: ${sniffed.detail}`);
      actual = sniffed.mime;
      break;
    case 'text': {
      const decoded = decodeText(data);
      if (!decoded.ok) throw fail(PipelineErrorCode.UnsupportedMediaType, `the document is not text: ${decoded.reason}`);
      text = decoded.text;
      if (text.trim() === '') throw fail(PipelineErrorCode.EmptyDocument, 'the document holds only whitespace');
      const claimsMarkdown = claims.some((c) => c.mime === SupportedMime.Markdown);
      const claimsPlain = claims.some((c) => c.mime === SupportedMime.Text);
      actual = claimsMarkdown || (!claimsPlain && looksLikeMarkdown(text)) ? SupportedMime.Markdown : SupportedMime.Text;
      break;
    }
    default:
      throw new UnreachableCaseError(sniffed);
  }

  for (const claim of claims) {
    if (claim.mime && family(claim.mime) !== family(actual)) {
      throw fail(PipelineErrorCode.MediaTypeMismatch, `the ${claim.what} says ${claim.mime} but the content is ${actual}`);
    }
  }
  return text === undefined ? { mime: actual } : { mime: actual, text };
}

/** Plain text and Markdown are one family: either claim fits either content. */
function family(mime: SupportedMime): string {
  return mime === SupportedMime.Markdown ? SupportedMime.Text : mime;
}

function looksLikeMarkdown(text: string): boolean {
  const sample = text.slice(0, 20_000);
  let cues = 0;
  if (/^#{1,6} \S/m.test(sample)) cues += 1;
  if (/^```/m.test(sample)) cues += 1;
  if (/\[[^\]\n]+\]\([^)\s]+\)/.test(sample)) cues += 1;
  if (/^\s{0,3}[-*+] \S/m.test(sample) && /\*\*[^*\n]+\*\*|__[^_\n]+__/.test(sample)) cues += 1;
  return cues >= 1;
}

/**
 * What the document viewer reads from the hub: the document with its pages, words, chunks,
 * fields and labels; the team's labels and members; the original file's bytes.
 */
import type {
  Chunk,
  Document,
  FieldValue as SchemaFieldValue,
  LabelOverride as SchemaLabelOverride,
  LabelScore,
  Page,
  ProcessingError,
  User,
  Word,
} from '@quire/graphql';
import { teamLabels } from '$lib/stores/labels.svelte.ts';
import { ApiError } from '$lib/api/errors.ts';
import { gql, type Selected } from '$lib/api/graphql.ts';
import { session } from '$lib/api/session.svelte.ts';
import type { Box } from '$lib/stores/collab.svelte.ts';

export type { Box };
/**
 * `DOCUMENT_QUERY` reads every field of these: the schema's types as they are. A page's size
 * is its image's in pixels, the coordinates of every box (0 for plain text); a chunk's
 * `start` and `end` are its range within its page's text.
 */
export type { Chunk, LabelScore, Page, Word };

/** An extracted field as `FIELD` reads it. */
export type FieldValue = Selected<SchemaFieldValue, 'value' | 'page' | 'box' | 'confidence'>;

export const FIELD_NAMES = {
  number: 'Number',
  date: 'Date',
  total: 'Total',
  currency: 'Currency',
  counterparty: 'Counterparty',
  orderNumber: 'Order number',
} as const;
export type FieldName = keyof typeof FIELD_NAMES;

/** A person's label as `LABELS` reads it. */
export type LabelOverride = Selected<SchemaLabelOverride, 'label' | 'setBy' | 'setAt'>;

/** A processing error as the viewer reads it. */
type ErrorState = Selected<ProcessingError, 'code' | 'message' | 'stage'>;

export interface JobState {
  id: string;
  status: string;
  stage: string | null;
  done: number;
  total: number;
  percent: number;
  etaMs: number | null;
  error: ErrorState | null;
}

/** The labels part of a document (`LABELS`), which `setDocumentLabel` answers again. */
export type DocumentLabels = Selected<Document, 'type' | 'sensitivity' | 'classification'> & {
  typeOverride: LabelOverride | null;
  sensitivityOverride: LabelOverride | null;
};

/** The document as `DOCUMENT_QUERY` reads it. */
export type ViewerDocument = DocumentLabels &
  Selected<
    Document,
    'id' | 'filename' | 'mimeType' | 'size' | 'status' | 'pageCount' | 'createdAt' | 'processedAt' | 'pages' | 'chunks'
  > & {
    error: ErrorState | null;
    job: JobState | null;
    fields: Partial<Record<FieldName, FieldValue | null>>;
  };

/** A member as the viewer names them. */
export type Member = Selected<User, 'id' | 'name' | 'email'>;

export interface TeamLabels {
  types: string[];
  sensitivities: string[];
}

const BOX = 'x y w h';
const FIELD = `value page confidence box { ${BOX} }`;
const LABELS = `type sensitivity
  typeOverride { label setBy setAt }
  sensitivityOverride { label setBy setAt }
  classification { method type { label confidence } sensitivity { label confidence } }`;
const JOB = 'id status stage done total percent etaMs error { code message stage }';

const DOCUMENT_QUERY = `query Viewer($id: ID!) {
  document(id: $id) {
    id filename mimeType size status pageCount createdAt processedAt
    error { code message stage }
    job { ${JOB} }
    pages { number width height text source confidence words { text confidence box { ${BOX} } } }
    chunks { ordinal page text start end boxes { ${BOX} } }
    fields { ${Object.keys(FIELD_NAMES)
      .map((k) => `${k} { ${FIELD} }`)
      .join(' ')} }
    ${LABELS}
  }
}`;

/** The document, or null when it does not exist or is not shared with the team. */
export async function loadDocument(id: string): Promise<ViewerDocument | null> {
  try {
    const data = await gql<{ document: ViewerDocument | null }>(DOCUMENT_QUERY, { id });
    const doc = data.document;
    if (!doc) return null;
    doc.pages = [...doc.pages].sort((a, b) => a.number - b.number);
    doc.chunks = [...doc.chunks].sort((a, b) => a.ordinal - b.ordinal);
    return doc;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

/** The team's labels and members (to name who did what). Each part is empty where refused. */
export async function loadTeam(): Promise<{ labels: TeamLabels; members: Member[] }> {
  const [labels, members] = await Promise.all([
    teamLabels().then(
      (l) => ({ types: l.types.map((t) => t.name), sensitivities: l.sensitivities.map((t) => t.name) }),
      () => ({ types: [], sensitivities: [] }),
    ),
    gql<{ members: { user: Member }[] }>('{ members { user { id name email } } }').then(
      (d) => d.members.map((m) => m.user),
      () => [] as Member[],
    ),
  ]);
  return { labels, members };
}

/** Sets (or with null clears) a person's type or sensitivity; answers the labels as they are now. */
export async function setDocumentLabel(documentId: string, kind: 'TYPE' | 'SENSITIVITY', label: string | null): Promise<DocumentLabels> {
  const data = await gql<{ setDocumentLabel: DocumentLabels }>(
    `mutation SetLabel($id: ID!, $kind: LabelKind!, $label: String) { setDocumentLabel(documentId: $id, kind: $kind, label: $label) { ${LABELS} } }`,
    { id: documentId, kind, label },
  );
  return data.setDocumentLabel;
}

/** The original file's bytes. */
export function fetchOriginal(documentId: string): Promise<Blob> {
  return session.withAuth(async (headers) => {
    let res: Response;
    try {
      res = await fetch(`/api/documents/${encodeURIComponent(documentId)}/file?inline`, { headers });
    } catch (err) {
      throw new ApiError('NETWORK', 'Quire cannot be reached', err);
    }
    if (!res.ok) {
      const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      throw new ApiError(
        body?.error?.code ?? (res.status === 404 ? 'NOT_FOUND' : 'INTERNAL'),
        body?.error?.message ?? `The hub answered ${res.status}`,
      );
    }
    return res.blob();
  });
}

/** Saves the original file under its name. */
export async function downloadOriginal(documentId: string, filename: string): Promise<void> {
  const url = URL.createObjectURL(await fetchOriginal(documentId));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has taken the bytes by the next task.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A person's name from their id: their name, else their email; `fallback` for unknown ids. */
export function nameOf(members: Member[], id: string | null | undefined, fallback = 'Someone'): string {
  if (!id) return 'An API key';
  const m = members.find((x) => x.id === id);
  return m ? m.name || m.email : fallback;
}

/**
 * The search page's state as it lives in the URL (`/search?q=…&mode=…&type=…`), so a search
 * is linkable and the back button steps through searches; and the GraphQL it sends.
 */
import type { Document, FacetCount, SearchHit, SearchScores } from '@quire/graphql';
import type { Selected } from '$lib/api/graphql.ts';
import { createdRange } from '$lib/dates.ts';

/** The hub's search modes. */
export const SearchMode = { TEXT: 'TEXT', VECTOR: 'VECTOR', HYBRID: 'HYBRID' } as const;
export type SearchMode = (typeof SearchMode)[keyof typeof SearchMode];

/** The modes as the switch shows them, and as the URL spells them. */
export const MODES: { mode: SearchMode; label: string; param: string; hint: string }[] = [
  { mode: 'TEXT', label: 'Text', param: 'text', hint: 'Exact words and numbers' },
  { mode: 'VECTOR', label: 'Semantic', param: 'semantic', hint: 'By meaning' },
  { mode: 'HYBRID', label: 'Hybrid', param: 'hybrid', hint: 'Words and meaning' },
];

/** What the page searches for; empty strings for what is not set. */
export interface SearchParams {
  q: string;
  mode: SearchMode;
  type: string;
  sensitivity: string;
  /** `YYYY-MM-DD`, uploaded on or after. */
  from: string;
  /** `YYYY-MM-DD`, uploaded on or before. */
  to: string;
  /** A document id: show the documents like it instead of a query's results. */
  like: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Reads the URL's query string; unknown modes fall back to hybrid. Accepts `vector` too. */
export function readSearchParams(url: URL): SearchParams {
  const get = (k: string) => url.searchParams.get(k)?.trim() ?? '';
  const m = get('mode').toLowerCase();
  const mode = m === 'text' ? 'TEXT' : m === 'semantic' || m === 'vector' ? 'VECTOR' : 'HYBRID';
  const date = (k: string) => (DATE.test(get(k)) ? get(k) : '');
  return { q: get('q'), mode, type: get('type'), sensitivity: get('sensitivity'), from: date('from'), to: date('to'), like: get('like') };
}

/** The URL of a search; the default mode and empty fields are left out. */
export function searchHref(p: Partial<SearchParams>): string {
  const s = new URLSearchParams();
  if (p.like) s.set('like', p.like);
  if (p.q) s.set('q', p.q);
  if (p.mode && p.mode !== 'HYBRID') s.set('mode', MODES.find((x) => x.mode === p.mode)?.param ?? 'hybrid');
  if (p.type) s.set('type', p.type);
  if (p.sensitivity) s.set('sensitivity', p.sensitivity);
  if (p.from) s.set('from', p.from);
  if (p.to) s.set('to', p.to);
  const qs = s.toString();
  return qs ? `/search?${qs}` : '/search';
}

export function hasFilters(p: SearchParams): boolean {
  return Boolean(p.type || p.sensitivity || p.from || p.to);
}

/** The GraphQL `SearchFilter`; dates are the reader's local days, both included (see `createdRange`). */
export function toFilter(p: SearchParams): Record<string, unknown> | null {
  if (!hasFilters(p)) return null;
  const f: Record<string, unknown> = { ...createdRange(p.from, p.to) };
  if (p.type) f.types = [p.type];
  if (p.sensitivity) f.sensitivities = [p.sensitivity];
  return f;
}

/** One search hit as the page asks for it (`HIT_FIELDS`). */
export type Hit = Selected<SearchHit, 'chunkOrdinal' | 'page' | 'snippet' | 'highlights' | 'rank'> & {
  scores: Selected<SearchScores, 'text' | 'vector' | 'hybrid'>;
  document: Selected<Document, 'id' | 'filename' | 'type' | 'sensitivity'>;
};

const HIT_FIELDS = `chunkOrdinal page snippet highlights { start end } scores { text vector hybrid } rank
  document { id filename type sensitivity }`;

/** A document a search found, with its best passages. */
export interface DocumentGroup {
  rank: number;
  document: Hit['document'];
  passages: Hit[];
}

/** Documents found with each type or sensitivity, among the best passages. */
export interface Facets {
  passagesExamined: number;
  types: Selected<FacetCount, 'value' | 'count'>[];
  sensitivities: Selected<FacetCount, 'value' | 'count'>[];
}

/** The page's search: documents, each with up to three passages, and the facet counts. */
export const SEARCH_QUERY = `query Search($q: String!, $mode: SearchMode, $filter: SearchFilter) {
  searchDocuments(query: $q, mode: $mode, filter: $filter, first: 20, passages: 3) {
    documents { rank document { id filename type sensitivity } passages { ${HIT_FIELDS} } }
    facets { passagesExamined types { value count } sensitivities { value count } }
  }
}`;

export const MORE_LIKE_THIS_QUERY = `query MoreLikeThis($id: ID!) {
  moreLikeThis(documentId: $id, first: 10) { ${HIT_FIELDS} }
}`;

export const DOCUMENT_NAME_QUERY = `query DocumentName($id: ID!) { document(id: $id) { id filename } }`;

/** How many documents the team has, for the empty state. */
export const DOCUMENT_COUNT_QUERY = `query DocumentCount { documents(first: 1) { totalCount } }`;

/** The viewer at the hit's page, with its passage highlighted. */
export function viewerHref(hit: Pick<Hit, 'page' | 'chunkOrdinal'> & { document: { id: string } }): string {
  return `/documents/${encodeURIComponent(hit.document.id)}?page=${hit.page}&chunk=${hit.chunkOrdinal}`;
}

/** A snippet cut into plain text and highlighted parts, overlaps merged and ranges clamped. */
export function snippetParts(snippet: string, highlights: { start: number; end: number }[]): { text: string; mark: boolean }[] {
  const ranges = highlights
    .map((h) => ({ start: Math.max(0, Math.min(h.start, snippet.length)), end: Math.max(0, Math.min(h.end, snippet.length)) }))
    .filter((h) => h.end > h.start)
    .sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number }[] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  const parts: { text: string; mark: boolean }[] = [];
  let at = 0;
  for (const r of merged) {
    if (r.start > at) parts.push({ text: snippet.slice(at, r.start), mark: false });
    parts.push({ text: snippet.slice(r.start, r.end), mark: true });
    at = r.end;
  }
  if (at < snippet.length) parts.push({ text: snippet.slice(at), mark: false });
  return parts;
}

/** Which rankings found a hit, in words ("words", "meaning", "words + meaning"). */
export function scoreKind(scores: Hit['scores']): string {
  const kinds = [scores.text != null ? 'words' : null, scores.vector != null ? 'meaning' : null].filter(Boolean);
  return kinds.length ? `matched by ${kinds.join(' + ')}` : '';
}

/**
 * The team's document list: one page at a time by cursor (the hub walks an index, so the
 * 2 000th page costs what the first does), filtered and sorted as the URL says, kept live.
 * Any change of the team's documents reloads the page shown, at most twice a second, and
 * progress events move the bars of the rows in view without a reload.
 */
import { gql } from '$lib/api/graphql.ts';
import { createdRange } from '$lib/dates.ts';
import { followTeam, socketFor } from '$lib/api/live.svelte.ts';

export const PAGE_SIZE = 50;

export const ORDERS = [
  { value: 'NEWEST', label: 'Newest first' },
  { value: 'OLDEST', label: 'Oldest first' },
  { value: 'NAME', label: 'Name A–Z' },
  { value: 'NAME_DESC', label: 'Name Z–A' },
  { value: 'LARGEST', label: 'Largest first' },
  { value: 'SMALLEST', label: 'Smallest first' },
] as const;

export const STATUSES = ['QUEUED', 'PROCESSING', 'PROCESSED', 'FAILED'] as const;

export interface ListQuery {
  status: string;
  type: string;
  sensitivity: string;
  from: string;
  to: string;
  order: string;
}

export interface DocumentRow {
  id: string;
  filename: string;
  mimeType: string;
  size: number;
  status: string;
  pageCount: number;
  type: string | null;
  sensitivity: string | null;
  createdAt: string;
  error: { message: string } | null;
  job: { stage: string | null; percent: number; etaMs: number | null } | null;
}

const LIST = `query($filter: DocumentFilter, $orderBy: DocumentOrder, $first: Int, $after: String) {
  documents(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { endCursor hasNextPage }
    nodes { id filename mimeType size status pageCount type sensitivity createdAt error { message } job { stage percent etaMs } }
  }
}`;

export class DocumentList {
  rows = $state<DocumentRow[]>([]);
  total = $state<number | null>(null);
  loading = $state(true);
  error = $state<unknown>(null);
  hasNext = $state(false);
  /** Cursors of the pages before this one; its length is this page's index. */
  #before = $state<(string | null)[]>([]);
  #after: string | null = null;
  #endCursor: string | null = null;
  #query: ListQuery = { status: '', type: '', sensitivity: '', from: '', to: '', order: '' };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stop: (() => void) | null = null;
  #seq = 0;

  get pageIndex(): number {
    return this.#before.length;
  }

  /** Loads the first page for a new query. */
  setQuery(query: ListQuery): void {
    this.#query = query;
    this.#before = [];
    this.#after = null;
    void this.load();
  }

  async load(): Promise<void> {
    const seq = ++this.#seq;
    this.loading = true;
    const q = this.#query;
    const filter = {
      statuses: q.status ? [q.status] : undefined,
      types: q.type ? [q.type] : undefined,
      sensitivities: q.sensitivity ? [q.sensitivity] : undefined,
      ...createdRange(q.from, q.to),
    };
    try {
      const data = await gql<{
        documents: { totalCount: number; pageInfo: { endCursor: string | null; hasNextPage: boolean }; nodes: DocumentRow[] };
      }>(LIST, { filter, orderBy: q.order || 'NEWEST', first: PAGE_SIZE, after: this.#after });
      if (seq !== this.#seq) return;
      this.rows = data.documents.nodes;
      this.total = data.documents.totalCount;
      this.hasNext = data.documents.pageInfo.hasNextPage;
      this.#endCursor = data.documents.pageInfo.endCursor;
      this.error = null;
    } catch (err) {
      if (seq === this.#seq) this.error = err;
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  next(): void {
    if (!this.hasNext) return;
    this.#before = [...this.#before, this.#after];
    this.#after = this.#endCursor;
    void this.load();
  }

  previous(): void {
    if (this.#before.length === 0) return;
    this.#after = this.#before.at(-1) ?? null;
    this.#before = this.#before.slice(0, -1);
    void this.load();
  }

  /** Follows the team's document events until `stop()`. */
  live(): () => void {
    this.#stop?.();
    // Joined the team's room on a (re)connection: what changed meanwhile is read again. Joined
    // at once on a connected socket: the page's own load is as new.
    let joinedAtOnce = socketFor('/').connected;
    const stop = followTeam({
      onConnect: () => {
        if (!joinedAtOnce) this.#soon();
        joinedAtOnce = false;
      },
      events: {
        'document:changed': () => this.#soon(),
        'job:progress': (p: { documentId: string; stage: string; percent: number; etaMs: number | null }) => {
          const row = this.rows.find((r) => r.id === p.documentId);
          if (!row) return;
          if (row.status === 'QUEUED') row.status = 'PROCESSING';
          row.job = { stage: p.stage, percent: p.percent, etaMs: p.etaMs };
        },
      },
    });
    this.#stop = () => {
      stop();
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#stop = null;
    };
    return () => this.#stop?.();
  }

  #soon(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.load();
    }, 500);
  }
}

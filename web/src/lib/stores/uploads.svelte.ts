/**
 * The uploads of this tab: each dropped file goes up (three at a time), then follows its
 * document's processing live through the `/` socket until it is processed or failed, and
 * finally shows the type and sensitivity Quire gave it. A file refused for a reason that may
 * pass later (rate limit, lost connection) waits and goes up again; nothing dropped is lost
 * silently: every refusal stays listed with its reason in plain words.
 */
import { ApiError, plainMessage } from '$lib/api/errors.ts';
import { gql } from '$lib/api/graphql.ts';
import { followTeam } from '$lib/api/live.svelte.ts';
import { session } from '$lib/api/session.svelte.ts';
import { uploadFile } from '$lib/api/upload.ts';

export type UploadState = 'waiting' | 'retrying' | 'uploading' | 'queued' | 'processing' | 'done' | 'failed' | 'duplicate' | 'refused';

export interface UploadItem {
  key: number;
  /** The team the file was dropped in: it goes there even if the person switches team. */
  teamId: string;
  /** Who dropped it: nobody else's session sends it. */
  userId: string;
  /** Sent again after a lost connection: the hub may have kept the first try. */
  retried: boolean;
  name: string;
  size: number;
  /** The browser's idea of the file's type, until Quire classifies it. */
  mime: string;
  state: UploadState;
  /** 0..100: bytes while uploading, the job's progress after. */
  percent: number;
  stage: string | null;
  etaMs: number | null;
  message: string | null;
  documentId: string | null;
  docType: string | null;
  sensitivity: string | null;
  startedAt: number;
}

const PARALLEL = 3;

/** "scan.PNG" → "PNG file", for files the browser gives no type. */
function fileKind(name: string): string {
  const ext = /\.([a-z0-9]{1,8})$/i.exec(name)?.[1];
  return ext ? `${ext.toUpperCase()} file` : 'file';
}
const RETRYABLE = new Set(['RATE_LIMITED', 'NETWORK']);

interface ProgressMessage {
  documentId: string;
  stage: string;
  percent: number;
  etaMs: number | null;
}
interface DocumentMessage {
  documentId: string;
  status: string;
  error: { code: string; message: string } | null;
}

const UNFINISHED: UploadState[] = ['waiting', 'retrying', 'uploading', 'queued', 'processing'];

class Uploads {
  items = $state<UploadItem[]>([]);
  /** The last refusal or failure, for screen readers. */
  announcement = $state('');
  #files = new Map<number, File>();
  #next = 1;
  #listening = false;

  /** The current team's uploads. */
  get shown(): UploadItem[] {
    return this.items.filter((i) => i.teamId === session.team?.id);
  }

  /** The current team's files still going up or being processed. */
  get active(): number {
    return this.shown.filter((i) => UNFINISHED.includes(i.state)).length;
  }

  add(files: Iterable<File>): void {
    const teamId = session.team?.id;
    const userId = session.me?.user.id;
    if (!teamId || !userId) return;
    this.#listen();
    for (const file of files) {
      const key = this.#next++;
      this.#files.set(key, file);
      this.items.unshift({
        key,
        teamId,
        userId,
        retried: false,
        name: file.name,
        size: file.size,
        mime: file.type || fileKind(file.name),
        state: 'waiting',
        percent: 0,
        stage: null,
        etaMs: null,
        message: null,
        documentId: null,
        docType: null,
        sensitivity: null,
        startedAt: Date.now(),
      });
    }
    this.#pump();
  }

  /** Removes the current team's finished rows from the list. */
  clearFinished(): void {
    this.items = this.items.filter((i) => i.teamId !== session.team?.id || UNFINISHED.includes(i.state));
  }

  #item(key: number): UploadItem | undefined {
    return this.items.find((i) => i.key === key);
  }

  #pump(): void {
    const running = this.items.filter((i) => i.state === 'uploading').length;
    const waiting = this.items.filter((i) => i.state === 'waiting').reverse();
    for (const item of waiting.slice(0, Math.max(0, PARALLEL - running))) void this.#send(item.key);
  }

  async #send(key: number): Promise<void> {
    const item = this.#item(key);
    const file = this.#files.get(key);
    if (!item || !file || item.state !== 'waiting') return;
    if (session.me?.user.id !== item.userId) {
      this.#files.delete(key);
      item.state = 'refused';
      item.message = 'Not sent: the person who dropped it signed out first.';
      return;
    }
    item.state = 'uploading';
    item.startedAt = Date.now();
    item.message = null;
    try {
      const answer = await uploadFile(file, item.teamId, (sent, total) => {
        const it = this.#item(key);
        if (!it) return;
        it.percent = total > 0 ? (sent / total) * 100 : 0;
        const elapsed = Date.now() - it.startedAt;
        it.etaMs = sent > 0 && elapsed > 500 ? (elapsed / sent) * (total - sent) : null;
      });
      const it = this.#item(key);
      if (!it) return;
      this.#files.delete(key);
      it.documentId = answer.duplicateOf ?? answer.documentId;
      // After a lost connection the hub may already hold this very upload: it is the same one.
      if (answer.duplicateOf && !it.retried) {
        it.state = 'duplicate';
        it.percent = 100;
        it.message = 'Already in this team: the same file was uploaded before.';
        await this.#describe(it);
      } else {
        it.state = 'queued';
        it.percent = 0;
        it.etaMs = null;
        it.stage = 'queued';
        // A small file may be processed before its answer arrived, its events already gone.
        void this.#describe(it);
      }
    } catch (err) {
      const it = this.#item(key);
      if (!it) return;
      if (err instanceof ApiError && RETRYABLE.has(err.code)) {
        const wait = (err.details as { retryAfterMs?: number } | undefined)?.retryAfterMs ?? 5_000;
        // Set aside (not `waiting`, which the pump would send at once) until the wait is over.
        it.state = 'retrying';
        it.retried ||= err.code === 'NETWORK';
        it.percent = 0;
        it.message = `${plainMessage(err)} Trying again in ${Math.ceil(wait / 1000)} s.`;
        setTimeout(() => {
          const again = this.#item(key);
          if (again?.state !== 'retrying') return;
          again.state = 'waiting';
          this.#pump();
        }, wait);
        return;
      }
      this.#files.delete(key);
      it.state = 'refused';
      it.message = plainMessage(err);
      this.announcement = `${it.name} was not accepted: ${it.message}`;
    } finally {
      this.#pump();
    }
  }

  /** Reads the type and sensitivity Quire gave a processed document. */
  async #describe(item: UploadItem): Promise<void> {
    if (!item.documentId) return;
    try {
      const data = await gql<{
        document: {
          mimeType: string;
          type: string | null;
          sensitivity: string | null;
          status: string;
          error: { message: string } | null;
        } | null;
      }>(
        'query($id: ID!) { document(id: $id) { mimeType type sensitivity status error { message } } }',
        { id: item.documentId },
        { teamId: item.teamId },
      );
      const doc = data.document;
      if (!doc) return;
      item.mime = doc.mimeType;
      item.docType = doc.type;
      item.sensitivity = doc.sensitivity;
      if (item.state !== 'duplicate') {
        if (doc.status === 'PROCESSED') this.#finish(item, 'done');
        else if (doc.status === 'FAILED') this.#fail(item, doc.error?.message);
      }
    } catch {
      // The list shows the document anyway; the row keeps what it knows.
    }
  }

  #fail(item: UploadItem, message: string | undefined): void {
    this.#finish(item, 'failed');
    item.message = message ?? 'Processing failed';
    this.announcement = `${item.name} could not be processed: ${item.message}`;
  }

  #finish(item: UploadItem, state: 'done' | 'failed'): void {
    item.state = state;
    item.percent = state === 'done' ? 100 : item.percent;
    item.etaMs = null;
    item.stage = state === 'done' ? 'done' : item.stage;
  }

  /** Follows the team's processing: one room for all of this tab's uploads. */
  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    followTeam({
      // Whatever finished while the connection was down is read again.
      onConnect: () => {
        for (const item of this.items) if (item.state === 'queued' || item.state === 'processing') void this.#describe(item);
      },
      events: {
        'job:progress': (p: ProgressMessage) => this.#progress(p),
        'document:changed': (e: DocumentMessage) => this.#changed(e),
      },
    });
  }

  #progress(p: ProgressMessage): void {
    const item = this.items.find((i) => i.documentId === p.documentId && (i.state === 'queued' || i.state === 'processing'));
    if (!item) return;
    item.state = 'processing';
    item.stage = p.stage;
    item.percent = p.percent;
    item.etaMs = p.etaMs;
  }

  #changed(e: DocumentMessage): void {
    const item = this.items.find((i) => i.documentId === e.documentId && (i.state === 'queued' || i.state === 'processing'));
    if (!item) return;
    if (e.status === 'PROCESSED' || e.status === 'processed') void this.#describe(item);
    else if (e.status === 'FAILED' || e.status === 'failed') this.#fail(item, e.error?.message);
    else if (e.status === 'PROCESSING' || e.status === 'processing') item.state = 'processing';
  }
}

/** This tab's uploads (kept while moving between pages). */
export const uploads = new Uploads();

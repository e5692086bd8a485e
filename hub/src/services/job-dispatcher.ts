/**
 * Puts processing jobs on the bus with what a processor node needs to run them, so that a node
 * on another machine needs nothing but the bus:
 *
 * - the team's classifier settings (labels and labelled examples) as a stored object named by
 *   a digest of its content: a node fetches each version once and caches it by key, and a job
 *   runs with the settings of the moment it was queued;
 * - the original file as a stored object, when the bus keeps objects for other machines
 *   (`durableObjects`). On the in-process bus the node runs in this process and reads the blob
 *   store itself ({@link blobOriginals}).
 *
 * Stored objects have a bounded lifetime; a node that finds one gone says so, and the hub puts
 * it again with a new delivery of the job ({@link JobDispatcher.redispatch}).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Bus } from '@quire/bus';
import { Queues, classifierObjectKey, originalObjectKey, type ClassifierSettings, type ProcessJob } from '@quire/kernel';
import type { OriginalSource } from '@quire/processors';
import { enqueueJob } from '@quire/bus';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { DocumentRecord, TeamScope } from '../store/store.ts';

export class JobDispatcher {
  /** Settings objects this hub put, by key, with when: put again once half their lifetime passed. */
  readonly #settingsPut = new Map<string, number>();

  constructor(
    private readonly deps: {
      bus: Bus;
      blobs: BlobStore;
      /** The team's classifier settings now. */
      classifierSettings: (scope: TeamScope) => Promise<ClassifierSettings>;
      /** How long stored objects live on the bus, in ms. */
      objectTtlMs: number;
    },
  ) {}

  /** Whether originals travel through the bus (for nodes on other machines). */
  get sharesOriginals(): boolean {
    return this.deps.bus.capabilities.durableObjects;
  }

  /** Puts a job for a stored, `queued` document on the bus, with its inputs. */
  async dispatch(scope: TeamScope, doc: DocumentRecord, jobId: string): Promise<void> {
    await this.#send(scope, doc, jobId, jobId);
  }

  /**
   * Puts the inputs of a document's current job on the bus again and gives the job a new
   * delivery (its earlier one found an input gone). False, sending nothing, when the original
   * is no longer in the blob store.
   */
  async redispatch(scope: TeamScope, doc: DocumentRecord): Promise<boolean> {
    if (!(await this.deps.blobs.exists(doc.blobKey))) return false;
    this.#settingsPut.clear();
    // A new id: the bus may still remember the first one as done.
    await this.#send(scope, doc, doc.jobId, `${doc.jobId}-${randomUUID().slice(0, 8)}`);
    return true;
  }

  /** Removes a job's original from the bus once it is no longer needed. */
  async forget(jobId: string): Promise<void> {
    if (this.sharesOriginals) await this.deps.bus.deleteObject(originalObjectKey(jobId));
  }

  async #send(scope: TeamScope, doc: DocumentRecord, jobId: string, envelopeId: string): Promise<void> {
    const { bus, blobs } = this.deps;
    const classifierKey = await this.#putSettings(scope);
    if (this.sharesOriginals) await bus.putObject(originalObjectKey(jobId), await blobs.get(doc.blobKey));
    const payload: ProcessJob = {
      jobId,
      documentId: doc.id,
      teamId: scope.teamId,
      blobKey: doc.blobKey,
      mimeType: doc.mimeType,
      filename: doc.filename,
      correlationId: jobId,
      classifierKey,
    };
    await enqueueJob(bus, Queues.DocumentProcess, { id: envelopeId, payload, correlationId: jobId });
  }

  async #putSettings(scope: TeamScope): Promise<string> {
    const bytes = new TextEncoder().encode(JSON.stringify(await this.deps.classifierSettings(scope)));
    const key = classifierObjectKey(createHash('sha256').update(bytes).digest('hex'));
    const putAt = this.#settingsPut.get(key);
    if (putAt === undefined || Date.now() - putAt > this.deps.objectTtlMs / 2) {
      await this.deps.bus.putObject(key, bytes);
      this.#settingsPut.set(key, Date.now());
      if (this.#settingsPut.size > 1000) this.#settingsPut.clear();
    }
    return key;
  }
}

/** The in-process node's originals: read from the blob store of the hub it runs in. */
export function blobOriginals(blobs: BlobStore): OriginalSource {
  return {
    async read(job) {
      try {
        return await blobs.read(job.blobKey);
      } catch {
        return null;
      }
    },
  };
}

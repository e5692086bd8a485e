/**
 * Labels people set and what they teach the classifier.
 *
 * A person's document type or sensitivity overrides the classifier's for that document
 * (filters, search and lists use it). The team's labelled documents are also examples: their
 * embeddings are passed to the classify stage, which turns few-shot (a prototype per label
 * next to the label descriptions), so later documents of a kind the descriptions miss are
 * classified as the team labels them. Re-classification applies the examples to documents
 * already processed, from their stored embeddings, without running the pipeline again.
 */
import {
  ConflictError,
  NotFoundError,
  ValidationError,
  type ClassifierSettings,
  type LabelDefinition,
  type LabelledExample,
} from '@quire/kernel';
import type { Classifier } from '@quire/processors';
import type { SearchIndex } from '@quire/search';
import {
  AuditAction,
  actorIdOf,
  auditEntry,
  effectiveLabels,
  type ActingScope,
  type DocumentRecord,
  type DocumentVector,
  type LabelOverrides,
  type LabelSet,
  type Store,
  type TeamScope,
} from '../store/store.ts';

export type LabelKind = 'type' | 'sensitivity';

/** Longest label name, and what one may hold: letters and digits, then also spaces and `-_.&/'()`. */
export const MAX_LABEL_NAME = 60;
const LABEL_NAME = /^[\p{L}\p{N}][\p{L}\p{N} _.&/'()-]*$/u;
/** Longest label description: a sentence or two is what zero-shot matching reads best. */
export const MAX_LABEL_DESCRIPTION = 500;
/** Most labels of one kind: the classifier compares every document with each of them. */
export const MAX_LABELS_PER_KIND = 50;
/** Tries of a label change that lost to another change of the same set before giving up. */
const CHANGE_ATTEMPTS = 5;

const setKey = (kind: LabelKind): keyof LabelSet => (kind === 'type' ? 'types' : 'sensitivities');

/** The newest examples per label that take part; older ones add little and cost time. */
export const MAX_EXAMPLES_PER_LABEL = 64;

export class ClassificationService {
  constructor(
    private readonly deps: {
      store: Store;
      index: SearchIndex;
      /** A classifier over the hub's embedder (for label descriptions; documents come embedded). */
      classifier: Classifier;
      /** The label sets teams start with. */
      defaults: { types: readonly LabelDefinition[]; sensitivities: readonly LabelDefinition[] };
    },
  ) {}

  /** The team's document types and sensitivities: its own once it changed them, else the defaults. */
  async labelSet(scope: TeamScope): Promise<LabelSet> {
    return this.ownOrDefault(await this.deps.store.getLabelSet(scope));
  }

  private ownOrDefault(stored: LabelSet | undefined): LabelSet {
    return stored
      ? { types: stored.types, sensitivities: stored.sensitivities }
      : { types: [...this.deps.defaults.types], sensitivities: [...this.deps.defaults.sensitivities] };
  }

  /**
   * Adds a label to the team's types or sensitivities; the classifier reads its description
   * from the next document on (`reclassifyDocuments` applies it to those processed already).
   * ValidationError `BAD_LABEL_NAME`, `BAD_LABEL_DESCRIPTION` or `TOO_MANY_LABELS`;
   * ConflictError `LABEL_EXISTS` for a name the team uses already, as a type or a
   * sensitivity, in any case (labels of both kinds share one namespace on annotations).
   */
  async addLabel(scope: ActingScope, kind: LabelKind, name: string, description: string): Promise<LabelSet> {
    const label = { name: name.trim(), description: description.trim() };
    if (!label.name || label.name.length > MAX_LABEL_NAME || !LABEL_NAME.test(label.name)) {
      throw new ValidationError(
        `A label name has 1 to ${MAX_LABEL_NAME} characters: letters and digits, then also spaces and - _ . & / ' ( )`,
        { code: 'BAD_LABEL_NAME', details: { name } },
      );
    }
    if (!label.description || label.description.length > MAX_LABEL_DESCRIPTION) {
      throw new ValidationError(`A label description has 1 to ${MAX_LABEL_DESCRIPTION} characters`, { code: 'BAD_LABEL_DESCRIPTION' });
    }
    const set = await this.changeLabels(scope, (current) => {
      const taken = [...current.types, ...current.sensitivities].find((l) => l.name.toLowerCase() === label.name.toLowerCase());
      if (taken) {
        throw new ConflictError(`The team has a label ${JSON.stringify(taken.name)} already`, {
          code: 'LABEL_EXISTS',
          details: { name: taken.name },
        });
      }
      const list = current[setKey(kind)];
      if (list.length >= MAX_LABELS_PER_KIND) {
        throw new ValidationError(`A team has at most ${MAX_LABELS_PER_KIND} labels of each kind`, { code: 'TOO_MANY_LABELS' });
      }
      return { ...current, [setKey(kind)]: [...list, label] };
    });
    await this.deps.store.appendAudit(
      auditEntry(scope, AuditAction.LabelAdded, { type: 'label', id: `${kind}:${label.name}` }, { kind, ...label }),
    );
    return set;
  }

  /**
   * Removes a label from the team's set. Documents a person labelled with it keep that label
   * (it is no longer offered, and its documents no longer serve as examples); documents the
   * classifier gave it keep it until classified again. ValidationError `UNKNOWN_LABEL` for a
   * name the kind does not have; ConflictError `LAST_LABEL` for its last label.
   */
  async removeLabel(scope: ActingScope, kind: LabelKind, name: string): Promise<LabelSet> {
    let removed: LabelDefinition | undefined;
    const set = await this.changeLabels(scope, (current) => {
      const list = current[setKey(kind)];
      removed = list.find((l) => l.name === name);
      if (!removed) {
        throw new ValidationError(`Unknown ${kind} ${JSON.stringify(name)}; the team's are: ${list.map((l) => l.name).join(', ')}`, {
          code: 'UNKNOWN_LABEL',
        });
      }
      if (list.length === 1) throw new ConflictError(`A team keeps at least one ${kind}`, { code: 'LAST_LABEL' });
      return { ...current, [setKey(kind)]: list.filter((l) => l !== removed) };
    });
    await this.deps.store.appendAudit(
      auditEntry(
        scope,
        AuditAction.LabelRemoved,
        { type: 'label', id: `${kind}:${name}` },
        { kind, name, description: removed!.description },
      ),
    );
    return set;
  }

  /** Applies `edit` to the team's current set and stores the result, again from the start when another change came first. */
  private async changeLabels(scope: TeamScope, edit: (current: LabelSet) => LabelSet): Promise<LabelSet> {
    const { store } = this.deps;
    for (let attempt = 0; attempt < CHANGE_ATTEMPTS; attempt++) {
      const stored = await store.getLabelSet(scope);
      const saved = await store.saveLabelSet(scope, edit(this.ownOrDefault(stored)), stored?.version ?? 0);
      if (saved) return this.ownOrDefault(saved);
    }
    throw new ConflictError("The team's labels are changing too often at once; try again", { code: 'CONFLICT' });
  }

  /** Every label name the team may use, on documents and annotations. */
  async labelNames(scope: TeamScope): Promise<string[]> {
    const set = await this.labelSet(scope);
    return [...set.types, ...set.sensitivities].map((l) => l.name);
  }

  /** What the classify stage needs for the team: its labels and its labelled documents as examples. */
  async settings(scope: TeamScope, options: { exclude?: string } = {}): Promise<ClassifierSettings> {
    const set = await this.labelSet(scope);
    const labelled = await this.deps.store.listDocumentVectors(scope, { labelledOnly: true });
    const others = labelled.filter((d) => d.documentId !== options.exclude);
    return {
      ...set,
      typeExamples: examples(others, 'type'),
      sensitivityExamples: examples(others, 'sensitivity'),
    };
  }

  /** Sets (or, with null, clears) a person's label of one kind on a document. */
  async setLabel(scope: ActingScope, documentId: string, kind: LabelKind, label: string | null): Promise<DocumentRecord> {
    const { store } = this.deps;
    const doc = await store.getDocument(scope, documentId);
    if (!doc) throw new NotFoundError(`Document ${documentId} not found`);
    if (label !== null) {
      const set = await this.labelSet(scope);
      const names = (kind === 'type' ? set.types : set.sensitivities).map((l) => l.name);
      if (!names.includes(label)) {
        throw new ValidationError(`Unknown ${kind} ${JSON.stringify(label)}; the team's are: ${names.join(', ')}`, {
          code: 'UNKNOWN_LABEL',
        });
      }
    }
    const overrides: LabelOverrides = { ...doc.labelOverrides };
    if (label === null) delete overrides[kind];
    else overrides[kind] = { label, setBy: actorIdOf(scope), setAt: Date.now() };
    const updated = await store.updateDocument(scope, documentId, { labelOverrides: overrides });
    await this.deps.index.updateFilters(scope, documentId, effectiveLabels(updated));
    await store.appendAudit(
      auditEntry(
        scope,
        AuditAction.DocumentLabelled,
        { type: 'document', id: documentId },
        { kind, label, before: doc.labelOverrides[kind]?.label ?? null },
      ),
    );
    return updated;
  }

  /**
   * Classifies the team's processed documents again with its current examples (a document's
   * own label is not an example for itself). Answers how many were classified, how many
   * changed, and how many labelled documents served as examples.
   */
  async reclassify(scope: ActingScope): Promise<{ documents: number; changed: number; examples: number }> {
    const { store, index, classifier } = this.deps;
    const all = await store.listDocumentVectors(scope);
    const base = await this.settings(scope);
    const labelled = new Set(all.filter((d) => d.labelOverrides.type || d.labelOverrides.sensitivity).map((d) => d.documentId));
    let changed = 0;
    for (const d of all) {
      const settings = labelled.has(d.documentId) ? await this.settings(scope, { exclude: d.documentId }) : base;
      const texts = (await store.getPages(scope, d.documentId)).map((p) => p.text);
      const classification = await classifier.classify(d.vector, texts, settings);
      const before = d.classification;
      if (before?.type.label !== classification.type.label || before?.sensitivity.label !== classification.sensitivity.label) changed += 1;
      const updated = await store.updateDocument(scope, d.documentId, { classification });
      await index.updateFilters(scope, d.documentId, effectiveLabels(updated));
    }
    const result = { documents: all.length, changed, examples: labelled.size };
    await store.appendAudit(auditEntry(scope, AuditAction.DocumentsReclassified, { type: 'team', id: scope.teamId }, result));
    return result;
  }
}

/** The labelled documents' embeddings as examples of one kind, newest last, capped per label. */
function examples(labelled: readonly DocumentVector[], kind: LabelKind): LabelledExample[] {
  const byLabel = new Map<string, LabelledExample[]>();
  for (const d of labelled) {
    const label = d.labelOverrides[kind]?.label;
    if (!label) continue;
    const list = byLabel.get(label) ?? [];
    list.push({ label, vector: Array.from(d.vector) });
    byLabel.set(label, list);
  }
  return [...byLabel.values()].flatMap((list) => list.slice(-MAX_EXAMPLES_PER_LABEL));
}

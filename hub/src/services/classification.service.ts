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
  NotFoundError,
  ValidationError,
  type Classifier,
  type ClassifierSettings,
  type LabelDefinition,
  type LabelledExample,
} from '@quire/processors';
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
  type Store,
  type TeamScope,
} from '../store/store.ts';

export type LabelKind = 'type' | 'sensitivity';

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

  /** The team's document types and sensitivities. */
  async labelSet(_scope: TeamScope): Promise<{ types: LabelDefinition[]; sensitivities: LabelDefinition[] }> {
    return { types: [...this.deps.defaults.types], sensitivities: [...this.deps.defaults.sensitivities] };
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

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Embedder } from '../engines/embedder.ts';
import { TransformersEmbedder } from '../engines/embedder.transformers.ts';
import type { ClassifierSettings, LabelledExample } from '@quire/kernel';
import { SENSITIVITY_SMOKE_SET, TYPE_SMOKE_SET } from './classify.fixtures.ts';
import { createClassifier, type Classifier } from './classify.stage.ts';
import { DEFAULT_DOCUMENT_TYPES, DEFAULT_SENSITIVITIES, OTHER_TYPE } from './labels.ts';

const MODELS_DIR = process.env.MODELS_DIR ?? fileURLToPath(new URL('../../../.models', import.meta.url));
const MODEL_ID = 'Xenova/all-MiniLM-L6-v2';

/**
 * Floors measured on the smoke set with the default labels,
 * set a margin below what was measured so a small change in the model build does not trip
 * them, while a broken classifier still does.
 */
const TYPE_ACCURACY_FLOOR = 0.8;
const SENSITIVITY_ACCURACY_FLOOR = 0.75;

const DEFAULTS: ClassifierSettings = {
  types: [...DEFAULT_DOCUMENT_TYPES],
  sensitivities: [...DEFAULT_SENSITIVITIES],
  typeExamples: [],
  sensitivityExamples: [],
};

/** The real embedder, counting how many texts it was asked to embed. */
class CountingEmbedder implements Embedder {
  calls = 0;
  constructor(private readonly inner: Embedder) {}
  get modelId(): string {
    return this.inner.modelId;
  }
  get dimension(): number {
    return this.inner.dimension;
  }
  embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    this.calls += 1;
    return this.inner.embedDocuments(texts);
  }
  embedQuery(text: string): Promise<Float32Array> {
    return this.inner.embedQuery(text);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('classifier (all-MiniLM-L6-v2)', () => {
  let model: TransformersEmbedder;
  let embedder: CountingEmbedder;
  let classifier: Classifier;

  const embed = async (text: string): Promise<Float32Array> => (await model.embedDocuments([text]))[0]!;

  before(async () => {
    model = await TransformersEmbedder.load({ modelsDir: MODELS_DIR, modelId: MODEL_ID });
    embedder = new CountingEmbedder(model);
    classifier = createClassifier(embedder);
  });
  after(async () => {
    await model?.close();
  });

  it('types most of the smoke set right zero-shot', async () => {
    let hits = 0;
    const misses: string[] = [];
    for (const ex of TYPE_SMOKE_SET) {
      const c = await classifier.classify(await embed(ex.text), [ex.text], DEFAULTS);
      assert.equal(c.method, 'zero-shot');
      if (c.type.label === ex.label) hits += 1;
      else misses.push(`${ex.label} → ${c.type.label}`);
    }
    const acc = hits / TYPE_SMOKE_SET.length;
    assert.ok(acc >= TYPE_ACCURACY_FLOOR, `type accuracy ${acc.toFixed(3)} below ${TYPE_ACCURACY_FLOOR}; misses: ${misses.join(', ')}`);
  });

  it('rates sensitivity from descriptions and markings', async () => {
    let hits = 0;
    for (const ex of SENSITIVITY_SMOKE_SET) {
      const c = await classifier.classify(await embed(ex.text), [ex.text], DEFAULTS);
      if (c.sensitivity.label === ex.label) hits += 1;
    }
    const acc = hits / SENSITIVITY_SMOKE_SET.length;
    assert.ok(acc >= SENSITIVITY_ACCURACY_FLOOR, `sensitivity accuracy ${acc.toFixed(3)} below ${SENSITIVITY_ACCURACY_FLOOR}`);
  });

  it('falls back to other for gibberish and for text that is no business document', async () => {
    const texts = [
      'qwx zzkv plom brrt snee vak vak trolo mif gub',
      'The fox slipped through the hedge at dusk while the owls called across the valley and the first stars came out over the hills.',
      'Add the onions to the pan and fry gently until soft, then stir in the garlic, the chopped tomatoes and a handful of basil.',
    ];
    for (const text of texts) {
      const c = await classifier.classify(await embed(text), [text], DEFAULTS);
      assert.equal(c.type.label, OTHER_TYPE, `"${text.slice(0, 30)}…" typed as ${c.type.label}`);
    }
  });

  it('gives confidences in [0, 1] that sum to one over each label set', async () => {
    const text = TYPE_SMOKE_SET[0]!.text;
    const vector = await embed(text);
    const detail = await classifier.classifyDetailed(vector, [text], DEFAULTS);
    for (const scores of [detail.types, detail.sensitivities]) {
      for (const s of scores) assert.ok(s.confidence >= 0 && s.confidence <= 1);
      const sum = scores.reduce((a, s) => a + s.confidence, 0);
      assert.ok(Math.abs(sum - 1) < 1e-6, `sum ${sum}`);
      for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1]!.confidence >= scores[i]!.confidence, 'best first');
    }
    assert.equal(detail.types.length, DEFAULT_DOCUMENT_TYPES.length);
    assert.deepEqual(detail.classification.type, detail.types[0]);
    // A clear invoice is decided with real confidence, not a near-uniform spread.
    assert.equal(detail.classification.type.label, 'invoice');
    assert.ok(detail.classification.type.confidence > 0.5, `confidence ${detail.classification.type.confidence}`);
  });

  it('accepts chunk vectors as well as one document vector', async () => {
    const text = TYPE_SMOKE_SET[9]!.text;
    const paragraphs = text.split('\n').filter((p) => p.trim() !== '');
    const chunks = await model.embedDocuments(paragraphs);
    const c = await classifier.classify(chunks, paragraphs, DEFAULTS);
    assert.equal(c.type.label, 'contract');
  });

  it('learns from labelled examples: a team that files delivery notes as receipts', async () => {
    const note = `DELIVERY NOTE
Delivery no. DN-20931  Date 14/06/2024
Deliver to: Northwind Traders, Unit 4, Mill Lane
40 cartons nitrile gloves size M; 15 cases sterile saline 500 ml
Received in good condition by: ____________ Signature ________`;
    const vector = await embed(note);
    const zero = await classifier.classify(vector, [note], DEFAULTS);
    assert.notEqual(zero.type.label, 'receipt', 'precondition: zero-shot does not already call it a receipt');

    const annotated = [
      'Goods received note GRN-118. Supplier MedLine. Items received: 20 boxes gloves, 5 cases saline. Checked and received by stores, 3 June.',
      'DELIVERY NOTE DN-1182. 12 x 5 kg espresso blend delivered to central kitchen. Received by: J. Patel, signature.',
      'Delivery docket 5521: 2000 hex bolts M10, 2000 lock nuts delivered to Plant 3 receiving dock. Goods received in good order.',
    ];
    const typeExamples: LabelledExample[] = [];
    for (const text of annotated) typeExamples.push({ label: 'receipt', vector: Array.from(await embed(text)) });
    const few = await classifier.classify(vector, [note], { ...DEFAULTS, typeExamples });
    assert.equal(few.method, 'few-shot');
    assert.equal(few.type.label, 'receipt');
  });

  it('keeps the smoke set right when every type has examples (leave one out)', async () => {
    const vectors = await model.embedDocuments(TYPE_SMOKE_SET.map((e) => e.text));
    let hits = 0;
    for (const [i, ex] of TYPE_SMOKE_SET.entries()) {
      const typeExamples = TYPE_SMOKE_SET.flatMap((other, j) => (j === i ? [] : [{ label: other.label, vector: Array.from(vectors[j]!) }]));
      const c = await classifier.classify(vectors[i]!, [ex.text], { ...DEFAULTS, typeExamples });
      assert.equal(c.method, 'few-shot');
      if (c.type.label === ex.label) hits += 1;
    }
    const acc = hits / TYPE_SMOKE_SET.length;
    assert.ok(acc >= TYPE_ACCURACY_FLOOR, `leave-one-out accuracy ${acc.toFixed(3)}`);
  });

  it('ignores examples whose label is not in the label set', async () => {
    const text = TYPE_SMOKE_SET[0]!.text;
    const vector = await embed(text);
    const stray: LabelledExample[] = [{ label: 'memo', vector: Array.from(vector) }];
    const c = await classifier.classify(vector, [text], { ...DEFAULTS, typeExamples: stray });
    assert.equal(c.method, 'zero-shot');
    assert.equal(c.type.label, 'invoice');
  });

  it('embeds each label set once and reuses it across documents', async () => {
    const local = new CountingEmbedder(model);
    const fresh = createClassifier(local);
    const vector = await embed('Invoice number 12, amount due 40.00');
    await fresh.classify(vector, [], DEFAULTS);
    await fresh.classify(vector, [], DEFAULTS);
    await fresh.classify(vector, [], { ...DEFAULTS, types: DEFAULTS.types.map((t) => ({ ...t })) });
    assert.equal(local.calls, 2, 'one call for types and one for sensitivities, then cache hits');
    await fresh.classify(vector, [], { ...DEFAULTS, types: [{ name: 'memo', description: 'An internal memo.' }, ...DEFAULTS.types] });
    assert.equal(local.calls, 3, 'a changed label set is embedded anew');
  });

  it('refuses vectors of another dimension', async () => {
    await assert.rejects(classifier.classify(new Float32Array(10), [], DEFAULTS), RangeError);
    await assert.rejects(classifier.classify([], [], DEFAULTS), RangeError);
  });
});

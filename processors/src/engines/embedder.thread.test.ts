import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { AppError } from '@quire/kernel';
import { ThreadedEmbedder } from './embedder.thread.ts';
import { TransformersEmbedder } from './embedder.transformers.ts';
import { DEFAULT_MODEL_ID } from './models/model-registry.ts';

// The models `npm test` obtains first (`quire models`) into the repository's MODELS_DIR.
const modelsDir = fileURLToPath(new URL('../../../.models', import.meta.url));

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('ThreadedEmbedder', () => {
  let threaded: ThreadedEmbedder;
  let local: TransformersEmbedder;
  before(async () => {
    [threaded, local] = await Promise.all([
      ThreadedEmbedder.start({ modelsDir, modelId: DEFAULT_MODEL_ID }),
      TransformersEmbedder.load({ modelsDir, modelId: DEFAULT_MODEL_ID }),
    ]);
  });
  after(async () => {
    await Promise.all([threaded.close(), local.close()]);
  });

  it('gives the vectors the model gives in this thread, each request its own', async () => {
    assert.equal(threaded.modelId, DEFAULT_MODEL_ID);
    assert.equal(threaded.dimension, local.dimension);
    const queries = ['when is the invoice due', 'bread baking at home', 'rodents in the stream'];
    const [remote, here] = await Promise.all([
      Promise.all(queries.map((q) => threaded.embedQuery(q))),
      Promise.all(queries.map((q) => local.embedQuery(q))),
    ]);
    for (const [i, v] of remote.entries()) {
      assert.equal(v.length, local.dimension);
      assert.ok(maxDiff(v, here[i]!) < 1e-5, `query ${i} differs by ${maxDiff(v, here[i]!)}`);
    }
    assert.ok(maxDiff(remote[0]!, remote[1]!) > 0.01, 'different queries, different vectors');
    const docs = await threaded.embedDocuments(['Payment is due within 30 days.', 'The library opens late on Saturdays.']);
    const docsHere = await local.embedDocuments(['Payment is due within 30 days.', 'The library opens late on Saturdays.']);
    assert.equal(docs.length, 2);
    docs.forEach((v, i) => assert.ok(maxDiff(v, docsHere[i]!) < 1e-5));
    assert.deepEqual(await threaded.embedDocuments([]), []);
  });

  it('keeps the calling thread free while it embeds', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const long = Array.from({ length: 64 }, (_, i) => `Passage ${i} about quarterly revenue, stationery orders and weekend opening hours.`);
    await threaded.embedDocuments(long);
    clearInterval(timer);
    // 64 passages take far longer than a few milliseconds; a blocked loop would not tick.
    assert.ok(ticks > 5, `the event loop ticked ${ticks} times`);
  });

  it('refuses requests once closed, with a coded error', async () => {
    const other = await ThreadedEmbedder.start({ modelsDir, modelId: DEFAULT_MODEL_ID });
    await other.close();
    await assert.rejects(other.embedQuery('anything'), (err: unknown) => err instanceof AppError && err.code === 'INTERNAL');
  });

  it('fails to start, saying why, when the model is missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'quire-no-models-'));
    try {
      await assert.rejects(
        ThreadedEmbedder.start({ modelsDir: empty, modelId: DEFAULT_MODEL_ID }),
        /could not load the model: .*not installed/,
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

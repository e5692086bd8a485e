import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { TransformersEmbedder } from './embedder.transformers.ts';
import { cosine } from './models/model-checks.ts';
import { ModelUnavailableError, ModelVerificationError } from './models/model-errors.ts';
import { DEFAULT_MODEL_ID, getModelSpec } from './models/model-registry.ts';

// The models `npm test` obtains first (`quire models`) into the repository's MODELS_DIR.
const modelsDir = fileURLToPath(new URL('../../../.models', import.meta.url));
const spec = getModelSpec(DEFAULT_MODEL_ID);

describe('TransformersEmbedder with the default model', () => {
  let embedder: TransformersEmbedder;

  before(async () => {
    embedder = await TransformersEmbedder.load({ modelsDir, modelId: DEFAULT_MODEL_ID, batchSize: 2 });
  });
  after(async () => {
    await embedder.close();
  });

  it('reports the registry shape and passed its load-time checks', () => {
    assert.equal(embedder.modelId, DEFAULT_MODEL_ID);
    assert.equal(embedder.dimension, spec.dimension);
    assert.equal(embedder.dtype, spec.dtype);
    assert.ok(embedder.checks.length >= 4, 'the quick checks ran');
    assert.deepEqual(
      embedder.checks.filter((c) => !c.passed).map((c) => c.detail),
      [],
    );
  });

  it('returns unit-length Float32Arrays in input order across several batches', async () => {
    const texts = [
      'A man is eating food.',
      'The stock market fell sharply today after the announcement of new tariffs on imported steel.',
      'A man is eating a piece of bread.',
      'Quarterly revenue rose by 4 percent.',
      'Cats sleep a lot.',
    ];
    const batched = await embedder.embedDocuments(texts);
    assert.equal(batched.length, texts.length);
    for (const [i, text] of texts.entries()) {
      const v = batched[i];
      assert.ok(v instanceof Float32Array && v.length === spec.dimension);
      const norm = Math.hypot(...v);
      assert.ok(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
      // The same text embedded alone is (almost: int8 activations see the batch) the same
      // vector, and clearly not any other text's.
      const [alone] = await embedder.embedDocuments([text]);
      assert.ok(alone);
      const self = cosine(v, alone);
      assert.ok(self > 0.98, `text ${i}: cosine to itself alone ${self}`);
      for (const [j, other] of batched.entries()) {
        if (j !== i) assert.ok(cosine(other, alone) < self, `text ${i} matched text ${j} better than itself`);
      }
    }
  });

  it('places related sentences closer than unrelated ones', async () => {
    const [food, bread, market] = await embedder.embedDocuments([
      'A man is eating food.',
      'A man is eating a piece of bread.',
      'The stock market fell sharply today.',
    ]);
    assert.ok(food && bread && market);
    assert.ok(cosine(food, bread) - cosine(food, market) > 0.3);
  });

  it('truncates to the model length: words past the limit change nothing', async () => {
    const head = 'the quick brown fox jumps over the lazy dog '.repeat(40); // ~360 tokens > 256
    const [a, b] = await embedder.embedDocuments([head, `${head} completely different ending about quantum chromodynamics`]);
    assert.ok(a && b);
    assert.ok(cosine(a, b) > 0.9999, `cosine ${cosine(a, b)}`);
    const [short, longer] = await embedder.embedDocuments(['the quick brown fox', 'the quick brown fox jumps over quantum chromodynamics']);
    assert.ok(short && longer && cosine(short, longer) < 0.99, 'below the limit, added words do change the vector');
  });

  it('embeds a query as a passage when the model has no query prefix', async () => {
    assert.equal(spec.queryPrefix, '');
    const query = await embedder.embedQuery('how do I bake bread');
    const [passage] = await embedder.embedDocuments(['how do I bake bread']);
    assert.ok(passage);
    assert.deepEqual([...query], [...passage]);
  });

  it('returns nothing for no input', async () => {
    assert.deepEqual(await embedder.embedDocuments([]), []);
  });
});

describe('TransformersEmbedder execution providers', () => {
  const texts = ['A man is eating food.', 'Quarterly revenue rose by 4 percent.', 'The invoice is due on 3 March.'];
  let onCpu: Float32Array[];

  /** A logger whose lines are kept, parsed, for the test to read. */
  function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
    const lines: Array<Record<string, unknown>> = [];
    const logger: Logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    return { logger, lines };
  }

  before(async () => {
    const cpu = await TransformersEmbedder.load({ modelsDir, modelId: DEFAULT_MODEL_ID, verify: false });
    assert.equal(cpu.executionProvider, 'cpu', 'the default is the CPU');
    onCpu = await cpu.embedDocuments(texts);
    await cpu.close();
  });

  it('falls back from CUDA it cannot start to the CPU, warning why, with the same vectors', async (t) => {
    const { logger, lines } = capturingLogger();
    const embedder = await TransformersEmbedder.load({ modelsDir, modelId: DEFAULT_MODEL_ID, executionProvider: 'cuda', logger });
    try {
      const warnings = lines.filter((line) => line.level === 40);
      if (embedder.executionProvider === 'cuda') {
        // A machine with onnxruntime-node's CUDA build and a GPU: nothing to fall back from.
        t.diagnostic('CUDA is available here; the fallback is not exercised');
        assert.deepEqual(warnings, []);
      } else {
        assert.equal(embedder.executionProvider, 'cpu');
        assert.equal(warnings.length, 1, 'one warning');
        const [warning] = warnings;
        assert.match(String(warning?.msg), /CUDA execution provider unavailable; embedding on the CPU/);
        assert.equal(warning?.requested, 'cuda');
        assert.match(String(warning?.reason), /CUDA/);
      }
      const loaded = lines.find((line) => line.msg === 'embedding model loaded and verified');
      assert.equal(loaded?.executionProvider, embedder.executionProvider, 'the load line names the provider in use');
      const vectors = await embedder.embedDocuments(texts);
      for (const [i, v] of vectors.entries()) {
        const similarity = cosine(v, onCpu[i]!);
        assert.ok(similarity >= 0.9999, `text ${i}: cosine to the CPU vector ${similarity}`);
      }
    } finally {
      await embedder.close();
    }
  });

  it('tries CUDA quietly for auto and ends on the CPU where CUDA cannot start', async () => {
    const { logger, lines } = capturingLogger();
    const embedder = await TransformersEmbedder.load({
      modelsDir,
      modelId: DEFAULT_MODEL_ID,
      executionProvider: 'auto',
      logger,
      verify: false,
    });
    try {
      assert.deepEqual(
        lines.filter((line) => Number(line.level) >= 40),
        [],
      );
      if (embedder.executionProvider === 'cpu') {
        assert.ok(lines.some((line) => line.level === 20 && line.requested === 'auto' && typeof line.reason === 'string'));
      }
      // The same batch as on the CPU: int8 activations are quantised per batch.
      const vectors = await embedder.embedDocuments(texts);
      for (const [i, v] of vectors.entries()) {
        const similarity = cosine(v, onCpu[i]!);
        assert.ok(similarity >= 0.9999, `text ${i}: cosine to the CPU vector ${similarity}`);
      }
    } finally {
      await embedder.close();
    }
  });
});

describe('TransformersEmbedder refusing models', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quire-models-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a folder without the ONNX file, even with config.json', async () => {
    const folder = join(dir, 'incomplete', spec.id);
    await mkdir(folder, { recursive: true });
    await cp(join(modelsDir, spec.id, 'config.json'), join(folder, 'config.json'));
    await assert.rejects(
      TransformersEmbedder.load({ modelsDir: join(dir, 'incomplete'), modelId: spec.id }),
      (error: unknown) =>
        error instanceof ModelUnavailableError && error.modelId === spec.id && /model_quantized\.onnx/.test(error.message),
    );
  });

  it('refuses a copy whose tokenizer no longer lower-cases, naming the model and the check', async () => {
    // A real failure mode: the right weights with a mismatched tokenizer. The uncased
    // vocabulary then maps capitalised words to [UNK] and the reference values drift.
    const root = join(dir, 'cased');
    await cp(join(modelsDir, spec.id), join(root, spec.id), { recursive: true });
    const tokenizerPath = join(root, spec.id, 'tokenizer.json');
    const tokenizer = JSON.parse(await readFile(tokenizerPath, 'utf8')) as { normalizer: { lowercase: boolean } };
    tokenizer.normalizer.lowercase = false;
    await writeFile(tokenizerPath, JSON.stringify(tokenizer));
    await assert.rejects(TransformersEmbedder.load({ modelsDir: root, modelId: spec.id }), (error: unknown) => {
      assert.ok(error instanceof ModelVerificationError, String(error));
      assert.equal(error.modelId, spec.id);
      assert.equal(error.check, 'reference');
      assert.match(error.message, new RegExp(`${spec.id}.*reference`));
      return true;
    });
  });

  it('rejects an unknown model id with the list of known ones', async () => {
    await assert.rejects(TransformersEmbedder.load({ modelsDir, modelId: 'nobody/nothing' }), /known: .*all-MiniLM-L6-v2/);
  });
});

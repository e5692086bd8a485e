import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ensureFixtures } from '../../test/fixtures/generate.ts';
import { FIXTURES, fixturePath, type Fixture } from '../../test/fixtures/manifest.ts';
import { TransformersEmbedder } from './engines/embedder.transformers.ts';
import { DEFAULT_MODEL_ID } from './engines/models/model-registry.ts';
import { TesseractOcr } from './engines/ocr.engine.ts';
import { runPipeline, warmUpClassifier, type PipelineOptions, type PipelineProgress } from './pipeline.ts';
import {
  type ClassifierSettings,
  MAX_MESSAGE_BYTES,
  PipelineError,
  type ProcessJob,
  type ResultPart,
  resultPartSchema,
} from '@quire/kernel';
import { DEFAULT_DOCUMENT_TYPES, DEFAULT_SENSITIVITIES } from './stages/labels.ts';

const modelsDir = fileURLToPath(new URL('../../.models', import.meta.url));
const classifier: ClassifierSettings = {
  types: [...DEFAULT_DOCUMENT_TYPES],
  sensitivities: [...DEFAULT_SENSITIVITIES],
  typeExamples: [],
  sensitivityExamples: [],
};

interface Run {
  parts: ResultPart[];
  progress: (PipelineProgress & { at: number })[];
  started: number;
  ended: number;
  error: unknown;
}

describe('runPipeline', () => {
  let embedder: TransformersEmbedder;
  const ocr = new TesseractOcr();

  before(async () => {
    await ensureFixtures();
    embedder = await TransformersEmbedder.load({ modelsDir, modelId: DEFAULT_MODEL_ID });
    await ocr.start();
    // What a pipeline worker does when it starts.
    await warmUpClassifier(embedder, classifier);
  });
  after(async () => {
    await ocr.close();
    await embedder?.close();
  });

  async function run(
    file: string,
    options: PipelineOptions = {},
    signal = new AbortController().signal,
    onProgress: (p: PipelineProgress) => void = () => {},
  ): Promise<Run> {
    const data = new Uint8Array(await readFile(fixturePath(file)));
    const job: ProcessJob = {
      jobId: `job-${file}`,
      documentId: `doc-${file}`,
      teamId: 'team-1',
      blobKey: `blob-${file}`,
      mimeType: 'application/octet-stream',
      filename: file,
      correlationId: 'corr-1',
      classifierKey: 'classifier-1',
    };
    const result: Run = { parts: [], progress: [], started: performance.now(), ended: 0, error: null };
    try {
      await runPipeline(job, data, {
        embedder,
        ocr,
        classifier,
        signal,
        options,
        onProgress: (p) => {
          result.progress.push({ ...p, at: performance.now() });
          onProgress(p);
        },
        onResult: async (part) => {
          // Parts must survive the bus: validated and serialized like the hub receives them.
          result.parts.push(resultPartSchema.parse(JSON.parse(JSON.stringify(part))));
        },
      });
    } catch (error) {
      result.error = error;
    }
    result.ended = performance.now();
    return result;
  }

  /**
   * `quiet`: whether the run's thread stays free between units. pdfjs parses and renders
   * synchronously on the calling thread, so a PDF page can keep the pipeline's own ticker
   * from firing for longer; in production the pool covers such gaps from the host thread
   * (processor-pool.test.ts checks the 500 ms there, on a 30-page scan).
   */
  function assertProgress(r: Run, stages: string[], quiet = true): void {
    const { progress } = r;
    assert.ok(progress.length > 0);
    for (let i = 1; i < progress.length; i += 1) {
      assert.ok(
        progress[i]!.percent >= progress[i - 1]!.percent,
        `percent fell at ${i}: ${progress[i - 1]!.percent} -> ${progress[i]!.percent}`,
      );
    }
    assert.equal(progress.at(-1)!.percent, 100);
    assert.equal(progress.at(-1)!.etaMs, 0);
    // Stage changes are reported, in pipeline order.
    const order = progress.map((p) => p.stage).filter((s, i, all) => s !== all[i - 1]);
    assert.deepEqual(order, stages);
    if (!quiet) return;
    // Never silent for more than 500 ms, from the start to the end.
    const times = [r.started, ...progress.map((p) => p.at), r.ended];
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const longest = gaps.indexOf(Math.max(...gaps));
    assert.ok(
      gaps[longest]! <= 500,
      `longest silence ${gaps[longest]!.toFixed(0)} ms, before ${JSON.stringify(progress[longest] ?? 'the end')}`,
    );
  }

  function assertParts(r: Run, fixture: Fixture, maxPartBytes = 512 * 1024): void {
    assert.equal(r.error, null);
    const kinds = r.parts.map((p) => p.kind);
    assert.equal(kinds.at(-1), 'summary');
    assert.deepEqual(
      kinds.slice(0, -1),
      [...kinds.slice(0, -1)].sort((a, b) => (a === b ? 0 : a === 'pages' ? -1 : 1)),
    );
    for (const part of r.parts) {
      const bytes = Buffer.byteLength(JSON.stringify(part));
      assert.ok(bytes < MAX_MESSAGE_BYTES && bytes <= maxPartBytes + 1024, `part of ${bytes} bytes`);
      assert.deepEqual([part.jobId, part.documentId, part.teamId], [`job-${fixture.file}`, `doc-${fixture.file}`, 'team-1']);
    }
    const pages = r.parts.flatMap((p) => (p.kind === 'pages' ? p.pages : []));
    assert.deepEqual(
      pages.map((p) => p.page),
      Array.from({ length: fixture.pages }, (_, i) => i + 1),
    );
    const chunks = r.parts.flatMap((p) => (p.kind === 'chunks' ? p.chunks : []));
    assert.deepEqual(
      chunks.map((c) => c.ordinal),
      chunks.map((_, i) => i),
    );
    for (const chunk of chunks) {
      const page = pages.find((p) => p.page === chunk.page)!;
      assert.equal(page.text.slice(chunk.start, chunk.end), chunk.text);
      assert.equal(chunk.vector.length, embedder.dimension);
      const norm = Math.hypot(...chunk.vector);
      assert.ok(Math.abs(norm - 1) < 1e-3, `vector norm ${norm}`);
    }
    const summary = r.parts.at(-1)!;
    assert.equal(summary.kind, 'summary');
    if (summary.kind !== 'summary') return;
    assert.equal(summary.pageCount, fixture.pages);
    assert.equal(summary.chunkCount, chunks.length);
    assert.deepEqual(summary.model, { modelId: embedder.modelId, dimension: embedder.dimension });
    const { phrase, phrasePage } = fixture;
    if (phrase) {
      const page = pages.find((p) => p.page === phrasePage)!;
      assert.ok(page.text.replace(/\s+/g, ' ').includes(phrase), `phrase not on page ${phrasePage}`);
      assert.ok(chunks.some((c) => c.page === phrasePage && c.text.replace(/\s+/g, ' ').includes(phrase)));
    }
  }

  it('processes a scanned invoice: OCR pages, chunks with boxes, vectors, classification and fields', async () => {
    const fixture = FIXTURES['scanned-invoice.png'];
    const r = await run(fixture.file);
    assertParts(r, fixture);
    assertProgress(r, ['detect', 'ocr', 'chunk', 'embed', 'classify', 'fields']);
    const page = r.parts.flatMap((p) => (p.kind === 'pages' ? p.pages : []))[0]!;
    assert.equal(page.source, 'ocr');
    assert.ok(page.words.length > 50);
    const chunks = r.parts.flatMap((p) => (p.kind === 'chunks' ? p.chunks : []));
    for (const chunk of chunks) assert.equal(chunk.boxes.length, chunk.text.split(/\s+/).length);
    const summary = r.parts.at(-1)!;
    assert.ok(summary.kind === 'summary');
    assert.equal(summary.classification.type.label, fixture.docType);
    assert.equal(summary.fields.number?.value, fixture.fields.number);
    assert.equal(summary.fields.total?.value, fixture.fields.total);
    assert.deepEqual(Object.keys(summary.timings), ['detect', 'ocr', 'chunk', 'embed', 'classify', 'fields']);
    assert.ok(summary.timings.ocr! > summary.timings.chunk!);
  });

  it('reads a PDF text layer without OCR', async () => {
    const fixture = FIXTURES['text-report.pdf'];
    const r = await run(fixture.file);
    assertParts(r, fixture);
    assertProgress(r, ['detect', 'extract', 'chunk', 'embed', 'classify', 'fields'], false);
    const pages = r.parts.flatMap((p) => (p.kind === 'pages' ? p.pages : []));
    assert.ok(pages.every((p) => p.source === 'text-layer' && p.confidence === 100));
  });

  it('OCRs the scanned pages of a PDF', async () => {
    const fixture = FIXTURES['scanned-order.pdf'];
    const r = await run(fixture.file);
    assertParts(r, fixture);
    assertProgress(r, ['detect', 'extract', 'ocr', 'chunk', 'embed', 'classify', 'fields'], false);
    const summary = r.parts.at(-1)!;
    assert.ok(summary.kind === 'summary');
    assert.equal(summary.fields.number?.value, fixture.fields.number);
  });

  it('turns text files into pages without geometry', async () => {
    for (const fixture of [FIXTURES['notes.md'], FIXTURES['notes.txt']]) {
      const r = await run(fixture.file);
      assertParts(r, fixture);
      assertProgress(r, ['detect', 'extract', 'chunk', 'embed', 'classify', 'fields']);
      const pages = r.parts.flatMap((p) => (p.kind === 'pages' ? p.pages : []));
      assert.ok(pages.every((p) => p.source === 'plain' && p.words.length === 0));
      const chunks = r.parts.flatMap((p) => (p.kind === 'chunks' ? p.chunks : []));
      assert.ok(chunks.every((c) => c.boxes.length === 0));
    }
  });

  it('splits pages and chunks into more parts when they exceed the part size', async () => {
    const fixture = FIXTURES['text-report.pdf'];
    const maxPartBytes = 12 * 1024;
    const r = await run(fixture.file, { maxPartBytes, chunk: { targetChars: 150, maxChars: 300 } });
    assertParts(r, fixture, maxPartBytes);
    assert.ok(r.parts.filter((p) => p.kind === 'pages').length >= 2);
    assert.ok(r.parts.filter((p) => p.kind === 'chunks').length >= 3);
  });

  it('fails hostile files with a stable code and the failing stage', async () => {
    const expected: Record<string, [string, string]> = {
      'truncated.pdf': ['PDF_UNREADABLE', 'extract'],
      'not-really.pdf': ['MEDIA_TYPE_MISMATCH', 'detect'],
      'empty.txt': ['EMPTY_DOCUMENT', 'detect'],
    };
    for (const [file, [code, stage]] of Object.entries(expected)) {
      const r = await run(file);
      assert.ok(r.error instanceof PipelineError, `${file}: ${String(r.error)}`);
      assert.deepEqual([r.error.code, r.error.stage, r.error.retryable], [code, stage, false], file);
      assert.ok(!r.parts.some((p) => p.kind === 'summary'));
    }
  });

  it('stops with JOB_CANCELLED when the signal aborts mid-OCR', async () => {
    const controller = new AbortController();
    let abortedAt = 0;
    const r = await run('scanned-30-pages.pdf', {}, controller.signal, (p) => {
      // Abort once OCR is under way, with pages still to go.
      if (p.stage === 'ocr' && p.done >= 1 && !abortedAt) {
        abortedAt = performance.now();
        controller.abort(new Error('shutting down'));
      }
    });
    assert.ok(r.error instanceof PipelineError);
    assert.deepEqual([r.error.code, r.error.stage, r.error.retryable], ['JOB_CANCELLED', 'ocr', true]);
    assert.deepEqual(r.parts, []);
    assert.ok(r.ended - abortedAt < 1000, `stopped ${Math.round(r.ended - abortedAt)} ms after the abort`);
    assert.ok(r.progress.at(-1)!.done < 30);
  });

  it('reports a failing result handler as RESULT_DELIVERY_FAILED', async () => {
    const data = new Uint8Array(await readFile(fixturePath('notes.txt')));
    const job: ProcessJob = {
      jobId: 'j',
      documentId: 'd',
      teamId: 't',
      blobKey: 'b',
      mimeType: 'text/plain',
      filename: 'notes.txt',
      correlationId: 'c',
      classifierKey: 'classifier-1',
    };
    await assert.rejects(
      runPipeline(job, data, {
        embedder,
        ocr,
        classifier,
        signal: new AbortController().signal,
        onProgress: () => {},
        onResult: () => {
          throw new Error('bus unavailable');
        },
      }),
      (e: unknown) => e instanceof PipelineError && e.code === 'RESULT_DELIVERY_FAILED' && e.retryable && /bus unavailable/.test(e.message),
    );
  });
});

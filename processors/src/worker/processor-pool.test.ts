import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { deflateZeros, rawPdf } from '../../../test/fixtures/hand-made-pdf.ts';
import { FIXTURES, fixturePath } from '../../../test/fixtures/manifest.ts';
import { DEFAULT_MODEL_ID } from '../engines/models/model-registry.ts';
import { waitFor } from '@quire/bus/testing';
import { resultPartSchema, type ClassifierSettings, type ProcessJob, type ProgressEvent, type ResultPart } from '@quire/kernel';
import { DEFAULT_DOCUMENT_TYPES, DEFAULT_SENSITIVITIES } from '../stages/labels.ts';
import { PoolStartError, ProcessorPool, type ProcessorPoolOptions, type RunOutcome } from './processor-pool.ts';

const modelsDir = fileURLToPath(new URL('../../../.models', import.meta.url));
const classifier: ClassifierSettings = {
  types: [...DEFAULT_DOCUMENT_TYPES],
  sensitivities: [...DEFAULT_SENSITIVITIES],
  typeExamples: [],
  sensitivityExamples: [],
};

let jobs = 0;
function job(filename: string): ProcessJob {
  jobs += 1;
  return {
    jobId: `job-${jobs}`,
    documentId: `doc-${jobs}`,
    teamId: 'team-1',
    blobKey: `blob-${jobs}`,
    mimeType: 'application/octet-stream',
    filename,
    correlationId: `corr-${jobs}`,
    classifierKey: 'classifier-1',
  };
}

interface Collected {
  outcome: RunOutcome;
  parts: ResultPart[];
  progress: ProgressEvent[];
}

async function runFile(
  pool: ProcessorPool,
  file: string,
  extra: { signal?: AbortSignal; data?: Uint8Array; onResult?: () => void; timeoutMs?: number } = {},
): Promise<Collected> {
  const data = extra.data ?? new Uint8Array(await readFile(fixturePath(file)));
  const parts: ResultPart[] = [];
  const progress: ProgressEvent[] = [];
  const outcome = await pool.run(job(file), data, classifier, {
    onProgress: (p) => progress.push(p),
    onResult: async (part) => {
      extra.onResult?.();
      parts.push(resultPartSchema.parse(part));
    },
    ...(extra.signal ? { signal: extra.signal } : {}),
    ...(extra.timeoutMs ? { timeoutMs: extra.timeoutMs } : {}),
  });
  return { outcome, parts, progress };
}

function newPool(options: Partial<ProcessorPoolOptions> = {}): ProcessorPool {
  return new ProcessorPool({
    size: 1,
    modelsDir,
    modelId: DEFAULT_MODEL_ID,
    ocrWorkers: 1,
    jobTimeoutMs: 120_000,
    maxMemoryMb: 1024,
    ...options,
  });
}

describe('ProcessorPool', () => {
  before(() => ensureFixtures());

  describe('a healthy pool', () => {
    const pool = newPool();
    before(() => pool.start());
    after(() => pool.close());

    it('reports where its workers embed: the CPU, by default', () => {
      assert.equal(pool.executionProvider, 'cpu');
    });

    it('OCRs a 30-page scan while the host event loop stays responsive', async (t) => {
      const fixture = FIXTURES['scanned-30-pages.pdf'];
      const data = new Uint8Array(await readFile(fixturePath(fixture.file)));
      const bytes = data.byteLength;

      // Timer drift on the host thread, and how busy its event loop is.
      const delay = monitorEventLoopDelay({ resolution: 10 });
      let maxDrift = 0;
      let last = performance.now();
      const probe = setInterval(() => {
        const now = performance.now();
        maxDrift = Math.max(maxDrift, now - last - 10);
        last = now;
      }, 10);
      delay.enable();
      const elu = performance.eventLoopUtilization();

      const started = Date.now();
      const { outcome, parts, progress } = await runFile(pool, fixture.file, { data });
      const ended = Date.now();

      clearInterval(probe);
      delay.disable();
      const utilization = performance.eventLoopUtilization(elu).utilization;
      const p99 = delay.percentile(99) / 1e6;
      t.diagnostic(
        `${bytes} bytes, ${fixture.pages} pages in ${ended - started} ms; host loop: utilization ${(utilization * 100).toFixed(1)} %, ` +
          `delay p99 ${p99.toFixed(1)} ms, max timer drift ${maxDrift.toFixed(1)} ms`,
      );

      assert.deepEqual(outcome, { status: 'succeeded' });
      const pages = parts.flatMap((p) => (p.kind === 'pages' ? p.pages : []));
      assert.equal(pages.length, fixture.pages);
      assert.ok(pages[fixture.phrasePage - 1]!.text.replace(/\s+/g, ' ').includes(fixture.phrase));

      // The host only relays messages: its loop is nearly idle and never blocked for long.
      // (Drift on a shared, busy machine also includes the OS scheduling other processes,
      // hence the generous maximum next to the strict percentile.)
      assert.ok(utilization < 0.1, `host event loop ${(utilization * 100).toFixed(1)} % busy`);
      assert.ok(p99 < 100, `p99 event loop delay ${p99.toFixed(1)} ms`);
      assert.ok(maxDrift < 250, `max timer drift ${maxDrift.toFixed(1)} ms`);

      // Progress reached the host at least every 500 ms, monotonic, ending at 100.
      const times = [started, ...progress.map((p) => p.at), ended];
      const gaps = times.slice(1).map((at, i) => at - times[i]!);
      assert.ok(Math.max(...gaps) <= 500, `longest progress silence ${Math.max(...gaps)} ms`);
      for (let i = 1; i < progress.length; i += 1) assert.ok(progress[i]!.percent >= progress[i - 1]!.percent);
      assert.equal(progress.at(-1)!.percent, 100);
      const ocrEvents = progress.filter((p) => p.stage === 'ocr');
      assert.equal(ocrEvents.at(-1)!.total, fixture.pages);
      assert.ok(ocrEvents.some((p) => p.etaMs !== null && p.etaMs > 0 && p.done > 0));
    });

    it('queues jobs beyond its size and runs them in turn', async () => {
      // Read both files first, so that the jobs reach the pool in this order.
      const [md, txt] = await Promise.all(['notes.md', 'notes.txt'].map(async (f) => new Uint8Array(await readFile(fixturePath(f)))));
      const [a, b] = await Promise.all([runFile(pool, 'notes.md', { data: md! }), runFile(pool, 'notes.txt', { data: txt! })]);
      assert.deepEqual([a.outcome, b.outcome], [{ status: 'succeeded' }, { status: 'succeeded' }]);
      const firstEnd = a.progress.at(-1)!.at;
      const secondStart = b.progress[0]!.at;
      assert.ok(secondStart >= firstEnd, 'the second job started after the first');
    });

    it('returns pipeline failures as values', async () => {
      const r = await runFile(pool, 'truncated.pdf');
      assert.deepEqual(r.outcome, {
        status: 'failed',
        code: 'PDF_UNREADABLE',
        message: 'the PDF cannot be read: Invalid PDF structure.',
        stage: 'extract',
        retryable: false,
      });
      const empty = await runFile(pool, 'empty.txt');
      assert.equal(empty.outcome.status === 'failed' && empty.outcome.code, 'EMPTY_DOCUMENT');
    });

    it('cancels a running job and keeps its worker', async () => {
      const controller = new AbortController();
      const pending = runFile(pool, 'scanned-30-pages.pdf', { signal: controller.signal });
      setTimeout(() => controller.abort(), 1500);
      const r = await pending;
      assert.ok(r.outcome.status === 'failed');
      assert.deepEqual([r.outcome.code, r.outcome.retryable], ['JOB_CANCELLED', true]);
      const next = await runFile(pool, 'notes.txt');
      assert.deepEqual(next.outcome, { status: 'succeeded' });
    });

    it('stops a job whose result handler fails', async () => {
      const r = await runFile(pool, 'notes.txt', {
        onResult: () => {
          throw new Error('bus refused the part');
        },
      });
      assert.ok(r.outcome.status === 'failed');
      assert.equal(r.outcome.code, 'RESULT_DELIVERY_FAILED');
      assert.match(r.outcome.message, /bus refused the part/);
      assert.equal(r.outcome.retryable, true);
    });
  });

  describe('a pool whose workers die', () => {
    // A pipeline process takes about 600 MiB once its model and OCR engine are loaded.
    const pool = newPool({ jobTimeoutMs: 120_000, maxMemoryMb: 1000 });
    before(() => pool.start());
    after(() => pool.close());

    it('stops a job in the middle of an embedding call without harming the host', async () => {
      // Thousands of passages: the embed stage runs for far longer than the timeout. Ending a
      // worker thread inside onnxruntime aborted the whole process; a child process ends alone.
      const text = new TextEncoder().encode(
        'The quarterly report shows revenue growth in every region and a rising margin. '.repeat(20_000),
      );
      const r = await runFile(pool, 'long.txt', { data: text, timeoutMs: 6000 });
      assert.ok(r.outcome.status === 'failed');
      assert.deepEqual([r.outcome.code, r.outcome.retryable], ['JOB_TIMEOUT', true]);
      assert.equal(r.progress.at(-1)!.stage, 'embed', 'the timeout came during the embed stage');
      const next = await runFile(pool, 'notes.txt');
      assert.deepEqual(next.outcome, { status: 'succeeded' });
    });

    it('ends a job whose decoded streams outgrow the memory limit, and replaces the process', async () => {
      // A 1 KB-per-MB Flate bomb: a one-page PDF whose content stream inflates to 1.5 GiB.
      const r = await runFile(pool, 'bomb.pdf', { data: await flateBombPdf(1536) });
      assert.ok(r.outcome.status === 'failed');
      assert.deepEqual([r.outcome.code, r.outcome.retryable], ['WORKER_OUT_OF_MEMORY', false]);
      assert.match(r.outcome.message, /1000 MiB/);
      const next = await runFile(pool, 'notes.md');
      assert.deepEqual(next.outcome, { status: 'succeeded' });
    });

    it('ends a job that overruns the timeout and replaces the worker', async () => {
      const started = Date.now();
      const r = await runFile(pool, 'scanned-30-pages.pdf', { timeoutMs: 3000 });
      assert.ok(r.outcome.status === 'failed');
      assert.deepEqual([r.outcome.code, r.outcome.retryable], ['JOB_TIMEOUT', true]);
      assert.ok(Date.now() - started < 6000);
      const next = await runFile(pool, 'notes.txt');
      assert.deepEqual(next.outcome, { status: 'succeeded' });
    });

    it('ends a job whose process crashes as retryable, and replaces the process', async () => {
      const pending = runFile(pool, 'scanned-30-pages.pdf');
      await waitFor(() => pool.pids().length === 1 && pool.busy === 1, 'one busy pipeline process', 10_000);
      process.kill(pool.pids()[0]!, 'SIGSEGV');
      const r = await pending;
      assert.ok(r.outcome.status === 'failed');
      assert.deepEqual([r.outcome.code, r.outcome.retryable], ['WORKER_CRASHED', true]);
      const next = await runFile(pool, 'notes.md');
      assert.deepEqual(next.outcome, { status: 'succeeded' });
    });
  });

  it('refuses to start without its model, naming the cause', async () => {
    const pool = new ProcessorPool({
      size: 1,
      modelsDir: fileURLToPath(new URL('./no-models-here/', import.meta.url)),
      modelId: DEFAULT_MODEL_ID,
    });
    await assert.rejects(pool.start(), (e: unknown) => e instanceof PoolStartError && e.code === 'MODEL_UNAVAILABLE');
    const r = await pool.run(job('notes.txt'), new Uint8Array([104, 105]), classifier, { onResult: () => {} });
    assert.ok(r.status === 'failed' && r.code === 'JOB_CANCELLED');
  });
});

/** A one-page PDF whose content stream is `mib` MiB of zeros, deflated (about 1 KB per MB). */
async function flateBombPdf(mib: number): Promise<Uint8Array> {
  const { data } = await deflateZeros(mib * 1024 * 1024);
  return new Uint8Array(
    rawPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>',
      { dict: '/Filter /FlateDecode', stream: data },
    ]),
  );
}

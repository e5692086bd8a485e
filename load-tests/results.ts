/**
 * Regenerates load-tests/RESULTS.md: runs every quality evaluation and load test one after
 * the other (never two at once, so they do not share the cores), keeps each one's printed
 * report in load-tests/results/<id>.txt and writes RESULTS.md from all kept reports.
 *
 *   npm run results                      # everything (about 45 minutes on 2 cores)
 *   npm run results -- --only embed,bus  # rerun some, keep the others' last reports
 *   npm run results -- --list            # what runs, with its command line
 *   npm run results -- --render-only     # rewrite RESULTS.md from the kept reports
 *
 * The public datasets come from `--data DIR` (default: QUIRE_SHARED_DATA, else the first
 * `shared/data` folder beside the repository or a parent). NATS must be running for `bus`
 * (`npm run services -- start`); the native `tesseract` command, when installed, is the OCR
 * baseline.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sharedDataDir } from '../test/helpers/shared-data.ts';
import { describeMachine, formatCell } from '../hub/src/eval/report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(root, 'load-tests', 'results');

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    data: { type: 'string' },
    list: { type: 'boolean', default: false },
    'render-only': { type: 'boolean', default: false },
  },
});

const data = args.data ?? sharedDataDir();
if (!data) {
  console.error('results: no datasets folder; pass --data DIR or set QUIRE_SHARED_DATA');
  process.exit(2);
}
const d = (path: string): string => join(data, path);
const tsx = (script: string, ...rest: string[]): string[] => [process.execPath, '--import', 'tsx', `load-tests/${script}`, ...rest];
const quire = (...rest: string[]): string[] => [process.execPath, 'bin/quire.mjs', ...rest];

/** The real sentences the search benchmark builds its chunks from. */
const searchCorpora = [
  '--corpus',
  d('retrieval/msmarco_subset_agentset/corpus.jsonl'),
  '--corpus',
  d('retrieval/dbpedia_subset_agentset/corpus.jsonl'),
];
/** The corpora whose embeddings the search benchmark blends its vectors from. */
const embedCorpora = ['--embed', d('retrieval/msmarco_subset_agentset'), '--embed', d('retrieval/dbpedia_subset_agentset')];
/** The search benchmark's queries and data, the same on every index it measures. */
const searchBenchArgs = ['--queries', '100', '--warmup', '10', '--rounds', '2', ...searchCorpora, ...embedCorpora];

interface Run {
  id: string;
  title: string;
  what: string;
  argv: string[];
  /** Environment on top of this process's, shown in the report. */
  env?: Record<string, string>;
}

/** Shown with `data/…` in place of the datasets folder, so the report reads the same anywhere. */
const RUNS: Run[] = [
  {
    id: 'eval-search-msmarco',
    title: 'Search quality: MS MARCO subset',
    what: 'BEIR corpus through the real pipeline; nDCG@10, Recall@100, MRR@10 per mode; ingest rate; query latency',
    argv: quire('eval', 'search', d('retrieval/msmarco_subset_agentset')),
  },
  {
    id: 'eval-search-dbpedia',
    title: 'Search quality: DBpedia-Entity subset',
    what: 'as above',
    argv: quire('eval', 'search', d('retrieval/dbpedia_subset_agentset')),
  },
  {
    id: 'eval-ocr',
    title: 'OCR quality: SROIE receipts, product vs native tesseract',
    what: 'CER, WER, bag-of-words precision/recall/F1 and pages/s, beside the native tesseract CLI on the same pages',
    argv: quire('eval', 'ocr', d('ocr/sroie_receipts_subset')),
  },
  {
    id: 'eval-classify',
    title: 'Classification quality: BBC News',
    what: 'accuracy and macro-F1, zero-shot and k-shot (k = 1, 4, 16) with the labelled-example prototypes the product learns from',
    argv: quire('eval', 'classify', d('classification/bbc_news/bbc_news.jsonl')),
  },
  {
    id: 'eval-classify-described',
    title: 'Classification quality: BBC News, labels with one-line descriptions',
    what: 'as above, with the topic descriptions of load-tests/labels/bbc_news.labels.json instead of bare label names',
    argv: quire('eval', 'classify', d('classification/bbc_news/bbc_news.jsonl'), '--labels', 'load-tests/labels/bbc_news.labels.json'),
  },
  {
    id: 'ingest',
    title: 'Ingest: full pipeline on a mix of plain text, text PDFs and scans',
    what: 'docs/min, pages/min, per-stage time, hub event-loop delay p99, peak memory',
    argv: tsx(
      'ingest.bench.ts',
      '--text-corpus',
      d('classification/bbc_news/bbc_news.jsonl'),
      '--scans',
      d('ocr/sroie_receipts_subset/images'),
    ),
  },
  {
    id: 'embed',
    title: 'Embedding: product embedder vs a bare onnxruntime-node session',
    what: 'chunks/s on the same batches of real passages, same model file',
    argv: tsx('embed.bench.ts', '--corpus', d('retrieval/msmarco_subset_agentset/corpus.jsonl')),
  },
  {
    id: 'ocr',
    title: 'OCR throughput: product OCR stage vs native tesseract CLI',
    what: 'pages/s on the same pages and cores',
    argv: tsx('ocr.bench.ts', d('ocr/sroie_receipts_subset')),
  },
  {
    id: 'search',
    title: 'Search latency and index size: embedded index',
    what: "text/vector/hybrid and filtered p50/p99 at 10k, 100k and 1M chunks of real sentences with vectors blended from embeddings of the dev corpora; recall@10 of the graph against exact search, and the exact scan's latency; build rate, disk and memory per chunk",
    argv: tsx('search.bench.ts', '--sizes', '10000,100000,1000000', ...searchBenchArgs),
  },
  {
    id: 'search-elasticsearch',
    title: 'Search latency and index size: Elasticsearch',
    what: "the same queries on the Elasticsearch adapter (the services script's single node, one shard) at 10k and 100k chunks",
    argv: tsx('search.bench.ts', '--index', 'elasticsearch', '--sizes', '10000,100000', '--batch', '500', ...searchBenchArgs),
  },
  {
    id: 'documents-list',
    title: 'Document list: keyset pages at 100,000 documents',
    what: 'first page and page 1,000 in each order, a filtered page and the counts, p50/p99, beside the same deep page by OFFSET',
    argv: tsx('documents-list.bench.ts'),
  },
  {
    id: 'graphql',
    title: 'GraphQL: document(id), a documents page and search vs a bare Express JSON route, on SQLite and on MongoDB',
    what: "requests/s and p99 with autocannon; the MongoDB store on the services script's FerretDB",
    argv: tsx('graphql.bench.ts'),
  },
  {
    id: 'fanout',
    title: 'Live fan-out: Socket.IO vs raw ws broadcast',
    what: 'operation → all-received latency with 10, 100 and 1,000 clients',
    argv: tsx('fanout.bench.ts'),
  },
  {
    id: 'collab-fanout',
    title: 'Annotation fan-out in one live session',
    what: 'operation sent → received by all 49 other clients, 50 clients on one document',
    argv: tsx('collab-fanout.bench.ts'),
  },
  {
    id: 'bus',
    title: 'Bus: NATS JetStream adapter vs in-process bus',
    what: 'jobs/s, enqueue and drain',
    argv: tsx('bus.bench.ts'),
  },
  {
    id: 'topology',
    title: 'Scale-out topology: quire hub with 1 and 2 processor nodes on NATS',
    what: 'docs/min and pages/min, 1 vs 2 processor nodes behind one hub; upload → searchable, quire all vs hub + 1 node; progress delay node → client',
    argv: tsx(
      'topology.bench.ts',
      '--text-corpus',
      d('classification/bbc_news/bbc_news.jsonl'),
      '--scans',
      d('ocr/sroie_receipts_subset/images'),
    ),
  },
  {
    id: 'replicas',
    title: 'Hub replicas: live events to 1,000 clients on one hub and on two, upload → searchable through the balancer',
    what: 'Socket.IO delay from a NATS event to the last of 1,000 clients; two hubs on MongoDB (FerretDB) and NATS behind HAProxy',
    argv: tsx('replicas.bench.ts'),
  },
];

const shown = (argv: readonly string[]): string =>
  argv.map((a) => (a === process.execPath ? 'node' : a.startsWith(data) ? `data${a.slice(data.length)}` : a)).join(' ');

if (args.list) {
  for (const r of RUNS) console.log(`${r.id.padEnd(22)} ${shown(r.argv)}`);
  process.exit(0);
}

const only = args.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((id) => !RUNS.some((r) => r.id === id)) ?? [];
if (unknown.length > 0) {
  console.error(`results: unknown run(s) ${unknown.join(', ')}; see --list`);
  process.exit(2);
}

/** Runs one command, echoing its output, and returns its stdout, exit code and wall time. */
function execute(run: Run): Promise<{ stdout: string; code: number | null; seconds: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(run.argv[0]!, run.argv.slice(1), {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'warn', ...run.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on('close', (code) => resolve({ stdout, code, seconds: (performance.now() - started) / 1000 }));
  });
}

/** The report as kept: folders of this machine become `data` and `.`, so it reads the same anywhere. */
const portable = (text: string): string => text.replaceAll(data, 'data').replaceAll(root.replace(/\/$/, ''), '.');

mkdirSync(resultsDir, { recursive: true });
for (const run of args['render-only'] ? [] : RUNS.filter((r) => !only || only.includes(r.id))) {
  console.log(`\n=== ${run.id}: ${shown(run.argv)}`);
  const { stdout, code, seconds } = await execute(run);
  const header = [`command: ${shown(run.argv)}`, `exit: ${code}`, `wall: ${seconds.toFixed(0)} s`, `machine: ${describeMachine()}`].join(
    '\n',
  );
  writeFileSync(join(resultsDir, `${run.id}.txt`), portable(`${header}\n\n${stdout.trim()}\n`));
}

type Row = [measure: string, quire: string, baseline: string, ratio: string];
const f = (x: unknown, digits = 3): string => (typeof x === 'number' ? formatCell(x, digits) : '–');
const ratio = (a: unknown, b: unknown): string => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? (a / b).toFixed(2) : '–');

/** The few figures of each run worth a line in the summary: what Quire did, the baseline, the ratio. */
const HEADLINES: Record<string, (j: any) => Row[]> = {
  'eval-search-msmarco': (j) => searchRows('MS MARCO', j),
  'eval-search-dbpedia': (j) => searchRows('DBpedia', j),
  'eval-ocr': (j) => [
    ['OCR bag-of-words F1, SROIE', f(j.product?.f1), `${f(j.native?.f1)} (native tesseract)`, ratio(j.product?.f1, j.native?.f1)],
    ['OCR CER, SROIE (lower is better)', f(j.product?.cer), `${f(j.native?.cer)} (native tesseract)`, ratio(j.product?.cer, j.native?.cer)],
  ],
  'eval-classify': (j) => classifyRows('names only', j),
  'eval-classify-described': (j) => classifyRows('one-line descriptions', j),
  ingest: (j) => [
    ['ingest docs/min (text, PDFs, scans)', f(j.summary?.docsPerMin?.median), '', ''],
    ['ingest pages/min', f(j.summary?.pagesPerMin?.median), '', ''],
    ['hub event-loop delay p99 during ingest, ms', f(j.summary?.eventLoopP99Ms?.median), '', ''],
    ['hub peak memory during ingest, MiB', f(j.summary?.peakMiB?.median), '', ''],
  ],
  embed: (j) => [
    [
      'embedding chunks/s',
      f(j.chunksPerSecond?.product?.median),
      `${f(j.chunksPerSecond?.bare?.median)} (bare onnxruntime)`,
      f(j.productOverBare?.median, 2),
    ],
  ],
  ocr: (j) => [
    [
      'OCR pages/s, 1 core',
      f(j.product?.pagesPerSecond?.median),
      `${f(j.native?.pagesPerSecond?.median)} (native tesseract)`,
      f(j.ratio?.pagesPerSecond?.median, 2),
    ],
  ],
  search: (j) => searchLatencyRows(j),
  'documents-list': (j) => {
    const kind = (prefix: string) => (j.kinds ?? []).find((k: any) => String(k.kind).startsWith(prefix));
    const [keyset, offset] = [kind('page 1000, newest'), kind('baseline: OFFSET')];
    return [
      [
        `documents page 1,000 deep of ${Number(j.documents).toLocaleString('en')}, newest, p50 / p99 ms`,
        `${f(keyset?.p50Ms?.median)} / ${f(keyset?.p99Ms?.median)}`,
        `${f(offset?.p50Ms?.median)} / ${f(offset?.p99Ms?.median)} (LIMIT/OFFSET)`,
        ratio(keyset?.p50Ms?.median, offset?.p50Ms?.median),
      ],
    ];
  },
  'search-elasticsearch': (j) => searchLatencyRows(j),
  graphql: (j) =>
    (j.targets ?? [])
      .filter((t: any) => String(t.target).startsWith('quire'))
      .map((t: any, i: number) => {
        const bare = (j.targets ?? []).filter((b: any) => String(b.target).startsWith('bare'))[i];
        return [
          `GraphQL ${String(t.target).replace('quire ', '')} req/s`,
          f(t.requestsPerSec?.median),
          `${f(bare?.requestsPerSec?.median)} (bare Express)`,
          ratio(t.requestsPerSec?.median, bare?.requestsPerSec?.median),
        ];
      }),
  fanout: (j) =>
    (j.results ?? []).map((r: any) => [
      `live event to ${r.size} Socket.IO clients, p99 ms`,
      f(r.quire?.p99Ms?.median),
      `${f(r.ws?.p99Ms?.median)} (raw ws)`,
      ratio(r.quire?.p99Ms?.median, r.ws?.p99Ms?.median),
    ]),
  bus: (j) =>
    Object.entries(j.results ?? {}).map(([name, r]: [string, any]) => [`bus drain jobs/s, ${name}`, f(r.drainPerSec?.median), '', '']),
  topology: (j) => [
    [
      'topology docs/min, 2 processor nodes (1 pipeline process each)',
      f(j.ingest?.twoNodes?.docsPerMin),
      `${f(j.ingest?.oneNode?.docsPerMin)} (1 node)`,
      ratio(j.ingest?.twoNodes?.docsPerMin, j.ingest?.oneNode?.docsPerMin),
    ],
    [
      'topology pages/min, 2 processor nodes',
      f(j.ingest?.twoNodes?.pagesPerMin),
      `${f(j.ingest?.oneNode?.pagesPerMin)} (1 node)`,
      ratio(j.ingest?.twoNodes?.pagesPerMin, j.ingest?.oneNode?.pagesPerMin),
    ],
    [
      'upload → searchable p50 ms, hub + 1 processor node on NATS',
      f(j.searchable?.topology?.p50),
      `${f(j.searchable?.all?.p50)} (quire all)`,
      ratio(j.searchable?.topology?.p50, j.searchable?.all?.p50),
    ],
    [
      'live progress event, processor node → Socket.IO client on the hub, p50 / p99 ms',
      `${f(j.liveDelayMs?.twoNodes?.p50)} / ${f(j.liveDelayMs?.twoNodes?.p99)}`,
      '',
      '',
    ],
  ],
};

function searchRows(name: string, j: any): Row[] {
  const m = j.modes ?? {};
  return [
    [`nDCG@10 ${name}: text / vector / hybrid`, `${f(m.text?.ndcg10)} / ${f(m.vector?.ndcg10)} / ${f(m.hybrid?.ndcg10)}`, '', ''],
    [`ingest docs/s, ${name} (full pipeline)`, f(j.ingest?.docsPerSecond), '', ''],
  ];
}

function classifyRows(labels: string, j: any): Row[] {
  const row = (k: number) => (j.rows ?? []).find((r: any) => r.k === k);
  return [[`BBC accuracy, ${labels}: zero-shot / 1 / 4 / 16-shot`, [0, 1, 4, 16].map((k) => f(row(k)?.accuracy)).join(' / '), '', '']];
}

function searchLatencyRows(j: any): Row[] {
  const adapter = j.name === 'search.elasticsearch' ? 'Elasticsearch' : 'embedded';
  return (j.sizes ?? []).flatMap((s: any): Row[] => {
    const at = `at ${s.chunks.toLocaleString('en')} chunks`;
    const rows: Row[] = [
      [
        `${adapter} hybrid query ${at}, p50 / p99 ms`,
        `${f(s.latencyMs?.hybrid?.p50?.median)} / ${f(s.latencyMs?.hybrid?.p99?.median)}`,
        '',
        '',
      ],
    ];
    const exact = s.exact?.vector;
    if (exact) {
      rows.push([
        `${adapter} vector query ${at}, p50 ms; recall@10`,
        `${f(s.latencyMs?.vector?.p50?.median)}; ${f(exact.recallAt10)}`,
        `${f(exact.p50)} (exact scan)`,
        ratio(s.latencyMs?.vector?.p50?.median, exact.p50),
      ]);
    }
    return rows;
  });
}

// RESULTS.md from every kept report, in the order above.
const sections: string[] = [];
const summary: Row[] = [];
for (const run of RUNS) {
  let text: string;
  try {
    text = readFileSync(join(resultsDir, `${run.id}.txt`), 'utf8');
  } catch {
    sections.push(`## ${run.title}\n\nNot run yet (\`npm run results -- --only ${run.id}\`).\n`);
    continue;
  }
  const [header = '', body = ''] = text.split(/\n\n([\s\S]*)/);
  const lines = body.trim().split('\n');
  // The last line is the JSON object with every figure; the rest is the readable report.
  const json = lines.at(-1)?.startsWith('{') ? lines.pop() : undefined;
  if (json) summary.push(...(HEADLINES[run.id]?.(JSON.parse(json)) ?? []));
  sections.push(
    [
      `## ${run.title}`,
      '',
      run.what === 'as above' ? '' : `${run.what}.\n`,
      header
        .split('\n')
        .map((l) => `- ${l}`)
        .join('\n'),
      '',
      '```text',
      lines.join('\n').trim(),
      '```',
      json ? `\n<details><summary>All figures (JSON)</summary>\n\n\`\`\`json\n${json}\n\`\`\`\n\n</details>\n` : '',
    ]
      .filter((part, i) => !(i === 2 && part === ''))
      .join('\n'),
  );
}
const known = new Set(RUNS.map((r) => `${r.id}.txt`));
const stray = readdirSync(resultsDir).filter((f) => !known.has(f));
writeFileSync(
  join(root, 'load-tests', 'RESULTS.md'),
  `# Quire: measured figures

Every figure below comes from one command, \`npm run results\`, which runs each evaluation
and load test in turn on an otherwise idle machine and rewrites this file (the raw reports
are kept in \`load-tests/results/\`). Each section gives its command line, the machine and the
date; \`data/\` is the folder of public datasets (see \`load-tests/README.md\`). Baselines run
in the same command as what they are compared with.
${stray.length ? `\nUnlisted reports in load-tests/results/: ${stray.join(', ')}.\n` : ''}
## Summary

| measure | Quire | baseline (same run) | Quire ÷ baseline |
|---|---|---|---|
${summary.map((r) => `| ${r.join(' | ')} |`).join('\n')}

${sections.join('\n')}`,
);
console.log('\nwrote load-tests/RESULTS.md');

/**
 * The SearchIndex contract on Elasticsearch: ELASTICSEARCH_URL, or the services script's node
 * on 127.0.0.1:9200. Each test gets indexes of its own (a fresh prefix), deleted after.
 */
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { Client } from '@elastic/elasticsearch';
import { defineSearchIndexContract } from '../contract.ts';
import { ElasticsearchSearchIndex, deleteIndexes } from './search-index.elasticsearch.ts';

const ELASTICSEARCH_URL = process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200';
const admin = new Client({ node: ELASTICSEARCH_URL });
after(() => admin.close());

defineSearchIndexContract('ElasticsearchSearchIndex', async () => {
  // Not a skip: the services script always provides the node, so its absence is a broken setup.
  await admin.info().catch((err: unknown) => {
    throw new Error(`No Elasticsearch at ${ELASTICSEARCH_URL}; run \`npm run services -- start\``, { cause: err });
  });
  const prefix = `contract-${randomUUID().slice(0, 8)}`;
  return {
    index: new ElasticsearchSearchIndex({ node: ELASTICSEARCH_URL, indexPrefix: prefix, replicas: 0 }),
    cleanup: async () => {
      await deleteIndexes(admin, prefix);
    },
  };
});

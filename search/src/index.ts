/**
 * Public entry of @quire/search: the SearchIndex port and the search pipeline its adapters
 * share. The adapters are entries of their own, loaded only by whoever names them:
 * `@quire/search/embedded` (SQLite) and `@quire/search/elasticsearch`.
 */
export * from './search-index.ts';
export * from './ranked-search.ts';

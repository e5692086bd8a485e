/** Public entry of @quire/search: the SearchIndex port and its adapters. */
export * from './search-index.ts';
export * from './embedded/search-index.sqlite.ts';

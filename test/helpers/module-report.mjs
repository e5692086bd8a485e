// Preloaded (`--import`) into a Quire process by topology tests: when the process exits, it
// writes the files of every CommonJS module it loaded (packages such as better-sqlite3 and
// tesseract.js are CommonJS, whether required or imported) to QUIRE_LOADED_MODULES_FILE.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const file = process.env.QUIRE_LOADED_MODULES_FILE;
if (file) {
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => writeFileSync(file, JSON.stringify(Object.keys(cache))));
}

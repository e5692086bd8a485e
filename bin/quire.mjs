#!/usr/bin/env node
// Entry point of the `quire` command: loads TypeScript through tsx in this process and runs
// the CLI (one process, so signals and exit codes are the CLI's own).
import { register } from 'tsx/esm/api';

// Libraries read this once at load: graphql-js, for one, skips its development-only type
// checks on every field in production. Set NODE_ENV=development to have them.
process.env.NODE_ENV ??= 'production';

register();
await import('../hub/src/cli.ts');

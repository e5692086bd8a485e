#!/usr/bin/env node
// Entry point of the `quire` command: loads TypeScript through tsx in this process and runs
// the CLI (one process, so signals and exit codes are the CLI's own).
import { register } from 'tsx/esm/api';

register();
await import('../hub/src/cli.ts');

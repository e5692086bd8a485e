/**
 * The process logger: pino writing JSON lines to stdout, or readable lines through pino-pretty
 * when a person is watching (LOG_FORMAT in config.ts).
 */
import type { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from './config.ts';

/**
 * The format logs are written in: `auto` is pretty on a terminal and JSON otherwise, so a
 * pipe, a file or a container's log collector keeps one JSON object per line.
 */
export function resolveLogFormat(format: Config['log']['format'], stdoutIsTTY: boolean): 'pretty' | 'json' {
  if (format === 'auto') return stdoutIsTTY ? 'pretty' : 'json';
  return format;
}

/** Where {@link createLogger} writes, and what it knows of it; defaults to stdout. */
export interface LoggerOutput {
  /** Whether the output is a terminal (decides `auto`). Default `process.stdout.isTTY`. */
  readonly isTTY?: boolean;
  /** The stream written to. Default stdout. */
  readonly destination?: Writable;
}

/** Creates the process logger for `log` (level and format), writing to stdout unless told otherwise. */
export function createLogger(log: Config['log'], output: LoggerOutput = {}): Logger {
  const format = resolveLogFormat(log.format, output.isTTY ?? process.stdout.isTTY === true);
  if (format === 'json') return output.destination ? pino({ level: log.level }, output.destination) : pino({ level: log.level });
  // Formatted in this thread and written synchronously: a terminal is slow to fill, and the
  // last lines before process.exit (a failed start, "shutting down") are not lost.
  return pino(
    { level: log.level },
    pretty({
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      ...(output.destination ? { destination: output.destination, colorize: false } : {}),
    }),
  );
}

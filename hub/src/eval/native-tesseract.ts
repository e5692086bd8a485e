/**
 * The native Tesseract command line (`tesseract <image> stdout -l eng`), the baseline the OCR
 * evaluation and load test set the product's OCR stage beside. Each page is one process
 * limited to one OpenMP thread, so N pages in flight use N cores, as N tesseract.js workers
 * do. Its time includes starting the process and loading the model, which is what the
 * command costs a caller page by page.
 */
import { execFile } from 'node:child_process';

/** A `tesseract` command that answered `--version`. */
export interface NativeTesseract {
  /** The command as given: a path, or a name looked up on PATH. */
  command: string;
  /** Its version line, e.g. `tesseract 5.3.0`. */
  version: string;
}

/** What {@link recognizeNative} reads with. */
export interface NativeTesseractOptions {
  /** Tesseract language. Default `eng`, the model the product's OCR engine loads. */
  language?: string;
  /** Aborts the process. */
  signal?: AbortSignal;
}

/** Most text one page may print; a receipt prints a few kilobytes. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Runs `<command> --version`; `{ missing }` says why when it cannot be run. */
export async function findNativeTesseract(command = 'tesseract'): Promise<NativeTesseract | { missing: string }> {
  try {
    const { stdout, stderr } = await run(command, ['--version']);
    // Tesseract 4 printed its version to stderr, 5 prints it to stdout.
    const version = `${stdout}\n${stderr}`
      .split('\n')
      .map((line) => line.trim())
      .find((line) => /^tesseract\s/i.test(line));
    return version ? { command, version } : { missing: `${command} --version did not name a tesseract version` };
  } catch (error) {
    return { missing: `${command} cannot be run: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Recognises one image file and returns the text Tesseract prints. Rejects when the command fails. */
export async function recognizeNative(
  tesseract: NativeTesseract,
  imagePath: string,
  options: NativeTesseractOptions = {},
): Promise<string> {
  try {
    const { stdout } = await run(tesseract.command, [imagePath, 'stdout', '-l', options.language ?? 'eng'], options.signal);
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim().split('\n').at(-1);
    throw new Error(`NATIVE_TESSERACT_FAILED: ${stderr || (error instanceof Error ? error.message : String(error))}`, { cause: error });
  }
}

function run(command: string, args: readonly string[], signal?: AbortSignal): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      // The child keeps this process's environment (PATH, TESSDATA_PREFIX); only its OpenMP
      // threads are limited to one, the share of one product worker.
      { env: { ...process.env, OMP_THREAD_LIMIT: '1' }, encoding: 'utf8', maxBuffer: MAX_OUTPUT_BYTES, signal },
      (error, stdout, stderr) => (error ? reject(Object.assign(error, { stderr })) : resolve({ stdout, stderr })),
    );
  });
}

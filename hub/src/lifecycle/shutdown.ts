/**
 * Ordered shutdown: steps run from the lowest order number up (stop accepting first, close
 * the store last), each bounded in time, each failure logged and the rest still run.
 */
import type { Logger } from 'pino';

interface Step {
  name: string;
  order: number;
  run: () => Promise<unknown>;
}

export class Shutdown {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly stepTimeoutMs = 15_000,
  ) {}

  /** Registers a step; lower `order` runs earlier. */
  add(name: string, run: () => Promise<unknown>, order: number): void {
    this.steps.push({ name, run, order });
  }

  /** Runs every step once; later calls return the same promise. */
  run(): Promise<void> {
    this.running ??= this.execute();
    return this.running;
  }

  private async execute(): Promise<void> {
    const ordered = [...this.steps].sort((a, b) => a.order - b.order);
    for (const step of ordered) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          step.run(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${this.stepTimeoutMs} ms`)), this.stepTimeoutMs);
          }),
        ]);
        this.logger.debug({ step: step.name }, 'stopped');
      } catch (err) {
        this.logger.warn({ err, step: step.name }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

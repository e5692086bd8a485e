/**
 * Progress of one pipeline run as a single percentage and an ETA.
 *
 * Every stage's work is priced in estimated milliseconds per unit (an OCR page costs about
 * a thousand times a text-layer page), so the percentage weighs stages by what they
 * really cost and OCR dominates a scan. Stages not reached yet are priced from what is
 * known so far (pages found, pages that turned out to be scans); the ETA replaces the
 * estimates with observed rates as they come in: the current stage's own rate once a unit
 * of it is done, and for later stages the estimate scaled by how far off earlier estimates
 * were. Reported percentages never go down; the ETA is null only while the document's
 * type, and so its work, is still unknown.
 */
import type { Stage } from '@quire/kernel';

/** One progress report of a pipeline run. */
export interface PipelineProgress {
  stage: Stage;
  /** Units of the current stage done and in all (pages for extract and OCR, texts for embed). */
  done: number;
  total: number;
  /** 0..100 over the whole run. */
  percent: number;
  /** Estimated milliseconds left; null while the first stage runs. */
  etaMs: number | null;
}

/** Estimated cost of one unit of each stage, in milliseconds on one core. */
export const STAGE_UNIT_COST_MS = {
  detect: 5,
  extract: 25,
  ocr: 1500,
  chunk: 10,
  embed: 100,
  classify: 150,
  fields: 20,
  index: 0,
} as const satisfies Record<Stage, number>;

interface StageState {
  total: number;
  done: number;
  startedAt: number | null;
  endedAt: number | null;
  lastAdvanceAt: number | null;
}

/** Counts units per stage and turns them into {@link PipelineProgress} reports. */
export class ProgressTracker {
  readonly #order: readonly Stage[];
  readonly #states = new Map<Stage, StageState>();
  readonly #now: () => number;
  #current: Stage;
  #lastPercent = 0;
  #finished = false;

  /**
   * @param order the stages this run will go through, in order
   * @param now clock, replaceable in tests
   */
  constructor(order: readonly Stage[], now: () => number = () => performance.now()) {
    if (order.length === 0) throw new RangeError('a run needs at least one stage');
    this.#order = order;
    this.#now = now;
    for (const stage of order) this.#states.set(stage, { total: 1, done: 0, startedAt: null, endedAt: null, lastAdvanceAt: null });
    this.#current = order[0]!;
  }

  /** The stage running now. */
  get stage(): Stage {
    return this.#current;
  }

  /** Enters `stage`, closing every stage before it. */
  enter(stage: Stage): void {
    const now = this.#now();
    const index = this.#order.indexOf(stage);
    if (index < 0) throw new RangeError(`stage ${stage} is not part of this run`);
    for (const earlier of this.#order.slice(0, index)) {
      const state = this.#state(earlier);
      state.startedAt ??= now;
      state.done = state.total;
      state.endedAt ??= now;
    }
    const state = this.#state(stage);
    state.startedAt ??= now;
    this.#current = stage;
  }

  /** Sets the number of units of `stage` (default: the current one). */
  setTotal(total: number, stage: Stage = this.#current): void {
    const state = this.#state(stage);
    state.total = Math.max(0, Math.floor(total));
    state.done = Math.min(state.done, state.total);
  }

  /** Marks `count` units of the current stage done. */
  advance(count = 1): void {
    const state = this.#state(this.#current);
    state.done = Math.min(state.total, state.done + count);
    state.lastAdvanceAt = this.#now();
  }

  /** Closes every stage: the next report says 100 %. */
  finish(): void {
    const last = this.#order.at(-1)!;
    this.enter(last);
    const state = this.#state(last);
    state.done = state.total;
    state.endedAt = this.#now();
    this.#finished = true;
  }

  /** The current state as a report. */
  snapshot(): PipelineProgress {
    const now = this.#now();
    const current = this.#state(this.#current);
    if (this.#finished) {
      this.#lastPercent = 100;
      return { stage: this.#current, done: current.total, total: current.total, percent: 100, etaMs: 0 };
    }

    let doneCost = 0;
    let plannedCost = 0;
    let measuredMs = 0;
    let measuredCost = 0;
    for (const stage of this.#order) {
      const state = this.#state(stage);
      const unit = STAGE_UNIT_COST_MS[stage];
      plannedCost += state.total * unit;
      doneCost += state.done * unit;
      if (state.endedAt !== null && state.startedAt !== null && state.total > 0) {
        measuredMs += state.endedAt - state.startedAt;
        measuredCost += state.total * unit;
      }
    }

    // Time spent on the unit in progress counts as partial work, capped below a whole unit.
    const rate = this.#observedRate(this.#current, now);
    const unitCost = STAGE_UNIT_COST_MS[this.#current];
    if (current.done < current.total) {
      const since = now - (current.lastAdvanceAt ?? current.startedAt ?? now);
      const expected = rate ?? unitCost;
      doneCost += unitCost * Math.min(0.9, expected > 0 ? since / expected : 0);
    }
    const raw = plannedCost > 0 ? (100 * doneCost) / plannedCost : 0;
    this.#lastPercent = Math.max(this.#lastPercent, Math.min(99.9, raw));

    // Later estimates scale by how far earlier ones were off; tiny samples say nothing.
    const calibration = measuredCost >= 100 ? clamp(measuredMs / measuredCost, 0.1, 10) : 1;
    let etaMs: number | null = null;
    // Before anything is measured the ETA is the cost model's, once the work is known.
    if (rate !== null || this.#current !== this.#order[0]) {
      const left = current.total - current.done;
      const since = now - (current.lastAdvanceAt ?? current.startedAt ?? now);
      const perUnit = rate ?? unitCost * calibration;
      let eta = Math.max(0, left * perUnit - (left > 0 ? since : 0));
      let after = false;
      for (const stage of this.#order) {
        if (after) eta += (this.#state(stage).total - this.#state(stage).done) * STAGE_UNIT_COST_MS[stage] * calibration;
        if (stage === this.#current) after = true;
      }
      etaMs = Math.round(eta);
    }
    return {
      stage: this.#current,
      done: current.done,
      total: current.total,
      percent: Math.round(this.#lastPercent * 10) / 10,
      etaMs,
    };
  }

  /** Milliseconds per unit of `stage` so far; null before its first unit is done. */
  #observedRate(stage: Stage, now: number): number | null {
    const state = this.#state(stage);
    if (state.done === 0 || state.startedAt === null) return null;
    const end = state.lastAdvanceAt ?? now;
    return (end - state.startedAt) / state.done;
  }

  #state(stage: Stage): StageState {
    const state = this.#states.get(stage);
    if (!state) throw new RangeError(`stage ${stage} is not part of this run`);
    return state;
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/**
 * The LabelSetRepository contract, run on every adapter against its real backend: versioned
 * saves, team scoping, and the race every version-checked write must win exactly once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import type { LabelSet, LabelSetRepository, TeamScope } from '../store.ts';

const T0 = Date.UTC(2026, 2, 1, 9, 0, 0);

export interface LabelSetFixture {
  repo: LabelSetRepository;
  /** Makes a team exist, for adapters whose sets belong to a stored team. */
  addTeam(scope: TeamScope): Promise<void>;
  cleanup(): Promise<void>;
}

const FIRST: LabelSet = {
  types: [
    { name: 'invoice', description: 'A bill.', prompts: ['Invoice number, amount due.'], keywords: ['invoice'] },
    { name: 'meeting minutes', description: 'The record of a meeting.' },
  ],
  sensitivities: [{ name: 'INTERNAL', description: 'For staff.' }],
};

export function defineLabelSetContract(name: string, make: () => Promise<LabelSetFixture>): void {
  describe(`LabelSetRepository contract: ${name}`, () => {
    async function teams(t: TestContext): Promise<{ repo: LabelSetRepository; a: TeamScope; b: TeamScope }> {
      const fx = await make();
      t.after(() => fx.cleanup());
      const suffix = randomUUID().slice(0, 8);
      const a = { teamId: `team-a-${suffix}` };
      const b = { teamId: `team-b-${suffix}` };
      await fx.addTeam(a);
      await fx.addTeam(b);
      return { repo: fx.repo, a, b };
    }

    it('stores a team label set by version: the first save from 0, each later one from the version it changed', async (t) => {
      const { repo, a, b } = await teams(t);
      t.mock.timers.enable({ apis: ['Date'], now: T0 });
      assert.equal(await repo.getLabelSet(a), undefined, 'a team starts with none of its own');
      const saved = await repo.saveLabelSet(a, FIRST, 0);
      assert.deepEqual(saved, { ...FIRST, version: 1, updatedAt: T0 });
      assert.deepEqual(await repo.getLabelSet(a), saved);

      t.mock.timers.tick(1000);
      // Two changes made from the same version: the second finds the first's and writes nothing.
      assert.equal(await repo.saveLabelSet(a, { ...FIRST, types: [] }, 0), undefined);
      const second = { ...FIRST, types: FIRST.types.slice(1) };
      assert.deepEqual(await repo.saveLabelSet(a, second, 1), { ...second, version: 2, updatedAt: T0 + 1000 });
      assert.equal(await repo.saveLabelSet(a, FIRST, 1), undefined, 'a stale version writes nothing');
      assert.deepEqual(await repo.getLabelSet(a), { ...second, version: 2, updatedAt: T0 + 1000 });

      assert.equal(await repo.getLabelSet(b), undefined, "another team's set is its own");
      assert.equal(await repo.saveLabelSet(b, FIRST, 2), undefined, 'a version it never had writes nothing');
      assert.equal((await repo.saveLabelSet(b, FIRST, 0))?.version, 1);
      assert.equal((await repo.getLabelSet(a))?.version, 2);
    });

    it('of 20 concurrent saves from one version exactly one wins, and the next version is its', async (t) => {
      const { repo, a } = await teams(t);
      for (const from of [0, 1, 2]) {
        const attempts = Array.from({ length: 20 }, (_, i) => ({
          types: [{ name: `type ${from}-${i}`, description: `Attempt ${i} from version ${from}.` }],
          sensitivities: FIRST.sensitivities,
        }));
        const results = await Promise.all(attempts.map((set) => repo.saveLabelSet(a, set, from)));
        const winners = results.filter((r) => r !== undefined);
        assert.equal(winners.length, 1, `from version ${from}: ${winners.length} saves won`);
        assert.equal(winners[0]!.version, from + 1);
        const stored = await repo.getLabelSet(a);
        assert.deepEqual(stored?.types, winners[0]!.types, 'what is stored is the winner, whole');
      }
    });
  });
}

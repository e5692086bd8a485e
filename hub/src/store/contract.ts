/**
 * The one behaviour suite every {@link Store} adapter passes, in one part per repository
 * (`contract/*.contract.ts`). An adapter's test file calls `defineStoreContract(name, make)`;
 * `make` builds a fresh, started store per test, or says why the adapter cannot run here (no
 * server), which is reported as a skipped test.
 *
 * Timestamps are read from the hub's clock (`Date.now()`): the suite fixes and advances that
 * clock to make ordering and ties deterministic.
 */
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { accountsContract } from './contract/accounts.contract.ts';
import { membershipsContract } from './contract/memberships.contract.ts';
import { auditContract } from './contract/audit.contract.ts';
import { documentsContract } from './contract/documents.contract.ts';
import { annotationsContract } from './contract/annotations.contract.ts';
import { matchesContract } from './contract/matches.contract.ts';
import { dashboardContract } from './contract/dashboard.contract.ts';
import type { Ctx, MakeStoreFixture, StoreFixture } from './contract/harness.ts';

export * from './contract/harness.ts';

/** Registers the contract suite for one adapter. */
export function defineStoreContract(name: string, make: MakeStoreFixture): void {
  const title = `Store contract: ${name}`;
  const first = make();
  if ('skip' in first) {
    describe(title, () => {
      test('every Store method', { skip: `skipped: ${first.skip}` }, () => {});
    });
    return;
  }
  // The fixture built to learn whether the adapter runs here serves the first test.
  let spare: Promise<StoreFixture> | undefined = first;
  first.catch(() => undefined);
  const take = (): Promise<StoreFixture> => {
    const fx = spare ?? (make() as Promise<StoreFixture>);
    spare = undefined;
    return fx;
  };

  function it(label: string, body: (ctx: Ctx, t: TestContext) => Promise<void>): void {
    test(label, async (t) => {
      const fx = await take();
      try {
        const suffix = randomUUID().slice(0, 8);
        const a = { teamId: `team-a-${suffix}` };
        const b = { teamId: `team-b-${suffix}` };
        await fx.store.ensureTeam({ id: a.teamId, name: 'Accounts' });
        await fx.store.ensureTeam({ id: b.teamId, name: 'Berlin office' });
        await body({ store: fx.store, a, b }, t);
      } finally {
        await fx.cleanup();
      }
    });
  }

  describe(title, () => {
    after(async () => {
      const unused = await spare?.catch(() => undefined);
      await unused?.cleanup();
    });

    accountsContract(it);
    membershipsContract(it);
    auditContract(it);
    documentsContract(it);
    annotationsContract(it);
    matchesContract(it);
    dashboardContract(it);
  });
}

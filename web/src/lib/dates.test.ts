import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createdRange } from './dates.ts';

describe('createdRange', () => {
  it('covers whole local days: from that midnight to the next day’s, exclusive', () => {
    process.env.TZ = 'Europe/Berlin';
    assert.deepEqual(createdRange('2024-03-12', '2024-03-12'), {
      createdFrom: '2024-03-11T23:00:00.000Z',
      createdTo: '2024-03-12T23:00:00.000Z',
    });
    // The day clocks go forward has 23 hours.
    assert.deepEqual(createdRange('', '2024-03-31'), { createdTo: '2024-03-31T22:00:00.000Z' });
  });

  it('leaves out bounds that are not set or not real days', () => {
    assert.deepEqual(createdRange('', ''), {});
    assert.deepEqual(createdRange('2024-02-30', 'tomorrow'), {});
  });
});

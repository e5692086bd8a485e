import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, AppError, NotFoundError } from './errors.ts';

test('AppError subclasses keep instanceof, code and cause', () => {
  const cause = new Error('db');
  const e = new ConflictError('stale', { cause, details: { version: 3 } });
  assert.ok(e instanceof AppError);
  assert.equal(e.code, 'CONFLICT');
  assert.equal(e.cause, cause);
  assert.deepEqual(e.details, { version: 3 });
  assert.equal(new NotFoundError().name, 'NotFoundError');
});

/**
 * Contract suites for the ports defined in this package, for adapters that live elsewhere
 * (e.g. the hub's SQLite JobStorage). Imports `node:test`, so it is a separate entry point.
 */
export { defineBusContract, type BusFixture, type MakeBusFixture } from './bus/contract.ts';
export { defineJobStorageContract, type JobStorageFixture } from './bus/job-storage.contract.ts';

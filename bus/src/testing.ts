/**
 * Contract suites for the ports defined in this package, for adapters that live elsewhere
 * (e.g. the hub's SQLite JobStorage). Imports `node:test`, so it is a separate entry point.
 */
export { defineBusContract, openBusFixture, waitFor, waitForAsync, type BusFixture, type MakeBusFixture } from './contract.ts';
export { defineJobStorageContract, type JobStorageFixture } from './job-storage.contract.ts';

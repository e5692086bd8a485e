/** Public entry of @quire/hub: the composition root and configuration. */
export { startQuire, DEFAULT_TEAM, type QuireHandle } from './main.ts';
export { loadConfig, ConfigError, type Config } from './config.ts';
export { Access, ENTRY_POINTS, POLICY, type EntryPoint, type Operation } from './auth/policy.ts';
export { ROLE_RANK, Role } from './store/store.ts';

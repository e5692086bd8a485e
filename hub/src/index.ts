/** Public entry of @quire/hub: the composition root and configuration. */
export { startQuire, DEFAULT_TEAM, type QuireHandle } from './main.ts';
export { loadConfig, ConfigError, type Config } from './config.ts';

/** A configuration problem, reported in one line that names the setting and what is wrong. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    readonly problem: string,
  ) {
    super(`configuration: ${setting} ${problem}`);
    this.name = 'ConfigError';
  }
}

import { setFlagsFromString } from 'node:v8';

const FLAG = '--heap-growing-percent';

/**
 * Bounds how far V8's old generation grows past its live set between full collections (config
 * `memory.heapGrowingPercent`; docs/memory.md). V8 reads the flag each time it sets the next
 * collection's limit, so setting it once the configuration is loaded still governs the whole run.
 * A value given on node's own command line wins.
 */
export function boundHeapGrowth(percent: number, execArgv: readonly string[] = process.execArgv): boolean {
  if (percent === 0 || execArgv.some((arg) => arg.replaceAll('_', '-').split('=')[0] === FLAG)) return false;
  setFlagsFromString(`${FLAG}=${percent}`);
  return true;
}

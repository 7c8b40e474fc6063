import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { boundHeapGrowth } from '../../src/heap-growth.js';

const dir = mkdtempSync(join(tmpdir(), 'yihao-heap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const withMemory = (memory: unknown) => {
  const file = join(dir, 'memory.json');
  writeFileSync(file, JSON.stringify({ memory }));
  return () => loadConfig({ YIHAO_DATA_DIR: dir, YIHAO_CONFIG: file });
};

describe('V8 heap growth', () => {
  it('bounds it to twice the live set unless configured otherwise, and refuses what is not a percentage', () => {
    expect(loadConfig({ YIHAO_DATA_DIR: dir }).memory.heapGrowingPercent).toBe(100);
    expect(withMemory({ heapGrowingPercent: 0 })().memory.heapGrowingPercent).toBe(0);
    expect(withMemory({ heapGrowingPercent: 10 })().memory.heapGrowingPercent).toBe(10);
    for (const bad of [-1, 1, 9, 1.5, 1001, '100']) {
      expect(withMemory({ heapGrowingPercent: bad })).toThrow(ConfigError);
      expect(withMemory({ heapGrowingPercent: bad })).toThrow(/memory\.heapGrowingPercent/);
    }
    expect(withMemory({ heapGrowingPercnt: 50 })).toThrow(ConfigError);
  });

  it("leaves V8's own heuristics at 0, and a value on node's command line wins", () => {
    expect(boundHeapGrowth(0, [])).toBe(false);
    expect(boundHeapGrowth(100, ['--heap-growing-percent=50'])).toBe(false);
    expect(boundHeapGrowth(100, ['--heap_growing_percent=50'])).toBe(false);
    expect(boundHeapGrowth(100, ['--heap-growing-percent', '50'])).toBe(false);
    expect(boundHeapGrowth(100, ['--max-old-space-size=512'])).toBe(true);
  });
});

/**
 * `bench:steps --perf` charges each perf sample to whose code ran (bench/perf-record.ts): the
 * innermost JavaScript frame's package, Node module or Yihao file, as perf names JIT frames from
 * Node's `--perf-basic-prof` map.
 */
import { describe, expect, it } from 'vitest';
import { ownerOf } from '../../bench/perf-record.js';

describe('the owner of a perf sample', () => {
  it.each([
    [['JS:*clearBuffer node:internal/streams/writable:744:21'], 'node:internal/streams/writable'],
    [['Builtins_KeyedLoadIC', 'JS:^find /work/main/node_modules/oidc-provider/lib/models/client.js:572:22'], 'oidc-provider'],
    [['JS:* /work/main/node_modules/@koa/router/lib/router.js:10:3'], '@koa/router'],
    [['JS:*upsert file:///work/main/dist/src/storage/redis-adapter.js:209:21'], 'src/storage/redis-adapter.js'],
    // An anonymous function: the name is empty.
    [['JS:* file:///work/main/dist/src/http/request-context.js:35:12'], 'src/http/request-context.js'],
    // The innermost JavaScript frame decides, whatever calls it.
    [['clear_page_erms', 'JS:~handler file:///app/node_modules/koa-compose/index.js:40:23', 'JS:*x file:///work/main/dist/src/yihao.js:1:1'], 'koa-compose'],
  ])('%j belongs to %s', (frames, owner) => {
    expect(ownerOf(frames)).toBe(owner);
  });

  it('calls a sample with no JavaScript frame native (the kernel, the GC, the event loop)', () => {
    expect(ownerOf(['epoll_pwait', 'uv__io_poll', 'uv_run'])).toBe('native');
    expect(ownerOf([])).toBe('native');
  });
});

import { appendFile } from 'node:fs/promises';

export type ExportFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * The outside copy of the checkpoints: each one as a JSON line appended to a file (on storage the
 * database's writers cannot reach, ideally append-only or shipped elsewhere) and/or POSTed to a
 * webhook. `fetch` is the guarded outbound fetch (src/outbound), passed in by the
 * composition root.
 */
export function checkpointExporter(settings: { file?: string | undefined; webhookUrl?: string | undefined }, fetch: ExportFetch | undefined): ((line: string) => Promise<void>) | undefined {
  const { file, webhookUrl } = settings;
  if (!file && !webhookUrl) return undefined;
  return async (line) => {
    const tasks: Promise<void>[] = [];
    if (file) tasks.push(appendFile(file, line + '\n', { mode: 0o600 }));
    if (webhookUrl && fetch) {
      tasks.push(
        fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: line }).then(async (res) => {
          await res.body?.cancel();
          if (!res.ok) throw new Error(`audit checkpoint webhook answered ${res.status}`);
        }),
      );
    }
    const failed = (await Promise.allSettled(tasks)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  };
}

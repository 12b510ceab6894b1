/** Worker: downloads one URL as a plain streaming GET (nothing kept) and reports the time: the link's own cost. */
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';

export interface DownloadArgs {
  url: string;
}

export interface DownloadMeasurement {
  seconds: number;
  bytes: number;
}

runWorkerMain(async () => {
  const { url } = workerArgs<DownloadArgs>();
  const started = performance.now();
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`GET ${url}: ${response.status}`);
  let bytes = 0;
  for await (const chunk of response.body) bytes += (chunk as Uint8Array).length;
  emitResult({ seconds: (performance.now() - started) / 1000, bytes } satisfies DownloadMeasurement);
});

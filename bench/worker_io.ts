/**
 * Each measurement runs in its own Node child process, so its peak RSS is its own and nothing it allocated
 * outlives it. The child gets one JSON argument and prints one `BENCH_RESULT <json>` line on stdout.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MARKER = 'BENCH_RESULT ';

export interface WorkerResult {
  /** process.resourceUsage().maxRSS of the child at the end, in bytes. */
  peak_rss_bytes: number;
}

/** In a worker: the argument the parent passed. */
export function workerArgs<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error(`${process.argv[1]}: expects one JSON argument (run it through npm run bench)`);
  return JSON.parse(raw) as T;
}

/** In a worker: prints the result with the process's peak RSS. */
export function emitResult(result: object): void {
  const peak_rss_bytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${MARKER}${JSON.stringify({ ...result, peak_rss_bytes })}\n`);
}

/** In a worker: runs `main`, reporting a failure on stderr with exit code 1. */
export function runWorkerMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  });
}

/**
 * Runs `dist/bench/workers/<name>.js` with `arg`; stderr passes through (progress), stdout is scanned for the
 * result line. Rejects when the child fails or runs longer than `timeoutSeconds`.
 */
export function runWorker<T extends object>(name: string, arg: object, timeoutSeconds = 30 * 60): Promise<T & WorkerResult> {
  const script = fileURLToPath(new URL(`./workers/${name}.js`, import.meta.url));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
      if (code !== 0 || !line) {
        const why = signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, over ${timeoutSeconds} s or out of memory` : ''})` : `exited with ${code}`;
        reject(new Error(`bench worker ${name} ${why}${line ? '' : ' without a result'}`));
        return;
      }
      resolvePromise(JSON.parse(line.slice(MARKER.length)) as T & WorkerResult);
    });
  });
}

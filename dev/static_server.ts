import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';

/** URL prefix (starting and ending with '/') → folder served under it. The longest matching prefix wins. */
export type Mounts = Record<string, string>;

export interface StaticServer {
  /** e.g. http://127.0.0.1:41234/ */
  url: string;
  /** Every path a GET could not find (HEAD probes for optional files are not counted). */
  misses: string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
};

function resolveFile(mounts: [string, string][], urlPath: string): string | null {
  for (const [prefix, folder] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const root = resolve(folder);
    const file = resolve(join(root, urlPath.slice(prefix.length)));
    // Refuse anything that escapes the mounted folder (../ in the URL).
    return file === root || file.startsWith(root + sep) ? file : null;
  }
  return null;
}

/**
 * A minimal static file server on 127.0.0.1 (random port) for browser tests: GET/HEAD only, Content-Length set (the
 * Transformers.js progress events use it), index.html for folders, and cross-origin isolation headers so
 * onnxruntime-web may use SharedArrayBuffer like on a production host that sets them.
 */
export async function startStaticServer(mounts: Mounts): Promise<StaticServer> {
  const ordered = Object.entries(mounts).sort((a, b) => b[0].length - a[0].length);
  for (const [prefix] of ordered) {
    if (!prefix.startsWith('/') || !prefix.endsWith('/')) throw new Error(`static server: mount "${prefix}" must start and end with /`);
  }
  const misses: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    let file = resolveFile(ordered, urlPath);
    try {
      if (file === null) throw new Error('outside mounts');
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': info.size,
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      if (req.method === 'GET') misses.push(urlPath);
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${urlPath}`);
    }
  });
  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ready());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    misses,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

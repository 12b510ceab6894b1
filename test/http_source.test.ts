/**
 * Checkpoint files read over HTTP with Range requests: exact bytes, announced reads prefetched in order within a
 * budget, large tensors in parts, and every server misbehaviour a typed error.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openHttpSource } from '../src/conversion/http_source.js';
import { HubError } from '../src/errors.js';

const SIZE = 40 * 1024 * 1024 + 123;
const content = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i++) content[i] = (i * 2654435761) >>> 24;

interface Logged {
  path: string;
  range?: string;
  auth?: string;
}

type Behaviour = 'ranges' | 'ignore-range' | 'short' | 'wrong-start' | 'redirect-cross-origin';

let server: Server;
let other: Server;
let base: string;
let otherBase: string;
const log: Logged[] = [];
let behaviour: Behaviour = 'ranges';
let inFlight = 0;
let maxInFlight = 0;

function serve(req: IncomingMessage, res: ServerResponse, origin: 'main' | 'other') {
  const path = new URL(req.url!, 'http://x').pathname;
  log.push({ path: `${origin}${path}`, range: req.headers.range, auth: req.headers.authorization });
  if (path === '/missing') return res.writeHead(404).end();
  if (origin === 'main' && behaviour === 'redirect-cross-origin') return res.writeHead(302, { Location: `${otherBase}/file` }).end();
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (path === '/huge' && behaviour === 'ignore-range') {
    // Announces 100 MiB and sends them only as the client reads (it should not).
    res.writeHead(200, { 'Content-Length': 100 * 1024 * 1024 });
    res.write(content.subarray(0, 1024));
    return;
  }
  if (!match || behaviour === 'ignore-range') {
    res.writeHead(200, { 'Content-Length': SIZE });
    return res.end(content);
  }
  const start = Number(match[1]);
  const end = Math.min(Number(match[2]), SIZE - 1);
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  setTimeout(() => {
    inFlight--;
    const shownStart = behaviour === 'wrong-start' && start > 0 ? start + 1 : start;
    res.writeHead(206, { 'Content-Range': `bytes ${shownStart}-${end}/${SIZE}`, 'Content-Length': behaviour === 'short' && start > 0 ? end - start : end - start + 1 });
    res.end(content.subarray(start, behaviour === 'short' && start > 0 ? end : end + 1));
  }, 5);
}

beforeAll(async () => {
  const listen = (s: Server) => new Promise<string>((done) => s.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
  server = createServer((req, res) => serve(req, res, 'main'));
  other = createServer((req, res) => serve(req, res, 'other'));
  base = await listen(server);
  otherBase = await listen(other);
});

afterAll(() => {
  server.closeAllConnections();
  other.closeAllConnections();
  server.close();
  other.close();
});

const fresh = () => {
  log.length = 0;
  behaviour = 'ranges';
  maxInFlight = 0;
};

describe('ranged reads', () => {
  test('exact bytes anywhere in the file, across block boundaries; a missing file is null', async () => {
    fresh();
    const source = (await openHttpSource(`${base}/file`, { blockBytes: 1 << 20 }))!;
    expect(source.size).toBe(SIZE);
    for (const [offset, length] of [[0, 10], [SIZE - 7, 7], [(1 << 20) - 3, 9], [5_000_000, 3_000_000]]) {
      expect(Buffer.compare(await source.read(offset, length), content.subarray(offset, offset + length))).toBe(0);
    }
    await expect(source.read(SIZE - 1, 2)).rejects.toThrow(RangeError);
    expect(await openHttpSource(`${base}/missing`)).toBeNull();
    for (const r of log) expect(r.range).toMatch(/^bytes=\d+-\d+$/);
  });

  test('announced reads are prefetched in order, merged when close, in parts when large, a few requests at a time', async () => {
    fresh();
    const source = (await openHttpSource(`${base}/file`, { blockBytes: 1 << 16, cacheBlocks: 1, prefetchRequests: 3, prefetchBytes: 20 << 20 }))!;
    const reads = [
      { offset: 10_000_000, length: 100 },
      { offset: 10_000_200, length: 100 }, // 100 bytes after the previous one: same request
      { offset: 1_000_000, length: 33 * 1024 * 1024 }, // larger than one request: 3 parts of ≤ 16 MiB
      { offset: 39_000_000, length: 1000 },
    ];
    source.willRead!(reads);
    for (const { offset, length } of reads) {
      const bytes = await source.readView!(offset, length);
      expect(Buffer.compare(bytes, content.subarray(offset, offset + length)), `${offset}`).toBe(0);
    }
    const ranged = log.slice(1).map((r) => r.range!.slice('bytes='.length).split('-').map(Number));
    expect(ranged).toHaveLength(1 + 3 + 1);
    for (const [start, end] of ranged) expect(end - start + 1).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(ranged[0]).toEqual([10_000_000, 10_000_299]);
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(maxInFlight).toBeGreaterThan(1);
  });
});

describe('servers that misbehave', () => {
  test('a server that ignores Range: a small file is taken whole, a large one refused before its body is read', async () => {
    fresh();
    behaviour = 'ignore-range';
    const small = (await openHttpSource(`${base}/file`))!;
    expect(Buffer.compare(await small.read(SIZE - 5, 5), content.subarray(SIZE - 5))).toBe(0);
    await expect(openHttpSource(`${base}/huge`)).rejects.toThrow(/ignored the Range request and would send all 104857600 bytes.*supports Range requests/);
  });

  test('a body cut short', async () => {
    fresh();
    const source = (await openHttpSource(`${base}/file`, { blockBytes: 1 << 16 }))!;
    behaviour = 'short';
    const error = await source.read(30_000_000, 100).catch((e) => e);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toMatch(/sent \d+ of the \d+ bytes asked for/);
  });

  test('an answer for other bytes than asked (the file changed)', async () => {
    fresh();
    const source = (await openHttpSource(`${base}/file`, { blockBytes: 1 << 16 }))!;
    behaviour = 'wrong-start';
    await expect(source.read(30_000_000, 100)).rejects.toThrow(/file changed while it was read/);
  });

  test('the token goes to its own origin only, never after a redirect to another', async () => {
    fresh();
    behaviour = 'redirect-cross-origin';
    const source = (await openHttpSource(`${base}/file`, { token: 'hf_secret', blockBytes: 1 << 16 }))!;
    expect(Buffer.compare(await source.read(100, 10), content.subarray(100, 110))).toBe(0);
    const main = log.filter((r) => r.path.startsWith('main'));
    const elsewhere = log.filter((r) => r.path.startsWith('other'));
    expect(main.every((r) => r.auth === 'Bearer hf_secret')).toBe(true);
    expect(elsewhere.length).toBeGreaterThan(0);
    expect(elsewhere.every((r) => r.auth === undefined)).toBe(true);
  });

  test('an unreachable host', async () => {
    const error = await openHttpSource('http://127.0.0.1:9/file').catch((e) => e);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toMatch(/cannot reach 127\.0\.0\.1:9/);
  });
});

/** The pieces of bench:browser that run without a browser: /proc readings and the BENCHMARKS section update. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { browserProcesses, descendants, processMemory } from '../browser/process_memory.js';
import { writeSection } from '../browser/report.js';

const work = mkdtempSync(join(tmpdir(), 'seggpt-bench-browser-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('process_memory', () => {
  test('finds a child process and reads its memory and CPU time', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
    try {
      await new Promise((ready) => child.once('spawn', ready));
      expect(descendants(process.pid)).toContain(child.pid);
      const found = browserProcesses().find((p) => p.pid === child.pid);
      expect(found?.type).toBe('browser');
      const own = processMemory(process.pid)!;
      // VmHWM is the peak of VmRSS, and a Node process holds tens of MB at least.
      expect(own.rss).toBeGreaterThan(10e6);
      expect(own.peak_rss).toBeGreaterThanOrEqual(own.rss);
      expect(own.cpu_seconds).toBeGreaterThan(0);
    } finally {
      child.kill();
    }
  });
});

describe('writeSection', () => {
  test('appends the section once, then replaces it in place and keeps the rest of BENCHMARKS.md', () => {
    const own = join(work, 'BENCHMARKS-browser.md');
    const benchmarks = join(work, 'BENCHMARKS.md');
    writeFileSync(benchmarks, '# Benchmarks\n\n## Machine\n\ncores 2\n');
    writeSection('## Browser WASM, full-size q8\n\nfirst\n', benchmarks, 'browser', own);
    writeFileSync(benchmarks, `${readFileSync(benchmarks, 'utf8')}\n## Later section\n`);
    writeSection('## Browser WASM, full-size q8\n\nsecond\n', benchmarks, 'browser', own);
    const text = readFileSync(benchmarks, 'utf8');
    expect(text.match(/## Browser WASM/g)).toHaveLength(1);
    expect(text).toContain('second');
    expect(text).not.toContain('first');
    expect(text.indexOf('## Machine')).toBeLessThan(text.indexOf('second'));
    expect(text.indexOf('second')).toBeLessThan(text.indexOf('## Later section'));
    expect(readFileSync(own, 'utf8')).toContain('second');
  });
});

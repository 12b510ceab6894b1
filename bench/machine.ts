import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';

export interface MachineFacts {
  cpu_model: string;
  cores: number;
  /** AVX-512 / AVX2 / VNNI flags, which decide onnxruntime's GEMM kernels. */
  simd: string;
  memory_gib: number;
  node: string;
  onnxruntime_node: string;
  date: string;
}

function cpuinfoField(field: string): string | undefined {
  if (!existsSync('/proc/cpuinfo')) return undefined;
  const line = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(field));
  return line?.split(':').slice(1).join(':').trim();
}

export function machineFacts(): MachineFacts {
  const flags = (cpuinfoField('flags') ?? '').split(/\s+/);
  const simd = ['avx512f', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'avx2', 'fma'].filter((f) => flags.includes(f)).join(' ');
  return {
    cpu_model: cpuinfoField('model name') ?? cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    simd: simd || 'unknown',
    memory_gib: totalmem() / 2 ** 30,
    node: process.version,
    onnxruntime_node: ort.env.versions.node ?? 'unknown',
    date: new Date().toISOString(),
  };
}

/** 1-minute load average: other work on the machine slows every number here. */
export function load1(): number {
  return loadavg()[0];
}

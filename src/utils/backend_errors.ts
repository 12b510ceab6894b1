/**
 * Turns ONNX Runtime failures with a known cause (a device that is not installed or not present, a dtype the device
 * cannot run) into a BackendError that says what is wrong and how to fix it. Pure string matching: it runs in Node and
 * in browsers alike.
 */
import { BackendError } from '../errors.js';

export interface BackendContext {
  /** The `device` option as the caller gave it (string, per-file record, or undefined). */
  device?: unknown;
  /** The `dtype` option as the caller gave it. */
  dtype?: unknown;
  /** What was being loaded or run, for the message (a model id or folder). */
  model?: string;
}

const IS_NODE = typeof process !== 'undefined' && process.release?.name === 'node';

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

function mentions(option: unknown, wanted: string): boolean {
  if (typeof option === 'string') return option === wanted;
  if (option && typeof option === 'object') return Object.values(option).some((value) => value === wanted);
  return false;
}

const CUDA_INSTALL_FIX =
  "onnxruntime-node's npm package does not contain its CUDA execution provider: its install script downloads it, and this " +
  'install skipped that step (`onnxruntime-node-install=skip` in .npmrc, or ONNXRUNTIME_NODE_INSTALL=skip). Fix: ' +
  '`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (the environment variable wins over .npmrc; the older ' +
  'ONNXRUNTIME_NODE_INSTALL_CUDA=v12 only works without the skip), which downloads the provider from outside the npm registry and needs a CUDA 12 + ' +
  "cuDNN 9 runtime on the machine (see the README, \"Devices\"). Or use device: 'cpu' (or 'webgpu')";

/**
 * A BackendError with the fix when `error` has a recognised cause, else null. Recognised:
 * - device 'cuda' whose provider libraries are missing (the usual case after an install that skipped the download),
 *   whose CUDA/cuDNN runtime libraries are missing, or that finds no GPU;
 * - fp16 / q4f16 on a WebGPU adapter without the 'shader-f16' feature;
 * - device 'webgpu' with no WebGPU adapter at all.
 */
export function explainBackendError(error: unknown, context: BackendContext = {}): BackendError | null {
  const message = messageOf(error);
  const where = context.model ? ` for ${context.model}` : '';
  const cuda = mentions(context.device, 'cuda') || /cuda/i.test(message);

  if (cuda && /libcudart|libcublas|libcudnn|libcufft|libcurand|libnvrtc/i.test(message)) {
    return new BackendError(
      `SegGPT: device 'cuda'${where}: ONNX Runtime's CUDA provider is installed but the CUDA runtime libraries are missing (${message}). ` +
        "Install CUDA 12 and cuDNN 9 (and put them on LD_LIBRARY_PATH), or use device: 'cpu'",
      { cause: error },
    );
  }
  if (cuda && /no CUDA-capable device|cudaErrorNoDevice|CUDA failure 100|CUDA driver version is insufficient/i.test(message)) {
    return new BackendError(
      `SegGPT: device 'cuda'${where}: no usable NVIDIA GPU (${message}). Check \`nvidia-smi\` and the driver, or use device: 'cpu'`,
      { cause: error },
    );
  }
  if (cuda && /Failed to load (shared )?library|cannot open shared object|providers_cuda|providers_shared|AppendExecutionProvider_Cuda/i.test(message)) {
    return new BackendError(`SegGPT: device 'cuda' is not available${where}: ${message}. ${CUDA_INSTALL_FIX}`, { cause: error });
  }

  if (/requires f16|shader-f16|f16 is not supported|does not support f(p)?16/i.test(message)) {
    const dtype = typeof context.dtype === 'string' ? `'${context.dtype}'` : 'this dtype';
    return new BackendError(
      `SegGPT: dtype ${dtype}${where} computes in float16, but this WebGPU adapter lacks the 'shader-f16' feature (${message}). ` +
        "Use dtype: 'fp32' (or 'q8' / 'q4', whose activations stay float32) on this device, or a GPU/browser with shader-f16",
      { cause: error },
    );
  }

  if (/No supported adapters|Failed to get a WebGPU adapter|WebGPU is not supported|no available backend found.*webgpu|navigator\.gpu/i.test(message)) {
    const fix = IS_NODE
      ? "onnxruntime-node's WebGPU provider runs on Vulkan (Linux): install the GPU's Vulkan driver, or for a CPU-only " +
        'machine `apt-get install chromium libvulkan1` and set VK_ICD_FILENAMES to chromium\'s vk_swiftshader_icd.json ' +
        "(e.g. /usr/lib/chromium/vk_swiftshader_icd.json) before the first session. Or use device: 'cpu'"
      : "this browser offers no WebGPU adapter (navigator.gpu is missing or requestAdapter() gave none): use a browser with " +
        "WebGPU enabled, or device: 'wasm'";
    return new BackendError(`SegGPT: device 'webgpu' is not available${where} (${message}). ${fix}`, { cause: error });
  }
  return null;
}

/** `explainBackendError`, or a BackendError built by `fallback` from the original message. */
export function toBackendError(error: unknown, context: BackendContext, fallback: (message: string) => string): BackendError {
  return explainBackendError(error, context) ?? new BackendError(fallback(messageOf(error)), { cause: error });
}

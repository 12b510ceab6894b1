import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where distributions put Chromium's SwiftShader Vulkan driver manifest. */
const ICD_CANDIDATES = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib64/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];

/**
 * Points the Vulkan loader at SwiftShader so onnxruntime-node's WebGPU provider (Dawn on Vulkan) finds an adapter on a
 * machine without a GPU. Must run before the first WebGPU session of the process: the loader reads VK_ICD_FILENAMES
 * once, when Dawn creates its Vulkan instance. A VK_ICD_FILENAMES that is already set is kept.
 * Returns the manifest in use.
 */
export function useSwiftShaderVulkan(): string {
  if (!process.env.XDG_RUNTIME_DIR) {
    // Dawn's Vulkan backend complains on stderr when it is unset; an empty private folder silences it.
    const dir = join(tmpdir(), `seggpt-xdg-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  const given = process.env.VK_ICD_FILENAMES;
  if (given) return given;
  const icd = ICD_CANDIDATES.find((path) => existsSync(path));
  if (!icd) {
    throw new Error(
      `SwiftShader's Vulkan driver was not found (${ICD_CANDIDATES.join(', ')}): install it with \`apt-get install -y chromium libvulkan1\`, ` +
        'or set VK_ICD_FILENAMES to a Vulkan driver manifest',
    );
  }
  process.env.VK_ICD_FILENAMES = icd;
  return icd;
}

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const INSTALL_HINT = 'install it with `apt-get install -y chromium libvulkan1` (Debian/Ubuntu) or set CHROMIUM_PATH';

/** The system Chromium that the browser tests drive (playwright-core downloads no browser). */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    (path): path is string => Boolean(path),
  );
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`Chromium not found (tried ${candidates.join(', ')}); ${INSTALL_HINT}`);
  return found;
}

/**
 * Headless Chromium with WebGPU on SwiftShader (Vulkan on the CPU): no GPU needed, deterministic, and it exposes the
 * adapter without shader-f16. Background services are off so the browser itself makes no network requests.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--no-first-run',
      '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader',
      '--use-vulkan=swiftshader',
      '--enable-features=Vulkan',
    ],
  });
}

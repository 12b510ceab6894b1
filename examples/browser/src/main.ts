/** Entry of the demo page (bundled by build.mjs into dist/demo.js). */
import { DemoApp } from './app.js';
import { installTestHook } from './test_hook.js';

const app = new DemoApp(location.href);
const ready = app.init();
installTestHook(app, ready);
ready.catch((error: unknown) => {
  const status = document.getElementById('status');
  if (status) {
    status.textContent = `Could not start: ${error instanceof Error ? error.message : String(error)}`;
    status.classList.add('error');
  }
});

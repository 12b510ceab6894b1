import * as app from './app.js';

let worker = null;
let next = 0;
const pending = new Map();

/** The same calls, made inside a module Web Worker. */
function inWorker(method, args) {
  worker ??= new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => {
    pending.get(data.id)?.(data.result);
    pending.delete(data.id);
  };
  return new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    worker.postMessage({ id, method, args });
  });
}

window.seggptApp = { ...app, inWorker, ready: true };

import * as app from './app.js';

self.onmessage = async ({ data }) => {
  const result = await app[data.method](...data.args);
  self.postMessage({ id: data.id, result });
};

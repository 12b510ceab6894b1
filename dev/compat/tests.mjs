// The test files the compatibility matrix runs against every Transformers.js version it claims (package.json
// peerDependencies): registration with the Auto classes, the pipeline, the public API (AutoProcessor → AutoModel →
// post-processing), the Transformers.js classes the plugin extends (config, processor, models, segmenter) and loading by
// folder and by hub id (ModelRegistry, env.fetch, caches), and the built package imported by a plain `node`. Not the browser, GPU, benchmark or fault-injection suites.
export const COMPAT_TESTS = [
  'test/registry.test.ts',
  'test/pipeline.test.ts',
  'test/public_api.test.ts',
  'test/config.test.ts',
  'test/processor.test.ts',
  'test/models.test.ts',
  'test/segmenter.test.ts',
  'test/first_load_local.test.ts',
  'test/first_load.test.ts',
  'test/compat/built_package.test.ts',
];

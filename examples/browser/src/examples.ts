import type { EmbeddingType } from './runner.js';

/** One task of examples/shapes/examples.json, with file URLs resolved against the page. */
export interface ShapesExample {
  name: string;
  rule: string;
  query: string;
  prompts: { image: string; mask: string }[];
  target: string | null;
  embedding_type: EmbeddingType;
  feature_ensemble: boolean;
}

interface ExamplesJson {
  examples: {
    name: string;
    rule: string;
    embedding_type?: EmbeddingType;
    feature_ensemble?: boolean;
    n_prompts?: number;
    files: Record<string, string>;
  }[];
}

/** The seggpt-shapes demo tasks copied by build.mjs into dist/shapes/ (one or several prompts each). */
export async function loadExamples(baseUrl: string): Promise<ShapesExample[]> {
  const response = await fetch(new URL('examples.json', baseUrl));
  if (!response.ok) throw new Error(`no example tasks at ${baseUrl} (HTTP ${response.status}); run the example build`);
  const json = (await response.json()) as ExamplesJson;
  const url = (file: string | undefined) => (file ? new URL(file, baseUrl).href : null);
  return json.examples.map((example) => {
    const files = example.files;
    const count = example.n_prompts ?? 1;
    const prompts = Array.from({ length: count }, (_, i) => {
      const suffix = files.prompt_image ? '' : `_${i}`;
      return { image: url(files[`prompt_image${suffix}`])!, mask: url(files[`prompt_mask${suffix}`])! };
    });
    return {
      name: example.name,
      rule: example.rule,
      query: url(files.query_image)!,
      prompts,
      target: url(files.target_mask),
      embedding_type: example.embedding_type ?? 'semantic',
      feature_ensemble: example.feature_ensemble ?? false,
    };
  });
}

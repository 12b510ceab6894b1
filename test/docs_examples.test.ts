import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { RawImage } from '@huggingface/transformers';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

/**
 * Every code example of the README and of the public JSDoc is compiled under `strict` + `module: nodenext` (as a user's
 * TypeScript project compiles it, `transformers-seggpt` resolved through the package's own exports) and run as written
 * in Node. Runs differ from the page in three ways only, all outside the snippet: model names point at the bundled
 * seggpt-shapes checkpoint (converted on first use, as a hub id would be), the file names the snippets use exist in the
 * working folder (copies of the shapes examples), and the cache goes to that folder. Browser-only snippets
 * (device: 'wasm') are compiled, not run.
 */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Inside the repository, so that `transformers-seggpt` resolves to this package (self-reference through "exports").
const WORK = join(REPO, 'test', 'scratch', 'docs-examples');
const SHAPES = join(REPO, 'examples', 'shapes');

interface Snippet {
  /** Where it comes from: README.md block n, or a source file's JSDoc block n. */
  name: string;
  language: 'javascript' | 'typescript';
  code: string;
}

/** Code blocks of a Markdown text. */
function markdownBlocks(text: string, source: string): Snippet[] {
  const blocks = [...text.matchAll(/^```(javascript|typescript)\n([\s\S]*?)^```$/gm)];
  return blocks.map((m, i) => ({ name: `${source} block ${i + 1}`, language: m[1] as Snippet['language'], code: m[2] }));
}

/** Code blocks inside the doc comments of a source file (the leading ` * ` stripped). */
function jsdocBlocks(text: string, source: string): Snippet[] {
  const snippets: Snippet[] = [];
  for (const comment of text.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
    const body = comment[1].replace(/^[ \t]*\* ?/gm, '');
    snippets.push(...markdownBlocks(body, source).map((s, i) => ({ ...s, name: `${source} JSDoc block ${snippets.length + i + 1}` })));
  }
  return snippets;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * A snippet without an import continues the one before it in the same file (the README's second block reuses the
 * first block's `segmenter`): programs are the snippets joined that way.
 */
function programs(snippets: Snippet[]): Snippet[] {
  const out: Snippet[] = [];
  for (const snippet of snippets) {
    const previous = out[out.length - 1];
    const sameSource = previous && previous.name.split(' block ')[0].replace(/ JSDoc$/, '') === snippet.name.split(' block ')[0].replace(/ JSDoc$/, '');
    if (!/^\s*import\s/m.test(snippet.code) && sameSource) {
      out[out.length - 1] = { name: `${previous.name} + ${snippet.name.split(' ').pop()}`, language: snippet.language === 'typescript' ? 'typescript' : previous.language, code: `${previous.code}\n${snippet.code}` };
    } else {
      out.push(snippet);
    }
  }
  return out;
}

const ALL = programs([
  ...markdownBlocks(readFileSync(join(REPO, 'README.md'), 'utf8'), 'README.md'),
  ...sourceFiles(join(REPO, 'src')).flatMap((file) => jsdocBlocks(readFileSync(file, 'utf8'), relative(REPO, file))),
]);

/** Model names the examples use, all standing for a SegGPT checkpoint. */
const MODEL_NAMES = ['BAAI/seggpt-vit-large', './seggpt-vit-large-onnx', '/models/seggpt-vit-large-onnx', 'your-name/seggpt-vit-large-onnx', 'transformers-seggpt/seggpt-shapes'];
const browserOnly = (code: string) => /device: 'wasm'/.test(code);

function fileName(index: number): string {
  return join(WORK, `example_${String(index).padStart(2, '0')}.mts`);
}

beforeAll(async () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  cpSync(join(REPO, 'models', 'seggpt-shapes'), join(WORK, 'checkpoint'), { recursive: true });
  const copy = (from: string, to: string) => cpSync(join(SHAPES, from), join(WORK, to));
  copy('ex1_query_image.png', 'query.jpg');
  copy('ex1_prompt_image.png', 'prompt.jpg');
  copy('ex1_prompt_mask.png', 'prompt_mask.png');
  copy('ex3_query_image.png', 'street.jpg');
  copy('ex3_prompt_image.png', 'a.jpg');
  copy('ex1_prompt_image.png', 'b.jpg');
  // A clip whose first frame is the image of a mask.
  for (const [i, from] of ['ex3_prompt_image.png', 'ex3_query_image.png', 'ex1_query_image.png'].entries()) copy(from, `frame_00${i}.png`);
  copy('ex3_prompt_mask.png', 'frame_000_mask.png');
  // Class maps (1-channel class ids) made from the shapes masks: 1 for prompt.jpg, 1 and 2 for a.jpg and b.jpg, 3 for classes.png.
  const classMap = async (from: string, to: string, id: number) => {
    const mask = await RawImage.read(join(SHAPES, from));
    const ids = new Uint8ClampedArray(mask.width * mask.height);
    for (let i = 0; i < ids.length; i++) ids[i] = mask.data[i * mask.channels] > 127 ? id : 0;
    await new RawImage(ids, mask.width, mask.height, 1).save(join(WORK, to));
  };
  await Promise.all([classMap('ex1_prompt_mask.png', 'prompt_classes.png', 1), classMap('ex3_prompt_mask.png', 'a_classes.png', 1), classMap('ex1_prompt_mask.png', 'b_classes.png', 2), classMap('ex1_prompt_mask.png', 'classes.png', 3)]);
  ALL.forEach((program, i) => writeFileSync(fileName(i), program.code));
});

afterAll(() => {
  rmSync(WORK, { recursive: true, force: true });
});

test('the examples are found: README and JSDoc, with their imports', () => {
  expect(ALL.filter((p) => p.name.startsWith('README.md')).length).toBeGreaterThanOrEqual(5);
  expect(ALL.filter((p) => p.name.startsWith('src/')).length).toBeGreaterThanOrEqual(6);
  for (const program of ALL) expect(program.code, program.name).toMatch(/^\s*import\s/m);
});

test('every example compiles under strict + nodenext, as a user project compiles it', () => {
  const files = ALL.map((_, i) => fileName(i));
  const program = ts.createProgram(files, {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${ALL[files.indexOf(d.file.fileName)]?.name ?? d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  expect(problems).toEqual([]);
});

describe('every example runs as written (models: the bundled shapes checkpoint, converted on first use)', () => {
  test.each(ALL.map((p, i) => [p.name, p, i] as const).filter(([, p]) => !browserOnly(p.code)))('%s', async (_name, program, i) => {
    let code = program.code;
    for (const name of MODEL_NAMES) code = code.split(`'${name}'`).join(JSON.stringify(join(WORK, 'checkpoint')));
    // Strip the TypeScript the JS runtime cannot run (type-only imports and `as` casts), as a TS build would.
    const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const setup = [
      `import { env as setupEnv } from '@huggingface/transformers';`,
      `import { setDefaultSegGPTModel as setupDefaultModel } from 'transformers-seggpt';`,
      `setupEnv.cacheDir = ${JSON.stringify(join(WORK, 'cache'))};`,
      `setupDefaultModel(${JSON.stringify(join(WORK, 'checkpoint'))});`,
    ].join('\n');
    const runnable = fileName(i).replace(/\.mts$/, '.run.mjs');
    writeFileSync(runnable, `${setup}\n${js}`);
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [runnable], { cwd: WORK, timeout: 120_000 });
    expect(stderr.replace(/^.*ExperimentalWarning.*$/gm, '').trim(), program.name).toBe('');
    if (/console\.log/.test(code)) expect(stdout.trim(), program.name).not.toBe('');
  });
});

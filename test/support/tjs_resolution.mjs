// How Transformers.js' Auto classes resolve one repo folder, as plain JSON. Plain JS so a child `node` process can run
// it against the bare library (nothing registered) and a test can compare with the registered in-process result.
import * as T from '@huggingface/transformers';

async function outcome(load) {
  try {
    const value = await load();
    const inner = value?.image_processor ? `/${value.image_processor.constructor.name}` : '';
    await value?.dispose?.();
    return `${value.constructor.name}${inner}`;
  } catch (error) {
    return `Error: ${error.message}`;
  }
}

export async function describeResolution(dir) {
  const config = await T.AutoConfig.from_pretrained(dir);
  const autos = ['AutoModel', 'AutoModelForImageSegmentation', 'AutoModelForSemanticSegmentation', 'AutoModelForUniversalSegmentation', 'AutoModelForImageClassification'];
  const result = {
    config: { class: config.constructor.name, model_type: config.model_type, keys: Object.keys(config).sort() },
    supports: Object.fromEntries(autos.map((name) => [name, T[name].supports(config.model_type)])),
    files: await T.ModelRegistry.get_model_files(dir),
    AutoImageProcessor: await outcome(() => T.AutoImageProcessor.from_pretrained(dir)),
    AutoProcessor: await outcome(() => T.AutoProcessor.from_pretrained(dir)),
  };
  for (const name of autos) result[name] = await outcome(() => T[name].from_pretrained(dir));
  return result;
}

if (process.argv[2] === '--print') {
  console.log(JSON.stringify(await describeResolution(process.argv[3])));
}

import { decodeImage, bitmapToRGB } from './image_io.js';
import { loadExamples, type ShapesExample } from './examples.js';
import { binaryMask, drawGrey, drawOverlay, iou, maskFromBitmap } from './overlay.js';
import { PromptPanel } from './prompt_panel.js';
import { DTYPE_SUFFIX, SegGPTWorkerClient, type EmbeddingType, type FrameResult, type ModelChoice, type SegmentSettings } from './runner.js';
import { imageSequence, sortedFiles, videoFile, webcam, type FrameSource } from './video.js';

export interface RunSuccess {
  ok: true;
  width: number;
  height: number;
  /** Post-processed values (0–255) at the query's size. */
  segmentation: Int32Array;
  /** 1 where segmentation / 255 > threshold. */
  mask: Uint8Array;
  load_seconds: number;
  run_seconds: number;
  /** IoU with the example's target mask, when an example with a target is loaded. */
  iou_target: number | null;
}

export interface RunFailure {
  ok: false;
  error: { name: string; message: string };
}

export type RunOutcome = RunSuccess | RunFailure;

/** What a video run gives: one mask per frame, in order. */
export interface VideoSuccess {
  ok: true;
  frames: { width: number; height: number; mask: Uint8Array; prompts: number; run_seconds: number }[];
  /** The longest the page's main thread was busy at a stretch during the run (the model runs in the worker). */
  longest_main_thread_task_ms: number;
}

export type VideoOutcome = VideoSuccess | RunFailure;
/** Settings a caller (or the test hook) may set before a run; each one mirrors a control on the page. */
export interface RunSettings {
  model?: string;
  device?: ModelChoice['device'];
  dtype?: string;
  embedding_type?: EmbeddingType;
  feature_ensemble?: boolean;
  /** 0–1: grey level / 255 above which a pixel is the object. */
  threshold?: number;
  /** Video: predictions kept as prompts. */
  memory?: number;
}

const $ = <T extends HTMLElement>(id: string) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html lacks #${id}`);
  return element as T;
};

/** The page: inputs, prompt panels, model choice, run, and the result views. */
export class DemoApp {
  private readonly model = $<HTMLInputElement>('model');
  private readonly device = $<HTMLSelectElement>('device');
  private readonly dtype = $<HTMLSelectElement>('dtype');
  private readonly exampleSelect = $<HTMLSelectElement>('example');
  private readonly embedding = $<HTMLSelectElement>('embedding-type');
  private readonly ensemble = $<HTMLInputElement>('feature-ensemble');
  private readonly threshold = $<HTMLInputElement>('threshold');
  private readonly runButton = $<HTMLButtonElement>('run');
  private readonly status = $<HTMLElement>('status');
  private readonly queryView = $<HTMLCanvasElement>('query-view');
  private readonly promptList = $<HTMLElement>('prompts');
  private readonly overlay = $<HTMLCanvasElement>('overlay');
  private readonly maskView = $<HTMLCanvasElement>('mask-view');
  private readonly greyView = $<HTMLCanvasElement>('grey-view');
  private readonly targetView = $<HTMLCanvasElement>('target-view');
  private readonly stats = $<HTMLElement>('stats');
  private readonly memory = $<HTMLInputElement>('memory');
  private readonly fps = $<HTMLInputElement>('fps');
  private readonly videoRun = $<HTMLButtonElement>('run-video');
  private readonly videoStop = $<HTMLButtonElement>('stop-video');
  private readonly videoView = $<HTMLCanvasElement>('video-view');
  private readonly videoStatus = $<HTMLElement>('video-status');
  private readonly worker: SegGPTWorkerClient;
  private videoSource: FrameSource | null = null;
  private videoAbort: AbortController | null = null;

  private query: ImageBitmap | null = null;
  private target: ImageBitmap | null = null;
  private panels: PromptPanel[] = [];
  private examples: ShapesExample[] = [];
  private busy: Promise<unknown> = Promise.resolve();
  /** dtypes converted for the local model in the Model field (null: not a local folder). */
  private variants: Promise<Set<string> | null> = Promise.resolve(null);

  constructor(private readonly pageUrl: string) {
    this.worker = new SegGPTWorkerClient(pageUrl);
    $<HTMLInputElement>('frames-file').addEventListener('change', (event) => {
      const files = sortedFiles((event.target as HTMLInputElement).files ?? []);
      if (files.length === 0) return;
      const video = files.length === 1 && files[0].type.startsWith('video/');
      this.setVideoSource(video ? videoFile(files[0], Number(this.fps.value) || 5) : imageSequence(files));
    });
    $<HTMLButtonElement>('webcam').addEventListener('click', () => void webcam().then((source) => this.setVideoSource(source)).catch((error) => this.showVideoError(error)));
    $<HTMLButtonElement>('first-frame-prompt').addEventListener('click', () => void this.firstFrameAsPrompt().catch((error) => this.showVideoError(error)));
    this.videoRun.addEventListener('click', () => void this.runVideo());
    this.videoStop.addEventListener('click', () => this.videoAbort?.abort());
    $<HTMLInputElement>('query-file').addEventListener('change', async (event) => {
      const file = (event.target as HTMLInputElement).files?.[0];
      if (file) await this.setQuery(await decodeImage(file), null);
    });
    $<HTMLButtonElement>('add-prompt').addEventListener('click', () => this.addPrompt());
    this.exampleSelect.addEventListener('change', () => {
      if (this.exampleSelect.value) void this.loadExample(this.exampleSelect.value).catch((error) => this.showError(error));
    });
    this.runButton.addEventListener('click', () => void this.run());
    this.model.addEventListener('change', () => this.probeVariants());
    $<HTMLButtonElement>('clear-cache').addEventListener('click', async () => {
      await caches.delete('transformers-cache');
      this.setStatus('Cached model files deleted.');
    });
    this.addPrompt();
  }

  /** Fills the example list and the WebGPU availability note; loads the first example. */
  async init(): Promise<void> {
    await this.worker.ready;
    this.probeVariants();
    await Promise.all([this.describeWebGPU(), this.variants]);
    this.examples = await loadExamples(new URL('dist/shapes/', this.pageUrl).href);
    for (const example of this.examples) {
      const option = document.createElement('option');
      option.value = example.name;
      option.textContent = `${example.name}: ${example.rule}${example.prompts.length > 1 ? ` (${example.prompts.length} prompts)` : ''}`;
      this.exampleSelect.append(option);
    }
    if (this.examples.length > 0) await this.loadExample(this.examples[0].name);
    this.setStatus('Ready: pick an example or your own images, then Run.');
  }

  /** Puts an example task into the inputs (query, prompts and masks, embedding type, ensemble). */
  async loadExample(name: string): Promise<void> {
    const example = this.examples.find((e) => e.name === name);
    if (!example) throw new Error(`no example named ${name} (have ${this.examples.map((e) => e.name).join(', ')})`);
    this.exampleSelect.value = name;
    const [query, target, prompts] = await Promise.all([
      decodeImage(example.query),
      example.target ? decodeImage(example.target) : Promise.resolve(null),
      Promise.all(example.prompts.map(async (p) => ({ image: await decodeImage(p.image), mask: await decodeImage(p.mask) }))),
    ]);
    await this.setQuery(query, target);
    while (this.panels.length > prompts.length) this.removePrompt(this.panels[this.panels.length - 1]);
    while (this.panels.length < prompts.length) this.addPrompt();
    for (const [i, prompt] of prompts.entries()) {
      await this.panels[i].setImage(prompt.image);
      this.panels[i].setMask(prompt.mask);
    }
    this.embedding.value = example.embedding_type;
    this.ensemble.checked = example.feature_ensemble;
    this.setStatus(`Loaded ${example.name} (${example.rule}).`);
  }

  applySettings(settings: RunSettings): void {
    if (settings.model !== undefined && settings.model !== this.model.value) {
      this.model.value = settings.model;
      this.probeVariants();
    }
    if (settings.device !== undefined) this.device.value = settings.device;
    if (settings.dtype !== undefined) this.dtype.value = settings.dtype;
    if (settings.embedding_type !== undefined) this.embedding.value = settings.embedding_type;
    if (settings.feature_ensemble !== undefined) this.ensemble.checked = settings.feature_ensemble;
    if (settings.threshold !== undefined) this.threshold.value = String(settings.threshold);
    if (settings.memory !== undefined) this.memory.value = String(settings.memory);
    for (const [name, select] of [['device', this.device], ['dtype', this.dtype]] as const) {
      const wanted = settings[name];
      if (wanted !== undefined && select.value !== wanted) throw new Error(`the page offers no ${name} "${wanted}"`);
    }
  }

  /** What the Run button does; runs never overlap. */
  run(): Promise<RunOutcome> {
    const outcome = this.busy.then(() => this.runOnce());
    this.busy = outcome;
    return outcome;
  }

  private async runOnce(): Promise<RunOutcome> {
    this.runButton.disabled = true;
    try {
      if (!this.query) throw new Error('choose a query image first');
      const choice = await this.loadChoice();
      this.setStatus(`Running on ${choice.device} (${choice.dtype})…`);
      const result = await this.worker.segment(bitmapToRGB(this.query), this.settings());
      const mask = binaryMask(result.ids);
      drawOverlay(this.overlay, this.query, mask);
      drawGrey(this.maskView, mask, result.width, result.height, 255);
      drawGrey(this.greyView, result.levels, result.width, result.height);
      const iouTarget = this.target ? iou(mask, maskFromBitmap(this.target, result.width, result.height)) : null;
      const share = mask.reduce((sum, v) => sum + v, 0) / mask.length;
      const loadSeconds = await this.worker.load(choice);
      this.stats.textContent =
        `${choice.model} · ${choice.device} · ${choice.dtype} — run ${(result.run_seconds * 1000).toFixed(0)} ms ` +
        `(model load ${loadSeconds.toFixed(2)} s) — object: ${(share * 100).toFixed(1)} % of the image` +
        (iouTarget === null ? '' : ` — IoU with the example's target: ${iouTarget.toFixed(3)}`);
      this.setStatus('Done.');
      return {
        ok: true,
        width: result.width,
        height: result.height,
        segmentation: result.levels,
        mask,
        load_seconds: loadSeconds,
        run_seconds: result.run_seconds,
        iou_target: iouTarget,
      };
    } catch (error) {
      return this.showError(error);
    } finally {
      this.runButton.disabled = false;
    }
  }

  /** The model choice on the page, checked against the converted variants and loaded in the worker. */
  private async loadChoice(): Promise<ModelChoice> {
    const choice: ModelChoice = {
      model: this.model.value.trim(),
      device: this.device.value as ModelChoice['device'],
      dtype: this.dtype.value,
    };
    const variants = await this.variants;
    if (variants && !variants.has(choice.dtype)) {
      throw new Error(
        `${choice.model} has no ${choice.dtype} variant (onnx/model${DTYPE_SUFFIX[choice.dtype]}.onnx); choose ${[...variants].join(', ')}, ` +
          `or convert it with \`seggpt convert <checkpoint> --output <folder> --dtype ${choice.dtype}\``,
      );
    }
    await this.worker.load(choice, (message) => this.setStatus(message));
    return choice;
  }

  /** The prompts and options on the page, as the worker's segmenter takes them. */
  private settings(): SegmentSettings {
    const embedding = this.embedding.value;
    return {
      prompts: this.panels.map((panel) => ({ image: panel.imagePixels(), mask: panel.maskPixels() })),
      embedding_type: embedding === 'default' ? null : (embedding as EmbeddingType),
      // Unchecked leaves the default (on for several prompts); checked forces it on for one prompt too.
      feature_ensemble: this.ensemble.checked ? true : null,
      threshold: Number(this.threshold.value),
    };
  }

  private setVideoSource(source: FrameSource): void {
    this.videoSource?.close();
    this.videoSource = source;
    this.videoStatus.textContent = `Frames: ${source.label}. Mark the object on the first frame (First frame → prompt), then Run video.`;
  }

  /** Puts the first frame into prompt 1, to paint the object's mask on it. */
  private async firstFrameAsPrompt(): Promise<void> {
    if (!this.videoSource) throw new Error('choose frames, a video or the webcam first');
    await this.panels[0].setImage(await this.videoSource.first());
    this.videoStatus.textContent = 'Paint the object on prompt 1, then Run video.';
  }

  /** Video mode: frames stream to the worker; each answer is drawn as it arrives. Runs never overlap. */
  runVideo(source: FrameSource | null = this.videoSource): Promise<VideoOutcome> {
    const outcome = this.busy.then(() => this.runVideoOnce(source));
    this.busy = outcome;
    return outcome;
  }

  private async runVideoOnce(source: FrameSource | null): Promise<VideoOutcome> {
    this.videoRun.disabled = true;
    this.videoStop.disabled = false;
    const abort = (this.videoAbort = new AbortController());
    const longest = watchMainThread();
    try {
      if (!source) throw new Error('choose frames, a video or the webcam first');
      const choice = await this.loadChoice();
      const frames: VideoSuccess['frames'] = [];
      const bitmaps: ImageBitmap[] = [];
      async function* pixels() {
        for await (const frame of source!.frames()) {
          bitmaps.push(frame.bitmap);
          yield frame.pixels;
        }
      }
      const memory = Number(this.memory.value);
      await this.worker.propagate(pixels(), this.settings(), memory, (result: FrameResult, index: number) => {
        const mask = binaryMask(result.ids);
        drawOverlay(this.videoView, bitmaps[index], mask);
        frames.push({ width: result.width, height: result.height, mask, prompts: result.prompts, run_seconds: result.run_seconds });
        this.videoStatus.textContent = `Frame ${index + 1}: ${(result.run_seconds * 1000).toFixed(0)} ms, ${result.prompts} prompts (${choice.device}, ${choice.dtype}, memory ${memory}).`;
      }, abort.signal);
      this.videoStatus.textContent = `${abort.signal.aborted ? 'Stopped' : 'Done'}: ${frames.length} frames.`;
      return { ok: true, frames, longest_main_thread_task_ms: longest.stop() };
    } catch (error) {
      longest.stop();
      return this.showVideoError(error);
    } finally {
      this.videoRun.disabled = false;
      this.videoStop.disabled = true;
      this.videoAbort = null;
    }
  }

  private showVideoError(error: unknown): RunFailure {
    const failure = this.showError(error);
    this.videoStatus.textContent = `${failure.error.name}: ${failure.error.message}`;
    return failure;
  }

  private showError(error: unknown): RunFailure {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    this.setStatus(`${name}: ${message}`, true);
    return { ok: false, error: { name, message } };
  }

  private setStatus(text: string, isError = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('error', isError);
  }

  private async setQuery(bitmap: ImageBitmap, target: ImageBitmap | null): Promise<void> {
    this.query = bitmap;
    this.target = target;
    this.queryView.width = bitmap.width;
    this.queryView.height = bitmap.height;
    this.queryView.getContext('2d')!.drawImage(bitmap, 0, 0);
    if (target) drawGrey(this.targetView, maskFromBitmap(target, bitmap.width, bitmap.height), bitmap.width, bitmap.height, 255);
    this.targetView.closest('figure')!.hidden = !target;
  }

  private addPrompt(): void {
    const panel = new PromptPanel(this.panels.length, (p) => this.removePrompt(p));
    this.panels.push(panel);
    this.promptList.append(panel.element);
    this.refreshPromptTitles();
  }

  private removePrompt(panel: PromptPanel): void {
    if (this.panels.length === 1) return;
    this.panels = this.panels.filter((p) => p !== panel);
    panel.element.remove();
    this.refreshPromptTitles();
  }

  private refreshPromptTitles(): void {
    this.panels.forEach((panel, i) => panel.setTitle(i));
    // Several prompts for one query are only combined when their features are averaged.
    if (this.panels.length > 1) this.ensemble.checked = true;
  }

  /** Marks the precision options that the local model folder lacks. */
  private probeVariants(): void {
    const model = this.model.value.trim();
    this.variants = this.worker.localVariants(model).catch(() => null);
    void this.variants.then((variants) => {
      for (const option of this.dtype.options) {
        const missing = variants !== null && !variants.has(option.value);
        option.textContent = missing ? `${option.value} (not converted)` : option.value;
      }
    });
  }

  /** The worker for tests that run the model class alone. */
  get segmentationWorker(): SegGPTWorkerClient {
    return this.worker;
  }

  private async describeWebGPU(): Promise<void> {
    const option = this.device.querySelector('option[value="webgpu"]') as HTMLOptionElement;
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ features: Set<string> } | null> } }).gpu;
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (!adapter) {
      option.disabled = true;
      option.textContent = 'webgpu (not available in this browser)';
    } else if (!adapter.features.has('shader-f16')) {
      option.textContent = 'webgpu (no shader-f16: use fp32/q8/q4)';
    }
  }
}

/** Measures the longest stretch the main thread was blocked, sampled by a timer every 16 ms. */
function watchMainThread(): { stop(): number } {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last - 16);
    last = now;
  }, 16);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(0, longest);
    },
  };
}

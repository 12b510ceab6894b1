import { bitmapToRGB, context2d, decodeImage, makeCanvas } from './image_io.js';
import type { PixelBuffer } from './seggpt.js';

/** How far painted pixels are moved towards white. */
const LIGHTEN = 0.35;

/**
 * One prompt: an example image and the mask of what to segment in it. The mask is kept at the image's own
 * resolution in the alpha channel of an off-screen canvas (painted = opaque), drawn with a round brush or loaded
 * from a mask file, and shown outlined on the image.
 */
export class PromptPanel {
  readonly element: HTMLElement;
  private image: ImageBitmap | null = null;
  private readonly view: HTMLCanvasElement;
  private mask: HTMLCanvasElement = makeCanvas(1, 1);
  private readonly brush: HTMLInputElement;
  private readonly erase: HTMLInputElement;
  private drawing = false;
  private last: { x: number; y: number } | null = null;

  constructor(index: number, onRemove: (panel: PromptPanel) => void) {
    const template = document.getElementById('prompt-template') as HTMLTemplateElement;
    this.element = (template.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement;
    this.element.querySelector('.prompt-title')!.textContent = `Prompt ${index + 1}`;
    this.view = this.element.querySelector('canvas.prompt-view') as HTMLCanvasElement;
    this.brush = this.element.querySelector('input.brush-size') as HTMLInputElement;
    this.erase = this.element.querySelector('input.erase') as HTMLInputElement;

    const imageInput = this.element.querySelector('input.prompt-image-file') as HTMLInputElement;
    imageInput.addEventListener('change', async () => {
      const file = imageInput.files?.[0];
      if (file) await this.setImage(await decodeImage(file));
    });
    const maskInput = this.element.querySelector('input.prompt-mask-file') as HTMLInputElement;
    maskInput.addEventListener('change', async () => {
      const file = maskInput.files?.[0];
      if (file) this.setMask(await decodeImage(file));
    });
    this.element.querySelector('button.clear-mask')!.addEventListener('click', () => this.clearMask());
    this.element.querySelector('button.remove-prompt')!.addEventListener('click', () => onRemove(this));

    this.view.addEventListener('pointerdown', (event) => this.strokeStart(event));
    this.view.addEventListener('pointermove', (event) => this.strokeMove(event));
    for (const type of ['pointerup', 'pointercancel', 'pointerleave'] as const) {
      this.view.addEventListener(type, () => this.strokeEnd());
    }
    this.render();
  }

  get hasImage(): boolean {
    return this.image !== null;
  }

  setTitle(index: number): void {
    this.element.querySelector('.prompt-title')!.textContent = `Prompt ${index + 1}`;
  }

  /** A new prompt image starts with an empty mask of its size. */
  async setImage(bitmap: ImageBitmap): Promise<void> {
    this.image = bitmap;
    this.view.width = bitmap.width;
    this.view.height = bitmap.height;
    this.mask = makeCanvas(bitmap.width, bitmap.height);
    this.render();
  }

  /**
   * Loads a mask image: its brightness (0 = background, 255 = object, as in the examples' mode-L PNGs) becomes the
   * painted area. A mask of another size is stretched to the image with nearest-neighbour sampling.
   */
  setMask(bitmap: ImageBitmap): void {
    if (!this.image) throw new Error('choose the prompt image before its mask');
    const { width, height } = this.mask;
    const scratch = makeCanvas(width, height);
    const ctx = context2d(scratch);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(bitmap, 0, 0, width, height);
    const pixels = ctx.getImageData(0, 0, width, height);
    const d = pixels.data;
    for (let i = 0; i < d.length; i += 4) {
      const value = Math.max(d[i], d[i + 1], d[i + 2]);
      d[i] = d[i + 1] = d[i + 2] = 255;
      d[i + 3] = value;
    }
    context2d(this.mask).putImageData(pixels, 0, 0);
    this.render();
  }

  clearMask(): void {
    context2d(this.mask).clearRect(0, 0, this.mask.width, this.mask.height);
    this.render();
  }

  /** The prompt image as RGB pixels. */
  imagePixels(): PixelBuffer {
    if (!this.image) throw new Error('a prompt has no image: choose one (or remove the prompt)');
    return bitmapToRGB(this.image);
  }

  /** The mask as a 1-channel 0/255 image (painted where the brush left ≥ 50 % coverage), like the examples' PNGs. */
  maskPixels(): PixelBuffer {
    const { width, height } = this.mask;
    const alpha = context2d(this.mask).getImageData(0, 0, width, height).data;
    const data = new Uint8Array(width * height);
    let painted = 0;
    for (let i = 0; i < data.length; i++) {
      if (alpha[i * 4 + 3] >= 128) {
        data[i] = 255;
        painted++;
      }
    }
    if (painted === 0) throw new Error('a prompt mask is empty: paint the object to segment on the prompt image, or load a mask');
    return { data, width, height, channels: 1 };
  }

  /**
   * The image with the painted area lightened and outlined (white edge, dark rim outside it), so the colours of the
   * prompt shapes stay recognisable under the mask.
   */
  private render(): void {
    const ctx = context2d(this.view);
    ctx.clearRect(0, 0, this.view.width, this.view.height);
    if (!this.image) return;
    ctx.drawImage(this.image, 0, 0);
    const { width, height } = this.view;
    const pixels = ctx.getImageData(0, 0, width, height);
    const alpha = context2d(this.mask).getImageData(0, 0, width, height).data;
    const on = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && alpha[(y * width + x) * 4 + 3] >= 128;
    const d = pixels.data;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = (y * width + x) * 4;
        const inside = on(x, y);
        const edge = on(x - 1, y) !== inside || on(x + 1, y) !== inside || on(x, y - 1) !== inside || on(x, y + 1) !== inside;
        if (inside && edge) d[p] = d[p + 1] = d[p + 2] = 255;
        else if (edge) d[p] = d[p + 1] = d[p + 2] = 0;
        else if (inside) for (let c = 0; c < 3; c++) d[p + c] = Math.round(d[p + c] + (255 - d[p + c]) * LIGHTEN);
      }
    }
    ctx.putImageData(pixels, 0, 0);
  }

  /** Pointer position in image pixels (the view is scaled by CSS). */
  private toImage(event: PointerEvent): { x: number; y: number } {
    const box = this.view.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) / box.width) * this.view.width,
      y: ((event.clientY - box.top) / box.height) * this.view.height,
    };
  }

  private strokeStart(event: PointerEvent): void {
    if (!this.image) return;
    this.drawing = true;
    this.view.setPointerCapture(event.pointerId);
    this.last = this.toImage(event);
    this.paint(this.last, this.last);
  }

  private strokeMove(event: PointerEvent): void {
    if (!this.drawing || !this.last) return;
    const point = this.toImage(event);
    this.paint(this.last, point);
    this.last = point;
  }

  private strokeEnd(): void {
    this.drawing = false;
    this.last = null;
  }

  private paint(from: { x: number; y: number }, to: { x: number; y: number }): void {
    const ctx = context2d(this.mask);
    ctx.globalCompositeOperation = this.erase.checked ? 'destination-out' : 'source-over';
    ctx.strokeStyle = '#fff';
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineWidth = Number(this.brush.value);
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
    ctx.globalCompositeOperation = 'source-over';
    this.render();
  }
}

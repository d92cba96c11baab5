// Decode QR images with jsQR (pixels from pngjs): an implementation independent of the
// zxing-cpp and libzint the gateway uses.
// stdin: {"png_base64": ["...", ...]}   stdout: ["decoded text" | null, ...]
import jsQR from "jsqr";
import pngjs from "pngjs";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const out = input.png_base64.map((b64) => {
  const png = pngjs.PNG.sync.read(Buffer.from(b64, "base64"));
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  return code ? code.data : null;
});
process.stdout.write(JSON.stringify(out));

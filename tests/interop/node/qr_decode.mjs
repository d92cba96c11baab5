// Read QR codes from PNG images with jsQR (cozmo/jsQR) after decoding them with pngjs.
// stdin: {"images": ["<PNG, base64>", ...]}
// stdout: [{"ok": true, "text": "<the bytes read, as UTF-8>", "version": n} | {"ok": false, "error"}]
import jsQR from "jsqr";
import pngjs from "pngjs";
import { readFileSync } from "node:fs";

const { PNG } = pngjs;
const input = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const image of input.images) {
  try {
    // pngjs gives RGBA whatever the source's bit depth and colour type (ours is 1-bit grey)
    const png = PNG.sync.read(Buffer.from(image, "base64"));
    const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height, {
      inversionAttempts: "dontInvert",
    });
    out.push(
      code === null
        ? { ok: false, error: `no QR code found in a ${png.width}x${png.height} image` }
        : { ok: true, text: Buffer.from(code.binaryData).toString("utf8"), version: code.version },
    );
  } catch (err) {
    out.push({ ok: false, error: `${err.name}: ${err.message}` });
  }
}
process.stdout.write(JSON.stringify(out));

// Build SD-JWT VC presentations with @sd-jwt/sd-jwt-vc (or, with "library": "core", with the
// plain SD-JWT of @sd-jwt/core) from credentials someone else issued.
// stdin: {"holder_jwk": {private JWK, P-256}, "library": "sd-jwt-vc" | "core" (optional),
//         "items": [{"credential": "...", "frame": {"name": true, ...}, "aud": "...",
//                    "nonce": "...", "iat": 123}]}
// stdout: ["<SD-JWT+KB>", ...]
import { SDJwtInstance } from "@sd-jwt/core";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { ES256, digest } from "@sd-jwt/crypto-nodejs";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const Instance = input.library === "core" ? SDJwtInstance : SDJwtVcInstance;
const vc = new Instance({
  hasher: digest,
  kbSigner: await ES256.getSigner(input.holder_jwk),
  kbSignAlg: ES256.alg,
});
const out = [];
for (const item of input.items) {
  out.push(
    await vc.present(item.credential, item.frame, {
      kb: { payload: { iat: item.iat, aud: item.aud, nonce: item.nonce } },
    }),
  );
}
process.stdout.write(JSON.stringify(out));

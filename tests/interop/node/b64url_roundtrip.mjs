// Decode then encode base64url texts with jose's base64url (and node's own Buffer), to tell which
// are canonical: the one spelling of their bytes. No signature or JSON is looked at.
// stdin: {"texts": ["<base64url>", ...]}
// stdout: {"jose": ["<re-encoded>" | null, ...], "buffer": ["<re-encoded>", ...]}
//         null where jose refuses the text outright
import { base64url } from "jose";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const viaJose = (text) => {
  try {
    return base64url.encode(base64url.decode(text));
  } catch {
    return null;
  }
};
const viaBuffer = (text) => Buffer.from(Buffer.from(text, "base64url")).toString("base64url");
process.stdout.write(
  JSON.stringify({ jose: input.texts.map(viaJose), buffer: input.texts.map(viaBuffer) }),
);

// Decode Token Status Lists with @sd-jwt/jwt-status-list (no signature check: jose_verify does that).
// stdin: {"token": "<statuslist+jwt>", "referenced": ["<credential JWT>", ...], "indexes": [0, ...]}
// stdout: {"bits", "size", "statuses": {"<idx>": status}, "references": [{"idx", "uri"}]}
//         or {"error": "<name>: <message>"} when the library refuses the list
import { getListFromStatusListJWT, getStatusListFromJWT } from "@sd-jwt/jwt-status-list";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
let out;
try {
  const list = getListFromStatusListJWT(input.token);
  const statuses = {};
  for (const idx of input.indexes) statuses[String(idx)] = list.getStatus(idx);
  out = {
    bits: list.getBitsPerStatus(),
    size: list.statusList.length,
    statuses,
    references: input.referenced.map((jwt) => getStatusListFromJWT(jwt)),
  };
} catch (err) {
  out = { error: `${err.name}: ${err.message}` };
}
process.stdout.write(JSON.stringify(out));

// A wallet written with @openid4vc/openid4vci (OpenID4VCI 1.0): receive a credential from an
// offer with the pre-authorised code flow and its tx_code, proving a fresh ES256 key (jose).
// stdin: {"offer": "openid-credential-offer://…", "tx_code": "123456"}
// stdout: {"version", "credential_issuer", "credential_response", "holder_jwk"}
//
// The library refuses http:// issuer URLs by default, as OpenID4VCI §12.2.1 wants (https);
// the test serves on loopback http, so this script turns on the library's own switch for that
// (allowInsecureUrls). Nothing else is adjusted.
import { readFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { clientAuthenticationAnonymous, setGlobalConfig } from "@openid4vc/oauth2";
import { Openid4vciClient } from "@openid4vc/openid4vci";
import * as jose from "jose";

setGlobalConfig({ allowInsecureUrls: true });
const { offer, tx_code: txCode } = JSON.parse(readFileSync(0, "utf8"));
const { publicKey, privateKey } = await jose.generateKeyPair("ES256", { extractable: true });
const publicJwk = await jose.exportJWK(publicKey);
const callbacks = {
  fetch: (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(10000) }),
  hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  generateRandom: (n) => randomBytes(n),
  clientAuthentication: clientAuthenticationAnonymous(),
  signJwt: async (_signer, { header, payload }) => ({
    jwt: await new jose.SignJWT(payload).setProtectedHeader(header).sign(privateKey),
    signerJwk: publicJwk,
  }),
};
const client = new Openid4vciClient({ callbacks });
const credentialOffer = await client.resolveCredentialOffer(offer);
const issuerMetadata = await client.resolveIssuerMetadata(credentialOffer.credential_issuer);
const { accessTokenResponse } = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
  credentialOffer,
  issuerMetadata,
  txCode,
});
const { c_nonce: nonce } = await client.requestNonce({ issuerMetadata });
const credentialConfigurationId = credentialOffer.credential_configuration_ids[0];
const { jwt } = await client.createCredentialRequestJwtProof({
  issuerMetadata,
  credentialConfigurationId,
  signer: { method: "jwk", alg: "ES256", publicJwk },
  nonce,
});
const { credentialResponse } = await client.retrieveCredentials({
  issuerMetadata,
  accessToken: accessTokenResponse.access_token,
  credentialConfigurationId,
  proofs: { jwt: [jwt] },
});
process.stdout.write(
  JSON.stringify({
    version: issuerMetadata.originalDraftVersion,
    credential_issuer: credentialOffer.credential_issuer,
    credential_response: credentialResponse,
    holder_jwk: publicJwk,
  }),
);

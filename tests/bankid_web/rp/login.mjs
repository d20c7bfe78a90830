// The app in the BankID browser tests: a relying party built on openid-client v6. It builds the
// authorization URL and validates what comes back; the Python test drives the browser between.
//
//   node login.mjs '{"issuer", "client_id", "client_secret", "redirect_uri", "scope",
//                    "acr_values", "ui_locales"}'
//
// stdio, one JSON object per line:
//   stdout {"authorize": url}   -> stdin: the callback URL the browser landed on
//   stdout {"result": {...}}    (claims of the validated ID token, userinfo; exit 0)
//   stdout {"fatal": {...}}     (the library refused; exit 1)
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const c = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

try {
  const config = await client.discovery(
    new URL(c.issuer),
    c.client_id,
    { client_secret: c.client_secret },
    client.ClientSecretBasic(c.client_secret),
    { execute: [client.allowInsecureRequests] },
  );
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: c.redirect_uri,
    scope: c.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    acr_values: c.acr_values,
    ui_locales: c.ui_locales,
  });
  send({ authorize: url.href });
  const { value } = await lines.next();
  // Checks state, iss (RFC 9207), the code exchange with PKCE and the ID token (signature,
  // iss, aud, exp, iat, nonce).
  const tokens = await client.authorizationCodeGrant(config, new URL(value.trim()), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  send({ result: { claims, userinfo } });
  process.exit(0);
} catch (err) {
  send({ fatal: { name: err?.name, code: err?.code, error: err?.error, message: String(err?.message ?? err) } });
  process.exit(1);
}

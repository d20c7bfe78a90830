// The app in the BankID approval browser tests: a relying party that asks the person to approve
// something (RFC 9396 `authorization_details` of type se.bankid.sign or se.bankid.payment) with
// oauth4webapi. The details travel in a pushed authorization request (RFC 9126: the provider
// takes approvals only pushed or signed), authenticated with private_key_jwt or
// client_secret_basic; then the code exchange with PKCE and the same client authentication,
// the ID token checked by the library (iss, aud, exp, nonce, ...) and its signature verified
// with the provider's JWKS.
//
//   node approve.mjs '{"issuer", "client_id", "redirect_uri", "scope", "authorization_details",
//                      "params", "auth_key" | "client_secret"}'
//
//   authorization_details  the JSON array to push (sent as its JSON text)
//   params                 more authorization request parameters (ui_locales, ...)
//   auth_key               private JWK (with kid and alg): private_key_jwt
//   client_secret          the client's secret: client_secret_basic
//
// stdio, one JSON object per line:
//   stdout {"authorize": url}  -> stdin: the callback URL the browser landed on
//   stdout {"result": {"token_response", "id_token", "claims", "id_token_header"}}  (exit 0)
//   stdout {"fatal": {...}}    (the library, or the provider through it, refused; exit 1)
import * as oauth from 'oauth4webapi';
import { decodeProtectedHeader, importJWK } from 'jose';
import { createInterface } from 'node:readline';

const c = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const insecure = { [oauth.allowInsecureRequests]: true }; // http on 127.0.0.1 only

async function callbackUrl() {
  const { value, done } = await lines.next();
  if (done) throw new Error('no callback URL on stdin');
  return new URL(value.trim());
}

async function clientAuth() {
  if (c.auth_key) {
    const key = await importJWK(c.auth_key, c.auth_key.alg);
    return oauth.PrivateKeyJwt({ key, kid: c.auth_key.kid });
  }
  return oauth.ClientSecretBasic(c.client_secret);
}

async function approve() {
  const issuer = new URL(c.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
  );
  const rp = { client_id: c.client_id };
  const auth = await clientAuth();

  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const params = new URLSearchParams({
    ...(c.params ?? {}),
    response_type: 'code',
    redirect_uri: c.redirect_uri,
    scope: c.scope,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    authorization_details: JSON.stringify(c.authorization_details),
  });
  // RFC 9126 §2: pushed with the client's authentication; the browser carries only client_id
  // and the request_uri.
  const response = await oauth.pushedAuthorizationRequest(as, rp, auth, params, insecure);
  const par = await oauth.processPushedAuthorizationResponse(as, rp, response);
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', c.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  send({ authorize: url.href });

  // state and iss (RFC 9207) of the callback; then the code with PKCE.
  const callback = oauth.validateAuthResponse(as, rp, await callbackUrl(), state);
  const tokenResponse = await oauth.authorizationCodeGrantRequest(
    as, rp, auth, callback, c.redirect_uri, verifier, insecure,
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, rp, tokenResponse, {
    expectedNonce: nonce,
    requireIdToken: true,
  });
  await oauth.validateApplicationLevelSignature(as, tokenResponse, insecure);
  return {
    // The whole token response as the library gave it (authorization_details included).
    token_response: tokens,
    id_token: tokens.id_token,
    claims: oauth.getValidatedIdTokenClaims(tokens),
    id_token_header: decodeProtectedHeader(tokens.id_token),
  };
}

try {
  send({ result: await approve() });
  process.exit(0);
} catch (err) {
  const fatal = {
    name: err?.name,
    code: err?.code,
    error: err?.error,
    error_description: err?.error_description,
    status: err?.status,
    message: String(err?.message ?? err),
  };
  // A WWW-Authenticate challenge (401) is thrown before the body is read: add its OAuth error.
  if (err?.code === oauth.WWW_AUTHENTICATE_CHALLENGE) {
    try {
      const body = await err.response.json();
      fatal.error ??= body.error;
      fatal.error_description ??= body.error_description;
    } catch {
      // no JSON body
    }
  }
  send({ fatal });
  process.exit(1);
}

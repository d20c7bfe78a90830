// The app in the Signature Extension browser test: a relying party that has the person sign
// data through an authentication request (OIDC Sweden Signature Extension 1.1) with
// oauth4webapi. The scope https://id.oidc.se/scope/sign and the signRequest parameter
// (tbs_data and the sign_message to show) travel in a signed request object (RFC 9101,
// `issueRequestObject`), pushed (RFC 9126) with private_key_jwt; then the code exchange with
// PKCE and private_key_jwt, the ID token checked by the library (iss, aud, exp, nonce, ...) and
// its signature verified with the provider's JWKS.
//
//   node sign_request.mjs '{"issuer", "client_id", "redirect_uri", "scope", "params",
//                           "auth_key", "signing_key"}'
//
//   params       the request's own parameters (prompt, ui_locales, the signRequest parameter
//                as a JSON object, ...); response_type, redirect_uri, scope, state, nonce and
//                PKCE are added here
//   auth_key     private JWK (with kid and alg) for private_key_jwt
//   signing_key  private JWK (with kid and alg) that signs the request object
//
// stdio, one JSON object per line:
//   stdout {"authorize": url, "pushed": {"jws"}}  -> stdin: the callback URL the browser landed on
//   stdout {"result": {"token_response", "id_token", "claims", "id_token_header"}}  (exit 0)
//   stdout {"fatal": {...}}    (the library, or the provider through it, refused; exit 1)
import * as oauth from 'oauth4webapi';
import { decodeProtectedHeader, importJWK } from 'jose';
import { createInterface } from 'node:readline';

const SIGN_REQUEST = 'https://id.oidc.se/param/signRequest';
const c = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const insecure = { [oauth.allowInsecureRequests]: true }; // http on 127.0.0.1 only

async function callbackUrl() {
  const { value, done } = await lines.next();
  if (done) throw new Error('no callback URL on stdin');
  return new URL(value.trim());
}

async function privateKey(jwk) {
  return { key: await importJWK(jwk, jwk.alg), kid: jwk.kid };
}

// URLSearchParams carries strings only: objects go in as JSON text here and are turned back
// into JSON objects inside the request object (modifyAssertion below).
function wireParams(params) {
  return Object.fromEntries(
    Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
}

async function sign() {
  const issuer = new URL(c.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
  );
  const rp = { client_id: c.client_id };
  const auth = oauth.PrivateKeyJwt(await privateKey(c.auth_key));

  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const params = new URLSearchParams({
    ...wireParams(c.params ?? {}),
    response_type: 'code',
    redirect_uri: c.redirect_uri,
    scope: c.scope,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  // iss = client_id, aud = the issuer, exp, iat, nbf, jti, typ oauth-authz-req+jwt. The
  // extension (§3.1) puts the signRequest into the request object as a JSON object.
  const request = await oauth.issueRequestObject(as, rp, params, await privateKey(c.signing_key), {
    [oauth.modifyAssertion]: (header, claims) => {
      if (typeof claims[SIGN_REQUEST] === 'string') {
        claims[SIGN_REQUEST] = JSON.parse(claims[SIGN_REQUEST]);
      }
    },
  });
  const pushed = { jws: decodeProtectedHeader(request) };
  // RFC 9126 §2: pushed with the client's authentication; the browser carries only client_id
  // and the request_uri.
  const response = await oauth.pushedAuthorizationRequest(as, rp, auth, { request }, insecure);
  const par = await oauth.processPushedAuthorizationResponse(as, rp, response);
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', c.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  send({ authorize: url.href, pushed });

  // state and iss (RFC 9207) of the callback; then the code with PKCE and private_key_jwt.
  const callback = oauth.validateAuthResponse(as, rp, await callbackUrl(), state);
  const tokenResponse = await oauth.authorizationCodeGrantRequest(
    as, rp, auth, callback, c.redirect_uri, verifier, insecure,
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, rp, tokenResponse, {
    expectedNonce: nonce,
    requireIdToken: true,
  });
  // The ID token's signature, with the provider's published keys.
  await oauth.validateApplicationLevelSignature(as, tokenResponse, insecure);
  return {
    token_response: tokens,
    id_token: tokens.id_token,
    claims: oauth.getValidatedIdTokenClaims(tokens),
    id_token_header: decodeProtectedHeader(tokens.id_token),
  };
}

try {
  send({ result: await sign() });
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

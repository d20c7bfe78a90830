// The app in the DPoP browser test (tests/bankid_web/test_dpop_browser.py): a relying party on
// oauth4webapi that binds its tokens to a key of its own (RFC 9449), as the library's docs
// describe it: one `oauth.DPoP(client, keyPair)` handle passed to every request, and each
// request retried once when `oauth.isDPoPNonceError` says the server wants its nonce (§8).
//
//   PAR (RFC 9126) with private_key_jwt and a DPoP proof (§10: the code is bound to the key)
//   -> the browser logs in -> the code exchanged with private_key_jwt, PKCE and a proof
//   -> the ID token checked (claims, nonce, signature with the provider's JWKS)
//   -> UserInfo with the DPoP-bound access token (`Authorization: DPoP`, a proof with `ath`)
//   -> a refresh with a proof -> UserInfo with the new access token.
//
//   node dpop_login.mjs '{"issuer", "client_id", "redirect_uri", "scope", "params", "auth_key",
//                         "dpop_alg"}'
//
//   auth_key   private JWK (with kid and alg) for private_key_jwt
//   dpop_alg   the DPoP key's algorithm (ES256 unless given); a fresh key pair every run
//
// Every request goes through the library's customFetch hook, which notes what went on the wire
// (endpoint, the proof's claims, the status and the error) for the test to see the nonce
// round trip.
//
// stdio, one JSON object per line:
//   stdout {"authorize": url, "pushed": {...}}  -> stdin: the callback URL the browser landed on
//   stdout {"result": {...}}    (claims, userinfo, tokens, the key's thumbprint, the wire; exit 0)
//   stdout {"fatal": {...}}     (the library, or the provider through it, refused; exit 1)
import * as oauth from 'oauth4webapi';
import { decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { createInterface } from 'node:readline';

const c = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

async function callbackUrl() {
  const { value, done } = await lines.next();
  if (done) throw new Error('no callback URL on stdin');
  return new URL(value.trim());
}

// What went on the wire, request by request.
const wire = [];

async function recordingFetch(url, options) {
  const headers = new Headers(options?.headers);
  const proof = headers.get('dpop');
  const entry = {
    endpoint: new URL(url).pathname,
    method: options?.method ?? 'GET',
    authorization_scheme: headers.get('authorization')?.split(' ')[0] ?? null,
    proof: proof ? { header: decodeProtectedHeader(proof), claims: decodeJwt(proof) } : null,
  };
  if (entry.proof) delete entry.proof.header.jwk; // the public key: the thumbprint says it all
  const response = await fetch(url, options);
  entry.status = response.status;
  entry.dpop_nonce = response.headers.get('dpop-nonce');
  entry.www_authenticate = response.headers.get('www-authenticate');
  if (!response.ok) {
    try {
      entry.error = (await response.clone().json()).error;
    } catch {
      // no JSON body (a 401 with a WWW-Authenticate challenge only)
    }
  }
  wire.push(entry);
  return response;
}

const options = (DPoP) => ({
  DPoP,
  [oauth.allowInsecureRequests]: true, // http on 127.0.0.1 only
  [oauth.customFetch]: recordingFetch,
});

// The library's documented pattern: process the response; when the error is the server's
// request for a nonce (a 400 use_dpop_nonce body at the authorization server, a 401 DPoP
// challenge at a resource), make the request once more: the handle has cached the
// DPoP-Nonce header of the refusal and puts it in the new proof.
const retries = {};
async function withNonceRetry(name, request, process) {
  try {
    return await process(await request());
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    retries[name] = (retries[name] ?? 0) + 1;
    return await process(await request());
  }
}

async function run() {
  const issuer = new URL(c.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options() }),
  );
  const alg = c.dpop_alg ?? 'ES256';
  if (!as.dpop_signing_alg_values_supported?.includes(alg)) {
    throw new Error(`the provider does not advertise DPoP with ${alg}`);
  }
  const rp = { client_id: c.client_id };
  const auth = oauth.PrivateKeyJwt({
    key: await importJWK(c.auth_key, c.auth_key.alg),
    kid: c.auth_key.kid,
  });
  const keyPair = await oauth.generateKeyPair(alg);
  const DPoP = oauth.DPoP(rp, keyPair);

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
  });
  // RFC 9449 §10.1: a proof at the PAR endpoint binds the authorization code to the key.
  const par = await withNonceRetry(
    'par',
    () => oauth.pushedAuthorizationRequest(as, rp, auth, params, options(DPoP)),
    (response) => oauth.processPushedAuthorizationResponse(as, rp, response),
  );
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', c.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  send({ authorize: url.href, pushed: { expires_in: par.expires_in } });

  const callback = oauth.validateAuthResponse(as, rp, await callbackUrl(), state);
  let tokenResponse;
  const tokens = await withNonceRetry(
    'token',
    async () => {
      tokenResponse = await oauth.authorizationCodeGrantRequest(
        as, rp, auth, callback, c.redirect_uri, verifier, options(DPoP),
      );
      return tokenResponse;
    },
    (response) => oauth.processAuthorizationCodeResponse(as, rp, response, {
      expectedNonce: nonce,
      requireIdToken: true,
    }),
  );
  await oauth.validateApplicationLevelSignature(as, tokenResponse, options());
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  const userinfo = await withNonceRetry(
    'userinfo',
    () => oauth.userInfoRequest(as, rp, tokens.access_token, options(DPoP)),
    (response) => oauth.processUserInfoResponse(as, rp, claims.sub, response),
  );

  const refreshed = await withNonceRetry(
    'refresh',
    () => oauth.refreshTokenGrantRequest(as, rp, auth, tokens.refresh_token, options(DPoP)),
    (response) => oauth.processRefreshTokenResponse(as, rp, response),
  );
  const userinfoAfterRefresh = await withNonceRetry(
    'userinfo_after_refresh',
    () => oauth.userInfoRequest(as, rp, refreshed.access_token, options(DPoP)),
    (response) => oauth.processUserInfoResponse(as, rp, claims.sub, response),
  );
  return {
    claims,
    id_token_header: decodeProtectedHeader(tokens.id_token),
    userinfo,
    userinfo_after_refresh: userinfoAfterRefresh,
    token_type: tokens.token_type,
    refreshed_token_type: refreshed.token_type,
    access_token: tokens.access_token,
    refreshed_access_token: refreshed.access_token,
    refresh_token_rotated: Boolean(refreshed.refresh_token)
      && refreshed.refresh_token !== tokens.refresh_token,
    jkt: await DPoP.calculateThumbprint(),
    nonce_retries: retries,
    wire,
  };
}

try {
  send({ result: await run() });
  process.exit(0);
} catch (err) {
  const fatal = {
    name: err?.name,
    code: err?.code,
    error: err?.error,
    error_description: err?.error_description,
    status: err?.status,
    message: String(err?.message ?? err),
    wire,
  };
  if (err?.code === oauth.WWW_AUTHENTICATE_CHALLENGE) fatal.challenges = err.cause;
  send({ fatal });
  process.exit(1);
}

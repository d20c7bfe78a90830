// The app in the BankID PAR browser tests: a relying party that pushes its authorization request
// (RFC 9126) before sending the browser, built on one of two independent libraries:
//
//   "oauth4webapi": a signed request object (RFC 9101, `issueRequestObject`), optionally
//     encrypted to the provider's `use: enc` key from its JWKS (jose `CompactEncrypt`,
//     RSA-OAEP), pushed with private_key_jwt client authentication; then the code exchange with
//     PKCE and private_key_jwt, the ID token checked (claims, nonce) and its signature verified
//     with the provider's JWKS, and UserInfo.
//   "openid-client": `buildAuthorizationUrlWithPAR` with client_secret_basic, then the code
//     grant as in login.mjs.
//
//   node par_login.mjs '{"library", "issuer", "client_id", "redirect_uri", "scope", "params",
//                        "client_secret" | "auth_key", "signing_key", "encrypt", "encryption_key"}'
//
//   params          the authorization request's own parameters (acr_values, ui_locales,
//                   login_hint, claims, the userMessage parameter as a JSON object, ...);
//                   response_type, redirect_uri, scope, state, nonce and PKCE are added here
//   auth_key        private JWK (with kid) for private_key_jwt (oauth4webapi)
//   signing_key     private JWK (with kid and alg) that signs the request object (oauth4webapi)
//   encrypt         {"enc": "A256GCM" | "A128GCM"}: encrypt the request object (oauth4webapi)
//   encryption_key  public JWK to encrypt to instead of the provider's (a test of refusal)
//   tamper_id_token_signature  change the ID token's signature on its way (a test of refusal)
//
// stdio, one JSON object per line:
//   stdout {"authorize": url, "pushed": {...}}  -> stdin: the callback URL the browser landed on
//   stdout {"result": {...}}    (claims of the validated ID token, userinfo; exit 0)
//   stdout {"fatal": {...}}     (the library, or the provider through it, refused; exit 1)
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { CompactEncrypt, decodeProtectedHeader, importJWK } from 'jose';
import { createInterface } from 'node:readline';

const USER_MESSAGE = 'https://id.oidc.se/param/userMessage';
const c = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

async function callbackUrl() {
  const { value, done } = await lines.next();
  if (done) throw new Error('no callback URL on stdin');
  return new URL(value.trim());
}

// Members the request needs as strings on the wire (a form, or URLSearchParams); objects are
// sent as JSON text, as the query-string form of a parameter would carry them.
function wireParams(params) {
  return Object.fromEntries(
    Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
}

// A test of the RP's own checks: with "tamper_id_token_signature" the token endpoint's answer
// reaches the library with one byte of the ID token's signature changed (the library's
// customFetch hook plays a meddler on the way).
function tampering(as) {
  if (!c.tamper_id_token_signature) return {};
  return {
    [oauth.customFetch]: async (url, options) => {
      const response = await fetch(url, options);
      if (url !== as.token_endpoint || !response.ok) return response;
      const body = await response.json();
      const [header, payload, signature] = body.id_token.split('.');
      const changed = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
      body.id_token = `${header}.${payload}.${changed}`;
      return new Response(JSON.stringify(body), {
        status: response.status,
        headers: { 'content-type': 'application/json' },
      });
    },
  };
}

async function withOauth4webapi() {
  const insecure = { [oauth.allowInsecureRequests]: true }; // http on 127.0.0.1 only
  const issuer = new URL(c.issuer);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
  );
  const rp = { client_id: c.client_id };
  const authKey = { key: await importJWK(c.auth_key, c.auth_key.alg), kid: c.auth_key.kid };
  const auth = oauth.PrivateKeyJwt(authKey);
  const signingKey = {
    key: await importJWK(c.signing_key, c.signing_key.alg),
    kid: c.signing_key.kid,
  };

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
  // iss = client_id, aud = the issuer, exp (60 s), iat, nbf, a fresh jti, typ
  // oauth-authz-req+jwt. The userMessage parameter goes in as the JSON object the Swedish
  // profile describes for request objects (the library only knows `claims` and friends).
  let request = await oauth.issueRequestObject(as, rp, params, signingKey, {
    [oauth.modifyAssertion]: (header, claims) => {
      if (typeof claims[USER_MESSAGE] === 'string') {
        claims[USER_MESSAGE] = JSON.parse(claims[USER_MESSAGE]);
      }
    },
  });
  const pushed = { jws: decodeProtectedHeader(request) };
  if (c.encrypt) {
    let target = c.encryption_key;
    if (!target) {
      const jwks = await (await fetch(as.jwks_uri)).json();
      target = jwks.keys.find((k) => k.use === 'enc' && k.kty === 'RSA');
      if (!target) throw new Error(`no RSA encryption key at ${as.jwks_uri}`);
    }
    const publicKey = await importJWK(target, 'RSA-OAEP');
    request = await new CompactEncrypt(new TextEncoder().encode(request))
      .setProtectedHeader({ alg: 'RSA-OAEP', enc: c.encrypt.enc, cty: 'JWT', kid: target.kid })
      .encrypt(publicKey);
    pushed.jwe = decodeProtectedHeader(request);
  }
  // RFC 9126 §2: the request object is pushed with the client's authentication; the browser
  // carries only client_id and the request_uri.
  const response = await oauth.pushedAuthorizationRequest(as, rp, auth, { request }, insecure);
  const par = await oauth.processPushedAuthorizationResponse(as, rp, response);
  pushed.expires_in = par.expires_in;
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', c.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  send({ authorize: url.href, pushed });

  // state and iss (RFC 9207) of the callback; then the code with PKCE and private_key_jwt.
  const callback = oauth.validateAuthResponse(as, rp, await callbackUrl(), state);
  const tokenResponse = await oauth.authorizationCodeGrantRequest(
    as, rp, auth, callback, c.redirect_uri, verifier, { ...insecure, ...tampering(as) },
  );
  // The ID token: iss, aud, exp, iat, nonce, azp, the alg the client expects ...
  const tokens = await oauth.processAuthorizationCodeResponse(as, rp, tokenResponse, {
    expectedNonce: nonce,
    requireIdToken: true,
  });
  // ... and its signature, with the provider's published keys.
  await oauth.validateApplicationLevelSignature(as, tokenResponse, insecure);
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  const userinfo = await oauth.processUserInfoResponse(
    as, rp, claims.sub,
    await oauth.userInfoRequest(as, rp, tokens.access_token, insecure),
  );
  return { claims, userinfo, id_token_header: decodeProtectedHeader(tokens.id_token) };
}

async function withOpenidClient() {
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
  // Pushes the parameters to pushed_authorization_request_endpoint (authenticated with the
  // client secret) and answers the URL with client_id and request_uri only.
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    ...wireParams(c.params ?? {}),
    redirect_uri: c.redirect_uri,
    scope: c.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  send({ authorize: url.href, pushed: {} });
  const tokens = await client.authorizationCodeGrant(config, await callbackUrl(), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  return { claims, userinfo };
}

try {
  const result = c.library === 'openid-client' ? await withOpenidClient() : await withOauth4webapi();
  send({ result });
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
  if (err?.cause instanceof Error) {
    // openid-client wraps what oauth4webapi threw: keep the reason.
    fatal.cause = { name: err.cause.name, code: err.cause.code, message: err.cause.message };
  }
  // A WWW-Authenticate challenge (401) is thrown before the body is read: add the body's
  // OAuth error, and the challenges, for the test to see why.
  if (err?.code === oauth.WWW_AUTHENTICATE_CHALLENGE) {
    fatal.challenges = err.cause;
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

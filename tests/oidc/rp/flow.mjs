// A relying party built on openid-client v6 (certified by the OpenID Foundation), driven by
// tests/oidc/test_openid_client.py. It plays the client; the Python test plays the browser.
//
//   node flow.mjs '<json config>'
//
// Protocol on stdio, one JSON object per line:
//   stdout {"authorize": url, "client_id": id}  -> stdin: the callback URL the browser reached
//   stdout {"logout": url, "client_id": id}     -> stdin: where the end-session request led
//   stdout {"result": {...}}                    (last line; exit 0)
//   stdout {"fatal": {...}}                     (an unexpected error; exit 1)
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const config = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function ask(message) {
  send(message);
  const { value, done } = await lines.next();
  if (done) throw new Error('the browser side closed stdin');
  return value.trim();
}

function describe(err) {
  return {
    name: err?.name,
    code: err?.code,
    error: err?.error,
    status: err?.status,
    message: String(err?.message ?? err),
    cause: err?.cause?.message ?? null,
  };
}

// Runs fn and reports whether the library (or the server through it) refused.
async function outcome(fn) {
  try {
    const value = await fn();
    return { rejected: false, value: value ?? null };
  } catch (err) {
    return { rejected: true, ...describe(err) };
  }
}

async function configure(c) {
  const insecure = { execute: [client.allowInsecureRequests] };
  if (c.auth === 'none') {
    return client.discovery(
      new URL(config.issuer),
      c.client_id,
      { token_endpoint_auth_method: 'none' },
      client.None(),
      insecure,
    );
  }
  return client.discovery(
    new URL(config.issuer),
    c.client_id,
    { client_secret: c.client_secret },
    client.ClientSecretBasic(c.client_secret),
    insecure,
  );
}

async function run(c) {
  const out = { client_id: c.client_id };
  const cfg = await configure(c);
  const meta = cfg.serverMetadata();
  out.discovery = {
    issuer: meta.issuer,
    code_challenge_methods_supported: meta.code_challenge_methods_supported,
    authorization_response_iss_parameter_supported:
      meta.authorization_response_iss_parameter_supported,
    end_session_endpoint: meta.end_session_endpoint,
  };

  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: c.redirect_uri,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  out.authorization_url = url.href;
  const callback = new URL(await ask({ authorize: url.href, client_id: c.client_id }));
  out.callback = callback.href;
  const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce };

  if (c.negatives) {
    // Each of these must be refused by the library before the code is sent anywhere.
    const noIss = new URL(callback);
    noIss.searchParams.delete('iss');
    const badIss = new URL(callback);
    badIss.searchParams.set('iss', 'https://attacker.example');
    out.negatives = {
      wrong_state: await outcome(() =>
        client.authorizationCodeGrant(cfg, callback, {
          ...checks,
          expectedState: client.randomState(),
        }),
      ),
      missing_iss: await outcome(() => client.authorizationCodeGrant(cfg, noIss, checks)),
      wrong_iss: await outcome(() => client.authorizationCodeGrant(cfg, badIss, checks)),
    };
  }

  const tokens = await client.authorizationCodeGrant(cfg, callback, {
    ...checks,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  out.token = {
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expires_in,
    has_refresh_token: Boolean(tokens.refresh_token),
    id_token_claims: claims,
  };
  out.userinfo = await client.fetchUserInfo(cfg, tokens.access_token, claims.sub);
  out.userinfo_wrong_subject = await outcome(() =>
    client.fetchUserInfo(cfg, tokens.access_token, 'somebody-else'),
  );

  const refreshed = await client.refreshTokenGrant(cfg, tokens.refresh_token);
  out.refresh = {
    rotated: refreshed.refresh_token !== tokens.refresh_token,
    new_access_token: refreshed.access_token !== tokens.access_token,
    sub: refreshed.claims()?.sub ?? null,
  };

  if (c.auth !== 'none') {
    out.introspection = await outcome(() =>
      client.tokenIntrospection(cfg, refreshed.access_token),
    );
    out.revocation = await outcome(() => client.tokenRevocation(cfg, refreshed.access_token));
    out.introspection_after_revocation = await outcome(() =>
      client.tokenIntrospection(cfg, refreshed.access_token),
    );
  }
  // Rotation: the old refresh token is refused, and its reuse kills the newest one too.
  out.old_refresh_token_reuse = await outcome(() =>
    client.refreshTokenGrant(cfg, tokens.refresh_token),
  );
  out.newest_refresh_token_after_reuse = await outcome(() =>
    client.refreshTokenGrant(cfg, refreshed.refresh_token),
  );

  if (c.post_logout_redirect_uri) {
    const logoutState = client.randomState();
    const endSession = client.buildEndSessionUrl(cfg, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: c.post_logout_redirect_uri,
      state: logoutState,
    });
    const landed = await ask({ logout: endSession.href, client_id: c.client_id });
    out.logout = { url: endSession.href, landed, state: logoutState };
  }
  return out;
}

try {
  const results = [];
  for (const c of config.clients) {
    results.push(await run(c));
  }
  send({ result: results });
  process.exit(0);
} catch (err) {
  send({ fatal: { ...describe(err), stack: err?.stack } });
  process.exit(1);
}

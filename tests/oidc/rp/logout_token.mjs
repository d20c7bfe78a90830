// A back-channel logout receiver's checks (OpenID Connect Back-Channel Logout 1.0 §2.6), made
// with npm `jose`, a JOSE library the provider does not use: the test of two instances
// (tests/oidc/test_backchannel_logout_two_instances.py) hands it what each client received.
//
//   node logout_token.mjs '{"jwks", "issuer", "now", "tokens": [{"token", "audience", "sub",
//                           "sid"}]}'
//
//   jwks    the provider's /jwks document
//   now     the provider's clock (seconds): iat and exp are judged at that time
//
// stdout, one JSON object: {"results": [{"claims": {...}, "header": {...}} or {"error": "..."}]}
// in the order of `tokens`; exit 0 (a refused token is a result, not a failure of the script).
import { createLocalJWKSet, jwtVerify } from 'jose';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const c = JSON.parse(process.argv[2]);
const keys = createLocalJWKSet(c.jwks);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function verify({ token, audience, sub, sid }) {
  // §2.6 steps 3-5: the signature with the OP's published key (the alg the header names,
  // never "none"), `iss`, `aud`, and `iat`/`exp` as of now; explicit typing (§2.4).
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer: c.issuer,
    audience,
    typ: 'logout+jwt',
    currentDate: new Date(c.now * 1000),
    requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti'],
    algorithms: ['RS256', 'PS256', 'ES256'],
  });
  check(payload.exp - payload.iat > 0 && payload.exp - payload.iat <= 120, 'exp too far');
  check(typeof payload.jti === 'string' && payload.jti.length > 0, 'no jti');
  // §2.6 step 6: "Verify that the Logout Token contains a sub Claim, a sid Claim, or both."
  check(typeof payload.sub === 'string' || typeof payload.sid === 'string', 'no sub nor sid');
  if (sub !== undefined) check(payload.sub === sub, 'another sub');
  if (sid !== undefined) check(payload.sid === sid, 'another sid');
  // §2.6 step 7: an events Claim with the back-channel logout member, a JSON object.
  const events = payload.events;
  check(events && typeof events === 'object' && !Array.isArray(events), 'no events object');
  check(JSON.stringify(events[EVENT]) === '{}', 'no back-channel logout event');
  // §2.6 step 8: "Verify that the Logout Token does not contain a nonce Claim."
  check(!('nonce' in payload), 'a nonce');
  return { claims: payload, header: protectedHeader };
}

const results = [];
for (const item of c.tokens) {
  try {
    results.push(await verify(item));
  } catch (err) {
    results.push({ error: `${err?.code ?? err?.name}: ${err?.message ?? err}` });
  }
}
process.stdout.write(`${JSON.stringify({ results })}\n`);

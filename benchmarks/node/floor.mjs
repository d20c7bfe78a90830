// The floor of the token endpoint on node, for benchmarks/floor.py: node:http and one route,
// POST /token, doing only the work a token request cannot avoid, signed with `jose` as
// node-oidc-provider signs (CompactSign with a private JWK). benchmarks/floor.py starts it.
//
//   KEY_FILE=key.pem KID=k1 PORT=8001 node floor.mjs          # the server
//   KEY_FILE=key.pem KID=k1 node floor.mjs micro 1.0           # sign cost per call (JSON)
//
// Environment:
//   PORT          where to listen (127.0.0.1)
//   KEY_FILE      the RSA private key (PKCS#8 PEM) both floors sign with; KID its kid
//   CLIENT_ID, CLIENT_SECRET  the one client (client_secret_basic)
//   REDIS_URL, REDIS_PREFIX   for /token/redis (ioredis; every key under the prefix)
//
// Routes: POST /token and /token/redis (the grant in the form: client_credentials,
// authorization_code, refresh_token; codes and refresh tokens in a Map or in Redis: one GETDEL
// and one SET per request), POST /mint/memory|redis (kind=code|refresh, n, challenge,
// redirect_uri: makes codes or refresh tokens before a phase, never timed).

import {
  createHash,
  createPrivateKey,
  randomBytes,
  sign as rsaSign,
  timingSafeEqual,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import { CompactSign } from 'jose';

const PORT = Number(process.env.PORT || 8001);
const ISSUER = `http://127.0.0.1:${PORT}`;
const KID = process.env.KID || 'floor';
const CLIENT_ID = process.env.CLIENT_ID || 'bench';
const SECRET_DIGEST = createHash('sha256')
  .update(process.env.CLIENT_SECRET || 'benchmark-client-secret-0123456789')
  .digest();
const KEY = createPrivateKey(readFileSync(process.env.KEY_FILE));
// node-oidc-provider keeps its keys as private JWKs and hands them to jose (which imports
// each once and caches the result): the floor does the same.
const JWK = { ...KEY.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
const ACCESS_TTL = 600;
const REFRESH_TTL = 8 * 3600;
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

const now = () => Math.floor(Date.now() / 1000);
const b64url = (buf) => buf.toString('base64url');
const sha256 = (text) => createHash('sha256').update(text).digest();
const newId = (n) => b64url(randomBytes(n));

function signJwt(payload, typ) {
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'RS256', typ, kid: KID })
    .sign(JWK);
}

// ------------------------------------------------------------------ micro: sign cost

async function micro(seconds) {
  const claims = {
    iss: ISSUER, sub: 'client', aud: ISSUER, client_id: CLIENT_ID, scope: 'api',
    iat: now(), exp: now() + ACCESS_TTL, jti: newId(16),
  };
  const data = Buffer.from('eyJhbGciOiJSUzI1NiJ9.' + b64url(Buffer.from(JSON.stringify(claims))));
  const measure = async (fn) => {
    for (let i = 0; i < 50; i += 1) await fn(); // warm-up (jose imports the JWK once)
    const start = process.cpuUsage();
    let n = 0;
    let used = 0;
    while (used < seconds * 1e6) {
      for (let i = 0; i < 20; i += 1) await fn();
      n += 20;
      const d = process.cpuUsage(start);
      used = d.user + d.system;
    }
    return { ms: used / 1000 / n, n };
  };
  const jwt = await measure(() => signJwt({ ...claims, jti: newId(16) }, 'at+jwt'));
  const bare = await measure(() => rsaSign('sha256', data, KEY));
  console.log(JSON.stringify({ jwt, bare }));
}

// ------------------------------------------------------------------ stores

async function redisStore() {
  const { default: Redis } = await import('ioredis');
  const client = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379/0', {
    keyPrefix: process.env.REDIS_PREFIX || 'floor-node:',
  });
  return {
    async take(key) {
      const raw = await client.getdel(key);
      return raw === null ? undefined : JSON.parse(raw);
    },
    async put(key, value, ttl) {
      await client.set(key, JSON.stringify(value), 'EX', ttl);
    },
    async putMany(entries, ttl) {
      const pipe = client.pipeline();
      for (const [key, value] of entries) pipe.set(key, JSON.stringify(value), 'EX', ttl);
      await pipe.exec();
    },
  };
}

function memoryStore() {
  const map = new Map();
  return {
    async take(key) {
      const value = map.get(key);
      map.delete(key);
      return value;
    },
    async put(key, value) {
      map.set(key, value);
    },
    async putMany(entries) {
      for (const [key, value] of entries) map.set(key, value);
    },
  };
}

// ------------------------------------------------------------------ the token endpoint

function authenticated(header) {
  if (!header || !header.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString();
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const form = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
  const id = form(decoded.slice(0, colon));
  const digest = sha256(form(decoded.slice(colon + 1)));
  return id === CLIENT_ID && timingSafeEqual(digest, SECRET_DIGEST);
}

function accessClaims(sub, scope, extra) {
  const iat = now();
  return {
    iss: ISSUER, sub, aud: ISSUER, exp: iat + ACCESS_TTL, iat, jti: newId(16),
    client_id: CLIENT_ID, scope, ...extra,
  };
}

async function tokens(grant, store, nonce) {
  const accessToken = await signJwt(
    accessClaims(grant.sub, grant.scope, {
      gid: grant.gid, auth_time: grant.auth_time, acr: grant.acr, amr: grant.amr,
    }),
    'at+jwt',
  );
  const iat = now();
  const idClaims = {
    iss: ISSUER, sub: grant.sub, aud: CLIENT_ID, exp: iat + 300, iat,
    auth_time: grant.auth_time, acr: grant.acr, amr: grant.amr, sid: grant.sid,
    at_hash: b64url(sha256(accessToken).subarray(0, 16)),
  };
  if (nonce) idClaims.nonce = nonce;
  const idToken = await signJwt(idClaims, 'JWT');
  const refreshToken = newId(32);
  await store.put(`rt:${b64url(sha256(refreshToken))}`, grant, REFRESH_TTL);
  return {
    access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TTL,
    scope: grant.scope, id_token: idToken, refresh_token: refreshToken,
  };
}

async function token(form, store) {
  const grantType = form.get('grant_type');
  if (grantType === 'client_credentials') {
    const scope = form.get('scope') || 'api';
    const accessToken = await signJwt(accessClaims(CLIENT_ID, scope, {}), 'at+jwt');
    return { access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TTL, scope };
  }
  if (grantType === 'authorization_code') {
    const code = await store.take(`code:${form.get('code') || ''}`);
    if (!code || code.client_id !== CLIENT_ID || code.redirect_uri !== form.get('redirect_uri')) {
      return undefined;
    }
    const challenge = Buffer.from(b64url(sha256(form.get('code_verifier') || '')));
    const expected = Buffer.from(code.challenge);
    if (challenge.length !== expected.length || !timingSafeEqual(challenge, expected)) {
      return undefined;
    }
    return tokens(code.grant, store, code.nonce);
  }
  if (grantType === 'refresh_token') {
    const grant = await store.take(`rt:${b64url(sha256(form.get('refresh_token') || ''))}`);
    if (!grant || grant.client_id !== CLIENT_ID) return undefined;
    return tokens(grant, store);
  }
  return undefined;
}

function grantRecord() {
  return {
    client_id: CLIENT_ID, sub: newId(16), scope: 'openid profile', gid: newId(16),
    auth_time: now(), acr: 'urn:bench:loa3', amr: ['bankid'], sid: newId(16),
  };
}

async function mint(form, store) {
  const n = Number(form.get('n') || 1);
  const out = [];
  const entries = [];
  for (let i = 0; i < n; i += 1) {
    const value = newId(32);
    out.push(value);
    if (form.get('kind') === 'code') {
      entries.push([`code:${value}`, {
        client_id: CLIENT_ID, redirect_uri: form.get('redirect_uri'),
        challenge: form.get('challenge'), nonce: newId(8), grant: grantRecord(),
      }]);
    } else {
      entries.push([`rt:${b64url(sha256(value))}`, grantRecord()]);
    }
  }
  await store.putMany(entries, REFRESH_TTL);
  return out;
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function serve() {
  const stores = { memory: memoryStore() };
  if (process.env.REDIS_URL) stores.redis = await redisStore();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      try {
        const [, route, name = 'memory'] = req.url.split('/');
        const store = stores[name];
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        if (req.method !== 'POST' || !store) {
          send(res, 404, { error: 'not_found' });
        } else if (route === 'mint') {
          send(res, 200, await mint(form, store));
        } else if (route !== 'token') {
          send(res, 404, { error: 'not_found' });
        } else if (!authenticated(req.headers.authorization)) {
          send(res, 401, { error: 'invalid_client' }, NO_STORE);
        } else {
          const body = await token(form, store);
          if (body) send(res, 200, body, NO_STORE);
          else send(res, 400, { error: 'invalid_grant' }, NO_STORE);
        }
      } catch (err) {
        console.error(err);
        send(res, 500, { error: 'server_error' });
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(PORT, '127.0.0.1', () => console.log(`floor listening on ${ISSUER}`));
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[2] === 'micro') await micro(Number(process.argv[3] || 1));
else await serve();

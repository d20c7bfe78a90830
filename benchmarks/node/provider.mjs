// node-oidc-provider configured for the same work as idp, for benchmarks/compare.py.
//
//   PORT=8001 NODE_ENV=production node provider.mjs
//
// Environment:
//   PORT          where to listen (127.0.0.1); the issuer is http://127.0.0.1:PORT
//   ADAPTER       memory (default: the provider's in-memory adapter) | redis
//   REDIS_URL     for ADAPTER=redis (default redis://127.0.0.1:6379/0)
//   REDIS_PREFIX  prefix of every key this process writes (default "oidc-bench:")
//   WORKERS       number of worker processes (node:cluster; default 1 = no cluster); more
//                 than one needs ADAPTER=redis
//   CLIENT_SECRET the benchmark client's secret
//
// One confidential client ("bench", client_secret_basic) may use authorization_code (PKCE S256
// required), refresh_token (rotated on every use) and client_credentials. Access tokens are
// RS256 JWTs for the resource "urn:bench:api" (resource indicators), as idp issues them.
// A browser logs in once through GET /interaction/<uid> (no UI: the account is "bench-user");
// after that, /auth answers with a code without interaction (see loadExistingGrant).
//
// ADAPTER=memory is node-oidc-provider's own MemoryAdapter, but its store (an LRU of two
// generations of 1000 entries) is replaced by one of 10^6 per generation: a phase mints
// thousands of codes beforehand, and the small one would evict them before they are used.

import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 8001);
const WORKERS = Number(process.env.WORKERS || 1);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = 'urn:bench:api';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'benchmark-client-secret-0123456789';
const ACCOUNT = 'bench-user';

// Every worker must sign with the same key and read the same cookies: the primary makes them
// and hands them down through the environment.
if (!process.env.BENCH_JWK) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  process.env.BENCH_JWK = JSON.stringify({
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(8).toString('hex'),
    use: 'sig',
    alg: 'RS256',
  });
  process.env.BENCH_COOKIE_KEY = randomBytes(32).toString('hex');
}

if (WORKERS > 1 && process.env.ADAPTER !== 'redis') {
  // Each worker's memory is its own: a code minted by one is unknown to the others.
  console.error('WORKERS > 1 needs ADAPTER=redis');
  process.exit(2);
}

if (WORKERS > 1 && cluster.isPrimary) {
  let shuttingDown = false;
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (!shuttingDown) {
      console.error(`worker ${worker.process.pid} exited (${signal || code})`);
      process.exit(1);
    }
  });
  const stop = () => {
    shuttingDown = true;
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} else {
  await serve();
}

// ------------------------------------------------------------------ Redis adapter (ioredis)

async function redisAdapter() {
  const { default: Redis } = await import('ioredis');
  const client = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379/0', {
    keyPrefix: process.env.REDIS_PREFIX || 'oidc-bench:',
    enableAutoPipelining: true,
  });

  // Each model instance is a hash: "payload" (JSON) and, once used, "consumed" (epoch
  // seconds). Secondary indexes: grant:<grantId> (a set of keys to drop with the grant),
  // uid:<uid> and usercode:<code> (the key they name).
  return class RedisAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const multi = client.multi();
      multi.del(key);
      multi.hset(key, 'payload', JSON.stringify(payload));
      if (expiresIn) multi.expire(key, expiresIn);
      if (payload.grantId) {
        const grantKey = `grant:${payload.grantId}`;
        multi.sadd(grantKey, key);
        if (expiresIn) multi.expire(grantKey, expiresIn, 'GT');
        if (expiresIn) multi.expire(grantKey, expiresIn, 'NX');
      }
      if (payload.uid) {
        multi.set(`uid:${payload.uid}`, id);
        if (expiresIn) multi.expire(`uid:${payload.uid}`, expiresIn);
      }
      if (payload.userCode) {
        multi.set(`usercode:${payload.userCode}`, id);
        if (expiresIn) multi.expire(`usercode:${payload.userCode}`, expiresIn);
      }
      await multi.exec();
    }

    async find(id) {
      const entry = await client.hgetall(this.key(id));
      if (!entry || !entry.payload) return undefined;
      const payload = JSON.parse(entry.payload);
      if (entry.consumed) payload.consumed = Number(entry.consumed);
      return payload;
    }

    async findByUid(uid) {
      const id = await client.get(`uid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode) {
      const id = await client.get(`usercode:${userCode}`);
      return id ? this.find(id) : undefined;
    }

    async consume(id) {
      await client.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
    }

    async destroy(id) {
      await client.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const grantKey = `grant:${grantId}`;
      const keys = await client.smembers(grantKey);
      // smembers returns the stored (unprefixed) names; del adds the prefix again.
      await client.del(...keys, grantKey);
    }
  };
}

// ------------------------------------------------------------------ provider

async function memoryAdapter() {
  try {
    const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
    const { default: LRU } = await import('oidc-provider/lib/helpers/lru.js');
    const store = new LRU({ maxSize: 1_000_000 });
    return (model) => new MemoryAdapter(model, store);
  } catch (err) {
    console.error(`cannot enlarge the MemoryAdapter's store (${err}); codes may be evicted`);
    return undefined; // the default adapter, as it is
  }
}

async function serve() {
  const adapter = process.env.ADAPTER === 'redis' ? await redisAdapter() : await memoryAdapter();
  const jwk = JSON.parse(process.env.BENCH_JWK);

  const configuration = {
    ...(adapter ? { adapter } : {}),
    clients: [
      {
        client_id: 'bench',
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: [`${ISSUER}/cb`],
        scope: 'openid profile api',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [process.env.BENCH_COOKIE_KEY] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'birthdate'],
    },
    scopes: ['openid', 'profile', 'api'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'api',
            audience: RESOURCE,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 600,
      ClientCredentials: 600,
      IdToken: 600,
      RefreshToken: 8 * 3600,
      Grant: 8 * 3600,
      Session: 3600,
      Interaction: 600,
    },
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({
        sub,
        name: 'Anna Andersson',
        given_name: 'Anna',
        family_name: 'Andersson',
        birthdate: '1985-01-01',
      }),
    }),
    // A logged-in browser is never asked for consent: every authorization request gets a
    // grant of its own covering the client's scopes (as idp makes one per code). Codes and
    // tokens are not bound to the browser session (by default they are, to the session's
    // latest grant only, which would invalidate every code minted before the last one).
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile');
      grant.addResourceScope(RESOURCE, 'api');
      await grant.save();
      return grant;
    },
    expiresWithSession: async () => false,
  };

  const provider = new Provider(ISSUER, configuration);
  provider.proxy = false;
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  if (process.env.BENCH_DEBUG) {
    provider.on('grant.error', (ctx, err) => console.error('grant.error', err.error_detail));
  }

  const handler = provider.callback();
  const server = http.createServer(async (req, res) => {
    // The login page: whoever opens it is logged in as ACCOUNT.
    if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
      try {
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: ACCOUNT } },
          { mergeWithLastSubmission: false },
        );
      } catch (err) {
        res.statusCode = 400;
        res.end(String(err));
      }
      return;
    }
    handler(req, res);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(PORT, '127.0.0.1', () => {
    console.log(`listening on ${ISSUER} (pid ${process.pid})`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

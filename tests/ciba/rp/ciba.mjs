// A customer-service application built on openid-client v6 (certified by the OpenID
// Foundation), driven by tests/ciba/test_openid_client.py: CIBA in poll mode.
//
//   node ciba.mjs '<json config>'   config: {issuer, client_id, client_secret, scope,
//                                            login_hint, binding_message}
//
// Protocol on stdio, one JSON object per line:
//   stdout {"ack": {auth_req_id, expires_in, interval}}  -> stdin: "approved" once the person
//                                                           confirmed in the BankID app
//   stdout {"result": {...}}                             (last line; exit 0)
//   stdout {"fatal": {...}}                              (an unexpected error; exit 1)
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const config = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

try {
  const server = await client.discovery(
    new URL(config.issuer),
    config.client_id,
    undefined,
    client.ClientSecretBasic(config.client_secret),
    { execute: [client.allowInsecureRequests] },
  );
  const ack = await client.initiateBackchannelAuthentication(server, {
    scope: config.scope,
    login_hint: config.login_hint,
    binding_message: config.binding_message,
  });
  send({ ack });
  const { done } = await lines.next();  // the person acts in their app meanwhile
  if (done) throw new Error('the test closed stdin');
  const tokens = await client.pollBackchannelAuthenticationGrant(server, ack);
  const meta = server.serverMetadata();
  send({
    result: {
      discovery: {
        backchannel_authentication_endpoint: meta.backchannel_authentication_endpoint,
        backchannel_token_delivery_modes_supported: meta.backchannel_token_delivery_modes_supported,
        grant_types_supported: meta.grant_types_supported,
      },
      tokens,
      claims: tokens.claims(),
    },
  });
  process.exit(0);
} catch (err) {
  send({
    fatal: {
      name: err?.name,
      code: err?.code,
      error: err?.error,
      status: err?.status,
      message: String(err?.message ?? err),
      cause: err?.cause?.message ?? null,
    },
  });
  process.exit(1);
}

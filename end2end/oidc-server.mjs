// A real OpenID Connect provider for the tests (npm oauth2-mock-server) on loopback: discovery,
// JWKS, authorization code + PKCE, RS256 ID tokens and a user-info endpoint.
//
// Its /authorize signs everybody in at once (no login form). Tests choose who signs in and how
// the provider misbehaves by adding parameters to the authorize URL the orchestrator hands out:
//   mock_profile=ada|eve|grace   the identity (default ada)
//   mock_nonce=VALUE             put VALUE into the ID token's nonce instead of the one sent
//   mock_error=CODE              answer the callback with ?error=CODE instead of a code
//
// Environment: MCPO_E2E_OIDC_PORT (default 3766); MCPO_E2E_OIDC_EXIT_WITH_STDIN=1 to stop when
// stdin closes.

import { Events, OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.env.MCPO_E2E_OIDC_PORT ?? 3766);

/** Identities the provider knows; `mcpo_role` is the role claim the orchestrator maps. */
const PROFILES = {
  // Allowed by the e2e configuration (domain example.com) and admin through the claim.
  ada: {
    sub: 'ada-0001',
    id: 1001,
    email: 'ada@example.com',
    email_verified: true,
    preferred_username: 'ada',
    login: 'ada',
    name: 'Ada Lovelace',
    mcpo_role: 'admin',
  },
  // Outside the allowed domain.
  eve: {
    sub: 'eve-0002',
    id: 1002,
    email: 'eve@evil.test',
    email_verified: true,
    preferred_username: 'eve',
    login: 'eve',
    name: 'Eve Outsider',
    mcpo_role: 'admin',
  },
  // Allowed domain, but no role claim: only a default role lets her in.
  grace: {
    sub: 'grace-0003',
    id: 1003,
    email: 'grace@example.com',
    email_verified: true,
    preferred_username: 'grace',
    login: 'grace',
    name: 'Grace Hopper',
  },
};

/** What a test asked for at /authorize, by the code handed out there. */
const byCode = new Map();

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

server.service.on(Events.BeforeAuthorizeRedirect, (redirect, req) => {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const code = redirect.url.searchParams.get('code');
  const error = query.get('mock_error');
  if (error) {
    redirect.url.searchParams.delete('code');
    redirect.url.searchParams.set('error', error);
    redirect.url.searchParams.set('error_description', 'refused by the mock provider');
    return;
  }
  if (code) {
    const profile = query.get('mock_profile') ?? 'ada';
    byCode.set(code, { profile: PROFILES[profile] ?? PROFILES.ada, nonce: query.get('mock_nonce') });
  }
});

// Runs for the access token and for the ID token of each token request.
server.service.on(Events.BeforeTokenSigning, (token, req) => {
  const code = req.body?.code;
  const chosen = (code && byCode.get(code)) ?? { profile: PROFILES.ada, nonce: null };
  Object.assign(token.payload, chosen.profile);
  // The access token carries `scope`; only the ID token gets a forged nonce.
  if (chosen.nonce && !('scope' in token.payload)) {
    token.payload.nonce = chosen.nonce;
  }
});

server.service.on(Events.BeforeResponse, (_response, req) => {
  if (req.body?.code) byCode.delete(req.body.code);
});

// The user-info answer is read back from the (self-issued) access token's claims.
server.service.on(Events.BeforeUserinfo, (response, req) => {
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  let claims = null;
  try {
    claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    claims = null;
  }
  if (!claims || typeof claims.sub !== 'string') {
    response.statusCode = 401;
    response.body = { error: 'invalid_token', error_description: 'no valid access token' };
    return;
  }
  const { iss, aud, iat, exp, nbf, scope, amr, jti, ...profile } = claims;
  response.body = profile;
});

// Left alone, the issuer would read http://localhost:PORT; the orchestrator is configured with
// the address it reaches, and discovery requires the two to match exactly.
server.issuer.url = `http://127.0.0.1:${port}`;
await server.start(port, '127.0.0.1');
console.log(`oauth2-mock-server ready: issuer ${server.issuer.url}`);

// Tests that run this script as a child hold its stdin open: when they end, even killed,
// the pipe closes and the provider goes with them instead of lingering on its port.
if (process.env.MCPO_E2E_OIDC_EXIT_WITH_STDIN === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.stop().finally(() => process.exit(0));
  });
}

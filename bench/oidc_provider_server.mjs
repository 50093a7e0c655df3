// Peer for bench/target.py: node oidc-provider v9 set up as shared/reference/peers.md says.
// client_credentials with HTTP Basic auth; a JWT access token (RS256) through resourceIndicators;
// introspection on; devInteractions off. Usage: node oidc_provider_server.mjs PORT CLIENT_ID SECRET
// (run with NODE_PATH pointing at the node_modules that `make bench` installs outside the repository).
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(process.env.OIDC_PROVIDER_DIR + '/');
const { default: Provider } = await import(require.resolve('oidc-provider'));

const [port, clientId, secret] = process.argv.slice(2);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', use: 'sig', alg: 'RS256' };
const RESOURCE = 'urn:bench:api';
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [{
    client_id: clientId, client_secret: secret, grant_types: ['client_credentials'], redirect_uris: [],
    response_types: [], token_endpoint_auth_method: 'client_secret_basic', scope: 'api',
  }],
  scopes: ['api'],
  ttl: { ClientCredentials: 600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'api', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
    },
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));

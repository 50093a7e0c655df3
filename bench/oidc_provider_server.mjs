// Peer for bench/target.py: node oidc-provider v9 set up as shared/reference/peers.md says.
// client_credentials with HTTP Basic auth; a JWT access token (RS256) through resourceIndicators;
// introspection on; devInteractions off. Usage: node oidc_provider_server.mjs PORT CLIENT_ID SECRET [WORKERS]
// (run with NODE_PATH pointing at the node_modules that `make bench` installs outside the repository).
// WORKERS > 1: node's cluster module, that many worker processes sharing the port and one signing key
// (oidc-provider has no cluster mode of its own; bench/target.py tries 1 and 2 and keeps the faster).
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';

const workers = Number(process.argv[5] || 1);
if (workers > 1 && cluster.isPrimary) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const BENCH_JWK = JSON.stringify(privateKey.export({ format: 'jwk' }));
  for (let i = 0; i < workers; i += 1) cluster.fork({ BENCH_JWK });
  cluster.on('exit', () => process.exit(1));  // a worker that dies ends the peer: the bench sees it
} else {

const require = createRequire(process.env.OIDC_PROVIDER_DIR + '/');
const { default: Provider } = await import(require.resolve('oidc-provider'));

const [port, clientId, secret] = process.argv.slice(2);
const key = process.env.BENCH_JWK ? JSON.parse(process.env.BENCH_JWK)
  : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const jwk = { ...key, kid: 'bench-rs256', use: 'sig', alg: 'RS256' };
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
}

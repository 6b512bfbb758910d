// Package token verifies Kubernetes service-account tokens the way an
// external relying party (a cloud STS, Vault, SPIFFE federation, ...) does:
// using only what the cluster publishes through its OIDC discovery endpoints.
//
// FetchIssuer reads /.well-known/openid-configuration and /openid/v1/jwks from
// kube-apiserver. A Verifier then checks a token against that issuer and key
// set:
//
//   - the signature, with the single JWKS key whose "kid" equals the token's
//     "kid" header (a missing kid, an unknown kid and a kid shared by several
//     keys are all errors, so a token can never be verified by "trying every
//     key");
//   - that the JWK fits the token: its "alg" (when set) equals the token's
//     alg, its "use" (when set) is "sig", and its key type and curve match the
//     algorithm;
//   - the registered claims: "iss" equals the discovered issuer, "exp" is
//     present and not passed, "nbf" and "iat" are not in the future (all within
//     Verifier.Leeway), and every requested audience is listed in "aud".
//
// # Algorithms
//
// Only RS256, ES256, ES384 and ES512 are accepted. These are exactly the
// algorithms kube-apiserver can sign service-account tokens with: its
// --service-account-signing-key-file must hold an RSA key (signed RS256) or an
// ECDSA key on P-256, P-384 or P-521 (signed ES256, ES384, ES512), and
// external signers (the ExternalJWTSigner gRPC API) are restricted to the same
// set. Anything else a token claims to be signed with is an attack or a bug:
// "none" carries no signature at all, and HS256 would make the verifier use
// the (public!) key bytes as an HMAC secret, the classic algorithm-confusion
// attack.
//
// # Secrecy
//
// A service-account token is a bearer credential. Nothing in this package puts
// a whole token into an error, and test logs should print Fingerprint(raw) and
// Claims.Summary() instead of the token itself.
//
// Decode parses a token without verifying anything; it exists only to report
// what a rejected token contained.
package token

package token

import (
	"context"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"k8s.io/client-go/rest"
)

const (
	// DiscoveryPath is where kube-apiserver serves its OIDC discovery
	// document.
	DiscoveryPath = "/.well-known/openid-configuration"
	// JWKSPath is where kube-apiserver serves the public keys that verify
	// service-account tokens.
	JWKSPath = "/openid/v1/jwks"
)

// Discovery is the OIDC discovery document served at DiscoveryPath. Only the
// fields kube-apiserver publishes are decoded; Raw keeps the document as
// served.
type Discovery struct {
	// Issuer is the "iss" every service-account token must carry
	// (--service-account-issuer, first value).
	Issuer string `json:"issuer"`
	// JWKSURI is the advertised key-set location
	// (--service-account-jwks-uri, or the issuer plus JWKSPath).
	JWKSURI string `json:"jwks_uri"`
	// ResponseTypesSupported is "response_types_supported" (["id_token"]).
	ResponseTypesSupported []string `json:"response_types_supported"`
	// SubjectTypesSupported is "subject_types_supported" (["public"]).
	SubjectTypesSupported []string `json:"subject_types_supported"`
	// IDTokenSigningAlgValuesSupported is
	// "id_token_signing_alg_values_supported", the algorithms of the keys in
	// the key set.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`

	// Raw is the document exactly as served.
	Raw json.RawMessage `json:"-"`
}

// Issuer is what a relying party learns from kube-apiserver's discovery
// endpoints: the discovery document and the key set.
type Issuer struct {
	// Discovery is the decoded discovery document.
	Discovery Discovery
	// Keys is the key set served at JWKSPath.
	Keys jose.JSONWebKeySet
}

// FetchIssuer reads the discovery document at DiscoveryPath and the key set at
// JWKSPath through c, for example clientset.CoreV1().RESTClient() or
// clientset.Discovery().RESTClient(). Both are absolute paths, so the client's
// API prefix does not matter.
//
// The key set is read from JWKSPath on the apiserver rather than from
// Discovery.JWKSURI, which may point at an external host. FetchIssuer only
// decodes; checking the documents' contents is left to the caller.
func FetchIssuer(ctx context.Context, c rest.Interface) (*Issuer, error) {
	raw, err := c.Get().AbsPath(DiscoveryPath).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", DiscoveryPath, err)
	}
	iss := &Issuer{}
	if err := json.Unmarshal(raw, &iss.Discovery); err != nil {
		return nil, fmt.Errorf("decode %s: %w", DiscoveryPath, err)
	}
	iss.Discovery.Raw = json.RawMessage(raw)

	raw, err = c.Get().AbsPath(JWKSPath).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", JWKSPath, err)
	}
	if err := json.Unmarshal(raw, &iss.Keys); err != nil {
		return nil, fmt.Errorf("decode %s: %w", JWKSPath, err)
	}
	return iss, nil
}

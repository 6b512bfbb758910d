package token

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

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

// Published is what a relying party reads from the issuer, with the HTTP
// headers it was served with.
type Published struct {
	Issuer
	// APIKeys is the key set at the API server's own JWKSPath, which Keys
	// (from Discovery.JWKSURI) must equal.
	APIKeys jose.JSONWebKeySet
	// DiscoveryHeader and JWKSHeader are the response headers of the
	// discovery document and of the key set at Discovery.JWKSURI.
	DiscoveryHeader, JWKSHeader http.Header
}

// FetchPublished reads the discovery document from apiServer, then the key
// set from the document's jwks_uri, as an external relying party does, and
// the API server's own copy of the key set. hc carries whatever credentials
// the caller chose (none, for an anonymous relying party).
func FetchPublished(ctx context.Context, hc *http.Client, apiServer string) (*Published, error) {
	p := &Published{}
	raw, h, err := getJSON(ctx, hc, strings.TrimSuffix(apiServer, "/")+DiscoveryPath)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &p.Discovery); err != nil {
		return nil, fmt.Errorf("decode %s: %w", DiscoveryPath, err)
	}
	p.Discovery.Raw = raw
	p.DiscoveryHeader = h
	if p.Discovery.JWKSURI == "" {
		return nil, fmt.Errorf("%s has no jwks_uri", DiscoveryPath)
	}
	raw, h, err = getJSON(ctx, hc, p.Discovery.JWKSURI)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &p.Keys); err != nil {
		return nil, fmt.Errorf("decode the key set at %s: %w", p.Discovery.JWKSURI, err)
	}
	p.JWKSHeader = h
	raw, _, err = getJSON(ctx, hc, strings.TrimSuffix(apiServer, "/")+JWKSPath)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &p.APIKeys); err != nil {
		return nil, fmt.Errorf("decode %s: %w", JWKSPath, err)
	}
	return p, nil
}

func getJSON(ctx context.Context, hc *http.Client, url string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, res.Header, &StatusError{URL: url, Code: res.StatusCode, Body: string(body)}
	}
	return body, res.Header, nil
}

// StatusError is an HTTP answer other than 200 from an issuer endpoint.
type StatusError struct {
	URL  string
	Code int
	Body string
}

func (e *StatusError) Error() string {
	b := e.Body
	if len(b) > 200 {
		b = b[:200] + "..."
	}
	return fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.Code, strings.TrimSpace(b))
}

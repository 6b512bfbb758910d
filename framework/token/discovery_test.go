package token

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// discoveryDoc is a discovery document as kube-apiserver serves it.
const discoveryDoc = `{"issuer":"` + testIssuer + `","jwks_uri":"https://172.18.0.2:6443/openid/v1/jwks",` +
	`"response_types_supported":["id_token"],"subject_types_supported":["public"],` +
	`"id_token_signing_alg_values_supported":["ES256","ES384","ES512","RS256"]}`

// fakeAPIServer serves fixed responses per path and records the paths asked
// for.
type fakeAPIServer struct {
	responses map[string]fakeResponse

	mu        sync.Mutex
	requested []string
}

type fakeResponse struct {
	status int
	body   string
}

func (s *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requested = append(s.requested, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	resp, ok := s.responses[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_, _ = w.Write([]byte(resp.body))
}

// start serves s and returns REST clients for it built the ways callers
// build theirs: unversioned (like a discovery client) and for core/v1.
func (s *fakeAPIServer) start(t *testing.T) map[string]rest.Interface {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)

	unversioned, err := rest.UnversionedRESTClientFor(&rest.Config{
		Host: srv.URL,
		ContentConfig: rest.ContentConfig{
			NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		},
	})
	if err != nil {
		t.Fatalf("UnversionedRESTClientFor: %v", err)
	}
	coreV1, err := rest.RESTClientFor(&rest.Config{
		Host:    srv.URL,
		APIPath: "/api",
		ContentConfig: rest.ContentConfig{
			GroupVersion:         &schema.GroupVersion{Version: "v1"},
			NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		},
	})
	if err != nil {
		t.Fatalf("RESTClientFor: %v", err)
	}
	return map[string]rest.Interface{"unversioned": unversioned, "core/v1": coreV1}
}

func jwksJSON(t *testing.T, f *fixture) string {
	t.Helper()
	b, err := json.Marshal(f.jwks)
	if err != nil {
		t.Fatalf("marshal JWKS: %v", err)
	}
	return string(b)
}

func TestFetchIssuer(t *testing.T) {
	f := keys(t)
	s := &fakeAPIServer{responses: map[string]fakeResponse{
		DiscoveryPath: {http.StatusOK, discoveryDoc},
		JWKSPath:      {http.StatusOK, jwksJSON(t, f)},
	}}
	for name, client := range s.start(t) {
		t.Run(name, func(t *testing.T) {
			s.mu.Lock()
			s.requested = nil
			s.mu.Unlock()

			iss, err := FetchIssuer(t.Context(), client)
			if err != nil {
				t.Fatalf("FetchIssuer: %v", err)
			}

			wantRequests := []string{"GET " + DiscoveryPath, "GET " + JWKSPath}
			s.mu.Lock()
			if !reflect.DeepEqual(s.requested, wantRequests) {
				t.Errorf("requests = %q, want %q", s.requested, wantRequests)
			}
			s.mu.Unlock()

			d := iss.Discovery
			if d.Issuer != testIssuer || d.JWKSURI != "https://172.18.0.2:6443/openid/v1/jwks" {
				t.Errorf("issuer, jwks_uri = %q, %q", d.Issuer, d.JWKSURI)
			}
			for _, l := range []struct {
				name      string
				got, want []string
			}{
				{"response_types_supported", d.ResponseTypesSupported, []string{"id_token"}},
				{"subject_types_supported", d.SubjectTypesSupported, []string{"public"}},
				{"id_token_signing_alg_values_supported", d.IDTokenSigningAlgValuesSupported, []string{"ES256", "ES384", "ES512", "RS256"}},
			} {
				if !reflect.DeepEqual(l.got, l.want) {
					t.Errorf("%s = %q, want %q", l.name, l.got, l.want)
				}
			}
			if string(d.Raw) != discoveryDoc {
				t.Errorf("Raw = %s, want the document as served", d.Raw)
			}

			if got, want := len(iss.Keys.Keys), len(f.jwks.Keys); got != want {
				t.Fatalf("JWKS has %d keys, want %d", got, want)
			}
			rsaKeys := iss.Keys.Key(f.rsa.kid)
			if len(rsaKeys) != 1 {
				t.Fatalf("JWKS has %d keys with kid %q, want 1", len(rsaKeys), f.rsa.kid)
			}
			if pub, ok := rsaKeys[0].Key.(*rsa.PublicKey); !ok || !pub.Equal(f.rsaPub) || rsaKeys[0].Algorithm != "RS256" {
				t.Errorf("JWK %q = %T (alg %q), want the fixture's RSA public key (alg RS256)", f.rsa.kid, rsaKeys[0].Key, rsaKeys[0].Algorithm)
			}

			// The fetched issuer verifies tokens of every accepted algorithm.
			v := NewVerifier(iss)
			v.Now = func() time.Time { return testNow }
			for _, k := range []signingKey{f.rsa, f.es256, f.es384, f.es512} {
				if _, err := v.Verify(mint(t, k, k.kid, validClaims()), testAudience); err != nil {
					t.Errorf("Verify %s token with the fetched issuer: %v", k.alg, err)
				}
			}
		})
	}
}

func TestFetchIssuerErrors(t *testing.T) {
	f := keys(t)
	jwks := jwksJSON(t, f)
	tests := []struct {
		name      string
		responses map[string]fakeResponse
		wantMsg   string
	}{
		{
			name:      "no discovery document",
			responses: map[string]fakeResponse{JWKSPath: {http.StatusOK, jwks}},
			wantMsg:   "fetch /.well-known/openid-configuration: ",
		},
		{
			name: "discovery document not JSON",
			responses: map[string]fakeResponse{
				DiscoveryPath: {http.StatusOK, "<html>"},
				JWKSPath:      {http.StatusOK, jwks},
			},
			wantMsg: "decode /.well-known/openid-configuration: ",
		},
		{
			name:      "JWKS 404",
			responses: map[string]fakeResponse{DiscoveryPath: {http.StatusOK, discoveryDoc}},
			wantMsg:   "fetch /openid/v1/jwks: ",
		},
		{
			name: "JWKS 500",
			responses: map[string]fakeResponse{
				DiscoveryPath: {http.StatusOK, discoveryDoc},
				JWKSPath:      {http.StatusInternalServerError, `{"error":"boom"}`},
			},
			wantMsg: "fetch /openid/v1/jwks: ",
		},
		{
			name: "JWKS 403",
			responses: map[string]fakeResponse{
				DiscoveryPath: {http.StatusOK, discoveryDoc},
				JWKSPath:      {http.StatusForbidden, `forbidden`},
			},
			wantMsg: "fetch /openid/v1/jwks: ",
		},
		{
			name: "JWKS not JSON",
			responses: map[string]fakeResponse{
				DiscoveryPath: {http.StatusOK, discoveryDoc},
				JWKSPath:      {http.StatusOK, `{"keys":`},
			},
			wantMsg: "decode /openid/v1/jwks: ",
		},
		{
			name: "JWKS with an unknown key type",
			responses: map[string]fakeResponse{
				DiscoveryPath: {http.StatusOK, discoveryDoc},
				JWKSPath:      {http.StatusOK, `{"keys":[{"kty":"XYZ","kid":"k"}]}`},
			},
			wantMsg: "decode /openid/v1/jwks: ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := (&fakeAPIServer{responses: tc.responses}).start(t)["unversioned"]
			iss, err := FetchIssuer(t.Context(), client)
			if err == nil {
				t.Fatalf("FetchIssuer = %+v, want an error", iss)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

package probe

import (
	"errors"
	"strings"
	"testing"
)

// A kept answer never holds file bytes, and the last answer of each
// endpoint of each pod is kept.
func TestLastAnswersKeepNoContent(t *testing.T) {
	c := NewClient(nil, "secret")
	body := `{"files":[{"path":"/var/run/token","sha256":"ab","content":"c2VjcmV0LXRva2Vu"}]}`
	c.last.record("ns", "p", Port, "/api/v1/namespaces/ns/pods/http:p:8080/proxy/files", []byte(body), nil)
	c.last.record("ns", "p", Port, "/api/v1/namespaces/ns/pods/http:p:8080/proxy/healthz", nil, errors.New("no endpoints available"))
	c.last.record("ns", "p", Port, "/api/v1/namespaces/ns/pods/http:p:8080/proxy/healthz", []byte("ok"), nil)
	c.last.record("other", "q", Port, "/api/v1/namespaces/other/pods/http:q:8080/proxy/files", []byte(body), nil)
	got := c.LastAnswers("ns")
	if len(got) != 2 {
		t.Fatalf("answers %+v, want files and healthz of p", got)
	}
	if got[0].Endpoint != "files" || strings.Contains(string(got[0].Body), "c2VjcmV0") || !strings.Contains(string(got[0].Body), "bytes, not kept") || !strings.Contains(string(got[0].Body), `"sha256":"ab"`) {
		t.Errorf("files answer kept as %s", got[0].Body)
	}
	if got[1].Endpoint != "healthz" || string(got[1].Body) != `"ok"` || got[1].Error != "" {
		t.Errorf("healthz answer %+v, want the last one (ok)", got[1])
	}
}

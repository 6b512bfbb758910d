package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pkg = "github.com/kube-identity-conformance/kube-identity-conformance/tests"

// result is the test2json events of a test that ended with action.
func result(t *testing.T, b *strings.Builder, name, action string, output ...string) {
	t.Helper()
	emit := func(e map[string]any) {
		e["Package"], e["Test"] = pkg, name
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
		b.WriteByte('\n')
	}
	emit(map[string]any{"Action": "run"})
	emit(map[string]any{"Action": "output", "Output": "=== RUN   " + name + "\n"})
	for _, o := range output {
		emit(map[string]any{"Action": "output", "Output": o + "\n"})
	}
	emit(map[string]any{"Action": action, "Elapsed": 2.5})
}

const (
	featTokens  = "TestServiceAccountTokens/a_bound_token_carries_the_pod_claims"
	featIssuers = "TestServiceAccountIssuers/the_first_issuer_signs_[issuers]"
	featCTB     = "TestClusterTrustBundles/no_labelSelector"
)

// artifacts writes a small run: a pass with a measurement, a failure, a
// skip, a reproduced known defect, an absent one, and a feature on the
// issuers profile.
func artifacts(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	result(t, &b, featTokens+"/audience_is_the_API's", "pass")
	result(t, &b, featTokens+"/expiry_<_1h", "fail", "    tokens_test.go:42: exp = 7200, want <= 3600", "    tokens_test.go:43: second", "    tokens_test.go:44: third", "    tokens_test.go:45: fourth")
	result(t, &b, featTokens, "fail")
	result(t, &b, featIssuers+"/accepted_issuers_authenticate", "pass")
	result(t, &b, featIssuers+"/windows_only", "skip", "    issuers_test.go:9: Windows nodes only")
	result(t, &b, featIssuers, "pass")
	result(t, &b, featCTB+"/the_bundle_is_projected", "pass", "    trustbundles_test.go:543: measured: by-signer.pem held the added certificate 3.2 s after the update (bound 90s)")
	result(t, &b, featCTB+"/nil_selector_matches_all", "pass")
	result(t, &b, featCTB, "pass")
	result(t, &b, "TestServiceAccountTokens", "fail")
	result(t, &b, "TestServiceAccountIssuers", "pass")
	result(t, &b, "TestClusterTrustBundles", "pass")
	dir := t.TempDir()
	kd := `[{"defect":"kubelet-ctb-nil-selector-cache","test":"` + featCTB + `/nil_selector_matches_all","result":"known defect reproduced","component":"kubelet","version":"v1.37.2","seen":"all"},
{"defect":"kubelet-ctb-update","test":"` + featCTB + `/the_bundle_is_projected","result":"defect absent","component":"kubelet","version":"v1.37.2","seen":"ok"}]`
	cl := `[{"name":"kic-default","profile":"default","nodeImage":"kic.local/node:v1.37.2"},{"name":"kic-issuers","profile":"issuers","nodeImage":"kic.local/node:v1.36.9"}]`
	for name, data := range map[string]string{"test.json": b.String(), "known-defects.json": kd, "clusters.json": cl} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuildRows(t *testing.T) {
	r, err := Load(artifacts(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range r.Rows {
		got = append(got, strings.Join([]string{row.Area, row.Feature, row.Assessment, row.Profile, row.Version, row.Result, row.Reason, strings.Join(row.Timings, ";")}, " | "))
	}
	want := []string{
		"issuers | the first issuer signs | accepted issuers authenticate | issuers | v1.36.9 | pass |  | ",
		"issuers | the first issuer signs | windows only | issuers | v1.36.9 | skip | Windows nodes only | ",
		"tokens | a bound token carries the pod claims | audience is the API's | default | v1.37.2 | pass |  | ",
		"tokens | a bound token carries the pod claims | expiry < 1h | default | v1.37.2 | fail | exp = 7200, want <= 3600 / second / third / (1 more lines) | ",
		"trustbundles | no labelSelector | nil selector matches all | default | v1.37.2 | known defect reproduced | kubelet-ctb-nil-selector-cache (known defect reproduced, kubelet v1.37.2) | ",
		"trustbundles | no labelSelector | the bundle is projected | default | v1.37.2 | defect absent | kubelet-ctb-update (defect absent, kubelet v1.37.2) | by-signer.pem held the added certificate 3.2 s after the update (bound 90s)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Counts[Pass] != 2 || r.Counts[Fail] != 1 || r.Counts[Skip] != 1 || r.Counts[Reproduced] != 1 || r.Counts[Absent] != 1 {
		t.Errorf("counts %v", r.Counts)
	}
	conforms := map[string]bool{}
	for _, a := range r.Areas {
		conforms[a.Area] = a.Conforms()
	}
	if !conforms["issuers"] || conforms["tokens"] || !conforms["trustbundles"] || len(conforms) != 3 {
		t.Errorf("areas %+v", r.Areas)
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes %v", r.Notes)
	}
}

func TestLoadWithoutOptionalFiles(t *testing.T) {
	dir := artifacts(t)
	for _, f := range []string{"known-defects.json", "clusters.json"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) != 2 || r.Counts[Reproduced] != 0 {
		t.Errorf("notes %v, counts %v", r.Notes, r.Counts)
	}
	// The issuers profile's default version, from clusters/profiles.go.
	for _, row := range r.Rows {
		if row.Version == "" {
			t.Errorf("row %s has no version", row.Test)
		}
	}
}

func TestMarkdown(t *testing.T) {
	r, err := Load(artifacts(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# Conformance report\n",
		"6 behaviours checked.",
		"- pass: 2\n- fail: 1\n- skip: 1\n- known defect reproduced: 1\n- defect absent: 1\n",
		"| tokens | no | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 2 |\n",
		"| issuers | yes | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 2 |\n",
		"| tokens | a bound token carries the pod claims | expiry &lt; 1h | default | v1.37.2 | fail | exp = 7200, want &lt;= 3600 / second / third / (1 more lines) | - |\n",
		"| trustbundles | no labelSelector | nil selector matches all | default | v1.37.2 | known defect reproduced | kubelet-ctb-nil-selector-cache (known defect reproduced, kubelet v1.37.2) | - |\n",
		"(bound 90s) |\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "## Summary") > strings.Index(out, "## Results") {
		t.Error("the summary is not first")
	}
}

func TestHTMLEscapesAndIsSelfContained(t *testing.T) {
	r, err := Load(artifacts(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, `<table id="results">`) || !strings.Contains(out, "expiry &lt; 1h") || strings.Contains(out, "expiry < 1h") {
		t.Errorf("html table or escaping:\n%s", out)
	}
	for _, bad := range []string{"<link", "<script", "src=", "http://", "https://"} {
		if strings.Contains(out, bad) {
			t.Errorf("html refers to an external resource (%q)", bad)
		}
	}
	if n := strings.Count(out, `<tr class="`); n != len(r.Rows) {
		t.Errorf("%d result rows in the html, want %d", n, len(r.Rows))
	}
}

func TestRunWritesBothFiles(t *testing.T) {
	dir := artifacts(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"--artifacts", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, f := range []string{"report.md", "report.html"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if code := run([]string{"--artifacts", t.TempDir()}, &out, &errOut); code != 2 {
		t.Errorf("a directory without test.json: exit %d, want 2", code)
	}
}

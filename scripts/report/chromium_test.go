package main

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChromiumRender renders the HTML report of a synthetic run in headless
// chromium (make report-check installs it): the dumped DOM has the results
// table and its rows (with their source and failure link), the clusters
// table and, the run's profiles being on two Kubernetes versions, the
// behaviour x version matrix; and the screenshot is not blank.
func TestChromiumRender(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make report-check installs it with apt-get install -y chromium)")
	}
	dir := artifacts(t)
	var out, errOut strings.Builder
	if code := run([]string{"--artifacts", dir}, &out, &errOut); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut.String())
	}
	page := "file://" + filepath.Join(dir, "report.html")
	profile := t.TempDir() // chromium's user data, not the user's
	flags := []string{"--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + profile}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dom, err := exec.CommandContext(ctx, bin, append(flags, "--dump-dom", page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{`<table id="results">`, `data-test="` + featCTB + `/nil_selector_matches_all"`, "known defect reproduced", "expiry &lt; 1h",
		"seed 002 §发行者(Issuer)配置", `<a href="failures/TestServiceAccountTokens__a_bound_token_carries_the_pod_claims.txt">failure file</a>`,
		`<table id="clusters">`, `<a href="cluster-kic-default">node logs</a>`,
		`<table id="matrix">`, "<th>v1.36.9</th><th>v1.37.2</th>", `<td class="fail">fail</td>`} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("dumped DOM lacks %q", want)
		}
	}
	if n := strings.Count(string(dom), `<tr class="`); n != 6 {
		t.Errorf("dumped DOM has %d result rows, want 6", n)
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	cmd := exec.CommandContext(ctx, bin, append(flags, "--screenshot="+shot, "--window-size=1200,800", page)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, b)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	v := variance(img)
	t.Logf("screenshot %s: luminance variance %.1f", shot, v)
	if v < 100 {
		t.Errorf("screenshot looks blank: luminance variance %.1f", v)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 800 {
		t.Logf("screenshot is %dx%d", b.Dx(), b.Dy())
	}
}

// variance is the variance of the image's luminance (0..255).
func variance(img image.Image) float64 {
	var sum, sq, n float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += l
			sq += l * l
			n++
		}
	}
	mean := sum / n
	return sq/n - mean*mean
}

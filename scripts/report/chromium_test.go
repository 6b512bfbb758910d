package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// make report-check sets this: there chromium is installed, and a test that
// cannot find it fails instead of skipping.
const requireChromiumEnv = "KIC_REQUIRE_CHROMIUM"

// make report-check REPORT_HTML=... sets this: the page of a real run to
// render beside the synthetic one (matrix-check passes its matrix report).
const reportHTMLEnv = "KIC_REPORT_HTML"

// The colours the page's style sheet gives table headers and result cells
// (render.go): only a rendered table paints them.
var (
	headerColour = color.RGBA{0xe8, 0xec, 0xf2, 0xff}
	passColour   = color.RGBA{0xd4, 0xf4, 0xd4, 0xff}
	failColour   = color.RGBA{0xf8, 0xc8, 0xc8, 0xff}
)

// minCellPixels is how many pixels of a colour make a painted table cell:
// one cell of the smallest table is about 40x20 pixels.
const minCellPixels = 400

// TestChromiumRender renders the HTML report of a synthetic run in headless
// chromium (make report-check installs it): the dumped DOM has the results
// table and its rows (with their source and failure link), the clusters
// table and, the run's profiles being on two Kubernetes versions, the
// behaviour x version matrix; and the screenshot shows the tables painted:
// their header colour and the pass and fail colours of the result cells.
func TestChromiumRender(t *testing.T) {
	bin := chromium(t)
	dir := artifacts(t)
	var out, errOut strings.Builder
	if code := run([]string{"--artifacts", dir}, &out, &errOut); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut.String())
	}
	page := filepath.Join(dir, "report.html")
	dom, img := render(t, bin, page)
	for _, want := range []string{`<table id="results">`, `data-test="` + featCTB + `/nil_selector_matches_all"`, "known defect reproduced", "expiry &lt; 1h",
		"seed 002 §发行者(Issuer)配置", `<a href="failures/TestServiceAccountTokens__a_bound_token_carries_the_pod_claims.txt">failure file</a>`,
		`<table id="clusters">`, `<a href="cluster-kic-default">node logs</a>`,
		`<table id="matrix">`, "<th>v1.36.9</th><th>v1.37.2</th>", `<td class="fail">fail</td>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("dumped DOM lacks %q", want)
		}
	}
	if n := strings.Count(dom, `<tr class="`); n != 6 {
		t.Errorf("dumped DOM has %d result rows, want 6", n)
	}
	if err := paintedTables(img, headerColour, passColour, failColour); err != nil {
		t.Errorf("screenshot of %s: %v", page, err)
	}
}

// TestChromiumRendersRunReport renders the report of a real run, named by
// $KIC_REPORT_HTML (matrix-check passes the matrix's): its results table
// has rows, and the screenshot shows the tables painted.
func TestChromiumRendersRunReport(t *testing.T) {
	page := os.Getenv(reportHTMLEnv)
	if page == "" {
		t.Skipf("no run's report to render: $%s is not set (make report-check REPORT_HTML=_artifacts/matrix/report.html sets it)", reportHTMLEnv)
	}
	if _, err := os.Stat(page); err != nil {
		t.Fatalf("the run's report: %v", err)
	}
	bin := chromium(t)
	dom, img := render(t, bin, page)
	if !strings.Contains(dom, `<table id="results">`) {
		t.Errorf("dumped DOM of %s has no results table", page)
	}
	if n := strings.Count(dom, `<tr class="`); n == 0 {
		t.Errorf("dumped DOM of %s has no result rows", page)
	} else {
		t.Logf("%s: %d result rows", page, n)
	}
	if err := paintedTables(img, headerColour); err != nil {
		t.Errorf("screenshot of %s: %v", page, err)
	}
}

// browsers are the names chromium goes by: Debian's package, Ubuntu's, and
// Google's build (GitHub's runners have the last two).
var browsers = []string{"chromium", "chromium-browser", "google-chrome"}

// chromium is the path of the first browser found; without one the test
// skips, or fails where make report-check requires it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range browsers {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	if os.Getenv(requireChromiumEnv) != "" {
		t.Fatalf("chromium is required ($%s is set) but none of %v is in $PATH", requireChromiumEnv, browsers)
	}
	t.Skip("chromium is not installed (make report-check installs it with apt-get install -y chromium)")
	return ""
}

// render loads the page in headless chromium and returns its DOM after
// rendering and a 1200x1600 screenshot of it.
func render(t *testing.T, bin, page string) (string, image.Image) {
	t.Helper()
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + abs
	profile := t.TempDir() // chromium's user data, not the user's
	flags := []string{"--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + profile}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dom, err := exec.CommandContext(ctx, bin, append(flags, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	cmd := exec.CommandContext(ctx, bin, append(flags, "--screenshot="+shot, "--window-size=1200,1600", url)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot %s: %v\n%s", url, err, b)
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
	return string(dom), img
}

// paintedTables checks that the screenshot has at least a cell's worth of
// pixels of each colour: a page whose tables are not rendered (hidden, or
// their style lost) has none.
func paintedTables(img image.Image, colours ...color.RGBA) error {
	counts := countColours(img, colours)
	var missing []string
	for i, c := range colours {
		if counts[i] < minCellPixels {
			missing = append(missing, fmt.Sprintf("#%02x%02x%02x: %d pixels, want at least %d", c.R, c.G, c.B, counts[i], minCellPixels))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the tables are not painted: %s", strings.Join(missing, "; "))
	}
	return nil
}

// countColours counts, in one pass over the image, the pixels within 3 of
// each colour in every channel.
func countColours(img image.Image, colours []color.RGBA) []int {
	near := func(a uint32, b uint8) bool {
		d := int(a>>8) - int(b)
		return d >= -3 && d <= 3
	}
	counts := make([]int, len(colours))
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for i, c := range colours {
				if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
					counts[i]++
				}
			}
		}
	}
	return counts
}

// TestPaintedTables checks the screenshot check itself on made images: a
// white page fails it, a page of header and pass cells passes, and the same
// page fails when fail cells are asked for.
func TestPaintedTables(t *testing.T) {
	blank := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	if err := paintedTables(blank, headerColour, passColour); err == nil {
		t.Error("a white page passed")
	}
	cells := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for y := 0; y < 100; y++ {
		for x := 0; x < 200; x++ {
			c := headerColour
			if y >= 50 {
				c = passColour
			}
			cells.Set(x, y, c)
		}
	}
	if err := paintedTables(cells, headerColour, passColour); err != nil {
		t.Errorf("a page of header and pass cells: %v", err)
	}
	if err := paintedTables(cells, headerColour, failColour); err == nil || !strings.Contains(err.Error(), "#f8c8c8: 0 pixels") {
		t.Errorf("a page without fail cells: got %v, want #f8c8c8 missing", err)
	}
}

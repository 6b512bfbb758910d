package kubeidentityconformance_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// seedFiles are the source documents by the suite's source label.
var seedFiles = map[string]string{
	"seed000": "000_91606994adadd108.txt",
	"seed001": "001_b16094988a214923.txt",
	"seed002": "002_27f50b947eccc400.txt",
	"seed003": "003_131eefd7ef2a24b8.txt",
}

// featureLabels is, per function of tests/ that builds a feature with a
// "source" label, its doc comment and its labels (key -> values).
type featureLabels struct {
	pos    string
	doc    string // whitespace collapsed: a quote may wrap
	labels map[string][]string
}

func suiteFeatureLabels(t *testing.T) map[string]featureLabels {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "tests", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]featureLabels{}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				fl := featureLabels{pos: fset.Position(fn.Pos()).String(), doc: strings.Join(strings.Fields(fn.Doc.Text()), " "), labels: map[string][]string{}}
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok || len(call.Args) != 2 {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "WithLabel" {
						return true
					}
					k, ok1 := call.Args[0].(*ast.BasicLit)
					v, ok2 := call.Args[1].(*ast.BasicLit)
					if !ok1 || !ok2 || k.Kind != token.STRING || v.Kind != token.STRING {
						return true
					}
					ks, _ := strconv.Unquote(k.Value)
					vs, _ := strconv.Unquote(v.Value)
					fl.labels[ks] = append(fl.labels[ks], vs)
					return true
				})
				if len(fl.labels["source"]) > 0 {
					out[fn.Name.Name] = fl
				}
			}
		}
	}
	return out
}

// TestFeaturesNameTheirSection: every feature with a source label also
// carries the section of that document it checks (the report's Source
// column), its doc comment quotes that section, and the section is a
// heading of the document: a line of its text (../shared/seeds beside the
// project, when present) or, for seed 001, whose extracted text has no
// headings, one of the upstream headings fixtures/README.md lists.
func TestFeaturesNameTheirSection(t *testing.T) {
	feats := suiteFeatureLabels(t)
	if len(feats) < 40 {
		t.Fatalf("found %d features with a source label in tests/, want the suite's (40+)", len(feats))
	}
	fixturesReadme, err := os.ReadFile(filepath.Join("fixtures", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	seeds := filepath.Join("..", "shared", "seeds")
	if _, err := os.Stat(seeds); err != nil {
		t.Logf("%s is not here: sections are not checked against the documents' text", seeds)
		seeds = ""
	}
	for name, f := range feats {
		src, sec := f.labels["source"], f.labels["section"]
		if len(src) != 1 || len(sec) != 1 || sec[0] == "" {
			t.Errorf("%s (%s): labels source %q, section %q: want one of each", name, f.pos, src, sec)
			continue
		}
		file, ok := seedFiles[src[0]]
		if !ok {
			t.Errorf("%s (%s): source %q is no seed document", name, f.pos, src[0])
			continue
		}
		if !strings.Contains(f.doc, `"`+sec[0]+`"`) {
			t.Errorf("%s (%s): the doc comment does not name its section %q", name, f.pos, sec[0])
		}
		if src[0] == "seed001" {
			if !strings.Contains(string(fixturesReadme), "001, "+sec[0]+" (") {
				t.Errorf("%s (%s): section %q is none of seed 001's upstream headings in fixtures/README.md", name, f.pos, sec[0])
			}
			continue
		}
		if seeds == "" {
			continue
		}
		text, err := os.ReadFile(filepath.Join(seeds, file))
		if err != nil {
			t.Fatal(err)
		}
		if !isHeading(string(text), sec[0]) {
			t.Errorf("%s (%s): section %q is no heading of %s", name, f.pos, sec[0], file)
		}
	}
}

// isHeading reports whether h is a line of the extracted text by itself
// (an example's caption may end in a colon), or ends a line (the
// extraction joined some headings to the paragraph before them).
func isHeading(text, h string) bool {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == h || l == h+":" || strings.HasSuffix(l, "。"+h) || strings.HasSuffix(l, " "+h) {
			return true
		}
	}
	return false
}

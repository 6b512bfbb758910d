// The README's list of what is tested is a promise to the suite's users;
// this test keeps it equal to the suite's own catalogue (the areas in
// tests/main_test.go), so that an area cannot land, or leave, unlisted.
package kubeidentityconformance_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// suiteAreas returns each area's TestXxx, as tests/main_test.go lists them
// in `areas`, and the file of tests/ that declares it.
func suiteAreas(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "tests", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]string{} // TestXxx -> file
	var listed []string
	for _, pkg := range pkgs {
		for path, f := range pkg.Files {
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") && fn.Name.Name != "TestMain" {
					declared[fn.Name.Name] = filepath.Base(path)
				}
				gd, ok := d.(*ast.GenDecl)
				if !ok {
					continue
				}
				for _, spec := range gd.Specs {
					vs, ok := spec.(*ast.ValueSpec)
					if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "areas" || len(vs.Values) != 1 {
						continue
					}
					ast.Inspect(vs.Values[0], func(n ast.Node) bool {
						kv, ok := n.(*ast.KeyValueExpr)
						if !ok {
							return true
						}
						if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Test" {
							if lit, ok := kv.Value.(*ast.BasicLit); ok {
								name, err := strconv.Unquote(lit.Value)
								if err != nil {
									t.Fatal(err)
								}
								listed = append(listed, name)
							}
						}
						return true
					})
				}
			}
		}
	}
	if len(listed) == 0 {
		t.Fatal("tests/main_test.go lists no areas (var areas = []runtime.Area{{Test: ...}})")
	}
	out := map[string]string{}
	for _, name := range listed {
		file, ok := declared[name]
		if !ok {
			t.Errorf("area %s is listed in tests/main_test.go but no file of tests/ declares func %s", name, name)
			continue
		}
		out[name] = file
	}
	for name, file := range declared {
		if _, ok := out[name]; !ok {
			t.Errorf("%s declares %s, which is not an area of tests/main_test.go: the runtime would not plan it", file, name)
		}
	}
	return out
}

// testedSection returns README's "What is tested" section up to "Not tested yet".
func testedSection(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	start := strings.Index(s, "## What is tested")
	if start < 0 {
		t.Fatal(`README.md has no "## What is tested" section`)
	}
	s = s[start:]
	if end := strings.Index(s, "\nNot tested yet"); end >= 0 {
		s = s[:end]
	} else {
		t.Fatal(`README's "What is tested" section has no "Not tested yet" paragraph`)
	}
	return s
}

func TestReadmeListsExactlyTheSuitesAreas(t *testing.T) {
	areas := suiteAreas(t)
	section := testedSection(t)
	files := map[string]bool{}
	for _, f := range areas {
		files[f] = true
		if !strings.Contains(section, "(`"+f) {
			t.Errorf("README's \"What is tested\" has no entry for %s: list what it tests", f)
		}
	}
	mentioned := regexp.MustCompile("`([a-z0-9_]+_test\\.go)`").FindAllStringSubmatch(section, -1)
	var unknown []string
	for _, m := range mentioned {
		if !files[m[1]] {
			unknown = append(unknown, m[1])
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("README's \"What is tested\" names %v, which are not areas of the suite", unknown)
	}
	// The areas not built yet must not be claimed as tested.
	for _, word := range []string{"ClusterTrustBundle", "podCertificate", "PodCertificateRequest", "issuer change"} {
		if strings.Contains(section, word) && !hasAreaFor(areas, word) {
			t.Errorf("README's \"What is tested\" mentions %q, but no area of the suite tests it yet", word)
		}
	}
}

// hasAreaFor reports whether an area file exists for a topic not built yet.
func hasAreaFor(areas map[string]string, word string) bool {
	want := map[string]string{"ClusterTrustBundle": "trustbundles_test.go", "podCertificate": "podcertificates_test.go",
		"PodCertificateRequest": "podcertificates_test.go", "issuer change": "issuers_test.go"}[word]
	for _, f := range areas {
		if f == want {
			return true
		}
	}
	return false
}

package pki

import (
	"strings"
	"testing"
)

func TestParseKeepsCommentsApartAndSeesCanonicalText(t *testing.T) {
	a, err := NewCA("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCA("b")
	if err != nil {
		t.Fatal(err)
	}
	canonical := Bundle(a, b)
	if p := Parse([]byte(canonical)); !p.Canonical || p.Rest != "" || len(p.Blocks) != 2 {
		t.Errorf("canonical bundle: %+v", p)
	}
	commented := "# root a\n" + a.PEM() + "\nbetween\n" + b.PEM() + "trailer\n"
	p := Parse([]byte(commented))
	if p.Canonical {
		t.Error("a bundle with comments is not canonical")
	}
	if p.Rest != "# root a\nbetween\ntrailer" {
		t.Errorf("rest = %q", p.Rest)
	}
	if p := Parse([]byte("")); p.Canonical || len(p.Blocks) != 0 {
		t.Errorf("empty text: %+v", p)
	}
}

func TestCertSetIsASet(t *testing.T) {
	a, _ := NewCA("a")
	b, _ := NewCA("b")
	set, dups, err := ParseCertSet([]byte(b.PEM() + a.PEM() + a.PEM()))
	if err != nil {
		t.Fatal(err)
	}
	if dups != 1 || !set.Equal(SetOf(a, b)) {
		t.Errorf("set %s, %d duplicates", set, dups)
	}
	if set.Equal(SetOf(a)) {
		t.Error("{a, b} equals {a}")
	}
	if d := SetOf(a).Diff(SetOf(b)); !strings.Contains(d, "unexpected [a]") || !strings.Contains(d, "missing [b]") {
		t.Errorf("diff %q", d)
	}
	if _, _, err := ParseCertSet([]byte(strings.Replace(a.PEM(), "CERTIFICATE", "X509 CRL", 2))); err == nil {
		t.Error("a non-CERTIFICATE block was accepted")
	}
}

func TestLeafIsNotCA(t *testing.T) {
	l, err := NewLeaf("l")
	if err != nil {
		t.Fatal(err)
	}
	if l.Cert.IsCA {
		t.Error("leaf is a CA")
	}
	c, _ := NewCA("c")
	if !c.Cert.IsCA || !c.Cert.BasicConstraintsValid {
		t.Error("CA is not a CA")
	}
}

func TestWrappedIsTheSameCertificate(t *testing.T) {
	c, _ := NewCA("c")
	text := c.Wrapped(76, "")
	if strings.Contains(text, c.PEM()) || Parse([]byte(text)).Canonical {
		t.Error("76-column text should differ from encoding/pem's")
	}
	set, _, err := ParseCertSet([]byte(text))
	if err != nil || !set.Equal(SetOf(c)) {
		t.Errorf("set %v, %v", set, err)
	}
	p := Parse([]byte(c.Wrapped(64, "Proc-Type: 4,ENCRYPTED")))
	if len(p.Blocks) != 1 || len(p.Blocks[0].Headers) != 1 {
		t.Errorf("header not kept: %+v", p.Blocks)
	}
	if Parse([]byte(c.Wrapped(64, ""))).Canonical != true {
		t.Error("64-column text without header is canonical")
	}
}

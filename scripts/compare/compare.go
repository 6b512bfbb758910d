package main

import (
	"fmt"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Row is a test whose result differs between the runs.
type Row struct {
	Test string
	// Note is set for a test with subtests (a feature, a TestXxx) whose own
	// result differs while none of its subtests' does: a failed teardown,
	// or a setup that failed in one run (no subtests there).
	Note    string
	A, B    string
	Defects []string
}

// Only is a test that ran in one run only; Subtests counts its subtests,
// not listed on their own.
type Only struct {
	Test, Result string
	Subtests     int
}

// Comparison is what differs between two runs.
type Comparison struct {
	LabelA, LabelB string
	DirA, DirB     string
	Rows           []Row
	OnlyA, OnlyB   []Only
	// Compared counts the assessments (tests without subtests) present in
	// both runs, Equal those with the same refined result.
	Compared, Equal int
}

// Compare compares the refined results (pass/fail/skip and the
// known-defect results) of every test present in both runs.
func Compare(a, b *results.Run, labelA, labelB string) *Comparison {
	c := &Comparison{LabelA: labelA, LabelB: labelB, DirA: a.Dir, DirB: b.Dir}
	names := append([]string(nil), a.Order...)
	for _, n := range b.Order {
		if _, ok := a.Tests[n]; !ok {
			names = append(names, n)
		}
	}
	differs := map[string]bool{}
	for _, n := range names {
		_, inA := a.Tests[n]
		_, inB := b.Tests[n]
		if inA && inB && a.Refined(n) != b.Refined(n) {
			differs[n] = true
		}
	}
	for _, n := range names {
		_, inA := a.Tests[n]
		_, inB := b.Tests[n]
		switch {
		case inA && inB:
			leaf := a.Leaf(n) && b.Leaf(n)
			if leaf {
				c.Compared++
				if !differs[n] {
					c.Equal++
				}
			}
			if !differs[n] || (!leaf && descendantDiffers(n, names, differs)) {
				continue
			}
			ids := results.Dedupe(sortedUnion(a.DefectIDs(n), b.DefectIDs(n)))
			row := Row{Test: n, A: a.Refined(n), B: b.Refined(n), Defects: ids}
			switch {
			case leaf:
			case a.Leaf(n):
				row.Note = "no subtests in " + labelA
			case b.Leaf(n):
				row.Note = "no subtests in " + labelB
			default:
				row.Note = "its own result: its subtests are equal"
			}
			c.Rows = append(c.Rows, row)
		case inA:
			c.OnlyA = append(c.OnlyA, Only{Test: n, Result: a.Refined(n)})
		case inB:
			c.OnlyB = append(c.OnlyB, Only{Test: n, Result: b.Refined(n)})
		}
	}
	c.OnlyA, c.OnlyB = collapse(c.OnlyA), collapse(c.OnlyB)
	return c
}

func descendantDiffers(name string, names []string, differs map[string]bool) bool {
	for _, n := range names {
		if differs[n] && strings.HasPrefix(n, name+"/") {
			return true
		}
	}
	return false
}

// collapse keeps the tests of one run only whose parent is not among them;
// the others count as their ancestor's subtests.
func collapse(list []Only) []Only {
	in := map[string]int{}
	for i, o := range list {
		in[o.Test] = i
	}
	var top []int
	counts := map[int]int{}
	for i, o := range list {
		anc := -1
		for j := strings.Index(o.Test, "/"); j >= 0; j = results.NextSlash(o.Test, j) {
			if k, ok := in[o.Test[:j]]; ok {
				anc = k
				break
			}
		}
		if anc >= 0 {
			counts[anc]++
			continue
		}
		top = append(top, i)
	}
	var out []Only
	for _, i := range top {
		o := list[i]
		o.Subtests = counts[i]
		out = append(out, o)
	}
	return out
}

func sortedUnion(a, b []string) []string {
	all := append(append([]string(nil), a...), b...)
	sort.Strings(all)
	return all
}

// Summary is the count line.
func (c *Comparison) Summary() string {
	return fmt.Sprintf("%d assessments compared, %d equal", c.Compared, c.Equal)
}

func (r Row) name() string {
	if r.Note != "" {
		return r.Test + " (" + r.Note + ")"
	}
	return r.Test
}

// WriteText prints the comparison for a terminal: the results first, the
// (long) test name last.
func (c *Comparison) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "compare: A = %s (%s), B = %s (%s)\n", c.LabelA, c.DirA, c.LabelB, c.DirB)
	if len(c.Rows) == 0 {
		b.WriteString("no assessment differs\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "A: %s\tB: %s\tknown defect\ttest\n", c.LabelA, c.LabelB)
		for _, r := range c.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.A, r.B, orDash(strings.Join(r.Defects, ", ")), r.name())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, side := range []struct {
		label string
		only  []Only
	}{{c.LabelA, c.OnlyA}, {c.LabelB, c.OnlyB}} {
		for _, o := range side.only {
			fmt.Fprintf(&b, "only in %s: %s (%s%s)\n", side.label, o.Test, o.Result, subtests(o.Subtests))
		}
	}
	fmt.Fprintln(&b, c.Summary())
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the same table as a Markdown document.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Comparison: %s and %s\n\n", md(c.LabelA), md(c.LabelB))
	fmt.Fprintf(&b, "- A: %s (`%s`)\n- B: %s (`%s`)\n\n", md(c.LabelA), c.DirA, md(c.LabelB), c.DirB)
	if len(c.Rows) == 0 {
		b.WriteString("No assessment differs.\n\n")
	} else {
		fmt.Fprintf(&b, "| A: %s | B: %s | known defect | test |\n|---|---|---|---|\n", md(c.LabelA), md(c.LabelB))
		for _, r := range c.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", md(r.A), md(r.B), md(orDash(strings.Join(r.Defects, ", "))), md(r.name()))
		}
		b.WriteString("\n")
	}
	for _, side := range []struct {
		label string
		only  []Only
	}{{c.LabelA, c.OnlyA}, {c.LabelB, c.OnlyB}} {
		if len(side.only) == 0 {
			continue
		}
		fmt.Fprintf(&b, "Only in %s:\n\n", md(side.label))
		for _, o := range side.only {
			fmt.Fprintf(&b, "- %s (%s%s)\n", md(o.Test), md(o.Result), subtests(o.Subtests))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s.\n", c.Summary())
	_, err := io.WriteString(w, b.String())
	return err
}

func subtests(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return ", and its subtest"
	}
	return fmt.Sprintf(", and its %d subtests", n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// md escapes what would break a Markdown table cell.
func md(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "<", "&lt;")
	return r.Replace(s)
}

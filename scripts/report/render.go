package main

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// WriteMarkdown writes the summary, then one table row per behaviour.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance report\n\nRun: `%s`, %d behaviours checked.\n\n", r.Dir, len(r.Rows))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> Note: %s\n\n", md(n))
	}
	b.WriteString("## Summary\n\n")
	for _, res := range Results {
		if r.Counts[res] > 0 {
			fmt.Fprintf(&b, "- %s: %d\n", res, r.Counts[res])
		}
	}
	b.WriteString("\n| area | conforms |")
	for _, res := range Results {
		fmt.Fprintf(&b, " %s |", res)
	}
	b.WriteString(" total |\n|---|---|" + strings.Repeat("---:|", len(Results)+1) + "\n")
	for _, a := range r.Areas {
		fmt.Fprintf(&b, "| %s | %s |", md(a.Area), yesNo(a.Conforms()))
		for _, res := range Results {
			fmt.Fprintf(&b, " %d |", a.Counts[res])
		}
		fmt.Fprintf(&b, " %d |\n", a.Total)
	}
	b.WriteString("\n## Results\n\n| area | behaviour | assessment | profile | version | result | reason | timings |\n|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			md(row.Area), md(row.Feature), md(orDash(row.Assessment)), md(row.Profile), md(orDash(row.Version)),
			md(row.Result), md(orDash(row.Reason)), md(orDash(strings.Join(row.Timings, "; "))))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// md escapes what would break a Markdown table cell.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "_", `\_`, "<", "&lt;", "`", "\\`").Replace(s)
}

// cssClass is a result as a CSS class name.
func cssClass(res string) string {
	switch res {
	case Pass, Fail, Skip:
		return res
	case Reproduced:
		return "reproduced"
	case Absent:
		return "absent"
	}
	return "other"
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"class": cssClass, "dash": orDash, "join": strings.Join, "yesno": yesNo,
	"count": func(m map[string]int, k string) int { return m[k] },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Conformance report</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 .3em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #bbb; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #e8ecf2; }
td.n { text-align: right; }
.pass { background: #d4f4d4; }
.fail { background: #f8c8c8; }
.skip { background: #eeeeee; }
.reproduced { background: #ffe0a0; }
.absent { background: #d8ecff; }
.other { background: #f0d8f8; }
.yes { background: #b8ecb8; font-weight: bold; }
.no { background: #f4a8a8; font-weight: bold; }
.note { background: #fff6d0; padding: .4em; border-left: 4px solid #e0b000; }
code { font-size: .95em; }
</style>
</head>
<body>
<h1>Conformance report</h1>
<p>Run: <code>{{.Dir}}</code>, {{len .Rows}} behaviours checked.</p>
{{range .Notes}}<p class="note">Note: {{.}}</p>
{{end}}<h2>Summary</h2>
<table id="summary">
<tr><th>area</th><th>conforms</th>{{range $.Results}}<th>{{.}}</th>{{end}}<th>total</th></tr>
{{range .Areas}}<tr><td>{{.Area}}</td><td class="{{yesno .Conforms}}">{{yesno .Conforms}}</td>{{$a := .}}{{range $.Results}}<td class="n{{if count $a.Counts .}} {{class .}}{{end}}">{{count $a.Counts .}}</td>{{end}}<td class="n">{{.Total}}</td></tr>
{{end}}<tr><th>all</th><th></th>{{range $.Results}}<th>{{count $.Counts .}}</th>{{end}}<th>{{len .Rows}}</th></tr>
</table>
<h2>Results</h2>
<table id="results">
<thead><tr><th>area</th><th>behaviour</th><th>assessment</th><th>profile</th><th>version</th><th>result</th><th>reason</th><th>timings</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="{{class .Result}}" data-test="{{.Test}}"><td>{{.Area}}</td><td>{{.Feature}}</td><td>{{dash .Assessment}}</td><td>{{.Profile}}</td><td>{{dash .Version}}</td><td>{{.Result}}</td><td>{{dash .Reason}}</td><td>{{dash (join .Timings "; ")}}</td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`))

// WriteHTML writes one self-contained page (inline CSS, no external
// resources); html/template escapes every value.
func (r *Report) WriteHTML(w io.Writer) error {
	return htmlPage.Execute(w, struct {
		*Report
		Results []string
	}{r, Results})
}

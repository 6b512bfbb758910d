package main

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// WriteMarkdown writes the summary, the clusters, the behaviour x version
// matrix (when there are several versions), then one table row per
// behaviour.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance report\n\n%s: %s, %d behaviours checked.\n\n", runWord(len(r.Runs)), codeList(r.Dirs()), len(r.Rows))
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
	if r.hasClusters() {
		b.WriteString("\n## Clusters\n\n")
		multi := len(r.Runs) > 1
		if multi {
			b.WriteString("| run ")
		}
		b.WriteString("| cluster | profile | version | state | node logs |\n")
		if multi {
			b.WriteString("|---")
		}
		b.WriteString("|---|---|---|---|---|\n")
		for _, run := range r.Runs {
			for _, c := range run.Clusters {
				if multi {
					fmt.Fprintf(&b, "| %s ", md(run.Dir))
				}
				logs := "-"
				if c.Logs != "" {
					logs = mdLink("node logs", r.Link(c.Logs))
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(c.Name), md(c.Profile), md(orDash(c.Version)), md(orDash(c.State)), logs)
			}
		}
	}
	if len(r.Matrix) > 0 {
		b.WriteString("\n## Behaviour x version\n\n| area | behaviour | assessment |")
		for _, v := range r.Versions {
			fmt.Fprintf(&b, " %s |", md(orDash(v)))
		}
		b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(r.Versions)) + "\n")
		for _, m := range r.Matrix {
			fmt.Fprintf(&b, "| %s | %s | %s |", md(m.Area), md(m.Feature), md(orDash(m.Assessment)))
			for _, c := range m.Cells {
				fmt.Fprintf(&b, " %s |", md(orDash(c.Text)))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n## Results\n\n| area | behaviour | assessment | source | profile | version | result | reason | timings |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		result := md(row.Result)
		if row.Failure != "" {
			result += " (" + mdLink("failure file", r.Link(row.Failure)) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			md(row.Area), md(row.Feature), md(orDash(row.Assessment)), md(orDash(row.Source)), md(row.Profile), md(orDash(row.Version)),
			result, md(orDash(row.Reason)), md(orDash(strings.Join(row.Timings, "; "))))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) hasClusters() bool {
	for _, run := range r.Runs {
		if len(run.Clusters) > 0 {
			return true
		}
	}
	return false
}

func runWord(n int) string {
	if n == 1 {
		return "Run"
	}
	return "Runs"
}

func codeList(dirs []string) string {
	var q []string
	for _, d := range dirs {
		q = append(q, "`"+strings.ReplaceAll(d, "`", "'")+"`")
	}
	return strings.Join(q, ", ")
}

// mdLink is a Markdown link; the URL is escaped already (Report.Link), so
// it holds no space, parenthesis or '|'.
func mdLink(text, url string) string { return "[" + md(text) + "](" + url + ")" }

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
	"class": cssClass, "dash": orDash, "join": strings.Join, "yesno": yesNo, "runword": runWord,
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
<p>{{runword (len .Runs)}}: {{range $i, $d := .Dirs}}{{if $i}}, {{end}}<code>{{$d}}</code>{{end}}, {{len .Rows}} behaviours checked.</p>
{{range .Notes}}<p class="note">Note: {{.}}</p>
{{end}}<h2>Summary</h2>
<table id="summary">
<tr><th>area</th><th>conforms</th>{{range $.Results}}<th>{{.}}</th>{{end}}<th>total</th></tr>
{{range .Areas}}<tr><td>{{.Area}}</td><td class="{{yesno .Conforms}}">{{yesno .Conforms}}</td>{{$a := .}}{{range $.Results}}<td class="n{{if count $a.Counts .}} {{class .}}{{end}}">{{count $a.Counts .}}</td>{{end}}<td class="n">{{.Total}}</td></tr>
{{end}}<tr><th>all</th><th></th>{{range $.Results}}<th>{{count $.Counts .}}</th>{{end}}<th>{{len .Rows}}</th></tr>
</table>
{{if .HasClusters}}<h2>Clusters</h2>
<table id="clusters">
<tr>{{if $.Multi}}<th>run</th>{{end}}<th>cluster</th><th>profile</th><th>version</th><th>state</th><th>node logs</th></tr>
{{range .Runs}}{{$run := .}}{{range .Clusters}}<tr>{{if $.Multi}}<td><code>{{$run.Dir}}</code></td>{{end}}<td>{{.Name}}</td><td>{{.Profile}}</td><td>{{dash .Version}}</td><td>{{dash .State}}</td><td>{{if .Logs}}<a href="{{$.Link .Logs}}">node logs</a>{{else}}-{{end}}</td></tr>
{{end}}{{end}}</table>
{{end}}{{if .Matrix}}<h2>Behaviour x version</h2>
<table id="matrix">
<thead><tr><th>area</th><th>behaviour</th><th>assessment</th>{{range .Versions}}<th>{{dash .}}</th>{{end}}</tr></thead>
<tbody>
{{range .Matrix}}<tr><td>{{.Area}}</td><td>{{.Feature}}</td><td>{{dash .Assessment}}</td>{{range .Cells}}<td{{if .Class}} class="{{.Class}}"{{end}}>{{dash .Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}<h2>Results</h2>
<table id="results">
<thead><tr><th>area</th><th>behaviour</th><th>assessment</th><th>source</th><th>profile</th><th>version</th><th>result</th><th>reason</th><th>timings</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="{{class .Result}}" data-test="{{.Test}}"><td>{{.Area}}</td><td>{{.Feature}}</td><td>{{dash .Assessment}}</td><td>{{dash .Source}}</td><td>{{.Profile}}</td><td>{{dash .Version}}</td><td>{{.Result}}{{if .Failure}} (<a href="{{$.Link .Failure}}">failure file</a>){{end}}</td><td>{{dash .Reason}}</td><td>{{dash (join .Timings "; ")}}</td></tr>
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
		Results            []string
		HasClusters, Multi bool
	}{r, Results, r.hasClusters(), len(r.Runs) > 1})
}

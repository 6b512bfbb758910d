package runtime

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/types"
)

// Selection is what the run was asked to run: e2e-framework's flags (from
// its configuration), go test's -run and -skip, and --profile. The runtime
// applies it before tests start, to know which clusters are needed;
// e2e-framework and go test then apply the same rules again as they run.
type Selection struct {
	Labels, SkipLabels   types.Labels
	Feature, SkipFeature *regexp.Regexp
	Run, Skip            *nameMatcher
	// Profile, when set, keeps only the features of that profile (or of
	// the profile it is a variant of, see Runtime.ProfileBase).
	Profile string
}

// SelectionFrom reads the selection from e2e-framework's configuration and
// go test's -run and -skip patterns.
func SelectionFrom(cfg *envconf.Config, run, skip, profile string) (Selection, error) {
	s := Selection{
		Labels: cfg.Labels(), SkipLabels: cfg.SkipLabels(),
		Feature: cfg.FeatureRegex(), SkipFeature: cfg.SkipFeatureRegex(),
		Profile: profile,
	}
	var err error
	if s.Run, err = newNameMatcher(run); err != nil {
		return s, fmt.Errorf("-run %q: %w", run, err)
	}
	if s.Skip, err = newNameMatcher(skip); err != nil {
		return s, fmt.Errorf("-skip %q: %w", skip, err)
	}
	return s, nil
}

// selected reports whether the feature of test (a TestXxx name) runs, and
// if not, why (the reason is for the plan's log; e2e-framework prints its
// own when it skips).
func (s Selection) selected(test string, c Case, profileOf func(string) string) (bool, string) {
	name := c.Feature.Name()
	if s.Profile != "" && profileOf(s.Profile) != c.profile() {
		return false, fmt.Sprintf("profile %s, not %s", c.profile(), s.Profile)
	}
	if s.Feature != nil && !s.Feature.MatchString(name) {
		return false, "--feature does not match"
	}
	if s.SkipFeature != nil && s.SkipFeature.MatchString(name) {
		return false, "--skip-features matches"
	}
	labels := labelsOf(c)
	for k, vals := range s.Labels {
		ok := false
		for _, v := range vals {
			ok = ok || labels.Contains(k, v)
		}
		if !ok {
			return false, fmt.Sprintf("--labels %s=%s does not match", k, strings.Join(vals, "|"))
		}
	}
	for k, vals := range s.SkipLabels {
		for _, v := range vals {
			if labels.Contains(k, v) {
				return false, fmt.Sprintf("--skip-labels %s=%s matches", k, v)
			}
		}
	}
	elems := []string{test, subtestName(name)}
	if s.Run != nil && !s.Run.matches(elems, false) {
		return false, "-run does not match"
	}
	if s.Skip != nil && s.Skip.matches(elems, true) {
		return false, "-skip matches"
	}
	return true, ""
}

// subtestName is the name go test gives a subtest (testing's rewrite):
// white space becomes '_', a character that is not printable its Go escape
// (unicode.IsSpace is testing's isSpace). It is what -run patterns and
// test2json see.
func subtestName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			b.WriteByte('_')
		case !strconv.IsPrint(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nameMatcher is go test's -run/-skip matching: the pattern is split at
// slashes outside brackets and parentheses, and element i must match
// level i of the test name.
type nameMatcher struct {
	elems []*regexp.Regexp
}

func newNameMatcher(pattern string) (*nameMatcher, error) {
	if pattern == "" {
		return nil, nil
	}
	var elems []*regexp.Regexp
	for _, p := range splitPattern(pattern) {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, err
		}
		elems = append(elems, re)
	}
	return &nameMatcher{elems: elems}, nil
}

// matches reports whether a test named by elems (test, feature) is
// selected. For -run (whole=false), a pattern deeper than the name may
// still select some of its assessments, so only the levels present are
// compared. For -skip (whole=true), the name is skipped only when every
// element of the pattern is matched: a pattern that reaches assessments
// skips those, not the feature.
func (m *nameMatcher) matches(elems []string, whole bool) bool {
	if whole && len(m.elems) > len(elems) {
		return false
	}
	for i, re := range m.elems {
		if i >= len(elems) {
			break
		}
		if !re.MatchString(elems[i]) {
			return false
		}
	}
	return true
}

// splitPattern splits a -run pattern at slashes that are outside [] and ().
func splitPattern(p string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[', '(':
			depth++
		case ']', ')':
			if depth > 0 {
				depth--
			}
		case '/':
			if depth == 0 {
				out = append(out, p[start:i])
				start = i + 1
			}
		}
	}
	return append(out, p[start:])
}

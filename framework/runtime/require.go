package runtime

import (
	"fmt"
	"sort"
	"strings"
)

// ParseRequire reads --require: requirement keys separated by commas,
// spaces around them and empty elements ignored, each kept once in the
// order given.
func ParseRequire(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

// RequirementKeys returns the key of every requirement the areas' cases
// state, selected or not, sorted; a requirement without a key, or one key
// given to two different requirements, is an error of the suite.
func RequirementKeys(areas []Area) ([]string, error) {
	names := map[string]string{}
	for _, a := range areas {
		for _, c := range a.Cases() {
			for _, r := range c.Needs.Requires {
				if r.Key == "" || strings.ContainsAny(r.Key, ", ") {
					return nil, fmt.Errorf("runtime: %s/%s: requirement %q needs a Key without commas or spaces (for --require)", a.Test, c.Feature.Name(), r.Name)
				}
				if n, ok := names[r.Key]; ok && n != r.Name {
					return nil, fmt.Errorf("runtime: requirement key %q names both %q and %q", r.Key, n, r.Name)
				}
				names[r.Key] = r.Name
			}
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// checkRequire refuses keys of --require that no requirement has, listing
// the known ones.
func checkRequire(require []string, known []string) error {
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var unknown []string
	for _, k := range require {
		if !isKnown[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return fmt.Errorf("--require: unknown requirement %s; known requirements: %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
}

// Outcomes of a requirement check (requirementVerdict).
const (
	verdictHolds = "holds"
	verdictSkip  = "skip"
	verdictFail  = "fail"
)

// requirementCheck is what checking one requirement of a feature on its
// cluster gave.
type requirementCheck struct {
	Req Requirement
	// Profile is the feature's profile; Cluster the cluster's name.
	Profile, Cluster string
	// Existing: an existing cluster (--kubeconfig), not a kind profile.
	Existing bool
	// Required: --require names the requirement.
	Required bool
	// Lacks is the kind profile's reason it cannot give the requirement
	// (clusters.Profile.Lacks); empty when it promises it.
	Lacks string
	// OK, Seen and Err are what Requirement.Holds returned.
	OK   bool
	Seen string
	Err  error
}

// requirementVerdict decides what becomes of the feature. On a kind
// cluster an unmet requirement, or one that could not be checked, fails
// (the profile promised it). On an existing cluster it skips with the
// reason, unless --require names it: then it fails with the same reason.
func requirementVerdict(c requirementCheck) (verdict, msg string) {
	r := c.Req
	var reason string
	switch {
	case c.Err == nil && c.OK:
		return verdictHolds, fmt.Sprintf("requirement %q holds: %s", r.Name, c.Seen)
	case !c.Existing && c.Lacks != "":
		return verdictSkip, fmt.Sprintf("needs %s, which profile %s does not give: %s (cluster %s shows: %s)", r.Name, c.Profile, c.Lacks, c.Cluster, c.Seen)
	case !c.Existing && c.Err != nil:
		return verdictFail, fmt.Sprintf("checking requirement %q on cluster %s: %v", r.Name, c.Cluster, c.Err)
	case !c.Existing:
		return verdictFail, fmt.Sprintf("profile %s should give %s, but cluster %s shows: %s", c.Profile, r.Name, c.Cluster, c.Seen)
	case c.Err != nil:
		reason = fmt.Sprintf("needs %s, which could not be checked on cluster %s: %v", r.Name, c.Cluster, c.Err)
	default:
		reason = fmt.Sprintf("needs %s (the cluster shows: %s): kind profile %s", r.Name, c.Seen, r.Profile)
	}
	if c.Required {
		return verdictFail, fmt.Sprintf("%s; --require=%s asked for it, so this fails instead of skipping", reason, r.Key)
	}
	return verdictSkip, reason
}

package runtime

import (
	"context"
	"sort"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// accessProvider hands out one cluster whose user lacks the rights in deny.
type accessProvider struct {
	deny map[string]bool
	fakeProvider
}

func (p *accessProvider) Create(ctx context.Context, s Slot) (*steps.Cluster, error) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, apiruntime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		var key string
		if ra := r.Spec.ResourceAttributes; ra != nil {
			key = cluster.Access{Verb: ra.Verb, Group: ra.Group, Resource: ra.Resource, Subresource: ra.Subresource}.String()
		} else {
			key = cluster.Access{Verb: r.Spec.NonResourceAttributes.Verb, NonResourceURL: r.Spec.NonResourceAttributes.Path}.String()
		}
		r.Status.Allowed = !p.deny[key]
		return true, r, nil
	})
	return &steps.Cluster{Name: "kic-" + s.Profile, Clientset: cs}, nil
}

// On an existing cluster a feature whose rights the user lacks is skipped,
// naming the right and why; the others run. (In kind mode the same lack is
// a failure: requirementsStep; missingAccess is checked below.)
func TestMissingRightsSkipExactlyTheFeaturesThatNeedThem(t *testing.T) {
	p := &accessProvider{deny: map[string]bool{"create serviceaccounts/token": true}}
	cases := func() []Case {
		return []Case{
			Default(feature("requests tokens", nil, nil)).Access(cluster.TokenRequestAccess, cluster.VerifyAccess),
			Default(feature("reviews tokens", nil, nil)).Access(cluster.TokenReviewAccess),
			Default(feature("needs nothing more", nil, nil)),
		}
	}
	area := t.Name() + "/group/TestArea"
	r, _ := newTestRuntime(t, p, Selection{}, true, Area{area, cases})
	r.Start(context.Background())
	t.Run("group", func(t *testing.T) {
		t.Run("TestArea", func(t *testing.T) { r.Run(t, cases()...) })
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, res := range r.Results() {
		got = append(got, res.Outcome+" "+strings.TrimPrefix(res.Feature, area+"/"))
	}
	sort.Strings(got)
	if want := "PASS needs nothing more,PASS reviews tokens,SKIP requests tokens"; strings.Join(got, ",") != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
}

func TestMissingAccessAsksEachRightOncePerCluster(t *testing.T) {
	p := &accessProvider{deny: map[string]bool{"get /openid/v1/jwks": true, "create tokenreviews.authentication.k8s.io": true}}
	c, _ := p.Create(context.Background(), Slot{Profile: "default"})
	needs := append(append([]cluster.Access(nil), cluster.VerifyAccess...), cluster.TokenReviewAccess...)
	for i := 0; i < 3; i++ {
		missing, err := missingAccess(context.Background(), c, needs)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(missing, "; "); got != "get /openid/v1/jwks (the keys that verify service-account tokens); create tokenreviews.authentication.k8s.io (asking who a token authenticates as)" {
			t.Errorf("missing = %q", got)
		}
	}
	if n := len(c.Clientset.(*fake.Clientset).Actions()); n != len(needs) {
		t.Errorf("%d access reviews for %d rights asked three times, want one each", n, len(needs))
	}
}

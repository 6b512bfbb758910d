package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// leftovers is an existing cluster after two interrupted runs, with the
// cluster's own objects beside them.
func leftovers() *fake.Clientset {
	run := func(id string) map[string]string {
		return map[string]string{steps.LabelSuite: "true", steps.LabelRun: id}
	}
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kic-aaa111-tokens", Labels: run("aaa111")}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kic-bbb222-ctb", Labels: run("bbb222")}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kic-aaa111-discovery-x", Labels: run("aaa111")}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "system:basic-user"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "kic-bbb222-signer-y", Labels: run("bbb222")}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "admin"}},
		&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "kic-bbb222-root", Labels: run("bbb222")}},
		&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes.io:kube-apiserver-serving:abc"}},
	)
	allow(cs, func(*authorizationv1.ResourceAttributes) bool { return true })
	return cs
}

// allow answers SelfSubjectAccessReviews with ok's verdict.
func allow(cs *fake.Clientset, ok func(*authorizationv1.ResourceAttributes) bool) {
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = ok(r.Spec.ResourceAttributes)
		return true, r, nil
	})
}

func names(t *testing.T, cs *fake.Clientset) map[string]bool {
	t.Helper()
	ctx := context.Background()
	got := map[string]bool{}
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range nss.Items {
		got["namespace/"+o.Name] = true
	}
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range crbs.Items {
		got["clusterrolebinding/"+o.Name] = true
	}
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range crs.Items {
		got["clusterrole/"+o.Name] = true
	}
	ctbs, err := cs.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if ctbs != nil {
		for _, o := range ctbs.Items {
			got["clustertrustbundle/"+o.Name] = true
		}
	}
	return got
}

var (
	suiteMade = []string{"namespace/kic-aaa111-tokens", "namespace/kic-bbb222-ctb", "clusterrolebinding/kic-aaa111-discovery-x",
		"clusterrole/kic-bbb222-signer-y", "clustertrustbundle/kic-bbb222-root"}
	clusterOwn = []string{"namespace/default", "namespace/team-a", "clusterrolebinding/system:basic-user", "clusterrole/admin",
		"clustertrustbundle/kubernetes.io:kube-apiserver-serving:abc"}
)

// TestCleanExistingRemovesEveryRunsObjectsOnly: the objects of every run
// go, the cluster's own stay, and each removal is printed.
func TestCleanExistingRemovesEveryRunsObjectsOnly(t *testing.T) {
	cs := leftovers()
	var out bytes.Buffer
	if err := cleanExisting(context.Background(), cs, false, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	left := names(t, cs)
	for _, n := range suiteMade {
		if left[n] {
			t.Errorf("%s is still there", n)
		}
		if !strings.Contains(out.String(), "deleted "+n+"\n") {
			t.Errorf("output does not say %s was deleted:\n%s", n, &out)
		}
	}
	for _, n := range clusterOwn {
		if !left[n] {
			t.Errorf("%s, not the suite's, was removed", n)
		}
	}
	if !strings.Contains(out.String(), "5 objects labelled kube-identity-conformance.io/suite=true deleted") {
		t.Errorf("no summary:\n%s", &out)
	}
}

// TestCleanExistingDryRunDeletesNothing: a dry run lists exactly what the
// real clean-up would delete, and deletes nothing.
func TestCleanExistingDryRunDeletesNothing(t *testing.T) {
	cs := leftovers()
	var out bytes.Buffer
	if err := cleanExisting(context.Background(), cs, true, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "delete" {
			t.Errorf("a dry run deleted: %v", a)
		}
	}
	for _, n := range suiteMade {
		if !strings.Contains(out.String(), "would delete "+n+"\n") {
			t.Errorf("dry run does not list %s:\n%s", n, &out)
		}
	}
	for _, n := range clusterOwn {
		if strings.Contains(out.String(), n) {
			t.Errorf("dry run lists %s, not the suite's:\n%s", n, &out)
		}
	}
	if !strings.Contains(out.String(), "dry run: 5 objects") {
		t.Errorf("no dry-run summary:\n%s", &out)
	}
}

// TestCleanExistingPassesOverUnservedKinds: ClusterTrustBundle v1 on an
// older cluster answers 404; the clean-up says so and goes on.
func TestCleanExistingPassesOverUnservedKinds(t *testing.T) {
	cs := leftovers()
	cs.PrependReactor("list", "clustertrustbundles", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "certificates.k8s.io", Resource: "clustertrustbundles"}, "")
	})
	var out bytes.Buffer
	if err := cleanExisting(context.Background(), cs, false, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "clustertrustbundles: not served by this cluster") {
		t.Errorf("the unserved kind is not reported:\n%s", &out)
	}
	left := names(t, cs)
	for _, n := range []string{"namespace/kic-aaa111-tokens", "clusterrole/kic-bbb222-signer-y"} {
		if left[n] {
			t.Errorf("%s is still there", n)
		}
	}
}

// TestCleanExistingReportsKindsItMayNotList: without the list right on a
// kind it is not looked for, and the output says so.
func TestCleanExistingReportsKindsItMayNotList(t *testing.T) {
	cs := leftovers()
	allow(cs, func(r *authorizationv1.ResourceAttributes) bool { return r == nil || r.Resource != "clusterroles" })
	var out bytes.Buffer
	if err := cleanExisting(context.Background(), cs, false, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "clusterroles: not looked for: this user may not list clusterroles.rbac.authorization.k8s.io") ||
		!strings.Contains(out.String(), "not checked, for lack of the list right: [clusterrole]") {
		t.Errorf("the unchecked kind is not reported:\n%s", &out)
	}
	if !names(t, cs)["clusterrole/kic-bbb222-signer-y"] {
		t.Error("a kind it may not list was swept")
	}
}

// TestCleanExistingGoesOnAfterAFailure: a refused delete of one kind is
// returned, and the other kinds are cleaned all the same.
func TestCleanExistingGoesOnAfterAFailure(t *testing.T) {
	cs := leftovers()
	cs.PrependReactor("delete", "clusterrolebindings", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, "kic-aaa111-discovery-x", errors.New("denied"))
	})
	var out bytes.Buffer
	err := cleanExisting(context.Background(), cs, false, &out)
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "delete clusterrolebinding kic-aaa111-discovery-x") {
		t.Fatalf("error %v; want the refused delete, named", err)
	}
	left := names(t, cs)
	for _, n := range []string{"namespace/kic-bbb222-ctb", "clusterrole/kic-bbb222-signer-y", "clustertrustbundle/kic-bbb222-root"} {
		if left[n] {
			t.Errorf("%s is still there after another kind failed", n)
		}
	}
}

// TestCleanExistingOnACleanCluster says there is nothing to do.
func TestCleanExistingOnACleanCluster(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	allow(cs, func(*authorizationv1.ResourceAttributes) bool { return true })
	var out bytes.Buffer
	if err := cleanExisting(context.Background(), cs, false, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing labelled kube-identity-conformance.io/suite=true") {
		t.Errorf("output:\n%s", &out)
	}
}

// TestCleanExistingNeedsAKubeconfig: the flag is named, with an example.
func TestCleanExistingNeedsAKubeconfig(t *testing.T) {
	err := runCleanExisting(context.Background(), nil, &bytes.Buffer{})
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--kubeconfig is required, e.g.") {
		t.Errorf("error %v; want a usage error naming --kubeconfig with an example", err)
	}
	err = runCleanExisting(context.Background(), []string{"--kubeconfig", t.TempDir() + "/missing"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %v; want the missing kubeconfig named", err)
	}
}

// TestCleanExistingOverHTTP runs the subcommand as a person does, against
// an API server of the test's own (context "b" of a kubeconfig whose
// current context points nowhere): the suite's selector is what the server
// is asked for, and only the namespace it returns is deleted.
func TestCleanExistingOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var selectors, deletes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		list := func(apiVersion, kind, items string) {
			selectors = append(selectors, r.URL.Path+"?"+r.URL.Query().Get("labelSelector"))
			fmt.Fprintf(w, `{"apiVersion":%q,"kind":%q,"metadata":{},"items":[%s]}`, apiVersion, kind, items)
		}
		switch {
		case r.URL.Path == "/version":
			fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
		case r.Method == http.MethodPost && r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
			fmt.Fprint(w, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","status":{"allowed":true}}`)
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces":
			list("v1", "NamespaceList", `{"metadata":{"name":"kic-aaa111-tokens"}}`)
		case r.Method == http.MethodGet && r.URL.Path == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings":
			list("rbac.authorization.k8s.io/v1", "ClusterRoleBindingList", "")
		case r.Method == http.MethodGet && r.URL.Path == "/apis/rbac.authorization.k8s.io/v1/clusterroles":
			list("rbac.authorization.k8s.io/v1", "ClusterRoleList", "")
		case r.Method == http.MethodDelete:
			deletes = append(deletes, r.URL.Path)
			fmt.Fprint(w, `{"apiVersion":"v1","kind":"Status","status":"Success"}`)
		default: // ClusterTrustBundle v1 is not served: 404, as on 1.35
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404}`)
		}
	}))
	defer srv.Close()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
current-context: a
clusters:
- {name: a, cluster: {server: "http://127.0.0.1:1"}}
- {name: b, cluster: {server: "`+srv.URL+`"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: a, context: {cluster: a, user: u}}
- {name: b, context: {cluster: b, user: u}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runCleanExisting(context.Background(), []string{"--kubeconfig", kc, "--context", "b"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range selectors {
		if !strings.HasSuffix(s, "?"+steps.SuiteSelector) {
			t.Errorf("listed %s; want the selector %s", s, steps.SuiteSelector)
		}
	}
	if len(selectors) != 3 {
		t.Errorf("lists %v; want namespaces, clusterrolebindings, clusterroles", selectors)
	}
	if !slices.Equal(deletes, []string{"/api/v1/namespaces/kic-aaa111-tokens"}) {
		t.Errorf("deleted %v; want only the suite's namespace", deletes)
	}
	for _, want := range []string{"context b", "Kubernetes v1.37.2", "deleted namespace/kic-aaa111-tokens", "clustertrustbundles: not served"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}

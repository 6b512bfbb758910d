package signer

import (
	"context"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// decide makes the decision on p. An error is a transient failure (the API
// could not be read): the request is tried again later.
func (s *Signer) decide(ctx context.Context, p *pcr) (Result, error) {
	r := Result{Request: p.Request}
	refuse := func(decision, reason, message string) (Result, error) {
		r.Request = p.Request
		r.Decision, r.Reason, r.Message = decision, reason, message
		return r, nil
	}
	if reason, msg := p.parseKey(); reason != "" {
		return refuse(DecisionDenied, reason, msg)
	}
	reason, msg, err := s.checkIdentity(ctx, p.Request)
	if err != nil {
		return r, err
	}
	if reason != "" {
		return refuse(DecisionDenied, reason, msg)
	}
	switch v := p.UnverifiedUserAnnotations[DecisionAnnotation]; v {
	case "", "issue":
	case "deny":
		return refuse(DecisionDenied, "DeniedOnRequest", "denied as asked by "+DecisionAnnotation+"=deny")
	case "fail":
		return refuse(DecisionFailed, "FailedOnRequest", "failed as asked by "+DecisionAnnotation+"=fail")
	default:
		return refuse(DecisionDenied, certificatesv1.PodCertificateRequestConditionInvalidUserConfig,
			fmt.Sprintf("%s=%q: want deny, fail or issue", DecisionAnnotation, v))
	}
	if s.o.Decide != nil {
		switch d, reason, msg := s.o.Decide(p.Request); d {
		case "", DecisionIssued:
		case DecisionDenied, DecisionFailed:
			return refuse(d, reason, msg)
		default:
			return refuse(DecisionFailed, "InvalidDecision", fmt.Sprintf("the test's Decide hook returned %q", d))
		}
	}
	return s.issue(p.Request)
}

// checkIdentity checks the request against the API: the pod, its service
// account and its node. A non-empty reason denies the request.
func (s *Signer) checkIdentity(ctx context.Context, r Request) (reason, message string, err error) {
	ns := r.Namespace
	pod, err := s.cs.CoreV1().Pods(ns).Get(ctx, r.PodName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "PodNotFound", fmt.Sprintf("pod %s/%s does not exist", ns, r.PodName), nil
	case err != nil:
		return "", "", fmt.Errorf("get pod %s/%s: %w", ns, r.PodName, err)
	case pod.UID != r.PodUID:
		return "PodUIDMismatch", fmt.Sprintf("pod %s/%s has UID %s, the request names UID %s", ns, r.PodName, pod.UID, r.PodUID), nil
	case pod.Spec.ServiceAccountName != r.ServiceAccountName:
		return "ServiceAccountNameMismatch", fmt.Sprintf("pod %s/%s runs as service account %q, the request names %q",
			ns, r.PodName, pod.Spec.ServiceAccountName, r.ServiceAccountName), nil
	case pod.Spec.NodeName != r.NodeName:
		return "NodeNameMismatch", fmt.Sprintf("pod %s/%s is on node %q, the request names node %q", ns, r.PodName, pod.Spec.NodeName, r.NodeName), nil
	}
	sa, err := s.cs.CoreV1().ServiceAccounts(ns).Get(ctx, r.ServiceAccountName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "ServiceAccountNotFound", fmt.Sprintf("service account %s/%s does not exist", ns, r.ServiceAccountName), nil
	case err != nil:
		return "", "", fmt.Errorf("get service account %s/%s: %w", ns, r.ServiceAccountName, err)
	case sa.UID != r.ServiceAccountUID:
		return "ServiceAccountUIDMismatch", fmt.Sprintf("service account %s/%s has UID %s, the request names UID %s",
			ns, r.ServiceAccountName, sa.UID, r.ServiceAccountUID), nil
	}
	node, err := s.cs.CoreV1().Nodes().Get(ctx, r.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "NodeNotFound", fmt.Sprintf("node %s does not exist", r.NodeName), nil
	case err != nil:
		return "", "", fmt.Errorf("get node %s: %w", r.NodeName, err)
	case node.UID != r.NodeUID:
		return "NodeUIDMismatch", fmt.Sprintf("node %s has UID %s, the request names UID %s", r.NodeName, node.UID, r.NodeUID), nil
	}
	return "", "", nil
}

// validity is the times of a certificate issued at now with these options
// to a request allowing maxExpirationSeconds; ok is false if no lifetime of
// at least 1h fits.
func validity(o Options, now time.Time, maxExpirationSeconds int32) (nb, refresh, na time.Time, ok bool) {
	maxLife := time.Duration(maxExpirationSeconds) * time.Second
	life := min(o.Lifetime, maxLife)
	if life < time.Hour {
		return nb, refresh, na, false
	}
	// Whole seconds: X.509 and metav1.Time keep no more.
	nb = now.UTC().Add(-o.NotBeforeSkew).Truncate(time.Second)
	na = nb.Add(life).Truncate(time.Second)
	refresh = na.Add(-30 * time.Minute)
	if o.RefreshAfter > 0 {
		refresh = nb.Add(o.RefreshAfter)
	}
	refresh = refresh.Truncate(time.Second)
	if lo := nb.Add(10 * time.Minute); refresh.Before(lo) {
		refresh = lo
	}
	if hi := na.Add(-10 * time.Minute); refresh.After(hi) {
		refresh = hi
	}
	return nb, refresh, na, true
}

func (s *Signer) issue(r Request) (Result, error) {
	res := Result{Request: r}
	nb, refresh, na, ok := validity(s.o, s.o.Now(), r.MaxExpirationSeconds)
	if !ok {
		res.Decision, res.Reason = DecisionFailed, "LifetimeTooShort"
		res.Message = fmt.Sprintf("maxExpirationSeconds %d allows no lifetime of at least 1h", r.MaxExpirationSeconds)
		return res, nil
	}
	leaf, chain, err := s.ca.issueLeaf(r, nb, na)
	if err != nil {
		res.Decision, res.Reason, res.Message = DecisionFailed, "SigningFailed", err.Error()
		return res, nil
	}
	res.Decision, res.Reason = DecisionIssued, "Issued"
	res.Message = fmt.Sprintf("issued %s to %s key of pod %s/%s, valid %s to %s",
		SPIFFEID(r.Namespace, r.ServiceAccountName), r.KeyType, r.Namespace, r.PodName,
		nb.Format(time.RFC3339), na.Format(time.RFC3339))
	res.Leaf, res.CertificateChain = leaf, chain
	res.NotBefore, res.BeginRefreshAt, res.NotAfter = nb, refresh, na
	return res, nil
}

// status is the status that records r: one condition, and for Issued the
// chain and its times.
func (r Result) status(now time.Time) certificatesv1.PodCertificateRequestStatus {
	st := certificatesv1.PodCertificateRequestStatus{
		Conditions: []metav1.Condition{{
			Type:               r.Decision,
			Status:             metav1.ConditionTrue,
			Reason:             r.Reason,
			Message:            r.Message,
			LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
		}},
	}
	if r.Decision == DecisionIssued {
		st.CertificateChain = r.CertificateChain
		st.NotBefore = &metav1.Time{Time: r.NotBefore}
		st.BeginRefreshAt = &metav1.Time{Time: r.BeginRefreshAt}
		st.NotAfter = &metav1.Time{Time: r.NotAfter}
	}
	return st
}

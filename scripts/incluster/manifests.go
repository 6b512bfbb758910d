package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The manifests, one copy for the check and the documentation
// (README.md, "In-cluster run").
var (
	//go:embed rbac.yaml
	rbacYAML []byte
	//go:embed job.yaml
	jobYAML []byte
	//go:embed sonobuoy-plugin.yaml
	pluginYAML []byte
)

// Names in the manifests.
const (
	Namespace = "kic-incluster"
	JobName   = "kic-suite"
	Container = "suite"
	LabelKey  = "kube-identity-conformance.io/suite" // steps.LabelSuite
)

// decodeAll splits a multi-document YAML manifest into objects.
func decodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue // an empty document
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("a document without kind or name: %v", m)
		}
		objs = append(objs, u)
	}
}

// JobOptions set the Job from the check's flags; empty fields keep the
// manifest's values.
type JobOptions struct {
	SuiteImage, ProbeImage, Run, Timeout, ExtraArgs string
}

// jobFor is job.yaml with the options applied.
func jobFor(o JobOptions) (*batchv1.Job, error) {
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(jobYAML, &job); err != nil {
		return nil, fmt.Errorf("job.yaml: %w", err)
	}
	cs := job.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != Container {
		return nil, fmt.Errorf("job.yaml: want one container %q", Container)
	}
	c := &cs[0]
	if o.SuiteImage != "" {
		c.Image = o.SuiteImage
	}
	setEnv(c, "PROBE_IMAGE", o.ProbeImage)
	setEnv(c, "E2E_FOCUS", o.Run)
	setEnv(c, "E2E_TIMEOUT", o.Timeout)
	setEnv(c, "E2E_EXTRA_ARGS", o.ExtraArgs)
	return &job, nil
}

func setEnv(c *corev1.Container, name, value string) {
	if value == "" {
		return
	}
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// envValue is the container's value of name.
func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// toUnstructured turns a typed object into one the dynamic client applies.
func toUnstructured(obj runtime.Object, apiVersion, kind string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	// The converter writes a null creationTimestamp, which apply refuses
	// to own; status is not the client's.
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

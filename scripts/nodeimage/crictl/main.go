// Command crictl is the node image's small CRI client, standing in for
// cri-tools (not packaged by Debian, not served by the Go module proxy here).
// It implements what kind runs on a node and what a person debugging one
// needs most:
//
//	crictl images            list images (kind's log export)
//	crictl inspecti IMAGE    image status as JSON (kind load docker-image)
//	crictl ps [-a]           list containers
//	crictl pods              list pod sandboxes
//
// The endpoint comes from runtime-endpoint in /etc/crictl.yaml.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const defaultEndpoint = "unix:///run/containerd/containerd.sock"

func main() {
	if len(os.Args) < 2 {
		fail("usage: crictl images | inspecti IMAGE | ps [-a] | pods")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail("connect to %s: %v", endpoint(), err)
	}
	defer conn.Close()
	images := runtimeapi.NewImageServiceClient(conn)
	runtime := runtimeapi.NewRuntimeServiceClient(conn)
	switch os.Args[1] {
	case "images", "img":
		err = listImages(ctx, images)
	case "inspecti":
		if len(os.Args) != 3 {
			fail("usage: crictl inspecti IMAGE")
		}
		err = inspectImage(ctx, images, os.Args[2])
	case "ps":
		err = listContainers(ctx, runtime, len(os.Args) > 2 && os.Args[2] == "-a")
	case "pods":
		err = listPods(ctx, runtime)
	default:
		fail("crictl: unknown command %q (this node's crictl knows images, inspecti, ps, pods)", os.Args[1])
	}
	if err != nil {
		fail("crictl %s: %v", os.Args[1], err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// endpoint reads runtime-endpoint from /etc/crictl.yaml.
func endpoint() string {
	f, err := os.Open("/etc/crictl.yaml")
	if err != nil {
		return defaultEndpoint
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "runtime-endpoint:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return defaultEndpoint
}

func listImages(ctx context.Context, c runtimeapi.ImageServiceClient) error {
	res, err := c.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tTAG\tIMAGE ID\tSIZE")
	for _, img := range res.Images {
		for _, tag := range img.RepoTags {
			repo, t := tag, "<none>"
			if i := strings.LastIndex(tag, ":"); i > strings.LastIndex(tag, "/") {
				repo, t = tag[:i], tag[i+1:]
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%.1fMB\n", repo, t, shortID(img.Id), float64(img.Size)/1e6)
		}
	}
	return w.Flush()
}

// inspectImage prints the fields kind reads (status.id, status.repoTags).
func inspectImage(ctx context.Context, c runtimeapi.ImageServiceClient, ref string) error {
	res, err := c.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil {
		return err
	}
	if res.Image == nil {
		return fmt.Errorf("no such image %q present", ref)
	}
	out := map[string]any{"status": map[string]any{
		"id": res.Image.Id, "repoTags": res.Image.RepoTags, "repoDigests": res.Image.RepoDigests, "size": fmt.Sprint(res.Image.Size),
	}}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func listContainers(ctx context.Context, c runtimeapi.RuntimeServiceClient, all bool) error {
	req := &runtimeapi.ListContainersRequest{}
	if !all {
		req.Filter = &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}
	}
	res, err := c.ListContainers(ctx, req)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "CONTAINER\tIMAGE\tSTATE\tNAME\tATTEMPT\tPOD ID\tPOD")
	for _, ct := range res.Containers {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", shortID(ct.Id), ct.Image.GetImage(), strings.TrimPrefix(ct.State.String(), "CONTAINER_"),
			ct.Metadata.GetName(), ct.Metadata.GetAttempt(), shortID(ct.PodSandboxId), ct.Labels["io.kubernetes.pod.name"])
	}
	return w.Flush()
}

func listPods(ctx context.Context, c runtimeapi.RuntimeServiceClient) error {
	res, err := c.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "POD ID\tSTATE\tNAME\tNAMESPACE")
	for _, p := range res.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", shortID(p.Id), strings.TrimPrefix(p.State.String(), "SANDBOX_"), p.Metadata.GetName(), p.Metadata.GetNamespace())
	}
	return w.Flush()
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

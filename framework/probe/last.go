package probe

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"
)

// Answer is the last answer a probe gave the run to one kind of request
// (its endpoint: files, watch, oidc, ...): what a failed feature's report
// shows of what the pod saw. File bytes are never kept: every "content"
// field of the answer is replaced by "(N bytes, not kept)".
type Answer struct {
	Pod      string    `json:"pod"`
	Port     int       `json:"port"`
	Endpoint string    `json:"endpoint"`
	At       time.Time `json:"at"`
	// Body is the answer (redacted), or Error why there was none.
	Body  json.RawMessage `json:"body,omitempty"`
	Error string          `json:"error,omitempty"`
}

// maxAnswer bounds a kept answer.
const maxAnswer = 16 << 10

type answers struct {
	mu sync.Mutex
	m  map[string]Answer // namespace/pod/port/endpoint -> answer
}

func (a *answers) record(namespace, pod string, port int, path string, body []byte, err error) {
	endpoint := path
	if i := strings.Index(path, "/proxy/"); i >= 0 {
		endpoint = path[i+len("/proxy/"):]
	}
	ans := Answer{Pod: pod, Port: port, Endpoint: endpoint, At: time.Now()}
	if err != nil {
		ans.Error = err.Error()
	} else {
		ans.Body = redact(body)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[namespace+"/"+pod+"/"+itoa(port)+"/"+endpoint] = ans
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// LastAnswers returns the last answer of each endpoint of each probe in
// namespace, by pod and endpoint.
func (c *Client) LastAnswers(namespace string) []Answer {
	c.last.mu.Lock()
	defer c.last.mu.Unlock()
	var out []Answer
	for k, a := range c.last.m {
		if strings.HasPrefix(k, namespace+"/") {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pod != out[j].Pod {
			return out[i].Pod < out[j].Pod
		}
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return out[i].Endpoint < out[j].Endpoint
	})
	return out
}

// redact replaces every "content" value of a JSON answer by its size, and
// cuts an answer that is too long; an answer that is no JSON is kept as a
// string.
func redact(body []byte) json.RawMessage {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		s := string(body)
		if len(s) > maxAnswer {
			s = s[:maxAnswer] + "..."
		}
		out, _ := json.Marshal(s)
		return out
	}
	out, err := json.Marshal(strip(v))
	if err != nil || len(out) > maxAnswer {
		s, _ := json.Marshal("(answer of " + itoa(len(body)) + " bytes, too long to keep)")
		return s
	}
	return out
}

func strip(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k == "content" {
				n := 0
				if s, ok := x.(string); ok {
					n = len(s) * 3 / 4 // base64
				}
				t[k] = "(" + itoa(n) + " bytes, not kept)"
				continue
			}
			t[k] = strip(x)
		}
	case []any:
		for i := range t {
			t[i] = strip(t[i])
		}
	}
	return v
}

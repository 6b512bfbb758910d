package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Watch limits: a watcher reads its file at most every minWatchInterval and
// stops after maxWatchDuration; at most maxWatches paths are watched.
const (
	minWatchInterval = 50 * time.Millisecond
	maxWatchDuration = 30 * time.Minute
	maxWatches       = 8
	maxGenerations   = 64
	maxErrors        = 10
)

// watcher reads one path again and again and records what each read saw.
type watcher struct {
	mu sync.Mutex
	w  Watch
	// target is the watched path in its allow-list entry; content keeps
	// each generation's bytes (POST /watch?content=true).
	target  target
	content bool
}

type watches struct {
	mu    sync.Mutex
	paths map[string]*watcher
	ctx   context.Context
	allow allowList
}

// start handles POST /watch?path=P&interval=D[&content=true]: it starts
// watching P (once; a second POST for the same path changes nothing) and
// answers the watch's state so far. P must be in the allow-list (403).
func (ws *watches) start(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		http.Error(w, "no path parameter: POST /watch?path=/a&interval=250ms", http.StatusBadRequest)
		return
	}
	targets, err := ws.allow.targets([]string{path})
	if err != nil {
		refuse(w, err)
		return
	}
	content, err := wantContent(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	interval := 250 * time.Millisecond
	if v := r.URL.Query().Get("interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < minWatchInterval {
			http.Error(w, fmt.Sprintf("interval %q: want a duration of at least %s", v, minWatchInterval), http.StatusBadRequest)
			return
		}
		interval = d
	}
	ws.mu.Lock()
	wt, ok := ws.paths[path]
	if !ok {
		if len(ws.paths) >= maxWatches {
			ws.mu.Unlock()
			http.Error(w, fmt.Sprintf("already watching %d paths", maxWatches), http.StatusTooManyRequests)
			return
		}
		wt = &watcher{w: Watch{Path: path, Interval: interval, Started: time.Now().UTC()}, target: targets[0], content: content}
		ws.paths[path] = wt
		go wt.run(ws.ctx)
	}
	ws.mu.Unlock()
	wt.answer(w)
}

// get handles GET /watch?path=P.
func (ws *watches) get(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	ws.mu.Lock()
	wt, ok := ws.paths[path]
	ws.mu.Unlock()
	if !ok {
		http.Error(w, fmt.Sprintf("not watching %q: POST /watch?path=... first", path), http.StatusNotFound)
		return
	}
	wt.answer(w)
}

func (wt *watcher) answer(w http.ResponseWriter) {
	wt.mu.Lock()
	body, err := json.Marshal(wt.w)
	wt.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func (wt *watcher) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, maxWatchDuration)
	defer cancel()
	t := time.NewTicker(wt.w.Interval)
	defer t.Stop()
	for {
		wt.read()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// read makes one read, through the same single open as /files.
func (wt *watcher) read() {
	fr := inspectTarget(wt.target, wt.content)
	now := time.Now().UTC()
	wt.mu.Lock()
	defer wt.mu.Unlock()
	w := &wt.w
	w.Reads++
	if fr.Error != "" || !fr.Exists {
		w.Errors++
		if len(w.FirstErrors) < maxErrors {
			msg := fr.Error
			if msg == "" {
				msg = "no such file"
			}
			w.FirstErrors = append(w.FirstErrors, now.Format(time.RFC3339Nano)+": "+msg)
		}
		return
	}
	if fr.Size == 0 {
		w.Empty++
	}
	sum := fr.SHA256
	if n := len(w.Generations); n > 0 && w.Generations[n-1].SHA256 == sum {
		g := &w.Generations[n-1]
		g.LastSeen, g.Reads = now, g.Reads+1
		return
	}
	if len(w.Generations) >= maxGenerations {
		w.Errors++
		return
	}
	w.Generations = append(w.Generations, Generation{
		SHA256: sum, Size: fr.Size, Dir: fr.Generation, Inode: fr.Inode,
		FirstSeen: now, LastSeen: now, Reads: 1, Content: fr.Content,
	})
}

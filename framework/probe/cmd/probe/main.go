// Command probe is the container of every example pod in the suite. It serves
// what the pod sees on its filesystem over HTTP on port 8080 (see package
// server) and stands in for the example's own program.
//
// The image has the binary at /probe (the entrypoint) and /bin/sleep -> /probe,
// so the examples' commands keep working unchanged: argv[0] is ignored and
// the arguments are read as sleep(1) reads them.
//
//	probe                 serve until SIGTERM or SIGINT
//	sleep infinity        the same
//	sleep 3600            serve for 3600 s, then exit 0 (also 1.5, 10m, 2h, 1d; several add up)
//
// $PROBE_PORT changes the port, for a second probe in the same pod (an
// ephemeral container shares the pod's network).
//
// It serves nothing unless $PROBE_SECRET holds the run's secret (every request
// must carry it) and $PROBE_ALLOW lists the pod's volume mounts it may describe
// (see package server): without them it exits 2 at start, saying why.
//
// It needs only the standard library and builds with CGO_ENABLED=0.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe/server"
)

// shutdownGrace bounds how long in-flight requests may delay the exit.
const shutdownGrace = 2 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	port := server.Port
	if v := os.Getenv(server.PortEnv); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			fmt.Fprintf(os.Stderr, "probe: %s=%q is not a TCP port\n", server.PortEnv, v)
			os.Exit(2)
		}
		port = p
	}
	cfg, err := server.ConfigFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		os.Exit(2)
	}
	code := run(ctx, cfg, os.Args[1:], fmt.Sprintf(":%d", port), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves on addr under cfg until ctx ends or the sleep time given by
// args is up, and returns the exit code: 0 after a clean stop, 2 for bad
// arguments or configuration, 1 when the server cannot run.
func run(ctx context.Context, cfg server.Config, args []string, addr string, stdout, stderr io.Writer) int {
	logger := log.New(stdout, "", 0)
	handler, err := server.NewHandler(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}

	d, forever, err := parseSleep(args)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}
	if !forever {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 1
	}
	srv := &http.Server{
		Handler:           logRequests(logger, handler),
		ReadHeaderTimeout: 10 * time.Second,
	}
	logger.Printf("probe listening on %s, serving %s", addr, strings.Join(cfg.Allow, ", "))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 1
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "probe: shutdown: %v\n", err)
	}
	return 0
}

// parseSleep reads sleep(1) arguments: none or "infinity" means forever;
// otherwise each argument is a non-negative number of seconds with an
// optional suffix s, m, h or d, and the arguments add up.
func parseSleep(args []string) (d time.Duration, forever bool, err error) {
	if len(args) == 0 {
		return 0, true, nil
	}
	var seconds float64
	for _, arg := range args {
		if arg == "infinity" || arg == "inf" {
			return 0, true, nil
		}
		num, unit := arg, 1.0
		switch {
		case strings.HasSuffix(arg, "s"):
			num = strings.TrimSuffix(arg, "s")
		case strings.HasSuffix(arg, "m"):
			num, unit = strings.TrimSuffix(arg, "m"), 60
		case strings.HasSuffix(arg, "h"):
			num, unit = strings.TrimSuffix(arg, "h"), 3600
		case strings.HasSuffix(arg, "d"):
			num, unit = strings.TrimSuffix(arg, "d"), 86400
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(num, "xXpP_") {
			return 0, false, fmt.Errorf("invalid time interval %q (want sleep N[smhd]... or sleep infinity)", arg)
		}
		seconds += v * unit
	}
	if seconds*float64(time.Second) >= math.MaxInt64 {
		return 0, true, nil
	}
	return time.Duration(seconds * float64(time.Second)), false, nil
}

// logRequests writes one line per request to logger.
func logRequests(logger *log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.Printf("%s %s %s %d %s", r.RemoteAddr, r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Microsecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

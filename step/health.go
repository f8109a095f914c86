package step

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// Backoff between health check attempts: Initial, doubling up to Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// DefaultBackoff is used when HealthOptions.Backoff is zero.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 10 * time.Second}

// HealthCheck waits until the release's objects are ready, verifies that an Ingress or
// HTTPRoute routes the URL's host to a Service port, then GETs the URL plus the health path
// until it answers 2xx, with backoff, all within o.Timeout. On failure it prints diagnostics,
// writes the diagnostics result (the health check's one with the application's last log lines)
// and returns an error saying which stage failed.
func (r *Runner) HealthCheck(ctx context.Context, o HealthOptions) (err error) {
	defer func() {
		err = r.writeResults(o.ResultsDir, nil, err)
	}()
	start := r.Clock.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	log := r.Log.With(zap.String("release", o.Release), zap.String("namespace", r.Kube.Namespace))

	target, err := healthURL(o.URL, o.Path)
	if err != nil {
		return &InputError{Msg: err.Error()}
	}
	objs, err := r.releaseObjects(o.Release)
	if errors.Is(err, ErrReleaseNotFound) {
		return fmt.Errorf("%w in namespace %s (did the deploy step run?)", err, r.Kube.Namespace)
	}
	if err != nil {
		return err
	}
	workloads := workloadsOf(objs)
	log.Info("waiting for the release", zap.Int("objects", len(objs)))
	if err := r.waitReady(ctx, log, objs, nil, waitOptions{Interval: o.PollInterval}); err != nil {
		r.diagnose(ctx, workloads, o.Diagnose, false)
		return fmt.Errorf("release %q not available after %s: %w", o.Release, r.Clock.Since(start).Round(time.Second), err)
	}
	if o.CheckRouting {
		rc, err := r.checkRouting(ctx, target.Hostname(), o.IngressClass,
			"The health check would get the ingress controller's 404: check repositories[].values in the Catalyst configuration.")
		if err != nil {
			r.diagnose(ctx, workloads, o.Diagnose, false)
			return err
		}
		log.Info("preview host is routed", zap.String("host", target.Hostname()), zap.String("route", rc.Route))
	}
	log.Info("checking health endpoint", zap.String("url", target.String()), zap.String("connectTo", o.ConnectTo))
	if err := r.probe(ctx, log, target, o); err != nil {
		rep := r.diagnose(ctx, workloads, o.Diagnose, true)
		msg := fmt.Sprintf("health check of %s failed after %s: %v", target, r.Clock.Since(start).Round(time.Second), err)
		if rep.log != "" {
			msg += "\n" + rep.log
		}
		return &FailureError{Kind: preview.DiagnosticHealth, Msg: msg, Err: err}
	}
	log.Info("preview is healthy", zap.String("url", target.String()), zap.Duration("elapsed", r.Clock.Since(start)))
	fmt.Fprintf(r.Out, "preview is healthy: %s\n", target)
	return nil
}

// healthURL joins the preview's base URL and the health path.
func healthURL(base, p string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--url %q is not an http(s) URL with a host", base)
	}
	ref, err := url.Parse(p)
	if err != nil {
		return nil, fmt.Errorf("--path %q: %w", p, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(ref.Path, "/")
	u.RawQuery = ref.RawQuery
	return u, nil
}

// deploymentStatus says whether a Deployment's current spec is fully rolled out and available
// (the rules of `kubectl rollout status`). A rollout past its progress deadline is an error.
func deploymentStatus(d *appsv1.Deployment) (bool, string, error) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	counts := fmt.Sprintf("%d/%d available, %d updated", s.AvailableReplicas, want, s.UpdatedReplicas)
	if d.Generation > s.ObservedGeneration {
		return false, "waiting for the deployment controller to observe the new spec; " + counts, nil
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return false, counts + "; " + c.Message, fmt.Errorf("deployment %s: %w: %s", d.Name, errRolloutFailed, c.Message)
		}
	}
	switch {
	case s.UpdatedReplicas < want:
		return false, counts + "; waiting for updated replicas", nil
	case s.Replicas > s.UpdatedReplicas:
		return false, counts + fmt.Sprintf("; %d old replicas pending termination", s.Replicas-s.UpdatedReplicas), nil
	case s.AvailableReplicas < s.UpdatedReplicas || s.AvailableReplicas < want:
		return false, counts + "; waiting for replicas to become available", nil
	}
	return true, counts, nil
}

// statefulSetStatus says whether a StatefulSet's current revision is rolled out and ready.
func statefulSetStatus(s *appsv1.StatefulSet) (bool, string) {
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	counts := fmt.Sprintf("%d/%d ready, %d updated", st.ReadyReplicas, want, st.UpdatedReplicas)
	switch {
	case s.Generation > st.ObservedGeneration:
		return false, "waiting for the statefulset controller to observe the new spec; " + counts
	case st.ReadyReplicas < want || st.AvailableReplicas < want:
		return false, counts + "; waiting for replicas to become ready"
	case s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		(s.Spec.UpdateStrategy.RollingUpdate == nil || s.Spec.UpdateStrategy.RollingUpdate.Partition == nil) &&
		st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision:
		return false, counts + "; waiting for the rolling update to finish"
	}
	return true, counts
}

// probe GETs target until it answers 2xx or ctx ends.
func (r *Runner) probe(ctx context.Context, log *zap.Logger, target *url.URL, o HealthOptions) error {
	client := httpClient(o, target)
	defer client.CloseIdleConnections()
	b := o.Backoff
	if b.Initial <= 0 {
		b = DefaultBackoff
	}
	delay := b.Initial
	var lastErr error
	for attempt := 1; ; attempt++ {
		status, err := get(ctx, client, target)
		if err == nil {
			log.Info("health endpoint answered", zap.Int("attempt", attempt), zap.Int("status", status))
			return nil
		}
		if ctx.Err() != nil && lastErr != nil {
			// Cut short by the overall deadline: the previous answer says more.
			return fmt.Errorf("%d attempts, last: %w", attempt-1, lastErr)
		}
		lastErr = err
		log.Info("health check attempt failed", zap.Int("attempt", attempt), zap.Error(err), zap.Duration("retryIn", delay))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d attempts, last: %w", attempt, lastErr)
		case <-r.Clock.After(delay):
		}
		delay = min(delay*2, b.Max)
	}
}

// get does one attempt; a non-2xx answer is an error carrying the start of the body.
func get(ctx context.Context, client *http.Client, target *url.URL) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "catalyst-preview-step/healthcheck")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet := strings.TrimSpace(string(body))
		if snippet != "" {
			snippet = ": " + snippet
		}
		return resp.StatusCode, fmt.Errorf("GET %s: %s%s", target, resp.Status, snippet)
	}
	return resp.StatusCode, nil
}

// httpClient dials o.ConnectTo instead of the URL's host when set (like curl --connect-to),
// keeping the Host header and TLS server name of the preview host: the check can go through the
// ingress controller's Service when the preview host does not resolve inside the cluster.
// Environment proxies are ignored: the check must reach the preview, not a proxy's idea of it.
func httpClient(o HealthOptions, target *url.URL) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DisableKeepAlives = true
	if o.ConnectTo != "" {
		hostPort := canonicalHostPort(target)
		dialer := &net.Dialer{Timeout: 10 * time.Second}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == hostPort {
				addr = o.ConnectTo
			}
			return dialer.DialContext(ctx, network, addr)
		}
	}
	switch {
	case o.InsecureSkipTLSVerify:
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicit opt-in for previews with self-signed certificates
	case o.CABundle != "":
		pool, _ := certPool(o.CABundle) // validated with the options
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	timeout := o.RequestTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

func canonicalHostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// certPool is the system roots plus the PEM certificates of bundle (at least one).
func certPool(bundle string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q, want CERTIFICATE", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

package step

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/util/version"
)

// DeployResult is what a deploy produced.
type DeployResult struct {
	Release  string
	Revision int
	URL      string // empty without a host
	Status   release.Status
}

// localInput is everything the deploy needs from the fetched source, read and checked before
// the cluster is contacted.
type localInput struct {
	chart        *chart.Chart
	chartDisplay string
	files        []valuesFile
	values       map[string]any
}

// loadInput loads the chart and the values files and merges the overrides. Errors are
// InputError or ChartError.
func loadInput(o DeployOptions) (*localInput, error) {
	chartDir, err := resolveInSource(o.SourceDir, o.Chart)
	if err != nil {
		return nil, &InputError{Msg: "--chart: " + err.Error()}
	}
	in := &localInput{chartDisplay: displayPath(o.SourceDir, o.Chart)}
	if in.chart, err = loadChart(chartDir, in.chartDisplay); err != nil {
		return nil, err
	}
	for _, v := range o.ValuesFiles {
		if v == "" {
			continue
		}
		p, err := resolveInSource(o.SourceDir, v)
		if err != nil {
			return nil, &InputError{Msg: "--values: " + err.Error()}
		}
		f, err := readValuesFile(p, displayPath(o.SourceDir, v))
		if err != nil {
			return nil, err
		}
		in.files = append(in.files, f)
	}
	ov := Overrides{Host: o.Host, IngressClass: o.IngressClass, Requests: o.Requests, Limits: o.Limits,
		Keys: o.Keys, Set: o.Set, SetString: o.SetString}
	if o.Image != "" {
		if ov.Image, err = ParseImage(o.Image); err != nil {
			return nil, &InputError{Msg: "--image: " + err.Error()}
		}
	}
	if o.ImageDigest != "" {
		ov.Image.Digest = o.ImageDigest
	}
	if in.values, err = mergeValues(in.files, ov); err != nil {
		return nil, err
	}
	return in, nil
}

// displayPath is the path a developer knows: relative to the repository when there is one.
func displayPath(sourceDir, p string) string {
	if sourceDir == "" {
		return filepath.ToSlash(filepath.Clean(p))
	}
	return path.Clean(filepath.ToSlash(strings.TrimPrefix(p, "./")))
}

// Deploy installs or upgrades the release (`helm upgrade --install --wait`) and writes the
// url and release-revision results. A template, schema or values mistake fails before the
// cluster changes, with its file and line. A rollout that does not become ready in time fails
// with diagnostics and leaves the resources in place, unless RollbackOnFailure.
func (r *Runner) Deploy(ctx context.Context, o DeployOptions) (*DeployResult, error) {
	log := r.Log.With(zap.String("release", o.Release), zap.String("namespace", r.Kube.Namespace))
	in, err := loadInput(o)
	if err != nil {
		return nil, err
	}
	info, err := r.Kube.ServerVersion(ctx)
	if err != nil {
		return nil, err
	}
	caps := capabilities(info.GitVersion)
	cfg, err := r.Kube.helm(log)
	if err != nil {
		return nil, err
	}
	last, err := currentRelease(cfg, o.Release)
	installing := errors.Is(err, ErrReleaseNotFound)
	if err != nil && !installing {
		return nil, err
	}
	relOpts := chartutil.ReleaseOptions{Name: o.Release, Namespace: r.Kube.Namespace, Revision: 1, IsInstall: installing, IsUpgrade: !installing}
	if !installing {
		relOpts.Revision = last.Version + 1
	}
	if _, err := preflight(in.chart, in.chartDisplay, in.values, in.files, relOpts, caps); err != nil {
		return nil, err
	}
	if !installing && last.Info.Status.IsPending() {
		if err := r.recoverPending(cfg, last, o.Timeout); err != nil {
			return nil, err
		}
	}

	log.Info("deploying chart", zap.String("chart", in.chartDisplay), zap.String("version", in.chart.Metadata.Version),
		zap.Bool("install", installing), zap.Duration("timeout", o.Timeout))
	var rel *release.Release
	if installing {
		inst := action.NewInstall(cfg)
		inst.ReleaseName, inst.Namespace = o.Release, r.Kube.Namespace
		inst.Wait, inst.WaitForJobs, inst.Timeout = o.Wait, o.Wait, o.Timeout
		inst.Atomic = o.RollbackOnFailure
		inst.Description = o.Description
		rel, err = inst.RunWithContext(ctx, in.chart, in.values)
	} else {
		up := action.NewUpgrade(cfg)
		up.Namespace = r.Kube.Namespace
		up.Wait, up.WaitForJobs, up.Timeout = o.Wait, o.Wait, o.Timeout
		up.Atomic = o.RollbackOnFailure
		up.ResetValues = true // the values are complete every time; never reuse the last ones
		up.MaxHistory = o.MaxHistory
		up.Description = o.Description
		rel, err = up.RunWithContext(ctx, o.Release, in.chart, in.values)
	}
	if err != nil {
		return nil, r.deployFailed(ctx, cfg, o, rel, err)
	}
	res := &DeployResult{Release: rel.Name, Revision: rel.Version, Status: rel.Info.Status, URL: PreviewURL(o.URLScheme, o.Host)}
	log.Info("deployed release", zap.Int("revision", rel.Version), zap.String("status", rel.Info.Status.String()), zap.String("url", res.URL))
	if rel.Info.Notes != "" {
		fmt.Fprintf(r.Out, "%s\n", strings.TrimSpace(rel.Info.Notes))
	}
	results := map[string]string{ResultReleaseRevision: strconv.Itoa(rel.Version), ResultURL: res.URL}
	if err := WriteResults(o.ResultsDir, results); err != nil {
		return res, err
	}
	return res, nil
}

// PreviewURL is the URL a preview host is served at ("" without a host).
func PreviewURL(scheme, host string) string {
	if host == "" {
		return ""
	}
	if scheme == "" {
		scheme = "https"
	}
	return scheme + "://" + host
}

// capabilities are Helm's defaults with the cluster's Kubernetes version, for the offline render.
func capabilities(gitVersion string) *chartutil.Capabilities {
	caps := chartutil.DefaultCapabilities.Copy()
	if v, err := version.ParseGeneric(gitVersion); err == nil {
		caps.KubeVersion = chartutil.KubeVersion{Version: "v" + v.String(), Major: strconv.Itoa(int(v.Major())), Minor: strconv.Itoa(int(v.Minor()))}
	}
	return caps
}

// recoverPending unblocks a release left pending by a deploy that died (its pod was killed or
// timed out): Helm refuses to upgrade a pending release. A release pending for less than the
// deploy timeout may belong to a deploy still running, so it is left alone.
func (r *Runner) recoverPending(cfg *action.Configuration, last *release.Release, timeout time.Duration) error {
	since := last.Info.LastDeployed.Time
	if age := r.Clock.Since(since); age < timeout {
		return fmt.Errorf("release %q revision %d is %s since %s; another deploy may still be running (retry after %s)",
			last.Name, last.Version, last.Info.Status, since.UTC().Format(time.RFC3339), (timeout - age).Round(time.Second))
	}
	r.Log.Warn("marking interrupted release failed", zap.String("release", last.Name), zap.Int("revision", last.Version),
		zap.String("status", last.Info.Status.String()), zap.Time("since", since))
	last.SetStatus(release.StatusFailed, fmt.Sprintf("interrupted while %s; marked failed by catalyst preview-step", last.Info.Status))
	if err := cfg.Releases.Update(last); err != nil {
		return fmt.Errorf("mark interrupted release %q failed: %w", last.Name, err)
	}
	return nil
}

// deployFailed explains a failed install or upgrade: it prints diagnostics of the release's
// workloads (the resources stay for inspection unless the release was rolled back).
func (r *Runner) deployFailed(ctx context.Context, cfg *action.Configuration, o DeployOptions, rel *release.Release, err error) error {
	if IsUserError(err) {
		return err
	}
	revision := 0
	var objs []objectRef
	if rel == nil {
		rel, _ = cfg.Releases.Last(o.Release)
	}
	if rel != nil {
		revision = rel.Version
		objs, _ = manifestObjects(rel.Manifest)
	}
	r.Log.Error("deploy failed", zap.String("release", o.Release), zap.Int("revision", revision), zap.Error(err))
	r.diagnose(ctx, workloadsOf(objs), o.Diagnose, false)
	if o.RollbackOnFailure {
		return fmt.Errorf("deploy release %q: %w (rolled back: --rollback-on-failure)", o.Release, err)
	}
	return fmt.Errorf("deploy release %q revision %d: %w (resources kept for diagnosis)", o.Release, revision, err)
}

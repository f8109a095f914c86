package step

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/step/overlay"
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
	src          chartSources
	files        []valuesFile
	overlay      valuesFile
	facts        overlay.Facts
	// skipped are keys of the default overlay the chart's schema rejects, left out.
	skipped []string
	values  map[string]any
}

// sources are the values sources in the order a later one wins (for schema error locations).
func (in *localInput) sources() []valuesFile {
	out := []valuesFile{{Display: path.Join(in.chartDisplay, chartutil.ValuesfileName), Data: rawFile(in.chart, chartutil.ValuesfileName)}}
	out = append(out, in.files...)
	if len(in.overlay.Values) > 0 {
		out = append(out, in.overlay)
	}
	return out
}

// loadInput loads the chart (fetching dependencies when asked) and the values files, renders
// the overlay and merges everything. Errors are InputError or ChartError.
func loadInput(o DeployOptions, namespace string) (*localInput, error) {
	chartDir, err := resolveInSource(o.SourceDir, o.Chart)
	if err != nil {
		return nil, &InputError{Msg: "--chart: " + err.Error()}
	}
	in := &localInput{chartDisplay: displayPath(o.SourceDir, o.Chart)}
	if _, err := os.Stat(chartDir); o.SourceDir != "" && errors.Is(err, fs.ErrNotExist) {
		return nil, &InputError{Msg: fmt.Sprintf("chart %s not found in the repository at this commit (repositories[].chartPath in the Catalyst configuration)", in.chartDisplay)}
	}
	deps := depOptions{Build: o.DependencyBuild, SourceDir: o.SourceDir, CacheDir: o.HelmCache}
	if in.chart, in.src, err = loadChart(chartDir, in.chartDisplay, deps); err != nil {
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
		display := displayPath(o.SourceDir, v)
		if _, err := os.Stat(p); o.SourceDir != "" && errors.Is(err, fs.ErrNotExist) {
			return nil, &InputError{Msg: fmt.Sprintf("values file %s not found in the repository at this commit (repositories[].valuesFile in the Catalyst configuration)", display)}
		}
		f, err := readValuesFile(p, display)
		if err != nil {
			return nil, err
		}
		in.files = append(in.files, f)
	}
	if in.facts, err = factsFor(o, namespace); err != nil {
		return nil, err
	}
	if in.overlay, in.skipped, err = renderOverlay(in.chart, in.chartDisplay, in.files, o.Overlay, in.facts); err != nil {
		return nil, err
	}
	if in.values, err = mergeValues(in.files, in.overlay.Values, o.Set, o.SetString); err != nil {
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

// Deploy installs or upgrades the release (`helm upgrade --install`), waits until its objects
// are ready, verifies that the preview host is routed, and writes the url, release-revision
// and diagnostics results. A template, schema, values or dependency mistake fails before the
// cluster changes, with its file and line. A rollout that does not become ready fails with what
// it waited on, and leaves the resources in place unless RollbackOnFailure.
func (r *Runner) Deploy(ctx context.Context, o DeployOptions) (res *DeployResult, err error) {
	results := map[string]string{}
	defer func() {
		err = r.writeResults(o.ResultsDir, results, err)
	}()
	log := r.Log.With(zap.String("release", o.Release), zap.String("namespace", r.Kube.Namespace))
	in, err := loadInput(o, r.Kube.Namespace)
	if err != nil {
		return nil, err
	}
	for _, key := range in.skipped {
		log.Warn("default overlay key left out: the chart's values.schema.json rejects it; place the preview's facts with repositories[].values",
			zap.String("key", key), zap.String("chart", in.chartDisplay))
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
	rendered, err := preflight(in, relOpts, caps)
	if err != nil {
		return nil, err
	}
	warnUnpinned(log, rendered, in.facts)
	if !installing && last.Info.Status.IsPending() {
		if err := r.recoverPending(cfg, last, o.Timeout); err != nil {
			return nil, err
		}
	}

	log.Info("deploying chart", zap.String("chart", in.chartDisplay), zap.String("version", in.chart.Metadata.Version),
		zap.Bool("install", installing), zap.Duration("timeout", o.Timeout))
	// Helm's own wait is off: it logs what it waits on only at debug level and ends with
	// "context deadline exceeded". waitReady says what it waits on.
	var rel *release.Release
	if installing {
		inst := action.NewInstall(cfg)
		inst.ReleaseName, inst.Namespace = o.Release, r.Kube.Namespace
		inst.Timeout = o.Timeout
		inst.Description = o.Description
		rel, err = inst.RunWithContext(ctx, in.chart, in.values)
	} else {
		up := action.NewUpgrade(cfg)
		up.Namespace = r.Kube.Namespace
		up.Timeout = o.Timeout
		up.ResetValues = true // the values are complete every time; never reuse the last ones
		up.MaxHistory = o.MaxHistory
		up.Description = o.Description
		rel, err = up.RunWithContext(ctx, o.Release, in.chart, in.values)
	}
	if err != nil {
		return nil, r.deployFailed(ctx, cfg, o, in, rel, installing, err)
	}
	if o.Wait {
		if err := r.waitRelease(ctx, log, cfg, o, in, rel, installing); err != nil {
			return nil, err
		}
		if o.Host != "" {
			rc, err := r.checkRouting(ctx, o.Host, o.IngressClass, routingHint(in))
			if err != nil {
				if fe, ok := err.(*FailureError); ok {
					fe.Path, fe.Line = path.Join(in.chartDisplay, chartutil.ValuesfileName), yamlKeyLine(rawFile(in.chart, chartutil.ValuesfileName), []string{"ingress"})
				}
				r.diagnose(ctx, nil, o.Diagnose, false)
				return nil, err
			}
			log.Info("preview host is routed", zap.String("host", o.Host), zap.String("route", rc.Route))
		}
	}
	res = &DeployResult{Release: rel.Name, Revision: rel.Version, Status: rel.Info.Status, URL: PreviewURL(o.URLScheme, o.Host)}
	log.Info("deployed release", zap.Int("revision", rel.Version), zap.String("status", rel.Info.Status.String()), zap.String("url", res.URL))
	if rel.Info.Notes != "" {
		fmt.Fprintf(r.Out, "%s\n", strings.TrimSpace(rel.Info.Notes))
	}
	results[ResultReleaseRevision], results[ResultURL] = strconv.Itoa(rel.Version), res.URL
	return res, nil
}

// waitRelease waits until the release's objects are ready within the deploy timeout. When they
// are not, the release is marked failed (as Helm's own wait would) and, with RollbackOnFailure,
// rolled back or uninstalled.
func (r *Runner) waitRelease(ctx context.Context, log *zap.Logger, cfg *action.Configuration, o DeployOptions, in *localInput, rel *release.Release, installing bool) error {
	objs, err := manifestObjects(rel.Manifest)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	werr := r.waitReady(wctx, log, objs, in.src, waitOptions{Interval: o.PollInterval, BlockedGrace: o.BlockedGrace})
	if werr == nil {
		return nil
	}
	rel.SetStatus(release.StatusFailed, "rollout not ready: "+werr.Error())
	if err := cfg.Releases.Update(rel); err != nil {
		log.Error("cannot mark the release failed", zap.Error(err))
	}
	r.diagnose(ctx, workloadsOf(objs), o.Diagnose, false)
	return r.rollback(cfg, log, o, rel, installing, werr)
}

// rollback undoes a failed deploy when RollbackOnFailure: a first install is uninstalled, an
// upgrade rolled back to the previous revision.
func (r *Runner) rollback(cfg *action.Configuration, log *zap.Logger, o DeployOptions, rel *release.Release, installing bool, cause error) error {
	if !o.RollbackOnFailure {
		return fmt.Errorf("deploy release %q revision %d: %w (resources kept for diagnosis)", o.Release, rel.Version, cause)
	}
	var err error
	if installing {
		_, err = action.NewUninstall(cfg).Run(o.Release)
	} else {
		rb := action.NewRollback(cfg)
		rb.Version = rel.Version - 1
		rb.MaxHistory = o.MaxHistory
		err = rb.Run(o.Release)
	}
	if err != nil {
		log.Error("rollback failed", zap.Error(err))
		return fmt.Errorf("deploy release %q: %w (and the rollback failed: %v)", o.Release, cause, err)
	}
	return fmt.Errorf("deploy release %q: %w (rolled back: --rollback-on-failure)", o.Release, cause)
}

// routingHint says what to change when the preview host is not routed.
func routingHint(in *localInput) string {
	if in.overlay.Display == overlayDisplay {
		return "Check repositories[].values in the Catalyst configuration: it must enable the chart's Ingress (or HTTPRoute) and place ${preview.host} where the chart reads its host."
	}
	return "No values overlay is configured and the default one (ingress.host, ingress.className) does not fit this chart: set repositories[].values in the Catalyst configuration, " +
		"for example ingress.enabled: true and ingress.hosts: [{host: ${preview.host}, paths: [{path: /, pathType: Prefix}]}] for a `helm create` chart."
}

// warnUnpinned logs when the digest is known but no rendered container image carries it: the
// overlay does not place ${image.digest}, ${image.pinnedTag} or ${image.ref} where the chart
// builds its image reference.
func warnUnpinned(log *zap.Logger, rendered map[string]string, f overlay.Facts) {
	if f.Image.Digest == "" {
		if f.Image.Repository != "" {
			log.Warn("image not pinned: the build reported no digest", zap.String("image", f.Image.Ref()))
		}
		return
	}
	for _, text := range rendered {
		if strings.Contains(text, f.Image.Digest) {
			return
		}
	}
	log.Warn("image not pinned: no rendered manifest contains the build's digest; place ${image.digest}, ${image.pinnedTag} or ${image.ref} with repositories[].values",
		zap.String("digest", f.Image.Digest))
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

// deployFailed explains a failed install or upgrade: an object the API server refused is
// reported at the template that rendered it; otherwise the workloads are diagnosed. The
// resources stay for inspection unless RollbackOnFailure.
func (r *Runner) deployFailed(ctx context.Context, cfg *action.Configuration, o DeployOptions, in *localInput, rel *release.Release, installing bool, err error) error {
	if IsUserError(err) {
		return err
	}
	if rel == nil {
		rel, _ = cfg.Releases.Last(o.Release)
	}
	var objs []objectRef
	revision := 0
	if rel != nil {
		revision = rel.Version
		objs, _ = manifestObjects(rel.Manifest)
	}
	r.Log.Error("deploy failed", zap.String("release", o.Release), zap.Int("revision", revision), zap.Error(err))
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		err = fmt.Errorf("%w: %w", refusal(se, objs, in.src), err)
	}
	r.diagnose(ctx, workloadsOf(objs), o.Diagnose, false)
	if rel != nil {
		return r.rollback(cfg, r.Log, o, rel, installing, err)
	}
	return fmt.Errorf("deploy release %q: %w", o.Release, err)
}

// refusal is an object the API server refused (admission: quota, Pod Security, validation),
// placed at the template that rendered it.
func refusal(se *apierrors.StatusError, objs []objectRef, src chartSources) *ChartError {
	d := se.ErrStatus.Details
	ce := &ChartError{Kind: preview.DiagnosticManifest, Msg: "the API server refused it: " + se.ErrStatus.Message}
	if d == nil {
		return ce
	}
	for _, obj := range objs {
		if obj.Name != d.Name || !sameKind(obj.Kind, d.Kind) || obj.Source == "" {
			continue
		}
		file, _, inner := src.file(obj.Source, 0)
		ce.File = file
		ce.Msg = fmt.Sprintf("%s was refused by the API server: %s", obj, se.ErrStatus.Message)
		if inner != "" {
			ce.Msg = "in " + inner + ": " + ce.Msg
		}
		break
	}
	if hint := quotaHint(se.ErrStatus.Message); hint != "" {
		ce.Msg += ". " + hint
	}
	return ce
}

// quotaHint says what to change when the preview quota refuses a Service type: the quota's own
// message names only the resource counts.
func quotaHint(msg string) string {
	if !strings.Contains(msg, "exceeded quota") {
		return ""
	}
	var types []string
	if strings.Contains(msg, "services.loadbalancers") {
		types = append(types, "LoadBalancer")
	}
	if strings.Contains(msg, "services.nodeports") {
		types = append(types, "NodePort")
	}
	if len(types) == 0 {
		return ""
	}
	return fmt.Sprintf("The preview namespace's quota limits %s Services (none by default; preview.quota in the Catalyst configuration): set the Service type to ClusterIP in repositories[].values, for example service.type: ClusterIP",
		strings.Join(types, " and "))
}

// sameKind compares a Kind with what a Status names: the Kind (Invalid) or the resource
// (Forbidden, "services").
func sameKind(kind, status string) bool {
	k, s := strings.ToLower(kind), strings.ToLower(status)
	return k == s || k+"s" == s || k+"es" == s || strings.TrimSuffix(k, "y")+"ies" == s
}

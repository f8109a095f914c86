package step

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/catalyst-preview/catalyst/step/overlay"
)

// DefaultRelease is the release name the pipelines use unless told otherwise.
const DefaultRelease = "preview"

// DeployOptions configure the deploy subcommand.
type DeployOptions struct {
	Release     string
	SourceDir   string   // the fetched repository; Chart and ValuesFiles are relative to it
	Chart       string   // chart directory or .tgz
	ValuesFiles []string // applied in order; empty entries are ignored
	// Overlay is the repository's values overlay (YAML or JSON, `repositories[].values`),
	// rendered with the preview's facts and merged after the values files. Empty: the default
	// overlay, applied where the chart's schema accepts it.
	Overlay     string
	Image       string // registry/repo:tag built for the pull request
	ImageDigest string // sha256:... reported by the build
	Host        string // preview host
	URLScheme   string // scheme of the url result: https or http
	// IngressClass is the configured ingress class (the ${preview.ingressClass} fact); routes
	// of another class do not count as routing the preview host.
	IngressClass string
	PRNumber     string // the ${pr.number} fact
	Revision     string // the ${commit.sha} fact
	// DependencyBuild fetches dependencies Chart.yaml declares but charts/ lacks.
	DependencyBuild bool
	// HelmCache is where fetched dependencies go (a writable directory: the step's root file
	// system is read-only); empty: a temporary directory.
	HelmCache         string
	Set               []string
	SetString         []string
	Timeout           time.Duration
	Wait              bool
	RollbackOnFailure bool
	MaxHistory        int
	Description       string
	ResultsDir        string
	Diagnose          DiagnoseOptions

	// Not flags: how long a rollout may stay blocked (a ReplicaSet that cannot create pods)
	// before the deploy fails without waiting for the timeout, and the pace of polling.
	BlockedGrace time.Duration
	PollInterval time.Duration
}

// NewDeployOptions returns the flag defaults.
func NewDeployOptions() *DeployOptions {
	return &DeployOptions{
		Release:      DefaultRelease,
		URLScheme:    "https",
		Timeout:      5 * time.Minute,
		Wait:         true,
		MaxHistory:   10,
		Diagnose:     DefaultDiagnoseOptions,
		BlockedGrace: 30 * time.Second,
	}
}

// AddFlags binds the options to fs.
func (o *DeployOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name.")
	fs.StringVar(&o.SourceDir, "source-dir", o.SourceDir, "Directory of the fetched repository; --chart and --values are relative to it and may not leave it. Empty: paths are used as given.")
	fs.StringVar(&o.Chart, "chart", o.Chart, "Chart directory (or .tgz) to deploy.")
	fs.StringArrayVar(&o.ValuesFiles, "values", o.ValuesFiles, "Values file, repeatable; later files win. Empty values are ignored.")
	fs.StringVar(&o.Overlay, "values-overlay", o.Overlay, "Values overlay (YAML or JSON) with ${...} placeholders, merged after the values files; empty applies the default overlay (image.repository/tag/digest, ingress.host/className) where the chart's schema accepts it.")
	fs.StringVar(&o.Image, "image", o.Image, "Image built for the pull request (registry/repo:tag): the ${image.*} facts.")
	fs.StringVar(&o.ImageDigest, "image-digest", o.ImageDigest, "Digest of --image (sha256:...) reported by the build: ${image.digest}; pins the image.")
	fs.StringVar(&o.Host, "host", o.Host, "Preview host: ${preview.host}, the url result and the host whose routing is verified.")
	fs.StringVar(&o.URLScheme, "url-scheme", o.URLScheme, "Scheme of the url result: https or http.")
	fs.StringVar(&o.IngressClass, "ingress-class", o.IngressClass, "Configured ingress class: ${preview.ingressClass}; Ingresses of another class do not count as routing the host.")
	fs.StringVar(&o.PRNumber, "pr-number", o.PRNumber, "Pull request number: ${pr.number}.")
	fs.StringVar(&o.Revision, "revision", o.Revision, "Commit deployed: ${commit.sha}.")
	fs.BoolVar(&o.DependencyBuild, "dependency-build", o.DependencyBuild, "Fetch dependencies Chart.yaml declares but charts/ lacks from their repositories (file://, https, oci://).")
	fs.StringVar(&o.HelmCache, "cache-dir", o.HelmCache, "Writable directory for fetched dependencies; empty: a temporary directory.")
	fs.StringArrayVar(&o.Set, "set", o.Set, "Helm --set value (key=value), repeatable; applied last.")
	fs.StringArrayVar(&o.SetString, "set-string", o.SetString, "Helm --set-string value, repeatable; applied last.")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the rollout.")
	fs.BoolVar(&o.Wait, "wait", o.Wait, "Wait until the release's workloads, Jobs, load balancers and volume claims are ready, then verify the routing of --host.")
	fs.BoolVar(&o.RollbackOnFailure, "rollback-on-failure", o.RollbackOnFailure, "Roll back (or uninstall a first install) when the rollout fails; by default the failed resources are kept for diagnosis.")
	fs.IntVar(&o.MaxHistory, "max-history", o.MaxHistory, "Release revisions to keep (0: unlimited).")
	fs.StringVar(&o.Description, "description", o.Description, "Release description, e.g. the commit deployed.")
	fs.StringVar(&o.ResultsDir, "results-dir", o.ResultsDir, "Directory to write Tekton results to (url, release-revision, diagnostics); empty: none.")
	o.Diagnose.addFlags(fs)
}

var (
	prNumberRE = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
	revisionRE = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
)

// Validate checks the options without touching files or the cluster.
func (o *DeployOptions) Validate() error {
	var errs []error
	errs = append(errs, validateRelease(o.Release))
	if o.Chart == "" {
		errs = append(errs, errors.New("--chart is required"))
	}
	if o.Image != "" {
		if _, err := overlay.ParseImage(o.Image); err != nil {
			errs = append(errs, fmt.Errorf("--image: %w", err))
		}
	}
	if o.ImageDigest != "" && !overlay.IsDigest(o.ImageDigest) {
		errs = append(errs, fmt.Errorf("--image-digest %q is not sha256:<64 hex>", o.ImageDigest))
	}
	if o.Host != "" {
		if msgs := validation.IsDNS1123Subdomain(o.Host); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--host %q: %s", o.Host, strings.Join(msgs, "; ")))
		}
	}
	if o.URLScheme != "http" && o.URLScheme != "https" {
		errs = append(errs, fmt.Errorf("--url-scheme %q: must be https or http", o.URLScheme))
	}
	if o.PRNumber != "" && !prNumberRE.MatchString(o.PRNumber) {
		errs = append(errs, fmt.Errorf("--pr-number %q: want a positive number", o.PRNumber))
	}
	if o.Revision != "" && !revisionRE.MatchString(o.Revision) {
		errs = append(errs, fmt.Errorf("--revision %q: want a hex commit SHA", o.Revision))
	}
	if _, err := parseOverlay(o.Overlay); err != nil {
		errs = append(errs, fmt.Errorf("--values-overlay: %w", err))
	}
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	if o.MaxHistory < 0 {
		errs = append(errs, errors.New("--max-history must not be negative"))
	}
	errs = append(errs, o.Diagnose.validate())
	return errors.Join(errs...)
}

func validateRelease(name string) error {
	if name == "" {
		return errors.New("--release is required")
	}
	// Helm's limit: release names are used in object names and labels.
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 || len(name) > 53 {
		return fmt.Errorf("--release %q: must be a DNS-1123 label of at most 53 characters", name)
	}
	return nil
}

func (o *DiagnoseOptions) addFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.LogLines, "diagnose-log-lines", o.LogLines, "On failure, last log lines printed per failing container.")
	fs.IntVar(&o.Events, "diagnose-events", o.Events, "On failure, most recent namespace events printed.")
}

func (o *DiagnoseOptions) validate() error {
	if o.LogLines < 0 || o.Events < 0 {
		return errors.New("--diagnose-log-lines and --diagnose-events must not be negative")
	}
	return nil
}

// HealthOptions configure the healthcheck subcommand.
type HealthOptions struct {
	Release               string
	URL                   string // base URL of the preview (the deploy's url result)
	Path                  string
	ConnectTo             string // host:port to dial instead of the URL's host
	Timeout               time.Duration
	RequestTimeout        time.Duration
	CABundle              string // PEM certificates trusted in addition to the system roots
	InsecureSkipTLSVerify bool
	// IngressClass: routes of another class do not count (see DeployOptions.IngressClass).
	IngressClass string
	// CheckRouting verifies, before any request, that an Ingress or HTTPRoute routes the URL's
	// host to an existing Service port.
	CheckRouting bool
	ResultsDir   string
	Diagnose     DiagnoseOptions

	// Not flags: test seams for the pace of polling.
	PollInterval time.Duration
	Backoff      Backoff
}

// NewHealthOptions returns the flag defaults.
func NewHealthOptions() *HealthOptions {
	return &HealthOptions{Release: DefaultRelease, Path: "/healthz", Timeout: 5 * time.Minute, RequestTimeout: 10 * time.Second,
		CheckRouting: true, Diagnose: DefaultDiagnoseOptions}
}

// AddFlags binds the options to fs.
func (o *HealthOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name.")
	fs.StringVar(&o.URL, "url", o.URL, "Base URL of the preview (the deploy step's url result).")
	fs.StringVar(&o.Path, "path", o.Path, "Health path appended to --url.")
	fs.StringVar(&o.ConnectTo, "connect-to", o.ConnectTo, "host:port to connect to instead of the URL's host, keeping its Host header and TLS name (e.g. the ingress controller's Service).")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Overall time for the workloads to become available and the endpoint to answer 2xx.")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "Time limit of one HTTP attempt.")
	fs.StringVar(&o.CABundle, "ca-bundle", o.CABundle, "PEM certificates (the text) of the authorities that sign the preview's https certificate, trusted in addition to the system roots.")
	fs.BoolVar(&o.InsecureSkipTLSVerify, "insecure-skip-tls-verify", o.InsecureSkipTLSVerify, "Accept any TLS certificate (explicit opt-in for self-signed previews; prefer --ca-bundle).")
	fs.StringVar(&o.IngressClass, "ingress-class", o.IngressClass, "Configured ingress class; Ingresses of another class do not count as routing the host.")
	fs.BoolVar(&o.CheckRouting, "check-routing", o.CheckRouting, "Verify that an Ingress or HTTPRoute routes the URL's host to a Service port before the first request.")
	fs.StringVar(&o.ResultsDir, "results-dir", o.ResultsDir, "Directory to write the diagnostics Tekton result to; empty: none.")
	o.Diagnose.addFlags(fs)
}

// Validate checks the options.
func (o *HealthOptions) Validate() error {
	var errs []error
	errs = append(errs, validateRelease(o.Release))
	if o.URL == "" {
		errs = append(errs, errors.New("--url is required"))
	} else if _, err := healthURL(o.URL, o.Path); err != nil {
		errs = append(errs, err)
	}
	if !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, fmt.Errorf("--path %q must start with /", o.Path))
	}
	if o.ConnectTo != "" {
		if _, port, err := net.SplitHostPort(o.ConnectTo); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("--connect-to %q: want host:port", o.ConnectTo))
		}
	}
	if o.Timeout <= 0 || o.RequestTimeout <= 0 {
		errs = append(errs, errors.New("--timeout and --request-timeout must be positive"))
	}
	if o.CABundle != "" {
		if _, err := certPool(o.CABundle); err != nil {
			errs = append(errs, fmt.Errorf("--ca-bundle: %w", err))
		}
		if o.InsecureSkipTLSVerify {
			errs = append(errs, errors.New("--ca-bundle and --insecure-skip-tls-verify exclude each other"))
		}
	}
	errs = append(errs, o.Diagnose.validate())
	return errors.Join(errs...)
}

// CleanupOptions configure the cleanup subcommand.
type CleanupOptions struct {
	Release string
	Timeout time.Duration

	PollInterval time.Duration // not a flag
}

// NewCleanupOptions returns the flag defaults.
func NewCleanupOptions() *CleanupOptions {
	return &CleanupOptions{Release: DefaultRelease, Timeout: 5 * time.Minute}
}

// AddFlags binds the options to fs.
func (o *CleanupOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name.")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the release's objects to be gone.")
}

// Validate checks the options.
func (o *CleanupOptions) Validate() error {
	var errs []error
	errs = append(errs, validateRelease(o.Release))
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	return errors.Join(errs...)
}

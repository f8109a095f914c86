package step

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/catalyst-preview/catalyst/preview"
)

// depOptions say how missing dependencies are handled.
type depOptions struct {
	Build     bool   // fetch what charts/ lacks; false reports it with the fix
	SourceDir string // file:// dependencies must stay inside it (when set)
	CacheDir  string // downloads and Helm's repository caches
}

// resolveDependencies makes every dependency Chart.yaml declares available. Vendored ones are
// already in the tree (charts/ directory or .tgz). A missing one fails with the fix, or, with
// Build, is loaded from its file:// directory or downloaded from its https or oci://
// repository (the version Chart.lock pins, else the newest that satisfies Chart.yaml). Nothing
// is written into the repository: fetched charts are added to the loaded tree only.
func resolveDependencies(ch *chart.Chart, chartDir, display string, o depOptions, src chartSources) error {
	chartYAML := path.Join(display, "Chart.yaml")
	raw := rawFile(ch, chartutil.ChartfileName)
	var errs []error
	var dl *fetcher
	for i, d := range ch.Metadata.Dependencies {
		if hasDependency(ch, d.Name) {
			continue
		}
		line := yamlKeyLine(raw, []string{"dependencies", fmt.Sprint(i)})
		fail := func(msg string) {
			errs = append(errs, &ChartError{Kind: preview.DiagnosticDependency, File: chartYAML, Line: line, Msg: msg})
		}
		what := fmt.Sprintf("dependency %s %s (%s)", d.Name, d.Version, orNone(d.Repository))
		if !o.Build {
			fail(fmt.Sprintf("%s is not vendored under %s: run `helm dependency build %s` and commit %s, or set repositories[].dependencyBuild: true in the Catalyst configuration",
				what, path.Join(display, "charts")+"/", display, path.Join(display, "charts")+"/"))
			continue
		}
		version := lockedVersion(ch, d)
		var sub *chart.Chart
		var where chartSource
		var err error
		switch {
		case strings.HasPrefix(d.Repository, "file://"):
			sub, where, err = loadFileDependency(d, chartDir, o.SourceDir)
		case registry.IsOCI(d.Repository), strings.HasPrefix(d.Repository, "https://"), strings.HasPrefix(d.Repository, "http://"):
			if dl == nil {
				if dl, err = newFetcher(o.CacheDir); err != nil {
					fail(fmt.Sprintf("%s: cannot prepare the download: %v", what, err))
					continue
				}
			}
			sub, err = dl.fetch(d.Repository, d.Name, version)
			where = chartSource{Remote: fmt.Sprintf("%s from %s", d.Name, d.Repository)}
			if err != nil {
				err = fmt.Errorf("%w; vendor it (`helm dependency build %s`, commit %s) or let the preview namespace reach the repository", err, display, path.Join(display, "charts")+"/")
			}
		case d.Repository == "":
			err = errors.New("no repository is declared to fetch it from; vendor it under " + path.Join(display, "charts") + "/")
		default:
			err = fmt.Errorf("repository %q: only file://, https:// and oci:// can be fetched (a `helm repo add` alias needs the repository's URL instead)", d.Repository)
		}
		if err == nil {
			err = checkFetched(sub, d, version)
		}
		if err != nil {
			fail(fmt.Sprintf("%s: %v", what, err))
			continue
		}
		where.DeclaredIn, where.DeclaredLine = chartYAML, line
		if where.Remote != "" {
			where.Remote = fmt.Sprintf("%s %s from %s", d.Name, sub.Metadata.Version, d.Repository)
		}
		ch.AddDependency(sub)
		src[ch.ChartFullPath()+"/charts/"+sub.Name()] = where
	}
	return errors.Join(errs...)
}

func hasDependency(ch *chart.Chart, name string) bool {
	for _, c := range ch.Dependencies() {
		if c.Name() == name {
			return true
		}
	}
	return false
}

func orNone(repo string) string {
	if repo == "" {
		return "no repository"
	}
	return repo
}

// lockedVersion is the version Chart.lock pins for d, else d's constraint.
func lockedVersion(ch *chart.Chart, d *chart.Dependency) string {
	if ch.Lock != nil {
		for _, l := range ch.Lock.Dependencies {
			if l.Name == d.Name && l.Repository == d.Repository {
				return l.Version
			}
		}
	}
	return d.Version
}

// checkFetched verifies that what was fetched is the chart and version Chart.yaml asks for.
func checkFetched(sub *chart.Chart, d *chart.Dependency, version string) error {
	if sub.Name() != d.Name {
		return fmt.Errorf("found chart %q instead", sub.Name())
	}
	if version == "" {
		return nil
	}
	c, err := semver.NewConstraint(version)
	if err != nil {
		return fmt.Errorf("version %q: %w", version, err)
	}
	v, err := semver.NewVersion(sub.Metadata.Version)
	if err != nil {
		return fmt.Errorf("fetched chart has version %q: %w", sub.Metadata.Version, err)
	}
	if !c.Check(v) {
		return fmt.Errorf("fetched version %s does not satisfy %s", sub.Metadata.Version, version)
	}
	return nil
}

// loadFileDependency loads a file:// dependency, a directory relative to the chart that must
// stay inside the repository.
func loadFileDependency(d *chart.Dependency, chartDir, sourceDir string) (*chart.Chart, chartSource, error) {
	p := strings.TrimPrefix(d.Repository, "file://")
	if !filepath.IsAbs(p) {
		p = filepath.Join(chartDir, p)
	}
	p = filepath.Clean(p)
	display := filepath.ToSlash(p)
	if sourceDir != "" {
		rel, err := filepath.Rel(sourceDir, p)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, chartSource{}, errors.New("the path leaves the repository")
		}
		display = filepath.ToSlash(rel)
	}
	if _, err := os.Stat(filepath.Join(p, chartutil.ChartfileName)); err != nil {
		return nil, chartSource{}, fmt.Errorf("no chart at %s", display)
	}
	sub, err := loader.Load(p)
	if err != nil {
		return nil, chartSource{}, fmt.Errorf("load %s: %w", display, err)
	}
	return sub, chartSource{Dir: display}, nil
}

// fetcher downloads charts from https and OCI repositories with Helm's own getters.
type fetcher struct {
	dir string
	dl  *downloader.ChartDownloader
	gp  getter.Providers
}

func newFetcher(cacheDir string) (*fetcher, error) {
	if cacheDir == "" {
		d, err := os.MkdirTemp("", "preview-step-charts-")
		if err != nil {
			return nil, err
		}
		cacheDir = d
	} else if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, err
	}
	rc, err := registry.NewClient(registry.ClientOptCredentialsFile(filepath.Join(cacheDir, "registry.json")), registry.ClientOptWriter(io.Discard))
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	gp := getter.Providers{
		{Schemes: []string{"http", "https"}, New: getter.NewHTTPGetter},
		{Schemes: []string{registry.OCIScheme}, New: func(o ...getter.Option) (getter.Getter, error) {
			return getter.NewOCIGetter(append(o, getter.WithRegistryClient(rc))...)
		}},
	}
	return &fetcher{dir: cacheDir, gp: gp, dl: &downloader.ChartDownloader{
		Out: io.Discard, Verify: downloader.VerifyNever, Getters: gp, RegistryClient: rc,
		RepositoryConfig: filepath.Join(cacheDir, "repositories.yaml"),
		RepositoryCache:  filepath.Join(cacheDir, "repository"),
	}}, nil
}

func (f *fetcher) fetch(repoURL, name, version string) (*chart.Chart, error) {
	dest, err := os.MkdirTemp(f.dir, name+"-")
	if err != nil {
		return nil, err
	}
	ref, refVersion := strings.TrimSuffix(repoURL, "/")+"/"+name, version
	if !registry.IsOCI(repoURL) {
		if ref, err = repo.FindChartInRepoURL(repoURL, name, version, "", "", "", f.gp); err != nil {
			return nil, err
		}
		refVersion = ""
	}
	file, _, err := f.dl.DownloadTo(ref, refVersion, dest)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	return loader.Load(file)
}

func rawFile(ch *chart.Chart, name string) []byte {
	for _, f := range ch.Raw {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

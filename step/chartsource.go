package step

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"
)

// chartSources says where each chart of a loaded chart tree came from, keyed by its path in
// the tree as Helm names templates ("app", "app/charts/common"), so that an error in a
// template can name the file of the repository, wherever the template was vendored from.
type chartSources map[string]chartSource

type chartSource struct {
	Dir     string // repository-relative directory of an unpacked chart
	Archive string // repository-relative .tgz the chart was read from
	Remote  string // "common 2.1.0 from https://charts.example" for a fetched dependency
	// DeclaredIn and DeclaredLine locate the dependency entry in the parent's Chart.yaml.
	DeclaredIn   string
	DeclaredLine int
}

// file maps a template (or chart file) name of the tree to a repository location. For a
// template inside an archive or a fetched chart, the location is the archive or the parent's
// dependency entry, and inner says which file and line inside it.
func (s chartSources) file(name string, line int) (file string, fileLine int, inner string) {
	best := ""
	for p := range s {
		if (name == p || strings.HasPrefix(name, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return name, line, ""
	}
	src := s[best]
	rest := strings.TrimPrefix(strings.TrimPrefix(name, best), "/")
	switch {
	case src.Dir != "":
		return path.Join(src.Dir, rest), line, ""
	case src.Archive != "":
		return src.Archive, 0, location(rest, line, 0)
	}
	return src.DeclaredIn, src.DeclaredLine, src.Remote + ": " + location(rest, line, 0)
}

// scanVendored records where the dependencies found under a chart's charts/ directory came
// from: an unpacked directory or a .tgz, recursively for unpacked ones.
func (s chartSources) scanVendored(ch *chart.Chart, treePath, dir, display string) {
	entries, err := os.ReadDir(filepath.Join(dir, "charts"))
	if err != nil {
		return
	}
	byName := map[string]string{} // chart name -> entry
	var archives []string
	for _, e := range entries {
		if e.IsDir() {
			if name := chartYAMLName(filepath.Join(dir, "charts", e.Name(), "Chart.yaml")); name != "" {
				byName[name] = e.Name()
			}
		} else if strings.HasSuffix(e.Name(), ".tgz") {
			archives = append(archives, e.Name())
		}
	}
	sort.Strings(archives)
	for _, dep := range ch.Dependencies() {
		sub := treePath + "/charts/" + dep.Name()
		if entry, ok := byName[dep.Name()]; ok {
			s[sub] = chartSource{Dir: path.Join(display, "charts", entry)}
			s.scanVendored(dep, sub, filepath.Join(dir, "charts", entry), path.Join(display, "charts", entry))
			continue
		}
		// Helm packages charts as name-version.tgz.
		want := fmt.Sprintf("%s-%s.tgz", dep.Name(), dep.Metadata.Version)
		for _, a := range archives {
			if a == want {
				s[sub] = chartSource{Archive: path.Join(display, "charts", a)}
			}
		}
	}
}

func chartYAMLName(p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	var meta struct {
		Name string `json:"name"`
	}
	if yaml.Unmarshal(data, &meta) != nil {
		return ""
	}
	return meta.Name
}

package main

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestPercentilesAreNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for name, tc := range map[string]struct {
		in       []time.Duration
		p50, p95 float64
	}{
		"one sample is every percentile":          {in: ms(7), p50: 7, p95: 7},
		"under 20 samples the p95 is the largest": {in: ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), p50: 5, p95: 10},
		"20 samples": {in: ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), p50: 10, p95: 19},
	} {
		t.Run(name, func(t *testing.T) {
			p := percentiles(tc.in)
			assert.Equal(t, p.P50, tc.p50)
			assert.Equal(t, p.P95, tc.p95)
			assert.Equal(t, p.N, len(tc.in))
		})
	}
}

func TestSpread(t *testing.T) {
	assert.Equal(t, spread([]float64{3, 1, 2}), Spread{Median: 2, Min: 1, Max: 3})
	assert.Equal(t, spread([]float64{4, 1, 3, 2}), Spread{Median: 2.5, Min: 1, Max: 4})
}

// Every target is reported, met or missed, judged on the median over the runs.
func TestTargetsMarkMetAndMissed(t *testing.T) {
	level := func(prs int, pipelineRunP95, checkP95, ratio, writes float64) Level {
		var samples []Sample
		for _, f := range []float64{0.5, 1, 3} { // the median run is the given figures
			samples = append(samples, Sample{
				WebhookToPipelineRun:   Percentile{P50: pipelineRunP95 * f / 2, P95: pipelineRunP95 * f},
				WebhookToFirstCheckRun: Percentile{P50: checkP95 * f / 2, P95: checkP95 * f},
				OverheadRatioP50:       ratio * f, GitHubWritesPerDeploy: writes,
			})
		}
		return summarise(prs, samples)
	}
	r := Report{
		Levels:       []Level{level(1, 100, 500, 1.4, 5), level(10, 300, 2100, 2, 5), level(50, 1000, 4000, 3, 7)},
		Environments: &Environments{Count: 1000, Trigger: Memory{RSSMiB: 60}, Reporter: Memory{RSSMiB: 70}},
	}
	got := map[string]string{}
	for _, tg := range targets(r) {
		got[tg.What] = tg.Verdict
		assert.Equal(t, tg.Met, tg.Verdict == "met")
	}
	assert.DeepEqual(t, got, map[string]string{
		"webhook → PipelineRun p50 at 1 PR, as a multiple of the baseline (same objects, same concurrency, same end point)": "met",
		"webhook → PipelineRun p95 at 50 PRs, as a multiple of the p95 at 1 PR":                                             "missed",
		"webhook → first Check Run p95 at 10 PRs":                                                                           "missed",
		"webhook → first Check Run p95 at 50 PRs":                                                                           "met",
		"GitHub write calls per deployment at 1 PRs (token mints included)":                                                 "met",
		"GitHub write calls per deployment at 10 PRs (token mints included)":                                                "met",
		"GitHub write calls per deployment at 50 PRs (token mints included)":                                                "missed",
		"trigger RSS with 1000 environments":                                                                                "met",
		"reporter RSS with 1000 environments":                                                                               "missed",
	})
}

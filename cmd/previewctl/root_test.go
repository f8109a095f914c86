package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/catalyst-preview/catalyst/preview"
)

// Bad input gets one line on stderr and its documented exit code, never a usage dump or a
// stack trace; nothing reaches the cluster.
func TestBadInputExitCodes(t *testing.T) {
	tests := map[string]struct {
		args []string
		code int
		msg  string
	}{
		"malformed reference":   {args: []string{"get", "acme/shop#x"}, code: exitUsage, msg: "expected OWNER/REPO#NUMBER"},
		"no environment named":  {args: []string{"logs"}, code: exitUsage, msg: "name the environment"},
		"two environments":      {args: []string{"retry", "a/b#1", "a/b#2"}, code: exitUsage, msg: "expected one environment, got 2"},
		"unknown output":        {args: []string{"list", "-o", "xml"}, code: exitUsage, msg: `unknown output format "xml"`},
		"unknown state":         {args: []string{"list", "--state", "sleeping"}, code: exitUsage, msg: `unknown state "sleeping"`},
		"unknown sort":          {args: []string{"list", "--sort-by", "size"}, code: exitUsage, msg: `unknown sort order "size"`},
		"unknown flag":          {args: []string{"list", "--colour"}, code: exitUsage, msg: "unknown flag: --colour"},
		"unknown command":       {args: []string{"destroy"}, code: exitUsage, msg: `unknown command "destroy"`},
		"arguments to list":     {args: []string{"list", "acme/shop"}, code: exitUsage, msg: "unexpected arguments: acme/shop"},
		"app flags without app": {args: []string{"logs", "a/b#1", "--tail", "5"}, code: exitUsage, msg: "apply to --app"},
		"yaml logs":             {args: []string{"logs", "a/b#1", "-o", "yaml"}, code: exitUsage, msg: "not yaml"},
		"negative idle":         {args: []string{"gc", "--idle", "-1h"}, code: exitUsage, msg: "--idle must not be negative"},
		"no cluster access":     {args: []string{"--kubeconfig", "/nonexistent/kubeconfig", "list"}, code: exitUnavailable, msg: "no cluster access"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), tc.args, streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			assert.Equal(t, code, tc.code, errOut.String())
			assert.Check(t, is.Contains(errOut.String(), tc.msg))
			assert.Equal(t, strings.Count(errOut.String(), "\n"), 1, "one line: %q", errOut.String())
			assert.Equal(t, out.String(), "")
		})
	}
}

func TestExitCodeOfErrors(t *testing.T) {
	gr := schema.GroupResource{Resource: "namespaces"}
	tests := map[string]struct {
		err  error
		code int
	}{
		"not found":   {err: &preview.Error{Kind: preview.KindNotFound, Msg: "x"}, code: exitNotFound},
		"forbidden":   {err: apierrors.NewForbidden(gr, "x", errors.New("no")), code: exitForbidden},
		"conflict":    {err: &preview.Error{Kind: preview.KindConflict, Msg: "x"}, code: exitConflict},
		"unavailable": {err: context.DeadlineExceeded, code: exitUnavailable},
		"aborted":     {err: errAborted, code: exitAborted},
		"other":       {err: errors.New("boom"), code: exitError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, exitCode(tc.err), tc.code)
		})
	}
}

// delete asks first; anything but yes changes nothing.
func TestDeleteAsksFirst(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pr-shop-42",
		Labels:      map[string]string{preview.LabelManaged: "true", preview.LabelPR: "42"},
		Annotations: map[string]string{preview.AnnotationRepo: "acme/shop", preview.AnnotationHeadSHA: "aaa", preview.AnnotationPRState: "open"}}}
	for _, answer := range []string{"", "n\n", "nope\n"} {
		kube := fake.NewClientset(ns)
		var out, errOut bytes.Buffer
		a := &app{streams: streams{In: strings.NewReader(answer), Out: &out, Err: &errOut}}
		code := a.runWith(t.Context(), []string{"delete", "acme/shop#42"}, preview.New(preview.Clients{Kube: kube, Tekton: tektonfake.NewSimpleClientset()}, preview.Options{Actor: "t"}))
		assert.Equal(t, code, exitAborted, errOut.String())
		assert.Check(t, is.Contains(errOut.String(), "Remove the preview environment acme/shop#42? [y/N]"))
		for _, action := range kube.Actions() {
			assert.Check(t, action.GetVerb() == "get" || action.GetVerb() == "list" || action.GetVerb() == "create", "answer %q: %s %s", answer, action.GetVerb(), action.GetResource())
		}
	}
}

// Command preview-step is the image the preview pipelines run in their deploy, healthcheck and
// cleanup steps:
//
//	preview-step deploy      --namespace=NS --chart=PATH [--values=FILE] [--values-overlay=YAML] --image=IMG --host=HOST ...
//	preview-step healthcheck --namespace=NS --url=URL [--path=/healthz] ...
//	preview-step cleanup     --namespace=NS [--release=preview]
//
// The work is in package step; this file only wires signals, flags and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Package cluster runs a local Kubernetes control plane for integration and end-to-end tests:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from k8s.io/kubernetes,
// KWOK simulating one node and the life of its pods, and the Tekton Pipelines controller with
// its CRDs and ConfigMaps. Everything is built from Go modules (e2e/tools/*) into
// e2e/.cache/bin/<key>/ once, and listens on loopback only. No Kubernetes component is mocked:
// tests talk to a real apiserver, real controllers and the real Tekton reconcilers. Nodes and
// containers are simulated (KWOK); e2e/README.md has the table of what is real and what is not.
//
// Use it from a package's TestMain; tests call Require and get a namespace of their own:
//
//	func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }
//
//	func TestSomething(t *testing.T) {
//		c := cluster.Require(t)  // skips under -short
//		ns := c.Namespace(t)     // deleted when the test ends
//		kube := c.Kube()         // or any client from c.RESTConfig(), or kubectl --kubeconfig c.Kubeconfig()
//		...
//	}
//
// No container runs: KWOK decides each pod's fate. Pods that are not Tekton's become Running and
// Ready at once (Deployments become available). A Tekton TaskRun pod succeeds at once unless
// its annotations, copied by Tekton from the PipelineRun, say otherwise: see AnnotationFail,
// AnnotationDelay, AnnotationHold, AnnotationResults, AnnotationEvict and
// AnnotationImagePullFailure, each of which can target one pipeline task with ForTask.
//
// e2e/README.md describes the components, the flags and the measured costs.
package cluster

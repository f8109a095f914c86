package record

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// PendingRecord is the pending-record ConfigMap holding ann for a pull request that has no
// namespace: the trigger writes one when it removes an environment on request (previewctl
// delete, gc, the TTL) so that the record, and the removal, outlive the namespace.
func PendingRecord(name, namespace, repo string, number int, ann map[string]string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
		Labels: map[string]string{preview.LabelPendingRecord: "true"}, Annotations: ann}}
	setRecordLabels(cm.Labels, repo, number, ann)
	return cm
}

package setup

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElect runs lead while this process holds the Lease namespace/name, so that of several
// replicas exactly one acts. It returns when ctx ends and lead has returned; losing the lease
// cancels lead's context and the process should exit (the Deployment restarts it as a follower).
func LeaderElect(ctx context.Context, kube kubernetes.Interface, namespace, name string, log *zap.Logger, lead func(context.Context)) error {
	host, _ := os.Hostname()
	id := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	lost := make(chan struct{})
	// client-go calls OnStartedLeading on a goroutine of its own and does not wait for it: lead
	// must have returned before LeaderElect does (its caller reads what lead wrote).
	var mu sync.Mutex
	leading, over := false, false
	led := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				mu.Lock()
				if over {
					mu.Unlock()
					return
				}
				leading = true
				mu.Unlock()
				defer close(led)
				log.Info("became leader", zap.String("lease", namespace+"/"+name), zap.String("identity", id))
				lead(ctx)
			},
			OnStoppedLeading: func() {
				log.Info("stopped leading", zap.String("lease", namespace+"/"+name))
				close(lost)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election %s/%s: %w", namespace, name, err)
	}
	elector.Run(ctx)
	mu.Lock()
	over = true
	wait := leading
	mu.Unlock()
	if wait {
		<-led
	}
	select {
	case <-lost:
		if ctx.Err() == nil {
			return fmt.Errorf("lost leadership of %s/%s", namespace, name)
		}
	default:
	}
	return nil
}

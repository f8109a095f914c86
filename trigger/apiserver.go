package trigger

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/trigger/netpol"
)

// The API server's Service; the deploy, health check and cleanup steps reach it from PR
// namespaces, so its addresses are an egress target (preview.egress.apiServer overrides them).
const (
	apiServerNamespace = metav1.NamespaceDefault
	apiServerService   = "kubernetes"
)

type apiServerListers struct {
	services  corelisters.ServiceLister
	endpoints discoverylisters.EndpointSliceLister
}

type apiServerInformerSet struct {
	listers   apiServerListers
	informers []cache.SharedIndexInformer
}

// newAPIServerInformers watches only default/kubernetes and its EndpointSlices.
func newAPIServerInformers(kube kubernetes.Interface) apiServerInformerSet {
	svc := coreinformers.NewFilteredServiceInformer(kube, apiServerNamespace, informerResync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", apiServerService).String()
		})
	eps := discoveryinformers.NewFilteredEndpointSliceInformer(kube, apiServerNamespace, informerResync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + apiServerService
		})
	return apiServerInformerSet{
		listers:   apiServerListers{services: corelisters.NewServiceLister(svc.GetIndexer()), endpoints: discoverylisters.NewEndpointSliceLister(eps.GetIndexer())},
		informers: []cache.SharedIndexInformer{svc, eps},
	}
}

// targets are the API server's current addresses, or nil when none are known.
func (l apiServerListers) targets() []config.EgressTarget {
	var clusterIPs, endpoints []string
	var servicePort, endpointPort int32
	if svc, err := l.services.Services(apiServerNamespace).Get(apiServerService); err == nil {
		for _, ip := range svc.Spec.ClusterIPs {
			if ip != "" && ip != "None" {
				clusterIPs = append(clusterIPs, ip)
			}
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == "https" || servicePort == 0 {
				servicePort = p.Port
			}
		}
	}
	slices, _ := l.endpoints.EndpointSlices(apiServerNamespace).List(labels.Everything())
	for _, s := range slices {
		for _, p := range s.Ports {
			if p.Port != nil && (endpointPort == 0 || (p.Name != nil && *p.Name == "https")) {
				endpointPort = *p.Port
			}
		}
		for _, e := range s.Endpoints {
			endpoints = append(endpoints, e.Addresses...)
		}
	}
	return netpol.APIServerTargets(clusterIPs, servicePort, endpoints, endpointPort)
}

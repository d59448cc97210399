// Command api-lifecycle prints, as JSON, when each built-in Kubernetes API kind is
// deprecated and removed and what replaces it, read from the prerelease-lifecycle
// functions (APILifecycleDeprecated/Removed/Replacement) that k8s.io/api,
// k8s.io/apiextensions-apiserver and k8s.io/kube-aggregator generate for their types.
//
// Types leave k8s.io/api some releases after the API server stops serving them
// (autoscaling/v2beta2 HPA, policy/v1beta1 PodSecurityPolicy), so tools/build-crds.sh
// builds this program against several k8s.io/api versions (go.mod and go.k8s-*.mod
// here) and conformance/schema/api_lifecycle.py merges the tables, newest first.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	apiregistrationv1beta1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1beta1"
)

type deprecated interface{ APILifecycleDeprecated() (major, minor int) }
type removed interface{ APILifecycleRemoved() (major, minor int) }
type replacement interface {
	APILifecycleReplacement() schema.GroupVersionKind
}

// API is one kind of one group/version; Deprecated and Removed are "1.N" or "".
type API struct {
	Group       string `json:"group"`
	Version     string `json:"version"`
	Kind        string `json:"kind"`
	Deprecated  string `json:"deprecated,omitempty"`
	Removed     string `json:"removed,omitempty"`
	Replacement string `json:"replacement,omitempty"` // "group/version Kind"
}

type table struct {
	Source string `json:"source"` // module@version of k8s.io/api this was built with
	APIs   []API  `json:"apis"`
}

func release(major, minor int) string {
	if major == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", major, minor)
}

func source() string {
	info, ok := debug.ReadBuildInfo()
	if ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/api" {
				return dep.Path + "@" + dep.Version
			}
		}
	}
	return "k8s.io/api@unknown"
}

func main() {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		scheme.AddToScheme,
		apiextensionsv1.AddToScheme, apiextensionsv1beta1.AddToScheme,
		apiregistrationv1.AddToScheme, apiregistrationv1beta1.AddToScheme,
	} {
		if err := add(s); err != nil {
			fmt.Fprintln(os.Stderr, "api-lifecycle:", err)
			os.Exit(1)
		}
	}
	out := table{Source: source(), APIs: []API{}}
	for gvk, t := range s.AllKnownTypes() {
		if strings.HasSuffix(gvk.Kind, "List") {
			continue // a list shares its item's lifecycle
		}
		// The generated functions have pointer receivers.
		obj := reflect.New(t).Interface()
		api := API{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
		if d, ok := obj.(deprecated); ok {
			api.Deprecated = release(d.APILifecycleDeprecated())
		}
		if r, ok := obj.(removed); ok {
			api.Removed = release(r.APILifecycleRemoved())
		}
		if r, ok := obj.(replacement); ok {
			if gvk := r.APILifecycleReplacement(); gvk.Kind != "" {
				api.Replacement = gvk.GroupVersion().String() + " " + gvk.Kind
			}
		}
		if api.Deprecated != "" || api.Removed != "" {
			out.APIs = append(out.APIs, api)
		}
	}
	sort.Slice(out.APIs, func(i, j int) bool {
		a, b := out.APIs[i], out.APIs[j]
		return a.Group+"/"+a.Version+"/"+a.Kind < b.Group+"/"+b.Version+"/"+b.Kind
	})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "api-lifecycle:", err)
		os.Exit(1)
	}
}

package docs

import (
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"authgate/config"
)

// The Kubernetes example is checked against the Kubernetes API's own Go
// types: every object decodes strictly (an unknown or mistyped field is an
// error, as the API server's strict field validation would report), and
// what ties the objects together holds: selectors match, probes and
// Services name ports that exist, secrets referenced exist, and the
// ConfigMap's gateway.yaml loads without a problem. No cluster is needed;
// kubectl's client-side dry run needs one.
func TestKubernetesExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../examples/kubernetes/authgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var (
		deployments = map[string]*appsv1.Deployment{}
		services    = map[string]*corev1.Service{}
		secrets     = map[string]*corev1.Secret{}
		configMaps  = map[string]*corev1.ConfigMap{}
	)
	for i, doc := range strings.Split(string(b), "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj interface{ GetName() string }
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			obj, deployments[name(t, doc)] = d, d
		case "v1 Service":
			s := &corev1.Service{}
			obj, services[name(t, doc)] = s, s
		case "v1 Secret":
			s := &corev1.Secret{}
			obj, secrets[name(t, doc)] = s, s
		case "v1 ConfigMap":
			c := &corev1.ConfigMap{}
			obj, configMaps[name(t, doc)] = c, c
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s %s: %v", tm.Kind, obj.GetName(), err)
		}
	}
	for _, want := range []string{"authgate", "redis"} {
		if deployments[want] == nil || services[want] == nil {
			t.Fatalf("the example lacks the %s Deployment or Service", want)
		}
	}
	if secrets["authgate"] == nil || configMaps["authgate"] == nil {
		t.Fatal("the example lacks the authgate Secret or ConfigMap")
	}

	for name, d := range deployments {
		pod := d.Spec.Template
		for k, v := range d.Spec.Selector.MatchLabels {
			if pod.Labels[k] != v {
				t.Errorf("Deployment %s: selector %s=%s does not match its pods", name, k, v)
			}
		}
		ports := map[string]bool{}
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				ports[p.Name] = true
			}
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if probe == nil {
					t.Errorf("Deployment %s: container %s lacks a probe", name, c.Name)
					continue
				}
				var port string
				if probe.HTTPGet != nil {
					port = probe.HTTPGet.Port.String()
				} else if probe.TCPSocket != nil {
					port = probe.TCPSocket.Port.String()
				}
				if !ports[port] {
					t.Errorf("Deployment %s: a probe names port %q, which the container does not have", name, port)
				}
			}
			for _, e := range c.Env {
				if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
					s := secrets[ref.SecretKeyRef.Name]
					if s == nil || s.StringData[ref.SecretKeyRef.Key] == "" {
						t.Errorf("Deployment %s: env %s names a missing secret key", name, e.Name)
					}
				}
			}
		}
		svc := services[name]
		for k, v := range svc.Spec.Selector {
			if pod.Labels[k] != v {
				t.Errorf("Service %s: selector %s=%s selects no pod of its Deployment", name, k, v)
			}
		}
		for _, p := range svc.Spec.Ports {
			if !ports[p.TargetPort.String()] {
				t.Errorf("Service %s: targetPort %q is not a port of the pods", name, p.TargetPort.String())
			}
		}
	}
	ag := deployments["authgate"].Spec.Template.Spec.Containers[0]
	if ag.LivenessProbe.HTTPGet == nil || ag.LivenessProbe.HTTPGet.Path != "/healthz" || ag.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("authgate's probes must be /healthz (liveness) and /readyz (readiness)")
	}
	for _, p := range services["authgate"].Spec.Ports {
		if p.TargetPort.String() == "admin" {
			t.Error("the authgate Service exposes the admin port (metrics)")
		}
	}

	// The ConfigMap's gateway.yaml, with the Secret's values in the
	// environment as the Deployment puts them there.
	for _, e := range ag.Env {
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			t.Setenv(e.Name, secrets[ref.SecretKeyRef.Name].StringData[ref.SecretKeyRef.Key])
		}
	}
	dir := t.TempDir()
	y := strings.Replace(configMaps["authgate"].Data["gateway.yaml"], "data_dir: /data", "data_dir: "+dir, 1)
	cfg, err := config.LoadBytes([]byte(y))
	if err != nil {
		t.Fatalf("the ConfigMap's gateway.yaml: %v", err)
	}
	if cfg.Store.Type != "redis" || !strings.Contains(cfg.Store.Redis.URL, "//redis:6379") {
		t.Errorf("the config must use the example's Redis Service: %+v", cfg.Store.Redis)
	}
	if cfg.AdminListen != ":8081" || cfg.Listen != ":8080" {
		t.Errorf("listen %q / admin_listen %q do not match the container ports", cfg.Listen, cfg.AdminListen)
	}
}

func name(t *testing.T, doc string) string {
	t.Helper()
	var m struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m.Metadata.Name == "" {
		t.Fatalf("a document without metadata.name: %v", err)
	}
	return m.Metadata.Name
}

package docs

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"authgate/config"
)

// yamlPaths lists every YAML field of the config, as dotted paths
// ("server.read_timeout", "tokens.keys[].kid", "upstreams.named.<name>").
func yamlPaths(t reflect.Type, prefix string) []string {
	var out []string
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft.PkgPath() == "authgate/config":
			out = append(out, yamlPaths(ft, p+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, p+"[]")
			out = append(out, yamlPaths(ft.Elem(), p+"[].")...)
		case ft.Kind() == reflect.Map:
			out = append(out, p+".<name>")
		default:
			out = append(out, p)
		}
	}
	return out
}

// documented reports whether a table row of the reference names path: in
// full (`server.read_timeout`), or as a sibling in a row that starts with
// its parent (`server.read_timeout` / `write_timeout`), or as a parent row
// that covers all its fields (`rate_limits.*`).
func documented(rows []string, path string) bool {
	if m, ok := strings.CutSuffix(path, ".<name>"); ok {
		for _, r := range rows {
			if strings.Contains(r, "`"+path+"`") {
				return true
			}
		}
		path = m // a map: its own row covers its keys
	}
	if s, ok := strings.CutSuffix(path, "[]"); ok {
		path = s + "[]." // a list of objects: rows of its fields cover it
		for _, r := range rows {
			if strings.Contains(r, "`"+path) || strings.Contains(r, "`"+s+"[]`") {
				return true
			}
		}
		return false
	}
	// A field of a list's objects, named relative to the list's row:
	// `tokens.keys[]` … `kid` or `claims.subject`.
	if i := strings.LastIndex(path, "[]."); i >= 0 {
		list, rel := path[:i+2], path[i+3:]
		for _, r := range rows {
			if strings.Contains(r, "`"+list+"`") && strings.Contains(r, "`"+rel+"`") {
				return true
			}
		}
	}
	parent, leaf := "", path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, leaf = path[:i], path[i+1:]
	}
	for _, r := range rows {
		if strings.Contains(r, "`"+path+"`") || strings.Contains(r, "`"+path+" ") || strings.Contains(r, "`"+path+"[]`") {
			return true
		}
		if parent != "" && strings.Contains(r, "`"+parent+".") &&
			(strings.Contains(r, "`"+leaf+"`") || strings.Contains(r, "`"+parent+".*`")) {
			return true
		}
		if parent != "" && strings.Contains(r, "`"+parent+"`") && strings.Contains(r, "`"+leaf+"`") {
			return true // `tokens.keys[]` … `kid`, `alg`, …
		}
	}
	return false
}

// Every field of gateway.yaml is in the configuration reference: adding a
// config field without documenting it fails here.
func TestConfigurationReferenceListsEveryField(t *testing.T) {
	b, err := os.ReadFile("configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `") {
			rows = append(rows, l)
		}
	}
	paths := yamlPaths(reflect.TypeOf(config.Config{}), "")
	if len(paths) < 50 {
		t.Fatalf("only %d config fields found: the walk is broken", len(paths))
	}
	for _, p := range paths {
		if !documented(rows, p) {
			t.Errorf("docs/configuration.md has no row for %s: add it to the table (a row starting with `%s` and its default)", p, p)
		}
	}
}

package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// maxNodeVisits bounds the work of decoding one document, so that a file of
// nested aliases ("billion laughs") is refused instead of expanded. A real
// gateway.yaml visits a few hundred nodes.
const maxNodeVisits = 200_000

// decoder walks a parsed YAML document and the Config it fills side by side.
//
// It does what yaml.v3's Decoder.KnownFields(true) does, and more, because
// that option is lost once the document is a yaml.Node (Node.Decode has no
// strict mode) and the document must be a Node to expand ${ENV} references
// in values before they are typed, without touching keys or comments and
// keeping the line numbers of the file. So the structure (mappings,
// sequences, unknown and duplicate keys) is checked here, against the yaml
// struct tags, and every scalar is still typed by yaml.v3 itself. Every
// problem is collected with its YAML path and line; decoding goes on after
// one.
type decoder struct {
	lookup   lookupFunc
	problems problemList
	// lines maps the YAML path of every decoded node to its line.
	lines map[string]int
	// bad holds the paths whose value could not be decoded, so that
	// validation does not report them a second time.
	bad map[string]bool
	// expanded holds the paths whose value came from ${ENV}.
	expanded map[string]bool
	// merging holds the mappings being merged, to refuse a cycle.
	merging map[*yaml.Node]bool
	// zeros holds the fields written in the file as 0, 0s or "" (by YAML
	// path, with the field), so that load can refuse those that
	// ApplyDefaults then replaces: an explicit value must not silently
	// become another one.
	zeros  map[string]reflect.Value
	visits int
}

func newDecoder(lookup lookupFunc) *decoder {
	return &decoder{lookup: lookup, lines: map[string]int{}, bad: map[string]bool{}, expanded: map[string]bool{}, merging: map[*yaml.Node]bool{}, zeros: map[string]reflect.Value{}}
}

func (d *decoder) fail(path string, n *yaml.Node, msg string) {
	d.problems.ps = append(d.problems.ps, Problem{Path: path, Msg: msg, Line: n.Line})
	d.bad[path] = true
}

var durationType = reflect.TypeOf(time.Duration(0))

// decode fills v (addressable) from n; path is n's YAML path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.step(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(path, n, "unknown alias")
			return
		}
		n = n.Alias
	}
	if _, seen := d.lines[path]; !seen {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	switch {
	case v.Kind() == reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	case v.Kind() == reflect.Slice:
		d.decodeSlice(n, v, path)
	case v.Kind() == reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

// step counts one visited node and reports whether the budget allows it.
func (d *decoder) step(n *yaml.Node) bool {
	d.visits++
	if d.visits > maxNodeVisits {
		if d.visits == maxNodeVisits+1 {
			d.fail("", n, "document is too large or contains excessive aliasing")
		}
		return false
	}
	return true
}

// decodeScalar expands ${ENV} references in n and types it with yaml.v3.
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	want := "a " + scalarName(v.Type())
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n, fmt.Sprintf("expected %s, got %s", want, kindName(n)))
		return
	}
	val, changed, err := expandEnv(n.Value, d.lookup)
	if err != nil {
		d.fail(path, n, err.Error())
		return
	}
	if changed {
		d.expanded[path] = true
	}
	if v.Type() == durationType {
		dur, err := time.ParseDuration(val)
		if err != nil {
			d.fail(path, n, fmt.Sprintf("invalid duration %q: use a Go duration such as 30s, 15m or 720h", val))
			return
		}
		v.SetInt(int64(dur))
		d.noteZero(v, path)
		return
	}
	node := n
	if changed {
		// Type the expanded text as if it had been written in the file:
		// verbatim for a string, re-resolved (so "${PORT}" may become an
		// int) for anything else. An explicit tag is kept.
		c := *n
		c.Value = val
		if n.Style&yaml.TaggedStyle == 0 {
			if v.Kind() == reflect.String {
				c.Tag = "!!str"
			} else {
				c.Tag = ""
				c.Style = 0
			}
		}
		node = &c
	}
	if err := safeNodeDecode(node, v.Addr().Interface()); err != nil {
		d.fail(path, n, fmt.Sprintf("expected %s, got %q", want, val))
		return
	}
	d.noteZero(v, path)
}

// noteZero remembers v (decoded at path) when it is a zero number or an
// empty string. Booleans are not: false is a value, never replaced.
func (d *decoder) noteZero(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if v.IsZero() {
			d.zeros[path] = v
		}
	}
}

// replacedZeros reports the fields written as 0 or "" that ApplyDefaults
// has since replaced with a default.
func (d *decoder) replacedZeros() Problems {
	var ps Problems
	for path, v := range d.zeros {
		if v.IsZero() || d.covers(path) {
			continue
		}
		written, def := "0", fmt.Sprint(v.Interface())
		if v.Kind() == reflect.String {
			written, def = `""`, fmt.Sprintf("%q", v.String())
		}
		ps = append(ps, Problem{Path: path, Line: d.lines[path],
			Msg: fmt.Sprintf("%s is not a value here: it would silently become the default %s; leave the key out for the default, or give a real value", written, def)})
	}
	return ps
}

// safeNodeDecode types one scalar with yaml.v3, turning a panic of the
// library on hostile input into an error.
func safeNodeDecode(n *yaml.Node, out any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return n.Decode(out)
}

func scalarName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("whole number from 0 to %d", uint64(1)<<(t.Bits())-1)
	default:
		return t.String()
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n, fmt.Sprintf("expected a list, got %s", kindName(n)))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, s.Index(i), indexPath(path, i))
	}
	v.Set(s)
}

// decodeMap fills a map with string keys (upstreams.named).
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, fmt.Sprintf("expected a mapping, got %s", kindName(n)))
		return
	}
	m := reflect.MakeMap(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.checkKey(k, path, seen) {
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, childPath(path, k.Value))
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// checkKey reports whether k is a usable, not yet seen mapping key.
func (d *decoder) checkKey(k *yaml.Node, path string, seen map[string]int) bool {
	if k.Kind != yaml.ScalarNode {
		d.fail(path, k, "mapping keys must be plain names")
		return false
	}
	if first, dup := seen[k.Value]; dup {
		d.fail(childPath(path, k.Value), k, fmt.Sprintf("duplicate key (first set on line %d)", first))
		return false
	}
	seen[k.Value] = k.Line
	return true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, fmt.Sprintf("expected a mapping, got %s", kindName(n)))
		return
	}
	fields := fieldsOf(v.Type())
	// Merge keys ("<<: *anchor") first, so that keys written here win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; isMergeKey(k) {
			d.merge(n.Content[i+1], v, path)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) || !d.checkKey(k, path, seen) {
			continue
		}
		idx, ok := fields.index[k.Value]
		if !ok {
			d.fail(childPath(path, k.Value), k, unknownKeyMsg(k.Value, fields.names))
			continue
		}
		d.decode(val, v.Field(idx), childPath(path, k.Value))
	}
}

// merge applies the value of a "<<" key: a mapping or a list of them.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string) {
	if !d.step(n) {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			d.merge(c, v, path)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "<< must merge a mapping or a list of mappings")
		return
	}
	if d.merging[n] {
		d.fail(path, n, "<< merges a mapping into itself")
		return
	}
	d.merging[n] = true
	d.decodeStruct(n, v, path)
	delete(d.merging, n)
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

func unknownKeyMsg(key string, names []string) string {
	best, bestDist := "", 3
	for _, name := range names {
		if dist := editDistance(strings.ToLower(key), name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", best)
	}
	return "unknown key (known keys: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b, for suggestions.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// structFields indexes a struct's fields by their yaml tag.
type structFields struct {
	index map[string]int
	names []string // sorted, for messages
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	sort.Strings(f.names)
	fieldCache.Store(t, f)
	return f
}

package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the config file; anything larger is not a config.
const maxFileSize = 4 << 20

// Load reads the config file at path and returns it parsed, with ${ENV}
// references expanded, *_file secrets read, defaults applied and validated.
// When the file can be read but is wrong, the error is a Problems listing
// every problem (warnings included) with its YAML path and line; a config
// with only warnings loads, and they are in its Warnings.
func Load(path string) (*Config, error) {
	data, err := readLimited(path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return LoadBytes(data)
}

// LoadBytes is Load for a config already in memory; *_file paths in it are
// still read from disk.
func LoadBytes(data []byte) (*Config, error) {
	return load(data, os.LookupEnv)
}

// Warnings returns the warnings Load found (problems that do not stop the
// gateway, such as a memory store), for the caller to log.
func (c *Config) Warnings() Problems {
	return c.warnings
}

func load(data []byte, lookup lookupFunc) (*Config, error) {
	root, p := parseDocument(data)
	if p != nil {
		return nil, Problems{*p}
	}
	if root == nil || (root.Kind == yaml.MappingNode && len(root.Content) == 0) ||
		(root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null") {
		// An empty file is a mistake (a truncated deploy, a wrong path, a
		// secret volume not mounted), not a request for every default.
		return nil, Problems{{Msg: "the config is empty: set at least upstreams.default (see docs/configuration.md)"}}
	}
	cfg := &Config{}
	d := newDecoder(lookup)
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	ps := d.problems.ps
	ps = append(ps, inlineSecrets(cfg, d)...)
	ps = append(ps, readSecretFiles(cfg, d)...)
	ApplyDefaults(cfg)
	ps = append(ps, d.replacedZeros()...)
	for _, vp := range Validate(cfg) {
		if d.covers(vp.Path) {
			continue // already reported where it was decoded
		}
		if vp.Line == 0 {
			vp.Line = d.lineOf(vp.Path)
		}
		ps = append(ps, vp)
	}
	// In the order of the file; problems about absent fields last.
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].Line, ps[j].Line
		return li != 0 && (lj == 0 || li < lj)
	})
	if ps.HasErrors() {
		return nil, ps
	}
	cfg.warnings = ps
	return cfg, nil
}

// parseDocument parses data as one YAML document and returns its root node,
// nil for an empty document.
func parseDocument(data []byte) (root *yaml.Node, p *Problem) {
	defer func() {
		if r := recover(); r != nil {
			root, p = nil, &Problem{Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlProblem(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Problem{Msg: "the file must hold exactly one YAML document", Line: extra.Line}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// yamlProblem turns a yaml.v3 syntax error ("yaml: line 3: did not find
// expected key") into a Problem with its line.
func yamlProblem(err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := &Problem{Msg: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, found := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); err == nil && found {
			p.Line, p.Msg = line, "invalid YAML: "+tail
		}
	}
	return p
}

// covers reports whether path, or a field above it, failed to decode.
func (d *decoder) covers(path string) bool {
	for p := path; p != ""; p = parentPath(p) {
		if d.bad[p] {
			return true
		}
	}
	return false
}

// lineOf returns the line of path, or of the nearest field above it that
// is in the file; 0 when none is.
func (d *decoder) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if line, ok := d.lines[p]; ok {
			return line
		}
	}
	return 0
}

// parentPath strips the last ".key" or "[i]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// inlineSecrets warns about secrets written into the file itself rather
// than given as ${ENV} or in a file.
func inlineSecrets(c *Config, d *decoder) Problems {
	var l problemList
	check := func(path, val string) {
		if val != "" && !d.expanded[path] {
			l.warn(path, "secret written inline in the config: give it as ${ENV} or in a *_file")
		}
	}
	for i, k := range c.Tokens.Keys {
		check(indexPath("tokens.keys", i)+".secret", k.Secret)
	}
	check("store.redis.password", c.Store.Redis.Password)
	if u, err := url.Parse(c.Store.Redis.URL); err == nil && u.User != nil {
		if _, set := u.User.Password(); set {
			check("store.redis.url", c.Store.Redis.URL)
		}
	}
	check("mail.smtp.password", c.Mail.SMTP.Password)
	check("mfa.encryption_key", c.MFA.EncryptionKey)
	for i, p := range c.Providers {
		check(indexPath("providers", i)+".client_secret", p.ClientSecret)
	}
	for i := range l.ps {
		l.ps[i].Line = d.lineOf(l.ps[i].Path)
	}
	return l.ps
}

// readSecretFiles reads the password_file of Redis and SMTP into the
// password field. The HS256 secret_file is read by auth; Validate only checks
// it can be opened.
func readSecretFiles(c *Config, d *decoder) Problems {
	var l problemList
	read := func(path string, file string, into *string) {
		if file == "" {
			return
		}
		if *into != "" {
			field := path[strings.LastIndexByte(path, '.')+1:]
			l.add(path, fmt.Sprintf("set only one of %s and %s", strings.TrimSuffix(field, "_file"), field))
			return
		}
		s, err := readSecret(file)
		if err != nil {
			l.add(path, err.Error())
			return
		}
		*into = s
	}
	read("store.redis.password_file", c.Store.Redis.PasswordFile, &c.Store.Redis.Password)
	read("mail.smtp.password_file", c.Mail.SMTP.PasswordFile, &c.Mail.SMTP.Password)
	read("mfa.encryption_key_file", c.MFA.EncryptionKeyFile, &c.MFA.EncryptionKey)
	for i := range c.Providers {
		p := &c.Providers[i]
		read(indexPath("providers", i)+".client_secret_file", p.ClientSecretFile, &p.ClientSecret)
	}
	for i := range l.ps {
		l.ps[i].Line = d.lineOf(l.ps[i].Path)
		d.bad[l.ps[i].Path] = true
	}
	return l.ps
}

// maxSecretSize bounds a secret file; a bigger one is not a secret.
const maxSecretSize = 64 << 10

// readSecret reads a secret file and trims one trailing newline ("\n" or
// "\r\n"), as left by editors and `echo`.
func readSecret(file string) (string, error) {
	data, err := readLimited(file, maxSecretSize)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	s := string(data)
	if strings.HasSuffix(s, "\r\n") {
		s = s[:len(s)-2]
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", file)
	}
	return s, nil
}

// readLimited reads a regular file of at most limit bytes.
func readLimited(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, limit)
	}
	return data, nil
}

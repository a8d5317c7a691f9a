package config

import (
	"fmt"
	"os"
	"strings"
)

// EnvConfigPath is the environment variable that names the config file when
// no -config flag is given.
const EnvConfigPath = "AUTHGATE_CONFIG"

// DefaultPath is the config file used when neither the -config flag nor
// AUTHGATE_CONFIG names one.
const DefaultPath = "gateway.yaml"

// PathFromEnv returns the config file to load: flagValue when the flag was
// set on the command line, else $AUTHGATE_CONFIG when it is not empty, else
// "gateway.yaml".
func PathFromEnv(flagValue string, flagSet bool) string {
	if flagSet {
		return flagValue
	}
	if p := os.Getenv(EnvConfigPath); p != "" {
		return p
	}
	return DefaultPath
}

// lookupFunc finds an environment variable, like os.LookupEnv.
type lookupFunc func(name string) (string, bool)

// expandEnv replaces ${VAR} and ${VAR:-default} in s with values from
// lookup. ${VAR:-default} uses default when VAR is unset or empty; ${VAR}
// with VAR unset is an error, while a set but empty VAR expands to "". "$${"
// stands for a literal "${"; any other "$" is kept as it is, so bcrypt and
// argon2id hashes need no escaping. It reports whether s held a reference.
func expandEnv(s string, lookup lookupFunc) (out string, changed bool, err error) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			changed = true
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", false, fmt.Errorf("unterminated ${ in %q", s)
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDefault := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", false, fmt.Errorf("invalid environment reference ${%s}: use ${NAME} or ${NAME:-default}", ref)
		}
		val, ok := lookup(name)
		switch {
		case hasDefault && val == "":
			val = def
		case !ok:
			return "", false, fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(val)
		i += 2 + end + 1
		changed = true
	}
	return b.String(), changed, nil
}

// validEnvName reports whether name is a POSIX-style variable name.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

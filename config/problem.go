package config

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong (or, with Warning, merely suspicious) in a
// configuration, named by the YAML path of the field it is about, such as
// "rules[2].methods[0]".
type Problem struct {
	// Path is the YAML path of the field; "" for the document itself.
	Path string
	// Msg says what is wrong, in lower case without a final period.
	Msg string
	// Warning marks a problem that does not stop the gateway.
	Warning bool
	// Line is the line of gateway.yaml the problem is about, or 0 when it
	// is not known (a field that is absent, or a config built in Go).
	Line int
}

// String renders the problem as "path: msg (line N)", prefixed with
// "warning: " for a warning.
func (p Problem) String() string {
	var b strings.Builder
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Line > 0 {
		b.WriteString(" (line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(")")
	}
	return b.String()
}

// Problems is every problem found in a configuration. A non-empty Problems is
// an error; its message has one problem per line.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// HasErrors reports whether any problem is not a warning.
func (ps Problems) HasErrors() bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// Warnings returns only the warnings.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// problemList collects problems while a config is decoded or validated.
type problemList struct {
	ps Problems
}

func (l *problemList) add(path, msg string) {
	l.ps = append(l.ps, Problem{Path: path, Msg: msg})
}

func (l *problemList) warn(path, msg string) {
	l.ps = append(l.ps, Problem{Path: path, Msg: msg, Warning: true})
}

// childPath returns the path of key under parent.
func childPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath returns the path of element i of the sequence at parent.
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

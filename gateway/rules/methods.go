package rules

import "strings"

// methodSet is a set of request methods as bits. methodOther stands for
// every method outside knownMethods, so that a rule with no methods (all
// of them) is never covered by one that lists every known method.
type methodSet uint16

// knownMethods are the methods with a bit of their own (Fiber's default
// request methods); the index of each is its bit. A rule may name any other
// token method too (rule.others).
var knownMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

const (
	methodGET   methodSet = 1 << 0
	methodHEAD  methodSet = 1 << 1
	methodOther methodSet = 1 << len(knownMethods)
	methodAll   methodSet = methodOther<<1 - 1
)

// methodBit returns the bit of a request method, methodOther for an
// unknown one. Case is ignored: an upstream may accept "get" as GET.
func methodBit(m string) methodSet {
	switch m { // the common spellings first, without folding
	case "GET":
		return methodGET
	case "POST":
		return 1 << 2
	case "HEAD":
		return methodHEAD
	}
	for i, k := range knownMethods {
		if strings.EqualFold(m, k) {
			return 1 << i
		}
	}
	return methodOther
}

// allowsMethod reports whether the rule matches a request with method m,
// whose bit is bit.
func (r *rule) allowsMethod(bit methodSet, m string) bool {
	if r.methods&bit == 0 {
		return false
	}
	return bit != methodOther || r.others == nil || containsFold(r.others, m)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// validMethod reports whether m is an RFC 9110 token.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// names lists the methods of s, with others (see rule.others), for
// messages.
func (s methodSet) names(others []string) string {
	if s == methodAll && others == nil {
		return "any method"
	}
	var b strings.Builder
	for i, k := range knownMethods {
		if s&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(k)
		}
	}
	for _, m := range others {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m)
	}
	return b.String()
}

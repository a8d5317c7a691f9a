package rules

import "strings"

// methodSet is a set of request methods as bits. methodOther stands for
// every method outside knownMethods, so that a rule with no methods (all
// of them) is never covered by one that lists every known method.
type methodSet uint16

// knownMethods are the methods a rule may name (Fiber's default request
// methods); the index of each is its bit.
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

// names lists the methods of s for messages.
func (s methodSet) names() string {
	if s == methodAll {
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
	return b.String()
}

package rules

import "strings"

// node is one literal path segment in the rules' trie. The trie holds every
// rule at the node its pattern's literal part names ("/api/users/**" at
// root → api → users), in three lists by kind, each in rule order. A path
// can only be matched by the any-rules on the nodes along it, the one-rules
// of its parent node and the exact rules of its own node, so Match visits
// as many nodes as the path has segments, whatever the number of rules.
type node struct {
	next map[string]*node
	// exact are the rules "/a/b" at this node, one the rules "/a/b/*",
	// any the rules "/a/b/**"; indexes into Set.rules, ascending.
	exact, one, any []int32
}

// child returns the node for segment seg below n, nil if there is none.
func (n *node) child(seg string) *node {
	if n.next == nil {
		return nil
	}
	return n.next[seg]
}

// add puts rule i, whose pattern is pt, into the trie rooted at n. Rules
// are added in ascending order, which keeps the lists sorted.
func (n *node) add(pt *pattern, i int32) {
	at := n
	if pt.lit != "/" && pt.lit != "" {
		for seg := range strings.SplitSeq(pt.lit[1:], "/") {
			c := at.child(seg)
			if c == nil {
				if at.next == nil {
					at.next = make(map[string]*node)
				}
				c = &node{}
				at.next[seg] = c
			}
			at = c
		}
	}
	switch pt.kind {
	case kindExact:
		at.exact = append(at.exact, i)
	case kindOne:
		at.one = append(at.one, i)
	default:
		at.any = append(at.any, i)
	}
}

// each calls f with the lists of rules whose patterns can match path (a
// normalized path without a trailing slash, except "/" itself): the
// any-rules of the nodes along it, the one-rules of its parent when its
// last segment is not empty, and the exact rules of its node. f returns
// false to stop.
func (n *node) each(path string, f func([]int32) bool) {
	at := n
	rest := path[1:] // the segments not yet walked
	if rest == "" {  // "/": no segment
		if f(at.any) {
			f(at.exact)
		}
		return
	}
	for {
		if !f(at.any) {
			return
		}
		seg, more := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, more = rest[:i], rest[i+1:]
		} else if seg != "" && !f(at.one) { // at is the parent of the last segment
			return
		}
		at = at.child(seg)
		if at == nil {
			return
		}
		if seg == rest { // at is the path's own node
			if f(at.any) {
				f(at.exact)
			}
			return
		}
		rest = more
	}
}

// covering calls f with the lists of rules whose patterns can cover pt
// (match every path pt matches): for an exact pattern those that can match
// its path; for "/a/**" the any-rules on the nodes from the root to a; for
// "/a/*" those and the one-rules of a. f returns false to stop.
func (n *node) covering(pt *pattern, f func([]int32) bool) {
	if pt.kind == kindExact {
		n.each(pt.lit, f)
		return
	}
	at := n
	if !f(at.any) {
		return
	}
	if pt.lit != "" {
		for seg := range strings.SplitSeq(pt.lit[1:], "/") {
			if at = at.child(seg); at == nil || !f(at.any) {
				return
			}
		}
	}
	if pt.kind == kindOne {
		f(at.one)
	}
}

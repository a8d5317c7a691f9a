// Package rules decides what happens to a request before it reaches an
// upstream: it turns the raw request target into the one normalized path
// that is both matched and forwarded (Normalize), compiles the ordered
// rules of gateway.yaml (Compile), and finds the first rule that matches a
// request (Set.Match).
//
// # Why the gateway normalizes paths itself
//
// A gateway that matches rules on one spelling of a path and forwards
// another is bypassed by the difference: "/public/../admin/x" matched as
// public and served by the upstream as "/admin/x". Fiber's c.Path() is the
// raw target and fasthttp's URI().Path() is a decoded one (it turns "%2f"
// into "/" and "%00" into a NUL), so authgate uses neither. Normalize reads
// the raw target once, rejects what cannot be made safe, and returns the
// path that the rules see; the proxy sends exactly that path upstream.
//
// # Normalization policy
//
// The target must be in origin form, starting with "/". An absolute-form
// target ("http://host/path") is split by SplitAbsolute first and its host
// must be checked against the Host header and the configured hosts;
// "*" and authority forms are refused. Targets longer than 8 KiB are
// refused. The query starts at the first "?" and is passed on as sent,
// except that bytes not allowed in a URI are percent-encoded; a fragment
// ("#") is refused.
//
// In the path:
//
//   - Percent-encoded unreserved characters (letters, digits, "-", ".",
//     "_", "~") are decoded: "%7Euser" becomes "~user" and "%41" becomes
//     "A", because both spellings name the same resource. Every other
//     escape is kept, with its hex digits upper-cased ("%c3%a9" becomes
//     "%C3%A9"); "%25" stays "%25", so "%252e" is the three characters
//     "%2e" and never a dot. Raw bytes that are not allowed in a URI path
//     (space, quotes, non-ASCII) are percent-encoded, so "/café" and
//     "/caf%C3%A9" are the same path.
//   - Refused with 400: "%2F" (an encoded slash would be a separator the
//     rules did not see), a backslash raw or as "%5C" (IIS, Windows file
//     servers and some Java stacks treat it as a separator), control bytes
//     raw or encoded ("%00" to "%1F", "%7F"), the bytes 0xC0 and 0xC1 raw or
//     encoded (they only ever serve as overlong UTF-8 spellings of "/", "."
//     and "\"), and invalid escapes ("%zz", "%4", "%u002e").
//   - Dot segments "." and "..", including those spelled "%2e", are
//     resolved as RFC 3986 section 5.2.4 says, never above the root:
//     "/a/./b/../../../c" becomes "/c".
//   - Repeated slashes are collapsed ("//admin" becomes "/admin"); a
//     trailing slash is kept (the upstream may tell "/a" from "/a/").
//   - ";" is an ordinary byte: "/a;b/c" is sent upstream as it is and
//     matched as it is. Tomcat and Spring strip ";parameters" from every
//     segment, so a segment that is a dot segment followed by a parameter
//     (".;", "..;x", "..%3B") is refused: to them it is "..", to authgate
//     it would be a name. A segment such as "admin;x" is still a name to
//     authgate but "admin" to Tomcat and Spring: in front of such
//     upstreams, write allow rules and keep the default policy deny, so
//     that an unexpected spelling falls to deny rather than past a deny
//     rule.
//
// Matching is case-sensitive; in front of a case-insensitive upstream
// (IIS), the same advice holds.
//
// # Rules
//
// Rules are tried in order and the first whose path, methods and hosts all
// match decides; a request no rule matches gets the default policy (deny
// unless configured). Path patterns are "/exact", "/p/*" (exactly one more
// non-empty segment) and "/p/**" (any depth, including "/p" itself);
// "/**" matches every path. A wildcard is only allowed as the whole last
// segment. Patterns are written in normalized form, and a trailing slash
// on the request path is ignored when matching, so "/admin" also matches
// "/admin/" (which many frameworks serve as "/admin"). A rule listing GET
// also matches HEAD, since upstreams answer HEAD with their GET handler.
// Hosts match without the port, without a trailing dot and in any case.
//
// The rules are kept in a tree of path segments (trie.go): a request is
// compared only with the rules whose pattern lies on its path, in rule
// order, so the cost of Match does not grow with the number of rules.
//
// Compile reports every problem with the YAML path of the field
// ("rules[2].methods[0]: invalid method \"G T\"") and warns about a rule
// that an earlier rule makes unreachable (an earlier rule matching all of
// its paths, methods and hosts, such as "/api/**" before "/api/users").
package rules

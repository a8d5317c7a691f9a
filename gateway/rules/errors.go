package rules

import "errors"

// ErrBadTarget is matched (with errors.Is) by every error Normalize returns:
// the request target cannot be served and the answer is 400.
var ErrBadTarget = errors.New("bad request target")

// TargetError is the type of the reasons Normalize rejects a request
// target. Each reason is a sentinel value below; compare them with
// errors.Is. Every TargetError also matches ErrBadTarget.
type TargetError struct {
	// Reason is a human message fit for a problem document's detail.
	Reason string
}

// Error returns the human message.
func (e *TargetError) Error() string { return e.Reason }

// Is makes every TargetError match ErrBadTarget.
func (e *TargetError) Is(target error) bool { return target == ErrBadTarget }

// The reasons Normalize rejects a request target.
var (
	// ErrNotOrigin: the target does not start with "/" (absolute form must
	// go through SplitAbsolute first; "*" and authority form are refused).
	ErrNotOrigin error = &TargetError{"request target must start with \"/\""}
	// ErrTooLong: the target is longer than MaxTargetLength bytes.
	ErrTooLong error = &TargetError{"request target too long"}
	// ErrFragment: the target holds a "#"; clients never send fragments.
	ErrFragment error = &TargetError{"fragment (\"#\") in request target"}
	// ErrBadEscape: a "%" not followed by two hex digits.
	ErrBadEscape error = &TargetError{"invalid percent-encoding in path"}
	// ErrEncodedSlash: "%2F" in the path, a separator hidden from matching.
	ErrEncodedSlash error = &TargetError{"encoded slash (%2F) in path"}
	// ErrBackslash: a raw "\" or "%5C" in the path; some upstreams (IIS,
	// Windows file servers, some Java stacks) treat it as a separator.
	ErrBackslash error = &TargetError{"backslash (\"\\\" or %5C) in path"}
	// ErrControlChar: a control byte (0x00-0x1F, 0x7F), raw or
	// percent-encoded, in the path, or raw in the query.
	ErrControlChar error = &TargetError{"control character in request target"}
	// ErrDotSemicolon: a segment that is "." or ".." followed by ";" (or
	// "%3B"), which Tomcat and Spring treat as a dot segment.
	ErrDotSemicolon error = &TargetError{"dot segment with path parameter (\"..;\") in path"}
	// ErrOverlongUTF8: the byte 0xC0 or 0xC1, raw or encoded. They never
	// occur in valid UTF-8; their only use in a path is an overlong
	// encoding of "/", "." or "\" that old decoders accept.
	ErrOverlongUTF8 error = &TargetError{"overlong UTF-8 (0xC0/0xC1) in path"}
)

// Package docs holds the user documentation (Markdown) and the tests that keep
// it honest: links between the pages and from the README must resolve,
// anchors included, so moving text cannot silently break a reference.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// pages are the README and every Markdown file in docs/.
func pages(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md"}, files...)
}

var (
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile(`^#{1,6} +(.+?) *#*$`)
)

// anchors returns the GitHub-style anchors of a Markdown file's headings:
// lower case, punctuation other than '-' and '_' dropped, spaces to '-',
// and "-1", "-2" appended to repeats. Headings inside code fences are not
// headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		m := headingRE.FindStringSubmatch(line)
		if fence || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+string(rune('0'+n))] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// stripCode removes fenced blocks and inline code, where "](" is not a link.
func stripCode(text string) string {
	var b strings.Builder
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if !fence {
			b.WriteString(regexp.MustCompile("`[^`]*`").ReplaceAllString(line, ""))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestLinksAndAnchorsResolve(t *testing.T) {
	for _, page := range pages(t) {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(stripCode(string(b)), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(link, "#")
			target := page
			if file != "" {
				target = filepath.Join(filepath.Dir(page), file)
			}
			tb, err := os.ReadFile(target)
			if err != nil {
				if fi, serr := os.Stat(target); serr == nil && fi.IsDir() {
					continue // a link to a folder such as ../examples/
				}
				t.Errorf("%s: link %q: %v", page, link, err)
				continue
			}
			if frag != "" && !anchors(string(tb))[frag] {
				t.Errorf("%s: link %q: no heading with anchor #%s in %s", page, link, frag, target)
			}
		}
	}
}

// The anchor rule must match GitHub's for the headings the pages use.
func TestAnchors(t *testing.T) {
	got := anchors("# Paths: what is matched is what is forwarded\n" +
		"## nginx (`auth_request`)\n```sh\n# not a heading\n```\n## Changing the username or the email: `PATCH /me`\n## Notes\n## Notes\n")
	for _, want := range []string{
		"paths-what-is-matched-is-what-is-forwarded", "nginx-auth_request",
		"changing-the-username-or-the-email-patch-me", "notes", "notes-1",
	} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code fence was taken for a heading")
	}
}

// Every page is reachable from the README's table of contents.
func TestEveryPageIsLinkedFromTheREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range pages(t)[1:] {
		if page == "README.md" {
			continue
		}
		if !strings.Contains(string(b), "](docs/"+page) {
			t.Errorf("README does not link docs/%s", page)
		}
	}
}

package config

import (
	"fmt"
	"strings"
)

// Browser configures sign-in for people in a browser: the pages, the
// redirect of browser navigations to them, and where a person may be sent
// back to afterwards (docs/browser.md).
type Browser struct {
	// Enabled serves the sign-in pages under Path and answers a browser
	// navigation without a valid session with 302 to the sign-in page
	// instead of 401. Needs transport.cookies.enabled. Default false.
	Enabled bool `yaml:"enabled"`
	// Path is the prefix of the pages: <path>/sign-in, /register,
	// /forgot-password, /reset-password, /verify-email, /password,
	// /sign-out, /signed-out. Default "/auth/ui".
	Path string `yaml:"path"`
	// TemplatesDir may hold page templates (sign-in.html, layout.html, ...)
	// that replace the built-in ones of the same name. Default "": the
	// built-in pages.
	TemplatesDir string `yaml:"templates_dir"`
	// DefaultReturn is where a person goes after signing in when no
	// acceptable return address was given: a path on this site or a URL on
	// a host of ReturnHosts. Default "/".
	DefaultReturn string `yaml:"default_return"`
	// ReturnHosts are the hosts an absolute return address may name:
	// "app.example.com" exactly, or "*.example.com" for any subdomain (not
	// example.com itself); a port may follow (":8443"). Relative paths on
	// the same site are always accepted. Default: none.
	ReturnHosts []string `yaml:"return_hosts"`
	// ScopedSignIn are more sign-in pages, each at <path>/sign-in/<name>,
	// that admit only users with one of the roles (an admin console's own
	// sign-in). Default: none.
	ScopedSignIn []ScopedSignIn `yaml:"scoped_sign_in"`
}

// ScopedSignIn is a sign-in page for some roles only.
type ScopedSignIn struct {
	// Name is the last path segment: letters, digits, - and _. Required.
	Name string `yaml:"name"`
	// Roles: a user needs one of them. Required.
	Roles []string `yaml:"roles"`
	// Title is the page's heading. Default "Sign in".
	Title string `yaml:"title"`
}

// CookieDomain is a cookie domain shared by several hosts (single sign-on
// across subdomains).
type CookieDomain struct {
	// Domain is the cookie's Domain attribute, e.g. "example.com".
	Domain string `yaml:"domain"`
	// Hosts are the request hosts that get cookies for Domain: exact host
	// names or "*.example.com"; each must be Domain or under it.
	Hosts []string `yaml:"hosts"`
}

func browserDefaults(c *Config) {
	b := &c.Browser
	setStr(&b.Path, "/auth/ui")
	setStr(&b.DefaultReturn, "/")
	for i := range b.ScopedSignIn {
		setStr(&b.ScopedSignIn[i].Title, "Sign in")
	}
	setBool(&c.Transport.Cookies.CSRF, true)
}

func validateBrowser(v *problemList, c *Config) {
	b := &c.Browser
	if b.Enabled && !c.Transport.Cookies.Enabled {
		v.add("browser.enabled", "needs transport.cookies.enabled: true (the pages sign in with cookies)")
	}
	if msg := pathProblem(b.Path, false); msg != "" {
		v.add("browser.path", msg)
	} else if b.Path == "/" {
		v.add("browser.path", "must not be /: the pages need a prefix of their own")
	}
	if b.DefaultReturn == "" || (b.DefaultReturn[0] != '/' && !strings.HasPrefix(b.DefaultReturn, "https://") && !strings.HasPrefix(b.DefaultReturn, "http://")) ||
		strings.HasPrefix(b.DefaultReturn, "//") || strings.ContainsAny(b.DefaultReturn, "\\ \t\r\n") {
		v.add("browser.default_return", fmt.Sprintf("%q: a path like / or an http(s) URL on a host of browser.return_hosts", b.DefaultReturn))
	}
	for i, h := range b.ReturnHosts {
		if msg := HostPatternProblem(h); msg != "" {
			v.add(indexPath("browser.return_hosts", i), msg)
		}
	}
	names := map[string]bool{}
	for i, s := range b.ScopedSignIn {
		path := indexPath("browser.scoped_sign_in", i)
		if s.Name == "" || strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			v.add(path+".name", fmt.Sprintf("%q: letters, digits, - and _ only", s.Name))
		} else if names[s.Name] {
			v.add(path+".name", fmt.Sprintf("%q is used twice", s.Name))
		}
		names[s.Name] = true
		if len(s.Roles) == 0 {
			v.add(path+".roles", "name at least one role")
		}
		checkRoles(v, path+".roles", s.Roles)
	}
	ck := &c.Transport.Cookies
	for i, d := range ck.Domains {
		path := indexPath("transport.cookies.domains", i)
		dom := strings.ToLower(strings.TrimPrefix(d.Domain, "."))
		if dom == "" || strings.ContainsAny(dom, "/:; \t*") || !strings.Contains(dom, ".") && dom != "localhost" {
			v.add(path+".domain", fmt.Sprintf("invalid cookie domain %q: a host name like example.com", d.Domain))
		}
		if len(d.Hosts) == 0 {
			v.add(path+".hosts", "name the hosts that share this domain")
		}
		for j, h := range d.Hosts {
			hp := indexPath(path+".hosts", j)
			if msg := HostPatternProblem(h); msg != "" {
				v.add(hp, msg)
				continue
			}
			host := strings.ToLower(strings.TrimPrefix(h, "*."))
			if i := strings.IndexByte(host, ':'); i >= 0 {
				v.add(hp, "no port: cookies do not depend on the port")
				continue
			}
			if host != dom && !strings.HasSuffix(host, "."+dom) {
				v.add(hp, fmt.Sprintf("%q is not %s or under it", h, dom))
			}
		}
	}
	if len(ck.Domains) > 0 && ck.Domain != "" {
		v.add("transport.cookies.domains", "set domain or domains, not both")
	}
}

// HostPatternProblem says what is wrong with a host pattern ("" when
// nothing): "host", "host:port", "*.example.com" or "*.example.com:port",
// lower-case letters, digits, - and . only (IDNs in their xn-- form).
func HostPatternProblem(h string) string {
	p := h
	if i := strings.LastIndexByte(p, ':'); i >= 0 {
		port := p[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return fmt.Sprintf("%q: the port must be digits", h)
		}
		p = p[:i]
	}
	p = strings.TrimPrefix(p, "*.")
	if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" || strings.HasPrefix(p, ".") ||
		strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return fmt.Sprintf("%q: a lower-case host name like app.example.com or *.example.com", h)
	}
	return ""
}

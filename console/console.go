// Package console serves scimbridge's admin console: IOMETE's LDAP settings
// page, top to bottom, as one static page at / that drives the admin API
// (/api/v1). The HTML, CSS and JavaScript are embedded in the binary: no
// build step, no CDN, nothing fetched from the internet.
//
// The page signs in by trading the admin token for a session cookie (see
// adminapi.SessionOptions); it never stores the token. Every answer carries
// the headers of SecurityHeaders: a Content-Security-Policy that allows no
// inline script and no framing, and nosniff.
package console

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"
)

//go:embed static
var static embed.FS

// AssetPrefix is the path the page's script and style sheet are served under.
const AssetPrefix = "/console/"

// CSP is the Content-Security-Policy of every answer: scripts and styles from
// this origin only (no inline script), requests to this origin only, no
// framing, no plugins, forms posting nowhere else.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// SecurityHeaders sets CSP, X-Frame-Options DENY, nosniff and no referrer on
// every answer it wraps, the admin API's and the SCIM server's included
// (harmless for JSON, and one place to read them).
func SecurityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		return next(c)
	}
}

// Register serves the page at / and its assets under AssetPrefix, and puts
// SecurityHeaders on every route of e.
func Register(e *echo.Echo) {
	e.Use(SecurityHeaders)
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded files are fixed at build time
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	page := func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
		return c.HTMLBlob(http.StatusOK, index)
	}
	e.GET("/", page)
	e.HEAD("/", page)
	for _, name := range []string{"console.js", "console.css"} {
		body, err := fs.ReadFile(files, name)
		if err != nil {
			panic(err)
		}
		ctype := mime.TypeByExtension(path.Ext(name))
		e.GET(AssetPrefix+name, func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
			return c.Blob(http.StatusOK, ctype, body)
		})
	}
}

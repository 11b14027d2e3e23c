package api

import (
	"net/http"
	"path"
	"strings"
)

// rejectUncleanPath responds 404 to a path with empty, "." or ".."
// segments. http.ServeMux would otherwise redirect such a path to its
// cleaned form with a body that is not JSON, and send a client of
// /v1/actions/../../x to /x.
func rejectUncleanPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		clean := path.Clean(p)
		if p != "/" && strings.HasSuffix(p, "/") {
			clean += "/"
		}
		if clean != p {
			writeNoRoute(w, p)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeNoRoute writes the 404 of a path that no route serves.
func writeNoRoute(w http.ResponseWriter, p string) {
	writeJSON(w, http.StatusNotFound, errorBody{Message: "Not Found: no route " + shown(p) + "; see /openapi.json for the routes"})
}

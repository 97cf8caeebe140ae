package server

// Routes lists the registered "METHOD PATH" patterns, for the OpenAPI test.
func Routes() []string {
	var out []string
	for _, r := range routes() {
		out = append(out, r.method+" "+r.path)
	}
	for _, r := range hostRoutes() {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

// OpenAPIDocument is the embedded document.
var OpenAPIDocument = openAPIDocument

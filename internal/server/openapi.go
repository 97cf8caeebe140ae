package server

import _ "embed"

// openAPIDocument is the API's OpenAPI 3 description, served at
// GET /v1/openapi.json. A test holds it to the route table.
//
//go:embed openapi.json
var openAPIDocument []byte

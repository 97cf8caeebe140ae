// Command nullprovider is the benchmark's "no-I/O" floor: the real apphost
// provider (same schemas, defaults, plan modifiers and rotation logic) whose
// Configure hands every resource an in-memory backend instead of the SQLite
// store or the HTTP client. Whatever it costs is the framework's and the
// provider logic's cost; the difference to the real provider is the I/O.
//
// Terraform runs it through dev_overrides as terraform-provider-apphost. The
// objects live in memory for the process and in a JSON snapshot between
// processes ($APPHOST_BENCH_MEMSTORE, default .apphost/bench-mem.json): read
// once at the first call, written once at exit when something changed.
//
// For benchmarks only: it ignores the provider configuration.
package main

import (
	"context"
	"flag"
	"log"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/apphost/terraform-provider-apphost/bench/membackend"
	"github.com/apphost/terraform-provider-apphost/internal/provider"
)

func main() {
	debug := flag.Bool("debug", false, "serve in debug mode (prints TF_REATTACH_PROVIDERS)")
	flag.Parse()

	path := os.Getenv("APPHOST_BENCH_MEMSTORE")
	if path == "" {
		path = ".apphost/bench-mem.json"
	}
	b := membackend.New(path)
	err := providerserver.Serve(context.Background(), provider.NewWithBackend("bench-noio", b),
		providerserver.ServeOpts{Address: "registry.terraform.io/apphost/apphost", Debug: *debug})
	if serr := b.Save(); serr != nil {
		log.Printf("nullprovider: saving %s: %v", path, serr)
	}
	if err != nil {
		log.Fatal(err)
	}
}

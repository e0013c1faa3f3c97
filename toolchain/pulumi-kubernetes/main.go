// The pulumi-resource-kubernetes plugin, built from the provider's Go module. The module's own
// cmd/ package embeds files that its generator writes; scripts/toolchain.sh copies the schema and
// the terraform mapping that the module ships next to this file, in a build directory outside the
// repo, and builds there.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var pulumiSchema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}

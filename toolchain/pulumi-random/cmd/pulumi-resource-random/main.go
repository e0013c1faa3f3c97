// The pulumi-resource-random plugin. scripts/toolchain.sh writes the two embedded files with
// pulumi-tfgen-random in a build directory outside the repo before building this package.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	random "github.com/terraform-providers/terraform-provider-random/llmserving"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	pf.Main(context.Background(), "random", random.Provider(metadata), pf.ProviderMetadata{PackageSchema: schema})
}

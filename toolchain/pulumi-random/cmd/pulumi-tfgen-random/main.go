// Writes schema.json and bridge-metadata.json for the plugin to embed:
// pulumi-tfgen-random schema --out DIR.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	random "github.com/terraform-providers/terraform-provider-random/llmserving"
)

func main() {
	tfgen.Main("random", random.Provider(nil))
}

// Package llmserving bridges the upstream Terraform random provider to Pulumi, with the tokens
// @pulumi/random uses (random:index/randomPassword:RandomPassword, ...). The proxy does not serve
// github.com/pulumi/pulumi-random/provider/v4, but it serves its parts: the upstream provider and
// the bridge. This module's path lies under the upstream module's, so Go's internal-package rule
// lets it construct the upstream provider (internal/provider).
package llmserving

import (
	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// Version is set by the linker (scripts/toolchain.sh) to the @pulumi/random version it serves.
var Version string

// Provider describes the bridged provider; metadata is the bridge-metadata.json that tfgen wrote
// (nil while tfgen itself runs).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(provider.New()),
		Name:         "random",
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		License:      "Apache-2.0",
		Version:      Version,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		// The engine's diff for random resources, as the released provider has it.
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	makeToken := func(module, name string) (string, error) {
		return tokens.MakeStandard("random")(module, "Random"+name)
	}
	info.MustComputeTokens(tokens.SingleModule("random_", "index", makeToken))
	return info
}

// Package dns stands in for lego's generated table of DNS-01 challenge providers in kubeport's Traefik build: the
// table imports some 180 DNS vendors' SDKs, some of which the Go module proxy refuses, and a node without the
// internet has no use for ACME (toolchain/stubs/README.md). Traefik names a DNS challenge provider only in an ACME
// certificate resolver's configuration, and kubeport's node configures none.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName refuses every name: no DNS-01 provider is built in.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("DNS challenge provider %q: kubeport's Traefik build has no DNS-01 providers (no ACME on a local node)", name)
}

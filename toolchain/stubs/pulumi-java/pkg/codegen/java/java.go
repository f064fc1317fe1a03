// Package java stands in for the Java code generator: only the language options type the docker-build
// provider's schema names (see toolchain/stubs/README.md).
package java

// PackageInfo holds the Java SDK options of a provider schema.
type PackageInfo struct {
	BuildFiles                      string            `json:"buildFiles,omitempty"`
	GradleNexusPublishPluginVersion string            `json:"gradleNexusPublishPluginVersion,omitempty"`
	Dependencies                    map[string]string `json:"dependencies,omitempty"`
}

// Package codegen stands in for the .NET code generator: only the language options type the docker-build
// provider's schema names (see toolchain/stubs/README.md).
package codegen

// CSharpPackageInfo holds the .NET SDK options of a provider schema.
type CSharpPackageInfo struct {
	RespectSchemaVersion bool              `json:"respectSchemaVersion,omitempty"`
	PackageReferences    map[string]string `json:"packageReferences,omitempty"`
}

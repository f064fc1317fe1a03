// Package ext stands in for Traefik's dynamic configuration extension point: the two structs its HTTP
// configuration and routers embed, empty as in the open-source build (toolchain/stubs/README.md).
package ext

// HTTP is embedded, inline, in Traefik's HTTPConfiguration.
type HTTP struct{}

// Router is embedded, inline, in Traefik's Router.
type Router struct{}

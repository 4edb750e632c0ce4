/// Public API for app authors: register view functions and run a server.
@_exported import FlaksConfig
@_exported import FlaksHandlers
@_exported import FlaksHTTP
@_exported import FlaksServer

/// Public API for app authors: register view functions and run a server.
@_exported import FlaksServer

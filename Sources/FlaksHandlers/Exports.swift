// `Locked` moved to FlaksSync so that FlaksCompression (below FlaksHandlers) can use it too;
// re-exported here so every module that imports FlaksHandlers keeps seeing it unchanged.
@_exported import FlaksSync

// `Locked` lives in FlaksSync so that targets below FlaksHandlers (FlaksCompression, FlaksAccess)
// share it; re-exported here so every module that imports FlaksHandlers keeps seeing it.
@_exported import FlaksSync

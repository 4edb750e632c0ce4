import FlaksHTTP

<?php
// The CGI variables a fastcgi: route passes (RFC 3875 plus SCRIPT_FILENAME, DOCUMENT_ROOT, REQUEST_URI...).
header('Content-Type: text/plain; charset=utf-8');
foreach (['REQUEST_METHOD', 'REQUEST_URI', 'QUERY_STRING', 'SCRIPT_NAME', 'PATH_INFO', 'SCRIPT_FILENAME',
          'DOCUMENT_ROOT', 'REQUEST_SCHEME', 'SERVER_NAME', 'SERVER_PORT', 'REMOTE_ADDR', 'REDIRECT_STATUS',
          'GATEWAY_INTERFACE', 'SERVER_SOFTWARE', 'APP_MODE'] as $k) {
    printf("%-18s %s\n", $k, $_SERVER[$k] ?? '(unset)');
}

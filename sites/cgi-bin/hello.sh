#!/bin/sh
# The smallest CGI/1.1 script (RFC 3875 §6): a header section, a blank line, the body.
printf 'Content-Type: text/plain; charset=utf-8\n\n'
printf 'Hello from a shell CGI script!\n'
printf 'You asked for %s with method %s.\n' "$SCRIPT_NAME$PATH_INFO" "$REQUEST_METHOD"

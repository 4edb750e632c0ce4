#!/usr/bin/env python3
"""Prints the CGI environment as plain text, one NAME=value per line (sorted)."""
import os
import sys

out = sys.stdout
out.write("Content-Type: text/plain; charset=utf-8\r\n\r\n")
for name in sorted(os.environ):
    out.write(f"{name}={os.environ[name]}\n")

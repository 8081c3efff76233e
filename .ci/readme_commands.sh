#!/usr/bin/env bash
# Print the README's set-up commands: the shell lines of the fenced block that follows the marker
# `<!-- setup-commands -->`, comments and blank lines left out. CI runs exactly these lines, so the
# README and CI cannot drift apart.
set -euo pipefail
awk '
  /<!-- setup-commands -->/ { armed = 1; next }
  armed && /^```/ { if (inside) exit; inside = 1; next }
  inside && !/^[[:space:]]*(#|$)/ { print }
' "${1:-README.md}"

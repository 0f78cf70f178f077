#!/usr/bin/env bash
# Copy the pinned front-end packages from node_modules into static files (never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/crm/static/vendor
rm -rf "$out"; mkdir -p "$out"/{tabler,tabler-icons/fonts,htmx,alpine,echarts,sortable,tom-select}
cp node_modules/@tabler/core/dist/css/tabler.min.css "$out/tabler/"
cp node_modules/@tabler/core/dist/js/tabler.min.js "$out/tabler/"
cp node_modules/@tabler/icons-webfont/dist/tabler-icons.min.css "$out/tabler-icons/"
cp node_modules/@tabler/icons-webfont/dist/fonts/tabler-icons.woff2 "$out/tabler-icons/fonts/"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx/"
cp node_modules/@alpinejs/csp/dist/cdn.min.js "$out/alpine/alpine.min.js"  # the CSP build (no eval)
cp node_modules/echarts/dist/echarts.min.js "$out/echarts/"
cp node_modules/sortablejs/Sortable.min.js "$out/sortable/"
cp node_modules/tom-select/dist/js/tom-select.complete.min.js "$out/tom-select/"
cp node_modules/tom-select/dist/css/tom-select.bootstrap5.min.css "$out/tom-select/"
echo "front-end assets copied to $out"

#!/usr/bin/env bash
# ruff and mypy over the installed layout (agenttui, agenttui.store, agenttui.tui, agenttui.recording).
#
# store/, tui/ and recording/ are installed as sub-packages of agenttui through setuptools' package-dir
# mapping, which mypy cannot follow from the source tree (an editable install's import hook is invisible
# to it, so every `agenttui.store` import would be Any). A throwaway tree of symlinks gives mypy the
# installed layout, so the packages are checked against each other's real types.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check store tui agenttui recording
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/agenttui"
for entry in agenttui/*; do ln -s "$PWD/$entry" "$tree/agenttui/"; done
for pkg in store tui recording; do ln -s "$PWD/$pkg" "$tree/agenttui/$pkg"; done
(cd "$tree" && mypy --config-file "$OLDPWD/pyproject.toml" -p agenttui)

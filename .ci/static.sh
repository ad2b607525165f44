#!/usr/bin/env bash
# Static checks that need the installed package layout: import-linter and mypy read packages
# from disk, and the package-dir mapping (datasets/ installed as tabloader.datasets) only exists
# in an installed tree. So both run over a throwaway regular install, from inside it
# (lint-imports puts the working directory first on sys.path).
#   .ci/static.sh            # both
#   .ci/static.sh imports    # import-linter only
#   .ci/static.sh types      # mypy only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
bin=$(dirname "$py")
what=${1:-all}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$root/build"' EXIT
(cd "$root" && "$py" -m pip install -q --no-deps --no-build-isolation --target "$tmp/site" . >/dev/null)
cd "$tmp/site"
rc=0
if [ "$what" = all ] || [ "$what" = imports ]; then
  PYTHONPATH="$tmp/site" "$bin/lint-imports" "$root/pyproject.toml" || rc=1
fi
if [ "$what" = all ] || [ "$what" = types ]; then
  "$bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$tmp/.mypy_cache" -p tabloader || rc=1
fi
exit $rc

#!/usr/bin/env bash
# Fetches the Kubernetes JSON schemas that `gatehouse_render::validate` checks rendered objects
# against, and prints the directory holding them (the only line written to stdout).
#
# The schemas come from the PyPI package kubernetes-validate, installed into a virtualenv outside
# the repository. The package ships, per Kubernetes version, a `v<version>-local-strict`
# directory: one file per kind (`deployment-apps-v1.json`, `service-v1.json`, ...) whose `$ref`s
# point into a shared `_definitions.json` (`/api/_definitions.json#/$defs/...`, resolved
# against each file's `$id`), with `additionalProperties: false` on every object that lists
# its properties. That directory is copied as it is into the output directory; nothing is
# edited or hand-written.
#
# Usage: tests/k8s-schemas.sh [OUTPUT_DIR]
#   OUTPUT_DIR                   default: $HOME/.cache/gatehouse-k8s-schemas/v<kubernetes version>
#   GATEHOUSE_K8S_VERSION        Kubernetes version, e.g. 1.36.0 (default: the newest shipped)
#   GATEHOUSE_K8S_VALIDATE_PIN   kubernetes-validate version to install (default below)
#   GATEHOUSE_K8S_SCHEMAS_VENV   virtualenv to install it into
#
# Idempotent: a second run with the same inputs installs and copies nothing.
set -euo pipefail

pin="${GATEHOUSE_K8S_VALIDATE_PIN:-1.37.0}"
cache="${HOME}/.cache/gatehouse-k8s-schemas"
venv="${GATEHOUSE_K8S_SCHEMAS_VENV:-${cache}/venv}"

log() { printf '%s\n' "$*" >&2; }

installed_version() {
  [ -x "${venv}/bin/python" ] || return 0
  "${venv}/bin/python" - <<'EOF' 2>/dev/null || true
from importlib.metadata import version, PackageNotFoundError
try:
    print(version("kubernetes-validate"))
except PackageNotFoundError:
    pass
EOF
}

if [ "$(installed_version)" != "${pin}" ]; then
  log "==> installing kubernetes-validate ${pin} into ${venv}"
  python3 -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==${pin}" >&2
fi

package_dir=$("${venv}/bin/python" -c \
  'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')
schema_root="${package_dir}/kubernetes-json-schema"

if [ -n "${GATEHOUSE_K8S_VERSION:-}" ]; then
  version="${GATEHOUSE_K8S_VERSION#v}"
  case "${version}" in *.*.*) ;; *) version="${version}.0" ;; esac
else
  version=$(find "${schema_root}" -mindepth 1 -maxdepth 1 -type d -name 'v*-local-strict' \
    -printf '%f\n' | sed -e 's/^v//' -e 's/-local-strict$//' | sort -V | tail -n 1)
fi
source_dir="${schema_root}/v${version}-local-strict"
if [ -z "${version}" ] || [ ! -f "${source_dir}/_definitions.json" ]; then
  log "error: kubernetes-validate ${pin} ships no strict schemas for Kubernetes '${version}';"
  log "available: $(find "${schema_root}" -mindepth 1 -maxdepth 1 -type d -name 'v*-local-strict' \
    -printf '%f\n' | sed -e 's/-local-strict$//' | sort -V | tr '\n' ' ')"
  exit 1
fi

out="${1:-${cache}/v${version}}"
stamp="kubernetes-validate ${pin} v${version}-local-strict"
if [ -f "${out}/.complete" ] && [ "$(cat "${out}/.complete")" = "${stamp}" ]; then
  printf '%s\n' "${out}"
  exit 0
fi

log "==> copying ${stamp} to ${out}"
parent=$(dirname "${out}")
mkdir -p "${parent}"
staging=$(mktemp -d "${parent}/.k8s-schemas.XXXXXX")
trap 'rm -rf "${staging}"' EXIT
chmod 755 "${staging}"
cp -R "${source_dir}/." "${staging}/"
printf '%s\n' "${stamp}" >"${staging}/.complete"
rm -rf "${out}"
mv "${staging}" "${out}"
trap - EXIT
printf '%s\n' "${out}"

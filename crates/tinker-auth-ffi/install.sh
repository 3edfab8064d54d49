#!/usr/bin/env bash
# Builds the C library of tinker-auth and installs it under a prefix:
#
#   PREFIX/include/tinker_auth.h
#   PREFIX/lib/libtinker_auth.a                       static library
#   PREFIX/lib/libtinker_auth.so.X.Y.Z                shared library, soname libtinker_auth.so.X
#   PREFIX/lib/libtinker_auth.so.X -> libtinker_auth.so.X.Y.Z
#   PREFIX/lib/libtinker_auth.so   -> libtinker_auth.so.X
#   PREFIX/lib/pkgconfig/tinker-auth.pc
#
# Then, with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig:
#   cc app.c $(pkg-config --cflags --libs tinker-auth)                    # shared
#   cc app.c $(pkg-config --cflags tinker-auth) \
#      -Wl,-Bstatic $(pkg-config --static --libs tinker-auth)            # static
#
# Usage: install.sh --prefix DIR [--libdir DIR] [--profile release|dev]
#                   [--target-dir DIR] [--destdir DIR]
#   --prefix DIR      where to install (required)
#   --libdir DIR      libraries and pkgconfig/ (default PREFIX/lib)
#   --profile NAME    cargo profile to build with (default release; dev is
#                     for quick tests)
#   --target-dir DIR  cargo's target directory (default: cargo's choice,
#                     CARGO_TARGET_DIR included)
#   --destdir DIR     stage under DIR (packaging): files go to DIR/PREFIX/...,
#                     while tinker-auth.pc still names PREFIX
#
# Needs cargo (and rustc) on PATH, or CARGO naming it. ELF platforms only
# (Linux, the BSDs): the soname and symlinks are theirs.
set -euo pipefail

die() {
    echo "install.sh: $*" >&2
    exit 2
}

prefix=""
libdir=""
profile="release"
target_dir=""
destdir=""
while [ $# -gt 0 ]; do
    case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --libdir) libdir="${2:?--libdir needs a directory}"; shift 2 ;;
    --libdir=*) libdir="${1#*=}"; shift ;;
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    --profile=*) profile="${1#*=}"; shift ;;
    --target-dir) target_dir="${2:?--target-dir needs a directory}"; shift 2 ;;
    --target-dir=*) target_dir="${1#*=}"; shift ;;
    --destdir) destdir="${2:?--destdir needs a directory}"; shift 2 ;;
    --destdir=*) destdir="${1#*=}"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[ -n "$prefix" ] || die "--prefix DIR is required (see --help)"
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
libdir="${libdir:-$prefix/lib}"
case "$libdir" in /*) ;; *) libdir="$(pwd)/$libdir" ;; esac
case "$(uname -s)" in
Linux | *BSD | DragonFly | SunOS) ;;
*) die "$(uname -s) is not supported: this script installs ELF shared libraries" ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cargo="${CARGO:-cargo}"
manifest="$here/Cargo.toml"

version="$("$cargo" pkgid --manifest-path "$manifest" -p tinker-auth-ffi)"
version="${version##*[#@]}"
case "$version" in
[0-9]*.[0-9]*.[0-9]*) ;;
*) die "cannot read the package version (got '$version')" ;;
esac
major="${version%%.*}"

# Where cargo puts the library: its target directory (CARGO_TARGET_DIR and
# build.target-dir honoured), then the profile's directory.
if [ -z "$target_dir" ]; then
    target_dir="$("$cargo" metadata --manifest-path "$manifest" --format-version 1 --no-deps |
        grep -o '"target_directory":"[^"]*"' | head -n1 | sed 's/^"target_directory":"//; s/"$//')"
    [ -n "$target_dir" ] || die "cannot find cargo's target directory"
fi
case "$profile" in
dev) out_dir="$target_dir/debug" ;;
*) out_dir="$target_dir/$profile" ;;
esac

# One build of the library, all its crate types (staticlib, cdylib, rlib).
# `--print native-static-libs` has rustc say which system libraries the
# static library needs (cargo replays the note when nothing is rebuilt).
log="$(mktemp "${TMPDIR:-/tmp}/tinker-auth-install.XXXXXX")"
trap 'rm -f "$log"' EXIT
echo "install.sh: building tinker-auth-ffi $version ($profile)" >&2
"$cargo" rustc --manifest-path "$manifest" --lib --profile "$profile" \
    --target-dir "$target_dir" -- --print native-static-libs 2>&1 | tee "$log" >&2 ||
    die "cargo failed"
static_lib="$out_dir/libtinker_auth_ffi.a"
shared_lib="$out_dir/libtinker_auth_ffi.so"
[ -f "$static_lib" ] || die "no static library at $static_lib"
[ -f "$shared_lib" ] || die "no shared library at $shared_lib"

# What the static library needs from the system, for Libs.private.
native_libs="$(grep -o 'native-static-libs: .*' "$log" | head -n1 | sed 's/^native-static-libs: //; s/ *$//')"
[ -n "$native_libs" ] || die "rustc did not report the static library's native libraries"

stage_inc="$destdir$prefix/include"
stage_lib="$destdir$libdir"
install -d "$stage_inc" "$stage_lib" "$stage_lib/pkgconfig"
install -m 644 "$here/include/tinker_auth.h" "$stage_inc/tinker_auth.h"
install -m 644 "$static_lib" "$stage_lib/libtinker_auth.a"
install -m 755 "$shared_lib" "$stage_lib/libtinker_auth.so.$version"
ln -sfn "libtinker_auth.so.$version" "$stage_lib/libtinker_auth.so.$major"
ln -sfn "libtinker_auth.so.$major" "$stage_lib/libtinker_auth.so"

# -Wl,-Bdynamic first in Libs.private: after a `-Wl,-Bstatic` that picked
# the archive for -ltinker_auth, the system libraries are linked as usual.
# Harmless without it.
if [ "$libdir" = "$prefix/lib" ]; then pc_libdir='${prefix}/lib'; else pc_libdir="$libdir"; fi
cat >"$stage_lib/pkgconfig/tinker-auth.pc" <<PC
prefix=$prefix
libdir=$pc_libdir
includedir=\${prefix}/include

Name: tinker-auth
Description: Keeps a short-lived Tinker JWT fresh for C programs
URL: https://github.com/tinker-auth/tinker-auth
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -ltinker_auth
Libs.private: -Wl,-Bdynamic $native_libs
PC
chmod 644 "$stage_lib/pkgconfig/tinker-auth.pc"

echo "install.sh: installed tinker-auth $version under $destdir$prefix" >&2
